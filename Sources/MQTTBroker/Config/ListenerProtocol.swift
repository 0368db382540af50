/// The wire protocol a listener speaks (Mosquitto's `protocol` key).
public enum ListenerProtocol: String, Sendable, Equatable, Hashable, CaseIterable {
    /// MQTT over TCP (or over TLS, or a Unix socket).
    case mqtt
    /// MQTT over WebSocket (subprotocol `mqtt`), as browsers and MQTT.js speak it.
    case websockets
}
