#!/usr/bin/env python3
"""Golden and malformed wire vectors of imr, written and checked with Google's protobuf.

    vectors.py generate   rewrite Tests/Vectors/*.{bin,json} and Tests/Vectors/malformed*/*.{bin,error}
    vectors.py check      decode every golden .bin with protobuf (independently of protobuf-c and
                          of the Swift codec) and check that it equals its .json exactly and
                          re-serialises to the same bytes

The golden vectors are defined below in protobuf's canonical proto3 JSON mapping, with the field
names exactly as in proto/imr.proto (MessageToDict(preserving_proto_field_name=True)): bytes as
base64, 64-bit integers as strings, default values omitted, enums by name. NAME.bin is what
Google's protobuf serialises for that JSON; the Swift tests check that FrameCodec encodes the
same frame to exactly these bytes and decodes them back.

The malformed vectors are hand-encoded bytes, each with NAME.error: the WireError case the Swift
decoder must give (see expectedErrorName in Tests/IMRCoreTests/Wire/MalformedVectorTests.swift).
They are decoded with the default WireLimits (frame 1 MiB, payload 256 KiB, ids 128 bytes,
4,096 clock entries, token 4,096 bytes).

Needs Debian's python3-protobuf and protoc (`make deps`); the schema is read with protoc at run
time, so no generated Python code is committed. Run with /usr/bin/python3 (`make vectors`).
"""

import base64
import json
import os
import subprocess
import sys
import tempfile

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PROTO_DIR = os.path.join(ROOT, "proto")
MALFORMED = os.path.join(HERE, "malformed")
MALFORMED_STREAM = os.path.join(HERE, "malformed-stream")


def frame_class():
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "imr.desc")
        subprocess.run(["protoc", "--descriptor_set_out=" + out, "-I" + PROTO_DIR,
                        os.path.join(PROTO_DIR, "imr.proto")], check=True)
        with open(out, "rb") as f:
            files = descriptor_pb2.FileDescriptorSet.FromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    descriptor = pool.FindMessageTypeByName("imrpb.Frame")
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(descriptor)
    return message_factory.MessageFactory(pool).GetPrototype(descriptor)


def b64(data):
    return base64.b64encode(data).decode("ascii")


# --- golden vectors -------------------------------------------------------------------------

ID_A = bytes.fromhex("018bcfe5680070008000000000000001")   # UUIDv7-shaped message ids
ID_B = bytes.fromhex("018bcfe5680170018a1b2c3d4e5f6071")
ID_C = bytes.fromhex("ffffffffffffffffffffffffffffffff")
PAYLOAD_100 = bytes((i * 37 + 11) % 256 for i in range(100))
def clock(entries):
    """A clock's JSON from (node, counter) pairs: two parallel lists, omitted when empty."""
    if not entries:
        return {}
    return {"nodes": [str(node) for node, _ in entries], "counters": [str(counter) for _, counter in entries]}


CLOCK_3 = clock([(1311768467463790320, 42), (12297829382473034410, 7), (18446744073709551615, 1)])
NON_ASCII = "général-会話-🚀"
U64_MAX = "18446744073709551615"


def large_clock(n):
    # Nodes strictly increasing (the canonical order), spread over the 64-bit range; counters
    # of every varint length from 1 to 10 bytes.
    entries = []
    for i in range(n):
        node = (i + 1) * 0x0041_8937_4BC6_A7EF % (1 << 64)
        entries.append((node, (1 << ((i * 7) % 64)) + i))
    entries.sort()
    return clock(entries)


def message(conversation, seq, sender, node, mid, clock, payload):
    m = {"conversation": conversation, "seq": str(seq), "server_time_ms": "1700000000123",
         "sender_user": sender, "sender_node": str(node), "message_id": b64(mid)}
    if clock:
        m["clock"] = clock
    if payload:
        m["payload"] = b64(payload)
    return m


def frame(kind, body):
    return {"version": 1, kind: body}


