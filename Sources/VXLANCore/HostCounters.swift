/// The counters that the short-lived processes (the hook, the reaper) and the watcher add
/// to, as one array of 64-bit slots: the hook maps the file that holds them
/// (`/run/libvirt-vxlan/metrics/counters-v1`) and adds with atomic instructions, so that
/// counting a call costs a few hundred instructions, writes no record anyone must fold,
/// and loses nothing when processes race. The counters live as long as `/run`: until
/// reboot, which is a counter reset to Prometheus, as a restarted exporter would be.
///
/// Pure: where each counter sits and how a snapshot of the slots reads as metric families.
/// A change of the layout is a new file name (`CounterLayout.fileName`).
public enum CounterLayout {
    /// Slot 0 holds this: a file of another layout or size is never added to.
    public static let magic: UInt64 = 0x3176_5F6E_7863_766C  // "lvcxn_v1", little-endian
    public static let fileName = "counters-v1"
    /// One page; the slots below use fewer than half of it.
    public static let byteCount = 4096
    public static let slotCount = byteCount / 8

    // Plain constants: the hook computes its slots without initialising any table.
    static let hookCallsBase = 1
    static let hookDurationBase = hookCallsBase + HookPhase.count * 3
    static let buckets = 14
    static let hookDurationSumBase = hookDurationBase + HookPhase.count * buckets
    static let reaperBase = hookDurationSumBase + HookPhase.count
    static let watcherBase = reaperBase + ReaperCounter.allCases.count
    static let repairsBase = watcherBase + WatcherCounter.allCases.count
    static let repairFailuresBase = repairsBase + RepairCause.allCases.count
    /// One past the last slot in use.
    static let end = repairFailuresBase + RepairCause.allCases.count

    /// `hook_calls_total{driver,phase,outcome}`.
    public static func hookCall(_ phase: HookPhase, _ outcome: HookOutcome) -> Int {
        hookCallsBase + phase.index * 3 + outcome.index
    }

    /// The duration histogram's slot for `microseconds` (one per bucket, not cumulative).
    public static func hookDurationBucket(_ phase: HookPhase, microseconds: Int) -> Int {
        hookDurationBase + phase.index * buckets + HookPhase.bucket(microseconds: microseconds)
    }

    public static func hookDurationSum(_ phase: HookPhase) -> Int { hookDurationSumBase + phase.index }
    public static func reaper(_ counter: ReaperCounter) -> Int { reaperBase + counter.index }
    public static func watcher(_ counter: WatcherCounter) -> Int { watcherBase + counter.index }
    public static func repairs(_ cause: RepairCause) -> Int { repairsBase + cause.index }
    public static func repairFailures(_ cause: RepairCause) -> Int { repairFailuresBase + cause.index }

    /// The slots of a phase's duration histogram, one per bucket of `HookPhase.durationBounds`
    /// and one for longer calls.
    public static func hookDurationSlots(_ phase: HookPhase) -> Range<Int> {
        let first = hookDurationBase + phase.index * buckets
        return first..<(first + buckets)
    }
}

/// A libvirt phase the hook acts on, as a metric label: the driver and libvirt's operation
/// word (`prepare`, `release`, `port-created`...). A bounded set, so a hostile argv never
/// makes a new series.
public struct HookPhase: Hashable, Sendable {
    public var driver: HookCall.Driver
    public var operation: String
    let index: Int

    public static let all: [HookPhase] = [
        (HookCall.Driver.qemu, "prepare"), (.qemu, "migrate"), (.qemu, "restore"), (.qemu, "reconnect"),
        (.qemu, "attach"), (.qemu, "release"), (.network, "start"), (.network, "port-created"),
        (.network, "port-deleted"), (.network, "stopped"),
    ].enumerated().map { HookPhase(driver: $1.0, operation: $1.1, index: $0) }

