import NIOCore
import PubSub
import Synchronization

/// Room messages read and encoded once for every page that shows them.
///
/// Each page session has its own PubSub subscription, so the hub hands the same message to
/// every page in the room. The first page to take it reads the wire format and encodes the
/// frame; the others find it here by PubSub's message id. A few hundred recent messages are
/// kept, which covers a burst reaching a few thousand pages. State: `state`'s mutex.
final class ChatFrameCache: Sendable {
    struct Frame: Sendable {
        let message: ChatMessage
        /// The frame's payload, shared by every page that writes it.
        let bytes: ByteBuffer
    }

    private struct State: Sendable {
        /// nil: the message is not a chat message (kept too, so it is not read again).
        var frames: [String: Frame?] = [:]
        var order: [String] = []
        var head = 0
    }

    private let capacity: Int
    private let maximumNameLength: Int
    private let state = Mutex(State())

    init(capacity: Int = 512, maximumNameLength: Int) {
        self.capacity = capacity
        self.maximumNameLength = maximumNameLength
    }

    func frame(for incoming: PubSubMessage) -> Frame? {
        if let cached = state.withLock({ $0.frames[incoming.id] }) { return cached }
        // Read outside the lock; two pages racing on a new message both read it, and the
        // first one stored wins, so every page shows the same frame (and time).
        let made = ChatWireFormat.message(from: incoming, maximumNameLength: maximumNameLength).map {
            Frame(message: $0, bytes: ChatEvent.message($0).frame)
        }
        return state.withLock { state in
            if let cached = state.frames[incoming.id] { return cached }
            state.frames[incoming.id] = .some(made)
            if state.order.count < capacity {
                state.order.append(incoming.id)
            } else {
                state.frames.removeValue(forKey: state.order[state.head])
                state.order[state.head] = incoming.id
                state.head = (state.head + 1) % capacity
            }
            return made
        }
    }
}
