import Foundation
import Logging
import MQTTCore
import NIOCore
import NIOEmbedded
import Testing

@testable import MQTTBroker

/// What an old connection still does after another connection took its session over, before
/// the takeover reaches its event loop: each connection runs in an `EmbeddedChannel`, so the
/// order of events across "loops" is the test's to choose.
@Suite("Takeover races")
struct TakeoverRaceTests {
    final class Client {
        let channel = EmbeddedChannel()
        let handler: ConnectionHandler
        var decoder = MQTTFrameDecoder()
        var pending = ByteBuffer()

        init(core: BrokerCore) throws {
            handler = ConnectionHandler(
                core: core, listener: ListenerContext(configuration: ListenerConfiguration(port: 0), index: 0, maximumPacketSize: 1 << 20))
            try channel.pipeline.syncOperations.addHandler(handler)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1883)).wait()
        }

        func send(_ packet: MQTTPacket) throws {
            var buffer = ByteBuffer()
            packet.encode(into: &buffer, version: .v3_1_1)
            try channel.writeInbound(buffer)
            channel.embeddedEventLoop.run()
        }

        /// Every packet written to the client so far.
        func received() throws -> [MQTTPacket] {
            channel.embeddedEventLoop.run()
            while var chunk = try channel.readOutbound(as: ByteBuffer.self) { pending.writeBuffer(&chunk) }
            var packets: [MQTTPacket] = []
            while let frame = try decoder.decode(buffer: &pending) { packets.append(try MQTTPacket.decode(frame, version: .v3_1_1)) }
            return packets
        }

        func publishes() throws -> [PublishPacket] {
            try received().compactMap { if case .publish(let publish) = $0 { publish } else { nil } }
        }
    }

    static func core(persistIn folder: String? = nil) throws -> BrokerCore {
        var configuration = BrokerConfiguration()
        configuration.maxInflightMessages = 1
        var hooks = BrokerHooks()
        if let folder {
            let store = FilePersistence(directory: folder)
            _ = try store.load(logger: Logger(label: "test"))
            hooks.persistence = store
        }
        let core = BrokerCore(configuration: configuration, hooks: hooks, logger: Logger(label: "test"))
        try core.security.load()
        return core
    }

    static func connect(_ core: BrokerCore, id: String) throws -> Client {
        let client = try Client(core: core)
        try client.send(.connect(ConnectPacket(cleanStart: false, clientIdentifier: id)))
        #expect(try client.received().contains { if case .connack = $0 { true } else { false } })
        return client
    }

    @Test func acknowledgementsTheOldConnectionStillReadsDoNotStartFlightsOnIt() throws {
        let core = try Self.core()
        let old = try Self.connect(core, id: "same")
        try old.send(.subscribe(SubscribePacket(
            packetIdentifier: 1, subscriptions: [.init(topicFilter: "t", options: SubscriptionOptions(qos: .atLeastOnce))])))
        _ = try old.received()
        core.publish(ApplicationMessage(topic: "t", payload: ByteBuffer(string: "one"), qos: .atLeastOnce), from: nil)
        core.publish(ApplicationMessage(topic: "t", payload: ByteBuffer(string: "two"), qos: .atLeastOnce), from: nil)
        let first = try #require(try old.publishes().first)
        #expect(String(buffer: first.payload) == "one")

        // The new connection resumes the session (and resends "one"); the old one reads the
        // PUBACK for "one" before it hears of the takeover.
        let new = try Client(core: core)
        var connect = ConnectPacket(cleanStart: false, clientIdentifier: "same")
        connect.keepAlive = 60
        var buffer = ByteBuffer()
        MQTTPacket.connect(connect).encode(into: &buffer, version: .v3_1_1)
        try new.channel.writeInbound(buffer)
        try old.channel.writeInbound(Self.encoded(.puback(PublishResponsePacket(packetIdentifier: first.packetIdentifier!))))
        #expect(try old.publishes().allSatisfy { String(buffer: $0.payload) != "two" })

        let resent = try new.publishes()
        #expect(resent.map { String(buffer: $0.payload) } == ["one"])
        #expect(resent.first?.duplicate == true)
        try new.send(.puback(PublishResponsePacket(packetIdentifier: resent[0].packetIdentifier!)))
        #expect(try new.publishes().map { String(buffer: $0.payload) } == ["two"])
    }

    @Test func aSubscribeReadAfterTheSessionEndedLeavesNoRouteAndIsNotStored() throws {
        let folder = FilePersistenceTests.folder()
        let core = try Self.core(persistIn: folder)
        let old = try Self.connect(core, id: "racer")
        let session = try #require(old.handler.session)
        // A clean-start connection on another loop ends the session; the old connection reads a
        // SUBSCRIBE before the takeover reaches it.
        core.endSession(session)
        try old.send(.subscribe(SubscribePacket(
            packetIdentifier: 1, subscriptions: [.init(topicFilter: "x/#", options: SubscriptionOptions(qos: .atLeastOnce))])))
        #expect(core.router.subscriptionCount == 0)
        let stored = try FilePersistence(directory: folder).load(logger: Logger(label: "test"))
        #expect(stored.sessions.isEmpty)
    }

    static func encoded(_ packet: MQTTPacket) -> ByteBuffer {
        var buffer = ByteBuffer()
        packet.encode(into: &buffer, version: .v3_1_1)
        return buffer
    }
}
