import Foundation
import MQTTCore
import Testing
import TestSupport

@testable import MQTTBridge
@testable import MQTTBroker

/// A stopped bridge leaves nothing behind: the bridge, its libmosquitto client and its pumps are
/// freed, its inline subscriptions are gone from the local broker and its connection from the
/// remote, whether the remote was reachable or not.
@Suite struct BridgeLifetimeTests {
    static func configuration(port: Int) -> BridgeConfiguration {
        var configuration = BridgeConfiguration(
            name: "lifetime", addresses: [.init(host: "127.0.0.1", port: port)],
            topics: [
                .init(pattern: "up/#", direction: .out, qos: .atLeastOnce),
                .init(pattern: "down/#", direction: .in, qos: .atLeastOnce),
            ])
        configuration.restartTimeout = (1, 1)
        return configuration
    }

    @Test(arguments: [BridgeConfiguration.ProtocolVersion.mqtt311, .mqtt5])
    func aStoppedBridgeIsFreedWithItsClientAndSubscriptions(version: BridgeConfiguration.ProtocolVersion) async throws {
        let remote = try await startBroker()
        let local = try await startBroker()
        let references = WeakReferences()
        do {
            var configuration = Self.configuration(port: remote.port)
            configuration.protocolVersion = version
            let bridge = try Bridge(configuration: configuration, broker: local)
            references.watch(bridge, as: "Bridge")
            references.watch(bridge.remote, as: "MosquittoClient")
            try await bridge.start()
            #expect(await eventually { bridge.status.isConnected })
            #expect(local.core.router.subscriptionCount == 1)
            let atRemote = Received(try remote.client.subscribe("up/#", qos: .atLeastOnce))
            try local.client.publish("up/reading", "1", qos: .atLeastOnce)
            #expect(await atRemote.wait(for: 1))
            await bridge.stop()
        }
        let alive = await references.waitUntilFreed()
        #expect(alive.isEmpty, "still alive: \(alive)")
        #expect(local.core.router.subscriptionCount == 0)
        #expect(await eventually { remote.statistics.connectionsOpen.load(ordering: .relaxed) == 0 })
        try await local.shutdown()
        try await remote.shutdown()
    }

    @Test func aBridgeStoppedWhileItsRemoteIsUnreachableIsFreed() async throws {
        let local = try await startBroker()
        let references = WeakReferences()
        do {
            let bridge = try Bridge(configuration: Self.configuration(port: 1), broker: local)
            references.watch(bridge, as: "Bridge")
            references.watch(bridge.remote, as: "MosquittoClient")
            try await bridge.start()
            try local.client.publish("up/queued", "waiting", qos: .atLeastOnce)
            await bridge.stop()
        }
        let alive = await references.waitUntilFreed()
        #expect(alive.isEmpty, "still alive: \(alive)")
        #expect(local.core.router.subscriptionCount == 0)
        try await local.shutdown()
    }
}
