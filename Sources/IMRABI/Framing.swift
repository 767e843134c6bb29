import CIMR
import IMRCore

// Stream framing helpers: the delimited form of one frame.

@c @implementation
public func imr_frame_delimited_size(_ frameLen: Int) -> imr_ssize {
    guard frameLen >= 0 else { return imr_ssize(IMR_ERR_INVALID_ARG) }
    let (total, overflow) = frameLen.addingReportingOverflow(Varint.encodedSize(UInt64(frameLen)))
    return overflow ? imr_ssize(IMR_ERR_TOO_LARGE) : imr_ssize(total)
}

@c @implementation
public func imr_frame_delimit(_ frame: UnsafePointer<UInt8>?, _ frameLen: Int,
                              _ buf: UnsafeMutablePointer<UInt8>?, _ cap: Int,
                              _ outLen: UnsafeMutablePointer<Int>?) -> Int32 {
    abiCall { () throws(ABIFailure) -> Int32 in
        guard let outLen else { throw ABIFailure(IMR_ERR_NULL) }
        let body = try inputBytes(frame, frameLen)
        let capacity = try checkedSize(cap)
        var prefix: [UInt8] = []
        Varint.append(UInt64(body.count), to: &prefix)
        let (total, overflow) = body.count.addingReportingOverflow(prefix.count)
        guard !overflow else { throw ABIFailure(IMR_ERR_TOO_LARGE) }
        guard total <= capacity else {
            outLen.pointee = total
            return IMR_ERR_BUFFER_TOO_SMALL
        }
        guard let buf else { throw ABIFailure(IMR_ERR_NULL) }
        let out = UnsafeMutableRawPointer(buf)
        // The frame first (copyMemory is a memmove: buf may overlap it), then its prefix.
        if let src = body.baseAddress, body.count > 0 {
            (out + prefix.count).copyMemory(from: src, byteCount: body.count)
        }
        prefix.withUnsafeBytes { raw in
            if let src = raw.baseAddress { out.copyMemory(from: src, byteCount: raw.count) }
        }
        outLen.pointee = total
        return IMR_OK
    }
}
