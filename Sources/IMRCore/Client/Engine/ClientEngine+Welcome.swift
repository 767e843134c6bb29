/// The welcome: the connection becomes live, then both legs resume.
extension ClientEngine {
    func handleWelcome(_ welcome: Welcome, now: UInt64) throws(ClientError) {
        if phase == .live {
            // The answer to a retransmitted hello whose first welcome did arrive: nothing new.
            statistics.ignoredFrames += 1
            return
        }
        guard phase == .awaitingWelcome else {
            statistics.ignoredFrames += 1
            throw .unexpectedFrame("welcome without hello")
        }
        phase = .live
        wheel.cancel(helloTimer)
        if welcome.user != user {
            user = welcome.user
            persist { store throws(SQLiteError) in try store.setMeta("user", welcome.user) }
        }
        let serverWindow = welcome.limits.maxInflight > 0 ? Int(welcome.limits.maxInflight) : Int.max
        window = max(1, min(config.inflightWindow, serverWindow))
        serverMaxSyncPage = welcome.limits.maxSyncPage
        serverMaxPayloadBytes = welcome.limits.maxPayloadBytes > 0 ? Int(welcome.limits.maxPayloadBytes) : Int.max
        emit(.connectionReady)
        // Unacked messages first, in their original order; then the syncs.
        resumeSendingLeg(now: now)
        resumeReceivingLeg(welcome, now: now)
    }
}
