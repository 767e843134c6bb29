import CProtobufC
import IMRWireC

/// The `Frame` envelope (a version and one body message of the `body` oneof) written and read
/// around protobuf-c's packing and parsing of the body alone.
///
/// Why: protobuf-c handles the envelope as any message: packing walks all 18 of its fields
/// and sizes the body in a separate pass before writing it; parsing allocates and initialises
/// the envelope and checks its 18 fields after the scan. For a small frame (a send, an ack, a
/// push) that costs as much as packing or parsing the body itself. The envelope's bytes are
/// fixed by the wire format: `08 <version>`, then the body's tag, its length and its bytes,
/// exactly what protobuf-c writes for a `Frame` (fields in number order, the zero version left
/// out). Parsing takes this path only for an envelope of exactly that shape (the version, then
/// one body field running to the end) and leaves anything else (unknown or repeated fields, no
/// version, an odd varint) to protobuf-c's parse of the whole frame, so the accepted bytes
/// and what they decode to are the same either way (`FrameEnvelopeTests`).
struct FrameEnvelope {
    /// A body field of the oneof: where protobuf-c keeps its case and its message in `Imrpb__Frame`.
    private struct BodyField {
        var caseOffset: Int
        var messageOffset: Int
        var descriptor: UnsafePointer<ProtobufCMessageDescriptor>
    }

    /// By field number (the oneof's case value).
    private let bodyFields: [BodyField?]

    /// Room before a body packed in place for its envelope header: `08`, a 5-byte version,
    /// a 5-byte tag and a 5-byte length (uint32 varints at most).
    static let headerRoom = 16

    init() {
        let d = imrpb__frame__descriptor
        var fields: [BodyField?] = []
        for i in 0..<Int(d.n_fields) {
            let f = d.fields[i]
            guard f.type == PROTOBUF_C_TYPE_MESSAGE, f.flags & UInt32(PROTOBUF_C_FIELD_FLAG_ONEOF.rawValue) != 0,
                  let sub = f.descriptor else { continue }
            let id = Int(f.id)
            if fields.count <= id { fields += [BodyField?](repeating: nil, count: id + 1 - fields.count) }
            fields[id] = BodyField(caseOffset: Int(f.quantifier_offset), messageOffset: Int(f.offset),
                                   descriptor: sub.assumingMemoryBound(to: ProtobufCMessageDescriptor.self))
        }
        bodyFields = fields
    }

    @inline(__always)
    private func field(_ number: UInt32) -> BodyField? {
        Int(number) < bodyFields.count ? bodyFields[Int(number)] : nil
    }

    // MARK: packing

    /// Packs `frame` into `out`, which has `headerRoom` bytes more than the packed frame needs,
    /// and returns the packed bytes (they start within the room). A frame with no body message
    /// is packed whole by protobuf-c.
    func pack(_ frame: UnsafePointer<Imrpb__Frame>, into out: UnsafeMutablePointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        let number = frame.pointee.body_case.rawValue
        guard let field = field(number),
              let body = UnsafeRawPointer(frame).load(fromByteOffset: field.messageOffset, as: UnsafePointer<ProtobufCMessage>?.self)
        else {
            return UnsafeBufferPointer(start: out, count: imrpb__frame__pack(frame, out))
        }
        let bodyStart = out + Self.headerRoom
        let length = protobuf_c_message_pack(body, bodyStart)
        // The header, written forwards into a scratch, then copied to end where the body starts.
        var header: (UInt64, UInt64, UInt64) = (0, 0, 0)
        let size = withUnsafeMutableBytes(of: &header) { h -> Int in
            let p = h.baseAddress!.assumingMemoryBound(to: UInt8.self)
            var n = 0
            let version = frame.pointee.version
            if version != 0 {
                p[n] = 0x08; n += 1
                n += Self.writeVarint(UInt64(version), p + n)
            }
            n += Self.writeVarint(UInt64(number) << 3 | 2, p + n)
            n += Self.writeVarint(UInt64(length), p + n)
            (bodyStart - n).update(from: p, count: n)
            return n
        }
        return UnsafeBufferPointer(start: bodyStart - size, count: size + length)
    }

    @inline(__always)
    private static func writeVarint(_ value: UInt64, _ p: UnsafeMutablePointer<UInt8>) -> Int {
        Varint.write(value, to: UnsafeMutableRawBufferPointer(start: p, count: Varint.maxBytes))
    }

    // MARK: parsing

    /// Parses `bytes` when they are exactly `08 <version>` and one body field running to the
    /// end, into structs in `arena` (the body through `allocator`, protobuf-c's hook into it);
    /// nil for any other shape, or when protobuf-c refuses the body (the caller then parses
    /// the whole frame, which decides).
    func unpack(_ bytes: UnsafeRawBufferPointer, allocator: UnsafeMutablePointer<ProtobufCAllocator>,
                arena: Arena) -> UnsafeMutablePointer<Imrpb__Frame>? {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count >= 4 else { return nil }
        let end = bytes.count
        // The version: one byte (any version a peer sends today).
        guard base[0] == 0x08, base[1] < 0x80 else { return nil }
        let version = UInt32(base[1])
        // The body's tag, in one or two bytes (field numbers up to 2047).
        var at = 2
        var tag = UInt32(base[at])
        at += 1
        if tag >= 0x80 {
            guard at < end, base[at] < 0x80 else { return nil }
            tag = tag & 0x7F | UInt32(base[at]) << 7
            at += 1
        }
        guard tag & 7 == 2, let field = field(tag >> 3) else { return nil }
        // The length, up to 5 bytes, must cover exactly the rest.
        var length = 0
        var shift = 0
        while true {
            guard at < end, shift <= 28 else { return nil }
            let b = base[at]
            at += 1
            length |= Int(b & 0x7F) << shift
            if b < 0x80 { break }
            shift += 7
        }
        guard length == end - at,
              let body = protobuf_c_message_unpack(field.descriptor, allocator, length, base + at) else { return nil }
        let frame = arena.new(Imrpb__Frame.self)
        imrpb__frame__init(frame)
        frame.pointee.version = version
        let raw = UnsafeMutableRawPointer(frame)
        raw.storeBytes(of: tag >> 3, toByteOffset: field.caseOffset, as: UInt32.self)
        raw.storeBytes(of: body, toByteOffset: field.messageOffset, as: UnsafeMutablePointer<ProtobufCMessage>.self)
        return frame
    }
}
