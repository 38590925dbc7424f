import Glibc
import HostNetwork
import Lifecycle
import VXLANCore

/// `vxlanctl watch`: keeps every segment that has users converged between lifecycle
/// events. One process, one thread, asleep in `poll()` until the kernel reports a change
/// of a link or an address, a stop signal arrives, or the slow sweep is due:
///
/// - a notification starts a check after the burst settles (`settle`, at most a second
///   from the first one): one dump of every link, then a repair (`SegmentRepair`, under
///   the VNI's lock) of each segment in use that does not match its plan;
/// - a lost notification (ENOBUFS) and the sweep (`interval`) run the same check, and
///   the sweep also forgets guests that vanished without `release`
///   (`SegmentLifecycle.collectGarbage`, the hook's own rule);
/// - SIGTERM or SIGINT ends `run()` at once.
public final class SegmentWatcher {
    let network: NetlinkSession
    let events: LinkEvents
    let users: UserRegistry
    let repair: SegmentRepair
    let lifecycle: SegmentLifecycle
    let journal: any LifecycleLog
    let interval: Int
    let settle: Int
    let staleAfter: Int
    /// The last failure logged per VNI: a segment that cannot be repaired is reported
    /// once, not at every notification.
    private var failures: [VNI: String] = [:]
    /// What segments waited for at the last check (an underlay missing, down or without
    /// its address): logged once per underlay when it starts, not once per VNI.
    private var waiting: Set<String> = []
    /// The stop signals' descriptor (`StopSignals`), also looked at during a long check.
    private var stop: Int32 = -1

    /// - Parameters:
    ///   - host: the segments to keep; its reaper should be detached, and its
    ///     `staleAfter` is the sweep's grace for vanished guests.
    ///   - interval: seconds between sweeps.
    ///   - settle: milliseconds without a notification before a check starts.
    ///   - configured: the configuration's plan (see `SegmentRepair.configured`).
    public init(
        host: SegmentHost, interval: Int, settle: Int, configured: @escaping (VNI) -> SegmentPlan?
    ) throws(KernelError) {
        events = try LinkEvents()
        network = host.network
        users = host.users
        repair = host.repair(configured: configured)
        // Forgetting vanished guests tears down through the queue; the watcher reaps in
        // its own loop (`PendingTeardowns.Style.inlineIfIdle`), unless a hook's reaper runs.
        lifecycle = host.lifecycle
        journal = host.journal
        self.interval = interval
        self.settle = settle
        self.staleAfter = host.staleAfter
    }

    /// Runs until a byte arrives on `stop` (`StopSignals`). The first check is a sweep:
    /// after a crash or `kill -9`, the restarted watcher converges whatever changed.
    public func run(stop: Int32) {
        self.stop = stop
        let inUse = check(sweep: true)?.inUse ?? 0
        journal.log(.info, "watch: started, \(inUse) segment\(inUse == 1 ? "" : "s") in use, sweep every \(interval) s")
        var nextSweep = monotonicMilliseconds() + interval * 1000
        while true {
            switch wait(stop: stop, milliseconds: max(0, nextSweep - monotonicMilliseconds())) {
            case .stop:
                journal.log(.info, "watch: stopped")
                return
            case .timeout:
                // A check that could not read the links is tried again in a second.
                nextSweep = monotonicMilliseconds() + (check(sweep: true) == nil ? 1000 : interval * 1000)
            case .events:
                var overrun = drain()
                let deadline = monotonicMilliseconds() + 1000
                settling: while true {
                    switch wait(stop: stop, milliseconds: min(settle, max(0, deadline - monotonicMilliseconds()))) {
                    case .stop:
                        journal.log(.info, "watch: stopped")
                        return
                    case .timeout: break settling
                    case .events: overrun = drain() || overrun
                    }
                    if monotonicMilliseconds() >= deadline { break }
                }
                if overrun { journal.log(.warning, "watch: notifications lost (ENOBUFS): checking every segment") }
                if check(sweep: overrun) == nil {
                    nextSweep = monotonicMilliseconds() + 1000
                } else if overrun {
                    nextSweep = monotonicMilliseconds() + interval * 1000
                }
            }
        }
    }

    /// Reads the queued notifications; returns whether some were lost.
    private func drain() -> Bool {
        do { return try events.drain().overrun } catch {
            journal.log(.error, "watch: \(error)")
            return true
        }
    }

