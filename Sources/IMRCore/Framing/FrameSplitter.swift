/// Splits a byte stream of varint length-delimited frames into frames.
///
/// Accepts any chunking (one byte at a time works). A length over `maxFrameBytes` is
/// rejected as soon as its prefix is read, before any of the frame is buffered; a prefix
/// that is not a valid varint is rejected too. A prefix is rejected as soon as the bytes read
/// of it already exceed the limit, whatever the chunking, so `frameTooLarge` then reports the
/// length read so far (a lower bound). After an error the splitter stays failed: the stream
/// cannot be resynchronised, the connection must be reset.
public struct FrameSplitter: Sendable {
    private enum State: Sendable {
        case readingLength
        case readingBody(length: Int)
        case failed(WireError)
    }

    /// Raised once a connection has authenticated (hosts accept only a small hello before).
    public var maxFrameBytes: Int
    private var buffer: [UInt8] = []
    private var readIndex = 0
    private var state = State.readingLength

    public init(maxFrameBytes: Int = WireLimits.default.maxFrameBytes) {
        self.maxFrameBytes = maxFrameBytes
    }

    /// Bytes received but not yet returned as frames.
    public var bufferedByteCount: Int { buffer.count - readIndex }

    public mutating func append(_ bytes: some Sequence<UInt8>) {
        if case .failed = state { return }
        buffer.append(contentsOf: bytes)
    }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if case .failed = state { return }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete frame, nil when more bytes are needed, or the framing error.
    public mutating func next() throws(WireError) -> [UInt8]? {
        while true {
            switch state {
            case let .failed(error):
                _ = error
                throw .streamFailed
            case .readingLength:
                guard let length = try readLength() else { compact(); return nil }
                state = .readingBody(length: length)
            case let .readingBody(length):
                guard buffer.count - readIndex >= length else { compact(); return nil }
                let frame = Array(buffer[readIndex..<readIndex + length])
                readIndex += length
                state = .readingLength
                if readIndex == buffer.count { releaseConsumed() }
                return frame
            }
        }
    }

    private mutating func readLength() throws(WireError) -> Int? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        var i = readIndex
        while i < buffer.count {
            let byte = buffer[i]
            let bits = UInt64(byte & 0x7F)
            // A tenth byte may carry only the top bit of a 64-bit value.
            if i - readIndex == Varint.maxBytes - 1 && byte > 1 { return try fail(.malformedLength) }
            value |= bits << shift
            i += 1
            if byte & 0x80 == 0 {
                guard value <= UInt64(maxFrameBytes) else {
                    return try fail(.frameTooLarge(value > UInt64(Int.max) ? Int.max : Int(value), limit: maxFrameBytes))
                }
                readIndex = i
                return Int(value)
            }
            shift += 7
            // Any length with more significant bits than maxFrameBytes is already too large.
            if value > UInt64(maxFrameBytes) {
                return try fail(.frameTooLarge(Int(clamping: value), limit: maxFrameBytes))
            }
        }
        return nil
    }

    private mutating func fail(_ error: WireError) throws(WireError) -> Int? {
        state = .failed(error)
        buffer = []
        readIndex = 0
        throw error
    }

    /// Everything was consumed: a small buffer is kept for the next read, a large one (left by
    /// one big frame) is freed, so that a connection holds no more than it is using.
    private mutating func releaseConsumed() {
        if buffer.capacity > Self.retainedCapacity {
            buffer = []
        } else {
            buffer.removeAll(keepingCapacity: true)
        }
        readIndex = 0
    }

    /// The most capacity kept between frames.
    static let retainedCapacity = 64 << 10

    /// Bytes allocated for buffering (for tests of the release).
    var bufferCapacity: Int { buffer.capacity }

    private mutating func compact() {
        if readIndex > 0 && readIndex * 2 >= buffer.count {
            buffer.removeSubrange(0..<readIndex)
            readIndex = 0
        }
    }
}
