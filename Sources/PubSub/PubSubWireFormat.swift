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

    static func properties(origin: String, sender: String, messageIdentifier: String) -> MosquittoProperties {
        MosquittoProperties(userProperties: [
            MosquittoUserProperty(Self.origin, origin),
            MosquittoUserProperty(Self.sender, sender),
            MosquittoUserProperty(Self.messageIdentifier, messageIdentifier),
        ])
    }
}
