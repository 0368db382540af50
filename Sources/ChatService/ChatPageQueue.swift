import NIOCore
import Synchronization

/// What waits to be written to one page: a bounded queue with one consumer (the page's writer).
///
/// In place of an `AsyncStream`, whose buffer keeps the capacity of its longest backlog: after
/// a storm of joins every page held room for hundreds of inputs it no longer had (about 25 KiB
/// a page at 2,000 pages). This queue gives that room back once it has drained.
///
/// Producers are any task (PubSub hand-offs, presence, the page's reader); the consumer is the
/// writer task. State: `state`'s mutex; the waiting writer is resumed outside it.
final class ChatPageQueue<Element: Sendable>: Sendable {
    private struct State: Sendable {
        var items = CircularBuffer<Element>(initialCapacity: 4)
        var waiter: CheckedContinuation<Element?, Never>?
        var finished = false
    }

    /// Room kept when the queue drains; more is given back.
    private static var keptCapacity: Int { 16 }

    private let state = Mutex(State())
    let limit: Int

    init(limit: Int) {
        self.limit = limit
    }

    /// The room the queue holds now, for tests of its shrinking.
    var capacity: Int { state.withLock { $0.items.capacity } }

    enum PushResult {
        case queued
        /// The queue held `limit` items: the page is too far behind.
        case full
        case finished
    }

    /// Queues `element`, or hands it straight to a waiting writer.
    @discardableResult
    func push(_ element: Element) -> PushResult {
        let (result, waiter) = state.withLock { state -> (PushResult, CheckedContinuation<Element?, Never>?) in
            if state.finished { return (.finished, nil) }
            if let waiter = state.waiter {
                state.waiter = nil
                return (.queued, waiter)
            }
            guard state.items.count < limit else { return (.full, nil) }
            state.items.append(element)
            return (.queued, nil)
        }
        waiter?.resume(returning: element)
        return result
    }

    /// No more items: the writer gets what is queued, then nil.
    func finish() {
        let waiter = state.withLock { state -> CheckedContinuation<Element?, Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// The next item, waiting for one; nil once finished and drained, or when the waiting
    /// task is cancelled (a writer cut off because its page fell behind).
    func next() async -> Element? {
        switch take() {
        case .item(let element): return element
        case .finished: return nil
        case .empty: break
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Element?, Never>) in
                let now = state.withLock { state -> Taken in
                    let taken = Self.take(from: &state)
                    if case .empty = taken {
                        if Task.isCancelled { return .finished }
                        state.waiter = continuation
                    }
                    return taken
                }
                switch now {
                case .item(let element): continuation.resume(returning: element)
                case .finished: continuation.resume(returning: nil)
                case .empty: break
                }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Element?, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }
    }

    private enum Taken {
        case item(Element)
        case finished
        case empty
    }

    private func take() -> Taken { state.withLock { Self.take(from: &$0) } }

    private static func take(from state: inout State) -> Taken {
        guard !state.items.isEmpty else { return state.finished ? .finished : .empty }
        let first = state.items.removeFirst()
        if state.items.isEmpty && state.items.capacity > keptCapacity {
            state.items = CircularBuffer(initialCapacity: 4)
        }
        return .item(first)
    }
}
