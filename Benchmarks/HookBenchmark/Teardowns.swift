import Foundation

/// A host emptied: N segments, each released by its last user back to back.
struct EvacuationRow: Codable {
    var segments: Int
    /// Who deleted: "hook", "before" (the `--before` build), "shell" (the CloudStack
    /// procedure's delete per VNI), "floor" (one `ip link del group` for all of them).
    var by: String
    /// Each call's wall time: what libvirt (or the caller) waits for.
    var perCall: Distribution
    /// From the first call's start until every link is gone.
    var totalMilliseconds: Double
    /// From the last call's end until every link is gone.
    var afterLastMilliseconds: Double
}

/// `prepare begin` of a new VNI while releases go on around it, against the same on a
/// quiet kernel.
struct ChurnReport: Codable {
    var idle: Distribution
    var churn: Distribution
    var beforeIdle: Distribution?
    var beforeChurn: Distribution?
}

extension Benchmark {
    /// Waits until no teardown is pending (the reaper removes a VNI's mark once its
    /// links are gone) and, for a `--before` build, until the VNI's lock is free.
    func waitForTeardowns(vni: Int? = nil) {
        if let vni { waitForLock(lockPath(vni)) }
        let folder = "\(work)/state/pending"
        while !((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).isEmpty { usleep(500) }
    }

    // MARK: 4. evacuation

    func evacuation(sizes: [Int]) throws -> [EvacuationRow] {
        var rows: [EvacuationRow] = []
        for (sizeIndex, size) in sizes.enumerated() {
            let base = 400_000 + sizeIndex * 10_000
            for (offset, binary) in [(0, hook)] + (before.map { [(2_000, $0)] } ?? []) {
                let guests = try (0..<size).map { try guest("evacuee\(base + offset + $0)", vni: base + offset + $0) }
                for guest in guests { callHook(guest, "prepare", "begin", binary: binary) }
                waitForIdleCPUs(limit: 10, window: 0.2)
                let started = now()
                let calls = guests.map { callHook($0, "release", "end", binary: binary).microseconds }
                let lastEnded = now()
                for guest in guests { waitForTeardowns(vni: guest.vni) }
                let gone = now()
                linksLeftAfterTeardown += try guests.filter { try !segmentIsGone($0.vni) }.count
                rows.append(
                    EvacuationRow(
                        segments: size, by: binary == hook ? "hook" : "before", perCall: Distribution(calls),
                        totalMilliseconds: (gone - started) / 1000, afterLastMilliseconds: (gone - lastEnded) / 1000))
            }
            let shellVNIs = (0..<size).map { String(base + 4_000 + $0) }
            for vni in shellVNIs { command(shell, "add", vni, "ul0") }
            waitForIdleCPUs(limit: 10, window: 0.2)
            let shellStarted = now()
            let shellCalls = shellVNIs.map { command(shell, "delete", $0, "ul0").microseconds }
            rows.append(
                EvacuationRow(
                    segments: size, by: "shell", perCall: Distribution(shellCalls),
                    totalMilliseconds: (now() - shellStarted) / 1000, afterLastMilliseconds: 0))
            rows.append(try floor(size: size, base: base + 6_000))
        }
        return rows
    }

    /// The same segments made by `ip -batch` in one interface group and deleted with one
    /// `ip link del group`: one request, one RCU grace period, the kernel's floor.
    private func floor(size: Int, base: Int) throws -> EvacuationRow {
        let batch = "\(work)/evacuation.batch"
        var lines = ""
        for vni in base..<(base + size) {
            let group = "239.\((vni >> 16) & 255).\((vni >> 8) & 255).\(vni & 255)"
            lines += """
                link add brvx-\(vni) group 78 type bridge
                link set brvx-\(vni) up
                link add vxlan\(vni) group 78 type vxlan id \(vni) group \(group) dev ul0 dstport 8472 ttl 10
                link set vxlan\(vni) master brvx-\(vni) up

                """
        }
        try lines.write(toFile: batch, atomically: true, encoding: .utf8)
        command("/usr/sbin/ip", "-batch", batch)
        waitForIdleCPUs(limit: 10, window: 0.2)
        let delete = command("/usr/sbin/ip", "link", "del", "group", "78").microseconds
        return EvacuationRow(
            segments: size, by: "floor", perCall: Distribution([delete]), totalMilliseconds: delete / 1000,
            afterLastMilliseconds: 0)
    }

    // MARK: 5. churn

    /// `rounds` times: the last user of one VNI released and, right behind it, a guest on
    /// a new VNI prepared (timed): guests moving through a host. Each round also times
    /// the idle baseline first, the same prepare with no teardown pending and the CPUs
    /// quiet, so that a shared machine's drift moves both alike.
    func churn(rounds: Int) throws -> ChurnReport {
        func measure(_ binary: String?, base: Int) throws -> (idle: Distribution, churn: Distribution) {
            let leaving = try (0..<rounds).map { try guest("leaving\(base + $0)", vni: base + $0) }
            for guest in leaving { callHook(guest, "prepare", "begin", binary: binary) }
            var idle: [Double] = []
            var churn: [Double] = []
            var arrived: [Guest] = []
            for (round, leaver) in leaving.enumerated() {
                waitForTeardowns()
                waitForIdleCPUs(limit: 2, window: 0.1)
                let quiet = try guest("idle\(base + round)", vni: base + 1_000 + round)
                idle.append(callHook(quiet, "prepare", "begin", binary: binary).microseconds)
                callHook(leaver, "release", "end", binary: binary)
                let behind = try guest("arriving\(base + round)", vni: base + 2_000 + round)
                churn.append(callHook(behind, "prepare", "begin", binary: binary).microseconds)
                arrived += [quiet, behind]
            }
            // The next sections start on an empty host.
            for guest in arrived { callHook(guest, "release", "end", binary: binary) }
            for guest in leaving + arrived { waitForTeardowns(vni: guest.vni) }
            return (Distribution(idle), Distribution(churn))
        }
        let current = try measure(nil, base: 500_000)
        let old = try before.map { try measure($0, base: 510_000) }
        return ChurnReport(idle: current.idle, churn: current.churn, beforeIdle: old?.idle, beforeChurn: old?.churn)
    }
}
