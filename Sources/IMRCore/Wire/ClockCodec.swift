import CProtobufC
import IMRWireC

/// The standalone wire form of a vector clock: the protobuf message `imrpb.VectorClock`
/// (canonical: sorted by node, no duplicates, no zero counters), for hosts that store or
/// exchange clocks outside a frame (the C ABI's imr_clock_encode/decode).
extension FrameCodec {
    /// The encoded clock; an empty clock encodes to no bytes.
    public func encode(_ clock: VectorClock) throws(WireError) -> [UInt8] {
        // Array(UnsafeBufferPointer) needs no runtime metadata lookup.
        try withEncoded(clock) { Array($0) }
    }

    /// Calls `body` with the encoded clock, read where it was packed (valid only during the
    /// call): a host copying it into its own buffer needs no array in between.
    public func withEncoded<R>(_ clock: VectorClock, _ body: (UnsafeBufferPointer<UInt8>) -> R) throws(WireError) -> R {
        defer { arena.reset() }
        guard let message = try self.clock(clock) else { return body(UnsafeBufferPointer(start: nil, count: 0)) }
        // Packed into a buffer sized by the arena bound (see `pack`): no sizing walk.
        let out = arena.allocate(packedSizeBound).assumingMemoryBound(to: UInt8.self)
        let n = imrpb__vector_clock__pack(message, out)
        return body(UnsafeBufferPointer(start: out, count: n))
    }

    /// Decodes an encoded clock with the same validation as a clock inside a frame.
    public func decodeClock(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> VectorClock {
        defer { arena.reset() }
        return try clock(try unpack(bytes) { imrpb__vector_clock__unpack($0, $1, $2) })
    }
}
