/// The keys of the messages a `HistoryIndex` holds, by live index.
protocol HistoryKeys {
    func key(_ live: Int) -> HistoryKey
}

/// The history order of a timeline: its messages' live indices sorted by `HistoryKey`, in an
/// order-statistic B+ tree (every inner node knows how many items each child holds).
///
/// Insert, remove, the rank of a key and the item at a rank all cost O(log n) whatever the
/// arrival order; leaves are small, so an insert moves little memory. Nodes are fixed-size
/// blocks of a few flat arrays of plain values (no per-node allocation, no reference
/// counting on the hot path), so the tree is an ordinary copy-on-write value.
///
/// Leaves hold live indices only (4 bytes an item); a leaf item's key is read back from
/// its message through `HistoryKeys` (the timeline's records), so an item costs no copy of
/// its 40-byte key. Inner nodes keep their children's greatest keys. A key held here must
/// not change while it is held: to change one, `replaceInPlace` (or remove) it first under
/// the old key, then change the message.
///
/// Inserts split full nodes on the way down (one pass, no path to remember); a leaf that
/// overflows at its end (keys arriving in order) leaves the full leaf full. Removal (rare: a
/// confirm that changes a seq) never merges nodes; an emptied node is unlinked and reused.
///
/// Keys above every held one (arrival in order, the usual case) first wait in a short tail
/// outside the tree: appending one touches no inner node, and confirming the latest message
/// (its key drops from pending to its seq) is checked against its neighbours in the tail.
/// The tail joins the tree a leaf's worth at a time, or before any other change.
struct HistoryIndex: Sendable {
    struct Item: Sendable {
        var key: HistoryKey
        var live: Int
    }

    let leafCapacity: Int
    let innerCapacity: Int
    private(set) var count = 0

    // Leaves: block `leaf` holds `leafSize[leaf]` live indices from `leafItems[leaf * leafCapacity]`.
    private var leafItems: [UInt32] = []
    private var leafSize: [Int] = []
    // Inner nodes: block `node` holds `innerSize[node]` children from `node * innerCapacity`:
    // the child's node, the greatest key under it and how many items it holds.
    private var innerChild: [Int] = []
    private var innerMax: [HistoryKey] = []
    private var innerCount: [Int] = []
    private var innerSize: [Int] = []
    private var freeLeaves: [Int] = []
    private var freeInners: [Int] = []
    /// -1 when empty.
    private var root = -1
    /// 0: the root is a leaf; otherwise the number of inner levels above the leaves.
    private var height = 0
    /// The last leaf, or -1 when unknown: found again after any insert off the append path
    /// or any removal (either may split, free or replace it); appends and confirms of the
    /// latest message, the usual case, then skip the walk down the right spine to find it.
    private var knownLastLeaf = -1
    /// Live indices whose keys are above every key in the tree, in order (at most
    /// `leafCapacity`); counted in `count`, not in the tree.
    private var tail: [UInt32] = []

    private static let placeholderKey = HistoryKey(depth: .zero, seq: 0, messageID: MessageID(high: 0, low: 0))

    init(leafCapacity: Int = 64, innerCapacity: Int = 64) {
        precondition(leafCapacity >= 2 && innerCapacity >= 3)
        self.leafCapacity = leafCapacity
        self.innerCapacity = innerCapacity
    }

    /// Builds the tree bottom-up from items already sorted by key (strictly increasing), in
    /// O(n): full leaves, full inner nodes.
    init(sorted items: [Item], leafCapacity: Int = 64, innerCapacity: Int = 64) {
        self.init(leafCapacity: leafCapacity, innerCapacity: innerCapacity)
        guard !items.isEmpty else { return }
        count = items.count
        // Leaves.
        var level: [(node: Int, max: HistoryKey, count: Int)] = []
        var start = 0
        while start < items.count {
            let end = min(start + leafCapacity, items.count)
            let leaf = newLeaf()
            let base = leaf * leafCapacity
            for i in start..<end { leafItems[base + i - start] = UInt32(items[i].live) }
            leafSize[leaf] = end - start
            level.append((leaf, items[end - 1].key, end - start))
            start = end
        }
        // Inner levels, until one node remains.
        height = 0
        while level.count > 1 {
            var next: [(node: Int, max: HistoryKey, count: Int)] = []
            var start = 0
            while start < level.count {
                let end = min(start + innerCapacity, level.count)
                let node = newInner()
                let base = node * innerCapacity
                var total = 0
                for i in start..<end {
                    innerChild[base + i - start] = level[i].node
                    innerMax[base + i - start] = level[i].max
                    innerCount[base + i - start] = level[i].count
                    total += level[i].count
                }
                innerSize[node] = end - start
                next.append((node, level[end - 1].max, total))
                start = end
            }
            level = next
            height += 1
        }
        root = level[0].node
    }


