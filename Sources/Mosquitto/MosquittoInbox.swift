import Synchronization

/// Messages received and not yet taken by the consumer, bounded by `MosquittoConfiguration.ReceiveBuffer`.
///
/// The network thread pushes; the consumer's task takes. When the buffer is full the network
/// thread stops reading the socket (`hasRoom` is false), so a slow consumer slows the broker's
/// sending through TCP instead of growing this process. Reading resumes once the consumer has
/// taken the buffer down to half, which wakes the thread through `onRoom`.
///
/// State: `state`'s mutex; `onRoom` is called outside it.
final class MosquittoInbox: Sendable {
    private struct Waiter {
        var id: Int
        var continuation: CheckedContinuation<MosquittoMessage?, Never>
    }

    private struct State {
        var messages: [MosquittoMessage] = []
        /// Index of the oldest untaken message in `messages`; taken ones are dropped in batches.
        var head = 0
        var bytes = 0
        var waiters: [Waiter] = []
        var nextWaiterID = 0
        var finished = false
        /// Set when the network thread found the buffer full and stopped reading.
        var readerPaused = false

        var count: Int { messages.count - head }

        mutating func take() -> MosquittoMessage {
            let message = messages[head]
            head += 1
            bytes -= message.payload.count
            if head == messages.count {
                messages.removeAll(keepingCapacity: messages.count < 4096)
                head = 0
            } else if head >= 1024 && head * 2 >= messages.count {
                messages.removeFirst(head)
                head = 0
            }
            return message
        }
    }

    let limit: MosquittoConfiguration.ReceiveBuffer
    private let state = Mutex(State())
    private let onRoom: @Sendable () -> Void

    init(limit: MosquittoConfiguration.ReceiveBuffer, onRoom: @escaping @Sendable () -> Void) {
        self.limit = limit
        self.onRoom = onRoom
    }

    /// Whether the network thread may read more; if not, it is woken when there is room again.
    var hasRoom: Bool {
        state.withLock { state in
            let full = state.count >= limit.messages || state.bytes >= limit.bytes
            if full { state.readerPaused = true }
            return !full
        }
    }

    /// Queued messages and their payload bytes (for metrics and tests).
    var depth: (messages: Int, bytes: Int) { state.withLock { ($0.count, $0.bytes) } }

    func push(_ message: MosquittoMessage) {
        let waiter = state.withLock { state -> CheckedContinuation<MosquittoMessage?, Never>? in
            guard !state.finished else { return nil }
            if !state.waiters.isEmpty { return state.waiters.removeFirst().continuation }
            state.messages.append(message)
            state.bytes += message.payload.count
            return nil
        }
        waiter?.resume(returning: message)
    }

    /// Ends the sequence: waiting consumers get nil, later pushes are dropped. Messages
    /// already buffered are still handed out.
    func finish() {
        let waiters = state.withLock { state in
            state.finished = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.continuation.resume(returning: nil) }
    }

    func next() async -> MosquittoMessage? {
        let id = state.withLock { state in
            defer { state.nextWaiterID += 1 }
            return state.nextWaiterID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<MosquittoMessage?, Never>) in
                let (result, wake) = state.withLock { state -> (MosquittoMessage??, Bool) in
                    if state.count > 0 {
                        let message = state.take()
                        let wake = state.readerPaused && state.count <= limit.messages / 2 && state.bytes <= limit.bytes / 2
                        if wake { state.readerPaused = false }
                        return (.some(message), wake)
                    }
                    if state.finished || Task.isCancelled { return (.some(nil), false) }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return (nil, false)
                }
                if wake { onRoom() }
                if let result { continuation.resume(returning: result) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume(returning: nil)
        }
    }
}

/// The messages a `MosquittoClient` receives, in arrival order, as an `AsyncSequence`. The
/// client reads its socket only while the consumer keeps up (see `ReceiveBuffer`).
public struct MosquittoMessages: AsyncSequence, Sendable {
    public typealias Element = MosquittoMessage
    public typealias Failure = Never

    let inbox: MosquittoInbox

    public struct AsyncIterator: AsyncIteratorProtocol {
        let inbox: MosquittoInbox

        public mutating func next() async -> MosquittoMessage? { await inbox.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(inbox: inbox) }
}
