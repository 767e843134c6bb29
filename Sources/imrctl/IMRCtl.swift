import ArgumentParser

@main
struct IMRCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "imrctl",
        abstract: "imr: reliable, consistent instant-messaging delivery — relay, demo, simulator, benchmarks.",
        subcommands: [BenchCommand.self, ClientCrashChild.self]
    )
}
