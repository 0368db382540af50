/// The wire protocol a listener speaks (Mosquitto's `protocol` key).
///
/// Only plain MQTT over TCP is implemented. `protocol websockets` is rejected by the
/// parser with a ``ConfigurationError/Kind/unsupportedValue`` error until Parley
/// gains WebSocket support.
public enum ListenerProtocol: String, Sendable, Equatable, Hashable, CaseIterable {
    case mqtt
}
