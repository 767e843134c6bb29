import Foundation
import Testing
@testable import IMRCore

/// Tests/Vectors/malformed/NAME.bin: each gives exactly the error in NAME.error (default limits).
/// Tests/Vectors/malformed-stream/NAME.bin: streams the splitter must reject with NAME.error.
@Suite struct MalformedVectorTests {
    static let names: [String] = (try? WireTestKit.vectorNames(in: WireTestKit.malformed)) ?? []
    static let streamNames: [String] = (try? WireTestKit.vectorNames(in: WireTestKit.malformedStream)) ?? []

    static func expected(_ folder: URL, _ name: String) throws -> String {
        try WireTestKit.text(folder.appendingPathComponent(name + ".error")).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test(arguments: names)
    func decodeGivesExactlyItsError(_ name: String) throws {
        let bytes = try WireTestKit.bytes(WireTestKit.malformed.appendingPathComponent(name + ".bin"))
        let want = try Self.expected(WireTestKit.malformed, name)
        do {
            let frame = try FrameCodec().decode(bytes)
            Issue.record("\(name): decoded to \(frame), expected \(want)")
        } catch {
            #expect(WireTestKit.errorName(error) == want, "\(name)")
        }
    }

    @Test func theRequiredCasesAreCovered() {
        let required = [
            "truncated", "garbage", "empty", "wrong_id_length", "non_utf8_conversation", "over_long_id",
            "payload_over_limit", "clock_duplicate_nodes", "clock_lists_differ", "clock_entry_messages", "clock_too_many_entries", "frame_over_max_size",
            "unsupported_version", "push_empty_message", "nul_in_conversation",
        ]
        #expect(Set(required).subtracting(Self.names).isEmpty, "missing: \(Set(required).subtracting(Self.names))")
        #expect(Set(["varint_too_long", "length_over_limit"]).isSubset(of: Self.streamNames))
    }

    /// Fed whole and one byte at a time, the stream gives its error, at the latest once its last
    /// byte is in: every stream ends with its bad or oversize length prefix, so the error comes
    /// before any byte of that frame's body is buffered.
    @Test(arguments: streamNames)
    func splitterGivesExactlyItsError(_ name: String) throws {
        let bytes = try WireTestKit.bytes(WireTestKit.malformedStream.appendingPathComponent(name + ".bin"))
        let want = try Self.expected(WireTestKit.malformedStream, name)
        for chunk in [bytes.count, 1, 3] {
            var splitter = FrameSplitter()
            var got: String?
            var start = 0
            feeding: while start < bytes.count {
                splitter.append(bytes[start..<min(start + chunk, bytes.count)])
                start += chunk
                do {
                    while try splitter.next() != nil {}
                } catch {
                    got = WireTestKit.errorName(error)
                    break feeding
                }
            }
            #expect(got == want, "\(name) in chunks of \(chunk)")
            #expect(start >= bytes.count, "\(name): failed before its bad prefix was complete")
            #expect(throws: WireError.streamFailed) { try splitter.next() }
            splitter.append([0x02, 0x08, 0x01])
            #expect(throws: WireError.streamFailed) { try splitter.next() }
            #expect(splitter.bufferedByteCount == 0)
        }
    }
}
