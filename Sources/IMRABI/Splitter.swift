import CIMR
import IMRCore

/// The object behind an imr_splitter handle.
final class SplitterBox {
    var splitter: FrameSplitter
    var failed = false
    /// The frame last handed out by imr_splitter_next.
    let frame = OwnedBytes()

    init(maxFrameBytes: Int) { splitter = FrameSplitter(maxFrameBytes: maxFrameBytes) }

    /// Bytes that may sit in the buffer while frames are taken out as they complete:
    /// one frame and its longest prefix (with room to spare).
    var bufferLimit: Int { splitter.maxFrameBytes + 16 }
}

@c @implementation
public func imr_splitter_new(_ maxFrameBytes: Int, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guard let out else { return IMR_ERR_NULL }
    guard maxFrameBytes >= 0, maxFrameBytes <= Int(IMR_LIMIT_MAX_FRAME_BYTES) else { return IMR_ERR_INVALID_ARG }
    let limit = maxFrameBytes == 0 ? Int(IMR_DEFAULT_MAX_FRAME_BYTES) : maxFrameBytes
    out.pointee = makeHandle(SplitterBox(maxFrameBytes: limit))
    return IMR_OK
}

@c @implementation
public func imr_splitter_free(_ splitter: OpaquePointer?) {
    releaseHandle(splitter, as: SplitterBox.self)
}

@c @implementation
public func imr_splitter_push(_ splitter: OpaquePointer?, _ data: UnsafePointer<UInt8>?, _ len: Int) -> Int32 {
    abiCall { () throws(ABIFailure) -> Int32 in
        guard let splitter else { throw ABIFailure(IMR_ERR_NULL) }
        let bytes = try inputBytes(data, len)
        let box = object(splitter, as: SplitterBox.self)
        guard !box.failed else { throw ABIFailure(IMR_ERR_STREAM_FAILED) }
        guard box.splitter.bufferedByteCount <= box.bufferLimit else { throw ABIFailure(IMR_ERR_TOO_LARGE) }
        if bytes.count > 0 { box.splitter.append(bytes) }
        return IMR_OK
    }
}

@c @implementation
public func imr_splitter_next(_ splitter: OpaquePointer?, _ outFrame: UnsafeMutablePointer<UnsafePointer<UInt8>?>?,
                              _ outLen: UnsafeMutablePointer<Int>?) -> Int32 {
    abiCall { () throws(ABIFailure) -> Int32 in
        guard let splitter, let outFrame, let outLen else { throw ABIFailure(IMR_ERR_NULL) }
        let box = object(splitter, as: SplitterBox.self)
        guard !box.failed else { throw ABIFailure(IMR_ERR_STREAM_FAILED) }
        let next: [UInt8]?
        do throws(WireError) {
            next = try box.splitter.next()
        } catch {
            box.failed = true
            throw ABIFailure(error)
        }
        guard let next else { return 0 }
        box.frame.set(next)
        outFrame.pointee = box.frame.bytePointer
        outLen.pointee = box.frame.count
        return 1
    }
}

@c @implementation
public func imr_splitter_buffered(_ splitter: OpaquePointer?) -> imr_ssize {
    guard let splitter else { return imr_ssize(IMR_ERR_NULL) }
    return imr_ssize(object(splitter, as: SplitterBox.self).splitter.bufferedByteCount)
}
