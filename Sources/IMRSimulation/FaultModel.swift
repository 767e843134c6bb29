import IMRCore

/// How a link misbehaves. Rates are probabilities per frame; delays in milliseconds.
public struct FaultModel: Sendable, Equatable {
    public var loss: Double
    public var duplicate: Double
    /// Base one-way latency.
    public var latencyMs: UInt64
    /// Extra random delay per frame; frames overtake each other when it exceeds their spacing.
    public var jitterMs: UInt64
    /// Probability per frame that the connection is cut right after it.
    public var disconnect: Double

    public init(loss: Double = 0, duplicate: Double = 0, latencyMs: UInt64 = 5, jitterMs: UInt64 = 0, disconnect: Double = 0) {
        self.loss = loss
        self.duplicate = duplicate
        self.latencyMs = latencyMs
        self.jitterMs = jitterMs
        self.disconnect = disconnect
    }

    public static let perfect = FaultModel()

    /// The delivery delays of one frame: empty when lost, two when duplicated.
    public func deliveries(using rng: inout SeededGenerator) -> [UInt64] {
        if chance(loss, &rng) { return [] }
        var delays = [delay(&rng)]
        if chance(duplicate, &rng) { delays.append(delay(&rng)) }
        return delays
    }

    public func cutsConnection(using rng: inout SeededGenerator) -> Bool { chance(disconnect, &rng) }

    private func delay(_ rng: inout SeededGenerator) -> UInt64 {
        latencyMs + (jitterMs == 0 ? 0 : UInt64.random(in: 0...jitterMs, using: &rng))
    }
}

func chance(_ p: Double, _ rng: inout SeededGenerator) -> Bool {
    p > 0 && Double.random(in: 0..<1, using: &rng) < p
}
