import ArgumentParser

@main
struct IMRCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "imrctl",
        abstract: "imr: reliable, consistent instant-messaging delivery — relay, demo, simulator, benchmarks.",
        subcommands: [DemoCommand.self, SimulateCommand.self, RelayCommand.self, ChatCommand.self, TokenCommand.self, CertCommand.self, BenchCommand.self, ClientCrashChild.self]
    )
}
