import MQTTCore
import NIOCore
import Synchronization

/// The default retained store: a dictionary behind a mutex.
///
/// Payloads are copied once when retained so that a stored message does not pin the whole
/// read buffer its PUBLISH arrived in. A filter without wildcards is one lookup; a wildcard
/// filter scans every retained topic, which is fine for thousands of topics and is the first
/// thing to index if retained sets grow far beyond that.
public final class InMemoryRetainedMessageStore: RetainedMessageStore {
    private let messages = Mutex<[String: ApplicationMessage]>([:])

    public init() {}

    public func retain(_ message: ApplicationMessage) {
        var stored = message
        stored.payload = ByteBuffer(bytes: message.payload.readableBytesView)
        stored.retain = true
        messages.withLock { $0[message.topic] = stored }
    }

    public func removeRetained(topic: String) {
        _ = messages.withLock { $0.removeValue(forKey: topic) }
    }

    public func retainedMessages(matching filter: String) -> [ApplicationMessage] {
        if !TopicValidation.hasWildcards(filter) {
            return messages.withLock { $0[filter].map { [$0] } ?? [] }
        }
        let snapshot = messages.withLock { $0 }
        return snapshot.values.filter { TopicMatcher.matches(filter: filter, topic: $0.topic) }
    }

    public var retainedCount: Int { messages.withLock { $0.count } }
}
