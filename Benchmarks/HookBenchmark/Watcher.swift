import Foundation
import HostNetwork
import Spawn

/// `vxlanctl watch` at one fill of the scale section: how long after an underlay flap
/// every segment in use works again, and (at the first and last fill) what one repair
/// costs and what the idle watcher costs.
struct WatcherPoint: Codable {
    var vnis: Int
    /// From the re-created underlay being up to every vxlan device of ours back in its
    /// bridge and up.
    var flapRepairSeconds: Double
    /// From `ip link del ul0` (which makes the kernel delete every vxlan device on it).
    var flapTotalSeconds: Double
    /// The watcher lost notifications (ENOBUFS) and checked everything instead.
    var overrun: Bool
    /// One VNI, from the command that broke it to the segment complete again, ms.
    var vxlanDeleted: Distribution?
    var vxlanDetached: Distribution?
    var idle: WatcherIdle?
    /// From SIGTERM to the process gone, ms.
    var stopMilliseconds: Double
}

/// The idle watcher: CPU time and memory over a window in which nothing happens.
struct WatcherIdle: Codable {
    var seconds: Double
    /// utime + stime in clock ticks (USER_HZ, 100 a second) over the window.
    var cpuTicks: Int
    var rssKiB: Int
    var peakRSSKiB: Int
}

extension Benchmark {
    /// Starts the watcher on this benchmark's configuration and state, flaps the underlay
    /// once, and with `probes` > 0 also breaks one VNI's segment `probes` times each way
    /// and measures `idleSeconds` of idling.
    func watcher(vnis: Int, probeVNI: Int, probes: Int, idleSeconds: Double, settleLimit: Double) throws
        -> WatcherPoint
    {
        let process = try WatcherProcess(vxlanctl: vxlanctl, spawner: spawner, work: work)
        defer { process.stop() }
        waitForIdleCPUs(limit: settleLimit)
        var point = WatcherPoint(
            vnis: vnis, flapRepairSeconds: 0, flapTotalSeconds: 0, overrun: false, stopMilliseconds: 0)
        if probes > 0 {
            let names = try names(probeVNI)
            point.vxlanDeleted = Distribution(
                try (0..<probes).map { _ in
                    try untilComplete(probeVNI) { command("/usr/sbin/ip", "link", "del", names.vxlan.rawValue) }
                })
            point.vxlanDetached = Distribution(
                try (0..<probes).map { _ in
                    try untilComplete(probeVNI) {
                        command("/usr/sbin/ip", "link", "set", names.vxlan.rawValue, "nomaster")
                    }
                })
            // The new devices' IPv6 and IGMP chatter settles first: each message is a
            // notification the watcher answers with a check.
            waitForIdleCPUs(limit: settleLimit)
            point.idle = process.idle(seconds: idleSeconds)
        }
        let attached = completeVXLANDevices()
        let mac = try network.link(named: "ul0")?.address ?? ""
        let deleted = now()
        command("/usr/sbin/ip", "link", "del", "ul0")
        command("/usr/sbin/ip", "link", "add", "ul0", "address", mac, "type", "veth", "peer", "name", "ul0p")
        command("/usr/sbin/ip", "addr", "add", "192.0.2.1/24", "dev", "ul0")
        command("/usr/sbin/ip", "link", "set", "ul0p", "up")
        command("/usr/sbin/ip", "link", "set", "ul0", "up")
        let up = now()
        while completeVXLANDevices() < attached {
            guard now() - up < 300e6 else {
                fatalError("the watcher did not repair the flap in 300 s: \(process.output)")
            }
            usleep(20_000)
        }
        point.flapRepairSeconds = (now() - up) / 1e6
        point.flapTotalSeconds = (now() - deleted) / 1e6
        point.overrun = process.output.contains("ENOBUFS")
        point.stopMilliseconds = process.stop()
        return point
    }

    /// Runs `breaking`, then polls the VNI's links every millisecond until the segment
    /// is complete again; returns the milliseconds from the start of `breaking`.
    private func untilComplete(_ vni: Int, breaking: () -> Sample) throws -> Double {
        let started = now()
        _ = breaking()
        while try !segmentIsComplete(vni) { usleep(1000) }
        return (now() - started) / 1000
    }

    /// Our vxlan devices that are up ports of a bridge, from one dump; 0 when the links
    /// change too fast for a consistent dump (the repairs are still under way).
    private func completeVXLANDevices() -> Int {
        let links = (try? network.allLinks()) ?? []
        return links.filter { $0.kind == "vxlan" && $0.ownerVNI != nil && $0.master != 0 && $0.isUp }.count
    }
}

/// `vxlanctl watch` as a child of the benchmark, started and stopped by its pid.
final class WatcherProcess {
    let pid: pid_t
    let log: String
    private var running = true

    init(vxlanctl: String, spawner: Spawner, work: String) throws {
        log = "\(work)/stderr-watch"
        pid = try spawn(
            [vxlanctl, "watch", "--interval", "3600", "--metrics-textfile", "off"], environment: spawner.environment,
            stderr: .file(log, flags: O_WRONLY | O_CREAT | O_TRUNC))
        // It logs this once subscribed and through its first sweep.
        while !output.contains("watch: started") {
            guard waitpid(pid, nil, WNOHANG) == 0 else { fatalError("vxlanctl watch exited: \(output)") }
            usleep(10_000)
        }
    }

    var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    /// CPU ticks and memory over `seconds` of idling.
    func idle(seconds: Double) -> WatcherIdle {
        let before = cpuTicks()
        usleep(useconds_t(seconds * 1e6))
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        func kiB(_ field: String) -> Int {
            status.split(separator: "\n").first { $0.hasPrefix(field + ":") }
                .flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        }
        return WatcherIdle(
            seconds: seconds, cpuTicks: cpuTicks() - before, rssKiB: kiB("VmRSS"), peakRSSKiB: kiB("VmHWM"))
    }

    /// utime + stime from /proc/PID/stat (fields 14 and 15, after the command's parentheses).
    private func cpuTicks() -> Int {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let end = stat.lastIndex(of: ")")
        else { return 0 }
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        return fields.count > 13 ? (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0) : 0
    }

    /// SIGTERM, then reaps it; returns the milliseconds it took to go.
    @discardableResult
    func stop() -> Double {
        guard running else { return 0 }
        running = false
        let started = now()
        kill(pid, SIGTERM)
        waitForExit(pid)
        return (now() - started) / 1000
    }
}
