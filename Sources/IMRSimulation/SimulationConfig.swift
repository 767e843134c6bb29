import IMRCore

/// One simulated run: who talks, how much, and how badly the network behaves.
public struct SimulationConfig: Sendable {
    public var seed: UInt64
    /// Client devices; device i belongs to user `i % users`.
    public var devices: Int
    public var users: Int
    /// Conversation 0 has every user; further ones a random subset (at least two users).
    public var conversations: Int
    public var messagesPerDevice: Int
    /// Messages are sent at random times in [0, workloadMs); faults stop at workloadMs.
    public var workloadMs: UInt64
    public var faults: FaultModel
    /// Mean time between random disconnects of one device while the workload runs (0 = none).
    public var meanDisconnectIntervalMs: UInt64
    /// Durable stores (SQLite files in `storeDirectory`) and crash-restarts of clients and server.
    public var crashes: Bool
    public var storeDirectory: String?
    /// After the workload the network heals; the run must settle within this time.
    public var settleLimitMs: UInt64
    public var trace: Bool

    public init(seed: UInt64, devices: Int = 6, users: Int = 3, conversations: Int = 1, messagesPerDevice: Int = 5,
                workloadMs: UInt64 = 10_000, faults: FaultModel = .perfect, meanDisconnectIntervalMs: UInt64 = 0,
                crashes: Bool = false, storeDirectory: String? = nil, settleLimitMs: UInt64 = 600_000, trace: Bool = false) {
        self.seed = seed
        self.devices = devices
        self.users = users
        self.conversations = conversations
        self.messagesPerDevice = messagesPerDevice
        self.workloadMs = workloadMs
        self.faults = faults
        self.meanDisconnectIntervalMs = meanDisconnectIntervalMs
        self.crashes = crashes
        self.storeDirectory = storeDirectory
        self.settleLimitMs = settleLimitMs
        self.trace = trace
    }

    /// A configuration drawn from the seed: 3 to 20 devices, up to 30% loss, duplication,
    /// reordering and disconnects; every eighth seed with durable stores and crash-restarts
    /// when `storeDirectory` is given.
    public static func random(seed: UInt64, storeDirectory: String? = nil) -> SimulationConfig {
        var rng = SeededGenerator(seed: seed ^ 0x5EED_C0DE)
        let devices = Int.random(in: 3...20, using: &rng)
        let users = Int.random(in: 2...max(2, devices / 2 + 1), using: &rng)
        let faults = FaultModel(
            loss: Double.random(in: 0...0.3, using: &rng),
            duplicate: Double.random(in: 0...0.1, using: &rng),
            latencyMs: UInt64.random(in: 1...30, using: &rng),
            jitterMs: UInt64.random(in: 0...80, using: &rng),
            disconnect: Double.random(in: 0...0.01, using: &rng))
        let crashes = storeDirectory != nil && seed % 8 == 0
        return SimulationConfig(
            seed: seed, devices: devices, users: users, conversations: Int.random(in: 1...2, using: &rng),
            messagesPerDevice: Int.random(in: 1...4, using: &rng), workloadMs: 5_000, faults: faults,
            meanDisconnectIntervalMs: UInt64.random(in: 1_000...8_000, using: &rng),
            crashes: crashes, storeDirectory: crashes ? storeDirectory : nil)
    }
}
