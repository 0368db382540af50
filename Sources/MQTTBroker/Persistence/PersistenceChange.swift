import Foundation
import MQTTCore

/// One change to what a broker must find again after a restart, in the order it happened.
///
/// The broker hands a store these in groups (`BrokerPersistence.record`): everything one read
/// of one connection changed, before that read's acknowledgements go out. Messages travel as
/// values: every change that names the same `ApplicationMessage` (same ``ApplicationMessage/identity``)
/// means one stored message, so a message queued for a thousand sessions is stored once.
public enum PersistenceChange: Sendable {
    /// The retained message of `message.topic` is now `message`.
    case retain(ApplicationMessage)
    /// The topic has no retained message any more.
    case removeRetained(topic: String)
    /// A persistent session was created or changed (subscriptions, expiry, user, reconnection).
    /// A session whose expiry is 0 is no longer persistent: the store forgets it.
    case session(PersistedSession.Header)
    /// The session ended (expired, replaced by a clean start, or its expiry set to 0).
    case sessionEnded(sessionID: UInt64)
    /// The session's client went away at `at`; its expiry interval runs from then.
    case detached(sessionID: UInt64, at: Date)
    /// A message was routed to the session: queued, or about to be sent.
    case queued(sessionID: UInt64, PersistedDelivery)
    /// The message went out with `packetIdentifier` (PUBLISH written, QoS 1 or 2).
    case sent(sessionID: UInt64, message: ApplicationMessage, packetIdentifier: UInt16)
    /// PUBREC arrived for the message: it was received; PUBREL/PUBCOMP remain.
    case received(sessionID: UInt64, message: ApplicationMessage)
    /// The session is done with the message: acknowledged, expired or dropped.
    case finished(sessionID: UInt64, message: ApplicationMessage)
    /// An incoming QoS 2 PUBLISH was routed; its identifier is held until PUBREL.
    case incomingQoS2(sessionID: UInt64, packetIdentifier: UInt16)
    /// PUBREL released an incoming QoS 2 identifier.
    case releasedQoS2(sessionID: UInt64, packetIdentifier: UInt16)
}