    /// One check: every VNI with users whose links do not match its plan is repaired.
    /// Returns how many VNIs have users, and which it repaired; nil when it could not
    /// read the links.
    @discardableResult
    public func check(sweep: Bool) -> (inUse: Int, repaired: [VNI])? {
        var table: LinkTable
        do { table = try LinkTable(dumping: network) } catch {
            journal.log(.error, "watch: \(error); trying again in a second")
            return nil
        }
        var inUse = 0
        var repaired: [VNI] = []
        var waits: [String: Int] = [:]
        for (position, vni) in users.recordedVNIs().enumerated() {
            // Thousands of repairs take seconds: SIGTERM ends the check, and the loop then.
            if position % 64 == 63, wait(stop: stop, milliseconds: 0) == .stop { break }
            // A hint read without the lock; the repair reads them again under it.
            guard let recorded = try? users.users(of: vni), !recorded.isEmpty,
                let plan = repair.plan(of: vni, users: recorded)
            else {
                failures[vni] = nil
                continue
            }
            inUse += 1
            switch SegmentConverger.drift(of: plan, in: &table) {
            case nil:
                failures[vni] = nil
            case .underlay(let reason)?:
                waits[reason, default: 0] += 1
            case .segment(let reason)?:
                report(vni, drift: reason, repair.repair(vni))
                repaired.append(vni)
            }
            if sweep, mayHaveVanished(recorded, ports: table.ports(ofBridge: plan.names.bridge)) {
                do { try lifecycle.collectGarbage([plan.names]) } catch { journal.log(.error, "watch gc: \(error)") }
            }
        }
        for (reason, count) in waits where !waiting.contains(reason) {
            journal.log(.warning, "watch: \(reason): \(count) segment\(count == 1 ? "" : "s") in use wait for it")
        }
        waiting = Set(waits.keys)
        return (inUse, repaired)
    }

    /// A guest that may have vanished without `release` (`UserRecord.mayHaveVanished`):
    /// `collectGarbage` decides under the lock. Without a bridge, nobody is forgotten (as
    /// `collectGarbage` does).
    private func mayHaveVanished(_ recorded: [SegmentUser: UserRecord], ports: [Link]?) -> Bool {
        guard let ports else { return false }
        let now = Int(time(nil))
        let taps = GuestTaps(onBridgePorts: ports)
        return recorded.contains { user, record in
            user.kind == .domain && record.mayHaveVanished(now: now, staleAfter: staleAfter, taps: taps)
        }
    }

    private func report(_ vni: VNI, drift: String, _ outcome: SegmentRepair.Outcome) {
        let context = "watch VNI \(vni)"
        switch outcome {
        case .converged(let actions):
            failures[vni] = nil
            for action in actions { journal.log(.notice, "\(context): \(drift): \(action)") }
        case .failed(let reason):
            guard failures[vni] != reason else { return }
            failures[vni] = reason
            journal.log(.error, "\(context): \(drift): cannot repair: \(reason)")
        case .unused, .unplanned:
            failures[vni] = nil
        }
    }

    private enum Wake { case events, timeout, stop }

    private func wait(stop: Int32, milliseconds: Int) -> Wake {
        var descriptors = [
            pollfd(fd: stop, events: Int16(POLLIN), revents: 0),
            pollfd(fd: events.descriptor, events: Int16(POLLIN), revents: 0),
        ]
        while true {
            let ready = poll(&descriptors, nfds_t(descriptors.count), Int32(clamping: milliseconds))
            if ready < 0, errno == EINTR { continue }
            if descriptors[0].revents != 0 { return .stop }
            return descriptors[1].revents != 0 ? .events : .timeout
        }
    }
}

/// SIGTERM and SIGINT as a readable descriptor (a self-pipe): the watcher's `poll()`
/// wakes at once, and nothing runs inside the signal handler but one write.
public enum StopSignals {
    nonisolated(unsafe) private static var writeEnd: Int32 = -1

    /// The read end; call once.
    public static func install() -> Int32 {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { return -1 }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        // A signal storm must never block the handler on a full pipe.
        _ = fcntl(ends[1], F_SETFL, O_NONBLOCK)
        writeEnd = ends[1]
        for signal in [SIGTERM, SIGINT] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { _ in
                var byte: UInt8 = 1
                _ = write(StopSignals.writeEnd, &byte, 1)
            }
            sigaction(signal, &action, nil)
        }
        return ends[0]
    }
}

extension StateDirectory {
    /// `watch.pid`, locked by the running watcher: one watcher per host, and
    /// `vxlanctl status` can tell whether it runs without asking systemd.
    var watcherPath: String { "\(path)/watch.pid" }

    /// Takes the watcher's lock and writes our pid; the descriptor stays open (and the
    /// lock held) for the life of the process.
    public func claimWatcher() throws(StateError) -> Int32 {
        try makeFolders()
        let descriptor = open(watcherPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard descriptor >= 0 else { throw .system("open", watcherPath) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            close(descriptor)
            guard code == EWOULDBLOCK else { throw .system("flock", watcherPath, errno: code) }
            throw StateError(
                operation: "lock", path: watcherPath,
                reason: "another vxlanctl watch runs (pid \(watcherPID().map(String.init) ?? "unknown"))")
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(descriptor, 0)
        _ = pid.utf8CString.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count - 1, 0) }
        return descriptor
    }

    /// The running watcher's pid, nil when none runs.
    public func watcherPID() -> Int32? {
        let descriptor = open(watcherPath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        guard flock(descriptor, LOCK_SH | LOCK_NB) != 0, errno == EWOULDBLOCK else { return nil }
        var bytes = [UInt8](repeating: 0, count: 16)
        let count = bytes.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        return count > 0
            ? Int32(String(decoding: bytes[..<count], as: UTF8.self).split(separator: "\n").first ?? "") : nil
    }
}
