/// Hands memory freed by departed connections back to the operating system.
///
/// Trimming is process-wide, so each server part that holds connections (the broker's MQTT
/// connections, the chat's pages) runs its own reclaimer over its own count; they need no
/// coordination.
///
/// glibc's allocator keeps freed memory in its arenas, so after a storm of connections the
/// broker's resident size stays at the storm's peak even though every connection's objects are
/// gone. Once the number of open connections has fallen well below the peak seen since the last
/// reclaim and stayed there for a tick (so that what the departures set in motion, such as
/// goodbye messages, has drained), `malloc_trim(0)` returns the unused pages: the process comes
/// back to about the memory it started with. Trimming walks the heap while holding the allocator's locks, so it runs
/// only after such a fall, never on a timer alone.
///
/// Owned by whoever ticks it (the broker's repeated task, the chat's reclaiming task); the state
/// is that owner's alone.
/// `malloc_trim` is looked up at run time: on a C library without it the reclaimer does nothing.
public struct MemoryReclaimer: Sendable {
    /// Open connections at the busiest point since the last reclaim.
    private var peak = 0
    /// The count at the previous tick: a trim waits until the count holds still.
    private var previous = 0

    public init() {}
    /// A fall smaller than this is not worth a trim.
    public static let minimumFall = 256

    private typealias Trim = @convention(c) (Int) -> Int32
    private static let trim = cLibraryFunction("malloc_trim", as: Trim.self)

    /// Whether `malloc_trim` is there to call.
    public static var isAvailable: Bool { trim != nil }

    /// Looks at the current number of open connections; trims when it fell to half the peak or
    /// less and is the same as at the previous tick. Returns whether it trimmed.
    @discardableResult
    public mutating func tick(openConnections: Int) -> Bool {
        peak = max(peak, openConnections)
        defer { previous = openConnections }
        guard peak - openConnections >= Self.minimumFall, openConnections * 2 <= peak, openConnections == previous,
            let trim = Self.trim
        else {
            return false
        }
        _ = trim(0)
        peak = openConnections
        return true
    }

    /// Returns free memory to the system now, whatever the connection count; false when
    /// `malloc_trim` is not available.
    @discardableResult
    public static func trimNow() -> Bool {
        guard let trim else { return false }
        _ = trim(0)
        return true
    }
}
