import Foundation

/// The memory another process holds, as the kernel reports it (Linux `/proc`): how tests see
/// whether a relay in a child process buffers what a hostile client makes it produce.
enum ProcessMemory {
    /// Resident memory (VmRSS) of process `pid` in bytes; nil once it has exited.
    static func residentBytes(of pid: Int32) -> Int? { statusField("VmRSS", of: pid) }

    /// The highest resident memory (VmHWM) of process `pid` in bytes since it started or since
    /// the last `resetPeak`: growth that was freed again before anyone looked still shows here.
    static func peakResidentBytes(of pid: Int32) -> Int? { statusField("VmHWM", of: pid) }

    /// Restarts the peak at the current resident size; false if the kernel refused.
    @discardableResult
    static func resetPeak(of pid: Int32) -> Bool {
        // Writing 5 to clear_refs resets VmHWM (Linux 4.0 and later).
        guard let handle = FileHandle(forWritingAtPath: "/proc/\(pid)/clear_refs") else { return false }
        defer { try? handle.close() }
        return (try? handle.write(contentsOf: Data("5".utf8))) != nil
    }

    /// A "Name:   1234 kB" line of /proc/PID/status, in bytes.
    private static func statusField(_ name: String, of pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix(name + ":") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 3, fields[2] == "kB", let kib = Int(fields[1]) else { return nil }
            return kib * 1024
        }
        return nil
    }
}
