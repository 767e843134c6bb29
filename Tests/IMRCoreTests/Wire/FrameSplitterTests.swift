import Testing
@testable import IMRCore

@Suite struct FrameSplitterTests {
    let codec = FrameCodec()

    func sampleFrames() -> [Frame] {
        var rng = SeededGenerator(seed: 7)
        return (0..<50).map { i in
            switch i % 4 {
            case 0: return .ping(nonce: UInt64(i))
            case 1: return .send(Send(conversation: "c\(i)", messageID: .uuidV7(unixMilliseconds: UInt64(i), using: &rng),
                                      clock: VectorClock(), payload: [UInt8](repeating: UInt8(i), count: i * 40)))
            case 2: return .error(ErrorFrame(code: .internalError, detail: String(repeating: "é", count: i)))
            default: return .syncRequest(SyncRequest(conversation: "c", afterSeq: UInt64(i), limit: 0))
            }
        }
    }

    @Test func anyChunkingGivesTheSameFrames() throws {
        let frames = sampleFrames()
        var stream: [UInt8] = []
        for f in frames { try codec.encodeDelimited(f, appendingTo: &stream) }
        var rng = SeededGenerator(seed: 11)
        for round in 0..<40 {
            var splitter = FrameSplitter()
            var out: [Frame] = []
            var i = 0
            while i < stream.count {
                let n = round == 0 ? 1 : Int.random(in: 1...300, using: &rng)
                splitter.append(stream[i..<min(i + n, stream.count)])
                i += n
                while let bytes = try splitter.next() { out.append(try codec.decode(bytes)) }
            }
            #expect(out == frames)
            #expect(splitter.bufferedByteCount == 0)
        }
    }

    /// A connection that once received a big frame does not keep its buffer.
    @Test func aBigFramesBufferIsReleasedOnceConsumed() throws {
        var splitter = FrameSplitter()
        var prefix: [UInt8] = []
        Varint.append(300_000, to: &prefix)
        splitter.append(prefix + [UInt8](repeating: 1, count: 300_000))
        #expect(try splitter.next()?.count == 300_000)
        #expect(splitter.bufferCapacity == 0)
        splitter.append([3, 1, 2, 3])
        #expect(try splitter.next() == [1, 2, 3])
        #expect(splitter.bufferCapacity > 0 && splitter.bufferCapacity <= FrameSplitter.retainedCapacity, "small buffers are kept")
    }

    @Test func varintWriteMatchesAppendAndReadsBack() {
        for value: UInt64 in [0, 1, 127, 128, 300, 16_383, 16_384, 1 << 35, UInt64.max] {
            var appended: [UInt8] = []
            Varint.append(value, to: &appended)
            var written = [UInt8](repeating: 0xEE, count: Varint.maxBytes + 2)
            let n = written.withUnsafeMutableBytes { Varint.write(value, to: $0) }
            #expect(n == Varint.encodedSize(value))
            #expect(Array(written[..<n]) == appended)
            #expect(written[n...].allSatisfy { $0 == 0xEE }, "nothing past the varint is touched")
            var index = 0
            #expect(Varint.read(written, at: &index) == value && index == n)
        }
    }

    @Test func rawBufferAppendAndEmptyFrames() throws {
        var splitter = FrameSplitter()
        let stream: [UInt8] = [0, 0, 2, 0x08, 0x01, 0]
        stream.withUnsafeBytes { splitter.append($0) }
        #expect(try splitter.next() == [])
        #expect(try splitter.next() == [])
        #expect(try splitter.next() == [0x08, 0x01])
        #expect(try splitter.next() == [])
        #expect(try splitter.next() == nil)
    }

    /// An oversize length is rejected as soon as its prefix is in: no body byte is appended.
    @Test func oversizeLengthIsRejectedAfterOnlyThePrefix() throws {
        for limit in [0, 1, 127, 128, 1000, 1 << 20] {
            var prefix: [UInt8] = []
            Varint.append(UInt64(limit) + 1, to: &prefix)
            var splitter = FrameSplitter(maxFrameBytes: limit)
            for (i, byte) in prefix.enumerated() {
                splitter.append([byte])
                if i < prefix.count - 1 {
                    #expect(try splitter.next() == nil)
                } else {
                    #expect(throws: WireError.frameTooLarge(limit + 1, limit: limit)) { try splitter.next() }
                }
            }
            #expect(splitter.bufferedByteCount == 0)
            // Exactly the limit is fine.
            var ok = FrameSplitter(maxFrameBytes: limit)
            var exact: [UInt8] = []
            Varint.append(UInt64(limit), to: &exact)
            ok.append(exact + [UInt8](repeating: 0x41, count: limit))
            #expect(try ok.next()?.count == limit)
        }
        // A long prefix whose value is already over the limit fails before the prefix ends.
        var early = FrameSplitter(maxFrameBytes: 100)
        early.append([0xFF, 0xFF])
        #expect(throws: WireError.self) { try early.next() }
    }

    @Test func malformedVarintIsRejected() throws {
        var splitter = FrameSplitter(maxFrameBytes: Int.max)
        splitter.append([UInt8](repeating: 0x80, count: 10) + [0x00])
        #expect(throws: WireError.malformedLength) { try splitter.next() }
        #expect(throws: WireError.streamFailed) { try splitter.next() }
        // Ten bytes is the longest varint; a tenth byte may only carry the top bit.
        var top = FrameSplitter(maxFrameBytes: Int.max)
        top.append([UInt8](repeating: 0xFF, count: 9) + [0x01])
        #expect(throws: WireError.frameTooLarge(Int.max, limit: Int.max)) { try top.next() }
    }

    @Test func varintEncoding() {
        for v: UInt64 in [0, 1, 127, 128, 300, 16383, 16384, 1 << 35, .max] {
            var out: [UInt8] = []
            Varint.append(v, to: &out)
            #expect(out.count == Varint.encodedSize(v))
            #expect(out.count <= Varint.maxBytes)
            var decoded: UInt64 = 0
            for (i, b) in out.enumerated() { decoded |= UInt64(b & 0x7F) << UInt64(7 * i) }
            #expect(decoded == v)
        }
    }
}
