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

    public init(
        maxFrameBytes: Int = 1 << 20,
        maxPayloadBytes: Int = 256 << 10,
        maxIdentifierBytes: Int = 128,
        maxClockEntries: Int = 4096,
        maxTokenBytes: Int = 4096
    ) {
        self.maxFrameBytes = maxFrameBytes
        self.maxPayloadBytes = maxPayloadBytes
        self.maxIdentifierBytes = maxIdentifierBytes
        self.maxClockEntries = maxClockEntries
        self.maxTokenBytes = maxTokenBytes
    }

    public static let `default` = WireLimits()
}
