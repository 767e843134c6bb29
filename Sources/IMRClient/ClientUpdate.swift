import IMRCore

/// What a `MessagingClient` tells its app, in order.
public enum ClientUpdate: Sendable, Equatable {
    /// Something the engine reports: the connection is ready, an own message changed state,
    /// a message arrived, a gap opened or filled, a receipt, an error.
    case engine(ClientEvent)
    /// Connected to this relay (the engine's `connectionReady` follows with the welcome).
    case connected(ServerAddress)
    /// The connection failed or closed; the next attempt, to the next address, starts in `retryInMs`.
    case disconnected(reason: String, retryInMs: Int64)
    /// A frame from the relay was refused by the engine (counted; the connection goes on).
    case frameRefused(String)
}
