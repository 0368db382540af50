#if canImport(Glibc)
import Glibc
#endif

/// Hands memory freed by departed connections back to the operating system.
///
/// glibc's allocator keeps freed memory in its arenas, so after a storm of connections the
/// broker's resident size stays at the storm's peak even though every connection's objects are
/// gone. Once the number of open connections has fallen well below the peak seen since the last
/// reclaim, `malloc_trim(0)` returns the unused pages: the broker comes back to about the memory
/// it started with. Trimming walks the heap while holding the allocator's locks, so it runs
/// only after such a fall, never on a timer alone.
///
/// Owned by `Broker`, which calls `tick` from one repeated task; the state is that task's own.
/// `malloc_trim` is looked up at run time: on a C library without it the reclaimer does nothing.
struct MemoryReclaimer {
    /// Open connections at the busiest point since the last reclaim.
    private var peak = 0
    /// A fall smaller than this is not worth a trim.
    static let minimumFall = 256

    private typealias Trim = @convention(c) (Int) -> Int32
    private static let trim: Trim? = {
        #if canImport(Glibc)
        // A null handle is RTLD_DEFAULT: the symbol wherever the process has it.
        guard let symbol = dlsym(nil, "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: Trim.self)
        #else
        return nil
        #endif
    }()

    /// Whether `malloc_trim` is there to call.
    static var isAvailable: Bool { trim != nil }

    /// Looks at the current number of open connections; trims when it fell to half the peak or
    /// less. Returns whether it trimmed.
    @discardableResult
    mutating func tick(openConnections: Int) -> Bool {
        peak = max(peak, openConnections)
        guard peak - openConnections >= Self.minimumFall, openConnections * 2 <= peak, let trim = Self.trim else {
            return false
        }
        _ = trim(0)
        peak = openConnections
        return true
    }
}
