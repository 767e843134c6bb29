import Foundation
import Testing
@testable import IMRCore

/// Random and mutated byte strings (bit flips, truncations, insertions, splices of the golden and
/// malformed vectors), seeded and deterministic, thrown at FrameCodec.decode and FrameSplitter.
/// Any bytes must give a Frame or a WireError, never a trap; a Frame that decodes must re-encode
/// (encode accepts whatever decode accepted) and decode again to the same Frame.
@Suite struct RandomInputTests {
    static let inputs = 100_000

    /// Small limits, so that the limit checks are reached by short inputs too.
    static let tightLimits = WireLimits(maxFrameBytes: 600, maxPayloadBytes: 40, maxIdentifierBytes: 6,
                                        maxClockEntries: 3, maxTokenBytes: 10)

    struct Stats {
        var frames = 0
        var errors: [Int: Int] = [:]
        var splitterFrames = 0
        var splitterErrors = 0
        var failures: [String] = []

        mutating func fail(_ message: String) {
            if failures.count < 20 { failures.append(message) }
        }
    }

    @Test func decoderAndSplitterSurviveRandomAndMutatedInput() throws {
        let (corpus, large) = try Self.corpus()
        try #require(corpus.count > 40 && large.count >= 2)
        var rng = FuzzRandom(seed: 0x1A2B_3C4D)
        let codecs = [FrameCodec(), FrameCodec(limits: Self.tightLimits)]
        var stats = Stats()
        for i in 0..<Self.inputs {
            let input = Self.mutant(of: i % 500 == 1 ? large : corpus, using: &rng)
            let codec = codecs[i % 8 == 7 ? 1 : 0]
            Self.checkDecode(input, codec, &stats)
            if i % 4 == 0 { Self.checkSplitter(input, codec, &rng, &stats) }
            if i % 64 == 0 { try Self.checkValidStream(corpus, codecs[0], &rng, &stats) }
        }
        #expect(stats.failures.isEmpty, "\(stats.failures.joined(separator: "\n"))")
        // The mutants reach both sides: frames that decode and a spread of typed errors.
        #expect(stats.frames > Self.inputs / 50)
        #expect(stats.errors.count >= 8, "\(stats.errors)")
        #expect(stats.splitterFrames > 0 && stats.splitterErrors > 0)
    }

    /// The golden and malformed vectors: up to 4 KiB (mutated often) and the larger ones up to
    /// 64 KiB (the 1,000-entry clock, 4,097 clock entries: mutated now and then, being slow in
    /// debug builds).
    static func corpus() throws -> (small: [[UInt8]], large: [[UInt8]]) {
        var all = try WireTestKit.goldenVectors().map(\.bytes)
        for name in try WireTestKit.vectorNames(in: WireTestKit.malformed) {
            all.append(try WireTestKit.bytes(WireTestKit.malformed.appendingPathComponent(name + ".bin")))
        }
        return (all.filter { $0.count <= 4 << 10 }, all.filter { $0.count > 4 << 10 && $0.count <= 64 << 10 })
    }

    static func checkDecode(_ input: [UInt8], _ codec: FrameCodec, _ stats: inout Stats) {
        let frame: Frame
        do {
            frame = try codec.decode(input)
        } catch {
            stats.errors[error.caseIndex, default: 0] += 1
            return
        }
        stats.frames += 1
        do {
            let again = try codec.encode(frame)
            let back = try codec.decode(again)
            if back != frame { stats.fail("\(hex(input)): re-encoded frame decodes to another frame") }
            if try codec.encode(back) != again { stats.fail("\(hex(input)): encoding is not stable") }
        } catch {
            stats.fail("\(hex(input)): decoded to \(frame) but re-encoding fails with \(error)")
        }
    }

    /// The input as a stream, in random chunks: frames or a typed error, never more bytes out than in.
    static func checkSplitter(_ input: [UInt8], _ codec: FrameCodec, _ rng: inout FuzzRandom, _ stats: inout Stats) {
        var splitter = FrameSplitter(maxFrameBytes: codec.limits.maxFrameBytes)
        var start = 0
        var taken = 0
        do {
            while start < input.count {
                let n = rng.int(1...max(1, input.count / 3))
                splitter.append(input[start..<min(start + n, input.count)])
                start += n
                while let frame = try splitter.next() {
                    stats.splitterFrames += 1
                    taken += frame.count + Varint.encodedSize(UInt64(frame.count))
                    if frame.count > codec.limits.maxFrameBytes { stats.fail("\(hex(input)): splitter gave an oversize frame") }
                    checkDecode(frame, codec, &stats)
                }
            }
            if taken + splitter.bufferedByteCount > input.count { stats.fail("\(hex(input)): splitter gave more bytes than it got") }
        } catch {
            stats.splitterErrors += 1
            if error != .malformedLength && !(error.isFrameTooLarge) { stats.fail("\(hex(input)): splitter threw \(error)") }
            do {
                _ = try splitter.next()
                stats.fail("\(hex(input)): splitter recovered after \(error)")
            } catch {
                if error != .streamFailed { stats.fail("\(hex(input)): failed splitter threw \(error)") }
            }
        }
    }

