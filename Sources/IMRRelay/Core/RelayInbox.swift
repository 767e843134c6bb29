import IMRCore
import NIOConcurrencyHelpers
import NIOPosix

/// What the event loops (and the relay's API) hand the engine thread.
enum RelayInput {
    case opened(RelayConnection)
    case frames(RelayConnection, [[UInt8]])
    case streamError(RelayConnection, WireError)
    case closed(RelayConnection)
    case writability(RelayConnection, Bool)
    /// Bytes of an earlier flush reached the socket.
    case written(RelayConnection, Int)
    case timer
    /// Work on the engine thread: admin calls, shutdown.
    case call(@Sendable () -> Void)
}

/// The engine thread's queue. Any thread posts; the engine thread takes everything posted so
/// far at once, so that one pass (and one group commit) covers every connection that had
/// input meanwhile. The lock guards the queue only, never engine state.
final class RelayInbox: @unchecked Sendable {
    private struct State {
        var inputs: [RelayInput] = []
        /// A pass is queued or running; posts then only append.
        var passScheduled = false
    }

    private let state = NIOLockedValueBox(State())
    private let thread: NIOThreadPool
    /// Runs on the engine thread with each batch of inputs.
    private var handler: (@Sendable ([RelayInput]) -> Void)?

    init() {
        thread = NIOThreadPool(numberOfThreads: 1)
        thread.start()
    }

    /// Sets who handles the inputs (once, before the first post).
    func start(_ handler: @escaping @Sendable ([RelayInput]) -> Void) {
        self.handler = handler
    }

    func post(_ input: RelayInput) {
        let schedule = state.withLockedValue { state -> Bool in
            state.inputs.append(input)
            guard !state.passScheduled else { return false }
            state.passScheduled = true
            return true
        }
        if schedule { thread.submit { [self] _ in runPasses() } }
    }

    /// Handles batches until the queue is empty; a post after that schedules a new pass.
    private func runPasses() {
        while true {
            let batch = state.withLockedValue { state -> [RelayInput] in
                if state.inputs.isEmpty { state.passScheduled = false }
                var taken: [RelayInput] = []
                swap(&taken, &state.inputs)
                return taken
            }
            if batch.isEmpty { return }
            handler?(batch)
        }
    }

    /// Runs `body` on the engine thread, in order with the passes.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await thread.runIfActive(body)
    }

    /// Stops the engine thread once the queued work is done.
    func shutdown() async throws {
        try await thread.shutdownGracefully()
    }
}
