import Logging
import MQTTCore
import NIOCore
import NIOPosix
import Testing

@testable import MQTTBroker

/// The in-process client: publish and subscribe without a socket, through the real router.
@Suite("Inline client")
struct InlineClientTests {
    static func broker() -> Broker {
        var configuration = BrokerConfiguration()
        configuration.listeners = []
        configuration.sysInterval = 0
        return Broker(configuration: configuration, logger: Logger(label: "test"))
    }

    static func next(_ subscription: InlineSubscription) async -> InlineMessage? {
        var iterator = subscription.makeAsyncIterator()
        return await iterator.next()
    }

    @Test func publishReachesAMatchingWildcardSubscription() async throws {
        let broker = Self.broker()
        let subscription = try broker.client.subscribe("sensors/+/temp", qos: .atLeastOnce)
        #expect(try broker.client.publish("sensors/kitchen/temp", "21.5", qos: .exactlyOnce) == 1)
        let message = await Self.next(subscription)
        #expect(message?.topic == "sensors/kitchen/temp")
        #expect(message?.payloadString == "21.5")
        #expect(message?.qos == .atLeastOnce)
        try await broker.shutdown()
    }

    @Test func retainedMessagesArriveOnSubscribeWithTheRetainFlag() async throws {
        let broker = Self.broker()
        try broker.client.publish("status", "up", qos: .atLeastOnce, retain: true)
        let message = await Self.next(try broker.client.subscribe("status"))
        #expect(message?.payloadString == "up")
        #expect(message?.retain == true)
        try await broker.shutdown()
    }

    @Test func sharedSubscriptionDeliversEachMessageToOneMember() async throws {
        let broker = Self.broker()
        let first = try broker.client.subscribe("$share/workers/jobs")
        let second = try broker.client.subscribe("$share/workers/jobs")
        for index in 0..<4 { try broker.client.publish("jobs", "\(index)") }
        first.cancel()
        second.cancel()
        var received: [String] = []
        for await message in first { received.append(message.payloadString) }
        for await message in second { received.append(message.payloadString) }
        #expect(received.sorted() == ["0", "1", "2", "3"])
        try await broker.shutdown()
    }

    @Test func cancelledSubscriptionsStopReceiving() async throws {
        let broker = Self.broker()
        let subscription = try broker.client.subscribe("a")
        subscription.cancel()
        #expect(try broker.client.publish("a", "x") == 0)
        try await broker.shutdown()
    }

    @Test func invalidTopicsAreRejectedWithTheirReasonCode() async throws {
        let broker = Self.broker()
        #expect(throws: MQTTProtocolError.self) { try broker.client.publish("a/+", "x") }
        do {
            _ = try broker.client.subscribe("a/#/b")
            Issue.record("an invalid filter should throw")
        } catch {
            #expect(error.reasonCode == .topicFilterInvalid)
        }
        try await broker.shutdown()
    }

    /// Over memory_limit a publish is refused, but a status (a bridge's link state) still
    /// replaces the retained one: watchers must not be told the link is down when it is up.
    @Test func overTheMemoryLimitAStatusIsStillPublished() async throws {
        let broker = Self.broker()
        try broker.client.publishStatus("$SYS/broker/connection/up/state", "0")
        broker.core.memoryExceeded.store(true, ordering: .relaxed)
        #expect(throws: MQTTProtocolError.self) { try broker.client.publish("data", "x") }
        try broker.client.publishStatus("$SYS/broker/connection/up/state", "1")
        let message = await Self.next(try broker.client.subscribe("$SYS/broker/connection/+/state"))
        #expect(message?.payloadString == "1" && message?.retain == true)
        try await broker.shutdown()
    }
}
