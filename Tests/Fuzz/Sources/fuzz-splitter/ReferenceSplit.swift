/// The splitting rules written out plainly over a whole stream: the oracle the splitter is
/// held to, whatever the chunking.
enum ReferenceSplit {
    enum Failure: Equatable {
        case malformedLength
        case frameTooLarge
    }

    struct Outcome: Equatable, CustomStringConvertible {
        var frames: [[UInt8]] = []
        var failure: Failure?
        /// Bytes received but not returned: a partial length prefix, or a frame's body
        /// after its complete prefix.
        var pending = 0
        var description: String { "\(frames.count) frames, failure \(String(describing: failure)), \(pending) pending" }
    }

    static func split(_ stream: [UInt8], maxFrameBytes: Int) -> Outcome {
        var out = Outcome()
        var position = 0
        let limit = UInt64(maxFrameBytes)
        while position < stream.count {
            var value: UInt64 = 0
            var read = 0
            var complete = false
            while position + read < stream.count {
                let byte = stream[position + read]
                // The tenth byte of a 64-bit varint carries one bit.
                if read == 9 && byte > 1 { out.failure = .malformedLength; return out }
                value |= UInt64(byte & 0x7F) << UInt64(7 * read)
                read += 1
                if byte & 0x80 == 0 { complete = true; break }
                // Too large is known before the prefix ends.
                if value > limit { out.failure = .frameTooLarge; return out }
            }
            guard complete else { out.pending = stream.count - position; return out }
            if value > limit { out.failure = .frameTooLarge; return out }
            let body = position + read
            guard UInt64(stream.count - body) >= value else { out.pending = stream.count - body; return out }
            out.frames.append(Array(stream[body..<body + Int(value)]))
            position = body + Int(value)
        }
        return out
    }
}
