import IMRClient
import IMRCore
import IMRSimulation

/// What one demo device's events said about its own messages. Used only on the device's
/// event loop (events arrive there, snapshots are taken there).
final class DemoDeviceLog: @unchecked Sendable {
    private(set) var sends: [MessageID: (conversation: String, outcome: DeviceSnapshot.SendOutcome)] = [:]

    /// A new message is `sending` without an event: `send` returned its id.
    func sent(_ id: MessageID, conversation: String) {
        if sends[id] == nil { sends[id] = (conversation, .sending) }
    }

    func observe(_ event: ClientEvent, metrics: DemoMetrics) {
        switch event {
        case let .stateChanged(id, conversation, state):
            switch state {
            case .sending:
                sends[id] = (conversation, .sending)
            case let .sent(seq, _):
                sends[id] = (conversation, .sent(seq: seq))
                metrics.acked(id, at: monotonicMilliseconds())
            case .failed:
                sends[id] = (conversation, .failed)
            }
        case let .messageReceived(_, _, id, _, _, _, _, _):
            metrics.delivered(id, at: monotonicMilliseconds())
        default:
            break
        }
    }
}
