import Synchronization

/// Counters behind `$SYS/broker/...`, updated lock-free from every event loop.
public final class BrokerStatistics: Sendable {
    let clientsConnected = Atomic<Int>(0)
    let clientsMaximum = Atomic<Int>(0)
    let messagesReceived = Atomic<Int>(0)
    let messagesSent = Atomic<Int>(0)
    let publishReceived = Atomic<Int>(0)
    let publishSent = Atomic<Int>(0)
    let publishDropped = Atomic<Int>(0)
    let bytesReceived = Atomic<Int>(0)
    let bytesSent = Atomic<Int>(0)
    let connectionsOpen = Atomic<Int>(0)

    init() {}

    /// A connection finished CONNECT; tracks the high-water mark Mosquitto reports as `clients/maximum`.
    func clientDidConnect() {
        let now = clientsConnected.add(1, ordering: .relaxed).newValue
        var maximum = clientsMaximum.load(ordering: .relaxed)
        while now > maximum {
            let (exchanged, original) = clientsMaximum.compareExchange(expected: maximum, desired: now, ordering: .relaxed)
            if exchanged { break }
            maximum = original
        }
    }

    func clientDidDisconnect() { clientsConnected.subtract(1, ordering: .relaxed) }

    public var connectedClients: Int { clientsConnected.load(ordering: .relaxed) }
    public var receivedPublishCount: Int { publishReceived.load(ordering: .relaxed) }
    public var sentPublishCount: Int { publishSent.load(ordering: .relaxed) }
    public var droppedPublishCount: Int { publishDropped.load(ordering: .relaxed) }
}
