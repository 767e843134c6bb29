import CProtobufC
import IMRWireC

/// Encodes frames to protobuf bytes and decodes them back, through protobuf-c, with
/// strict validation both ways. A codec owns a scratch arena, so it is cheap to reuse and
/// must be used by one thread at a time; keep one per engine or connection.
public final class FrameCodec {
    public let limits: WireLimits
    let arena = Arena()

    public init(limits: WireLimits = .default) {
        self.limits = limits
    }

    /// The encoded frame (not length-delimited).
    public func encode(_ frame: Frame) throws(WireError) -> [UInt8] {
        defer { arena.reset() }
        let message = try cFrame(frame)
        let size = imrpb__frame__get_packed_size(message)
        guard size <= limits.maxFrameBytes else { throw .frameTooLarge(size, limit: limits.maxFrameBytes) }
        // Packed in the arena and copied out: Array(UnsafeBufferPointer) is the cheapest way to
        // make an array (Array(unsafeUninitializedCapacity:) costs a runtime metadata lookup).
        let packed = packInArena(message, size: size)
        return Array(packed)
    }

    private func packInArena(_ message: UnsafePointer<Imrpb__Frame>, size: Int) -> UnsafeBufferPointer<UInt8> {
        let out = arena.allocate(max(size, 1)).assumingMemoryBound(to: UInt8.self)
        let n = imrpb__frame__pack(message, out)
        return UnsafeBufferPointer(start: out, count: n)
    }

    /// Appends the frame with its varint length prefix (the stream form) to `buffer`.
    public func encodeDelimited(_ frame: Frame, appendingTo buffer: inout [UInt8]) throws(WireError) {
        defer { arena.reset() }
        let message = try cFrame(frame)
        let size = imrpb__frame__get_packed_size(message)
        guard size <= limits.maxFrameBytes else { throw .frameTooLarge(size, limit: limits.maxFrameBytes) }
        let packed = packInArena(message, size: size)
        buffer.reserveCapacity(buffer.count + Varint.encodedSize(UInt64(size)) + size)
        Varint.append(UInt64(size), to: &buffer)
        buffer.append(contentsOf: packed)
    }

    public func decode(_ bytes: [UInt8]) throws(WireError) -> Frame {
        try bytes.withUnsafeBufferPointer { (buffer) throws(WireError) -> Frame in
            try decode(UnsafeRawBufferPointer(buffer))
        }
    }

    /// Decodes one frame; any bytes give a frame or a `WireError`, never a trap.
    public func decode(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> Frame {
        guard bytes.count <= limits.maxFrameBytes else {
            throw .frameTooLarge(bytes.count, limit: limits.maxFrameBytes)
        }
        defer { arena.reset() }
        var allocator = arena.protobufAllocator
        let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
        guard let message = imrpb__frame__unpack(&allocator, bytes.count, base) else {
            throw .malformed
        }
        return try swiftFrame(message.pointee)
    }
}
