import VXLANCore

// How the counters file's slots (`CounterLayout`) read as metric families.

extension CounterLayout {
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
            help: "Time per hook call, from the launcher executing the worker to the worker's exit status, by driver "
                + "and phase.")
        for phase in HookPhase.all {
            let labels = [("driver", phase.driver.rawValue), ("phase", phase.operation)]
            for outcome in HookOutcome.allCases {
                calls.samples.append(
                    MetricSample(value(hookCall(phase, outcome)), labels: labels + [("outcome", outcome.rawValue)]))
            }
            durations.addHistogram(
                bounds: HookPhase.durationBounds, counts: hookDurationSlots(phase).map(at),
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
                MetricFamily($0.metricName, .counter, help: $0.help, value: value(reaper($0)))
            }
            + WatcherCounter.allCases.map {
                MetricFamily($0.metricName, $0.isGauge ? .gauge : .counter, help: $0.help, value: value(watcher($0)))
            }
            + [repairs, failures]
    }
}

extension ReaperCounter {
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

extension WatcherCounter {
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
