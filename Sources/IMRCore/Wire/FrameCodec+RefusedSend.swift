import CProtobufC
import IMRWireC

extension FrameCodec {
    /// The message id and conversation of a send frame that failed to decode for a field out
    /// of bounds (payload too large, clock too large or malformed, bad conversation id), so
    /// that the refusal can name the message. Nil when the bytes
    /// are not a send or carry no valid 16-byte id. The conversation is empty when it is not
    /// a valid identifier itself.
    public func refusedSend(_ bytes: UnsafeRawBufferPointer) -> (messageID: MessageID, conversation: String)? {
        defer { arena.reset() }
        guard let message = try? unpack(bytes, with: { imrpb__frame__unpack($0, $1, $2) }),
              message.pointee.body_case == IMRPB__FRAME__BODY_SEND,
              let send = message.pointee.send?.pointee,
              let id = try? messageID(send.message_id)
        else { return nil }
        let conversation = (try? identifier(send.conversation, "conversation")) ?? ""
        return (id, conversation)
    }
}
