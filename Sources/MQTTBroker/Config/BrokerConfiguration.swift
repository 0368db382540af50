/// What an embedded broker needs to run: listeners, security, limits. The `MosquittoConfig`
/// target reads these (and the process's other settings) from a Mosquitto-style file; a program
/// embedding the broker fills them in directly.
///
/// `BrokerConfiguration()` is the configuration used when Parley is started **without**
/// a configuration file: 0.0.0.0:1883, anonymous clients allowed.
///
/// Conventions for "no limit":
/// * Optional limits (`maxConnections`, `maxPacketSize`, `messageSizeLimit`,
///   `maxQueuedBytes`, `persistentClientExpiration`) use `nil` for "no limit".
/// * `maxInflightMessages` and `maxQueuedMessages` keep Mosquitto's convention:
///   `0` means unlimited.
/// * `maxKeepalive == 0` means clients may use keepalive 0 (no keepalive checks).
/// * `sysInterval == 0` disables the `$SYS` hierarchy.
/// * `maxTopicAlias == 0` disables topic aliases.
public struct BrokerConfiguration: Sendable, Equatable {
    /// Endpoints to accept connections on. Never empty in a parsed configuration.
    public var listeners: [ListenerConfiguration]

    /// Who may connect and what they may do (`allow_anonymous`, `password_file`, `acl_file`),
    /// for every listener unless ``perListenerSettings`` is set.
    public var security: SecuritySettings

    /// The file opened no listener (no `listener`, `port` or `bind_address` line): as in
    /// Mosquitto 2.0's local-only mode, the broker listens on 127.0.0.1:1883 only and, unless
    /// the file says otherwise, allows anonymous clients there. Debian's stock
    /// `/etc/mosquitto/mosquitto.conf` is such a file.
    public var isLocalOnly: Bool

    /// Mosquitto's `per_listener_settings`: each listener has its own
    /// ``ListenerConfiguration/security`` and ``security`` is not used.
    public var perListenerSettings: Bool

    /// Whether clients may connect without a username.
    ///
    /// * No configuration file: `true`, so `parley` with no arguments is usable out of
    ///   the box (as Mosquitto 2 is in its local-only mode).
    /// * With a configuration file: `false` unless the file says `allow_anonymous true`
    ///   (Mosquitto 2.0 behaviour), because a file normally opens non-local listeners.
    public var allowAnonymous: Bool {
        get { security.allowAnonymous }
        set { security.allowAnonymous = newValue }
    }

    /// The file-level `max_connections` (given before any `listener` line); `nil` means
    /// unlimited. Listeners that do not set their own value inherit it, and the parser
    /// has already copied it into them - the broker should read
    /// ``ListenerConfiguration/maxConnections``. In the file `-1` (any negative
    /// number) and `0` mean unlimited, as in Mosquitto.
    public var maxConnections: Int?

    /// Largest keepalive (seconds) a client may use; MQTT v5 clients asking for more
    /// (or for 0) are told to use this value, MQTT 3.1.1 clients asking for more are
    /// rejected. 0 means "no limit, keepalive 0 allowed".
    public var maxKeepalive: UInt16

    /// Largest MQTT packet accepted from clients (whole packet, bytes), advertised to
    /// MQTT v5 clients. `nil` = only the protocol limit (``protocolMaximumPacketSize``).
    public var maxPacketSize: UInt32?

    /// Largest PUBLISH payload accepted (bytes). `nil` = no limit beyond the protocol's
    /// 268435455 bytes. Oversized messages are dropped, but the QoS flow is completed.
    public var messageSizeLimit: UInt32?

    /// Outgoing QoS 1/2 messages in flight per client. 0 = unlimited.
    public var maxInflightMessages: Int

    /// Outgoing QoS 1/2 messages queued per client beyond those in flight.
    /// 0 = unlimited.
    public var maxQueuedMessages: Int

    /// Byte limit for the per-client queue; `nil` = no limit. When both queue limits
    /// are set, whichever is reached first applies.
    public var maxQueuedBytes: Int?

    /// Whether QoS 0 messages are queued for disconnected persistent sessions.
    public var queueQoS0Messages: Bool

    /// Whether a message matching several subscriptions of one client goes out once per
    /// subscription (`allow_duplicate_messages true`, MQTT-3.3.4-5 allows it) instead of once
    /// with every matching Subscription Identifier. libmosquitto up to 2.0.11 (Debian 12's)
    /// drops an MQTT 5 connection on a PUBLISH carrying more than one identifier. The store
    /// keeps one record per message and session, so after a restart at least one copy of each
    /// unacknowledged message comes back, not one per subscription.
    public var copyPerSubscription: Bool

