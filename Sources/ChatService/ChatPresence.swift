import Foundation
import Logging
import Mosquitto
import PubSub
import Synchronization

/// Who is online in each room, across every chat instance on the broker.
///
/// Each instance keeps one retained message, `<prefix>-presence/<instance>`, listing its own
/// users per room, and clears it with its will if it dies; every instance subscribes to all of
/// them. Retained messages give a newcomer the full picture at once, and the will keeps a crashed
/// instance's users from lingering. The lists ride outside the room topics so `mosquitto_sub -t
/// 'chat/#'` shows only the conversation.
///
/// State lives in one mutex (`state`): this instance's users (edited by page sessions' tasks) and
/// the other instances' lists (edited by the receive task). Publishing runs on its own task,
/// which always sends the newest list, so lists never overtake one another.
final class ChatPresence: Sendable {
    /// A room's list changed (the room names are given); called outside any lock.
    typealias ChangeHandler = @Sendable (Set<String>) -> Void

    let instanceID: String
    let topic: String
    private let filter: String
    private let client: MosquittoClient
    private let logger: Logger
    private let state = Mutex(State())
    private let dirty: AsyncStream<Void>.Continuation
    private let tasks = Mutex<[Task<Void, Never>]>([])

    private struct State: Sendable {
        /// This instance: room → name → sessions using it (one person may have several tabs).
        var local: [String: [String: Int]] = [:]
        /// Other instances: instance → room → names.
        var remote: [String: [String: Set<String>]] = [:]
        var onChange: ChangeHandler?
    }

    private struct Snapshot: Codable {
        var rooms: [String: [String]]
    }

    init(broker: String, prefix: String, logger: Logger) throws {
        instanceID = UUID().uuidString.lowercased()
        topic = "\(prefix)/\(instanceID)"
        filter = "\(prefix)/+"
        self.logger = logger
        var configuration = try PubSubHub.configuration(for: broker)
        configuration.clientIdentifier = "chat-presence-" + instanceID.prefix(8)
        configuration.will = MosquittoMessage(topic: topic, payload: Data(), qos: 1, retain: true)
        client = try MosquittoClient(configuration: configuration)
        let (signals, dirty) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        self.dirty = dirty
        let publisher = Task { [self] in
            for await _ in signals {
                publishSnapshot()
                // At most four lists a second: under a crowd joining, each change would
                // otherwise encode and send every name of this instance again.
                try? await Task.sleep(for: .milliseconds(250))
            }
        }
        tasks.withLock { $0.append(publisher) }
    }

    /// Connects, learns the other instances' lists and publishes this one's (empty) list.
    func start(onChange: @escaping ChangeHandler) async throws {
        state.withLock { $0.onChange = onChange }
        let receiver = Task { [self] in await receive() }
        let watcher = Task { [self] in
            // A broker that restarted without persistence has forgotten our retained list.
            for await event in client.events {
                if case .connected = event { dirty.yield() }
            }
        }
        tasks.withLock { $0 += [receiver, watcher] }
        try await client.connect()
        try await client.subscribe(filter, qos: 1)
        dirty.yield()
    }

    /// Clears this instance's list at the broker and disconnects.
    func stop() async {
        dirty.finish()
        try? await client.publish(topic, payload: Data(), qos: 1, retain: true)
        await client.disconnect()
        for task in tasks.withLock({ $0 }) { await task.value }
    }

    func add(_ name: String, to room: String) {
        state.withLock { $0.local[room, default: [:]][name, default: 0] += 1 }
        dirty.yield()
    }

    func remove(_ name: String, from room: String) {
        state.withLock { state in
            guard let count = state.local[room]?[name] else { return }
            state.local[room]?[name] = count > 1 ? count - 1 : nil
            if state.local[room]?.isEmpty == true { state.local[room] = nil }
        }
        dirty.yield()
    }

    /// Everyone online in `room`, on every instance, sorted without regard to case (the sort
    /// runs on plain lower-cased keys: a locale-aware comparison costs too much for thousands
    /// of names at every change; the page orders by its own locale anyway).
    func users(in room: String) -> [String] {
        let names = state.withLock { state in
            var names = Set(state.local[room].map { Array($0.keys) } ?? [])
            for rooms in state.remote.values { names.formUnion(rooms[room] ?? []) }
            return names
        }
        return names.map { (key: $0.lowercased(), name: $0) }
            .sorted { $0.key != $1.key ? $0.key < $1.key : $0.name < $1.name }
            .map(\.name)
    }

    private func publishSnapshot() {
        let snapshot = state.withLock { state in
            Snapshot(rooms: state.local.mapValues { $0.keys.sorted() })
        }
        guard let payload = try? JSONEncoder().encode(snapshot) else { return }
        do {
            try client.send(topic, payload: payload, qos: 1, retain: true)
        } catch {
            logger.warning("chat: could not publish who is online: \(error)")
        }
    }

    private func receive() async {
        let prefix = String(filter.dropLast(1))
        for await message in client.messages {
            guard message.topic.hasPrefix(prefix) else { continue }
            let instance = String(message.topic.dropFirst(prefix.count))
            guard instance != instanceID else { continue }
            let rooms: [String: Set<String>]
            if message.payload.isEmpty {
                rooms = [:]
            } else if let snapshot = try? JSONDecoder().decode(Snapshot.self, from: message.payload) {
                rooms = snapshot.rooms.mapValues(Set.init)
            } else {
                logger.debug("chat: ignoring an unreadable presence list on \(message.topic)")
                continue
            }
            let (changed, handler) = state.withLock { state -> (Set<String>, ChangeHandler?) in
                let old = state.remote[instance] ?? [:]
                state.remote[instance] = rooms.isEmpty ? nil : rooms
                let changed = Set(old.keys).union(rooms.keys).filter { old[$0] != rooms[$0] }
                return (changed, state.onChange)
            }
            if !changed.isEmpty { handler?(changed) }
        }
    }
}
