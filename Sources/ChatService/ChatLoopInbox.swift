import NIOCore
import Synchronization

/// Hands inputs from other threads to the pages of one event loop, many at a time.
///
/// A room message reaches every page in the room from the PubSub hub's thread. One hop onto
/// the event loop per page would wake the loop thousands of times per message (each hop is a
/// wake-up write); here inputs gather while a hop is pending, and one hop hands them all to
/// their pages, each of which then writes its socket once.
///
/// State: `pending`'s mutex, taken by delivering threads and once per hop by the loop; the
/// pages are called on the loop, outside it. One per event loop, kept by `ChatService`.
final class ChatLoopInbox: Sendable {
    typealias Route = NIOLoopBoundBox<ChatPageHandler?>

    private struct Pending: Sendable {
        var items: [(Route, ChatPageSession.Input)] = []
        /// Emptied storage from the last hand-over, reused so a busy room does not allocate
        /// a list per hop; kept up to `keptCapacity`.
        var spare: [(Route, ChatPageSession.Input)] = []
        var hopScheduled = false
    }

    private static var keptCapacity: Int { 1024 }

    let eventLoop: any EventLoop
    private let pending = Mutex(Pending())

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func deliver(_ input: ChatPageSession.Input, to route: Route) {
        let hop = pending.withLock { pending -> Bool in
            pending.items.append((route, input))
            defer { pending.hopScheduled = true }
            return !pending.hopScheduled
        }
        if hop { eventLoop.execute { self.handOver() } }
    }

    private func handOver() {
        var items = pending.withLock { pending in
            pending.hopScheduled = false
            defer {
                pending.items = pending.spare
                pending.spare = []
            }
            return pending.items
        }
        var written: [ChatPageHandler] = []
        for (route, input) in items {
            guard let page = route.value else { continue }
            if page.enqueue(input, flush: false) { written.append(page) }
        }
        for page in written { page.flush() }
        guard items.capacity <= Self.keptCapacity else { return }
        items.removeAll(keepingCapacity: true)
        pending.withLock { pending in
            if pending.spare.capacity < items.capacity { pending.spare = items }
        }
    }
}
