/// An append-only array stored in fixed-size pages: growing it never copies what it holds
/// and never reserves more than one page ahead, where an `Array` doubles (on average a
/// third of its memory is spare capacity, and each doubling copies everything once).
/// Indexing is a shift and a mask. A value type: pages are arrays, copied on write.
struct PagedArray<Element>: Sendable where Element: Sendable {
    private var pages: [[Element]] = []
    private(set) var count = 0

    /// Elements per page: `1 << pageShift`.
    let pageShift: Int

    init(pageShift: Int) {
        precondition(pageShift > 0 && pageShift < 31)
        self.pageShift = pageShift
    }

    private var pageMask: Int { (1 << pageShift) - 1 }

    var isEmpty: Bool { count == 0 }

    subscript(index: Int) -> Element {
        @inline(__always) get { pages[index >> pageShift][index & pageMask] }
        @inline(__always) _modify { yield &pages[index >> pageShift][index & pageMask] }
    }

    @inline(__always)
    mutating func append(_ element: consuming Element) {
        if count & pageMask == 0 {
            var page: [Element] = []
            page.reserveCapacity(1 << pageShift)
            pages.append(page)
        }
        pages[pages.count - 1].append(element)
        count += 1
    }

    /// The elements of `range` in order, page by page.
    func forEach(in range: Range<Int>, _ body: (Element) -> Void) {
        var i = range.lowerBound
        while i < range.upperBound {
            let page = i >> pageShift
            let end = min(range.upperBound, (page + 1) << pageShift)
            pages[page].withUnsafeBufferPointer { p in
                for j in (i & pageMask)..<(i & pageMask + end - i) { body(p[j]) }
            }
            i = end
        }
    }
}
