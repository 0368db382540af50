import Foundation

/// A message as a PubSub session receives it.
public struct PubSubMessage: Sendable, Hashable {
    /// The topic, or nil for the global channel.
    public var topic: String?
    public var payload: Data
    /// The sending session's id, when the sender was a PubSub session (nil for plain MQTT clients).
    public var sender: String?

    public init(topic: String?, payload: Data, sender: String?) {
        self.topic = topic
        self.payload = payload
        self.sender = sender
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
