import MQTTCore

/// One bridge (`connection NAME` block): a link from this broker to another one, described in
/// Mosquitto's vocabulary. Only data: the `MQTTBridge` target runs it (over libmosquitto, which
/// this module never links).
public struct BridgeConfiguration: Sendable, Equatable {
    /// Where to reach the remote broker.
    public struct Address: Sendable, Equatable, CustomStringConvertible {
        public var host: String
        public var port: Int

        public init(host: String, port: Int = 1883) {
            self.host = host
            self.port = port
        }

        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    public enum Direction: String, Sendable, Equatable, CaseIterable {
        /// Remote to local.
        case `in`
        /// Local to remote.
        case out
        case both

        public var forwardsIn: Bool { self != .out }
        public var forwardsOut: Bool { self != .in }
    }

    /// `topic PATTERN [DIRECTION [QOS [LOCAL_PREFIX REMOTE_PREFIX]]]`: messages matching
    /// `localPrefix + pattern` here are published as `remotePrefix + pattern` there, and the
    /// other way round.
    public struct Topic: Sendable, Equatable {
        public var pattern: String
        public var direction: Direction
        public var qos: QoS
        public var localPrefix: String
        public var remotePrefix: String

        public init(pattern: String, direction: Direction = .out, qos: QoS = .atMostOnce, localPrefix: String = "", remotePrefix: String = "") {
            self.pattern = pattern
            self.direction = direction
            self.qos = qos
            self.localPrefix = localPrefix
            self.remotePrefix = remotePrefix
        }

        public var localFilter: String { localPrefix + pattern }
        public var remoteFilter: String { remotePrefix + pattern }

        /// The remote topic for a local one this topic line matched.
        public func remoteTopic(forLocal topic: String) -> String {
            remotePrefix + topic.dropFirst(localPrefix.count)
        }

        public func localTopic(forRemote topic: String) -> String {
            localPrefix + topic.dropFirst(remotePrefix.count)
        }
    }

    public enum ProtocolVersion: String, Sendable, Equatable {
        case mqtt311 = "mqttv311"
        case mqtt5 = "mqttv50"
    }

    public struct TLS: Sendable, Equatable {
        public var caFile: String?
        public var caPath: String?
        public var certificateFile: String?
        public var keyFile: String?
        /// Skips the host name check (`bridge_insecure`); for tests only.
        public var insecure: Bool

        public init(caFile: String? = nil, caPath: String? = nil, certificateFile: String? = nil, keyFile: String? = nil, insecure: Bool = false) {
            self.caFile = caFile
            self.caPath = caPath
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.insecure = insecure
        }
    }

    public var name: String
    /// Tried in order; with `roundRobin` the next one after a lost link, otherwise the first
    /// one again whenever it answers (Mosquitto's failover semantics).
    public var addresses: [Address]
    public var roundRobin: Bool
    public var topics: [Topic]
    public var remoteClientIdentifier: String?
    public var remoteUsername: String?
    public var remotePassword: String?
    /// false keeps the session at the remote across reconnections, so QoS 1/2 in flight is
    /// neither lost nor, for QoS 2, repeated.
    public var cleanSession: Bool
    public var keepAlive: Int
    /// Reconnection delay: `base` seconds, growing to `cap` with jitter when a cap is set.
    public var restartTimeout: (base: Int, cap: Int?)
    public var protocolVersion: ProtocolVersion
    public var notifications: Bool
    public var notificationTopic: String?
    public var tryPrivate: Bool
    public var tls: TLS?

    public init(
        name: String, addresses: [Address] = [], roundRobin: Bool = false, topics: [Topic] = [],
        remoteClientIdentifier: String? = nil, remoteUsername: String? = nil, remotePassword: String? = nil,
        cleanSession: Bool = false, keepAlive: Int = 60, restartTimeout: (base: Int, cap: Int?) = (5, 30),
        protocolVersion: ProtocolVersion = .mqtt311, notifications: Bool = true, notificationTopic: String? = nil,
        tryPrivate: Bool = true, tls: TLS? = nil
    ) {
        self.name = name
        self.addresses = addresses
        self.roundRobin = roundRobin
        self.topics = topics
        self.remoteClientIdentifier = remoteClientIdentifier
        self.remoteUsername = remoteUsername
        self.remotePassword = remotePassword
        self.cleanSession = cleanSession
        self.keepAlive = keepAlive
        self.restartTimeout = restartTimeout
        self.protocolVersion = protocolVersion
        self.notifications = notifications
        self.notificationTopic = notificationTopic
        self.tryPrivate = tryPrivate
        self.tls = tls
    }

    /// Where the link state (`1` up, `0` down) is published, retained.
    public var stateTopic: String { notificationTopic ?? "$SYS/broker/connection/\(name)/state" }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.name == rhs.name && lhs.addresses == rhs.addresses && lhs.roundRobin == rhs.roundRobin
            && lhs.topics == rhs.topics && lhs.remoteClientIdentifier == rhs.remoteClientIdentifier
            && lhs.remoteUsername == rhs.remoteUsername && lhs.remotePassword == rhs.remotePassword
            && lhs.cleanSession == rhs.cleanSession && lhs.keepAlive == rhs.keepAlive
            && lhs.restartTimeout.base == rhs.restartTimeout.base && lhs.restartTimeout.cap == rhs.restartTimeout.cap
            && lhs.protocolVersion == rhs.protocolVersion && lhs.notifications == rhs.notifications
            && lhs.notificationTopic == rhs.notificationTopic && lhs.tryPrivate == rhs.tryPrivate && lhs.tls == rhs.tls
    }
}
