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
    /// Dropped messages by reason (`DropReason`, and incoming ones refused over `memory_limit`),
    /// for metrics; `publishDropped` stays Mosquitto's total, which leaves out offline QoS 0.
    let droppedQueueFull = Atomic<Int>(0)
    let droppedExpired = Atomic<Int>(0)
    let droppedTooLarge = Atomic<Int>(0)
    let droppedOfflineQoS0 = Atomic<Int>(0)
    let droppedSlowConsumer = Atomic<Int>(0)
    let droppedNotAuthorized = Atomic<Int>(0)
    let droppedOverMemoryLimit = Atomic<Int>(0)

    init() {}

    func countDrop(_ reason: DropReason) {
        switch reason {
        case .queueFull: droppedQueueFull.add(1, ordering: .relaxed)
        case .expired: droppedExpired.add(1, ordering: .relaxed)
        case .packetTooLarge: droppedTooLarge.add(1, ordering: .relaxed)
        case .offlineQoS0: droppedOfflineQoS0.add(1, ordering: .relaxed)
        case .slowConsumer: droppedSlowConsumer.add(1, ordering: .relaxed)
        case .notAuthorized: droppedNotAuthorized.add(1, ordering: .relaxed)
        }
    }

    /// The drop counters with the `reason` label metrics give them.
    var dropsByReason: [(reason: String, count: Int)] {
        [
            ("queue_full", droppedQueueFull.load(ordering: .relaxed)),
            ("expired", droppedExpired.load(ordering: .relaxed)),
            ("packet_too_large", droppedTooLarge.load(ordering: .relaxed)),
            ("offline_qos0", droppedOfflineQoS0.load(ordering: .relaxed)),
            ("slow_consumer", droppedSlowConsumer.load(ordering: .relaxed)),
            ("not_authorized", droppedNotAuthorized.load(ordering: .relaxed)),
            ("memory_limit", droppedOverMemoryLimit.load(ordering: .relaxed)),
        ]
    }

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
