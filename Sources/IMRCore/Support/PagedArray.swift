import CCacheHints

/// An append-only array stored in fixed-size pages: growing it never copies what it holds
/// and never reserves more than one page ahead, where an `Array` doubles (on average a
/// third of its memory is spare capacity, and each doubling copies everything once).
/// Indexing is a shift, a mask and two loads: the pages are raw memory behind one object, so
/// reading an element retains nothing. A value type: the pages are copied on write.
struct PagedArray<Element>: @unchecked Sendable {
    /// The pages, shared by copies until one of them writes.
    private final class Pages {
        var table: UnsafeMutablePointer<UnsafeMutablePointer<Element>>
        var tableCapacity: Int
        var pageCount = 0
        var count = 0

        init() {
            tableCapacity = 4
            table = .allocate(capacity: tableCapacity)
        }

        deinit {
            var left = count
            for p in 0..<pageCount {
                let n = Swift.min(left, PagedArray.pageSize)
                table[p].deinitialize(count: n)
                table[p].deallocate()
                left -= n
            }
            table.deallocate()
        }

        func addPage() {
            if pageCount == tableCapacity {
                let bigger = UnsafeMutablePointer<UnsafeMutablePointer<Element>>.allocate(capacity: tableCapacity * 2)
                bigger.moveInitialize(from: table, count: pageCount)
                table.deallocate()
                table = bigger
                tableCapacity *= 2
            }
            (table + pageCount).initialize(to: .allocate(capacity: PagedArray.pageSize))
            pageCount += 1
        }

        func copy() -> Pages {
            let new = Pages()
            var left = count
            for p in 0..<pageCount {
                new.addPage()
                let n = Swift.min(left, PagedArray.pageSize)
                new.table[p].initialize(from: table[p], count: n)
                left -= n
            }
            new.count = count
            return new
        }
    }

    /// Elements per page (a page of 64-byte timeline records is 64 KiB).
    private static var pageShift: Int { 10 }
    private static var pageSize: Int { 1 << pageShift }
    private static var pageMask: Int { pageSize - 1 }

    private var pages = Pages()

    init() {}

    var count: Int { pages.count }

    subscript(index: Int) -> Element {
        @inline(__always) get { view[index] }
        @inline(__always) _modify {
            makeUnique()
            yield &Self.address(of: index, in: pages.table, count: pages.count).pointee
        }
    }

    @inline(__always)
    mutating func append(_ element: consuming Element) {
        makeUnique()
        let i = pages.count
        if i & Self.pageMask == 0 { pages.addPage() }
        let address = pages.table[i &>> Self.pageShift] + (i & Self.pageMask)
        address.initialize(to: element)
        pages.count = i + 1
        // Appends run through fresh memory: start loading the line a few appends ahead.
        let ahead = AppendPrefetch.distance(in: Element.self)
        if (i & Self.pageMask) + ahead < Self.pageSize { imr_prefetch_for_write(address + ahead) }
    }

    /// A read-only view of the elements that holds no reference: valid only while this array
    /// is neither mutated nor destroyed (build one per call that reads, as the timeline's
    /// history keys do), and it costs no reference count to make, where a copy of the
    /// array retains its pages.
    struct View {
        fileprivate let table: UnsafeMutablePointer<UnsafeMutablePointer<Element>>
        let count: Int

        subscript(index: Int) -> Element {
            @inline(__always) get { PagedArray.address(of: index, in: table, count: count).pointee }
        }
    }

    var view: View {
        @inline(__always) get { View(table: pages.table, count: pages.count) }
    }

    /// A view that writes in place, made unique once: valid only while this array is neither
    /// otherwise mutated nor destroyed (make one per mutating call). Each write through the
    /// array's own subscript checks that its pages are not shared; a run of writes through
    /// this view checks once.
    struct MutableView {
        fileprivate let table: UnsafeMutablePointer<UnsafeMutablePointer<Element>>
        let count: Int

        subscript(index: Int) -> Element {
            @inline(__always) get { PagedArray.address(of: index, in: table, count: count).pointee }
            @inline(__always) nonmutating _modify { yield &PagedArray.address(of: index, in: table, count: count).pointee }
        }
    }

    /// Where element `index` lives (the one indexing rule of the array and its views).
    @inline(__always)
    private static func address(of index: Int, in table: UnsafeMutablePointer<UnsafeMutablePointer<Element>>,
                                count: Int) -> UnsafeMutablePointer<Element> {
        precondition(index >= 0 && index < count, "index out of range")
        return table[index &>> pageShift] + (index & pageMask)
    }

    @inline(__always)
    mutating func mutableView() -> MutableView {
        makeUnique()
        return MutableView(table: pages.table, count: pages.count)
    }

    @inline(__always)
    private mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&pages) { pages = pages.copy() }
    }
}
