import Foundation

/// A message as a PubSub session receives it.
public struct PubSubMessage: Sendable, Hashable {
    /// The topic, or nil for the global channel.
    public var topic: String?
    public var payload: Data
    /// The sending session's id, when the sender was a PubSub session (nil for plain MQTT clients).
    public var sender: String?
    /// The message's `pubsub-id`; messages from plain MQTT clients get one when they arrive, so
    /// every session of a hub sees the same id for the same message.
    public var id: String
    /// MQTT 5 user properties besides PubSub's own `pubsub-*` ones (first value per name).
    public var userProperties: [String: String]

    public init(
        topic: String?, payload: Data, sender: String?, id: String = UUID().uuidString, userProperties: [String: String] = [:]
    ) {
        self.topic = topic
        self.payload = payload
        self.sender = sender
        self.id = id
        self.userProperties = userProperties
    }

    /// The payload as UTF-8 text.
    public var text: String { String(decoding: payload, as: UTF8.self) }

    /// The payload decoded from JSON.
    public func decode<T: Decodable>(_ type: T.Type = T.self) throws(PubSubError) -> T {
        do {
            return try JSONDecoder().decode(type, from: payload)
        } catch {
            throw PubSubError(.coding, "could not decode \(T.self) from the message: \(error)")
        }
    }
}
