import Foundation
import MQTTCore
import NIOCore

/// The stored state as `FilePersistence` last wrote it, kept in memory: replaying the log
/// builds it at start, every group of changes updates it as it is written, and compaction
/// writes it out as a fresh log. Each message is held once, with a count of the sessions and
/// retained topics that refer to it, and dropped when nothing does.
///
/// A plain value owned by `FilePersistence` behind its mutex.
struct PersistenceModel {
    struct Stored {
        var message: ApplicationMessage
        var expiresAt: Date?
        var references: Int
    }

    struct Delivery {
        var sequence: UInt64
        var qos: QoS
        var retain: Bool
        var subscriptionIdentifiers: [Int]
        var state: PersistedDelivery.State
    }

    struct Session {
        var header: PersistedSession.Header
        var disconnectedAt: Date?
        /// By message number; `sequence` keeps the routing order.
        var deliveries: [UInt64: Delivery] = [:]
        var incomingQoS2: Set<UInt16> = []
    }

    private(set) var messages: [UInt64: Stored] = [:]
    /// Message number of each message in `messages`, by the identity of the value handed in,
    /// so that every change naming one message refers to one stored copy.
    private var numbers: [ObjectIdentifier: UInt64] = [:]
    private var nextMessageID: UInt64 = 1
    private var nextSequence: UInt64 = 0
    private(set) var retained: [UTF8Key: UInt64] = [:]
    private(set) var sessions: [UInt64: Session] = [:]
    /// The session of each client identifier, to replace it when a new one starts.
    private var sessionOfClient: [UTF8Key: UInt64] = [:]
    /// Sessions that ended since the store opened. Numbers are never reused, so a change that
    /// crossed the end of its session on another event loop (a SUBSCRIBE saving the session
    /// again) is recognised and ignored.
    private var endedSessions: Set<UInt64> = []

    /// The number of `message`, if it is stored.
    func number(of message: ApplicationMessage) -> UInt64? {
        numbers[message.identity]
    }

    /// A new number for `message` and the record that stores it under that number (applying
    /// the record adds it), its expiry turned into wall-clock time.
    mutating func messageRecord(for message: ApplicationMessage, now: NIODeadline, wallClock: Date) -> (UInt64, StoreRecord) {
        let id = nextMessageID
        nextMessageID += 1
        let expiresAt = message.expiresAt.map { wallClock.addingTimeInterval(Double(($0 - now).nanoseconds) / 1e9) }
        return (id, .message(id: id, message, expiresAt: expiresAt))
    }

    func hasSession(_ sessionID: UInt64) -> Bool { sessions[sessionID] != nil }

    func hasEnded(_ sessionID: UInt64) -> Bool { endedSessions.contains(sessionID) }

    /// Applies one record. Returns false for one that refers to what is not stored (a session
    /// that ended, a message whose record was lost): it changes nothing.
    @discardableResult
    mutating func apply(_ record: StoreRecord) -> Bool {
        switch record {
        case .header:
            return true
        case .message(let id, let message, let expiresAt):
            // Identifiers count up from 1: the largest one is damage that passed the checksum
            // (the fuzzer made one), and the next identifier could not follow it.
            guard id < .max else { return false }
            if let old = messages[id] { numbers[old.message.identity] = nil }
            messages[id] = Stored(message: message, expiresAt: expiresAt, references: messages[id]?.references ?? 0)
            numbers[message.identity] = id
            nextMessageID = max(nextMessageID, id + 1)
            return true
        case .retain(let topic, let messageID):
            guard messages[messageID] != nil else { return false }
            if let previous = retained.updateValue(messageID, forKey: UTF8Key(topic)) { release(previous) }
            messages[messageID]?.references += 1
            return true
        case .removeRetained(let topic):
            if let previous = retained.removeValue(forKey: UTF8Key(topic)) { release(previous) }
            return true
        case .session(let header, let disconnectedAt):
            if header.expiryInterval == 0 { return apply(.sessionEnded(sessionID: header.sessionID)) }
            if sessions[header.sessionID] != nil {
                sessions[header.sessionID]?.header = header
                sessions[header.sessionID]?.disconnectedAt = disconnectedAt
            } else {
                // A session under the same client identifier is replaced by this one.
                if let previous = sessionOfClient[UTF8Key(header.clientIdentifier)], let session = sessions[previous] {
                    endSession(previous, session)
                }
                sessions[header.sessionID] = Session(header: header, disconnectedAt: disconnectedAt)
                sessionOfClient[UTF8Key(header.clientIdentifier)] = header.sessionID
            }
            return true
        case .sessionEnded(let sessionID):
            guard let session = sessions[sessionID] else { return false }
            endSession(sessionID, session)
            return true
        case .detached(let sessionID, let at):
            guard sessions[sessionID] != nil else { return false }
            sessions[sessionID]?.disconnectedAt = at
            return true
        case .queued(let sessionID, let messageID, let qos, let retain, let identifiers):
            guard sessions[sessionID] != nil, messages[messageID] != nil else { return false }
            if sessions[sessionID]?.deliveries[messageID] != nil { return true }
            sessions[sessionID]?.deliveries[messageID] = Delivery(
                sequence: nextSequence, qos: qos, retain: retain, subscriptionIdentifiers: identifiers, state: .queued)
            nextSequence += 1
            messages[messageID]?.references += 1
            return true
        case .sent(let sessionID, let messageID, let packetIdentifier):
            guard sessions[sessionID]?.deliveries[messageID] != nil else { return false }
            sessions[sessionID]?.deliveries[messageID]?.state = .sent(packetIdentifier: packetIdentifier)
            return true
        case .received(let sessionID, let messageID):
            guard case .sent(let packetIdentifier)? = sessions[sessionID]?.deliveries[messageID]?.state else { return false }
            sessions[sessionID]?.deliveries[messageID]?.state = .received(packetIdentifier: packetIdentifier)
            return true
        case .finished(let sessionID, let messageID):
            guard sessions[sessionID]?.deliveries.removeValue(forKey: messageID) != nil else { return false }
            release(messageID)
            return true
        case .incomingQoS2(let sessionID, let packetIdentifier):
            guard sessions[sessionID] != nil else { return false }
            sessions[sessionID]?.incomingQoS2.insert(packetIdentifier)
            return true
        case .releasedQoS2(let sessionID, let packetIdentifier):
            guard sessions[sessionID] != nil else { return false }
            sessions[sessionID]?.incomingQoS2.remove(packetIdentifier)
            return true
        }
    }

