import NIOCore

/// Monotonic nanoseconds (CLOCK_MONOTONIC on Linux), the same clock in every process on the
/// machine, so a receiver can subtract a send time written by another process.
enum BenchClock {
    @inline(__always)
    static func now() -> UInt64 { NIODeadline.now().uptimeNanoseconds }
}
