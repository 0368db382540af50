import MQTTCore
import Synchronization

/// Client identifier to session, for takeover and resumption.
///
/// Owned by `Broker`. A dictionary behind a mutex; callers get the session out and work on it
/// after the lock is released. Keyed by the identifier's bytes: two clients whose identifiers
/// differ only in Unicode normalization are two clients, as in Mosquitto.
final class SessionRegistry: Sendable {
    private let sessions = Mutex<[UTF8Key: Session]>([:])

    /// Returns the session to attach for a CONNECT: the existing one when resuming, otherwise
    /// a new one from `make`, which then replaces any existing one (returned as `replaced`).
    func checkOut(
        clientIdentifier: String, cleanStart: Bool, make: () -> Session
    ) -> (session: Session, resumed: Bool, replaced: Session?) {
        sessions.withLock { sessions in
            if !cleanStart, let existing = sessions[UTF8Key(clientIdentifier)] {
                return (existing, true, nil)
            }
            let session = make()
            let replaced = sessions.updateValue(session, forKey: UTF8Key(clientIdentifier))
            return (session, false, replaced)
        }
    }

    /// Whether a session is registered under the client's identifier for a different user name.
    func belongsToAnotherUser(_ client: ClientInfo) -> Bool {
        guard let existing = sessions.withLock({ $0[UTF8Key(client.clientIdentifier)] }) else { return false }
        guard let owner = existing.guarded.withLock({ $0.client }) else { return false }
        // By bytes, as Mosquitto compares user names.
        switch (owner.username, client.username) {
        case (nil, nil): return false
        case (let a?, let b?): return !a.hasSameBytes(as: b)
        default: return true
        }
    }

    /// Removes `session` if it is still the one registered under its identifier.
    @discardableResult
    func remove(_ session: Session) -> Bool {
        sessions.withLock { sessions in
            let key = UTF8Key(session.clientIdentifier)
            guard sessions[key] === session else { return false }
            sessions[key] = nil
            return true
        }
    }

    var count: Int { sessions.withLock { $0.count } }

    var all: [Session] { sessions.withLock { Array($0.values) } }
}
