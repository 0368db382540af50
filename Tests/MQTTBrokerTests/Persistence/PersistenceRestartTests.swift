import Foundation
import Logging
import MQTTCore
import Mosquitto
import NIOCore
import Testing

@testable import MQTTBroker

/// A broker with `persistence` on, stopped and started again on the same folder, finds its
/// persistent sessions, their queues and flights, and its retained messages.
@Suite("Persistence across restarts")
struct PersistenceRestartTests {
    static func broker(folder: String) async throws -> (Broker, Int) {
        var configuration = BrokerConfiguration()
        configuration.listeners = [ListenerConfiguration(port: 0, host: "127.0.0.1")]
        configuration.sysInterval = 0
        configuration.persistence = PersistenceSettings(location: folder)
        let broker = Broker(configuration: configuration, logger: Logger(label: "test"))
        try await broker.start()
        return (broker, broker.localAddresses.first!.port!)
    }

    static func client(port: Int, clean: Bool, id: String, version: MosquittoConfiguration.ProtocolVersion) throws -> MosquittoClient {
        try MosquittoClient(configuration: MosquittoConfiguration(
            port: port, clientIdentifier: id, cleanSession: clean, sessionExpiryInterval: clean ? nil : 300,
            protocolVersion: version))
    }

    /// The next `count` messages, or fewer after a deadline, so a missing delivery fails instead of hanging.
    static func messages(of client: MosquittoClient, count: Int, within seconds: Int = 10) async throws -> [MosquittoMessage] {
        try await withThrowingTaskGroup(of: [MosquittoMessage]?.self) { group in
            group.addTask {
                var received: [MosquittoMessage] = []
                for await message in client.messages {
                    received.append(message)
                    if received.count == count { break }
                }
                return received
            }
            group.addTask {
                try await Task.sleep(for: .seconds(seconds))
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first ?? []
        }
    }

    @Test(arguments: [MosquittoConfiguration.ProtocolVersion.v3_1_1, .v5])
    func subscriptionsQueuedMessagesAndRetainedMessagesSurviveARestart(version: MosquittoConfiguration.ProtocolVersion) async throws {
        let folder = FilePersistenceTests.folder()
        let id = "keeper-\(version)"
        let (first, firstPort) = try await Self.broker(folder: folder)
        let subscriber = try Self.client(port: firstPort, clean: false, id: id, version: version)
        try await subscriber.connect()
        try await subscriber.subscribe("news/#", qos: 1)
        await subscriber.disconnect()
        for index in 1...3 { try first.client.publish("news/\(index)", "while away \(index)", qos: .atLeastOnce) }
        try first.client.publish("state/lamp", "on", qos: .atLeastOnce, retain: true)
        try await first.shutdown()

        let (second, secondPort) = try await Self.broker(folder: folder)
        try second.client.publish("news/4", "after the restart", qos: .atLeastOnce)
        let resumed = try Self.client(port: secondPort, clean: false, id: id, version: version)
        try await resumed.connect()
        let received = try await Self.messages(of: resumed, count: 4)
        #expect(received.map { String(decoding: $0.payload, as: UTF8.self) }
            == ["while away 1", "while away 2", "while away 3", "after the restart"])
        await resumed.disconnect()

        let newcomer = try Self.client(port: secondPort, clean: true, id: "newcomer-\(version)", version: version)
        try await newcomer.connect()
        try await newcomer.subscribe("state/#", qos: 1)
        let retained = try await Self.messages(of: newcomer, count: 1)
        #expect(retained.first.map { String(decoding: $0.payload, as: UTF8.self) } == "on")
        #expect(retained.first?.retain == true)
        await newcomer.disconnect()
        try await second.shutdown()
    }

    @Test func cleanSessionsAreNotStoredAndEndedSessionsAreForgotten() async throws {
        let folder = FilePersistenceTests.folder()
        let (broker, port) = try await Self.broker(folder: folder)
        let transient = try Self.client(port: port, clean: true, id: "transient", version: .v3_1_1)
        try await transient.connect()
        try await transient.subscribe("a", qos: 1)
        await transient.disconnect()

        let persistent = try Self.client(port: port, clean: false, id: "ends", version: .v3_1_1)
        try await persistent.connect()
        try await persistent.subscribe("b", qos: 1)
        await persistent.disconnect()
        let kept = try Self.client(port: port, clean: false, id: "stays", version: .v3_1_1)
        try await kept.connect()
        try await kept.subscribe("c", qos: 1)
        await kept.disconnect()
        let cleaner = try Self.client(port: port, clean: true, id: "ends", version: .v3_1_1)
        try await cleaner.connect()
        await cleaner.disconnect()
        try await broker.shutdown()

        let state = try FilePersistence(directory: folder).load(logger: Logger(label: "test"))
        #expect(state.sessions.map(\.header.clientIdentifier) == ["stays"])
        #expect(state.sessions.first?.header.subscriptions.keys.sorted() == ["c"])
    }

