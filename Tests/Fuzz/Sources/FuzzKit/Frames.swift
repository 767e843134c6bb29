import IMRCore

/// Frames of every kind built from input choices, with fields from the `Names` pools:
/// mostly well-formed and plausible, sometimes out of every bound.
public enum Frames {
    /// A device node from a pool of five (the engines' own among them), or any.
    public static func node(_ input: inout FuzzInput) -> UInt64 {
        let k = input.byte()
        return k < 240 ? UInt64(k % 5) + 1 : input.u64()
    }

    /// A frame a client sends (now and then one of the other direction).
    public static func toServer(_ input: inout FuzzInput) -> Frame {
        switch input.byte() % 16 {
        case 0:
            let user = Names.user(&input)
            let token = input.byte() < 240 ? Names.tokenOf(user) : user
            return .hello(Hello(token: token, protocolVersion: input.byte() < 240 ? Frame.protocolVersion : UInt32(input.byte()),
                                deviceNode: node(&input)))
        case 1, 2, 3, 4, 5:
            return .send(Send(conversation: Names.conversation(&input), messageID: Names.messageID(&input),
                              clock: Names.clock(&input), payload: Names.payload(&input)))
        case 6:
            return .syncRequest(SyncRequest(conversation: Names.conversation(&input), afterSeq: input.u64(),
                                            limit: UInt32(truncatingIfNeeded: input.u64())))
        case 7:
            return .delivered(Delivered(watermarks: (0..<Int(input.byte() % 5)).map { _ in
                Watermark(conversation: Names.conversation(&input), deliveredSeq: input.u64(),
                          readSeq: input.bool() ? input.u64() : nil)
            }))
        case 8:
            return .createConversation(CreateConversation(requestID: input.u64(), conversation: Names.conversation(&input),
                                                          members: (0..<Int(input.byte() % 5)).map { _ in Names.user(&input) }))
        case 9:
            return .addMember(memberChange(&input))
        case 10:
            // A remove carries no role on the wire.
            var change = memberChange(&input)
            change.role = .member
            return .removeMember(change)
        case 11:
            return .ping(nonce: input.u64())
        case 12:
            return .pong(nonce: input.u64())
        case 13:
            return .error(errorFrame(&input))
        default:
            return toClient(&input)
        }
    }

    /// A frame a server sends (now and then a client's hello or send).
    public static func toClient(_ input: inout FuzzInput) -> Frame {
        switch input.byte() % 16 {
        case 0:
            return .welcome(Welcome(user: Names.user(&input), serverTimeMs: input.u64(), limits: limits(&input),
                                    conversations: (0..<Int(input.byte() % 4)).map { _ in
                                        ConversationHead(conversation: Names.conversation(&input), headSeq: input.u64())
                                    }))
        case 1, 2:
            return .sendAck(SendAck(messageID: Names.messageID(&input), conversation: Names.conversation(&input),
                                    seq: input.u64(), serverTimeMs: input.u64(), duplicate: input.bool()))
        case 3:
            return .sendReject(SendReject(messageID: Names.messageID(&input), conversation: Names.conversation(&input),
                                          code: RejectCode(rawValue: UInt32(input.byte() % 9)),
                                          retryAfterMs: input.bool() ? input.u64() : nil, detail: "fuzz"))
        case 4, 5, 6:
            return .push(storedMessage(&input))
        case 7, 8:
            let conversation = Names.conversation(&input)
            let after = input.u64()
            var seq = after
            let messages = (0..<Int(input.byte() % 4)).map { _ in
                // Mostly the next seq, sometimes a hole, a repeat or a step back.
                seq = input.byte() < 200 ? seq &+ 1 : input.u64()
                return storedMessage(&input, conversation: input.byte() < 240 ? conversation : nil, seq: seq)
            }
            return .syncResponse(SyncResponse(conversation: conversation, messages: messages, headSeq: input.u64(),
                                              hasMore: input.bool(), afterSeq: after))
        case 9:
            return .ping(nonce: input.u64())
        case 10:
            return .pong(nonce: input.u64())
        case 11:
            return .error(errorFrame(&input))
        case 12:
            let members = (0..<Int(input.byte() % 4)).map { _ in Names.user(&input) }
            return .conversationResult(ConversationResult(requestID: input.u64(), conversation: Names.conversation(&input),
                                                          code: ResultCode(rawValue: UInt32(input.byte() % 7)), members: members,
                                                          headSeq: input.u64(), owners: Array(members.prefix(1))))
        case 13:
            return .receipt(Receipt(conversation: Names.conversation(&input), user: Names.user(&input),
                                    deliveredSeq: input.u64(), readSeq: input.bool() ? input.u64() : nil))
        case 14:
            return .hello(Hello(token: "t", deviceNode: node(&input)))
        default:
            return .send(Send(conversation: Names.conversation(&input), messageID: Names.messageID(&input),
                              clock: Names.clock(&input), payload: Names.payload(&input)))
        }
    }

    /// A stored message as a server pushes it; `conversation` and `seq` when given.
    public static func storedMessage(_ input: inout FuzzInput, conversation: String? = nil, seq: UInt64? = nil) -> StoredMessage {
        StoredMessage(conversation: conversation ?? Names.conversation(&input), seq: seq ?? input.u64(),
                      serverTimeMs: input.u64(), senderUser: Names.user(&input), senderNode: node(&input),
                      messageID: Names.messageID(&input), clock: Names.clock(&input), payload: Names.payload(&input))
    }

    static func memberChange(_ input: inout FuzzInput) -> MemberChange {
        MemberChange(requestID: input.u64(), conversation: Names.conversation(&input), user: Names.user(&input),
                     role: MemberRole(rawValue: UInt32(input.byte() % 3)))
    }

    static func errorFrame(_ input: inout FuzzInput) -> ErrorFrame {
        ErrorFrame(code: ErrorCode(rawValue: UInt32(input.byte() % 12)), detail: input.bool() ? "fuzz" : "", fatal: input.bool())
    }

    static func limits(_ input: inout FuzzInput) -> ServerLimits {
        func small(_ input: inout FuzzInput) -> UInt32 {
            input.byte() < 200 ? UInt32(input.byte() % 8) : UInt32(truncatingIfNeeded: input.u64())
        }
        return input.bool()
            ? ServerLimits()
            : ServerLimits(maxFrameBytes: UInt32(truncatingIfNeeded: input.u64()), maxPayloadBytes: UInt32(truncatingIfNeeded: input.u64()),
                           maxSyncPage: small(&input), maxInflight: small(&input))
    }
}
