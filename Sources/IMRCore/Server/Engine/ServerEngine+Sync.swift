/// Sync requests (paged history, head probes) and delivered watermarks (with receipts).
extension ServerEngine {
    func handleSync(_ request: SyncRequest, _ s: Session, _ now: UInt64) {
        guard let user = s.user else { return }
        counters.syncRequests += 1
        let head: UInt64
        var page: [StoredMessage] = []
        do {
            guard let memberSet = try membership(request.conversation), let h = try store.headSeq(of: request.conversation) else {
                violation(s, .unknownConversation, "no conversation \(request.conversation)")
                return
            }
            guard memberSet.contains(user) else {
                violation(s, .notMember, "\(user) is not a member of \(request.conversation)")
                return
            }
            head = h
            // limit 0 is a head probe; any other limit is clamped to the page size.
            let limit = Int(min(request.limit, max(1, config.maxSyncPage)))
            if limit > 0 && request.afterSeq < head {
                // Read no further than one frame can carry (a page of large messages is cut there anyway).
                page = try store.messages(in: request.conversation, after: request.afterSeq, limit: limit,
                                          maxBytes: config.limits.maxFrameBytes)
            }
        } catch {
            storeFailed(error, "syncing \(request.conversation)")
            violation(s, .internalError, "server store unavailable")
            return
        }
        page = fittingFrame(page, conversation: request.conversation)
        let last = page.last?.seq ?? request.afterSeq
        counters.syncMessages += page.count
        enqueue(.syncResponse(SyncResponse(conversation: request.conversation, messages: page, headSeq: head,
                                           hasMore: last < head, afterSeq: request.afterSeq)), to: s)
    }

    /// Trims a page so that its response frame stays under the frame limit (always keeping the
    /// first message, which fits on its own because payloads are bounded below the frame limit).
    private func fittingFrame(_ page: [StoredMessage], conversation: String) -> [StoredMessage] {
        var budget = config.limits.maxFrameBytes - 64 - 2 * conversation.utf8.count
        for (i, m) in page.enumerated() {
            budget -= Self.encodedSizeBound(m)
            if budget < 0 { return Array(page[..<max(1, i)]) }
        }
        return page
    }

    /// An upper bound of a message's encoded size inside a sync response.
    static func encodedSizeBound(_ m: StoredMessage) -> Int {
        // tag+length of the message, 3 strings/bytes fields with tag+length, fixed and varint
        // fields, and per clock entry a submessage with a fixed64 and a varint.
        m.payload.count + m.conversation.utf8.count + m.senderUser.utf8.count + 16
            + m.clock.count * 24 + 80
    }

    func handleDelivered(_ delivered: Delivered, _ s: Session, _ now: UInt64) {
        guard let user = s.user else { return }
        for mark in Self.collapsed(delivered.watermarks) {
            do {
                guard let memberSet = try membership(mark.conversation), memberSet.contains(user),
                      let head = try store.headSeq(of: mark.conversation)
                else { continue }   // not a member: nothing to record, nothing to tell
                let deliveredSeq = min(mark.deliveredSeq, head)
                let readSeq = min(mark.readSeq ?? 0, head)
                let before = try store.userWatermark(conversation: mark.conversation, user: user)
                let device = try store.deviceWatermark(conversation: mark.conversation, user: user, node: s.node)
                guard deliveredSeq > device.delivered || readSeq > device.read else { continue }
                try beginWrite()
                try store.recordWatermark(conversation: mark.conversation, user: user, node: s.node,
                                          delivered: deliveredSeq, read: readSeq)
                let after = WatermarkPair(delivered: max(before.delivered, deliveredSeq), read: max(before.read, readSeq))
                if after != before {
                    noteReceipt(conversation: mark.conversation, user: user, from: before, to: after, now: now)
                }
            } catch {
                storeFailed(error, "recording a watermark in \(mark.conversation)")
            }
        }
        flushReceiptsIfDue(now: now)
    }

    /// One watermark per conversation (the highest of each), in first-seen order: a frame that
    /// names a conversation many times costs the store one round of reads for it.
    static func collapsed(_ marks: [Watermark]) -> [Watermark] {
        guard marks.count > 1 else { return marks }
        var index: [String: Int] = [:]
        var out: [Watermark] = []
        out.reserveCapacity(marks.count)
        for mark in marks {
            if let i = index[mark.conversation] {
                out[i].deliveredSeq = max(out[i].deliveredSeq, mark.deliveredSeq)
                if let read = mark.readSeq { out[i].readSeq = max(out[i].readSeq ?? 0, read) }
            } else {
                index[mark.conversation] = out.count
                out.append(mark)
            }
        }
        return out
    }
}
