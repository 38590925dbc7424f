import Foundation
import HostNetwork
import VXLANCore

/// A guest as the hook sees it: its domain XML in a file, one NIC on one VNI's bridge.
struct Guest {
    var name: String
    var uuid: String
    var vni: Int
    var xml: String
}

/// The measurements, run inside the network namespace the `Benchmarks/run` script made,
/// with the underlay `ul0`. Each section uses VNIs of its own.
final class Benchmark {
    let spawner: Spawner
    /// The same, with a unicast configuration: its prepare reads the vxlan device's fdb.
    let unicastSpawner: Spawner
    let hook: String
    /// Another build of the hook, timed in the same rounds as `hook` (before/after).
    let before: String?
    let vxlanctl: String
    let shell: String
    let work: String
    let network: NetlinkSession
    private(set) var hookPeakKiB = 0
    var linksLeftAfterTeardown = 0
    private var guestCount = 0

    init(hook: String, before: String?, vxlanctl: String, shell: String, work: String) throws {
        self.hook = hook
        self.before = before
        self.vxlanctl = vxlanctl
        self.shell = shell
        self.work = work
        try FileManager.default.createDirectory(atPath: "\(work)/xml", withIntermediateDirectories: true)
        try "underlay = \"ul0\"\n".write(toFile: "\(work)/vxlan.conf", atomically: true, encoding: .utf8)
        try "underlay = \"ul0\"\nmode = \"unicast\"\nremotes = [\"192.0.2.2\", \"192.0.2.3\"]\n".write(
            toFile: "\(work)/unicast.conf", atomically: true, encoding: .utf8)
        func spawner(config: String) -> Spawner {
            Spawner(
                environment: [
                    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LIBVIRT_VXLAN_CONFIG": "\(work)/\(config)",
                    "LIBVIRT_VXLAN_STATE_DIR": "\(work)/state",
                ], errorFolder: work)
        }
        // ip -batch making what a new VNI's prepare makes (the phases and the scale use it).
        try """
        link add brvx-90001 group 77 type bridge
        link set brvx-90001 up
        link add vxlan90001 group 77 type vxlan id 90001 group 239.1.95.33 dev ul0 dstport 8472 ttl 10
        link set vxlan90001 master brvx-90001
        link set vxlan90001 up

        """.write(toFile: "\(work)/create.batch", atomically: true, encoding: .utf8)
        self.spawner = spawner(config: "vxlan.conf")
        unicastSpawner = spawner(config: "unicast.conf")
        network = try NetlinkSession()
    }

    // MARK: building blocks

    func guest(_ name: String, vni: Int) throws -> Guest {
        guestCount += 1
        let uuid = String(format: "00000000-0000-4000-8000-%012x", guestCount)
        let xml = """
            <domain type='qemu'><name>\(name)</name><uuid>\(uuid)</uuid><devices>\
            <interface type='bridge'><mac address='52:54:00:00:00:01'/><source bridge='brvx-\(vni)'/>\
            <model type='virtio'/></interface></devices></domain>
            """
        let path = "\(work)/xml/\(name).xml"
        try xml.write(toFile: path, atomically: true, encoding: .utf8)
        return Guest(name: name, uuid: uuid, vni: vni, xml: path)
    }

    func hookCommand(_ guest: Guest, _ operation: String, _ sub: String, binary: String? = nil) -> [String] {
        [binary ?? hook, "--kind", "qemu", guest.name, operation, sub, "-"]
    }

    /// One hook call to its end; a failure stops the benchmark, which would measure nonsense.
    @discardableResult
    func callHook(
        _ guest: Guest, _ operation: String, _ sub: String, unicast: Bool = false, binary: String? = nil
    ) -> Sample {
        let command = hookCommand(guest, operation, sub, binary: binary)
        let sample = (unicast ? unicastSpawner : spawner).run(command, input: guest.xml)
        guard sample.status == 0 else {
            fatalError("hook \(operation) \(sub) \(guest.name) exited \(sample.status): \(spawner.errors())")
        }
        hookPeakKiB = max(hookPeakKiB, sample.peakKiB)
        return sample
    }

    @discardableResult
    func command(_ arguments: String...) -> Sample {
        let sample = spawner.run(arguments)
        guard sample.status == 0 else {
            fatalError("\(arguments.joined(separator: " ")) exited \(sample.status): \(spawner.errors())")
        }
        return sample
    }

    func lockPath(_ vni: Int) -> String { "\(work)/state/locks/\(vni)" }

    func names(_ vni: Int) throws -> SegmentNames { try Config().names(for: VNI(UInt32(vni))) }

