import random
import threading

import pytest

import imr
from imr import ErrorCode, ImrError, Order, VectorClock


def clock(entries):
    c = VectorClock()
    for node, count in entries.items():
        for _ in range(count):
            c.increment(node)
    return c


def test_increment_get_depth_items():
    c = VectorClock()
    assert c.increment(7) == 1 and c.increment(7) == 2 and c.increment(3) == 1
    assert c[7] == 2 and c[99] == 0
    assert c.depth == 3 and len(c) == 2
    assert c.items() == [(3, 1), (7, 2)]
    assert c.to_dict() == {3: 1, 7: 2}


def test_compare_and_merge():
    a, b = clock({1: 2}), clock({1: 1})
    assert b.compare(a) is Order.BEFORE and a.compare(b) is Order.AFTER
    assert a.compare(a.copy()) is Order.EQUAL and a == a.copy()
    b.increment(2)
    assert a.compare(b) is Order.CONCURRENT
    m = a.copy().merge(b)
    assert a.happened_before(m) and b.happened_before(m)
    assert m.to_dict() == {1: 2, 2: 1}
    m.merge(m)
    assert m.to_dict() == {1: 2, 2: 1}


def test_merge_properties_random():
    rng = random.Random(1)
    for _ in range(200):
        xs = [clock({rng.randrange(6): rng.randrange(4) for _ in range(4)}) for _ in range(3)]
        a, b, c = xs
        assert a.copy().merge(b) == b.copy().merge(a)
        assert a.copy().merge(b).merge(c) == a.copy().merge(b.copy().merge(c))
        assert a.copy().merge(a) == a
        order = a.compare(b)
        merged = a.copy().merge(b)
        assert (order in (Order.BEFORE, Order.EQUAL)) == (merged == b)


def test_encode_decode():
    c = clock({5: 3, 1: 1, 2**64 - 1: 2})
    data = c.encode()
    d = VectorClock.decode(data)
    assert d == c and d.encode() == data
    assert VectorClock().encode() == b""
    assert len(VectorClock.decode(b"")) == 0


def test_bad_encodings():
    with pytest.raises(ImrError) as info:
        VectorClock.decode(b"\xff\xff\xff")
    assert info.value.code is ErrorCode.MALFORMED_FRAME
    # One entry in protobuf's unpacked form of the two lists (field 2 nodes, field 3 counters).
    entry = b"\x11" + (42).to_bytes(8, "little") + b"\x18\x01"
    with pytest.raises(ImrError) as info:
        VectorClock.decode(entry + entry)
    assert info.value.code is ErrorCode.INVALID_CLOCK
    with pytest.raises(ImrError) as info:
        VectorClock.decode(bytes(imr.DEFAULT_MAX_FRAME_BYTES + 1))
    assert info.value.code is ErrorCode.TOO_LARGE


def test_limits():
    entries = b"".join(b"\x11" + n.to_bytes(8, "little") + b"\x18\x01"
                       for n in range(1, imr.CLOCK_MAX_ENTRIES + 1))
    c = VectorClock.decode(entries)
    assert len(c) == imr.CLOCK_MAX_ENTRIES
    with pytest.raises(ImrError) as info:
        c.increment(2**40)
    assert info.value.code is ErrorCode.TOO_LARGE
    big = b"\x11" + (1).to_bytes(8, "little") + b"\x18" + b"\xff" * 9 + b"\x01"
    m = VectorClock.decode(big)
    assert m[1] == 2**64 - 1
    with pytest.raises(ImrError) as info:
        m.increment(1)
    assert info.value.code is ErrorCode.INVALID_CLOCK


def test_closed_clock_raises_everywhere():
    c = VectorClock()
    other = VectorClock()
    c.close()
    for call in (lambda: c.increment(1), lambda: c[1], lambda: c.depth, lambda: len(c),
                 lambda: c.encode(), lambda: c.copy(), lambda: c.merge(other),
                 lambda: other.merge(c), lambda: c.compare(other), lambda: c.items()):
        with pytest.raises(imr.ClosedError) as info:
            call()
        assert info.value.code is ErrorCode.NULL
    assert repr(c) == "VectorClock(<closed>)"
    other.close()


def test_threads_share_a_clock_safely():
    c = VectorClock()
    others = [clock({n: 1}) for n in range(8)]

    def work(i):
        for _ in range(500):
            c.increment(i)
            c.merge(others[i])
            others[i].compare(c)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert c.depth == 8 * 500
