import NIOCore

/// What waits to be written to one page while its socket is full or a command of its is
/// running: bounded, and holding no storage when empty.
///
/// A growable buffer keeps the capacity of its longest backlog: after a storm of joins every
/// page would hold room for hundreds of inputs it no longer has (about 25 KiB a page at 2,000
/// pages). And storage allocated in the middle of a storm, to be kept after it, pins the
/// allocator's pages among the storm's freed ones. So the backlog lets its storage go whenever
/// it drains; most inputs never enter it (`ChatPageHandler` writes them at once). A value,
/// owned by the page's connection (on its event loop).
struct ChatPageBacklog<Element> {
    private var items: CircularBuffer<Element>?
    let limit: Int

    init(limit: Int) {
        self.limit = limit
    }

    var count: Int { items?.count ?? 0 }
    var isEmpty: Bool { items == nil }
    /// The room the backlog holds now: 0 when empty.
    var capacity: Int { items?.capacity ?? 0 }

    /// Adds `element` at the end; false when the backlog already holds `limit` items (the
    /// page is too far behind).
    mutating func append(_ element: Element) -> Bool {
        guard count < limit else { return false }
        if items == nil { items = CircularBuffer(initialCapacity: 4) }
        items!.append(element)
        return true
    }

    mutating func popFirst() -> Element? {
        guard var remaining = items else { return nil }
        items = nil
        let first = remaining.removeFirst()
        if !remaining.isEmpty { items = remaining }
        return first
    }

    mutating func removeAll() {
        items = nil
    }
}
