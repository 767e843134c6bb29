/// Size limits the wire layer enforces on both encode and decode.
public struct WireLimits: Sendable, Equatable {
    /// Largest encoded frame (without its length prefix).
    public var maxFrameBytes: Int
    /// Largest message payload.
    public var maxPayloadBytes: Int
    /// Longest conversation id or user id, in UTF-8 bytes.
    public var maxIdentifierBytes: Int
    /// Most entries in one vector clock.
    public var maxClockEntries: Int
    /// Longest auth token, in UTF-8 bytes.
    public var maxTokenBytes: Int
    /// Most watermarks in one delivered frame (each costs the server store reads).
    public var maxWatermarksPerFrame: Int
    /// Most user ids in one list of a frame (the members of a create or of a result).
    public var maxMembersPerFrame: Int

    public init(
        maxFrameBytes: Int = 1 << 20,
        maxPayloadBytes: Int = 256 << 10,
        maxIdentifierBytes: Int = 128,
        maxClockEntries: Int = 4096,
        maxTokenBytes: Int = 4096,
        maxWatermarksPerFrame: Int = 256,
        maxMembersPerFrame: Int = 1024
    ) {
        self.maxFrameBytes = maxFrameBytes
        self.maxPayloadBytes = maxPayloadBytes
        self.maxIdentifierBytes = maxIdentifierBytes
        self.maxClockEntries = maxClockEntries
        self.maxTokenBytes = maxTokenBytes
        self.maxWatermarksPerFrame = maxWatermarksPerFrame
        self.maxMembersPerFrame = maxMembersPerFrame
    }

    public static let `default` = WireLimits()
}
