import Foundation
import Testing
@testable import IMRCore

/// Tests/Vectors/NAME.bin + NAME.json: the Swift codec encodes the frame the JSON describes to
/// exactly the .bin bytes and decodes them back; independent decoders (protoc, Google's Python
/// protobuf) read every .bin as its .json says.
@Suite struct GoldenVectorTests {
    static let names: [String] = (try? WireTestKit.vectorNames(in: WireTestKit.vectors)) ?? []

    static func load(_ name: String) throws -> (bin: [UInt8], json: Data) {
        let bin = try WireTestKit.bytes(WireTestKit.vectors.appendingPathComponent(name + ".bin"))
        let json = try Data(contentsOf: WireTestKit.vectors.appendingPathComponent(name + ".json"))
        return (bin, json)
    }

    @Test(arguments: names)
    func swiftCodecMatchesVector(_ name: String) throws {
        let (bin, json) = try Self.load(name)
        let frame = try JSONFrameMapper.frame(fromJSON: json)
        let codec = FrameCodec()
        let encoded = try codec.encode(frame)
        #expect(encoded == bin, "\(name): Swift encodes \(encoded.count) bytes, the vector has \(bin.count)")
        #expect(try codec.decode(bin) == frame, "\(name): decoding the .bin gives another frame")
        // The same through the stream form and the splitter.
        var stream: [UInt8] = []
        try codec.encodeDelimited(frame, appendingTo: &stream)
        #expect(stream == Self.delimited(bin))
        var splitter = FrameSplitter()
        splitter.append(stream)
        #expect(try splitter.next() == bin)
        #expect(try splitter.next() == nil)
    }

    static func delimited(_ bin: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        Varint.append(UInt64(bin.count), to: &out)
        return out + bin
    }

    @Test func everyFrameKindAndEdgeCaseHasAVector() throws {
        var kinds: Set<String> = []
        for name in Self.names {
            kinds.insert(try JSONFrameMapper.kind(ofJSON: try Self.load(name).json))
        }
        #expect(kinds == Set(JSONFrameMapper.bodyKinds), "missing: \(Set(JSONFrameMapper.bodyKinds).subtracting(kinds))")
        let codec = FrameCodec()
        func frame(_ name: String) throws -> Frame { try codec.decode(try Self.load(name).bin) }

        guard case let .send(empty) = try frame("send_empty_payload") else { Issue.record("not a send"); return }
        #expect(empty.payload.isEmpty)
        guard case let .send(large) = try frame("send_large_clock") else { Issue.record("not a send"); return }
        #expect(large.clock.count == 1000)
        guard case let .send(nonASCII) = try frame("send_non_ascii_conversation") else { Issue.record("not a send"); return }
        #expect(nonASCII.conversation.unicodeScalars.contains { !$0.isASCII })
        guard case let .sendReject(noRetry) = try frame("send_reject"),
              case let .sendReject(retry) = try frame("send_reject_retry_after"),
              case let .sendReject(retryZero) = try frame("send_reject_retry_after_zero") else {
            Issue.record("not a reject"); return
        }
        #expect(noRetry.retryAfterMs == nil && retry.retryAfterMs == 1500 && retryZero.retryAfterMs == 0)
        guard case let .delivered(d) = try frame("delivered") else { Issue.record("not delivered"); return }
        #expect(d.watermarks.map(\.readSeq) == [12, nil, 0, nil])
        guard case let .receipt(r1) = try frame("receipt"), case let .receipt(r2) = try frame("receipt_without_read") else {
            Issue.record("not a receipt"); return
        }
        #expect(r1.readSeq == 15 && r2.readSeq == nil)
    }

    /// protoc (Debian's protobuf-compiler, C++ protobuf) decodes every .bin; its text output holds
    /// exactly the JSON's fields and values, and encoding that text again gives the same bytes.
    @Test func protocReadsEveryVectorAsItsJSONSays() throws {
        #expect(Self.names.count >= 17)
        for name in Self.names {
            let (bin, json) = try Self.load(name)
            let decoded = try WireTestKit.run("protoc", ["--decode=imrpb.Frame", "-Iproto", "proto/imr.proto"], stdin: Data(bin))
            try #require(decoded.status == 0, "\(name): protoc --decode failed: \(decoded.stderr)")
            let fromText = try TextFormatTree.parse(decoded.stdoutText)
            let fromJSON = try TextFormatTree.fromJSON(json)
            #expect(fromText == fromJSON, "\(name): protoc reads\n\(decoded.stdoutText)")
            let encoded = try WireTestKit.run("protoc", ["--encode=imrpb.Frame", "-Iproto", "proto/imr.proto"], stdin: decoded.stdout)
            try #require(encoded.status == 0, "\(name): protoc --encode failed: \(encoded.stderr)")
            #expect([UInt8](encoded.stdout) == bin, "\(name): protoc re-encodes to other bytes")
        }
    }

