import Foundation
import Testing

/// The committed protobuf-c code is exactly what protoc-c generates from proto/imr.proto today
/// (`make proto` regenerates it).
@Suite struct ProtoDriftTests {
    @Test func committedProtobufCCodeMatchesAFreshGeneration() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("imr-proto-drift-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        // The same invocation as `make proto`, from the repository root.
        let result = try WireTestKit.run("protoc-c", ["--c_out=\(tmp.path)", "-Iproto", "proto/imr.proto"])
        try #require(result.status == 0, "protoc-c failed: \(result.stderr)")
        let pairs = [
            ("imr.pb-c.c", "Sources/IMRWireC/imr.pb-c.c"),
            ("imr.pb-c.h", "Sources/IMRWireC/include/imr.pb-c.h"),
        ]
        for (fresh, committed) in pairs {
            let new = try Data(contentsOf: tmp.appendingPathComponent(fresh))
            let old = try Data(contentsOf: WireTestKit.root.appendingPathComponent(committed))
            #expect(new == old, "\(committed) differs from protoc-c's output for proto/imr.proto: run `make proto` and commit")
        }
    }
}
