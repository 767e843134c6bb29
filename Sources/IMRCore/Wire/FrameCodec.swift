import CProtobufC
import IMRWireC

/// Encodes frames to protobuf bytes and decodes them back, through protobuf-c, with
/// strict validation both ways. A codec owns a scratch arena, so it is cheap to reuse and
/// must be used by one thread at a time; keep one per engine or connection.
public final class FrameCodec {
    public let limits: WireLimits
    let arena = Arena()
    let envelope = FrameEnvelope()
    /// Unchecked: a codec is used by one thread at a time, and a dynamic exclusivity check
    /// here cost a thread-local lookup per decoded identifier.
    @exclusivity(unchecked) var recentIdentifiers = RecentIdentifiers()
    /// A push's payload and clock entries, refilled in place frame after frame (see `RecycledArray`).
    @exclusivity(unchecked) var recycledPayload = RecycledArray<UInt8>()
    @exclusivity(unchecked) var recycledClock = RecycledArray<VectorClock.Entry>()

    public init(limits: WireLimits = .default) {
        self.limits = limits
    }

    /// The encoded frame (not length-delimited).
    public func encode(_ frame: Frame) throws(WireError) -> [UInt8] {
        defer { arena.reset() }
        // Packed in the arena and copied out: Array(UnsafeBufferPointer) is the cheapest way to
        // make an array (Array(unsafeUninitializedCapacity:) costs a runtime metadata lookup).
        return Array(try encodeInScratch(frame))
    }

    /// The encoded frame, in the codec's scratch space: valid until `releaseScratch()` or the
    /// codec's next use. The caller releases the scratch after this returns or throws.
    func encodeInScratch(_ frame: Frame) throws(WireError) -> UnsafeBufferPointer<UInt8> {
        try pack(try cFrame(frame))
    }

    /// The encoded send frame of a message whose clock and payload are read in place, in the
    /// codec's scratch space (as `encodeInScratch`). `checkedName`, when given, is
    /// `conversation` NUL-terminated and already checked against this codec's limits: the
    /// frame points at it (it must stay valid until the scratch is released).
    func encodeSendInScratch(conversation: String, checkedName: UnsafeMutablePointer<CChar>? = nil, messageID: MessageID,
                             clock: UnsafeBufferPointer<VectorClock.Entry>,
                             payload: UnsafeBufferPointer<UInt8>) throws(WireError) -> UnsafeBufferPointer<UInt8> {
        try pack(try cSendFrame(conversation: conversation, checkedName: checkedName, messageID: messageID, clock: clock, payload: payload))
    }

    /// Ends the use of bytes handed out by `encodeInScratch` or `encodeSendInScratch`.
    func releaseScratch() { arena.reset() }

    /// Appends the frame with its varint length prefix (the stream form) to `buffer`.
    public func encodeDelimited(_ frame: Frame, appendingTo buffer: inout [UInt8]) throws(WireError) {
        defer { arena.reset() }
        let packed = try pack(try cFrame(frame))
        buffer.reserveCapacity(buffer.count + Varint.encodedSize(UInt64(packed.count)) + packed.count)
        Varint.append(UInt64(packed.count), to: &buffer)
        buffer.append(contentsOf: packed)
    }