GOLDEN = {
    "hello": frame("hello", {"token": "tok.eyJ1c2VyIjoiYWxpY2UifQ.sig", "protocol_version": 1,
                             "device_node": "1311768467463790320"}),
    "hello_empty_token": frame("hello", {"protocol_version": 1, "device_node": U64_MAX}),
    "welcome": frame("welcome", {
        "user": "alice", "server_time_ms": "1700000000000",
        "limits": {"max_frame_bytes": 1048576, "max_payload_bytes": 262144, "max_sync_page": 256,
                   "max_inflight": 64},
        "conversations": [{"conversation": "general", "head_seq": "1234"},
                          {"conversation": NON_ASCII, "head_seq": "1"},
                          {"conversation": "empty-room"}]}),
    "welcome_zero_limits": frame("welcome", {"user": "bob", "limits": {}}),
    "send": frame("send", {"conversation": "general", "message_id": b64(ID_A), "clock": CLOCK_3,
                           "payload": b64(PAYLOAD_100)}),
    "send_empty_payload": frame("send", {"conversation": "general", "message_id": b64(ID_B),
                                         "clock": clock([(1, 1)])}),
    "send_empty_clock": frame("send", {"conversation": "general", "message_id": b64(ID_A),
                                       "payload": b64(b"hi")}),
    "send_large_clock": frame("send", {"conversation": "general", "message_id": b64(ID_B),
                                       "clock": large_clock(1000), "payload": b64(b"x")}),
    "send_non_ascii_conversation": frame("send", {"conversation": NON_ASCII, "message_id": b64(ID_C),
                                                  "clock": CLOCK_3, "payload": b64("héllo ✓".encode())}),
    "send_max_length_conversation": frame("send", {"conversation": "c" * 128, "message_id": b64(ID_A),
                                                   "payload": b64(b"\x00\xff")}),
    "send_ack": frame("send_ack", {"message_id": b64(ID_A), "conversation": "general", "seq": "17",
                                   "server_time_ms": "1700000000123"}),
    "send_ack_duplicate": frame("send_ack", {"message_id": b64(ID_B), "conversation": NON_ASCII,
                                             "seq": U64_MAX, "server_time_ms": "1",
                                             "duplicate": True}),
    "send_reject": frame("send_reject", {"message_id": b64(ID_A), "conversation": "general",
                                         "code": "REJECT_NOT_MEMBER", "detail": "not a member"}),
    "send_reject_retry_after": frame("send_reject", {"message_id": b64(ID_A), "conversation": "general",
                                                     "code": "REJECT_RATE_LIMITED",
                                                     "retry_after_ms": "1500"}),
    "send_reject_retry_after_zero": frame("send_reject", {"message_id": b64(ID_B), "conversation": "general",
                                                          "code": "REJECT_SERVER_BUSY",
                                                          "retry_after_ms": "0", "detail": "busy, retry now"}),
    "send_reject_unspecified": frame("send_reject", {"message_id": b64(ID_C), "conversation": "general"}),
    "push": frame("push", message("general", 17, "alice", 0x1234_5678_9ABC_DEF0, ID_A, CLOCK_3, PAYLOAD_100)),
    "push_empty_payload": frame("push", message(NON_ASCII, 1, "bób", 1, ID_B, clock([]), b"")),
    "delivered": frame("delivered", {"watermarks": [
        {"conversation": "general", "delivered_seq": "17", "read_seq": "12"},
        {"conversation": NON_ASCII, "delivered_seq": "3"},
        {"conversation": "quiet", "delivered_seq": "5", "read_seq": "0"},
        {"conversation": "fresh"}]}),
    "delivered_empty": frame("delivered", {}),
    "sync_request": frame("sync_request", {"conversation": "general", "after_seq": "100", "limit": 50}),
    "sync_request_head_probe": frame("sync_request", {"conversation": "general", "after_seq": "100"}),
    "sync_response": frame("sync_response", {
        "conversation": "general",
        "messages": [message("general", 101, "alice", 7, ID_A, CLOCK_3, PAYLOAD_100),
                     message("general", 102, "bob", 9, ID_B, clock([(9, 3)]),
                             b"second")],
        "head_seq": "150", "has_more": True, "after_seq": "100"}),
    "sync_response_head_only": frame("sync_response", {"conversation": "general", "head_seq": "150",
                                                       "after_seq": "100"}),
    "ping": frame("ping", {"nonce": "987654321"}),
    "ping_zero_nonce": frame("ping", {}),
    "pong": frame("pong", {"nonce": U64_MAX}),
    "error": frame("error", {"code": "ERROR_AUTH_FAILED", "detail": "bad token", "fatal": True}),
    "error_unknown_code": frame("error", {"code": 99, "detail": "from a newer server"}),
    "create_conversation": frame("create_conversation", {"request_id": "1", "conversation": "team",
                                                         "members": ["alice", "bob", "carol"]}),
    "create_conversation_no_members": frame("create_conversation", {"request_id": "2", "conversation": NON_ASCII}),
    "add_member": frame("add_member", {"request_id": "3", "conversation": "team", "user": "dave"}),
    "remove_member": frame("remove_member", {"request_id": "4", "conversation": "team", "user": "bob"}),
    "conversation_result": frame("conversation_result", {"request_id": "3", "conversation": "team",
                                                         "members": ["alice", "bob", "carol", "dave"],
                                                         "head_seq": "9"}),
    "conversation_result_error": frame("conversation_result", {"request_id": "4", "conversation": "team",
                                                               "code": "RESULT_NOT_MEMBER"}),
    "receipt": frame("receipt", {"conversation": "general", "user": "bob", "delivered_seq": "17",
                                 "read_seq": "15"}),
    "receipt_without_read": frame("receipt", {"conversation": "general", "user": "bob", "delivered_seq": "17"}),
}


