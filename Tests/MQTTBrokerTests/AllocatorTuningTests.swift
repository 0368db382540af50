#if canImport(Glibc)
import Glibc
#endif
import ProcessMemory
import Testing

/// `parley serve` and `parley chat` fix glibc's mmap threshold, unless the environment set it.
@Suite("Allocator tuning", .serialized)
struct AllocatorTuningTests {
    @Test func glibcTakesTheFixedThreshold() {
        #expect(AllocatorTuning.fixMmapThreshold())
    }

    @Test func aThresholdFromTheEnvironmentIsLeftAlone() {
        setenv("MALLOC_MMAP_THRESHOLD_", "262144", 1)
        defer { unsetenv("MALLOC_MMAP_THRESHOLD_") }
        #expect(!AllocatorTuning.fixMmapThreshold())
    }
}
