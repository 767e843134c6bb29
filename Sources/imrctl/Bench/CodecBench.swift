import IMRBenchC
import IMRCore

/// The wire codec figure: encode+decode round trips per second of a typical send frame
/// (100-byte payload, 3-entry clock) through `FrameCodec`, beside the same frame packed and
/// unpacked through protobuf-c directly on C structs, and the ratio (goal: 1.3 or less).
struct CodecBench: BenchSuite {
    let name = "codec"

    struct Mismatch: Error, CustomStringConvertible {
        var description: String
    }

    static func typicalSend() throws -> Send {
        var rng = SeededGenerator(seed: 42)
        let id = MessageID.uuidV7(unixMilliseconds: 1_700_000_000_000, using: &rng)
        let clock = try VectorClock(entries: [
            .init(node: rng.next(), counter: 1_234),
            .init(node: rng.next(), counter: 17),
            .init(node: rng.next(), counter: 3),
        ])
        let payload = (0..<100).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        return Send(conversation: "conv-7f3a9c41", messageID: id, clock: clock, payload: payload)
    }

    func run(quick: Bool) throws -> [BenchFigure] {
        let send = try Self.typicalSend()
        let frame = Frame.send(send)
        let codec = FrameCodec()
        let conversation = Array(send.conversation.utf8CString)
        let id = send.messageID.bytes
        let nodes = send.clock.entries.map(\.node)
        let counters = send.clock.entries.map(\.counter)

        return try conversation.withUnsafeBufferPointer { conversation in
            try id.withUnsafeBufferPointer { id in
                try nodes.withUnsafeBufferPointer { nodes in
                    try counters.withUnsafeBufferPointer { counters in
                        try send.payload.withUnsafeBufferPointer { payload in
                            var c = imrbench_send(
                                conversation: conversation.baseAddress, message_id: id.baseAddress,
                                clock_nodes: nodes.baseAddress, clock_counters: counters.baseAddress,
                                clock_count: nodes.count, payload: payload.baseAddress, payload_len: payload.count)
                            return try measure(frame: frame, codec: codec, c: &c, quick: quick)
                        }
                    }
                }
            }
        }
    }

    private func measure(frame: Frame, codec: FrameCodec, c: inout imrbench_send, quick: Bool) throws -> [BenchFigure] {
        // Both sides must produce the same bytes, or the comparison means nothing.
        var packed = [UInt8](repeating: 0, count: 4096)
        let n = imrbench_pack_send(&c, &packed, packed.count)
        let swiftBytes = try codec.encode(frame)
        guard n > 0, Array(packed[..<n]) == swiftBytes, try codec.decode(swiftBytes) == frame else {
            throw Mismatch(description: "protobuf-c and FrameCodec encode the bench frame differently")
        }

        let iterations = quick ? 20_000 : 100_000
        let samples = quick ? 3 : 11
        var swiftRates: [Double] = []
        var cRates: [Double] = []
        var ratios: [Double] = []
        var sink: UInt64 = 0
        // Warm up both, then alternate the samples so drift on the machine hits both alike; the
        // ratio is the median of the ratios of neighbouring samples, the steadiest under load.
        sink &+= try swiftRoundTrips(frame, codec, iterations / 10)
        sink &+= imrbench_protobuf_c_roundtrips(&c, UInt64(iterations / 10))
        for _ in 0..<samples {
            var t = monotonicSeconds()
            sink &+= try swiftRoundTrips(frame, codec, iterations)
            swiftRates.append(Double(iterations) / (monotonicSeconds() - t))
            t = monotonicSeconds()
            let check = imrbench_protobuf_c_roundtrips(&c, UInt64(iterations))
            cRates.append(Double(iterations) / (monotonicSeconds() - t))
            guard check != 0 else { throw Mismatch(description: "the protobuf-c round trip failed") }
            sink &+= check
            ratios.append(cRates.last! / swiftRates.last!)
        }
        if sink == 0 { print("") }   // keeps the work observable

        let swiftRate = median(swiftRates)
        let cRate = median(cRates)
        return [
            BenchFigure(key: "codec_swift_roundtrips_per_s", value: swiftRate, unit: "round trips/s",
                        label: "send frame encode+decode, FrameCodec (\(swiftBytes.count) B)"),
            BenchFigure(key: "codec_protobuf_c_roundtrips_per_s", value: cRate, unit: "round trips/s",
                        label: "same frame pack+unpack, protobuf-c on C structs"),
            BenchFigure(key: "codec_ratio_vs_protobuf_c", value: median(ratios), unit: "x protobuf-c's time",
                        label: "FrameCodec time / protobuf-c time", goal: "<= 1.3"),
        ]
    }

    /// Encodes the frame to bytes and decodes them back, `count` times.
    private func swiftRoundTrips(_ frame: Frame, _ codec: FrameCodec, _ count: Int) throws -> UInt64 {
        var checksum: UInt64 = 0
        for _ in 0..<count {
            let bytes = try codec.encode(frame)
            guard case let .send(back) = try codec.decode(bytes) else {
                throw Mismatch(description: "the bench frame did not decode to a send")
            }
            checksum &+= UInt64(bytes.count + back.payload.count + Int(back.payload[0])) &+ back.clock.causalDepth
        }
        return checksum
    }
}
