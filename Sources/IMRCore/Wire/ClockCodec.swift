import CProtobufC
import IMRWireC

/// The standalone wire form of a vector clock: the protobuf message `imrpb.VectorClock`
/// (canonical: sorted by node, no duplicates, no zero counters), for hosts that store or
/// exchange clocks outside a frame (the C ABI's imr_clock_encode/decode).
extension FrameCodec {
    /// The encoded clock; an empty clock encodes to no bytes.
    public func encode(_ clock: VectorClock) throws(WireError) -> [UInt8] {
        defer { arena.reset() }
        guard let message = try self.clock(clock) else { return [] }
        let size = imrpb__vector_clock__get_packed_size(message)
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            count = size == 0 ? 0 : imrpb__vector_clock__pack(message, buffer.baseAddress)
        }
    }

    /// Decodes an encoded clock with the same validation as a clock inside a frame.
    public func decodeClock(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> VectorClock {
        guard bytes.count <= limits.maxFrameBytes else {
            throw .frameTooLarge(bytes.count, limit: limits.maxFrameBytes)
        }
        defer { arena.reset() }
        var allocator = arena.protobufAllocator
        let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
        guard let message = imrpb__vector_clock__unpack(&allocator, bytes.count, base) else {
            throw .malformed
        }
        return try self.clock(message)
    }
}