    // MARK: Search helpers

    /// In leaf `leaf`, the first position whose key is >= `key`.
    @inline(__always)
    private func position(of key: HistoryKey, inLeaf leaf: Int, _ keys: some HistoryKeys) -> Int {
        let base = leaf * leafCapacity
        let size = leafSize[leaf]
        return leafItems.withUnsafeBufferPointer { all in
            let p = all.baseAddress! + base
            // Arrival is mostly in order: try the end first.
            if size > 0 && keys.key(Int(p[size - 1])) < key { return size }
            var lo = 0, hi = size
            while lo < hi {
                let mid = (lo + hi) &>> 1
                if keys.key(Int(p[mid])) < key { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }
    }

    /// The key of the item at `position` of leaf `leaf`.
    @inline(__always)
    private func leafKey(_ leaf: Int, _ position: Int, _ keys: some HistoryKeys) -> HistoryKey {
        keys.key(Int(leafItems[leaf * leafCapacity + position]))
    }

    /// In inner node `node`, the first child whose greatest key is >= `key` (its size when none is).
    @inline(__always)
    private func child(for key: HistoryKey, inInner node: Int) -> Int {
        let base = node * innerCapacity
        let size = innerSize[node]
        return innerMax.withUnsafeBufferPointer { all in
            let p = all.baseAddress! + base
            var lo = 0, hi = size
            if size > 1 && p[size - 2] < key { lo = size - 1 }       // the end, usually
            while lo < hi {
                let mid = (lo + hi) &>> 1
                if p[mid] < key { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }
    }

    // MARK: Queries

    /// The position of `key` in history order, or nil when it is not held.
    func rank(of key: HistoryKey, keys: some HistoryKeys) -> Int? {
        if let first = tail.first, !(key < keys.key(Int(first))) {
            let at = tailPosition(of: key, keys)
            guard at < tail.count, keys.key(Int(tail[at])) == key else { return nil }
            return count - tail.count + at
        }
        guard root >= 0 else { return nil }
        var node = root, level = height, rank = 0
        while level > 0 {
            let c = child(for: key, inInner: node)
            guard c < innerSize[node] else { return nil }
            let base = node * innerCapacity
            for i in 0..<c { rank += innerCount[base + i] }
            node = innerChild[base + c]
            level -= 1
        }
        let pos = position(of: key, inLeaf: node, keys)
        guard pos < leafSize[node], leafKey(node, pos, keys) == key else { return nil }
        return rank + pos
    }

    /// The live index of the message at history position `rank`.
    func live(at rank: Int) -> Int {
        precondition(rank >= 0 && rank < count, "history index out of range")
        let inTree = count - tail.count
        if rank >= inTree { return Int(tail[rank - inTree]) }
        var node = root, level = height, remaining = rank
        while level > 0 {
            let base = node * innerCapacity
            var c = 0
            while remaining >= innerCount[base + c] {
                remaining -= innerCount[base + c]
                c += 1
            }
            node = innerChild[base + c]
            level -= 1
        }
        return Int(leafItems[node * leafCapacity + remaining])
    }

    /// Every live index, in history order.
    func forEach(_ body: (Int) -> Void) { forEach(in: 0..<count, body) }

    /// The live indices at history positions `ranks`, in order: O(log n) to reach the first,
    /// then O(1) each (a page of a long history costs the page, not the history).
    func forEach(in ranks: Range<Int>, _ body: (Int) -> Void) {
        precondition(ranks.lowerBound >= 0 && ranks.upperBound <= count, "history range out of bounds")
        guard !ranks.isEmpty else { return }
        var skip = ranks.lowerBound, remaining = ranks.count
        if root >= 0 { visit(root, level: height, skip: &skip, remaining: &remaining, body) }
        for live in tail where remaining > 0 {
            if skip > 0 { skip -= 1; continue }
            body(Int(live))
            remaining -= 1
        }
    }

    /// Calls `body` with the items under `node` after the first `skip`, at most `remaining` of
    /// them; whole subtrees before the range are passed over by their counts.
    private func visit(_ node: Int, level: Int, skip: inout Int, remaining: inout Int, _ body: (Int) -> Void) {
        if level == 0 {
            let size = leafSize[node]
            if skip >= size { skip -= size; return }
            let base = node * leafCapacity
            let end = base + min(size, skip + remaining)
            for i in (base + skip)..<end { body(Int(leafItems[i])) }
            remaining -= end - base - skip
            skip = 0
            return
        }
        let base = node * innerCapacity
        for i in base..<(base + innerSize[node]) {
            guard remaining > 0 else { return }
            if skip >= innerCount[i] { skip -= innerCount[i]; continue }
            visit(innerChild[i], level: level - 1, skip: &skip, remaining: &remaining, body)
        }
    }

    // MARK: Insert

    mutating func insert(_ key: HistoryKey, live: Int, keys: some HistoryKeys) {
        precondition(live >= 0 && live < Int(UInt32.max), "history index full")
        if isAboveAll(key, keys) {
            if tail.count == leafCapacity { flushTail(keys) }
            tail.append(UInt32(live))
            count += 1
            return
        }
        flushTail(keys)
        insertIntoTree(key, live: live, keys)
    }

    /// Whether `key` is above every held key (true when nothing is held).
    @inline(__always)
    private func isAboveAll(_ key: HistoryKey, _ keys: some HistoryKeys) -> Bool {
        if let last = tail.last { return keys.key(Int(last)) < key }
        guard let greatest = treeGreatest(keys) else { return true }
        return greatest < key
    }

    /// The greatest key in the tree; nil when the tree is empty.
    private func treeGreatest(_ keys: some HistoryKeys) -> HistoryKey? {
        guard root >= 0 else { return nil }
        if height > 0 { return innerMax[root * innerCapacity + innerSize[root] - 1] }
        let size = leafSize[root]
        return size > 0 ? leafKey(root, size - 1, keys) : nil
    }

    /// In the tail, the first position whose key is >= `key`.
    private func tailPosition(of key: HistoryKey, _ keys: some HistoryKeys) -> Int {
        var lo = 0, hi = tail.count
        while lo < hi {
            let mid = (lo + hi) &>> 1
            if keys.key(Int(tail[mid])) < key { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Moves the tail into the tree: into the last leaf while it has room (one walk down the
    /// right spine per batch), through the general insert when the leaf is full (which starts a
    /// new last leaf).
    private mutating func flushTail(_ keys: some HistoryKeys) {
        let n = tail.count
        guard n > 0 else { return }
        count -= n
        var i = 0
        while i < n {
            let added = appendToLastLeaf(from: i, keys)
            if added > 0 {
                i += added
            } else {
                let live = Int(tail[i])
                insertIntoTree(keys.key(live), live: live, keys)
                i += 1
            }
        }
        tail.removeAll(keepingCapacity: true)
    }

    /// The general insert (the tree only; `key` is not above every key, or the tail is being moved in).
    private mutating func insertIntoTree(_ key: HistoryKey, live: Int, _ keys: some HistoryKeys) {
        knownLastLeaf = -1
        count += 1
        if root < 0 {
            root = newLeaf()
            height = 0
        }
        // A full root: grow by one level, then split it as the new root's only child.
        if isFull(root, level: height) {
            let old = root
            root = newInner()
            innerChild[root * innerCapacity] = old
            innerMax[root * innerCapacity] = maxKey(of: old, level: height, keys)
            innerCount[root * innerCapacity] = total(of: old, level: height)
            innerSize[root] = 1
            height += 1
            splitChild(of: root, at: 0, childLevel: height - 1, key: key, keys)
        }
        var node = root, level = height
        while level > 0 {
            var c = child(for: key, inInner: node)
            if c == innerSize[node] { c -= 1 }           // greater than everything: the last child
            if isFull(innerChild[node * innerCapacity + c], level: level - 1) {
                splitChild(of: node, at: c, childLevel: level - 1, key: key, keys)
                if innerMax[node * innerCapacity + c] < key { c += 1 }
            }
            let slot = node * innerCapacity + c
            innerCount[slot] += 1
            if innerMax[slot] < key { innerMax[slot] = key }
            node = innerChild[slot]
            level -= 1
        }
        // The leaf has room: shift the greater items up by one (plain values: a memmove).
        let pos = position(of: key, inLeaf: node, keys)
        let base = node * leafCapacity
        let size = leafSize[node]
        leafItems.withUnsafeMutableBufferPointer { all in
            let p = all.baseAddress! + base
            if pos < size { (p + pos + 1).moveInitialize(from: p + pos, count: size - pos) }
            p[pos] = UInt32(live)
        }
        leafSize[node] = size + 1
    }

    /// Tail items from `start` on (above every key in the tree, in order) go to the end of the
    /// last leaf while it has room: one walk down the right spine for all of them. Returns
    /// how many went (0 when the tree is empty or the last leaf full).
    private mutating func appendToLastLeaf(from start: Int, _ keys: some HistoryKeys) -> Int {
        guard root >= 0 else { return 0 }
        let leaf = lastLeaf()
        let size = leafSize[leaf], base = leaf * leafCapacity
        guard size > 0, size < leafCapacity else { return 0 }
        let n = min(leafCapacity - size, tail.count - start)
        for j in 0..<n { leafItems[base + size + j] = tail[start + j] }
        leafSize[leaf] = size + n
        updateRightSpine(max: keys.key(Int(tail[start + n - 1])), adding: n)
        count += n
        return n
    }

    /// The last leaf (it holds the greatest keys). The tree is not empty.
    @inline(__always)
    private mutating func lastLeaf() -> Int {
        if knownLastLeaf >= 0 { return knownLastLeaf }
        var node = root, level = height
        while level > 0 {
            node = innerChild[node * innerCapacity + innerSize[node] - 1]
            level -= 1
        }
        knownLastLeaf = node
        return node
    }

    /// Down the right spine: every inner node's last child now has `max` as its greatest key
    /// and `adding` more items (the last leaf changed at its end).
    @inline(__always)
    private mutating func updateRightSpine(max: HistoryKey, adding: Int) {
        var node = root, level = height
        while level > 0 {
            let slot = node * innerCapacity + innerSize[node] - 1
            innerCount[slot] += adding
            innerMax[slot] = max
            node = innerChild[slot]
            level -= 1
        }
    }

    @inline(__always)
    private func isFull(_ node: Int, level: Int) -> Bool {
        level == 0 ? leafSize[node] == leafCapacity : innerSize[node] == innerCapacity
    }

    private func maxKey(of node: Int, level: Int, _ keys: some HistoryKeys) -> HistoryKey {
        level == 0 ? leafKey(node, leafSize[node] - 1, keys)
                   : innerMax[node * innerCapacity + innerSize[node] - 1]
    }

    private func total(of node: Int, level: Int) -> Int {
        if level == 0 { return leafSize[node] }
        var sum = 0
        let base = node * innerCapacity
        for i in base..<(base + innerSize[node]) { sum += innerCount[i] }
        return sum
    }

    /// Splits the full child `c` of `parent` in two; `key`, about to be inserted, lets a leaf
    /// that `key` extends at its end stay full (the new right leaf starts empty).
    private mutating func splitChild(of parent: Int, at c: Int, childLevel: Int, key: HistoryKey, _ keys: some HistoryKeys) {
        let pBase = parent * innerCapacity
        let left = innerChild[pBase + c]
        let right: Int
        if childLevel == 0 {
            right = newLeaf()
            let size = leafSize[left]
            let keep = leafKey(left, size - 1, keys) < key ? size : size / 2
            let (lb, rb) = (left * leafCapacity, right * leafCapacity)
            for i in keep..<size { leafItems[rb + i - keep] = leafItems[lb + i] }
            leafSize[left] = keep
            leafSize[right] = size - keep
        } else {
            right = newInner()
            let size = innerSize[left]
            let keep = size / 2
            let (lb, rb) = (left * innerCapacity, right * innerCapacity)
            for i in keep..<size {
                innerChild[rb + i - keep] = innerChild[lb + i]
                innerMax[rb + i - keep] = innerMax[lb + i]
                innerCount[rb + i - keep] = innerCount[lb + i]
            }
            innerSize[left] = keep
            innerSize[right] = size - keep
        }
        // Make room for the right sibling at c + 1 in the parent.
        var i = pBase + innerSize[parent]
        while i > pBase + c + 1 {
            innerChild[i] = innerChild[i - 1]
            innerMax[i] = innerMax[i - 1]
            innerCount[i] = innerCount[i - 1]
            i -= 1
        }
        innerSize[parent] += 1
        let oldMax = innerMax[pBase + c]
        innerChild[pBase + c + 1] = right
        innerMax[pBase + c + 1] = total(of: right, level: childLevel) == 0 ? key : oldMax
        innerCount[pBase + c + 1] = total(of: right, level: childLevel)
        innerMax[pBase + c] = maxKey(of: left, level: childLevel, keys)
        innerCount[pBase + c] = total(of: left, level: childLevel)
    }

    private mutating func newLeaf() -> Int {
        if let id = freeLeaves.popLast() {
            leafSize[id] = 0
            return id
        }
        leafItems.append(contentsOf: repeatElement(UInt32.max, count: leafCapacity))
        leafSize.append(0)
        return leafSize.count - 1
    }

    private mutating func newInner() -> Int {
        if let id = freeInners.popLast() {
            innerSize[id] = 0
            return id
        }
        innerChild.append(contentsOf: repeatElement(-1, count: innerCapacity))
        innerMax.append(contentsOf: repeatElement(Self.placeholderKey, count: innerCapacity))
        innerCount.append(contentsOf: repeatElement(0, count: innerCapacity))
        innerSize.append(0)
        return innerSize.count - 1
    }

    // MARK: Replace

    /// Changes the key `old` to `new` when that keeps its position (its neighbours stay on
    /// either side), in place: no shifting, no rebalancing. Returns false, changing nothing,
    /// when `old` is not held or the position would change (then remove and insert).
    /// A confirm lowers a pending message's key (its seq replaces "pending") and the
    /// message is nearly always still after its predecessor: this is its O(log n) path.
    /// `keys` still gives `old` for the item (the caller changes its message afterwards).
    mutating func replaceInPlace(_ old: HistoryKey, with new: HistoryKey, keys: some HistoryKeys) -> Bool {
        if let first = tail.first {
            if !(old < keys.key(Int(first))) { return replaceInTail(old, with: new, keys) }
            flushTail(keys)       // `old` is in the tree, whose last key now has a successor
        }
        guard root >= 0 else { return false }
        if replaceLast(old, with: new, keys) { return true }
        return replace(old, with: new, below: root, level: height, leftmost: true, rightmost: true, keys)
    }

    /// `replaceInPlace` of a key in the tail: it stays between its neighbours there (the first
    /// one's predecessor is the tree's greatest key).
    private func replaceInTail(_ old: HistoryKey, with new: HistoryKey, _ keys: some HistoryKeys) -> Bool {
        // The latest message is the usual one: try the end before searching.
        let last = tail.count - 1
        let at = keys.key(Int(tail[last])) == old ? last : tailPosition(of: old, keys)
        guard at < tail.count, keys.key(Int(tail[at])) == old else { return false }
        if at > 0 {
            guard keys.key(Int(tail[at - 1])) < new else { return false }
        } else if let greatest = treeGreatest(keys), !(greatest < new) {
            return false
        }
        if at < tail.count - 1 { guard new < keys.key(Int(tail[at + 1])) else { return false } }
        return true
    }

    /// `replaceInPlace` of the greatest key when its predecessor is in the same leaf (a
    /// confirm of the message sent last): the right spine's maxima become `new`, no search.
    private mutating func replaceLast(_ old: HistoryKey, with new: HistoryKey, _ keys: some HistoryKeys) -> Bool {
        let leaf = lastLeaf()
        let size = leafSize[leaf]
        guard size > 1, leafKey(leaf, size - 1, keys) == old, leafKey(leaf, size - 2, keys) < new else { return false }
        updateRightSpine(max: new, adding: 0)
        return true
    }

    /// `leftmost`/`rightmost`: `node` is the first/last node of its level, so an item at its
    /// start/end has no predecessor/successor elsewhere.
    private mutating func replace(_ old: HistoryKey, with new: HistoryKey, below node: Int, level: Int,
                                  leftmost: Bool, rightmost: Bool, _ keys: some HistoryKeys) -> Bool {
        if level == 0 {
            let pos = position(of: old, inLeaf: node, keys)
            let size = leafSize[node]
            guard pos < size, leafKey(node, pos, keys) == old else { return false }
            // The predecessor must stay below `new` and the successor above it; one in another
            // leaf is known to when `new` moves away from it.
            if pos > 0 {
                guard leafKey(node, pos - 1, keys) < new else { return false }
            } else if !(leftmost || old < new) {
                return false
            }
            if pos < size - 1 {
                guard new < leafKey(node, pos + 1, keys) else { return false }
            } else if !(rightmost || new < old) {
                return false
            }
            return true   // the leaf holds the live index only: the caller's message now gives `new`
        }
        let c = child(for: old, inInner: node)
        guard c < innerSize[node] else { return false }
        let slot = node * innerCapacity + c
        guard replace(old, with: new, below: innerChild[slot], level: level - 1,
                      leftmost: leftmost && c == 0, rightmost: rightmost && c == innerSize[node] - 1, keys) else { return false }
        // A subtree whose greatest key was `old` now has `new` as its greatest.
        if innerMax[slot] == old { innerMax[slot] = new }
        return true
    }

    // MARK: Remove

    /// Removes `key`; returns false when it is not held.
    @discardableResult
    mutating func remove(_ key: HistoryKey, keys: some HistoryKeys) -> Bool {
        flushTail(keys)
        knownLastLeaf = -1
        guard root >= 0, let emptied = remove(key, from: root, level: height, keys) else { return false }
        count -= 1
        if emptied {
            if height == 0 { freeLeaves.append(root) } else { freeInners.append(root) }
            root = -1
            height = 0
            return true
        }
        // Collapse a root left with a single child.
        while height > 0 && innerSize[root] == 1 {
            freeInners.append(root)
            root = innerChild[root * innerCapacity]
            height -= 1
        }
        return true
    }

    /// Removes `key` below `node`; nil when not found, else whether `node` became empty.
    private mutating func remove(_ key: HistoryKey, from node: Int, level: Int, _ keys: some HistoryKeys) -> Bool? {
        if level == 0 {
            let pos = position(of: key, inLeaf: node, keys)
            let base = node * leafCapacity
            guard pos < leafSize[node], leafKey(node, pos, keys) == key else { return nil }
            for i in (base + pos)..<(base + leafSize[node] - 1) { leafItems[i] = leafItems[i + 1] }
            leafSize[node] -= 1
            return leafSize[node] == 0
        }
        let c = child(for: key, inInner: node)
        guard c < innerSize[node] else { return nil }
        let base = node * innerCapacity
        let child = innerChild[base + c]
        guard let emptied = remove(key, from: child, level: level - 1, keys) else { return nil }
        if emptied {
            if level == 1 { freeLeaves.append(child) } else { freeInners.append(child) }
            for i in (base + c)..<(base + innerSize[node] - 1) {
                innerChild[i] = innerChild[i + 1]
                innerMax[i] = innerMax[i + 1]
                innerCount[i] = innerCount[i + 1]
            }
            innerSize[node] -= 1
            return innerSize[node] == 0
        }
        innerCount[base + c] -= 1
        if innerMax[base + c] == key { innerMax[base + c] = maxKey(of: child, level: level - 1, keys) }
        return false
    }
}
