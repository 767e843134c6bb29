import NIOCore

/// Monotonic milliseconds for driving the engines (they never read a clock themselves).
public func monotonicMilliseconds() -> UInt64 {
    NIODeadline.now().uptimeNanoseconds / 1_000_000
}