    /// Packs a message built in the arena (and nothing else) into the arena.
    ///
    /// protobuf-c needs a buffer large enough up front; sizing a small frame exactly
    /// (`get_packed_size`, a full walk of the message) costs about as much as packing it.
    /// Every byte protobuf-c writes stands for at least a third of a byte of the structs
    /// that built the message: a scalar field of 4 or 8 bytes packs into at most a 2-byte
    /// tag and a 10-byte varint, a string or bytes field into its data plus at most 7 bytes
    /// (its 8- or 16-byte field covers those), a sub-message or repeated element into its
    /// own bytes plus at most 7 (its pointer's 8 cover those), a packed list of 8-byte numbers
    /// into at most 10 bytes each plus 7 (its count and pointer cover those). All of it lives in the arena,
    /// so three times the arena's bytes in use bound the packed size; frames whose bound is
    /// large are sized exactly instead (the walk is small next to their copying).
    func pack(_ message: UnsafePointer<Imrpb__Frame>) throws(WireError) -> UnsafeBufferPointer<UInt8> {
        let bound = packedSizeBound
        let size: Int
        if bound <= Self.boundedPackLimit {
            size = bound
        } else {
            size = imrpb__frame__get_packed_size(message)
            guard size <= limits.maxFrameBytes else { throw .frameTooLarge(size, limit: limits.maxFrameBytes) }
        }
        let out = arena.allocate(size + FrameEnvelope.headerRoom).assumingMemoryBound(to: UInt8.self)
        let packed = envelope.pack(message, into: out)
        guard packed.count <= limits.maxFrameBytes else { throw .frameTooLarge(packed.count, limit: limits.maxFrameBytes) }
        return packed
    }

    /// `pack` through protobuf-c's packing of the whole frame, envelope included (for tests:
    /// the envelope's own packing must give the same bytes).
    func packWhole(_ frame: Frame) throws(WireError) -> [UInt8] {
        defer { arena.reset() }
        let message = try cFrame(frame)
        let out = arena.allocate(imrpb__frame__get_packed_size(message) + 1).assumingMemoryBound(to: UInt8.self)
        return Array(UnsafeBufferPointer(start: out, count: imrpb__frame__pack(message, out)))
    }

    /// An upper bound of the packed size of the message built in the arena (see `pack`).
    var packedSizeBound: Int { 3 * arena.bytesInUse + 16 }

    static let boundedPackLimit = 64 << 10

    /// The bound `pack` would use for `frame` and its exact packed size (for tests).
    func packedSizeCheck(_ frame: Frame) throws(WireError) -> (bound: Int, exact: Int) {
        defer { arena.reset() }
        let message = try cFrame(frame)
        return (packedSizeBound, imrpb__frame__get_packed_size(message))
    }

    public func decode(_ bytes: [UInt8]) throws(WireError) -> Frame {
        try bytes.withUnsafeBufferPointer { (buffer) throws(WireError) -> Frame in
            try decode(UnsafeRawBufferPointer(buffer))
        }
    }

    /// Decodes one frame; any bytes give a frame or a `WireError`, never a trap.
    public func decode(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> Frame {
        defer { arena.reset() }
        let message = try unpack(bytes) { (allocator, count, data) in
            // The envelope's own parse when it has the usual shape, else protobuf-c's (which decides).
            envelope.unpack(UnsafeRawBufferPointer(start: data, count: count), allocator: allocator, arena: arena)
                ?? imrpb__frame__unpack(allocator, count, data)
        }
        return try swiftFrame(message.pointee)
    }

    /// `decode` through protobuf-c's parse of the whole frame, envelope included (for tests:
    /// the envelope's own parse must accept the same bytes and give the same frame).
    func decodeWhole(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> Frame {
        defer { arena.reset() }
        let message = try unpack(bytes) { imrpb__frame__unpack($0, $1, $2) }
        return try swiftFrame(message.pointee)
    }

    /// Refuses input over the frame limit, then lets protobuf-c parse it into the arena
    /// (the caller converts the message and resets the arena).
    @inline(__always)
    func unpack<Message>(_ bytes: UnsafeRawBufferPointer,
                         with parse: (UnsafeMutablePointer<ProtobufCAllocator>, Int, UnsafePointer<UInt8>?) -> UnsafeMutablePointer<Message>?)
        throws(WireError) -> UnsafeMutablePointer<Message> {
        guard bytes.count <= limits.maxFrameBytes else {
            throw .frameTooLarge(bytes.count, limit: limits.maxFrameBytes)
        }
        var allocator = arena.protobufAllocator
        guard let message = parse(&allocator, bytes.count, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)) else {
            throw .malformed
        }
        return message
    }
}
