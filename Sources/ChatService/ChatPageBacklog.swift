import NIOCore

/// What waits to be written to one page while its socket is full or a command of its is
/// running: bounded, and giving its room back once drained.
///
/// A growable buffer keeps the capacity of its longest backlog: after a storm of joins every
/// page would hold room for hundreds of inputs it no longer has (about 25 KiB a page at 2,000
/// pages). A value, owned by the page's connection (`ChatPageHandler`, on its event loop).
struct ChatPageBacklog<Element> {
    private var items = CircularBuffer<Element>(initialCapacity: 4)
    let limit: Int

    /// Room kept when the backlog drains; more is given back.
    static var keptCapacity: Int { 16 }

    init(limit: Int) {
        self.limit = limit
    }

    var count: Int { items.count }
    var isEmpty: Bool { items.isEmpty }
    var capacity: Int { items.capacity }

    /// Adds `element` at the end; false when the backlog already holds `limit` items (the
    /// page is too far behind).
    mutating func append(_ element: Element) -> Bool {
        guard items.count < limit else { return false }
        items.append(element)
        return true
    }

    mutating func popFirst() -> Element? {
        guard !items.isEmpty else { return nil }
        let first = items.removeFirst()
        if items.isEmpty && items.capacity > Self.keptCapacity {
            items = CircularBuffer(initialCapacity: 4)
        }
        return first
    }

    mutating func removeAll() {
        items = CircularBuffer(initialCapacity: 4)
    }
}
