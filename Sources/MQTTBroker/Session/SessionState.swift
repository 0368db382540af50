import MQTTCore
import NIOCore

/// The protocol state of one client session: subscriptions, outgoing QoS 1/2 flows, the queue
/// behind them and incoming QoS 2 identifiers.
///
/// A plain value with no I/O: every transition returns the packets to write, so the rules can
/// be tested without a socket. It lives inside `Session`'s mutex; the caller writes the
/// returned actions after releasing it.
struct SessionState: Sendable {
    struct Limits: Sendable {
        /// The most QoS 1/2 messages awaiting acknowledgement: min(client's Receive Maximum,
        /// `max_inflight_messages`).
        var inflightWindow: Int
        /// `max_queued_messages`; 0 means unbounded.
        var maximumQueued: Int
        /// `max_queued_bytes`: payload bytes the queue may hold; nil means unbounded.
        var maximumQueuedBytes: Int?
        var queueQoS0WhileOffline: Bool
    }

    let clientIdentifier: String
    /// Unique per session and never reused: names the session in the broker's store.
    let sessionID: UInt64
    var limits: Limits
    /// Filters as subscribed (shared ones with their `$share/group/` prefix).
    var subscriptions: [UTF8Key: SessionSubscription] = [:]
    /// Seconds the session outlives its connection; `UInt32.max` means forever.
    var expiryInterval: UInt32
    var isConnected = false
    /// Set when the broker has a store: while the session is persistent (expiry above 0) its
    /// transitions then leave the changes to store in `changes`, for the owner to take.
    var recordsChanges = false
    private(set) var changes: [PersistenceChange] = []

    private(set) var inflight: [UInt16: InflightMessage] = [:]
    /// Starts with room for one: NIO's default of 16 deliveries costs kilobytes per session,
    /// and most sessions never queue anything.
    private(set) var queue = CircularBuffer<Delivery>(initialCapacity: 1)
    private(set) var queuedBytes = 0
    private var nextPacketIdentifier: UInt16 = 1
    private var nextSequence: UInt64 = 0
    /// Identifiers of incoming QoS 2 messages routed but not yet released by PUBREL.
    private(set) var incomingQoS2: Set<UInt16> = []

    init(clientIdentifier: String, sessionID: UInt64 = 0, limits: Limits, expiryInterval: UInt32) {
        self.clientIdentifier = clientIdentifier
        self.sessionID = sessionID
        self.limits = limits
        self.expiryInterval = expiryInterval
    }

    enum DeliveryOutcome: Sendable {
        case send(OutboundAction)
        case queued
        case dropped(DropReason)
    }

    /// `sessionID` when the store should hear of `delivery` as it is routed here (as
    /// `.queued`), else nil: a persistent session keeps what it must still send, QoS 0 only
    /// while it is away and `queue_qos0_messages` is on.
    func storedSessionID(for delivery: Delivery) -> UInt64? {
        let stores = persists && (delivery.qos != .atMostOnce || (!isConnected && limits.queueQoS0WhileOffline))
        return stores ? sessionID : nil
    }

    private var persists: Bool { recordsChanges && expiryInterval > 0 }

    /// Hands over the changes made since the last call.
    mutating func takeChanges() -> [PersistenceChange] {
        guard !changes.isEmpty else { return [] }
        defer { changes = [] }
        return changes
    }

    private mutating func finished(_ delivery: Delivery) {
        if persists { changes.append(.finished(sessionID: sessionID, message: delivery.message)) }
    }

    /// Decides what happens to a message routed to this session.
    mutating func deliver(_ delivery: Delivery, now: NIODeadline) -> DeliveryOutcome {
        let outcome = decide(delivery, now: now)
        switch outcome {
        case .dropped: finished(delivery)
        case .send(.publish(_, .none, _)): finished(delivery)
        case .send, .queued: break
        }
        return outcome
    }

    private mutating func decide(_ delivery: Delivery, now: NIODeadline) -> DeliveryOutcome {
        if delivery.message.isExpired(at: now) { return .dropped(.expired) }
        if isConnected {
            if delivery.qos == .atMostOnce { return .send(.publish(delivery, packetIdentifier: nil, duplicate: false)) }
            if inflight.count < limits.inflightWindow && queue.isEmpty {
                return .send(startFlight(delivery))
            }
        } else if delivery.qos == .atMostOnce && !limits.queueQoS0WhileOffline {
            return .dropped(.offlineQoS0)
        }
        guard limits.maximumQueued == 0 || queue.count < limits.maximumQueued else { return .dropped(.queueFull) }
        let size = delivery.message.payload.readableBytes
        if let maximumBytes = limits.maximumQueuedBytes, queuedBytes + size > maximumBytes { return .dropped(.queueFull) }
        queuedBytes += size
        queue.append(delivery)
        return .queued
    }

    private mutating func startFlight(_ delivery: Delivery) -> OutboundAction {
        let identifier = allocatePacketIdentifier()
        inflight[identifier] = InflightMessage(
            delivery: delivery, phase: delivery.qos == .atLeastOnce ? .awaitingPuback : .awaitingPubrec,
            sequence: nextSequence)
        nextSequence += 1
        if persists { changes.append(.sent(sessionID: sessionID, message: delivery.message, packetIdentifier: identifier)) }
        return .publish(delivery, packetIdentifier: identifier, duplicate: false)
    }

    private mutating func allocatePacketIdentifier() -> UInt16 {
        while inflight[nextPacketIdentifier] != nil {
            nextPacketIdentifier = nextPacketIdentifier == .max ? 1 : nextPacketIdentifier + 1
        }
        let identifier = nextPacketIdentifier
        nextPacketIdentifier = nextPacketIdentifier == .max ? 1 : nextPacketIdentifier + 1
        return identifier
    }

