import Mosquitto

/// What PubSub adds to an MQTT message: the payload stays the bare message, and the metadata
/// rides in MQTT 5 user properties, so `mosquitto_sub -v` shows readable text.
enum PubSubWireFormat {
    /// The hub (process) that published; a hub ignores its own messages if the broker echoes them.
    static let origin = "pubsub-origin"
    /// The session that sent the message; absent for plain MQTT publishers.
    static let sender = "pubsub-sender"
    /// A unique id per message, for tracing across processes.
    static let messageIdentifier = "pubsub-id"

    static func properties(
        origin: String, sender: String, messageIdentifier: String, extra: [String: String] = [:]
    ) -> MosquittoProperties {
        let own = [
            MosquittoUserProperty(Self.origin, origin),
            MosquittoUserProperty(Self.sender, sender),
            MosquittoUserProperty(Self.messageIdentifier, messageIdentifier),
        ]
        let application = extra.sorted { $0.key < $1.key }
            .filter { !isOwn($0.key) }
            .map { MosquittoUserProperty($0.key, $0.value) }
        return MosquittoProperties(userProperties: application + own)
    }

    static func isOwn(_ name: String) -> Bool { name.hasPrefix("pubsub-") }

    /// The application's user properties of a received message (PubSub's own left out).
    static func applicationProperties(of properties: MosquittoProperties) -> [String: String] {
        var result: [String: String] = [:]
        for pair in properties.userProperties where !isOwn(pair.name) && result[pair.name] == nil {
            result[pair.name] = pair.value
        }
        return result
    }
}