# --- malformed vectors: hand-encoded protobuf -------------------------------------------------

def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append(v & 0x7F | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def tag(number, wire_type):
    return varint(number << 3 | wire_type)


def vint(number, value):
    return tag(number, 0) + varint(value)


def fixed64(number, value):
    return tag(number, 1) + value.to_bytes(8, "little")


def ld(number, data):
    return tag(number, 2) + varint(len(data)) + data


def clock_bytes(entries, counters=None):
    """Packed node and counter lists; `counters` overrides the counters (lists of unequal length)."""
    counters = [c for _, c in entries] if counters is None else counters
    return (ld(2, b"".join(node.to_bytes(8, "little") for node, _ in entries))
            + ld(3, b"".join(varint(c) for c in counters)))


def send_bytes(conversation=b"general", mid=ID_A, clock=((1, 1),), payload=b"p", version=1):
    body = ld(1, conversation) + ld(2, mid) + ld(3, clock_bytes(clock)) + ld(4, payload)
    return (vint(1, version) if version else b"") + ld(12, body)


def malformed(golden_send):
    return {
        "empty": (b"", "missingBody"),
        "version_only": (vint(1, 1), "missingBody"),
        "truncated": (golden_send[:-10], "malformed"),
        "truncated_in_tag": (golden_send[:1], "malformed"),
        "garbage": (bytes.fromhex("ff ff ff ff"), "malformed"),
        "garbage_bad_wire_type": (bytes.fromhex("0f 01 02 03"), "malformed"),
        "wrong_wire_type_for_body": (vint(1, 1) + vint(12, 5), "malformed"),
        "unsupported_version": (vint(1, 2) + ld(19, vint(1, 5)), "unsupportedVersion(2)"),
        "version_zero": (ld(19, vint(1, 5)), "unsupportedVersion(0)"),
        "future_version_without_body": (vint(1, 7), "unsupportedVersion(7)"),
        "push_empty_message": (vint(1, 1) + ld(15, b""), "invalidIdentifier(conversation, empty)"),
        "wrong_id_length": (send_bytes(mid=ID_A[:15]), "invalidMessageID(length: 15)"),
        "wrong_id_length_long": (send_bytes(mid=ID_A + b"\x00"), "invalidMessageID(length: 17)"),
        "missing_id": (vint(1, 1) + ld(12, ld(1, b"general")), "invalidMessageID(length: 0)"),
        "ack_wrong_id_length": (vint(1, 1) + ld(13, ld(1, b"\x01\x02") + ld(2, b"general")),
                                "invalidMessageID(length: 2)"),
        "non_utf8_conversation": (send_bytes(conversation=b"gen\xc3\x28ral"),
                                  "invalidIdentifier(conversation, notUTF8)"),
        "non_utf8_user": (vint(1, 1) + ld(23, vint(1, 1) + ld(2, b"team") + ld(3, b"\xff")),
                          "invalidIdentifier(user, notUTF8)"),
        "empty_conversation": (send_bytes(conversation=b""), "invalidIdentifier(conversation, empty)"),
        "over_long_id": (send_bytes(conversation=b"c" * 129),
                         "invalidIdentifier(conversation, tooLong(129, limit: 128))"),
        "over_long_member": (vint(1, 1) + ld(22, vint(1, 1) + ld(2, b"team") + ld(3, b"a") + ld(3, b"u" * 200)),
                             "invalidIdentifier(members, tooLong(200, limit: 128))"),
        "nul_in_conversation": (send_bytes(conversation=b"gen\x00eral"),
                                "invalidIdentifier(conversation, containsNUL)"),
        "nul_at_end_of_conversation": (send_bytes(conversation=b"general\x00"),
                                       "invalidIdentifier(conversation, containsNUL)"),
        "nul_in_member": (vint(1, 1) + ld(22, vint(1, 1) + ld(2, b"team") + ld(3, b"alice") + ld(3, b"b\x00b")),
                          "invalidIdentifier(members, containsNUL)"),
        "nul_in_pushed_sender": (vint(1, 1) + ld(15, ld(1, b"general") + vint(2, 1) + ld(4, b"\x00") + ld(6, ID_A)),
                                 "invalidIdentifier(sender_user, containsNUL)"),
        "non_utf8_overlong_nul": (send_bytes(conversation=b"a\xc0\x80b"), "invalidIdentifier(conversation, notUTF8)"),
        "non_utf8_surrogate": (send_bytes(conversation=b"\xed\xa0\x80"), "invalidIdentifier(conversation, notUTF8)"),
        "non_utf8_truncated_sequence": (send_bytes(conversation=b"caf\xc3"), "invalidIdentifier(conversation, notUTF8)"),
        "over_long_token": (vint(1, 1) + ld(10, ld(1, b"t" * 4097)),
                            "invalidIdentifier(token, tooLong(4097, limit: 4096))"),
        "payload_over_limit": (send_bytes(payload=bytes(256 * 1024 + 1)),
                               "payloadTooLarge(262145, limit: 262144)"),
        "clock_duplicate_nodes": (send_bytes(clock=((5, 1), (9, 2), (5, 3))),
                                  "invalidClock(duplicateNode(5))"),
        "clock_lists_differ": (vint(1, 1) + ld(12, ld(1, b"general") + ld(2, ID_A)
                                               + ld(3, clock_bytes(((5, 1), (9, 2), (12, 3)), counters=[1, 2]))),
                               "invalidClock(mismatchedLists(nodes: 3, counters: 2))"),
        "clock_entry_messages": (vint(1, 1) + ld(12, ld(1, b"general") + ld(2, ID_A)
                                                 + ld(3, ld(1, fixed64(1, 5) + vint(2, 1)))),
                                 "invalidClock(entryMessages)"),
        "clock_too_many_entries": (send_bytes(clock=tuple((i + 1, 1) for i in range(4097))),
                                   "invalidClock(tooManyEntries(4097, limit: 4096))"),
        "frame_over_max_size": (send_bytes(payload=bytes(1024 * 1024)),
                                "frameTooLarge(%d, limit: 1048576)" % len(send_bytes(payload=bytes(1024 * 1024)))),
    }


# Streams of varint length-delimited frames, fed to FrameSplitter with the default limit.
MALFORMED_STREAMS = {
    # Leading zero groups keep the value under the limit until the tenth byte, which may only
    # carry the top bit of a 64-bit value and must end the varint.
    "varint_too_long": (b"\x80" * 10, "malformedLength"),
    "varint_tenth_byte_over_one": (b"\x80" * 9 + b"\x02", "malformedLength"),
    "length_over_limit": (varint(1024 * 1024 + 1), "frameTooLarge(1048577, limit: 1048576)"),
    "length_huge": (varint(1 << 63), "frameTooLarge(%d, limit: 1048576)" % ((1 << 63) - 1)),
    "length_over_limit_after_good_frame": (varint(2) + vint(1, 1) + varint(5 * 1024 * 1024),
                                           "frameTooLarge(5242880, limit: 1048576)"),
}


# --- commands ---------------------------------------------------------------------------------

def canonical_json(Frame, source, name):
    msg = json_format.ParseDict(source, Frame())
    as_dict = json_format.MessageToDict(msg, preserving_proto_field_name=True)
    if as_dict != source:
        raise SystemExit("vector %s is not in canonical form:\n%s\nvs\n%s" % (name, source, as_dict))
    return msg, as_dict


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def clear(folder, suffixes):
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        if name.endswith(suffixes):
            os.remove(os.path.join(folder, name))


def generate():
    Frame = frame_class()
    clear(HERE, (".bin", ".json"))
    for name, source in sorted(GOLDEN.items()):
        msg, as_dict = canonical_json(Frame, source, name)
        write(os.path.join(HERE, name + ".bin"), msg.SerializeToString())
        text = json.dumps(as_dict, indent=2, ensure_ascii=False) + "\n"
        write(os.path.join(HERE, name + ".json"), text.encode("utf-8"))
    clear(MALFORMED, (".bin", ".error"))
    for name, (data, error) in sorted(malformed(Frame_bytes(Frame, GOLDEN["send"])).items()):
        write(os.path.join(MALFORMED, name + ".bin"), data)
        write(os.path.join(MALFORMED, name + ".error"), (error + "\n").encode())
    clear(MALFORMED_STREAM, (".bin", ".error"))
    for name, (data, error) in sorted(MALFORMED_STREAMS.items()):
        write(os.path.join(MALFORMED_STREAM, name + ".bin"), data)
        write(os.path.join(MALFORMED_STREAM, name + ".error"), (error + "\n").encode())
    print("wrote %d golden, %d malformed, %d malformed-stream vectors"
          % (len(GOLDEN), len(malformed(b"")), len(MALFORMED_STREAMS)))


def Frame_bytes(Frame, source):
    return json_format.ParseDict(source, Frame()).SerializeToString()


def check():
    Frame = frame_class()
    names = sorted(n[:-4] for n in os.listdir(HERE) if n.endswith(".bin"))
    failures = 0
    for name in names:
        with open(os.path.join(HERE, name + ".bin"), "rb") as f:
            data = f.read()
        with open(os.path.join(HERE, name + ".json"), encoding="utf-8") as f:
            expected = json.load(f)
        msg = Frame()
        msg.ParseFromString(data)
        got = json_format.MessageToDict(msg, preserving_proto_field_name=True)
        if got != expected:
            print("FAIL %s: protobuf reads %s, the .json says %s" % (name, got, expected))
            failures += 1
        elif msg.SerializeToString() != data:
            print("FAIL %s: protobuf re-serialises to different bytes" % name)
            failures += 1
        elif name in GOLDEN and GOLDEN[name] != expected:
            print("FAIL %s: the .json differs from the definition in vectors.py (run `make vectors`)" % name)
            failures += 1
    missing = sorted(set(GOLDEN) - set(names))
    for name in missing:
        print("FAIL %s: defined in vectors.py but has no .bin (run `make vectors`)" % name)
        failures += 1
    print("%d passed, %d failed" % (len(names) + len(missing) - failures, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "generate":
        generate()
    elif command == "check":
        sys.exit(check())
    else:
        sys.exit(__doc__)
