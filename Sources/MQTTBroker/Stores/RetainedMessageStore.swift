import MQTTCore

/// Where retained messages live. The broker calls it on the publisher's event loop and on
/// subscribe, so implementations must be fast and thread-safe; a durable store persists
/// asynchronously (write-behind) rather than blocking these calls.
public protocol RetainedMessageStore: Sendable {
    /// Stores `message` as the retained message of its topic, replacing any previous one.
    func retain(_ message: ApplicationMessage)
    /// Removes the retained message of `topic` (a PUBLISH with an empty retained payload).
    func removeRetained(topic: String)
    /// The retained messages whose topics match `filter`.
    func retainedMessages(matching filter: String) -> [ApplicationMessage]
    /// How many retained messages are stored, for `$SYS/broker/retained messages/count`.
    var retainedCount: Int { get }
}
