/// The pluggable behaviour of a broker: who may connect, who may do what, who is told.
public struct BrokerHooks: Sendable {
    public var authenticator: any Authenticator
    public var authorizer: any Authorizer
    public var observers: [any BrokerObserver]
    public var retainedStore: any RetainedMessageStore
    /// Persistent sessions beyond memory; nil keeps them in memory only (Mosquitto's
    /// `persistence false`).
    public var sessionStore: (any SessionStore)?

    /// Defaults: anonymous clients per `allow_anonymous`, everything authorized, in-memory retained store.
    public init(
        authenticator: (any Authenticator)? = nil,
        authorizer: any Authorizer = AllowAllAuthorizer(),
        observers: [any BrokerObserver] = [],
        retainedStore: any RetainedMessageStore = InMemoryRetainedMessageStore(),
        sessionStore: (any SessionStore)? = nil
    ) {
        self.authenticator = authenticator ?? AnonymousAuthenticator()
        self.authorizer = authorizer
        self.observers = observers
        self.retainedStore = retainedStore
        self.sessionStore = sessionStore
    }

    /// Whether the caller supplied an authenticator; if not, the broker applies `allow_anonymous`.
    var usesDefaultAuthenticator: Bool { authenticator is AnonymousAuthenticator }
}
