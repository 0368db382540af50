import Logging
import MQTTCore
import NIOCore
import Synchronization
import TestSupport
import Testing

@testable import MQTTBroker

/// A broker that devices reconnect to all day must free everything a connection held once it
/// ends, whichever way it ends: the handler, its context and (for a clean session) the session.
/// Each test follows those objects with weak references over a real socket.
@Suite("Connection lifetime", .serialized)
struct ConnectionLifetimeTests {
    /// A broker on a free port whose every new connection handler (and its context) is followed.
    struct Fixture {
        let broker: Broker
        let port: Int
        let references = WeakReferences()

        init(
            hooks: BrokerHooks = BrokerHooks(), configure: (inout BrokerConfiguration) -> Void = { _ in }
        ) async throws {
            var configuration = BrokerConfiguration()
            configuration.listeners = [ListenerConfiguration(port: 0, host: "127.0.0.1")]
            configuration.sysInterval = 0
            configure(&configuration)
            var logger = Logger(label: "lifetime-test")
            logger.logLevel = .critical
            broker = Broker(configuration: configuration, hooks: hooks, logger: logger)
            let references = self.references
            broker.core.connectionWatch.withLock {
                $0 = { handler in
                    references.watch(handler, as: "ConnectionHandler")
                    if let context = handler.connection { references.watch(context, as: "ConnectionContext") }
                }
            }
            try await broker.start()
            port = broker.localAddresses.first!.port!
        }

        /// Follows the session registered under `clientIdentifier` too.
        func watchSession(_ clientIdentifier: String) {
            let session = broker.core.sessions.all.first { $0.clientIdentifier == clientIdentifier }
            #expect(session != nil, "no session for \(clientIdentifier)")
            if let session { references.watch(session, as: "Session") }
        }

        /// Every followed object must be freed; the connection count must be back to zero.
        func expectEverythingFreed(sourceLocation: SourceLocation = #_sourceLocation) async {
            #expect(references.count > 0, "nothing was followed", sourceLocation: sourceLocation)
            let alive = await references.waitUntilFreed()
            #expect(alive.isEmpty, "still alive: \(alive)", sourceLocation: sourceLocation)
            #expect(
                await eventually { broker.statistics.connectionsOpen.load(ordering: .relaxed) == 0 },
                sourceLocation: sourceLocation)
        }

