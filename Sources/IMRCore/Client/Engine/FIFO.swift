/// A first-in first-out queue on a ring buffer: O(1) push and pop, elements moved out
/// (not copied) on pop, storage doubled when full and given back once drained if large.
struct FIFO<Element> {
    private var ring: [Element?] = []
    private var head = 0
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    mutating func append(_ element: Element) {
        if count == ring.count { grow() }
        var tail = head + count
        if tail >= ring.count { tail -= ring.count }
        ring[tail] = element
        count += 1
    }

    mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let element = ring[head].take()
        head += 1
        if head == ring.count { head = 0 }
        count -= 1
        if count == 0 {
            head = 0
            if ring.count > 1024 { ring = [] }   // a burst is over: give the memory back
        }
        return element
    }

    mutating func removeAll() {
        ring = []
        head = 0
        count = 0
    }

    private mutating func grow() {
        var bigger = [Element?](repeating: nil, count: max(16, ring.count * 2))
        for i in 0..<count {
            var j = head + i
            if j >= ring.count { j -= ring.count }
            bigger[i] = ring[j].take()
        }
        ring = bigger
        head = 0
    }
}