    /// The phase of a call the hook acts on; nil for a call it ignores. A switch, not a
    /// search of `all`: the hook pays for this at every call.
    public init?(_ call: HookCall) {
        guard call.action != .ignore else { return nil }
        let index: Int
        switch (call.driver, call.operation) {
        case (.qemu, "prepare"): index = 0
        case (.qemu, "migrate"): index = 1
        case (.qemu, "restore"): index = 2
        case (.qemu, "reconnect"): index = 3
        case (.qemu, "attach"): index = 4
        case (.qemu, "release"): index = 5
        case (.network, "start"): index = 6
        case (.network, "port-created"): index = 7
        case (.network, "port-deleted"): index = 8
        case (.network, "stopped"): index = 9
        default: return nil
        }
        self.init(driver: call.driver, operation: call.operation, index: index)
    }

    private init(driver: HookCall.Driver, operation: String, index: Int) {
        self.driver = driver
        self.operation = operation
        self.index = index
    }

    /// The histogram's upper bounds, in seconds: from a prepare on an existing VNI (a few
    /// milliseconds, docs/benchmarks.md) to one behind a lock held by a burst of calls.
    public static let durationBounds: [Double] = [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
    ]
    static let count = 10

    /// The bucket of `durationBounds` a duration falls in; 13 for more than 10 s.
    static func bucket(microseconds: Int) -> Int {
        switch microseconds {
        case ...1000: 0
        case ...2500: 1
        case ...5000: 2
        case ...10_000: 3
        case ...25_000: 4
        case ...50_000: 5
        case ...100_000: 6
        case ...250_000: 7
        case ...500_000: 8
        case ...1_000_000: 9
        case ...2_500_000: 10
        case ...5_000_000: 11
        case ...10_000_000: 12
        default: 13
        }
    }
}

/// How a hook call ended.
public enum HookOutcome: String, Sendable, CaseIterable, DescribedByRawValue {
    /// Done (a segment made, kept or torn down, or nothing of ours concerned).
    case ok
    /// The input or the configuration was refused: a VNI outside `vni_ranges`, a name too
    /// long, malformed XML, an unreadable vxlan.conf.
    case refused
    /// The host could not be changed: netlink, a lock, a file under /run.
    case failed

    var index: Int {
        switch self {
        case .ok: 0
        case .refused: 1
        case .failed: 2
        }
    }
}

/// The reaper's counters.
public enum ReaperCounter: Sendable, CaseIterable {
    /// Runs of the reaper that deleted at least one segment (one kernel request each).
    case batches
    case segmentsRemoved
    /// Teardowns left pending after a failure.
    case failures

    var index: Int {
        switch self {
        case .batches: 0
        case .segmentsRemoved: 1
        case .failures: 2
        }
    }

}

/// The watcher's counters, and the time of its last successful check.
public enum WatcherCounter: Sendable, CaseIterable {
    case checks
    case notificationsLost
    case guestsForgotten
    case lastCheckTime

    var index: Int {
        switch self {
        case .checks: 0
        case .notificationsLost: 1
        case .guestsForgotten: 2
        case .lastCheckTime: 3
        }
    }

}

/// Why a segment in use needed a repair: a bounded label (`SegmentConverger.drift`).
public enum RepairCause: String, Sendable, CaseIterable, DescribedByRawValue {
    /// The bridge or the vxlan device is gone (an underlay deleted takes its vxlan devices).
    case missing
    /// A device of the segment is down.
    case down
    /// The vxlan device is not a port of its bridge.
    case detached
    /// The MTU differs from the plan's.
    case mtu
    /// The vxlan device's parameters (group, local address, underlay, port, ttl) differ.
    case parameters
    /// The configuration gives no usable device for the plan.
    case configuration

    var index: Int {
        switch self {
        case .missing: 0
        case .down: 1
        case .detached: 2
        case .mtu: 3
        case .parameters: 4
        case .configuration: 5
        }
    }
}
