import ProcessMemory
import Testing

/// Memory is handed back after a real fall in connections, not on every tick.
@Suite("Memory reclaimer")
struct MemoryReclaimerTests {
    /// Whether each tick trimmed, for a sequence of open-connection counts.
    static func trims(_ counts: [Int]) -> [Bool] {
        var reclaimer = MemoryReclaimer()
        return counts.map { reclaimer.tick(openConnections: $0) }
    }

    @Test func trimsOnceConnectionsFellToHalfThePeakOrLessAndHeldStill() throws {
        try #require(MemoryReclaimer.isAvailable, "glibc's malloc_trim is expected on Debian")
        // A fall to 60 % of the peak is not enough; a fall still under way waits for the next
        // tick; after a trim the peak starts again from there.
        #expect(
            Self.trims([0, 10_000, 6_000, 4_000, 4_000, 4_000, 0, 0, 0])
                == [false, false, false, false, true, false, false, true, false])
    }

    @Test func smallFallsAreNotWorthATrim() throws {
        try #require(MemoryReclaimer.isAvailable)
        #expect(Self.trims([200, 0, 0, 300, 0, 0]) == [false, false, false, false, false, true])
    }
}
