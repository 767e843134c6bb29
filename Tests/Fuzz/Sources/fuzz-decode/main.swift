import FuzzKit
import IMRCore

// FrameCodec.decode on arbitrary bytes: a frame or a WireError, never a trap. A frame that
// decodes must encode, its encoding must decode to the same frame, and encoding is stable
// (canonical bytes encode to themselves). The codec recycles arenas, identifier caches
// and arrays between calls, so the same bytes are decoded again by the warm codec and must
// give the same answer. The other way round, the same input read as choices builds a frame
// (see Frames): if it encodes, it decodes to itself.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDecode(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size)
    let codec = FrameCodec()
    var input = FuzzInput(data, size)
    encodeFirst(input.bool() ? Frames.toServer(&input) : Frames.toClient(&input), codec)
    let first: Frame
    do {
        first = try codec.decode(bytes)
    } catch {
        // Refused: the warm codec refuses it the same way.
        do {
            let frame = try codec.decode(bytes)
            require(false, "bytes refused with \(error) decode on a second try to \(brief(frame))")
        } catch let again {
            require(again == error, "bytes refused with \(error), then with \(again)")
        }
        return 0
    }
    let encoded: [UInt8]
    do {
        encoded = try codec.encode(first)
    } catch {
        require(false, "decoded frame does not encode (\(error)): \(brief(first))")
        return 0
    }
    do {
        let second = try codec.decode(encoded)
        require(second == first, "round trip changed the frame:\n  \(brief(first))\n  \(brief(second))")
        let reencoded = try codec.encode(second)
        require(reencoded == encoded, "encoding is not stable: \(brief(encoded)) then \(brief(reencoded))")
        let again = try codec.decode(bytes)
        require(again == first, "the warm codec decodes the same bytes differently:\n  \(brief(first))\n  \(brief(again))")
    } catch {
        require(false, "re-encoded frame fails to decode (\(error)): \(brief(first))")
    }
    return 0
}

/// A frame the encoder accepts decodes to itself.
func encodeFirst(_ frame: Frame, _ codec: FrameCodec) {
    guard let bytes = try? codec.encode(frame) else { return }
    do {
        let decoded = try codec.decode(bytes)
        require(decoded == frame, "encode then decode changed the frame:\n  \(brief(frame))\n  \(brief(decoded))")
    } catch {
        require(false, "an encoded frame does not decode (\(error)): \(brief(frame))")
    }
}