    func users(_ vni: Int) -> Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: "\(work)/state/vni/\(vni)")) ?? [])
    }

    func segmentIsComplete(_ vni: Int) throws -> Bool { try network.status(of: names(vni)).isComplete }

    func segmentIsGone(_ vni: Int) throws -> Bool {
        let status = try network.status(of: names(vni))
        return status.bridge == nil && status.vxlan == nil
    }

    // MARK: 1. per phase, against /bin/true, ip -batch and the CloudStack procedure

    func phases(runs: Int) throws -> [Row] {
        var samples: [String: [Sample]] = [:]

        let batch = "\(work)/create.batch"
        // Interleaved: each round takes one sample of everything, so that a machine that
        // speeds up or slows down during the run (a shared VM does) moves the baselines
        // and the hook alike, and the ratios compare like with like. Each round starts on
        // a quiet kernel, its additions before its deletions: a deletion keeps a CPU busy
        // with RCU callbacks and device clean-up for tens of ms after it returns, and a
        // call made then takes ~40 % longer (1.63 ms against 1.17 ms on a settled host).
        let resident = try guest("resident", vni: 100_001)
        callHook(resident, "prepare", "begin")
        let residentShellVNI = "120000"
        command(shell, "add", residentShellVNI, "ul0")
        // The same calls of CloudStack's agent, through the package's modifyvxlan.sh (next to
        // the launcher, as Benchmarks/run installs it): sh, then the hook worker.
        let agentEntry = (hook as NSString).deletingLastPathComponent + "/modifyvxlan.sh"
        @discardableResult func agent(_ operation: String, _ vni: String) -> Sample {
            command(agentEntry, "-o", operation, "-v", vni, "-p", "ul0", "-b", "brvx-\(vni)")
        }
        let residentAgentVNI = "140000"
        agent("add", residentAgentVNI)
        // Which build goes first alternates when there are two.
        func builds(_ round: Int) -> [(prefix: String, binary: String?)] {
            let all: [(String, String?)] = [("", nil)] + (before.map { [("before.", $0)] } ?? [])
            return round.isMultiple(of: 2) ? all : all.reversed()
        }
        for round in 0..<runs {
            waitForIdleCPUs(limit: 2, window: 0.1)
            samples["true", default: []].append(command("/bin/true"))
            samples["shellExisting", default: []].append(command(shell, "add", residentShellVNI, "ul0"))
            samples["agentExisting", default: []].append(agent("add", residentAgentVNI))
            var fresh: [String: Guest] = [:]  // per build: the guest that made a new VNI
            for (prefix, binary) in builds(round) {
                samples[prefix + "ignored", default: []].append(callHook(resident, "started", "begin", binary: binary))
                // A guest joining a VNI that others already use: a new user every time.
                let joining = try guest("\(prefix)joining\(round)", vni: 100_001)
                samples[prefix + "existing", default: []].append(callHook(joining, "prepare", "begin", binary: binary))
                let guest = try guest("\(prefix)fresh\(round)", vni: (prefix.isEmpty ? 110_000 : 130_000) + round)
                fresh[prefix] = guest
                samples[prefix + "new", default: []].append(callHook(guest, "prepare", "begin", binary: binary))
            }
            let shellVNI = String(120_001 + round)
            samples["shellNew", default: []].append(command(shell, "add", shellVNI, "ul0"))
            let agentVNI = String(140_001 + round)
            samples["agentNew", default: []].append(agent("add", agentVNI))
            samples["ipCreate", default: []].append(command("/usr/sbin/ip", "-batch", batch))
            samples["ipDelete", default: []].append(command("/usr/sbin/ip", "link", "del", "group", "77"))
            for (prefix, binary) in builds(round) {
                guard let guest = fresh[prefix] else { continue }
                let started = now()
                let release = callHook(guest, "release", "end", binary: binary)
                samples[prefix + "release", default: []].append(release)
                waitForTeardowns(vni: guest.vni)
                samples[prefix + "gone", default: []].append(Sample(microseconds: now() - started, of: release))
                if try !segmentIsGone(guest.vni) { linksLeftAfterTeardown += 1 }
            }
            samples["shellDelete", default: []].append(command(shell, "delete", shellVNI, "ul0"))
            samples["agentDelete", default: []].append(agent("delete", agentVNI))
        }
        command(shell, "delete", residentShellVNI, "ul0")
        agent("delete", residentAgentVNI)

        let labels: [(String, String)] = [
            ("true", "/bin/true (exec floor)"),
            ("ipCreate", "ip -batch: bridge + vxlan + port + up (netlink floor)"),
            ("ipDelete", "ip link del group: both devices (netlink floor)"),
            ("shellExisting", "CloudStack procedure: add, existing VNI"),
            ("shellNew", "CloudStack procedure: add, new VNI"),
            ("shellDelete", "CloudStack procedure: delete"),
            ("agentExisting", "modifyvxlan.sh (ours) -o add, existing VNI"),
            ("agentNew", "modifyvxlan.sh (ours) -o add, new VNI"),
            ("agentDelete", "modifyvxlan.sh (ours) -o delete (removes the segment)"),
            ("ignored", "hook: started begin (ignored phase)"),
            ("existing", "hook: prepare begin, existing VNI"),
            ("new", "hook: prepare begin, new VNI"),
            ("release", "hook: release end, last user (libvirt waits)"),
            ("gone", "hook: release end until the links are gone"),
        ]
        let beforeLabels =
            before == nil
            ? []
            : labels.filter { $0.1.hasPrefix("hook: ") }.map {
                ("before.\($0.0)", "before: " + $0.1.dropFirst("hook: ".count))
            }
        return (labels + beforeLabels).map {
            let taken = samples[$0.0] ?? []
            return Row(
                key: $0.0, label: $0.1, microseconds: Distribution(taken.map(\.microseconds)),
                minorFaults: Distribution(taken.map { Double($0.minorFaults) }))
        }
    }

    // MARK: 2. scale

    /// Brings up `levels.last` VNIs, one hook prepare each; at every level, measures
    /// `prepare begin` on an existing VNI and `vxlanctl status`.
    /// `settleLimit`: the longest wait for idle CPUs after each level's new VNIs.
    /// `afterLevel` runs at each fill once the probes are done (the watcher's section).
    func scale(levels: [Int], probes: Int, settleLimit: Double, afterLevel: (Int) throws -> Void) throws
        -> ScaleReport
    {
        var points: [ScalePoint] = []
        var bringUp = 0.0
        var count = 0
        for level in levels {
            var creations: [Double] = []
            while count < level {
                count += 1
                creations.append(
                    callHook(try guest("s\(count)", vni: 200_000 + count), "prepare", "begin").microseconds)
            }
            bringUp += creations.reduce(0, +)
            let settled = waitForIdleCPUs(limit: settleLimit)
            let prepares = try (0..<probes).map { _ in
                callHook(try guest("probe", vni: 200_001), "prepare", "begin").microseconds
            }
            let unicastPrepares = try (0..<probes).map { _ in
                callHook(try guest("probe-unicast", vni: 199_999), "prepare", "begin", unicast: true).microseconds
            }
            let floor = (0..<max(probes / 5, 3)).map { _ in
                defer { command("/usr/sbin/ip", "link", "del", "group", "77") }
                return command("/usr/sbin/ip", "-batch", "\(work)/create.batch").microseconds
            }
            let statuses = (0..<3).map { _ in
                command(vxlanctl, "status", "--config", "\(work)/vxlan.conf").microseconds
            }
            points.append(
                ScalePoint(
                    vnis: level, prepareNew: Distribution(creations), ipCreate: Distribution(floor),
                    prepareExisting: Distribution(prepares), prepareExistingUnicast: Distribution(unicastPrepares),
                    settleSeconds: settled,
                    statusMicroseconds: Distribution(statuses)))
            try afterLevel(level)
        }
        return ScaleReport(points: points, bringUpSeconds: bringUp / 1e6, bringUpCalls: count)
    }

    // MARK: 3. storm

    /// `processes` hook processes in flight at all times over `vnis` VNIs: every guest is
    /// prepared, released and prepared again (teardowns racing prepares on shared VNIs),
    /// then all are released at once. The state is checked after both waves.
    func storm(processes: Int, vnis: Int) throws -> StormRow {
        let base = 300_000 + processes * 100
        let guests = try (0..<processes).map { try guest("storm\(processes)-\($0)", vni: base + $0 % vnis) }
        var latencies: [Double] = []
        var errors = 0
        var firstError: String?
        func wave(_ steps: [String]) -> Double {
            let started = now()
            var next = Array(repeating: 0, count: processes)
            var running: [pid_t: (slot: Int, started: Double)] = [:]
            func launch(_ slot: Int) {
                let words = steps[next[slot]].split(separator: " ").map(String.init)
                next[slot] += 1
                let (pid, began) = spawner.start(
                    hookCommand(guests[slot], words[0], words[1]), input: guests[slot].xml, slot: slot)
                running[pid] = (slot, began)
            }
            (0..<processes).forEach(launch)
            while let reaped = spawner.reapAny() {
                guard let call = running.removeValue(forKey: reaped.pid) else { continue }
                latencies.append(reaped.ended - call.started)
                hookPeakKiB = max(hookPeakKiB, reaped.peakKiB)
                if reaped.status != 0 {
                    errors += 1
                    firstError = firstError ?? spawner.errors(slot: call.slot)
                }
                if next[call.slot] < steps.count { launch(call.slot) }
                if running.isEmpty { break }
            }
            return now() - started
        }
        var elapsed = wave(["prepare begin", "release end", "prepare begin"])
        let shared = Set(guests.map(\.vni))
        var exact = try shared.allSatisfy { vni in
            let expected = Set(guests.filter { $0.vni == vni }.map { "domain-\($0.uuid)" })
            return try segmentIsComplete(vni) && users(vni) == expected
        }
        elapsed += wave(["release end"])
        for vni in shared { waitForTeardowns(vni: vni) }
        exact = try exact && shared.allSatisfy { try segmentIsGone($0) && users($0).isEmpty }
        return StormRow(
            processes: processes, vnis: vnis, calls: latencies.count, seconds: elapsed / 1e6,
            callsPerSecond: Double(latencies.count) / (elapsed / 1e6), microseconds: Distribution(latencies),
            errors: errors, firstError: firstError, exactState: exact)
    }
}
