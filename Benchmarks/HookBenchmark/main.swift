import ArgumentParser
import Foundation

/// The benchmark harness behind `Benchmarks/run`, which builds the release products,
/// makes a network namespace with an underlay `ul0` and runs this inside it.
struct HookBenchmarkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hook-benchmark",
        abstract: "Times the libvirt-vxlan hook per phase, at scale and in storms, against baselines.",
        discussion: """
            Run it through Benchmarks/run, inside a fresh network namespace. Baselines are \
            measured in the same run: /bin/true (exec floor), ip -batch (netlink floor) and \
            the CloudStack shell procedure (Benchmarks/cloudstack-procedure).
            """)

    @Option(help: "The libvirt-vxlan-hook binary (a release build).") var hook: String
    @Option(help: "The vxlanctl binary.") var vxlanctl: String
    @Option(help: "The CloudStack procedure script.") var shell: String
    @Option(help: "A scratch folder for XML, config and the hook's state.") var work: String
    @Option(help: "Where to write the report as JSON.") var json: String?
    @Flag(help: "A few runs of everything: proves the harness works, numbers not quotable.") var quick = false
    @Flag(help: "Only the per-phase section: no scale, no storms.") var phasesOnly = false
    @Flag(help: "Only the scale section, at 1 and 1000 VNIs, with vxlanctl watch: no per-phase rows, no storms.")
    var watcherOnly = false
    @Option(help: "Rounds of the per-phase section (default 100, 5 with --quick).") var runs: Int?
    @Option(help: "Another hook binary (say, the previous build) timed in the same rounds: before/after.")
    var before: String?
    @Option(help: "The run directory of a private Open vSwitch (OVS_RUNDIR): the Open vSwitch section.")
    var ovsRundir: String?
    @Option(help: "OpenNebula's ovswitch_vxlan procedure script, the Open vSwitch baseline.")
    var ovsProcedure: String?
    @Flag(help: "Only the Open vSwitch section.") var openvswitchOnly = false

    func run() throws {
        // How a binary's pages sit in the page cache changes how many page faults each exec
        // takes: the same bytes written by cp or dpkg take ~18 % fewer than when written
        // by the linker or read back from disk after a reboot (measured: 78 vs 94 for an
        // ignored phase). Every hook starts from the state it has after a reboot.
        // The launcher's worker, where there is one, sits next to it.
        let worker = (hook as NSString).deletingLastPathComponent + "/libvirt-vxlan-hook-worker"
        let workers = FileManager.default.fileExists(atPath: worker) ? [worker] : []
        for binary in [hook] + workers + (before.map { [$0] } ?? []) { try evictFromPageCache(binary) }
        let benchmark = try Benchmark(hook: hook, before: before, vxlanctl: vxlanctl, shell: shell, work: work)
        var openvswitch: [Row] = []
        if let ovsRundir, let ovsProcedure {
            openvswitch = try benchmark.openvswitch(
                runs: quick ? 3 : min(runs ?? 30, 30), rundir: ovsRundir, procedure: ovsProcedure)
        }
        if openvswitchOnly {
            Report.printRows("Open vSwitch, one process each", openvswitch)
            return
        }
        // First, while the namespace has no vxlan device: check --peers also probes every
        // VTEP in their fdb (the later sections' remotes, which nobody answers).
        let peerChecks = try benchmark.peerChecks(
            counts: phasesOnly || watcherOnly ? [] : [(1, true), (10, true), (100, true), (100, false)],
            runs: quick ? 3 : 10)
        let phases = watcherOnly ? [] : try benchmark.phases(runs: runs ?? (quick ? 5 : 100))
        let evacuation = try benchmark.evacuation(sizes: phasesOnly || watcherOnly ? [] : quick ? [10] : [20, 200])
        let churn = try phasesOnly || watcherOnly ? nil : benchmark.churn(rounds: quick ? 5 : 40)
        let storm = try (phasesOnly || watcherOnly ? [] : quick ? [(8, 2)] : [(8, 2), (32, 8), (128, 32)]).map {
            try benchmark.storm(processes: $0.0, vnis: $0.1)
        }
        let levels =
            phasesOnly ? [] : quick ? [1, 10, 50] : watcherOnly ? [1, 1000] : [1, 100, 1000, 4096]
        var watcher: [WatcherPoint] = []
        let scale = try benchmark.scale(levels: levels, probes: quick ? 5 : 50, settleLimit: quick ? 5 : 60) { level in
            // One VNI's repairs and the idle cost at the first and the last fill.
            let ends = level == levels.first || level == levels.last
            watcher.append(
                try benchmark.watcher(
                    vnis: level, probeVNI: 200_001, probes: ends ? (quick ? 3 : 20) : 0,
                    idleSeconds: quick ? 5 : 60, settleLimit: quick ? 5 : 60))
        }
        let report = Report(
            quick: quick, kernel: kernelRelease(), cores: ProcessInfo.processInfo.activeProcessorCount,
            phases: phases, ratios: watcherOnly ? [] : ratios(phases, scale) + teardownRatios(evacuation, churn),
            scale: scale, evacuation: evacuation, churn: churn, storm: storm, watcher: watcher, peerChecks: peerChecks,
            hookPeakKiB: benchmark.hookPeakKiB, linksLeftAfterTeardown: benchmark.linksLeftAfterTeardown,
            openvswitch: openvswitch)
        report.printTable()
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(report).write(to: URL(fileURLWithPath: json))
            print("\nJSON: \(json)")
        }
    }

    /// The targets, each a ratio of medians measured in this run.
    func ratios(_ phases: [Row], _ scale: ScaleReport) -> [Ratio] {
        let median = Dictionary(uniqueKeysWithValues: phases.map { ($0.key, $0.microseconds.median) })
        func ratio(_ label: String, _ top: String, _ bottom: String, atLeast: Double? = nil, atMost: Double? = nil)
            -> Ratio
        {
            let value = (median[top] ?? 0) / max(1, median[bottom] ?? 0)
            let target = atLeast.map { "≥ \($0)" } ?? atMost.map { "≤ \($0)" }
            let met = atLeast.map { value >= $0 } ?? atMost.map { value <= $0 }
            return Ratio(label: label, value: value, target: target, met: met)
        }
        let gone = phases.first { $0.key == "gone" }?.microseconds.p99 ?? 0
        let beforeAfter =
            before == nil
            ? []
            : ["ignored", "existing", "new", "release"].map { ratio("before ÷ after: \($0)", "before.\($0)", $0) }
        return [
            ratio("ignored phase ÷ /bin/true", "ignored", "true", atMost: 3),
            ratio("prepare existing ÷ /bin/true", "existing", "true"),
            ratio("prepare new ÷ ip -batch create", "new", "ipCreate"),
            ratio("CloudStack add existing ÷ hook prepare existing", "shellExisting", "existing", atLeast: 10),
            ratio("CloudStack add new ÷ hook prepare new", "shellNew", "new", atLeast: 10),
            ratio("CloudStack delete ÷ hook release (libvirt's wait)", "shellDelete", "release", atLeast: 10),
            ratio("CloudStack add existing ÷ our modifyvxlan.sh add existing", "shellExisting", "agentExisting"),
            ratio("CloudStack add new ÷ our modifyvxlan.sh add new", "shellNew", "agentNew"),
            ratio("CloudStack delete ÷ our modifyvxlan.sh delete", "shellDelete", "agentDelete"),
            Ratio(label: "links gone after release, p99 in ms", value: gone / 1000, target: "≤ 1000", met: gone <= 1e6),
        ] + scaleRatios(scale) + beforeAfter
    }

    /// Issue 18's targets: back-to-back releases ≥ 10x faster than the shell's deletes,
    /// every link gone within 1 s of the last release, prepare under churn ≤ 2x idle.
    func teardownRatios(_ rows: [EvacuationRow], _ churn: ChurnReport?) -> [Ratio] {
        var ratios: [Ratio] = []
        for size in Set(rows.map(\.segments)).sorted() {
            let row = { (by: String) in rows.first { $0.segments == size && $0.by == by } }
            guard let hook = row("hook"), let shell = row("shell") else { continue }
            let speedup = shell.perCall.median / max(1, hook.perCall.median)
            ratios.append(
                Ratio(
                    label: "evacuation of \(size): shell delete ÷ hook release", value: speedup, target: "≥ 10",
                    met: speedup >= 10))
            ratios.append(
                Ratio(
                    label: "  links gone after the last release, ms", value: hook.afterLastMilliseconds,
                    target: "≤ 1000", met: hook.afterLastMilliseconds <= 1000))
        }
        if let churn {
            let ratio = churn.churn.median / max(1, churn.idle.median)
            ratios.append(
                Ratio(label: "prepare new VNI under churn ÷ idle", value: ratio, target: "≤ 2", met: ratio <= 2))
            if let beforeChurn = churn.beforeChurn, let beforeIdle = churn.beforeIdle {
                ratios.append(
                    Ratio(
                        label: "  before: the same", value: beforeChurn.median / max(1, beforeIdle.median), target: nil,
                        met: nil))
            }
        }
        return ratios
    }

    /// The flat-curve target: prepare on an existing VNI at the last fill ÷ at the first.
    func scaleRatios(_ scale: ScaleReport) -> [Ratio] {
        guard let first = scale.points.first, let last = scale.points.last else { return [] }
        let multicast = last.prepareExisting.median / max(1, first.prepareExisting.median)
        let unicast = last.prepareExistingUnicast.median / max(1, first.prepareExistingUnicast.median)
        return [
            Ratio(
                label: "prepare existing at \(last.vnis) VNIs ÷ at \(first.vnis)", value: multicast, target: "≤ 1.2",
                met: multicast <= 1.2),
            Ratio(label: "  the same in unicast mode (reads the fdb)", value: unicast, target: nil, met: nil),
        ]
    }

    /// Writes `path` back and drops its pages from the page cache; the next exec reads
    /// it from disk as the first one after a reboot does.
    func evictFromPageCache(_ path: String) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw ValidationError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        guard fdatasync(descriptor) == 0, posix_fadvise(descriptor, 0, 0, POSIX_FADV_DONTNEED) == 0 else {
            throw ValidationError("cannot drop \(path) from the page cache: \(String(cString: strerror(errno)))")
        }
    }

    func kernelRelease() -> String {
        var names = utsname()
        uname(&names)
        let release = withUnsafeBytes(of: names.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return "Linux \(release)"
    }
}

HookBenchmarkCommand.main()