        func connect(_ id: String, version: ProtocolVersion = .v3_1_1, cleanStart: Bool = true, keepAlive: UInt16 = 60,
                     properties: MQTTProperties = .none) throws -> TestSocket {
            let socket = try TestSocket(port: port)
            let code = try socket.connect(ConnectPacket(
                protocolVersion: version, cleanStart: cleanStart, keepAlive: keepAlive, clientIdentifier: id,
                properties: properties))
            #expect(code == 0, "CONNACK \(code) for \(id)")
            return socket
        }
    }

    static let versions: [ProtocolVersion] = [.v3_1_1, .v5]

    @Test(arguments: versions)
    func disconnectFreesTheConnectionAndItsCleanSession(version: ProtocolVersion) async throws {
        let fixture = try await Fixture()
        let socket = try fixture.connect("leaver", version: version)
        try socket.send(.subscribe(SubscribePacket(packetIdentifier: 1, subscriptions: [.init(topicFilter: "a/#")])), version: version)
        _ = try socket.readPacket()
        fixture.watchSession("leaver")
        try socket.send(.disconnect(DisconnectPacket(reasonCode: .normalDisconnection)), version: version)
        #expect(socket.waitForClose())
        await fixture.expectEverythingFreed()
        #expect(fixture.broker.core.router.subscriptionCount == 0)
        try await fixture.broker.shutdown()
    }

    @Test(arguments: versions)
    func aLostConnectionIsFreed(version: ProtocolVersion) async throws {
        let fixture = try await Fixture()
        let socket = try fixture.connect("lost", version: version)
        fixture.watchSession("lost")
        socket.reset()
        await fixture.expectEverythingFreed()
        try await fixture.broker.shutdown()
    }

    @Test func aConnectionClosedWithoutDisconnectIsFreed() async throws {
        let fixture = try await Fixture()
        let socket = try fixture.connect("closer")
        fixture.watchSession("closer")
        socket.close()
        await fixture.expectEverythingFreed()
        try await fixture.broker.shutdown()
    }

    @Test(arguments: versions)
    func aTakenOverConnectionIsFreed(version: ProtocolVersion) async throws {
        let fixture = try await Fixture()
        let first = try fixture.connect("twin", version: version)
        fixture.watchSession("twin")
        let second = try fixture.connect("twin", version: version)
        #expect(first.waitForClose())
        // The first connection and its clean session are gone while the second is still open.
        #expect(await eventually { fixture.references.alive.sorted() == ["ConnectionContext", "ConnectionHandler"] },
                "alive: \(fixture.references.alive)")
        second.close()
        await fixture.expectEverythingFreed()
        try await fixture.broker.shutdown()
    }

    @Test func aTakenOverConnectionOfAKeptSessionIsFreedWhileTheSessionLives() async throws {
        let fixture = try await Fixture()
        let expiry = MQTTProperties.sessionExpiry(300)
        let first = try fixture.connect("keeper", version: .v5, cleanStart: false, properties: expiry)
        let second = try fixture.connect("keeper", version: .v5, cleanStart: false, properties: expiry)
        #expect(first.waitForClose())
        #expect(await eventually { fixture.references.alive.count == 2 }, "alive: \(fixture.references.alive)")
        second.close()
        // The session is kept for its expiry interval, its connections are not.
        await fixture.expectEverythingFreed()
        #expect(fixture.broker.core.sessions.count == 1)
        try await fixture.broker.shutdown()
    }

    @Test func aRefusedConnectIsFreed() async throws {
        struct Refuser: Authenticator {
            func authenticate(_ request: AuthenticationRequest) async -> AuthenticationResult { .rejected(.notAuthorized) }
        }
        let fixture = try await Fixture(hooks: BrokerHooks(authenticator: Refuser()))
        for version in Self.versions {
            let socket = try TestSocket(port: fixture.port)
            let code = try socket.connect(ConnectPacket(protocolVersion: version, clientIdentifier: "refused-\(version)"))
            #expect(code == (version == .v5 ? 0x87 : 0x05))
            #expect(socket.waitForClose())
        }
        await fixture.expectEverythingFreed()
        #expect(fixture.broker.core.sessions.count == 0)
        try await fixture.broker.shutdown()
    }

    @Test func aConnectRefusedBeforeAuthenticationIsFreed() async throws {
        let fixture = try await Fixture()
        let socket = try TestSocket(port: fixture.port)
        // MQTT 3.1.1 §3.1.3.1: an empty client identifier needs a clean session.
        let code = try socket.connect(ConnectPacket(cleanStart: false, clientIdentifier: ""))
        #expect(code == 0x02)
        #expect(socket.waitForClose())
        await fixture.expectEverythingFreed()
        try await fixture.broker.shutdown()
    }

    @Test(arguments: versions)
    func aProtocolErrorFreesTheConnection(version: ProtocolVersion) async throws {
        let fixture = try await Fixture()
        let socket = try fixture.connect("offender", version: version)
        fixture.watchSession("offender")
        // A second CONNECT on one connection is a protocol violation (MQTT 5 §3.1).
        try socket.send(.connect(ConnectPacket(protocolVersion: version, clientIdentifier: "offender")), version: version)
        #expect(socket.waitForClose())
        await fixture.expectEverythingFreed()
        try await fixture.broker.shutdown()
    }

    @Test func aMalformedFirstPacketFreesTheConnection() async throws {
        let fixture = try await Fixture()
        let socket = try TestSocket(port: fixture.port)
        try socket.send([0x10, 0x03, 0xFF, 0xFF, 0xFF])
        #expect(socket.waitForClose())
        await fixture.expectEverythingFreed()
        try await fixture.broker.shutdown()
    }

    @Test(arguments: versions)
    func aKeepAliveTimeoutFreesTheConnection(version: ProtocolVersion) async throws {
        let fixture = try await Fixture()
        let socket = try fixture.connect("sleeper", version: version, keepAlive: 1)
        fixture.watchSession("sleeper")
        #expect(socket.waitForClose(timeout: .seconds(10)))
        await fixture.expectEverythingFreed()
        try await fixture.broker.shutdown()
    }

    @Test func aSilentSocketIsClosedAtTheConnectTimeoutAndFreed() async throws {
        let fixture = try await Fixture { $0.connectTimeout = .milliseconds(300) }
        let socket = try TestSocket(port: fixture.port)
        #expect(socket.waitForClose(timeout: .seconds(10)))
        await fixture.expectEverythingFreed()
        try await fixture.broker.shutdown()
    }

    @Test func aConnectionWaitingForItsAuthenticatorIsFreedWhenTheClientLeaves() async throws {
        /// Answers only when the test lets it, so the client leaves while it is still deciding.
        final class Gate: Authenticator {
            let opened = Mutex<CheckedContinuation<Void, Never>?>(nil)
            let entered = Mutex(false)
            func authenticate(_ request: AuthenticationRequest) async -> AuthenticationResult {
                await withCheckedContinuation { continuation in
                    opened.withLock { $0 = continuation }
                    entered.withLock { $0 = true }
                }
                return .accepted
            }
        }
        let gate = Gate()
        let fixture = try await Fixture(hooks: BrokerHooks(authenticator: gate))
        let socket = try TestSocket(port: fixture.port)
        try socket.send(.connect(ConnectPacket(clientIdentifier: "impatient")), version: .v3_1_1)
        #expect(await eventually { gate.entered.withLock { $0 } })
        socket.reset()
        #expect(await eventually { fixture.broker.statistics.connectionsOpen.load(ordering: .relaxed) == 0 })
        gate.opened.withLock { $0 }?.resume()
        await fixture.expectEverythingFreed()
        #expect(fixture.broker.core.sessions.count == 0)
        try await fixture.broker.shutdown()
    }

    @Test(arguments: versions)
    func brokerShutdownFreesEveryConnection(version: ProtocolVersion) async throws {
        let fixture = try await Fixture()
        let sockets = try (0..<3).map { try fixture.connect("resident-\($0)", version: version) }
        for index in 0..<3 { fixture.watchSession("resident-\(index)") }
        try await fixture.broker.shutdown()
        for socket in sockets { #expect(socket.waitForClose()) }
        let alive = await fixture.references.waitUntilFreed()
        #expect(alive.isEmpty, "still alive: \(alive)")
    }

    @Test func aDetachedSessionIsFreedWhenItExpires() async throws {
        let fixture = try await Fixture()
        let socket = try fixture.connect("brief", version: .v5, properties: MQTTProperties.sessionExpiry(1))
        try socket.send(.subscribe(SubscribePacket(packetIdentifier: 1, subscriptions: [.init(topicFilter: "b/#")])), version: .v5)
        _ = try socket.readPacket()
        fixture.watchSession("brief")
        try socket.send(.disconnect(DisconnectPacket(reasonCode: .normalDisconnection)), version: .v5)
        #expect(socket.waitForClose())
        await fixture.expectEverythingFreed()
        #expect(fixture.broker.core.sessions.count == 0)
        #expect(fixture.broker.core.router.subscriptionCount == 0)
        try await fixture.broker.shutdown()
    }

    @Test func aSessionWithADelayedWillIsFreedOnceTheWillIsOut() async throws {
        let fixture = try await Fixture()
        let watcher = try fixture.broker.client.subscribe("wills/#")
        let socket = try TestSocket(port: fixture.port)
        var willProperties = MQTTProperties()
        willProperties.willDelayInterval = 1
        let code = try socket.connect(ConnectPacket(
            protocolVersion: .v5, clientIdentifier: "testator",
            will: Will(topic: "wills/testator", payload: ByteBuffer(string: "gone"), properties: willProperties),
            properties: MQTTProperties.sessionExpiry(5)))
        #expect(code == 0)
        fixture.watchSession("testator")
        socket.reset()
        var iterator = watcher.makeAsyncIterator()
        #expect(await iterator.next()?.payloadString == "gone")
        watcher.cancel()
        // The session itself stays for its expiry (5 s); the connection is freed at once.
        #expect(await eventually { fixture.references.alive == ["Session"] }, "alive: \(fixture.references.alive)")
        await fixture.expectEverythingFreed()
        try await fixture.broker.shutdown()
    }

    /// Round-robin state of a shared subscription goes with its last member, so clients that
    /// come and go with groups of their own do not grow the router.
    @Test func sharedSubscriptionsOfDepartedClientsLeaveNoState() async throws {
        let fixture = try await Fixture()
        for index in 0..<3 {
            let socket = try fixture.connect("member-\(index)", version: .v5)
            let filters = ["$share/group\(index)/readings/#", "$share/common/readings/#"]
            try socket.send(
                .subscribe(SubscribePacket(packetIdentifier: 1, subscriptions: filters.map { .init(topicFilter: $0) })), version: .v5)
            _ = try socket.readPacket()
            try fixture.broker.client.publish("readings/\(index)", "1")
            try socket.send(.disconnect(DisconnectPacket(reasonCode: .normalDisconnection)), version: .v5)
            #expect(socket.waitForClose())
        }
        await fixture.expectEverythingFreed()
        #expect(fixture.broker.core.router.subscriptionCount == 0)
        #expect(fixture.broker.core.router.sharedSubscriptionCount == 0)
        try await fixture.broker.shutdown()
    }

    @Test func droppedInlineSubscriptionsAreFreedAndUnsubscribed() async throws {
        let fixture = try await Fixture()
        let references = fixture.references
        do {
            let cancelled = try fixture.broker.client.subscribe("inline/a")
            references.watch(cancelled.subscriber, as: "cancelled InlineSubscriber")
            cancelled.cancel()
        }
        do {
            let dropped = try fixture.broker.client.subscribe("inline/b")
            references.watch(dropped.subscriber, as: "dropped InlineSubscriber")
        }
        let alive = await references.waitUntilFreed()
        #expect(alive.isEmpty, "still alive: \(alive)")
        #expect(fixture.broker.core.router.subscriptionCount == 0)
        try await fixture.broker.shutdown()
    }
}

extension MQTTProperties {
    static func sessionExpiry(_ seconds: UInt32) -> MQTTProperties {
        var properties = MQTTProperties()
        properties.sessionExpiryInterval = seconds
        return properties
    }
}
