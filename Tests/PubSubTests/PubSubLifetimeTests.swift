import Foundation
import Synchronization
import TestSupport
import Testing

@testable import MQTTBroker
@testable import PubSub

/// Closed sessions and released hubs leave nothing behind: handlers and what they capture, the
/// session's queue and task, the hub's subscription at the broker, the hub's connection.
@Suite("PubSub lifetime", .serialized)
struct PubSubLifetimeTests {
    /// Something a handler captures, to see when the hub lets go of the handler.
    final class Captured: Sendable {}

    static func openConnections(_ broker: EmbeddedBroker) -> Int {
        broker.broker.statistics.connectionsOpen.load(ordering: .relaxed)
    }

    /// A hub on `broker` with one subscribed session, the hub and its client followed.
    static func watchedHub(on broker: EmbeddedBroker, references: WeakReferences) async throws -> (PubSubHub, PubSubClient) {
        let hub = try await PubSubHub(broker: broker.url, prefix: uniquePrefix("lifetime"), logger: quietLogger)
        references.watch(hub, as: "PubSubHub")
        references.watch(hub.client, as: "MosquittoClient")
        let session = hub.session(id: "page")
        try await session.subscribe { (_: String) in }
        return (hub, session)
    }

    @Test func aClosedSessionFreesItsHandlersStreamsAndSubscription() async throws {
        let broker = try await EmbeddedBroker.start()
        let hub = try await PubSubHub(broker: broker.url, prefix: uniquePrefix("lifetime"), logger: quietLogger)
        let references = WeakReferences()
        let session = hub.session(id: "page")
        do {
            let captured = Captured()
            references.watch(captured, as: "global handler's capture")
            try await session.subscribe { (_: String) in _ = captured }
            let topicCaptured = Captured()
            references.watch(topicCaptured, as: "topic handler's capture")
            try await session.subscribeTopic("rooms/+") { (_: String, _: String) in _ = topicCaptured }
        }
        let stream = try await session.messages(topic: "news")
        let reader = Task { for await _ in stream {} }
        #expect(await eventually { broker.broker.core.router.subscriptionCount == 1 })
        try await session.sendAll("hello")

        try await session.close()
        let alive = await references.waitUntilFreed()
        #expect(alive.isEmpty, "still alive: \(alive)")
        #expect(hub.openSessions.isEmpty)
        // The stream ends with the session, and the hub's last user gone, so is its subscription.
        await reader.value
        #expect(await eventually { broker.broker.core.router.subscriptionCount == 0 })
        await hub.shutdown()
        try await broker.stop()
    }

    @Test func closingOneSessionKeepsTheOthersAndTheSubscription() async throws {
        let broker = try await EmbeddedBroker.start()
        let hub = try await PubSubHub(broker: broker.url, prefix: uniquePrefix("lifetime"), logger: quietLogger)
        let inbox = Inbox<Received>()
        let staying = hub.session(id: "staying")
        try await staying.record(into: inbox)
        let leaving = hub.session(id: "leaving")
        try await leaving.record(into: inbox)
        try await leaving.close()
        #expect(hub.openSessions == ["staying"])
        #expect(broker.broker.core.router.subscriptionCount == 1)
        try await staying.sendAll("still here")
        #expect(await inbox.wait(session: "staying", text: "still here"))
        #expect(inbox.all.allSatisfy { $0.session == "staying" })
        await hub.shutdown()
        try await broker.stop()
    }

    @Test func aHubShutDownIsFreed() async throws {
        let broker = try await EmbeddedBroker.start()
        let references = WeakReferences()
        do {
            let (hub, session) = try await Self.watchedHub(on: broker, references: references)
            _ = try await session.messages()
            await hub.shutdown()
        }
        let alive = await references.waitUntilFreed()
        #expect(alive.isEmpty, "still alive: \(alive)")
        #expect(await eventually { Self.openConnections(broker) == 0 })
        try await broker.stop()
    }

    /// A program that lets go of its hub without `shutdown` (a test, a short-lived tool) must
    /// not keep it, its sessions' tasks and its broker connection for ever.
    @Test func aHubReleasedWithoutShutdownIsFreedAndDisconnects() async throws {
        let broker = try await EmbeddedBroker.start()
        let references = WeakReferences()
        let streamEnded = Flag()
        do {
            let (_, session) = try await Self.watchedHub(on: broker, references: references)
            let stream = try await session.messages()
            Task {
                for await _ in stream {}
                streamEnded.set()
            }
            try await session.sendAll("one")
            #expect(Self.openConnections(broker) == 1)
        }
        let alive = await references.waitUntilFreed()
        #expect(alive.isEmpty, "still alive: \(alive)")
        #expect(await eventually { Self.openConnections(broker) == 0 })
        #expect(await eventually { streamEnded.isSet })
        try await broker.stop()
    }
}
