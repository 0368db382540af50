import Testing

@testable import MQTTBroker

/// Memory is handed back after a real fall in connections, not on every tick.
@Suite("Memory reclaimer")
struct MemoryReclaimerTests {
    /// Whether each tick trimmed, for a sequence of open-connection counts.
    static func trims(_ counts: [Int]) -> [Bool] {
        var reclaimer = MemoryReclaimer()
        return counts.map { reclaimer.tick(openConnections: $0) }
    }

    @Test func trimsOnlyAfterConnectionsFellToHalfThePeakOrLess() throws {
        try #require(MemoryReclaimer.isAvailable, "glibc's malloc_trim is expected on Debian")
        // A fall to 60 % of the peak is not enough; after a trim the peak starts again.
        #expect(Self.trims([0, 10_000, 6_000, 4_000, 4_000, 0, 0]) == [false, false, false, true, false, true, false])
    }

    @Test func smallFallsAreNotWorthATrim() throws {
        try #require(MemoryReclaimer.isAvailable)
        #expect(Self.trims([200, 0, 300, 0]) == [false, false, false, true])
    }
}
