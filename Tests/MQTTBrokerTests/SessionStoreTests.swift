import Foundation
import Logging
import MQTTCore
import Mosquitto
import NIOCore
import Synchronization
import Testing

@testable import MQTTBroker

/// Persistent sessions survive a broker restart through a `SessionStore`.
@Suite("Session store")
struct SessionStoreTests {
    /// Keeps snapshots in memory, standing in for a durable store across two broker instances.
    final class MemorySessionStore: SessionStore {
        let snapshots = Mutex<[String: SessionSnapshot]>([:])
        func saveSession(_ snapshot: SessionSnapshot) { snapshots.withLock { $0[snapshot.clientIdentifier] = snapshot } }
        func removeSession(clientIdentifier: String) { _ = snapshots.withLock { $0.removeValue(forKey: clientIdentifier) } }
        func loadSessions() -> [SessionSnapshot] { snapshots.withLock { Array($0.values) } }
    }

    static func broker(store: MemorySessionStore) async throws -> (Broker, Int) {
        var configuration = BrokerConfiguration()
        configuration.listeners = [ListenerConfiguration(port: 0, host: "127.0.0.1")]
        configuration.sysInterval = 0
        let broker = Broker(configuration: configuration, hooks: BrokerHooks(sessionStore: store), logger: Logger(label: "test"))
        try await broker.start()
        return (broker, broker.localAddresses.first!.port!)
    }

    static func client(port: Int, clean: Bool, id: String, version: MosquittoConfiguration.ProtocolVersion) throws -> MosquittoClient {
        try MosquittoClient(configuration: MosquittoConfiguration(
            port: port, clientIdentifier: id, cleanSession: clean, sessionExpiryInterval: clean ? nil : 300,
            protocolVersion: version))
    }

    @Test(arguments: [MosquittoConfiguration.ProtocolVersion.v3_1_1, .v5])
    func persistentSubscriptionsSurviveARestart(version: MosquittoConfiguration.ProtocolVersion) async throws {
        let store = MemorySessionStore()
        let id = "keeper-\(version)"
        let (first, firstPort) = try await Self.broker(store: store)
        let subscriber = try Self.client(port: firstPort, clean: false, id: id, version: version)
        try await subscriber.connect()
        try await subscriber.subscribe("news/#", qos: 1)
        await subscriber.disconnect()
        #expect(store.snapshots.withLock { $0[id]?.subscriptions.keys.sorted() } == ["news/#"])
        try await first.shutdown()

        let (second, secondPort) = try await Self.broker(store: store)
        #expect(try second.client.publish("news/today", "restarted", qos: .atLeastOnce) == 1)
        let resumed = try Self.client(port: secondPort, clean: false, id: id, version: version)
        try await resumed.connect()
        let message = try await Self.firstMessage(of: resumed)
        #expect(message?.topic == "news/today")
        #expect(message.map { String(decoding: $0.payload, as: UTF8.self) } == "restarted")
        await resumed.disconnect()
        try await second.shutdown()
    }

    /// The next message, or nil after a deadline, so a missing delivery fails instead of hanging.
    static func firstMessage(of client: MosquittoClient, within seconds: Int = 10) async throws -> MosquittoMessage? {
        try await withThrowingTaskGroup(of: MosquittoMessage?.self) { group in
            group.addTask {
                var iterator = client.messages.makeAsyncIterator()
                return await iterator.next()
            }
            group.addTask {
                try await Task.sleep(for: .seconds(seconds))
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    @Test func cleanSessionsAreNotStoredAndEndedSessionsAreRemoved() async throws {
        let store = MemorySessionStore()
        let (broker, port) = try await Self.broker(store: store)
        let transient = try Self.client(port: port, clean: true, id: "transient", version: .v3_1_1)
        try await transient.connect()
        try await transient.subscribe("a", qos: 1)
        await transient.disconnect()
        #expect(store.snapshots.withLock { $0["transient"] } == nil)

        let persistent = try Self.client(port: port, clean: false, id: "ends", version: .v3_1_1)
        try await persistent.connect()
        try await persistent.subscribe("b", qos: 1)
        await persistent.disconnect()
        #expect(store.snapshots.withLock { $0["ends"] } != nil)
        let cleaner = try Self.client(port: port, clean: true, id: "ends", version: .v3_1_1)
        try await cleaner.connect()
        await cleaner.disconnect()
        #expect(store.snapshots.withLock { $0["ends"] } == nil)
        try await broker.shutdown()
    }
}
