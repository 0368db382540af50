/// Why a PubSub operation failed, in terms a caller can act on.
public struct PubSubError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The broker URL could not be understood.
        case invalidBrokerURL
        /// The prefix cannot be used as a topic root (wildcards, a leading `$`, empty).
        case invalidPrefix
        /// The topic, once mapped onto MQTT, is longer than MQTT allows.
        case topicTooLong
        /// The broker could not be reached or refused the connection.
        case connectionFailed
        /// The hub was shut down.
        case hubClosed
        /// A message could not be encoded or decoded as JSON.
        case coding
        /// libmosquitto refused a publish or subscription.
        case transport
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
