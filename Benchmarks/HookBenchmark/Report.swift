import Foundation

/// Wall times of one measured operation, in microseconds.
struct Distribution: Codable {
    var runs: Int
    var median: Double
    var p90: Double
    var p99: Double

    init(_ samples: [Double]) {
        let sorted = samples.sorted()
        func rank(_ fraction: Double) -> Double {
            guard !sorted.isEmpty else { return 0 }
            return sorted[min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.up)) - 1)]
        }
        runs = sorted.count
        median = sorted.isEmpty ? 0 : (sorted[(sorted.count - 1) / 2] + sorted[sorted.count / 2]) / 2
        p90 = rank(0.9)
        p99 = rank(0.99)
    }
}

struct Row: Codable {
    var key: String
    var label: String
    var microseconds: Distribution
    /// The process's page faults (for "until the links are gone": the release call's).
    var minorFaults: Distribution
}

/// A ratio of two medians from the same run, with the issue's target where it has one.
struct Ratio: Codable {
    var label: String
    var value: Double
    var target: String?
    var met: Bool?
}

struct ScalePoint: Codable {
    var vnis: Int
    /// The `prepare begin` calls that created the VNIs since the previous point.
    var prepareNew: Distribution
    /// `ip -batch` creating one more VNI at this fill (and `ip link del group` removing
    /// it): the kernel's own cost of a new VNI on a host this full.
    var ipCreate: Distribution
    var prepareExisting: Distribution
    /// The same in unicast mode, which reads the vxlan device's fdb on every prepare.
    var prepareExistingUnicast: Distribution
    /// How long the kernel stayed busy after the new VNIs before the probes ran.
    var settleSeconds: Double
    var statusMicroseconds: Distribution
}

struct ScaleReport: Codable {
    var points: [ScalePoint]
    /// Every VNI brought up by one hook `prepare begin` each, one after the other.
    var bringUpSeconds: Double
    var bringUpCalls: Int
}

struct StormRow: Codable {
    var processes: Int
    var vnis: Int
    var calls: Int
    var seconds: Double
    var callsPerSecond: Double
    var microseconds: Distribution
    var errors: Int
    var firstError: String?
    var exactState: Bool
}

struct Report: Codable {
    var quick: Bool
    var kernel: String
    var cores: Int
    var phases: [Row]
    var ratios: [Ratio]
    var scale: ScaleReport
    var evacuation: [EvacuationRow]
    var churn: ChurnReport?
    var storm: [StormRow]
    var watcher: [WatcherPoint]
    var peerChecks: [PeerCheckRow]
    var hookPeakKiB: Int
    /// Release calls after which a link of the VNI was still there once its lock was free.
    var linksLeftAfterTeardown: Int
    /// Open vSwitch segments against OpenNebula's ovswitch_vxlan procedure (empty without
    /// a private Open vSwitch).
    var openvswitch: [Row] = []

    func printTable() {
        print(
            "libvirt-vxlan benchmarks: \(kernel), \(cores) cores\(quick ? " (quick mode: too few runs to quote)" : "")")
        print("")
        line("per phase, one process each", "runs", "median µs", "p90 µs   page faults")
        for row in phases {
            line(
                row.label, "\(row.microseconds.runs)", format(row.microseconds.median),
                format(row.microseconds.p90).padding(toLength: 9, withPad: " ", startingAt: 0)
                    + format(row.minorFaults.median))
        }
        print("")
        line("ratios (same run)", "", "value", "target")
        for ratio in ratios {
            let verdict = ratio.met.map { $0 ? "met" : "MISSED" } ?? ""
            line(
                ratio.label, "", String(format: "%.2f", ratio.value),
                [ratio.target ?? "", verdict].joined(separator: " "))
        }
        if !evacuation.isEmpty { printEvacuation() }
        if let churn { printChurn(churn) }
        if !scale.points.isEmpty { printScale() }
        if !storm.isEmpty { printStorm() }
        if !watcher.isEmpty { printWatcher() }
        if !peerChecks.isEmpty { printPeerChecks() }
        if !openvswitch.isEmpty {
            print("")
            Self.printRows("Open vSwitch (userspace datapath), one process each", openvswitch)
        }
    }

    /// `rows` under `title`, as the per-phase table prints them.
    static func printRows(_ title: String, _ rows: [Row]) {
        func line(_ label: String, _ count: String, _ first: String, _ second: String) {
            print(
                label.padding(toLength: 62, withPad: " ", startingAt: 0) + count.leftPadded(6) + first.leftPadded(12)
                    + "  " + second)
        }
        line(title, "runs", "median µs", "p90 µs")
        for row in rows {
            line(
                row.label, "\(row.microseconds.runs)", String(format: "%.0f", row.microseconds.median),
                String(format: "%.0f", row.microseconds.p90))
        }
    }

