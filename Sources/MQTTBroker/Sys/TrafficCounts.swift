/// What one connection read and wrote since it last reported to `BrokerStatistics`.
///
/// Owned by the connection's handler, on its event loop. Counting here and adding the totals
/// once per read or flush keeps the shared atomics (one cache line for every loop) off the
/// per-packet path: `$SYS` reads totals every few seconds, nobody needs them per packet.
struct TrafficCounts {
    var messagesReceived = 0
    var bytesReceived = 0
    var publishReceived = 0
    var messagesSent = 0
    var bytesSent = 0
    var publishSent = 0

    var isEmpty: Bool { messagesReceived == 0 && messagesSent == 0 && publishReceived == 0 && publishSent == 0 }
}

extension BrokerStatistics {
    func add(_ counts: TrafficCounts) {
        if counts.messagesReceived > 0 {
            messagesReceived.add(counts.messagesReceived, ordering: .relaxed)
            bytesReceived.add(counts.bytesReceived, ordering: .relaxed)
        }
        if counts.publishReceived > 0 { publishReceived.add(counts.publishReceived, ordering: .relaxed) }
        if counts.messagesSent > 0 {
            messagesSent.add(counts.messagesSent, ordering: .relaxed)
            bytesSent.add(counts.bytesSent, ordering: .relaxed)
        }
        if counts.publishSent > 0 { publishSent.add(counts.publishSent, ordering: .relaxed) }
    }
}
