import Glibc
import HostNetwork
import Lifecycle
import VXLANCore

/// The lifecycle's `TeardownQueue` under `/run/libvirt-vxlan`: one mark per VNI whose
/// teardown is decided and not yet done, holding the names to delete, and the lock that
/// keeps the reaper alone.
///
///     /run/libvirt-vxlan/pending/5001     "brvx-5001 vxlan5001"
///     /run/libvirt-vxlan/locks/reaper
///
/// Whoever holds the reaper lock reaps every mark it finds, and after letting go looks
/// again: a mark written while it held the lock (whose writer then failed to take it)
/// is never stranded. Tests and scripts that want the links gone wait for `pending/` to
/// be empty.
public struct PendingTeardowns: TeardownQueue {
    public let state: StateDirectory
    public let style: Style
    /// `SegmentLifecycle.reap` over a netlink socket of its own, made where it runs (a
    /// socket belongs to one process).
    let reaper: () -> ReapOutcome

    /// Where the reaper runs: in the process that wakes it, or in a program started with
    /// posix_spawn, never in a copy of a process (which may have threads: vxlanctl links
    /// Foundation) that goes on running Swift code.
    ///
    /// - The hook (`detached`) starts the reaper as a program: posix_spawn of the worker
    ///   it is (readlink /proc/self/exe) with `ReaperMain.flag`, in a session of its own,
    ///   stdio on /dev/null, the reaper lock on descriptor 3 and nothing else open, so
    ///   libvirt's pipes close when the hook exits (virt-manager #299). The hook does not
    ///   wait for it: it exits at once, and init adopts the reaper and collects it.
    /// - The watcher (`inlineIfIdle`) reaps in its own loop, where it already runs, each
    ///   collection as it makes it, without the batching wait: no child to collect (a
    ///   long-lived parent would have to), and a reaper already running (a hook's)
    ///   reaps the watcher's marks too.
    /// - vxlanctl gc and the CloudStack agent (`inline`) reap before they answer.
    public enum Style: Sendable {
        /// In the worker started with `ReaperMain.flag` (`ReaperMain.start`), which holds
        /// the reaper lock and waits a little first, so the teardowns of a burst of hook
        /// calls (a host being emptied) join one batch: the hook, whose caller must not
        /// wait for the kernel. Only the worker, which can start itself, uses it.
        case detached
        /// In this process, once the reaper lock is free: vxlanctl, whose caller wants
        /// to see the result.
        case inline
        /// In this process at once, unless a reaper runs (which looks again after
        /// letting go, and finds the mark): the watcher, which must not wait for
        /// another's reaper.
        case inlineIfIdle
    }

    /// The batch closes once no mark has arrived for `quietMilliseconds`, or after
    /// `limitMilliseconds` in any case (`Benchmarks/run`'s evacuation and churn
    /// sections measure the choice). Longer than a prepare: a guest started
    /// right behind a release runs before the deletion holds RTNL, not during it.
    static let quietMilliseconds = 50
    static let limitMilliseconds = 500

    public init(state: StateDirectory, style: Style, reaper: @escaping () -> ReapOutcome) {
        self.state = state
        self.style = style
        self.reaper = reaper
    }

    var folder: String { state.pendingPath }
    func markPath(_ vni: VNI) -> String { "\(folder)/\(vni)" }

    /// Atomic (write, then rename), so a mark always names both devices.
    public func mark(_ names: SegmentNames) throws(StateError) {
        try state.makeFolders("pending")
        try state.writeAtomically("\(names.bridge) \(names.vxlan)\n", to: markPath(names.vni))
    }

    public func unmark(_ vni: VNI) throws(StateError) {
        _ = try state.remove(markPath(vni))
    }

    /// One `access` call: what a prepare pays to know nothing is pending.
    public func isMarked(_ vni: VNI) -> Bool { access(markPath(vni), F_OK) == 0 }