    /// Moves queued messages into flight while the window has room.
    mutating func fillWindow(now: NIODeadline, dropped: inout [Delivery]) -> [OutboundAction] {
        guard isConnected else { return [] }
        var actions: [OutboundAction] = []
        while inflight.count < limits.inflightWindow, let next = queue.popFirst() {
            queuedBytes -= next.message.payload.readableBytes
            if next.message.isExpired(at: now) {
                finished(next)
                dropped.append(next)
            } else if next.qos == .atMostOnce {
                finished(next)
                actions.append(.publish(next, packetIdentifier: nil, duplicate: false))
            } else {
                actions.append(startFlight(next))
            }
        }
        return actions
    }

    enum AcknowledgementResult: Equatable {
        case completed
        case unknownIdentifier
        /// The identifier is in flight, in the other QoS flow or a later step of it.
        case wrongFlow
    }

    /// A PUBACK arrived for a QoS 1 message.
    mutating func acknowledgePuback(_ identifier: UInt16) -> AcknowledgementResult {
        guard let message = inflight[identifier] else { return .unknownIdentifier }
        guard message.phase == .awaitingPuback else { return .wrongFlow }
        inflight[identifier] = nil
        finished(message.delivery)
        return .completed
    }

    /// A PUBREC arrived; a failure reason ends the flow (MQTT 5 §4.3.3), otherwise PUBREL follows.
    mutating func acknowledgePubrec(_ identifier: UInt16, reasonCode: ReasonCode) -> AcknowledgementResult {
        guard let message = inflight[identifier] else { return .unknownIdentifier }
        guard message.phase != .awaitingPuback else { return .wrongFlow }
        if reasonCode.isFailure {
            inflight[identifier] = nil
            finished(message.delivery)
        } else if message.phase == .awaitingPubrec {
            inflight[identifier]?.phase = .awaitingPubcomp
            if persists { changes.append(.received(sessionID: sessionID, message: message.delivery.message)) }
        }
        return .completed
    }

    /// A PUBCOMP arrived, ending a QoS 2 flow.
    mutating func acknowledgePubcomp(_ identifier: UInt16) -> AcknowledgementResult {
        guard let message = inflight[identifier] else { return .unknownIdentifier }
        guard message.phase == .awaitingPubcomp else { return .wrongFlow }
        inflight[identifier] = nil
        finished(message.delivery)
        return .completed
    }

    /// Records an incoming QoS 2 PUBLISH; false when it is a resend that was already routed.
    mutating func receiveQoS2(_ identifier: UInt16) -> Bool {
        let inserted = incomingQoS2.insert(identifier).inserted
        if inserted && persists { changes.append(.incomingQoS2(sessionID: sessionID, packetIdentifier: identifier)) }
        return inserted
    }

    /// Releases an incoming QoS 2 identifier on PUBREL; false if it was not held.
    mutating func releaseQoS2(_ identifier: UInt16) -> Bool {
        let removed = incomingQoS2.remove(identifier) != nil
        if removed && persists { changes.append(.releasedQoS2(sessionID: sessionID, packetIdentifier: identifier)) }
        return removed
    }

    /// The packets a resumed session resends, in their original order (MQTT 5 §4.4): PUBLISH
    /// with DUP for unacknowledged messages, PUBREL where PUBREC had arrived; then queued ones.
    mutating func resume(now: NIODeadline, dropped: inout [Delivery]) -> [OutboundAction] {
        var actions: [OutboundAction] = []
        for (identifier, message) in inflight.sorted(by: { $0.value.sequence < $1.value.sequence }) {
            switch message.phase {
            case .awaitingPuback, .awaitingPubrec:
                if message.delivery.message.isExpired(at: now) {
                    inflight[identifier] = nil
                    finished(message.delivery)
                    dropped.append(message.delivery)
                } else {
                    actions.append(.publish(message.delivery, packetIdentifier: identifier, duplicate: true))
                }
            case .awaitingPubcomp:
                actions.append(.pubrel(packetIdentifier: identifier))
            }
        }
        return actions + fillWindow(now: now, dropped: &dropped)
    }

    /// Forgets an in-flight message that could never be sent (e.g. too large for the client).
    mutating func abandon(_ identifier: UInt16) {
        if let message = inflight.removeValue(forKey: identifier) { finished(message.delivery) }
    }

    /// Puts back what a store kept: queued messages, and those in flight under their packet
    /// identifiers (resent with DUP, or PUBREL, when the client resumes).
    mutating func restore(_ deliveries: [PersistedDelivery], incomingQoS2 held: Set<UInt16>) {
        for stored in deliveries {
            let delivery = Delivery(
                message: stored.message, qos: stored.qos, retain: stored.retain,
                subscriptionIdentifiers: stored.subscriptionIdentifiers)
            switch stored.state {
            case .queued:
                queuedBytes += delivery.message.payload.readableBytes
                queue.append(delivery)
            case .sent(let identifier), .received(let identifier):
                let phase: InflightMessage.Phase
                if case .received = stored.state {
                    phase = .awaitingPubcomp
                } else {
                    phase = delivery.qos == .atLeastOnce ? .awaitingPuback : .awaitingPubrec
                }
                inflight[identifier] = InflightMessage(delivery: delivery, phase: phase, sequence: nextSequence)
                nextSequence += 1
                nextPacketIdentifier = identifier == .max ? 1 : identifier + 1
            }
        }
        incomingQoS2 = held
    }

    var queuedCount: Int { queue.count }
    var inflightCount: Int { inflight.count }
}
