import Foundation
import Logging
import MQTTBroker
import PubSub
import Synchronization
import Testing

/// A Parley broker embedded in the test process, on a free port of 127.0.0.1.
struct EmbeddedBroker {
    let broker: Broker
    let port: Int

    static func start() async throws -> EmbeddedBroker {
        var configuration = BrokerConfiguration()
        configuration.listeners = [ListenerConfiguration(port: 0, host: "127.0.0.1")]
        configuration.sysInterval = 0
        let broker = Broker(configuration: configuration, logger: Logger(label: "test-broker"))
        try await broker.start()
        return EmbeddedBroker(broker: broker, port: broker.localAddresses.first!.port!)
    }

    var url: String { "mqtt://127.0.0.1:\(port)" }

    func stop() async throws { try await broker.shutdown() }
}
