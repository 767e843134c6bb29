/// A first-in first-out queue of the engine's outputs (frames to transmit, events): a ring
/// buffer that elements are moved into and out of.
///
/// A class over raw storage rather than an array of optionals: `append` and `popFirst` are
/// one move each, with no uniqueness check, no optional wrapping and no generic value-witness
/// calls to destroy the slot's previous contents (on the send/ack path these cost more than
/// the queueing itself). The engine owns its queues and never shares them.
final class FIFO<Element> {
    private var storage: UnsafeMutablePointer<Element>
    private var capacity: Int
    private var head = 0
    private(set) var count = 0

    private static var initialCapacity: Int { 16 }
    /// A drained queue larger than this gives its memory back (a burst is over).
    private static var retainedCapacity: Int { 1024 }

    init() {
        capacity = Self.initialCapacity
        storage = .allocate(capacity: capacity)
    }

    deinit {
        removeAllElements()
        storage.deallocate()
    }

    var isEmpty: Bool { count == 0 }

    /// Consuming: the element moves in, with no copy (and so no retain) of its contents.
    func append(_ element: consuming Element) {
        if count == capacity { grow() }
        var tail = head + count
        if tail >= capacity { tail -= capacity }
        (storage + tail).initialize(to: element)
        count += 1
    }

    func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let element = (storage + head).move()
        head += 1
        if head == capacity { head = 0 }
        count -= 1
        if count == 0 {
            head = 0
            if capacity > Self.retainedCapacity { resize(to: Self.initialCapacity) }
        }
        return element
    }

    func removeAll() {
        removeAllElements()
        if capacity > Self.retainedCapacity { resize(to: Self.initialCapacity) }
    }

    private func removeAllElements() {
        while count > 0 {
            (storage + head).deinitialize(count: 1)
            head += 1
            if head == capacity { head = 0 }
            count -= 1
        }
        head = 0
    }

    private func grow() { resize(to: capacity * 2) }

    /// Moves the elements, in order, to the start of new storage of `newCapacity` (>= count).
    private func resize(to newCapacity: Int) {
        let bigger = UnsafeMutablePointer<Element>.allocate(capacity: newCapacity)
        let firstRun = min(count, capacity - head)
        bigger.moveInitialize(from: storage + head, count: firstRun)
        (bigger + firstRun).moveInitialize(from: storage, count: count - firstRun)
        storage.deallocate()
        storage = bigger
        capacity = newCapacity
        head = 0
    }
}
