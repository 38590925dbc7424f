import Foundation
import Spawn

/// One finished process: its wall time from spawn to reap, exit status, peak RSS and
/// page faults.
struct Sample {
    var microseconds: Double
    var status: Int32
    /// ru_maxrss of the process, KiB.
    var peakKiB: Int
    /// ru_minflt: each one a trip through the kernel (~1.5-2.5 µs on these VMs), and,
    /// unlike wall time, the same count run after run.
    var minorFaults: Int
}

extension Sample {
    /// `process`'s sample with another duration: the same process timed to a later event.
    init(microseconds: Double, of process: Sample) {
        self = process
        self.microseconds = microseconds
    }
}

/// Starts commands with `spawn` and reaps them with wait4, which gives the wall time
/// with no shell or `date` process in it, and each child's own peak RSS. stdout goes to
/// /dev/null; stderr to a file, so that a failing call can be shown.
struct Spawner {
    let environment: [String]
    let errorFolder: String

    init(environment: [String: String], errorFolder: String) {
        self.environment = environment.map { "\($0.key)=\($0.value)" }
        self.errorFolder = errorFolder
    }

    /// Spawns `arguments` with `input` (a file) on stdin; the caller reaps it.
    func start(_ arguments: [String], input: String = "/dev/null", slot: Int = 0) -> (pid: pid_t, started: Double) {
        let started = now()
        do {
            let pid = try spawn(
                arguments, environment: environment, stdin: .file(input, flags: O_RDONLY),
                stderr: .file(errorPath(slot), flags: O_WRONLY | O_CREAT | O_TRUNC))
            return (pid, started)
        } catch {
            fatalError("\(error)")
        }
    }

    /// Waits for any child; nil when none is left.
    func reapAny() -> (pid: pid_t, ended: Double, status: Int32, peakKiB: Int, minorFaults: Int)? {
        var status: Int32 = 0
        var usage = rusage()
        let pid = wait4(-1, &status, 0, &usage)
        guard pid > 0 else { return nil }
        return (pid, now(), ExitStatus(waitStatus: status).code, usage.ru_maxrss, usage.ru_minflt)
    }

    /// Runs one command to its end.
    func run(_ arguments: [String], input: String = "/dev/null") -> Sample {
        let (pid, started) = start(arguments, input: input)
        guard let reaped = reapAny(), reaped.pid == pid else { fatalError("lost child \(pid)") }
        return Sample(
            microseconds: reaped.ended - started, status: reaped.status, peakKiB: reaped.peakKiB,
            minorFaults: reaped.minorFaults)
    }

    /// What the process in `slot` last wrote on stderr.
    func errors(slot: Int = 0) -> String {
        ((try? String(contentsOfFile: errorPath(slot), encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func errorPath(_ slot: Int) -> String { "\(errorFolder)/stderr-\(slot)" }
}

/// CLOCK_MONOTONIC in microseconds.
func now() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) * 1e6 + Double(time.tv_nsec) / 1e3
}

/// Blocks until nobody holds the VNI's lock file: the hook's detached teardown child
/// holds it until its deletion is done.
func waitForLock(_ path: String) {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { return }
    _ = flock(descriptor, LOCK_EX)
    close(descriptor)
}

/// Waits until the machine's CPUs are at least 90 % idle over `window` seconds, or
/// `limit` seconds pass; returns the seconds waited. Thousands of new devices keep the
/// kernel busy for seconds after they are made (IGMP reports, IPv6 duplicate address
/// detection and router solicitations on each vxlan device), a deletion for tens of ms
/// (RCU callbacks): a guest start meets a quiet kernel, so the probes wait for one.
@discardableResult
func waitForIdleCPUs(limit: Double, window: Double = 1) -> Double {
    let started = now()
    var previous = cpuTimes()
    while now() - started < limit * 1e6 {
        usleep(useconds_t(window * 1e6))
        let current = cpuTimes()
        let total = current.total - previous.total
        if total > 0, Double(current.idle - previous.idle) / Double(total) >= 0.9 { break }
        previous = current
    }
    return (now() - started) / 1e6
}

/// Jiffies of all CPUs from /proc/stat's first line: all of them, and idle + iowait.
private func cpuTimes() -> (total: UInt64, idle: UInt64) {
    guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
        let line = text.split(separator: "\n").first
    else { return (0, 0) }
    let fields = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
    guard fields.count >= 5 else { return (0, 0) }
    return (fields.reduce(0, +), fields[3] + fields[4])
}
