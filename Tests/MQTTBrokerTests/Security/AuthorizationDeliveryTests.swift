import Foundation
import Logging
import MQTTCore
import Mosquitto
import NIOCore
import Synchronization
import Testing

@testable import MQTTBroker

/// The broker's rules where network tests cannot easily reach: messages from the embedding
/// program, hooks composed with the files, sessions restored from a store.
@Suite("Authorization at delivery and around hooks", .serialized)
struct AuthorizationDeliveryTests {
    static func temporaryFile(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("parley-acl-\(UUID().uuidString)").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func broker(
        _ edit: (inout BrokerConfiguration) -> Void = { _ in }, hooks: BrokerHooks = BrokerHooks()
    ) async throws -> (Broker, Int) {
        var configuration = BrokerConfiguration()
        configuration.listeners = [ListenerConfiguration(port: 0, host: "127.0.0.1")]
        configuration.sysInterval = 0
        edit(&configuration)
        let broker = Broker(configuration: configuration, hooks: hooks, logger: Logger(label: "test"))
        try await broker.start()
        return (broker, broker.localAddresses.first!.port!)
    }

    static func client(_ port: Int, id: String = "c-\(UUID().uuidString.prefix(6))", user: String? = nil, clean: Bool = true)
        throws -> MosquittoClient
    {
        try MosquittoClient(configuration: MosquittoConfiguration(
            port: port, clientIdentifier: id, cleanSession: clean, sessionExpiryInterval: clean ? nil : 300,
            username: user, password: user.map { _ in "unused" }, reconnectDelay: 60...60))
    }

    /// Topics of the messages received within `seconds` (or until `count` arrived), in order.
    static func received(by client: MosquittoClient, count: Int, within seconds: Int = 5) async -> [String] {
        await withTaskGroup(of: [String]?.self) { group in
            group.addTask {
                var topics: [String] = []
                for await message in client.messages {
                    topics.append(message.topic)
                    if topics.count >= count { break }
                }
                return topics
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(seconds))
                return nil
            }
            var topics: [String]?
            while let result = await group.next() {
                if let result {
                    topics = result
                    break
                }
                // The deadline passed: stop listening, and take what arrived.
                group.cancelAll()
            }
            group.cancelAll()
            return topics ?? []
        }
    }

    @Test("The inline client's messages are checked against each receiver's read rules")
    func inlineMessagesCheckedAtDelivery() async throws {
        let acl = try Self.temporaryFile("topic read open/#\n")
        defer { unlink(acl) }
        let (broker, port) = try await Self.broker { $0.security.aclFile = acl }
        let reader = try Self.client(port)
        try await reader.connect()
        try await reader.subscribe("#", qos: 1)
        #expect(try broker.client.publish("closed/x", "hidden", qos: .atLeastOnce) == 1, "routed, then refused at delivery")
        try broker.client.publish("open/x", "shown", qos: .atLeastOnce)
        let topics = await Self.received(by: reader, count: 2, within: 2)
        #expect(topics == ["open/x"])
        await reader.disconnect()
        try await broker.shutdown()
    }

    @Test("A custom authorizer sees the receiving client's whole ClientInfo, after the ACL file")
    func authorizerSeesClientInfo() async throws {
        final class Recorder: Authorizer {
            let seen = Mutex<[ClientInfo]>([])
            func canReceive(_ client: ClientInfo, topic: String) -> Bool {
                seen.withLock { $0.append(client) }
                return topic != "vetoed"
            }
        }
        let recorder = Recorder()
        let (broker, port) = try await Self.broker({ $0.allowAnonymous = true }, hooks: BrokerHooks(authorizer: recorder))
        let reader = try Self.client(port, user: "reader")
        try await reader.connect()
        try await reader.subscribe("#", qos: 0)
        try broker.client.publish("vetoed", "x")
        try broker.client.publish("allowed", "y")
        #expect(await Self.received(by: reader, count: 2, within: 2) == ["allowed"])
        let seen = recorder.seen.withLock { $0 }
        #expect(seen.allSatisfy { $0.username == "reader" && $0.listener == 0 })
        await reader.disconnect()
        try await broker.shutdown()
    }

    @Test("allow_anonymous is applied before a custom authenticator, which cannot forget it")
    func anonymousRefusedAroundAuthenticator() async throws {
        struct AcceptEveryone: Authenticator {
            func authenticate(_ request: AuthenticationRequest) async -> AuthenticationResult { .accepted }
        }
        let (broker, port) = try await Self.broker(
            { $0.allowAnonymous = false }, hooks: BrokerHooks(authenticator: AcceptEveryone()))
        let anonymous = try Self.client(port)
        await #expect(throws: MosquittoError.self) { try await anonymous.connect() }
        let named = try Self.client(port, user: "someone")
        try await named.connect()
        await named.disconnect()
        try await broker.shutdown()
    }

    @Test("A session kept by a store stays with its user across a restart")
    func restoredSessionKeepsItsUser() async throws {
        let folder = FilePersistenceTests.folder()
        let persisted: (inout BrokerConfiguration) -> Void = {
            $0.allowAnonymous = true
            $0.persistence = PersistenceSettings(location: folder)
        }
        let (first, firstPort) = try await Self.broker(persisted)
        let owner = try Self.client(firstPort, id: "kept", user: "owner", clean: false)
        try await owner.connect()
        try await owner.subscribe("mail/#", qos: 1)
        await owner.disconnect()
        try await first.shutdown()
        let stored = try FilePersistence(directory: folder).load(logger: Logger(label: "test"))
        #expect(stored.sessions.first { $0.header.clientIdentifier == "kept" }?.header.username == "owner")

        let (second, secondPort) = try await Self.broker(persisted)
        try second.client.publish("mail/owner", "private", qos: .atLeastOnce)
        let intruder = try Self.client(secondPort, id: "kept", user: "intruder", clean: false)
        try await intruder.connect()
        #expect(await Self.received(by: intruder, count: 1, within: 2).isEmpty)
        await intruder.disconnect()
        try await second.shutdown()
    }
}
