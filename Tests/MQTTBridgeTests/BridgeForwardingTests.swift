import Foundation
import MQTTBridge
import MQTTBroker
import MQTTCore
import Testing
import TestSupport

/// A bridge between two Parley brokers in the test process (the integration suite does the
/// same against Debian's Mosquitto).
@Suite struct BridgeForwardingTests {
    static func link(to remote: Broker, _ version: BridgeConfiguration.ProtocolVersion, topics: [BridgeConfiguration.Topic]) -> BridgeConfiguration {
        var configuration = BridgeConfiguration(name: "test", addresses: [.init(host: "127.0.0.1", port: remote.port)], topics: topics)
        configuration.protocolVersion = version
        configuration.restartTimeout = (1, 1)
        return configuration
    }

    @Test(arguments: [BridgeConfiguration.ProtocolVersion.mqtt311, .mqtt5])
    func messagesCrossBothWaysWithPrefixesOnce(version: BridgeConfiguration.ProtocolVersion) async throws {
        let remote = try await startBroker()
        let local = try await startBroker()
        let bridge = try Bridge(configuration: Self.link(to: remote, version, topics: [
            .init(pattern: "sensors/#", direction: .out, qos: .atLeastOnce, remotePrefix: "site/1/"),
            .init(pattern: "cmd/#", direction: .in, qos: .atLeastOnce, localPrefix: "down/", remotePrefix: "site/1/"),
            .init(pattern: "both/#", direction: .both, qos: .atLeastOnce),
        ]), broker: local)
        try await bridge.start()
        #expect(await eventually { bridge.status.isConnected })

        let atRemote = Received(try remote.client.subscribe("#", qos: .atLeastOnce))
        let atLocal = Received(try local.client.subscribe("#", qos: .atLeastOnce))
        try local.client.publish("sensors/kitchen", "21.5", qos: .atLeastOnce)
        try remote.client.publish("site/1/cmd/reboot", "now", qos: .atLeastOnce)
        try local.client.publish("both/from-local", "a", qos: .atLeastOnce)
        try remote.client.publish("both/from-remote", "b", qos: .atLeastOnce)

        #expect(await eventually { atRemote.all.count >= 4 && atLocal.all.count >= 4 })
        try await Task.sleep(for: .milliseconds(300))  // anything looping would show up by now
        let remoteTopics = atRemote.all.map { "\($0.topic) \($0.payloadString)" }.sorted()
        let localTopics = atLocal.all.map { "\($0.topic) \($0.payloadString)" }.sorted()
        #expect(remoteTopics == ["both/from-local a", "both/from-remote b", "site/1/cmd/reboot now", "site/1/sensors/kitchen 21.5"])
        #expect(localTopics == ["both/from-local a", "both/from-remote b", "down/cmd/reboot now", "sensors/kitchen 21.5"])
        await bridge.stop()
        try await local.shutdown()
        try await remote.shutdown()
    }

    @Test func queuedMessagesWaitForTheRemoteAndArriveInOrderUpToTheBound() async throws {
        let port = restartablePort()
        let local = try await startBroker(maxQueuedMessages: 50)
        var configuration = BridgeConfiguration(name: "later", addresses: [.init(host: "127.0.0.1", port: port)],
            topics: [.init(pattern: "n/#", direction: .out, qos: .atLeastOnce)])
        configuration.restartTimeout = (1, 1)
        configuration.cleanSession = false
        let bridge = try Bridge(configuration: configuration, broker: local)
        try await bridge.start()
        for index in 0..<60 { try local.client.publish("n/x", "\(index)", qos: .atLeastOnce) }
        #expect(await eventually { bridge.status.dropped == 10 })
        #expect(!bridge.status.isConnected)

        let remote = try await startBroker(port: port)
        let atRemote = Received(try remote.client.subscribe("n/#", qos: .atLeastOnce))
        #expect(await atRemote.wait(for: 50))
        #expect(atRemote.texts == (0..<50).map(String.init))
        #expect(bridge.status.forwardedOut == 50)
        await bridge.stop()
        try await local.shutdown()
        try await remote.shutdown()
    }

    @Test func theLinkStateIsPublishedRetainedHereAndThere() async throws {
        let remote = try await startBroker()
        let local = try await startBroker()
        let bridge = try Bridge(configuration: Self.link(to: remote, .mqtt5, topics: [.init(pattern: "x")]), broker: local)
        let states = Received(try local.client.subscribe("$SYS/broker/connection/test/state"))
        try await bridge.start()
        #expect(await eventually { states.texts.last == "1" })
        #expect(states.texts.first == "0")
        let atRemote = Received(try remote.client.subscribe("$SYS/broker/connection/test/state"))
        #expect(await eventually { atRemote.texts == ["1"] })
        await bridge.stop()
        #expect(await eventually { states.texts.last == "0" })
        #expect(await eventually { atRemote.texts.last == "0" })
        try await local.shutdown()
        try await remote.shutdown()
    }

    @Test func reconnectionWaitsGrowWithJitterUpToTheCap() {
        let delays = (1...200).map { Bridge.reconnectDelay(attempt: $0 % 8, base: 2, cap: 10) }
        #expect(delays.allSatisfy { $0 >= .seconds(2) && $0 <= .seconds(10) })
        #expect(Set(delays).count > 10, "the waits are jittered")
        #expect(Bridge.reconnectDelay(attempt: 0, base: 2, cap: 10) <= .seconds(2))
        #expect(Bridge.reconnectDelay(attempt: 5, base: 3, cap: nil) == .seconds(3))
    }
}
