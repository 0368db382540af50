import MQTTCore
import NIOCore
import Synchronization

/// The default retained store: a tree of topic levels behind a mutex.
///
/// Payloads are copied once when retained so that a stored message does not pin the whole
/// read buffer its PUBLISH arrived in. A filter without wildcards is one walk down the tree;
/// a wildcard filter visits only the branches it matches, under the lock, and copies out
/// just the matching messages, so a retain never waits for (or pays for) a snapshot.
public final class InMemoryRetainedMessageStore: RetainedMessageStore {
    private let messages = Mutex(TopicTree<ApplicationMessage>())

    public init() {}

    public func retain(_ message: ApplicationMessage) {
        var stored = message
        stored.payload = ByteBuffer(bytes: message.payload.readableBytesView)
        stored.retain = true
        messages.withLock { $0.set(stored, at: message.topic) }
    }

    public func removeRetained(topic: String) {
        _ = messages.withLock { $0.remove(at: topic) }
    }

    public func retainedMessages(matching filter: String) -> [ApplicationMessage] {
        let filter = SharedSubscription(filter)?.topicFilter ?? filter
        if !TopicValidation.hasWildcards(filter) {
            return messages.withLock { $0.value(at: filter).map { [$0] } ?? [] }
        }
        return messages.withLock { tree in
            var matches: [ApplicationMessage] = []
            tree.forEachMatch(filter: filter) { matches.append($0) }
            return matches
        }
    }

    public var retainedCount: Int { messages.withLock { $0.count } }
}
