import MQTTCore

/// The broker a benchmark runs against and how its clients connect to it.
public struct BenchTarget: Sendable {
    public var host: String
    public var port: Int
    public var version: ProtocolVersion
    public var username: String?
    public var password: String?
    /// Long enough that idle connections never need a PINGREQ during a run.
    public var keepAlive: UInt16

    public init(
        host: String = "127.0.0.1", port: Int = 1883, version: ProtocolVersion = .v3_1_1, username: String? = nil,
        password: String? = nil, keepAlive: UInt16 = 600
    ) {
        self.host = host
        self.port = port
        self.version = version
        self.username = username
        self.password = password
        self.keepAlive = keepAlive
    }
}
