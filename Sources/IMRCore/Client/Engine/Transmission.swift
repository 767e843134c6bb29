/// What the engine queues for `pollTransmit`: a frame, or a send of a stored message named by
/// its place in a timeline, encoded from the timeline's storage when polled (no frame value,
/// no copy of the clock or payload; the timeline never moves or drops a message).
enum Transmission {
    case frame(Frame)
    case message(conversation: UInt32, live: UInt32)
}
