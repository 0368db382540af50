import Synchronization

/// Weak references to the objects a test expects to be freed, by name, so a test can wait until
/// they are gone and report the ones that are not.
///
/// Objects are only ever held weakly here; the test must not keep strong references of its own
/// (local variables included) past the point where it expects them freed.
public final class WeakReferences: Sendable {
    private final class Box: @unchecked Sendable {
        weak var object: AnyObject?
        init(_ object: AnyObject) { self.object = object }
    }

    private let entries = Mutex<[(name: String, box: Box)]>([])

    public init() {}

    /// Follows `object` under `name` (several objects may share a name).
    public func watch(_ object: AnyObject, as name: String) {
        let box = Box(object)
        entries.withLock { $0.append((name, box)) }
    }

    /// How many objects are being followed, freed or not.
    public var count: Int { entries.withLock { $0.count } }

    /// Names of the followed objects still alive.
    public var alive: [String] {
        entries.withLock { $0.filter { $0.box.object != nil }.map(\.name) }
    }

    /// Waits until every followed object has been freed; returns the names of those still alive
    /// at the deadline (empty when all were freed).
    public func waitUntilFreed(timeout: Duration = .seconds(10)) async -> [String] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let remaining = alive
            if remaining.isEmpty { return [] }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return alive
    }
}
