/// One network endpoint the broker accepts connections on.
///
/// Values in a parsed configuration are *effective* values: a listener that does not set
/// `max_connections` / `max_topic_alias` in its own block has already inherited the
/// file-level value (see ``BrokerConfiguration/maxConnections``), so the broker only
/// needs to look at the listener.
public struct ListenerConfiguration: Sendable, Equatable, Hashable {
    /// TCP port, 1...65535; 0 for a Unix socket listener.
    public var port: Int
    /// Address to bind to; `nil` means all interfaces (0.0.0.0 / ::).
    /// Kept exactly as written in the file (no name resolution happens while parsing).
    public var host: String?
    /// Wire protocol (Mosquitto's `protocol`). Named `protocolName` because `protocol`
    /// is a Swift keyword.
    public var protocolName: ListenerProtocol
    /// Maximum simultaneous connections on this listener; `nil` means unlimited.
    public var maxConnections: Int?
    /// Maximum number of topic aliases an MQTT v5 client may create on this listener;
    /// 0 disables topic aliases.
    public var maxTopicAlias: UInt16
    /// `true` for the listener that exists without a `listener` line: either the
    /// implicit 0.0.0.0:1883 listener or the one configured with the legacy `port` /
    /// `bind_address` keys. ``BrokerConfiguration/overridePort(_:host:)`` replaces it.
    public var isDefaultListener: Bool
    /// `listener 0 PATH`: a Unix domain socket at this path instead of a TCP port.
    public var unixSocketPath: String?
    /// TLS, when the listener has a `certfile` and `keyfile`.
    public var tls: ListenerTLSConfiguration?
    /// This listener's own `allow_anonymous`, `password_file` and `acl_file`, used only with
    /// `per_listener_settings true` (nil there means anonymous clients refused, no files).
    public var security: SecuritySettings?

    public init(
        port: Int,
        host: String? = nil,
        protocolName: ListenerProtocol = .mqtt,
        maxConnections: Int? = nil,
        maxTopicAlias: UInt16 = BrokerConfiguration.defaultMaxTopicAlias,
        isDefaultListener: Bool = false,
        security: SecuritySettings? = nil,
        unixSocketPath: String? = nil,
        tls: ListenerTLSConfiguration? = nil
    ) {
        self.port = port
        self.host = host
        self.protocolName = protocolName
        self.maxConnections = maxConnections
        self.maxTopicAlias = maxTopicAlias
        self.isDefaultListener = isDefaultListener
        self.security = security
        self.unixSocketPath = unixSocketPath
        self.tls = tls
    }

    /// A Unix socket listener at `path`.
    public static func unixSocket(_ path: String) -> ListenerConfiguration {
        ListenerConfiguration(port: 0, unixSocketPath: path)
    }

    /// How logs and errors name the listener.
    public var displayName: String {
        if let unixSocketPath { return unixSocketPath }
        let address = host.map { $0.contains(":") ? "[\($0)]" : $0 } ?? "0.0.0.0"
        return "\(address):\(port)"
    }

    /// Ports a listener may use.
    public static let validPorts: ClosedRange<Int> = 1...65535

    /// Whether both listeners would try to bind the same port on overlapping addresses.
    /// A wildcard host (`nil`, `0.0.0.0`, `::`) overlaps every address.
    public func conflicts(with other: ListenerConfiguration) -> Bool {
        if unixSocketPath != nil || other.unixSocketPath != nil { return unixSocketPath == other.unixSocketPath }
        guard port == other.port else { return false }
        if Self.isWildcard(host) || Self.isWildcard(other.host) { return true }
        return host == other.host
    }

    private static func isWildcard(_ host: String?) -> Bool {
        guard let host else { return true }
        return host.isEmpty || host == "0.0.0.0" || host == "::"
    }
}
