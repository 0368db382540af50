import Foundation

/// MQTT over WebSocket at the chat's `/mqtt`: a browser MQTT client (MQTT.js, Paho JS) reaches
/// the chat's broker through the page's own origin, without a port of its own.
///
/// Each WebSocket gets its own TCP connection to the broker and the bytes are carried both ways
/// unchanged (binary frames in, binary frames out), so the browser's CONNECT, credentials and
/// every packet meet the broker's rules as any client's would; the broker sees the chat's
/// address as the peer. A value: one per chat service; `MQTTWebSocketRelayHandler` carries
/// each connection.
struct MQTTWebSocketRelay: Sendable {
    let host: String
    let port: Int

    /// The relay for a `mqtt://` broker URL; nil for `mqtts://` (the relay speaks plain TCP).
    init?(brokerURL: String) {
        guard let components = URLComponents(string: brokerURL), components.scheme?.lowercased() == "mqtt",
            let host = components.host, !host.isEmpty
        else { return nil }
        self.host = host
        self.port = components.port ?? 1883
    }

    /// The WebSocket subprotocols a browser MQTT client offers (MQTT 5 §6: `mqtt`; 3.1 clients
    /// `mqttv3.1`); the first one offered that the relay speaks, to echo in the upgrade.
    static func subprotocol(offered header: String?) -> String? {
        guard let header else { return nil }
        return header.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            .first { $0 == "mqtt" || $0 == "mqttv3.1" }
    }
}
