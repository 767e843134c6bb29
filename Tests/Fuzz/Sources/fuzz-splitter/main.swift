import FuzzKit
import IMRCore

// FrameSplitter on arbitrary bytes in chunks the input chooses (empty ones included, both
// append methods): the frames and the error are those of `ReferenceSplit` over the whole
// stream, and those of a splitter fed everything at once. After an error the splitter
// stays failed: every `next` throws `streamFailed` and appended bytes are dropped.
//
// Input: a byte choosing the frame limit, a byte giving the number of chunk sizes (0-7),
// the chunk sizes (cycled), then the stream.

let frameLimits = [0, 1, 2, 5, 127, 128, 129, 300, 16_383, 16_384, WireLimits.default.maxFrameBytes, Int.max]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSplitter(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let limit = frameLimits[Int(input.byte()) % frameLimits.count]
    var chunks = input.bytes(count: Int(input.byte() % 8)).map(Int.init)
    if chunks.allSatisfy({ $0 == 0 }) { chunks.append(Int.max) }
    let stream = input.rest()

    let expected = ReferenceSplit.split(stream, maxFrameBytes: limit)

    var whole = FrameSplitter(maxFrameBytes: limit)
    whole.append(stream)
    let oneShot = drain(&whole)
    require(oneShot.frames == expected.frames && oneShot.failure == expected.failure,
            "one-shot split differs from the reference: \(oneShot) vs \(expected)")

    var splitter = FrameSplitter(maxFrameBytes: limit)
    var chunked = Drained()
    var start = 0
    var turn = 0
    while start < stream.count && chunked.failure == nil {
        let end = min(stream.count, start + min(chunks[turn % chunks.count], stream.count))
        if turn % 2 == 0 {
            splitter.append(stream[start..<end])
        } else {
            stream.withUnsafeBytes { splitter.append(UnsafeRawBufferPointer(rebasing: $0[start..<end])) }
        }
        start = end
        turn += 1
        let step = drain(&splitter)
        chunked.frames += step.frames
        chunked.failure = step.failure
    }
    require(chunked.frames == expected.frames && chunked.failure == expected.failure,
            "chunked split (chunks \(chunks)) differs from the reference: \(chunked) vs \(expected)")

    if expected.failure == nil {
        require(whole.bufferedByteCount == expected.pending && splitter.bufferedByteCount == expected.pending,
                "buffered \(whole.bufferedByteCount) / \(splitter.bufferedByteCount) bytes, expected \(expected.pending)")
    } else {
        // Sticky: nothing more comes out, nothing more goes in.
        for _ in 0..<2 {
            splitter.append([0x01, 0x00, 0x00])
            require(splitter.bufferedByteCount == 0, "a failed splitter buffered \(splitter.bufferedByteCount) bytes")
            do {
                let frame = try splitter.next()
                require(false, "a failed splitter gave \(frame.map(brief) ?? "nil")")
            } catch {
                require(error == .streamFailed, "a failed splitter threw \(error), not streamFailed")
            }
        }
    }
    return 0
}

struct Drained: CustomStringConvertible {
    var frames: [[UInt8]] = []
    var failure: ReferenceSplit.Failure?
    var description: String { "\(frames.count) frames, failure \(String(describing: failure))" }
}

/// Every frame available now, and the error that stopped them (each frame within the limit).
func drain(_ splitter: inout FrameSplitter) -> Drained {
    var out = Drained()
    while true {
        do {
            guard let frame = try splitter.next() else { return out }
            require(frame.count <= splitter.maxFrameBytes, "a frame of \(frame.count) bytes is over the limit")
            out.frames.append(frame)
        } catch {
            switch error {
            case .malformedLength: out.failure = .malformedLength
            case .frameTooLarge: out.failure = .frameTooLarge
            default: require(false, "unexpected splitter error \(error)")
            }
            return out
        }
    }
}
