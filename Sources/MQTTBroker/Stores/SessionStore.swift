/// Where persistent sessions are kept beyond the broker's memory.
///
/// The broker tells the store whenever a persistent session (one that outlives its
/// connection) is created or its subscriptions or expiry change, and when it ends; at start it
/// restores what `loadSessions` returns, so subscribers of persistent sessions keep receiving
/// (into their offline queues) across restarts. Calls come from event loops: implementations
/// record the change and persist it asynchronously rather than blocking.
public protocol SessionStore: Sendable {
    func saveSession(_ snapshot: SessionSnapshot)
    func removeSession(clientIdentifier: String)
    func loadSessions() -> [SessionSnapshot]
}

/// The durable part of a session: who it is, how long it lives, what it subscribed to.
/// (Queued messages are not part of it yet.)
public struct SessionSnapshot: Sendable, Hashable {
    public var clientIdentifier: String
    /// Seconds the session outlives its connection; `UInt32.max` means forever.
    public var expiryInterval: UInt32
    /// Filters as subscribed, shared ones with their `$share/group/` prefix.
    public var subscriptions: [String: SessionSubscription]
    /// The user the session belongs to: only the same user name resumes it, and messages
    /// queued for it are checked against that user's read rules.
    public var username: String?

    public init(
        clientIdentifier: String, expiryInterval: UInt32, subscriptions: [String: SessionSubscription], username: String? = nil
    ) {
        self.clientIdentifier = clientIdentifier
        self.expiryInterval = expiryInterval
        self.subscriptions = subscriptions
        self.username = username
    }
}
