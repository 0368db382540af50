import Foundation
import MQTTCore

/// What a store gives back at start: the retained messages and the persistent sessions with
/// their queues, flights and held identifiers.
public struct PersistedState: Sendable {
    public var retained: [ApplicationMessage]
    public var sessions: [PersistedSession]

    public init(retained: [ApplicationMessage] = [], sessions: [PersistedSession] = []) {
        self.retained = retained
        self.sessions = sessions
    }
}

/// A persistent session as stored.
public struct PersistedSession: Sendable {
    /// Who the session is and how it lives: changes with CONNECT, SUBSCRIBE and UNSUBSCRIBE.
    public struct Header: Sendable, Hashable {
        /// Unique per session, never reused: a later session under the same client identifier
        /// gets a new one, so late changes for an ended session cannot touch its successor.
        public var sessionID: UInt64
        public var clientIdentifier: String
        /// Seconds the session outlives its connection; `UInt32.max` means forever.
        public var expiryInterval: UInt32
        /// The user it belongs to: only that user resumes it, and its queue is checked against
        /// that user's read rules.
        public var username: String?
        /// Filters as subscribed, shared ones with their `$share/group/` prefix.
        public var subscriptions: [UTF8Key: SessionSubscription]

        public init(
            sessionID: UInt64, clientIdentifier: String, expiryInterval: UInt32, username: String? = nil,
            subscriptions: [UTF8Key: SessionSubscription] = [:]
        ) {
            self.sessionID = sessionID
            self.clientIdentifier = clientIdentifier
            self.expiryInterval = expiryInterval
            self.username = username
            self.subscriptions = subscriptions
        }
    }

    public var header: Header
    /// When the client went away; nil if it was connected when the broker stopped (its expiry
    /// then runs from the restart, as in Mosquitto).
    public var disconnectedAt: Date?
    /// Messages for the session in the order they were routed: queued ones, and those in flight
    /// (with their packet identifier).
    public var deliveries: [PersistedDelivery]
    /// Incoming QoS 2 identifiers awaiting PUBREL: a resend of one is acknowledged, not routed again.
    public var incomingQoS2: Set<UInt16>

    public init(header: Header, disconnectedAt: Date? = nil, deliveries: [PersistedDelivery] = [], incomingQoS2: Set<UInt16> = []) {
        self.header = header
        self.disconnectedAt = disconnectedAt
        self.deliveries = deliveries
        self.incomingQoS2 = incomingQoS2
    }
}

/// One message held for one session.
public struct PersistedDelivery: Sendable {
    public enum State: Sendable, Hashable {
        /// Not sent yet.
        case queued
        /// PUBLISH sent with this identifier, no PUBACK/PUBREC yet: resent with DUP.
        case sent(packetIdentifier: UInt16)
        /// PUBREC arrived: PUBREL is resent.
        case received(packetIdentifier: UInt16)
    }

    public var message: ApplicationMessage
    /// The QoS the subscriber gets: min(published, granted).
    public var qos: QoS
    /// The retain flag as the subscriber sees it.
    public var retain: Bool
    public var subscriptionIdentifiers: [Int]
    public var state: State

    public init(message: ApplicationMessage, qos: QoS, retain: Bool, subscriptionIdentifiers: [Int] = [], state: State = .queued) {
        self.message = message
        self.qos = qos
        self.retain = retain
        self.subscriptionIdentifiers = subscriptionIdentifiers
        self.state = state
    }
}
