import MQTTBridge
import MQTTBroker

/// Everything a Mosquitto-style configuration file sets for a `parley` process: the broker's
/// configuration, the bridges, where the chat is served, logging, and the process keys
/// (`pid_file`, `user`, `persistence`).
///
/// The broker's keys read and write through to ``broker`` (`configuration.maxKeepalive`), so
/// the file's vocabulary stays flat as it is in `mosquitto.conf`, while each part of Parley
/// receives only its own typed configuration.
@dynamicMemberLookup
public struct ParleyConfiguration: Sendable, Equatable {
    public var broker: BrokerConfiguration
    /// Bridges to other brokers (`connection` blocks), run by the `MQTTBridge` target.
    public var bridges: [BridgeConfiguration]
    /// Where `parley` serves its chat page (`http_listener PORT [ADDRESS]`).
    public var httpListener: HTTPListenerConfiguration
    /// Log categories to emit.
    public var logTypes: Set<LogType>
    /// Where to write log messages; empty = logging disabled (`log_dest none`).
    public var logDestinations: [LogDestination]
    /// Mosquitto's `persistence`: when true the broker keeps its state in
    /// ``persistenceSettings`` (copied into `broker.persistence`).
    public var persistence: Bool {
        didSet { broker.persistence = persistence ? persistenceSettings : nil }
    }
    /// `persistence_location`, `persistence_file` and `persistence_fsync`, in force when
    /// ``persistence`` is true, whichever order the file gives them in.
    public var persistenceSettings: PersistenceSettings {
        didSet { broker.persistence = persistence ? persistenceSettings : nil }
    }
    /// Mosquitto's `pid_file`: where `parley serve` writes its process id.
    public var pidFile: String?
    /// Mosquitto's `user` (drop privileges). Stored, but Parley ignores it (warning).
    public var user: String?

    /// The configuration without a file: the broker's defaults (0.0.0.0:1883, anonymous
    /// clients allowed), no bridges, the chat on port 8080, Mosquitto's default logging.
    public init(broker: BrokerConfiguration = BrokerConfiguration()) {
        self.broker = broker
        bridges = []
        httpListener = HTTPListenerConfiguration()
        logTypes = LogType.defaultTypes
        logDestinations = [.stderr]
        persistence = false
        persistenceSettings = PersistenceSettings()
        pidFile = nil
        user = nil
    }

    /// What a configuration file without any lines gives: Mosquitto 2.0's local-only mode
    /// (127.0.0.1:1883, anonymous clients allowed; see `BrokerConfiguration.isLocalOnly`). A
    /// file that opens a listener starts from the same values but refuses anonymous clients
    /// unless it allows them.
    public static var fileDefaults: ParleyConfiguration {
        var configuration = ParleyConfiguration()
        configuration.listeners = [
            ListenerConfiguration(
                port: BrokerConfiguration.defaultPort, host: BrokerConfiguration.localOnlyHost, isDefaultListener: true),
        ]
        configuration.isLocalOnly = true
        return configuration
    }

    public subscript<Value>(dynamicMember keyPath: WritableKeyPath<BrokerConfiguration, Value>) -> Value {
        get { broker[keyPath: keyPath] }
        set { broker[keyPath: keyPath] = newValue }
    }

    /// Like `mosquitto -p PORT`; see `BrokerConfiguration.overridePort(_:host:)`.
    public mutating func overridePort(_ port: Int, host: String?) {
        broker.overridePort(port, host: host)
    }
}