    public func marked() -> [SegmentNames] {
        markedVNIs().compactMap { vni in
            guard let bytes = try? readFile(at: markPath(vni), limit: 64) else { return nil }
            let words = String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
            guard words.count == 2, let bridge = try? InterfaceName(String(words[0])),
                let vxlan = try? InterfaceName(String(words[1]))
            else { return nil }
            return SegmentNames(vni: vni, bridge: bridge, vxlan: vxlan)
        }
    }

    func markedVNIs() -> [VNI] { state.pendingTeardowns() }

    public func wake() -> ReapOutcome? {
        let path = state.lockPath(name: "reaper")
        guard (try? state.makeFolders("locks")) != nil else { return nil }
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        switch style {
        case .inline:
            while flock(descriptor, LOCK_EX) != 0 { guard errno == EINTR else { return nil } }
            return reapWhileMarked(holding: descriptor)
        case .inlineIfIdle:
            // Held by a running reaper: it looks again after letting go, and finds our mark.
            guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else { return nil }
            return reapWhileMarked(holding: descriptor)
        case .detached:
            guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else { return nil }
            // No reaper started (posix_spawn failed): then libvirt waits for the deletion.
            return ReaperMain.start(holding: descriptor) ? nil : reapWhileMarked(holding: descriptor)
        }
    }

    /// Holding the reaper lock: reaps, lets go, and takes it again to reap once more if
    /// a mark that this round did not leave behind is there (written after its last
    /// look) and nobody else took the lock meanwhile. Returns what every round did.
    /// Rounds are bounded: a mark that keeps failing (its lock cannot be taken) must
    /// not keep a reaper alive; the next wake tries again.
    @discardableResult
    func reapWhileMarked(holding descriptor: Int32, batching: Bool = false) -> ReapOutcome {
        var total = ReapOutcome()
        for _ in 0..<64 {
            if batching { waitForBurstToEnd() }
            let round = reaper()
            count(round)
            total.merge(round)
            let left = Set(round.pending)
            _ = flock(descriptor, LOCK_UN)
            guard markedVNIs().contains(where: { !left.contains($0) }),
                flock(descriptor, LOCK_EX | LOCK_NB) == 0
            else { return total }
        }
        _ = flock(descriptor, LOCK_UN)
        return total
    }

    /// Adds a round to the counters file: a batch when it deleted segments, the segments,
    /// and the teardowns it left pending after a failure.
    private func count(_ round: ReapOutcome) {
        guard !round.removed.isEmpty || !round.failed.isEmpty, let counters = CounterFile.open(in: state) else {
            return
        }
        if !round.removed.isEmpty { counters.add(CounterLayout.reaper(.batches)) }
        counters.add(CounterLayout.reaper(.segmentsRemoved), UInt64(round.removed.count))
        counters.add(CounterLayout.reaper(.failures), UInt64(round.failed.count))
    }

    /// Until no mark has been written or removed for `quietMilliseconds` (the folder's
    /// modification time), at most `limitMilliseconds`.
    private func waitForBurstToEnd() {
        let started = monotonicMilliseconds()
        var lastChange = started
        var seen = modificationTime(of: folder)
        while true {
            usleep(2_000)
            let now = monotonicMilliseconds()
            let current = modificationTime(of: folder)
            if current != seen {
                seen = current
                lastChange = now
            }
            if now - lastChange >= Self.quietMilliseconds || now - started >= Self.limitMilliseconds { return }
        }
    }
}

/// Milliseconds on the monotonic clock: the reaper's batching window, the watcher's timers.
public func monotonicMilliseconds() -> Int {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return now.tv_sec * 1000 + now.tv_nsec / 1_000_000
}

private func modificationTime(of path: String) -> Int {
    var status = stat()
    guard stat(path, &status) == 0 else { return 0 }
    return status.st_mtim.tv_sec * 1_000_000_000 + status.st_mtim.tv_nsec
}
