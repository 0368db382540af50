/// The pluggable behaviour of a broker: who may connect, who may do what, who is told.
public struct BrokerHooks: Sendable {
    /// Checks beyond `allow_anonymous` and the password file; nil accepts whoever passed them.
    public var authenticator: (any Authenticator)?
    /// Rules beyond the ACL file: a client must pass both.
    public var authorizer: any Authorizer
    public var observers: [any BrokerObserver]
    public var retainedStore: any RetainedMessageStore
    /// Where retained messages and persistent sessions (with their queued and in-flight
    /// messages) survive restarts and crashes; nil keeps them in memory only (Mosquitto's
    /// `persistence false`). When nil and the configuration asks for persistence, the broker
    /// uses `FilePersistence` in `BrokerConfiguration.persistence`'s folder.
    public var persistence: (any BrokerPersistence)?

    /// Defaults: only the configuration's rules (`allow_anonymous`, password and ACL files),
    /// in-memory retained store.
    public init(
        authenticator: (any Authenticator)? = nil,
        authorizer: any Authorizer = AllowAllAuthorizer(),
        observers: [any BrokerObserver] = [],
        retainedStore: any RetainedMessageStore = InMemoryRetainedMessageStore(),
        persistence: (any BrokerPersistence)? = nil
    ) {
        self.authenticator = authenticator
        self.authorizer = authorizer
        self.observers = observers
        self.retainedStore = retainedStore
        self.persistence = persistence
    }
}