    private func printWatcher() {
        print("")
        print("vxlanctl watch: an underlay flap (ip link del ul0, then re-created with its name, MAC and address)")
        print("repaired at each fill; one VNI's vxlan device deleted or detached; idle cost; SIGTERM to exit")
        print("  VNIs  flap: from ul0 up  from del  lost events  vxlan deleted  detached (median ms)  stop ms")
        for point in watcher {
            print(
                [
                    "\(point.vnis)".leftPadded(6), String(format: "%.2f s", point.flapRepairSeconds).leftPadded(18),
                    String(format: "%.2f s", point.flapTotalSeconds).leftPadded(10),
                    (point.overrun ? "yes" : "no").leftPadded(13),
                    (point.vxlanDeleted.map { String(format: "%.1f", $0.median) } ?? "-").leftPadded(15),
                    (point.vxlanDetached.map { String(format: "%.1f", $0.median) } ?? "-").leftPadded(10),
                    String(format: "%.1f", point.stopMilliseconds).leftPadded(20),
                ].joined())
        }
        for point in watcher {
            guard let idle = point.idle else { continue }
            print(
                String(
                    format: "idle with %d VNIs in use: %d CPU ticks in %.0f s, RSS %d KiB (peak %d KiB)", point.vnis,
                    idle.cpuTicks, idle.seconds, idle.rssKiB, idle.peakRSSKiB))
        }
    }

    private func printPeerChecks() {
        print("")
        line("vxlanctl check --peers, medians in ms", "runs", "--peers", "check alone, difference")
        for row in peerChecks {
            let difference = (row.checkPeers.median - row.check.median) / 1000
            line(
                "\(row.peers) peers \(row.answering ? "answering (PASS)" : "silent (deadline)")",
                "\(row.check.runs)", String(format: "%.0f", row.checkPeers.median / 1000),
                String(format: "%.0f, %.0f", row.check.median / 1000, difference))
        }
    }

    private func printScale() {
        print("")
        print("scale: medians in µs at each fill; new VNI = the hook calls that filled up to here, and ip -batch")
        print("creating one more (the kernel's cost of a new VNI on a host this full); probes wait for idle CPUs")
        print("  VNIs  prepare existing  (unicast)  prepare new  ip -batch new  vxlanctl status  settled after")
        for point in scale.points {
            print(
                [
                    "\(point.vnis)".leftPadded(6), format(point.prepareExisting.median).leftPadded(18),
                    format(point.prepareExistingUnicast.median).leftPadded(11),
                    format(point.prepareNew.median).leftPadded(13), format(point.ipCreate.median).leftPadded(15),
                    format(point.statusMicroseconds.median).leftPadded(17),
                    String(format: "%.0f s", point.settleSeconds).leftPadded(15),
                ].joined())
        }
        print(
            String(
                format:
                    "bring-up: %d VNIs in %.2f s (%.2f ms per VNI); hook peak RSS %d KiB; links left after teardown: %d",
                scale.bringUpCalls, scale.bringUpSeconds,
                scale.bringUpSeconds * 1000 / Double(max(1, scale.bringUpCalls)),
                hookPeakKiB, linksLeftAfterTeardown))
    }

    private func printEvacuation() {
        print("")
        print("evacuation: N segments, each released by its last user, back to back (floor: one ip link del group)")
        print("     N  by        per call median µs  p90 µs   all gone ms  after the last call ms")
        for row in evacuation {
            print(
                [
                    "\(row.segments)".leftPadded(6), "  " + row.by.padding(toLength: 8, withPad: " ", startingAt: 0),
                    format(row.perCall.median).leftPadded(20), format(row.perCall.p90).leftPadded(8),
                    String(format: "%.0f", row.totalMilliseconds).leftPadded(14),
                    String(format: "%.0f", row.afterLastMilliseconds).leftPadded(24),
                ].joined())
        }
    }

    private func printChurn(_ churn: ChurnReport) {
        print("")
        line("churn: prepare begin of a new VNI", "runs", "median µs", "p90 µs")
        let rows: [(String, Distribution?)] = [
            ("idle (no teardown pending, CPUs quiet)", churn.idle), ("right behind a release", churn.churn),
            ("before: idle", churn.beforeIdle), ("before: right behind a release", churn.beforeChurn),
        ]
        for case (let label, let distribution?) in rows {
            line(label, "\(distribution.runs)", format(distribution.median), format(distribution.p90))
        }
    }

    private func printStorm() {
        print("")
        line("storm: concurrent hooks, mixed prepare/release", "N/VNIs", "calls/s", "p99 µs")
        for row in storm {
            let state = row.exactState ? "exact" : "WRONG"
            line(
                "\(row.calls) calls, \(row.errors) errors, final state \(state)", "\(row.processes)/\(row.vnis)",
                String(format: "%.0f", row.callsPerSecond), format(row.microseconds.p99))
            if let firstError = row.firstError { print("    first error: \(firstError)") }
        }
    }

    private func line(_ label: String, _ count: String, _ first: String, _ second: String) {
        print(
            label.padding(toLength: 52, withPad: " ", startingAt: 0) + count.leftPadded(8) + first.leftPadded(12)
                + "  " + second)
    }

    private func format(_ microseconds: Double) -> String { String(format: "%.0f", microseconds) }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        String(repeating: " ", count: max(0, width - count)) + self
    }
}
