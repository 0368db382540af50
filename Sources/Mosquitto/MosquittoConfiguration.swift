import Foundation

/// How a `MosquittoClient` reaches its broker.
public struct MosquittoConfiguration: Sendable {
    public enum ProtocolVersion: Sendable {
        case v3_1_1
        case v5
    }

    /// A will the broker publishes if the client disappears: a message like any other.
    public typealias Will = MosquittoMessage

    /// Certificate files for TLS, as Mosquitto's `--cafile`, `--cert`, `--key`.
    public struct TLS: Sendable {
        public var caFile: String?
        public var caPath: String?
        public var certificateFile: String?
        public var keyFile: String?
        /// Skips host name verification (`--insecure`); for tests only.
        public var insecure: Bool

        public init(caFile: String? = nil, caPath: String? = nil, certificateFile: String? = nil, keyFile: String? = nil, insecure: Bool = false) {
            self.caFile = caFile
            self.caPath = caPath
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.insecure = insecure
        }
    }

    /// How much received input may wait for the consumer of `MosquittoClient.messages`. Once
    /// either bound is reached the client stops reading its socket until the consumer has taken
    /// half of it, so a slow consumer holds the broker back through TCP instead of growing this
    /// process. libmosquitto acknowledges a QoS 1/2 message before handing it over, so what sits
    /// here is the part a crash of this process can lose: keep it small where that matters.
    public struct ReceiveBuffer: Sendable, Hashable {
        public var messages: Int
        public var bytes: Int

        public init(messages: Int = 1000, bytes: Int = 16 << 20) {
            self.messages = max(messages, 1)
            self.bytes = max(bytes, 1)
        }
    }

    public var host: String
    public var port: Int
    public var clientIdentifier: String
    public var keepAlive: Int
    public var cleanSession: Bool
    /// MQTT 5 Session Expiry Interval (seconds) sent in CONNECT; with `cleanSession` false it
    /// keeps the session after a disconnect. Ignored under 3.1.1, where a non-clean session
    /// lasts until the broker expires it.
    public var sessionExpiryInterval: UInt32?
    public var protocolVersion: ProtocolVersion
    public var username: String?
    public var password: String?
    public var will: Will?
    public var tls: TLS?
    /// Reconnection back-off: first delay and the most it grows to (seconds, doubling).
    public var reconnectDelay: ClosedRange<Int>
    public var receiveBuffer: ReceiveBuffer

    public init(
        host: String = "127.0.0.1", port: Int = 1883, clientIdentifier: String = "parley-" + UUID().uuidString.prefix(8),
        keepAlive: Int = 30, cleanSession: Bool = true, sessionExpiryInterval: UInt32? = nil, protocolVersion: ProtocolVersion = .v5,
        username: String? = nil, password: String? = nil, will: Will? = nil, tls: TLS? = nil,
        reconnectDelay: ClosedRange<Int> = 1...30, receiveBuffer: ReceiveBuffer = .init()
    ) {
        self.host = host
        self.port = port
        self.clientIdentifier = clientIdentifier
        self.keepAlive = keepAlive
        self.cleanSession = cleanSession
        self.sessionExpiryInterval = sessionExpiryInterval
        self.protocolVersion = protocolVersion
        self.username = username
        self.password = password
        self.will = will
        self.tls = tls
        self.reconnectDelay = reconnectDelay
        self.receiveBuffer = receiveBuffer
    }
}