    /// A QoS 2 message keeps its packet identifier and its stage across a restart: sent but not
    /// acknowledged comes back as a PUBLISH with the same identifier, received (PUBREC) comes
    /// back as PUBREL, so the subscriber never sees it twice.
    @Test func aQoS2FlightKeepsItsPacketIdentifierAndStage() async throws {
        let folder = FilePersistenceTests.folder()
        let (first, firstPort) = try await Self.broker(folder: folder)
        let connect = ConnectPacket(cleanStart: false, clientIdentifier: "flight")
        var socket = try TestSocket(port: firstPort)
        try socket.connect(connect)
        try socket.send(.subscribe(SubscribePacket(
            packetIdentifier: 1, subscriptions: [.init(topicFilter: "q/#", options: SubscriptionOptions(qos: .exactlyOnce))])), version: .v3_1_1)
        #expect(try socket.readPacket().type == PacketType.suback.rawValue)
        try first.client.publish("q/one", "first", qos: .exactlyOnce)
        try first.client.publish("q/two", "second", qos: .exactlyOnce)
        let one = try socket.readPacket()
        let two = try socket.readPacket()
        #expect(one.type == PacketType.publish.rawValue && two.type == PacketType.publish.rawValue)
        let firstIdentifier = Self.packetIdentifier(ofPublish: one.body)
        let secondIdentifier = Self.packetIdentifier(ofPublish: two.body)
        // The first is received (PUBREC, PUBREL comes), the second left unacknowledged.
        try socket.send(.pubrec(PublishResponsePacket(packetIdentifier: firstIdentifier)), version: .v3_1_1)
        #expect(try socket.readPacket().type == PacketType.pubrel.rawValue)
        socket.close()
        try await first.shutdown()

        let (second, secondPort) = try await Self.broker(folder: folder)
        socket = try TestSocket(port: secondPort)
        try socket.connect(connect)
        let pubrel = try socket.readPacket()
        #expect(pubrel.type == PacketType.pubrel.rawValue)
        #expect(Array(pubrel.body.prefix(2)) == [UInt8(firstIdentifier >> 8), UInt8(firstIdentifier & 0xFF)])
        let resent = try socket.readPacket()
        #expect(resent.type == PacketType.publish.rawValue)
        #expect(Self.packetIdentifier(ofPublish: resent.body) == secondIdentifier)
        try socket.send(.pubcomp(PublishResponsePacket(packetIdentifier: firstIdentifier)), version: .v3_1_1)
        try socket.send(.pubrec(PublishResponsePacket(packetIdentifier: secondIdentifier)), version: .v3_1_1)
        #expect(try socket.readPacket().type == PacketType.pubrel.rawValue)
        try socket.send(.pubcomp(PublishResponsePacket(packetIdentifier: secondIdentifier)), version: .v3_1_1)
        socket.close()
        try await second.shutdown()

        let state = try FilePersistence(directory: folder).load(logger: Logger(label: "test"))
        #expect(state.sessions.first?.deliveries.isEmpty == true)
    }

    /// An incoming QoS 2 message whose PUBREC went out is not routed again when the publisher
    /// resends it after a restart.
    @Test func anIncomingQoS2IdentifierIsHeldAcrossARestart() async throws {
        let folder = FilePersistenceTests.folder()
        let (first, firstPort) = try await Self.broker(folder: folder)
        let connect = ConnectPacket(cleanStart: false, clientIdentifier: "sender")
        var socket = try TestSocket(port: firstPort)
        try socket.connect(connect)
        let publish = PublishPacket(topic: "once", payload: ByteBuffer(string: "exactly"), qos: .exactlyOnce, packetIdentifier: 9)
        try socket.send(.publish(publish), version: .v3_1_1)
        #expect(try socket.readPacket().type == PacketType.pubrec.rawValue)
        socket.close()
        try await first.shutdown()

        let (second, secondPort) = try await Self.broker(folder: folder)
        let counter = try Self.client(port: secondPort, clean: true, id: "counter", version: .v3_1_1)
        try await counter.connect()
        try await counter.subscribe("once", qos: 2)
        socket = try TestSocket(port: secondPort)
        try socket.connect(connect)
        var resend = publish
        resend.duplicate = true
        try socket.send(.publish(resend), version: .v3_1_1)
        #expect(try socket.readPacket().type == PacketType.pubrec.rawValue)
        try socket.send(.pubrel(PublishResponsePacket(packetIdentifier: 9)), version: .v3_1_1)
        #expect(try socket.readPacket().type == PacketType.pubcomp.rawValue)
        try second.client.publish("once", "marker", qos: .exactlyOnce)
        let received = try await Self.messages(of: counter, count: 1, within: 5)
        #expect(received.map { String(decoding: $0.payload, as: UTF8.self) } == ["marker"])
        socket.close()
        await counter.disconnect()
        try await second.shutdown()
    }

    static func packetIdentifier(ofPublish body: [UInt8]) -> UInt16 {
        let topicLength = Int(body[0]) << 8 | Int(body[1])
        return UInt16(body[2 + topicLength]) << 8 | UInt16(body[3 + topicLength])
    }
}
