import Synchronization

/// Tells the pages of each room who is online, as changes.
///
/// A page entering a room gets the whole list once; the pages already there get who joined and
/// who left since the last change. Changes are gathered for a while after the first one and
/// sent together, each frame encoded once for every page of the room: a thousand pages joining
/// at once cost a few frames per page, not a thousand lists of a thousand names each. The
/// while grows with the number of pages, from 100 ms to a second at 2,000, so a crowd's
/// comings and goings stay a few frames per second per page.
///
/// State: `state`'s mutex (what each room was last told, rooms with changes, pages waiting for
/// their first list). Delivery runs on the flush task, outside the lock.
final class ChatOnlineList: Sendable {
    typealias Users = @Sendable (String) -> [String]
    typealias Pages = @Sendable (String) -> [(id: String, deliver: @Sendable (ChatPageSession.Input) -> Void)]

    private struct State: Sendable {
        /// The names each room's pages were last told, in their order.
        var announced: [String: [String]] = [:]
        var dirty: Set<String> = []
        /// Pages that entered a room since the last flush: they get the whole list.
        var newcomers: [String: Set<String>] = [:]
        var flushScheduled = false
        var closed = false
    }

    private let users: Users
    private let pages: Pages
    /// Pages in rooms now, which sets how long changes are gathered.
    private let population: @Sendable () -> Int
    private let state = Mutex(State())

    init(users: @escaping Users, pages: @escaping Pages, population: @escaping @Sendable () -> Int) {
        self.users = users
        self.pages = pages
        self.population = population
    }

    private var window: Duration { .milliseconds(min(1000, 100 + population() * 9 / 20)) }

    /// Who is online in `room` changed (here or on another instance); `newcomer` is a page that
    /// has just entered it.
    func changed(_ room: String, newcomer: String? = nil) {
        changed([room], newcomer: newcomer)
    }

    func changed(_ rooms: Set<String>, newcomer: String? = nil) {
        let schedule = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            state.dirty.formUnion(rooms)
            if let newcomer, let room = rooms.first { state.newcomers[room, default: []].insert(newcomer) }
            defer { state.flushScheduled = true }
            return !state.flushScheduled
        }
        if schedule { scheduleFlush() }
    }

    private func scheduleFlush() {
        let window = self.window
        Task { [weak self] in
            try? await Task.sleep(for: window)
            self?.flush()
        }
    }

    func close() {
        state.withLock { $0.closed = true }
    }

    private func flush() {
        let (rooms, newcomers, previous) = state.withLock { state in
            defer {
                state.dirty = []
                state.newcomers = [:]
            }
            return (state.dirty, state.newcomers, state.dirty.reduce(into: [String: [String]]()) { $0[$1] = state.announced[$1] })
        }
        var announced: [String: [String]] = [:]
        for room in rooms {
            let now = users(room)
            announced[room] = now
            let before = previous[room] ?? []
            let fresh = newcomers[room] ?? []
            let targets = pages(room)
            if !fresh.isEmpty {
                let full = ChatPageSession.Input.roomFrame(room: room, frame: ChatEvent.online(room: room, users: now).frame)
                for page in targets where fresh.contains(page.id) { page.deliver(full) }
            }
            let beforeSet = Set(before)
            let nowSet = Set(now)
            let joined = now.filter { !beforeSet.contains($0) }
            let left = before.filter { !nowSet.contains($0) }
            guard !joined.isEmpty || !left.isEmpty else { continue }
            let change = ChatPageSession.Input.roomFrame(
                room: room, frame: ChatEvent.presence(room: room, joined: joined, left: left).frame)
            for page in targets where !fresh.contains(page.id) { page.deliver(change) }
        }
        // One flush at a time: changes made meanwhile wait for the next, which starts from
        // what this one announced.
        let again = state.withLock { state -> Bool in
            for (room, names) in announced {
                state.announced[room] = names.isEmpty ? nil : names
            }
            state.flushScheduled = !state.dirty.isEmpty && !state.closed
            return state.flushScheduled
        }
        if again { scheduleFlush() }
    }
}