    private mutating func endSession(_ id: UInt64, _ session: Session) {
        sessions[id] = nil
        // Bounded: the crossing it guards against lasts microseconds.
        if endedSessions.count >= 100_000 { endedSessions.removeAll(keepingCapacity: true) }
        endedSessions.insert(id)
        if sessionOfClient[UTF8Key(session.header.clientIdentifier)] == id { sessionOfClient[UTF8Key(session.header.clientIdentifier)] = nil }
        for messageID in session.deliveries.keys { release(messageID) }
    }

    private mutating func release(_ messageID: UInt64) {
        guard let stored = messages[messageID] else { return }
        if stored.references <= 1 {
            messages[messageID] = nil
            numbers[stored.message.identity] = nil
        } else {
            messages[messageID]?.references -= 1
        }
    }

    /// Drops messages nothing refers to (their referring records were lost); returns how many.
    mutating func dropUnreferencedMessages() -> Int {
        let unreferenced = messages.filter { $0.value.references == 0 }
        for (id, stored) in unreferenced {
            messages[id] = nil
            numbers[stored.message.identity] = nil
        }
        return unreferenced.count
    }

    /// The records that rebuild this state from nothing: what compaction writes.
    func snapshotRecords(_ body: (StoreRecord) -> Void) {
        body(.header(formatVersion: StoreRecord.formatVersion))
        for (id, stored) in messages.sorted(by: { $0.key < $1.key }) where stored.references > 0 {
            body(.message(id: id, stored.message, expiresAt: stored.expiresAt))
        }
        for (topic, id) in retained { body(.retain(topic: topic.string, messageID: id)) }
        for (id, session) in sessions {
            body(.session(session.header, disconnectedAt: session.disconnectedAt))
            for (messageID, delivery) in session.deliveries.sorted(by: { $0.value.sequence < $1.value.sequence }) {
                body(.queued(
                    sessionID: id, messageID: messageID, qos: delivery.qos, retain: delivery.retain,
                    subscriptionIdentifiers: delivery.subscriptionIdentifiers))
                switch delivery.state {
                case .queued: break
                case .sent(let packetIdentifier):
                    body(.sent(sessionID: id, messageID: messageID, packetIdentifier: packetIdentifier))
                case .received(let packetIdentifier):
                    body(.sent(sessionID: id, messageID: messageID, packetIdentifier: packetIdentifier))
                    body(.received(sessionID: id, messageID: messageID))
                }
            }
            for packetIdentifier in session.incomingQoS2.sorted() {
                body(.incomingQoS2(sessionID: id, packetIdentifier: packetIdentifier))
            }
        }
    }

    /// The state as the broker restores it; message expiry is turned back into deadlines.
    func persistedState(now: NIODeadline, wallClock: Date) -> PersistedState {
        func restored(_ stored: Stored) -> ApplicationMessage {
            guard let expiresAt = stored.expiresAt else { return stored.message }
            var message = stored.message
            message.expiresAt = now + .nanoseconds(Int64(expiresAt.timeIntervalSince(wallClock) * 1e9))
            return message
        }
        let retainedMessages = retained.values.compactMap { messages[$0].map(restored) }
        let persistedSessions = sessions.values.map { session in
            let deliveries = session.deliveries.sorted(by: { $0.value.sequence < $1.value.sequence }).compactMap { messageID, delivery in
                messages[messageID].map {
                    PersistedDelivery(
                        message: restored($0), qos: delivery.qos, retain: delivery.retain,
                        subscriptionIdentifiers: delivery.subscriptionIdentifiers, state: delivery.state)
                }
            }
            return PersistedSession(
                header: session.header, disconnectedAt: session.disconnectedAt, deliveries: deliveries,
                incomingQoS2: session.incomingQoS2)
        }
        return PersistedState(retained: retainedMessages, sessions: persistedSessions)
    }
}