    /// Google's Python protobuf (Debian's python3-protobuf) reads every .bin to exactly its .json
    /// (MessageToDict with the .proto field names) and re-serialises the same bytes.
    @Test func pythonProtobufReadsEveryVectorAsItsJSONSays() throws {
        let result = try WireTestKit.run(WireTestKit.python, ["Tests/Vectors/vectors.py", "check"])
        #expect(result.status == 0, "vectors.py check:\n\(result.stdoutText)\(result.stderr)\nneeds python3-protobuf: `make deps`")
    }
}

/// protobuf text format (protoc --decode output) and canonical JSON, both read into one tree of
/// fields -> values, so the two can be compared.
indirect enum TextFormatTree: Equatable {
    case scalar([UInt8])
    case message([String: [TextFormatTree]])

    struct ParseError: Error, CustomStringConvertible { var description: String }

    /// The fields of imr.proto of type bytes (base64 in JSON); every other JSON string is text.
    static let bytesFields: Set<String> = ["message_id", "payload"]

    static func parse(_ text: String) throws -> TextFormatTree {
        var stack: [(name: String, fields: [String: [TextFormatTree]])] = [("", [:])]
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            if line == "}" {
                guard stack.count > 1 else { throw ParseError(description: "unbalanced }") }
                let done = stack.removeLast()
                stack[stack.count - 1].fields[done.name, default: []].append(.message(done.fields))
            } else if line.hasSuffix(" {") {
                stack.append((String(line.dropLast(2)), [:]))
            } else if let colon = line.firstIndex(of: ":") {
                let key = String(line[..<colon])
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                let bytes = value.hasPrefix("\"") ? try unescape(value) : Array(value.utf8)
                stack[stack.count - 1].fields[key, default: []].append(.scalar(bytes))
            } else {
                throw ParseError(description: "cannot read line \(line)")
            }
        }
        guard stack.count == 1 else { throw ParseError(description: "unclosed message") }
        return .message(stack[0].fields)
    }

    /// A text-format string literal (C escapes, octal and hex) to its bytes.
    static func unescape(_ literal: String) throws -> [UInt8] {
        let s = Array(literal.utf8)
        guard s.count >= 2, s.first == UInt8(ascii: "\""), s.last == UInt8(ascii: "\"") else {
            throw ParseError(description: "not a string literal: \(literal)")
        }
        var out: [UInt8] = []
        var i = 1
        while i < s.count - 1 {
            let c = s[i]
            guard c == UInt8(ascii: "\\") else { out.append(c); i += 1; continue }
            i += 1
            let e = s[i]
            switch e {
            case UInt8(ascii: "n"): out.append(10); i += 1
            case UInt8(ascii: "r"): out.append(13); i += 1
            case UInt8(ascii: "t"): out.append(9); i += 1
            case UInt8(ascii: "a"): out.append(7); i += 1
            case UInt8(ascii: "b"): out.append(8); i += 1
            case UInt8(ascii: "f"): out.append(12); i += 1
            case UInt8(ascii: "v"): out.append(11); i += 1
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                var v = 0, n = 0
                while n < 3, i < s.count - 1, (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(s[i]) {
                    v = v * 8 + Int(s[i] - UInt8(ascii: "0")); i += 1; n += 1
                }
                out.append(UInt8(v & 0xFF))
            case UInt8(ascii: "x"):
                i += 1
                var v = 0, n = 0
                while n < 2, i < s.count - 1, let d = Int(String(UnicodeScalar(s[i])), radix: 16) {
                    v = v * 16 + d; i += 1; n += 1
                }
                out.append(UInt8(v))
            default: out.append(e); i += 1   // \" \' \\ \?
            }
        }
        return out
    }

    static func fromJSON(_ data: Data) throws -> TextFormatTree {
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ParseError(description: "not a JSON object")
        }
        return try fromJSON(object)
    }

    private static func fromJSON(_ object: [String: Any]) throws -> TextFormatTree {
        var fields: [String: [TextFormatTree]] = [:]
        for (key, value) in object {
            let values = (value as? [Any]) ?? [value]
            fields[key] = try values.map { try node(key, $0) }
        }
        return .message(fields)
    }

    private static func node(_ key: String, _ value: Any) throws -> TextFormatTree {
        switch value {
        case let dict as [String: Any]:
            return try fromJSON(dict)
        case let s as String where bytesFields.contains(key):
            guard let data = Data(base64Encoded: s) else { throw ParseError(description: "\(key): not base64") }
            return .scalar([UInt8](data))
        case let s as String:
            return .scalar(Array(s.utf8))
        case let n as NSNumber:
            let text = String(cString: n.objCType) == "c" ? (n.boolValue ? "true" : "false") : n.stringValue
            return .scalar(Array(text.utf8))
        default:
            throw ParseError(description: "\(key): unexpected JSON value \(value)")
        }
    }
}
