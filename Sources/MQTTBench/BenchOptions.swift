import MQTTCore

/// Everything a scenario can be told; each scenario reads the part it needs.
public struct BenchOptions: Sendable {
    public var qos: QoS = .atMostOnce
    public var payloadSize = 64
    /// Seconds measured, after `warmup` seconds that are not.
    public var duration: Double = 10
    public var warmup: Double = 2
    public var publishers = 8
    public var subscribers = 1
    /// Unacknowledged QoS 1/2 messages a publisher keeps in flight.
    public var window = 64
    /// Messages a publisher may have ahead of its slowest subscriber (0: no limit, the broker
    /// buffers or drops what it cannot deliver).
    public var backlog = 100
    /// Messages per second over all publishers; nil publishes flat out.
    public var rate: Double?
    public var connections = 10_000
    public var concurrency = 100
    public var topics = 50_000
    public var updates = 5_000
    /// The broker's process id: its resident memory is read from /proc.
    public var brokerPID: Int32?
    /// `%i` is replaced by the publisher's number.
    public var topic = "bench/%i"
    public var filter = "bench/#"
    public var clientPrefix = "parley-bench"
    /// Subscribers keep a persistent session (clean start off; v5 session expiry 300 s), so a
    /// broker with persistence stores what it routes to them: the cost of durability. Their
    /// sessions are cleared before and after the run.
    public var persistentSubscribers = false

    public init() {}
}
