import MQTTCore
import NIOCore
import Synchronization

/// A client session, which outlives connections when the client asks for it.
///
/// Owned by the `SessionRegistry`; referenced by the router's subscription entries and by the
/// connection currently attached. Its state is touched from the attached connection's event loop
/// and from publishers' event loops, so it sits behind a mutex; critical sections only run
/// `SessionState` transitions and never write, call hooks or complete promises.
final class Session: Sendable {
    struct Guarded: Sendable {
        var protocolState: SessionState
        /// The connection the session is attached to, if any.
        var connection: ConnectionContext?
        /// The client as it last connected: whose read rules apply to messages queued while it
        /// is away, and whose user name a resuming connection must carry.
        var client: ClientInfo?
        /// Publishes the will after its delay; cancelled if the client comes back in time.
        var pendingWill: Scheduled<Void>?
        /// What `pendingWill` will do, kept so that a session ending early can publish it at once.
        var pendingWillPublisher: (@Sendable () -> Void)?
        /// Ends a detached session after its expiry interval.
        var expiry: Scheduled<Void>?
        /// Counts attachments, so that a timer armed for one detachment ignores later ones.
        var generation: UInt64 = 0
        /// Set once the registry has dropped the session; late deliveries are then discarded.
        var ended = false
    }

    let clientIdentifier: String
    /// The state's `sessionID`, readable without the lock.
    let sessionID: UInt64
    let guarded: Mutex<Guarded>

    init(clientIdentifier: String, state: SessionState) {
        self.clientIdentifier = clientIdentifier
        self.sessionID = state.sessionID
        self.guarded = Mutex(Guarded(protocolState: state))
    }

    func withState<Result>(_ body: (inout SessionState) -> Result) -> Result {
        guarded.withLock { body(&$0.protocolState) }
    }

    /// Like `withState(recordingInto:_:)`, but only while `connection` is the one attached;
    /// nil otherwise. After a takeover the old connection may still hold acknowledgements it
    /// read before it heard of it: acting on them would start new flights on a socket that is
    /// closing, and their slots would stay taken until the next reconnection. The new
    /// connection resent those messages with DUP, so their acknowledgements come again there.
    func withAttachedState<Result>(
        _ connection: ConnectionContext?, recordingInto changes: inout [PersistenceChange], _ body: (inout SessionState) -> Result
    ) -> Result? {
        let outcome = guarded.withLock { guarded -> (Result, [PersistenceChange])? in
            guard let connection, guarded.connection === connection, !guarded.ended else { return nil }
            let result = body(&guarded.protocolState)
            return (result, guarded.protocolState.takeChanges())
        }
        guard let (result, made) = outcome else { return nil }
        changes.append(contentsOf: made)
        return result
    }

    /// Runs `body` on the state and appends the changes it made for the store to `changes`,
    /// which the caller records in order with the rest of its read, after the lock is released.
    func withState<Result>(recordingInto changes: inout [PersistenceChange], _ body: (inout SessionState) -> Result) -> Result {
        let (result, made) = guarded.withLock { guarded in
            let result = body(&guarded.protocolState)
            return (result, guarded.protocolState.takeChanges())
        }
        changes.append(contentsOf: made)
        return result
    }
}
