#if canImport(Glibc)
import Glibc
#endif

/// glibc allocator settings for a long-running server.
///
/// glibc serves large allocations with their own mappings, returned to the system when freed,
/// but it raises that threshold to the size of each such block freed (up to 32 MiB). After one
/// burst of large temporary buffers — the lists a chat hands to thousands of pages during a
/// storm of joins, a broker's queues after a flood — later ones come from the heap instead, and
/// the small objects allocated meanwhile pin the heap at the burst's high-water: 2,000 chat
/// pages held 13–22 KiB each after their joins, 6.4 KiB with the threshold fixed. Fixing it
/// turns the adjustment off.
public enum AllocatorTuning {
    /// The threshold `fixMmapThreshold` sets: above a 64 KiB MQTT payload and a NIO read, so
    /// everyday buffers stay on the heap; below the lists of a storm.
    public static let defaultMmapThreshold = 1 << 20

    private typealias MallOpt = @convention(c) (Int32, Int32) -> Int32
    private static let mallopt = cLibraryFunction("mallopt", as: MallOpt.self)

    /// glibc's `M_MMAP_THRESHOLD` parameter number (malloc.h).
    private static let mmapThresholdParameter: Int32 = -3

    /// Fixes the threshold at `bytes`, unless `MALLOC_MMAP_THRESHOLD_` in the environment has
    /// already set it (glibc reads it at start). Returns whether the setting was made; false
    /// too on a C library without `mallopt`.
    @discardableResult
    public static func fixMmapThreshold(at bytes: Int = defaultMmapThreshold) -> Bool {
        #if canImport(Glibc)
        guard getenv("MALLOC_MMAP_THRESHOLD_") == nil, let mallopt else { return false }
        return mallopt(mmapThresholdParameter, Int32(clamping: bytes)) == 1
        #else
        return false
        #endif
    }
}
