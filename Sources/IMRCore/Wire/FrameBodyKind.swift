/// The body field of an encoded frame, read from its first bytes without decoding it: lets a
/// server refuse a frame whose size cannot be right for its kind before protobuf-c walks it
/// (a 1 MiB delivered frame is 80,000 watermarks to unpack).
public enum FrameBodyKind {
    /// The field number of the frame's body (10 hello ... 26 receipt, see proto/imr.proto),
    /// nil when the bytes do not start like a frame (the decoder then says why).
    public static func fieldNumber(of bytes: UnsafeRawBufferPointer) -> Int? {
        var i = 0
        func varint() -> UInt64? { Varint.read(bytes, at: &i) }
        while i < bytes.count {
            guard let key = varint() else { return nil }
            let field = Int(truncatingIfNeeded: key >> 3)
            switch key & 7 {
            case 0: guard varint() != nil else { return nil }
            case 1: i += 8
            case 5: i += 4
            case 2:
                guard let length = varint(), length <= UInt64(bytes.count - i) else { return nil }
                if (10...99).contains(field) { return field }
                i += Int(length)
            default: return nil
            }
        }
        return nil
    }

    public static let delivered = 16
    public static let createConversation = 22
    public static let send = 12
}
