import MQTTCore
import NIOCore
import Testing

@testable import MQTTBroker

/// The session's delivery rules, without sockets: windows, queues, acknowledgements, resume.
@Suite("Session state")
struct SessionStateTests {
    static let now = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    static func state(window: Int = 2, queued: Int = 3, queuedBytes: Int? = nil, qos0Offline: Bool = false, connected: Bool = true) -> SessionState {
        var state = SessionState(
            clientIdentifier: "c",
            limits: .init(inflightWindow: window, maximumQueued: queued, maximumQueuedBytes: queuedBytes, queueQoS0WhileOffline: qos0Offline),
            expiryInterval: 60)
        state.isConnected = connected
        return state
    }

    static func delivery(_ text: String, qos: QoS = .atLeastOnce, expiresAt: NIODeadline? = nil) -> Delivery {
        Delivery(
            message: ApplicationMessage(topic: "t", payload: ByteBuffer(string: text), qos: qos, expiresAt: expiresAt),
            qos: qos, retain: false, subscriptionIdentifiers: [])
    }

    /// The payload and packet identifier of a publish action.
    static func sent(_ outcome: SessionState.DeliveryOutcome) -> (String, UInt16?)? {
        guard case .send(.publish(let delivery, let identifier, _)) = outcome else { return nil }
        return (String(buffer: delivery.message.payload), identifier)
    }

    @Test func qos1MessagesBeyondTheWindowWaitInTheQueueInOrder() {
        var state = Self.state(window: 2)
        do {
            let result = Self.sent(state.deliver(Self.delivery("a"), now: Self.now))?.1
            #expect(result == 1)
        }
        do {
            let result = Self.sent(state.deliver(Self.delivery("b"), now: Self.now))?.1
            #expect(result == 2)
        }
        guard case .queued = state.deliver(Self.delivery("c"), now: Self.now) else {
            Issue.record("third message should be queued")
            return
        }
        do {
            let result = state.acknowledgePuback(1)
            #expect(result == .completed)
        }
        var dropped: [Delivery] = []
        let next = state.fillWindow(now: Self.now, dropped: &dropped)
        guard case .publish(let delivery, let identifier, false)? = next.first else {
            Issue.record("PUBACK should release the queued message")
            return
        }
        #expect(String(buffer: delivery.message.payload) == "c")
        #expect(identifier == 3)
    }

    @Test func qos0IsSentImmediatelyWhileConnectedEvenWithAFullWindow() {
        var state = Self.state(window: 1)
        _ = state.deliver(Self.delivery("a"), now: Self.now)
        do {
            let result = Self.sent(state.deliver(Self.delivery("b", qos: .atMostOnce), now: Self.now))?.1
            #expect(result == nil)
        }
        do {
            let result = Self.sent(state.deliver(Self.delivery("b", qos: .atMostOnce), now: Self.now))?.0
            #expect(result == "b")
        }
    }

    @Test func aFullQueueDropsTheNewestMessage() {
        var state = Self.state(window: 1, queued: 1)
        _ = state.deliver(Self.delivery("a"), now: Self.now)
        _ = state.deliver(Self.delivery("b"), now: Self.now)
        guard case .dropped(.queueFull) = state.deliver(Self.delivery("c"), now: Self.now) else {
            Issue.record("the newest message should be dropped")
            return
        }
        #expect(state.queuedCount == 1)
    }

    @Test func queuedBytesAreBounded() {
        var state = Self.state(window: 1, queued: 0, queuedBytes: 5, connected: false)
        guard case .queued = state.deliver(Self.delivery("1234"), now: Self.now),
            case .dropped(.queueFull) = state.deliver(Self.delivery("56"), now: Self.now)
        else {
            Issue.record("a message that does not fit max_queued_bytes should be dropped")
            return
        }
    }

    @Test func offlineQoS0IsDroppedUnlessConfiguredToQueue() {
        var plain = Self.state(connected: false)
        guard case .dropped(.offlineQoS0) = plain.deliver(Self.delivery("a", qos: .atMostOnce), now: Self.now) else {
            Issue.record("QoS 0 for an offline session should be dropped")
            return
        }
        var queueing = Self.state(qos0Offline: true, connected: false)
        guard case .queued = queueing.deliver(Self.delivery("a", qos: .atMostOnce), now: Self.now) else {
            Issue.record("queue_qos0_messages should queue QoS 0")
            return
        }
    }

