import ArgumentParser

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Measure imr's performance figures.")

    @Flag(help: "Print the figures as one JSON object on the last line.")
    var json = false

    func run() throws {
        print("no benchmarks yet")
    }
}
