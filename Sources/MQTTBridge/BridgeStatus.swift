/// A bridge's link state and counters, as `Bridge.status` reports them.
public struct BridgeStatus: Sendable, Hashable {
    public var isConnected = false
    /// The address of the current (or last) link.
    public var address: String?
    /// Messages forwarded from this broker to the remote one.
    public var forwardedOut = 0
    /// Messages forwarded from the remote broker to this one.
    public var forwardedIn = 0
    /// Outgoing messages dropped: QoS 0 while the link was down, or beyond the queue bounds.
    public var dropped = 0
    /// Echoes of our own messages a 3.1.1 remote sent back, not forwarded again.
    public var echoesSuppressed = 0
    /// Whether the local broker is refusing incoming messages (over `memory_limit`), so the
    /// bridge has stopped reading from the remote until it takes them again.
    public var inboundStalled = false
    /// Incoming messages received from the remote and not yet published here.
    public var inboundQueued = 0

    public init() {}
}
