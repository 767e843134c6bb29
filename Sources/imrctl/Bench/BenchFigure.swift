/// One measured figure of `imrctl bench`.
struct BenchFigure: Sendable {
    /// Stable snake_case key, used in the JSON output.
    var key: String
    var value: Double
    var unit: String
    /// What was measured, for the table.
    var label: String
    /// The goal, if the project states one (for the table only; benchmarks never fail on time).
    var goal: String = ""
}

/// A group of figures measured together. Each part of the project adds one suite.
protocol BenchSuite: Sendable {
    var name: String { get }
    /// Measures and returns the figures. `quick` shrinks iteration counts (for smoke runs).
    func run(quick: Bool) throws -> [BenchFigure]
}

/// Median of repeated measurements, the figure every suite reports.
func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// Monotonic wall time in seconds, for benchmarks only.
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

#if canImport(Glibc)
import Glibc
#endif
