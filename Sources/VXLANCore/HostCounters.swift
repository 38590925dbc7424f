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

    /// The metric families these slots hold. `slots`: a snapshot of the file (a shorter
    /// array reads as zeros).
    public static func families(_ slots: [UInt64]) -> [MetricFamily] {
        func at(_ slot: Int) -> UInt64 { slot < slots.count ? slots[slot] : 0 }
        func value(_ slot: Int) -> Double { Double(at(slot)) }

        var calls = MetricFamily(
            "libvirt_vxlan_hook_calls_total", .counter,
            help: "Hook calls libvirt-vxlan acted on, by libvirt driver, phase and outcome "
                + "(ok; refused: input or configuration refused; failed: the host could not be changed).")
        var durations = MetricFamily(
            "libvirt_vxlan_hook_duration_seconds", .histogram,
            help: "Time the hook's worker took per call, from its start to its exit status, by driver and phase.")
        for phase in HookPhase.all {
            let labels = [("driver", phase.driver.rawValue), ("phase", phase.operation)]
            for outcome in HookOutcome.allCases {
                calls.samples.append(
                    MetricSample(value(hookCall(phase, outcome)), labels: labels + [("outcome", outcome.rawValue)]))
            }
            let first = hookDurationBase + phase.index * buckets
            durations.addHistogram(
                bounds: HookPhase.durationBounds, counts: (first..<(first + buckets)).map(at),
                sum: value(hookDurationSum(phase)) / 1_000_000, labels: labels)
        }
        var repairs = MetricFamily(
            "libvirt_vxlan_watcher_repairs_total", .counter,
            help: "Segments in use the watcher found drifted from their plan and repaired, by cause.")
        var failures = MetricFamily(
            "libvirt_vxlan_watcher_repair_failures_total", .counter,
            help: "Repairs of a drifted segment in use that failed, by cause.")
        for cause in RepairCause.allCases {
            repairs.samples.append(MetricSample(value(self.repairs(cause)), labels: [("cause", cause.rawValue)]))
            failures.samples.append(MetricSample(value(repairFailures(cause)), labels: [("cause", cause.rawValue)]))
        }
        return [calls, durations]
            + ReaperCounter.allCases.map {
                MetricFamily($0.metricName, $0.isGauge ? .gauge : .counter, help: $0.help, value: value(reaper($0)))
            }
            + WatcherCounter.allCases.map {
                MetricFamily($0.metricName, $0.isGauge ? .gauge : .counter, help: $0.help, value: value(watcher($0)))
            }
            + [repairs, failures]
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

    /// The histogram's upper bounds, in seconds: a prepare on an existing VNI takes ~3 ms,
    /// a new one ~5 ms, one behind a lock held by a burst of calls up to seconds.
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

    var isGauge: Bool { false }

    var metricName: String {
        switch self {
        case .batches: "libvirt_vxlan_reaper_batches_total"
        case .segmentsRemoved: "libvirt_vxlan_reaper_segments_removed_total"
        case .failures: "libvirt_vxlan_reaper_failures_total"
        }
    }

    var help: String {
        switch self {
        case .batches: "Reaper runs that deleted segments (one batched kernel request each)."
        case .segmentsRemoved: "Segments (bridge and vxlan device) the reaper deleted."
        case .failures: "Teardowns the reaper left pending after a failure."
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

    var isGauge: Bool { self == .lastCheckTime }

    var metricName: String {
        switch self {
        case .checks: "libvirt_vxlan_watcher_checks_total"
        case .notificationsLost: "libvirt_vxlan_watcher_notifications_lost_total"
        case .guestsForgotten: "libvirt_vxlan_watcher_guests_forgotten_total"
        case .lastCheckTime: "libvirt_vxlan_watcher_last_check_timestamp_seconds"
        }
    }

    var help: String {
        switch self {
        case .checks: "Checks of every segment in use against its plan (after notifications, and each sweep)."
        case .notificationsLost:
            "Times the kernel dropped link notifications (ENOBUFS); each is followed by a full check."
        case .guestsForgotten: "Guests forgotten because they vanished without libvirt's release."
        case .lastCheckTime: "Unix time of the watcher's last check that read every link."
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
