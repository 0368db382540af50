import Foundation
import Logging
@testable import MQTTBroker
import Mosquitto
import TestSupport
import Testing

/// A `MosquittoClient` its owner lets go of must be freed, whatever state its link is in: its
/// libmosquitto handle, loop thread and socket go with it, and the broker sees the connection end.
@Suite("MosquittoClient lifetime", .serialized)
struct MosquittoClientLifetimeTests {
    static func broker() async throws -> (Broker, Int) {
        var configuration = BrokerConfiguration()
        configuration.listeners = [ListenerConfiguration(port: 0, host: "127.0.0.1")]
        configuration.sysInterval = 0
        var logger = Logger(label: "mosquitto-lifetime-test")
        logger.logLevel = .critical
        let broker = Broker(configuration: configuration, logger: logger)
        try await broker.start()
        return (broker, broker.localAddresses.first!.port!)
    }

    static func client(port: Int, id: String, version: MosquittoConfiguration.ProtocolVersion = .v5) throws -> MosquittoClient {
        try MosquittoClient(configuration: MosquittoConfiguration(
            port: port, clientIdentifier: id, protocolVersion: version, reconnectDelay: 1...1))
    }

    static func openConnections(_ broker: Broker) -> Int { broker.statistics.connectionsOpen.load(ordering: .relaxed) }

    @Test(arguments: [MosquittoConfiguration.ProtocolVersion.v3_1_1, .v5])
    func aConnectedClientReleasedWithoutDisconnectIsFreedAndItsConnectionCloses(
        version: MosquittoConfiguration.ProtocolVersion
    ) async throws {
        let (broker, port) = try await Self.broker()
        let references = WeakReferences()
        do {
            let client = try Self.client(port: port, id: "released-\(version)", version: version)
            references.watch(client, as: "MosquittoClient")
            try await client.connect()
            try await client.subscribe("lifetime/#", qos: 1)
            try await client.publish("lifetime/x", payload: Data("x".utf8), qos: 1)
        }
        let alive = await references.waitUntilFreed()
        #expect(alive.isEmpty, "still alive: \(alive)")
        #expect(await eventually { Self.openConnections(broker) == 0 })
        try await broker.shutdown()
    }

    @Test func aDisconnectedClientIsFreed() async throws {
        let (broker, port) = try await Self.broker()
        let references = WeakReferences()
        do {
            let client = try Self.client(port: port, id: "disconnected")
            references.watch(client, as: "MosquittoClient")
            try await client.connect()
            try await client.subscribe("lifetime/#", qos: 1)
            await client.disconnect()
        }
        let alive = await references.waitUntilFreed()
        #expect(alive.isEmpty, "still alive: \(alive)")
        #expect(await eventually { Self.openConnections(broker) == 0 })
        try await broker.shutdown()
    }

    @Test func aClientThatNeverConnectedIsFreed() async throws {
        let references = WeakReferences()
        do {
            let client = try Self.client(port: 1, id: "never")
            references.watch(client, as: "MosquittoClient")
            await #expect(throws: (any Error).self) { try await client.connect() }
        }
        let alive = await references.waitUntilFreed()
        #expect(alive.isEmpty, "still alive: \(alive)")
    }

    /// The broker stops (MQTT 5 clients get DISCONNECT 0x8B) and the client keeps retrying in
    /// the background: letting go of it must end the retries and free it.
    @Test func aClientRetryingAfterTheBrokerLeftIsFreed() async throws {
        let (broker, port) = try await Self.broker()
        let references = WeakReferences()
        do {
            let client = try Self.client(port: port, id: "orphan")
            references.watch(client, as: "MosquittoClient")
            try await client.connect()
            var events = client.events.makeAsyncIterator()
            _ = await events.next()
            try await broker.shutdown()
            #expect(await eventually { !client.isConnected })
        }
        let alive = await references.waitUntilFreed()
        #expect(alive.isEmpty, "still alive: \(alive)")
    }

    /// Released while messages pour in, a client's last reference may be dropped on
    /// libmosquitto's own thread, inside a callback: that thread cannot stop and join itself, so
    /// the client must be destroyed from another one, without a crash or a hang.
    @Test func clientsReleasedWhileMessagesPourInAreFreed() async throws {
        let (broker, port) = try await Self.broker()
        let references = WeakReferences()
        let flood = Task {
            while !Task.isCancelled {
                _ = try? broker.client.publish("flood/reading", "x")
                await Task.yield()
            }
        }
        for index in 0..<20 {
            let client = try Self.client(port: port, id: "flooded-\(index)")
            references.watch(client, as: "MosquittoClient \(index)")
            try await client.connect()
            try await client.subscribe("flood/#", qos: 0)
            var messages = client.messages.makeAsyncIterator()
            _ = await messages.next()
        }
        flood.cancel()
        let alive = await references.waitUntilFreed()
        #expect(alive.isEmpty, "still alive: \(alive)")
        #expect(await eventually { Self.openConnections(broker) == 0 })
        try await broker.shutdown()
    }

    @Test func aClientWhoseMessageStreamIsStillReadIsFreedAndTheStreamEnds() async throws {
        let (broker, port) = try await Self.broker()
        let references = WeakReferences()
        let reader: Task<Int, Never>
        do {
            let client = try Self.client(port: port, id: "streamed")
            references.watch(client, as: "MosquittoClient")
            try await client.connect()
            try await client.subscribe("lifetime/#", qos: 1)
            let messages = client.messages
            reader = Task {
                var count = 0
                for await _ in messages { count += 1 }
                return count
            }
            try broker.client.publish("lifetime/one", "1", qos: .atLeastOnce)
        }
        let alive = await references.waitUntilFreed()
        #expect(alive.isEmpty, "still alive: \(alive)")
        // The reader's loop ends rather than waiting for ever on a client that is gone.
        #expect(await reader.value <= 1)
        #expect(await eventually { Self.openConnections(broker) == 0 })
        try await broker.shutdown()
    }
}