    @Test func expiredMessagesAreDroppedOnDeliveryAndFromTheQueue() {
        var state = Self.state(window: 1)
        guard case .dropped(.expired) = state.deliver(Self.delivery("old", expiresAt: Self.now - .seconds(1)), now: Self.now) else {
            Issue.record("an expired message should be dropped")
            return
        }
        _ = state.deliver(Self.delivery("a"), now: Self.now)
        _ = state.deliver(Self.delivery("soon", expiresAt: Self.now + .seconds(5)), now: Self.now)
        _ = state.acknowledgePuback(1)
        var dropped: [Delivery] = []
        do {
            let result = state.fillWindow(now: Self.now + .seconds(10), dropped: &dropped).isEmpty
            #expect(result)
        }
        #expect(dropped.count == 1)
    }

    @Test func qos2FlowMovesFromPubrecToPubcomp() {
        var state = Self.state()
        _ = state.deliver(Self.delivery("a", qos: .exactlyOnce), now: Self.now)
        do {
            let result = state.acknowledgePuback(1)
            #expect(result == .wrongFlow)
        }
        do {
            let result = state.acknowledgePubcomp(1)
            #expect(result == .wrongFlow)
        }
        do {
            let result = state.acknowledgePuback(2)
            #expect(result == .unknownIdentifier)
        }
        do {
            let result = state.acknowledgePubrec(1, reasonCode: .success)
            #expect(result == .completed)
        }
        #expect(state.inflightCount == 1)
        do {
            let result = state.acknowledgePubcomp(1)
            #expect(result == .completed)
        }
        #expect(state.inflightCount == 0)
    }

    @Test func aFailedPubrecEndsTheFlow() {
        var state = Self.state()
        _ = state.deliver(Self.delivery("a", qos: .exactlyOnce), now: Self.now)
        do {
            let result = state.acknowledgePubrec(1, reasonCode: .notAuthorized)
            #expect(result == .completed)
        }
        #expect(state.inflightCount == 0)
    }

    @Test func resumeResendsUnacknowledgedWithDupThenPubrelThenQueued() {
        var state = Self.state(window: 2)
        _ = state.deliver(Self.delivery("one", qos: .exactlyOnce), now: Self.now)
        _ = state.deliver(Self.delivery("two"), now: Self.now)
        _ = state.deliver(Self.delivery("three"), now: Self.now)
        _ = state.acknowledgePubrec(1, reasonCode: .success)
        state.isConnected = false
        state.isConnected = true
        var dropped: [Delivery] = []
        let actions = state.resume(now: Self.now, dropped: &dropped)
        #expect(actions.count == 2)
        guard case .pubrel(1) = actions[0], case .publish(let delivery, 2, true) = actions[1] else {
            Issue.record("expected PUBREL 1 then PUBLISH 2 with DUP, got \(actions)")
            return
        }
        #expect(String(buffer: delivery.message.payload) == "two")
        _ = state.acknowledgePubcomp(1)
        let more = state.fillWindow(now: Self.now, dropped: &dropped)
        guard case .publish(let queued, _, false)? = more.first else {
            Issue.record("the queued message should follow once the window opens")
            return
        }
        #expect(String(buffer: queued.message.payload) == "three")
    }

    @Test func incomingQoS2IdentifiersAreRememberedUntilPubrel() {
        var state = Self.state()
        do {
            let result = state.receiveQoS2(7)
            #expect(result)
        }
        do {
            let result = state.receiveQoS2(7)
            #expect(!result)
        }
        do {
            let result = state.releaseQoS2(7)
            #expect(result)
        }
        do {
            let result = state.releaseQoS2(7)
            #expect(!result)
        }
        do {
            let result = state.receiveQoS2(7)
            #expect(result)
        }
    }

    @Test func packetIdentifiersSkipThoseStillInFlight() {
        var state = Self.state(window: 3)
        _ = state.deliver(Self.delivery("a"), now: Self.now)
        _ = state.deliver(Self.delivery("b"), now: Self.now)
        _ = state.acknowledgePuback(2)
        var identifiers: [UInt16?] = []
        for _ in 0..<65_534 {
            identifiers.append(Self.sent(state.deliver(Self.delivery("x"), now: Self.now))?.1)
            if let last = identifiers.last, let last { _ = state.acknowledgePuback(last) }
        }
        #expect(!identifiers.contains(1))
        #expect(!identifiers.contains(0))
    }
}
