import Foundation

/// A message received from the broker.
public struct MosquittoMessage: Sendable, Hashable {
    public var topic: String
    public var payload: Data
    public var qos: Int
    public var retain: Bool
    public var properties: MosquittoProperties

    public init(topic: String, payload: Data, qos: Int = 0, retain: Bool = false, properties: MosquittoProperties = .init()) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
    }
}
