// swift-tools-version: 6.1
import PackageDescription

// The libFuzzer targets (`make fuzz`, `make test-fuzz`): a package of its own, so that
// `swift build` of the root package never builds them. Built with libFuzzer's coverage
// and AddressSanitizer (the Makefile's FUZZ_SWIFT_FLAGS), IMRCore included.
let package = Package(
    name: "imr-fuzz",
    dependencies: [
        .package(name: "imr", path: "../.."),
    ],
    targets: [
        // Reading choices from an input, building frames from them, failing loudly.
        .target(name: "FuzzKit", dependencies: [.product(name: "IMRCore", package: "imr")]),
        .executableTarget(name: "fuzz-decode", dependencies: ["FuzzKit", .product(name: "IMRCore", package: "imr")]),
        .executableTarget(name: "fuzz-splitter", dependencies: ["FuzzKit", .product(name: "IMRCore", package: "imr")]),
        .executableTarget(name: "fuzz-server", dependencies: ["FuzzKit", .product(name: "IMRCore", package: "imr")]),
        .executableTarget(name: "fuzz-client", dependencies: ["FuzzKit", .product(name: "IMRCore", package: "imr")]),
    ],
    swiftLanguageModes: [.v6]
)
