import CProtobufC

/// A bump allocator reset once per encode or decode, so building and parsing a frame
/// through protobuf-c costs no per-field malloc. Not thread-safe: one codec, one arena.
final class Arena {
    private var block: UnsafeMutableRawPointer
    private var capacity: Int
    private var offset = 0
    /// Extra blocks taken when the current one ran out; folded into one on reset.
    private var overflow: [UnsafeMutableRawPointer] = []
    private var overflowBytes = 0

    private static let initialCapacity = 16 << 10
    /// Largest block kept across resets; bigger frames borrow temporarily.
    private static let retainedLimit = 4 << 20

    init() {
        capacity = Self.initialCapacity
        block = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    }

    deinit {
        block.deallocate()
        for b in overflow { b.deallocate() }
    }

    func allocate(_ size: Int) -> UnsafeMutableRawPointer {
        let aligned = (offset + 15) & ~15
        if aligned + size <= capacity {
            offset = aligned + size
            return block + aligned
        }
        let extra = UnsafeMutableRawPointer.allocate(byteCount: max(size, 1), alignment: 16)
        overflow.append(extra)
        overflowBytes += size + 16
        return extra
    }

    func new<T>(_: T.Type) -> UnsafeMutablePointer<T> {
        allocate(MemoryLayout<T>.stride).bindMemory(to: T.self, capacity: 1)
    }

    func array<T>(_: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        allocate(MemoryLayout<T>.stride * max(count, 1)).bindMemory(to: T.self, capacity: max(count, 1))
    }

    /// A NUL-terminated copy of `string`.
    func cString(_ string: String) -> UnsafeMutablePointer<CChar> {
        var s = string
        return s.withUTF8 { utf8 in
            let p = allocate(utf8.count + 1).assumingMemoryBound(to: UInt8.self)
            if utf8.count > 0 { p.update(from: utf8.baseAddress!, count: utf8.count) }
            p[utf8.count] = 0
            return UnsafeMutableRawPointer(p).assumingMemoryBound(to: CChar.self)
        }
    }

    func binary(_ bytes: [UInt8]) -> ProtobufCBinaryData {
        let n = bytes.count
        if n == 0 { return ProtobufCBinaryData(len: 0, data: nil) }
        let p = allocate(n).assumingMemoryBound(to: UInt8.self)
        bytes.withUnsafeBufferPointer { p.update(from: $0.baseAddress!, count: n) }
        return ProtobufCBinaryData(len: n, data: p)
    }

    func binary(_ id: MessageID) -> ProtobufCBinaryData {
        let p = allocate(16)
        id.writeBytes(into: p)
        return ProtobufCBinaryData(len: 16, data: p.assumingMemoryBound(to: UInt8.self))
    }

    func reset() {
        if !overflow.isEmpty {
            for b in overflow { b.deallocate() }
            overflow.removeAll(keepingCapacity: true)
            let wanted = min(Self.retainedLimit, capacity + overflowBytes)
            if wanted > capacity {
                block.deallocate()
                capacity = wanted
                block = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
            }
            overflowBytes = 0
        }
        offset = 0
    }

    /// A protobuf-c allocator drawing from this arena; frees are no-ops until `reset`.
    var protobufAllocator: ProtobufCAllocator {
        ProtobufCAllocator(
            alloc: { data, size in
                Unmanaged<Arena>.fromOpaque(data!).takeUnretainedValue().allocate(size)
            },
            free: { _, _ in },
            allocator_data: Unmanaged.passUnretained(self).toOpaque()
        )
    }
}
