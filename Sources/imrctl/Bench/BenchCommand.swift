import ArgumentParser
import Foundation

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Measure imr's performance figures (medians of repeated runs).")

    @Flag(help: "Print the figures as one JSON object on the last line of stdout.")
    var json = false

    @Flag(help: "Fewer iterations: a smoke run, not a measurement.")
    var quick = false

    @Option(help: "Run only the suites whose name contains this text.")
    var only: String?

    /// Every suite of the project; each part adds its own.
    static let suites: [any BenchSuite] = [
        CodecBench(),
        ServerBench(),
        ABIBench(),
        ClientBench(),
        OrderingBench(),
        HostileBench(),
    ]

    func run() throws {
        var figures: [BenchFigure] = []
        for suite in Self.suites where only.map({ suite.name.contains($0) }) ?? true {
            FileHandle.standardError.write(Data("bench: \(suite.name)…\n".utf8))
            figures += try suite.run(quick: quick)
        }
        printTable(figures)
        if json {
            var object: [String: Double] = [:]
            for f in figures { object[f.key] = f.value }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        }
    }

    private func printTable(_ figures: [BenchFigure]) {
        let width = max(10, figures.map(\.label.count).max() ?? 0)
        for f in figures {
            let label = f.label.padding(toLength: width, withPad: " ", startingAt: 0)
            let value = String(format: f.value >= 100 ? "%14.0f" : "%14.3f", f.value)
            print("\(label)  \(value) \(f.unit)\(f.goal.isEmpty ? "" : "   (goal \(f.goal))")")
        }
    }
}
