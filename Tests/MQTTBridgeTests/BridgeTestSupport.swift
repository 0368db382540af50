import Foundation
import Logging
import MQTTBroker
import MQTTCore
import Synchronization
import TestSupport

/// A Parley broker in the test process on 127.0.0.1 (port 0 picks a free one).
func startBroker(port: Int = 0, maxQueuedMessages: Int = 1000) async throws -> Broker {
    var configuration = BrokerConfiguration()
    configuration.listeners = [ListenerConfiguration(port: port, host: "127.0.0.1")]
    configuration.sysInterval = 0
    configuration.maxQueuedMessages = maxQueuedMessages
    let broker = Broker(configuration: configuration, logger: Logger(label: "test-broker"))
    try await broker.start()
    return broker
}

extension Broker {
    var port: Int { localAddresses.first!.port! }
}

/// What an inline subscription received, in order.
final class Received: Sendable {
    private final class Store: Sendable {
        let messages = Mutex<[InlineMessage]>([])
    }

    private let store = Store()
    private let task: Task<Void, Never>

    init(_ subscription: InlineSubscription) {
        let store = self.store
        task = Task {
            for await message in subscription { store.messages.withLock { $0.append(message) } }
        }
    }

    var all: [InlineMessage] { store.messages.withLock { $0 } }
    var texts: [String] { all.map(\.payloadString) }

    /// Waits until `count` messages arrived (false after the deadline).
    func wait(for count: Int, timeout: Duration = .seconds(15)) async -> Bool {
        await eventually(timeout: timeout) { self.all.count >= count }
    }

    deinit { task.cancel() }
}
