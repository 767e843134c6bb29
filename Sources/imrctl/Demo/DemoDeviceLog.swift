import IMRCore
import IMRSimulation

/// What one demo device's events said about its own messages. Used only on the device's
/// event loop (events arrive there, snapshots are taken there).
final class DemoDeviceLog: @unchecked Sendable {
    private(set) var sends: [MessageID: (conversation: String, outcome: DeviceSnapshot.SendOutcome)] = [:]

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
