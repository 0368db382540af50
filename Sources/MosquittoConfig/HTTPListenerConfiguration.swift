import MQTTBroker
/// The address of the chat's HTTP server, configured with the broker's file.
public struct HTTPListenerConfiguration: Sendable, Equatable {
    public static let defaultPort = 8080

    public var port: Int
    /// nil binds every interface.
    public var host: String?

    public init(port: Int = Self.defaultPort, host: String? = nil) {
        self.port = port
        self.host = host
    }
}