    /// Whether retained messages are supported (advertised to MQTT v5 clients).
    public var retainAvailable: Bool

    /// Seconds between `$SYS` updates; 0 disables `$SYS` publishing.
    public var sysInterval: Int

    /// Event loops (threads) of the broker's own group; 0 means one per core. Ignored when the
    /// embedding program hands the broker its own group. Not a Mosquitto key (Mosquitto has
    /// one thread): set it to 1 to compare the two per core.
    public var threads: Int

    /// How long a disconnected persistent session is kept before it is removed;
    /// `nil` = never expire (Mosquitto's default).
    public var persistentClientExpiration: Duration?

    /// The file-level `max_topic_alias`; listeners inherit it unless they set their
    /// own (already resolved into ``ListenerConfiguration/maxTopicAlias``).
    public var maxTopicAlias: UInt16

    /// How long a new connection may stay silent before its CONNECT; then it is closed, so a
    /// socket that never speaks MQTT cannot hold a descriptor and its memory for ever.
    /// Not a Mosquitto key; embedding programs set it here.
    public var connectTimeout: Duration

    /// `persistence true`: retained messages and persistent sessions, with their queued and
    /// in-flight messages, are kept in a file there and survive restarts and crashes.
    /// `nil` keeps everything in memory.
    public var persistence: PersistenceSettings?

    /// `memory_limit`: while the process's resident memory is above this many bytes, new
    /// PUBLISHes are refused (v5: 0x97 Quota exceeded; 3.1.1: dropped) so that a flood cannot
    /// grow the broker without bound. `nil` = no limit.
    public var memoryLimit: Int?

    // MARK: - Constants

    /// The port of the default listener.
    public static let defaultPort = 1883
    /// Largest packet MQTT can encode: 1 fixed-header byte, 4 length bytes and
    /// 268435455 bytes of remaining length.
    public static let protocolMaximumPacketSize: UInt32 = 268_435_460
    /// Largest payload MQTT can carry.
    public static let protocolMaximumPayloadSize: UInt32 = 268_435_455
    public static let defaultMaxTopicAlias: UInt16 = 10

    // MARK: - Defaults

    /// The configuration used when no configuration file is given
    /// (listens on 0.0.0.0:1883, anonymous clients allowed).
    public init() {
        listeners = [
            ListenerConfiguration(port: Self.defaultPort, host: nil, isDefaultListener: true),
        ]
        security = SecuritySettings(allowAnonymous: true)
        perListenerSettings = false
        isLocalOnly = false
        maxConnections = nil
        maxKeepalive = 65535
        maxPacketSize = nil
        messageSizeLimit = nil
        maxInflightMessages = 20
        maxQueuedMessages = 1000
        maxQueuedBytes = nil
        queueQoS0Messages = false
        copyPerSubscription = false
        retainAvailable = true
        sysInterval = 10
        threads = 0
        persistentClientExpiration = nil
        maxTopicAlias = Self.defaultMaxTopicAlias
        connectTimeout = .seconds(20)
        persistence = nil
        memoryLimit = nil
    }

    /// Where local-only mode listens.
    public static let localOnlyHost = "127.0.0.1"

    /// The security settings in force on the listener at `index`.
    public func security(forListener index: Int) -> SecuritySettings {
        guard perListenerSettings else { return security }
        return listeners.indices.contains(index) ? listeners[index].security ?? SecuritySettings() : SecuritySettings()
    }

    // MARK: - Command line overrides

    /// Applies a command-line port (like `mosquitto -p PORT`): the default listener
    /// (the implicit 0.0.0.0:1883 one, or the one from the legacy `port` /
    /// `bind_address` keys) is replaced by one on `port`/`host`; listeners declared
    /// with `listener` lines are kept. The new listener uses the file-level
    /// `maxConnections` / `maxTopicAlias`.
    ///
    /// The caller must validate `port` (``ListenerConfiguration/validPorts``). If it
    /// collides with an explicit listener, binding will fail at startup; use
    /// ``ListenerConfiguration/conflicts(with:)`` to report that early.
    public mutating func overridePort(_ port: Int, host: String?) {
        if isLocalOnly {
            // A port on the command line opens a listener as a `listener` line would have:
            // beyond the loopback interface, anonymous clients are refused.
            isLocalOnly = false
            if host != Self.localOnlyHost && host != "::1" && host != "localhost" { allowAnonymous = false }
        }
        listeners.removeAll { $0.isDefaultListener }
        listeners.insert(
            ListenerConfiguration(
                port: port,
                host: host,
                maxConnections: maxConnections,
                maxTopicAlias: maxTopicAlias,
                isDefaultListener: true
            ),
            at: 0
        )
    }
}