    /// Several golden vectors, delimited and cut in random chunks, come out whole and in order.
    static func checkValidStream(_ corpus: [[UInt8]], _ codec: FrameCodec, _ rng: inout FuzzRandom, _ stats: inout Stats) throws {
        let frames = (0..<rng.int(1...6)).map { _ in rng.pick(corpus) }
        var stream: [UInt8] = []
        for f in frames { Varint.append(UInt64(f.count), to: &stream); stream += f }
        var splitter = FrameSplitter()
        var out: [[UInt8]] = []
        var start = 0
        while start < stream.count {
            let n = rng.int(1...64)
            splitter.append(stream[start..<min(start + n, stream.count)])
            start += n
            while let f = try splitter.next() { out.append(f) }
        }
        if out != frames { stats.fail("a valid stream of \(frames.count) frames split differently") }
    }

    static func mutant(of corpus: [[UInt8]], using rng: inout FuzzRandom) -> [UInt8] {
        if rng.int(0..<20) == 0 {
            return (0..<rng.int(0...48)).map { _ in rng.byte() }
        }
        var bytes = rng.pick(corpus)
        for _ in 0..<rng.int(1...3) {
            mutate(&bytes, corpus, &rng)
        }
        return bytes
    }

    static func mutate(_ bytes: inout [UInt8], _ corpus: [[UInt8]], _ rng: inout FuzzRandom) {
        let interesting: [UInt8] = [0x00, 0x01, 0x7F, 0x80, 0xFF, 0x08, 0x0A, 0x12, 0x62, 0xC3]
        switch rng.int(0..<8) {
        case 0 where !bytes.isEmpty:    // bit flips
            for _ in 0..<rng.int(1...4) {
                bytes[rng.int(0..<bytes.count)] ^= 1 << UInt8(rng.int(0...7))
            }
        case 1 where !bytes.isEmpty:    // truncation
            bytes.removeLast(rng.int(1...bytes.count))
        case 2:                         // insertion of random bytes
            let at = rng.int(0...bytes.count)
            let n = rng.int(1...8)
            bytes.insert(contentsOf: (0..<n).map { _ in rng.byte() }, at: at)
        case 3:                         // splice: a prefix of this one, a suffix of another
            let other = rng.pick(corpus)
            let cut = rng.int(0...bytes.count)
            let from = rng.int(0...other.count)
            bytes = Array(bytes[..<cut] + other[from...])
        case 4 where !bytes.isEmpty:    // interesting byte values (varint edges, tags, UTF-8 lead)
            bytes[rng.int(0..<bytes.count)] = rng.pick(interesting)
        case 5 where !bytes.isEmpty:    // duplicate a range
            let a = rng.int(0..<bytes.count)
            let b = min(bytes.count, a + rng.int(1...32))
            bytes.insert(contentsOf: bytes[a..<b], at: rng.int(0...bytes.count))
        case 6 where !bytes.isEmpty:    // delete a range
            let a = rng.int(0..<bytes.count)
            bytes.removeSubrange(a..<min(bytes.count, a + rng.int(1...16)))
        case 7:                         // append a whole other vector (a repeated or merged body)
            bytes += rng.pick(corpus)
        default:
            bytes.append(rng.byte())
        }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let shown = bytes.prefix(64).map { String($0, radix: 16) }.joined(separator: " ")
        return bytes.count > 64 ? "[\(bytes.count) bytes: \(shown) …]" : "[\(shown)]"
    }
}

extension WireError {
    fileprivate var isFrameTooLarge: Bool {
        if case .frameTooLarge = self { return true }
        return false
    }

    /// Which case, cheaply (the test counts them).
    fileprivate var caseIndex: Int {
        switch self {
        case .malformed: 0
        case .frameTooLarge: 1
        case .missingBody: 2
        case .unsupportedVersion: 3
        case .missingField: 4
        case .invalidMessageID: 5
        case .invalidIdentifier(_, .empty): 6
        case .invalidIdentifier(_, .tooLong): 7
        case .invalidIdentifier(_, .notUTF8): 8
        case .invalidIdentifier(_, .containsNUL): 9
        case .payloadTooLarge: 10
        case .invalidClock(.duplicateNode): 11
        case .invalidClock(.tooManyEntries): 12
        case .malformedLength: 13
        case .streamFailed: 14
        case .invalidClock(.mismatchedLists): 15
        case .invalidClock(.entryMessages): 16
        case .invalidIdentifier(_, .notNFC): 17
        case .tooManyItems: 18
        }
    }
}

/// A seeded generator with non-generic helpers (the generic `random(in:using:)` is slow in
/// debug builds, where this test must stay within a few seconds).
struct FuzzRandom {
    private var base: SeededGenerator
    init(seed: UInt64) { base = SeededGenerator(seed: seed) }

    mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(base.next() % UInt64(range.upperBound - range.lowerBound + 1))
    }

    mutating func int(_ range: Range<Int>) -> Int {
        range.lowerBound + Int(base.next() % UInt64(range.upperBound - range.lowerBound))
    }

    mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: base.next()) }

    mutating func u64() -> UInt64 { base.next() }

    mutating func pick<T>(_ list: [T]) -> T { list[int(0..<list.count)] }
}
