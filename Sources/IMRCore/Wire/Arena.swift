import CProtobufC

/// A bump allocator reset once per encode or decode, so building and parsing a frame
/// through protobuf-c costs no per-field malloc. Not thread-safe: one codec, one arena.
final class Arena {
    /// The bump state (a C struct, `arena.h`), behind a stable pointer so protobuf-c's
    /// allocator hooks (C functions) bump it directly, without a call into the class or a
    /// retain. Its `owner` is this arena, unretained (it owns the state), for the slow path.
    private let state: UnsafeMutablePointer<imr_arena_state>
    /// Extra blocks taken when the current one ran out; folded into one on reset. Unchecked
    /// (one thread per arena): the dynamic exclusivity check cost a thread-local lookup per reset.
    @exclusivity(unchecked) private var overflow: [UnsafeMutableRawPointer] = []
    @exclusivity(unchecked) private var overflowBytes = 0

    private static let initialCapacity = 16 << 10
    /// Largest block kept across resets; bigger frames borrow temporarily.
    private static let retainedLimit = 4 << 20
    /// Size of the header protobuf-c's hook puts before each block.
    private static let sizeHeader = Int(IMR_ARENA_SIZE_HEADER)

    init() {
        state = UnsafeMutablePointer<imr_arena_state>.allocate(capacity: 1)
        state.initialize(to: imr_arena_state(
            block: UnsafeMutableRawPointer.allocate(byteCount: Self.initialCapacity, alignment: 16),
            offset: 0, capacity: Self.initialCapacity,
            overflow: { owner, size in
                Unmanaged<Arena>.fromOpaque(owner!)._withUnsafeGuaranteedRef { $0.allocateOverflow(size) }
            },
            owner: nil))
        state.pointee.owner = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        state.pointee.block.deallocate()
        state.deinitialize(count: 1)
        state.deallocate()
        for b in overflow { b.deallocate() }
    }

    /// Bumps `s` by `size` bytes (16-byte aligned), or nil when the block is full.
    @inline(__always)
    private static func bump(_ s: UnsafeMutablePointer<imr_arena_state>, _ size: Int) -> UnsafeMutableRawPointer? {
        let aligned = (s.pointee.offset + 15) & ~15
        guard size >= 0, aligned <= s.pointee.capacity, size <= s.pointee.capacity - aligned else { return nil }
        s.pointee.offset = aligned + size
        return s.pointee.block! + aligned
    }

    @inline(__always)
    func allocate(_ size: Int) -> UnsafeMutableRawPointer {
        Self.bump(state, size) ?? allocateOverflow(size)
    }

    @inline(never)
    private func allocateOverflow(_ size: Int) -> UnsafeMutableRawPointer {
        let extra = UnsafeMutableRawPointer.allocate(byteCount: max(size, 1), alignment: 16)
        overflow.append(extra)
        overflowBytes += size + 16
        return extra
    }

    /// The size requested for `p`, if `p` came from the protobuf-c allocator since the last
    /// reset; nil for memory that is not this arena's (protobuf-c's static empty string, say).
    func recordedSize(of p: UnsafeRawPointer) -> Int? {
        let block = UnsafeRawPointer(state.pointee.block!)
        if p >= block + Self.sizeHeader && p < block + state.pointee.offset {
            return p.load(fromByteOffset: -Self.sizeHeader, as: Int.self)
        }
        for b in overflow where p == UnsafeRawPointer(b) + Self.sizeHeader {
            return UnsafeRawPointer(b).load(as: Int.self)
        }
        return nil
    }

    /// Bytes handed out since the last reset (with alignment padding).
    var bytesInUse: Int { state.pointee.offset + overflowBytes }

    func new<T>(_: T.Type) -> UnsafeMutablePointer<T> {
        allocate(MemoryLayout<T>.stride).bindMemory(to: T.self, capacity: 1)
    }

    func array<T>(_: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        allocate(MemoryLayout<T>.stride * max(count, 1)).bindMemory(to: T.self, capacity: max(count, 1))
    }

    func binary(_ bytes: UnsafeBufferPointer<UInt8>) -> ProtobufCBinaryData {
        let n = bytes.count
        if n == 0 { return ProtobufCBinaryData(len: 0, data: nil) }
        let p = allocate(n).assumingMemoryBound(to: UInt8.self)
        p.update(from: bytes.baseAddress!, count: n)
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
            let wanted = min(Self.retainedLimit, state.pointee.capacity + overflowBytes)
            if wanted > state.pointee.capacity {
                state.pointee.block!.deallocate()
                state.pointee.capacity = wanted
                state.pointee.block = UnsafeMutableRawPointer.allocate(byteCount: wanted, alignment: 16)
            }
            overflowBytes = 0
        }
        state.pointee.offset = 0
    }

    /// A protobuf-c allocator drawing from this arena (`imr_arena_alloc`); frees are no-ops
    /// until `reset`. Each block's size is recorded (`recordedSize(of:)`): protobuf-c allocates
    /// a string field of n bytes as exactly n + 1 (it adds the NUL), so the decoder learns the
    /// string's real length, NULs inside included, which the NUL-terminated string alone would hide.
    var protobufAllocator: ProtobufCAllocator {
        ProtobufCAllocator(alloc: imr_arena_alloc, free: imr_arena_free, allocator_data: UnsafeMutableRawPointer(state))
    }
}
