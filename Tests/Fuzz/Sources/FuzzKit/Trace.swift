#if canImport(Glibc)
import Glibc
#endif

/// Set IMR_FUZZ_TRACE=1 to have the scripts print each step: how a reproducer is read.
public let tracing = getenv("IMR_FUZZ_TRACE") != nil

public func trace(_ message: @autoclosure () -> String) {
    // stderr is unbuffered: the last steps before a trap are not lost.
    guard tracing else { return }
    var line = message() + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}
