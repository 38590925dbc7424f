import ArgumentParser
import HookRuntime
import HostNetwork
import Lifecycle
import VXLANCore

struct Ensure: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a VNI's bridge and vxlan device exist, up and correct, and keep them.",
        discussion: """
            Creates whatever is missing and repairs whatever is partial (a bridge without \
            its vxlan port, a device that is down, a wrong MTU), as the hook does before a \
            guest starts, under the VNI's lock. Running it twice changes nothing the second \
            time. An existing device of the same name that was not created by libvirt-vxlan \
            is used only if it already matches the configuration; otherwise ensure refuses \
            and changes nothing.

            The segment is recorded as used by the operator ("vxlanctl ensure" in status): \
            it stays when the last guest on it stops, vxlanctl watch repairs it like a \
            guest's, and only vxlanctl teardown removes it. A teardown still pending for \
            the VNI is taken back.

            Example: vxlanctl ensure 5001
            """)

    @OptionGroup var segment: SegmentOptions

    @Flag(help: "Print what was done as JSON.")
    var json = false

    func run() throws {
        try reportingFailures {
            let vni = segment.vni
            let plan = try segment.configured { try $0.plan(for: vni) }
            // The operator's ensure reads every fdb it manages: it also repairs entries
            // changed by hand, which the hook, trusting the devices' aliases, does not see.
            let host = try segment.common.openHost(verifiesForwarding: true, journal: Journal())
            let use = SegmentLifecycle.Use(plan: plan, record: UserRecord(name: "vxlanctl ensure", macs: []))
            let outcome: JoinOutcome
            do {
                guard let joined = try host.lifecycle.join(.operator, [use], context: "vxlanctl ensure").first else {
                    throw Failure.host("VNI \(vni): nothing was made")
                }
                outcome = joined
            } catch let error as LifecycleError {
                throw Failure.host(error.description)
            }
            if json {
                try printJSON(EnsureReport(outcome))
                return
            }
            if outcome.tookBackTeardown { print("VNI \(vni): pending teardown taken back") }
            for change in outcome.changes { print(change) }
            print(outcome.readyLine())
        }
    }
}

struct Teardown: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove a VNI's vxlan device and bridge, if they are ours and nobody uses them.",
        discussion: """
            Drops the operator's record (vxlanctl ensure) and, under the VNI's lock, deletes \
            the vxlan device and the bridge when no guest or libvirt network is recorded on \
            the VNI, both were created by libvirt-vxlan and the bridge has no port but our \
            vxlan device. Otherwise the segment is left in place, the reason is printed \
            (who uses it, a port, a device that is not ours) and the exit status is 3. A \
            teardown that the hook left pending is carried out now.

            --force forgets the recorded guests and networks first (each is named on \
            stdout and in the journal) and then removes the segment if the kernel allows \
            it: for records known to be wrong. It never deletes a bridge that still carries \
            a port or a device that libvirt-vxlan did not create; a running guest's tap \
            keeps its bridge, and a libvirt network stays active without its segment.

            Examples: vxlanctl teardown 5001
                      vxlanctl teardown 5001 --force
            """)

    @OptionGroup var segment: SegmentOptions

    @Flag(help: "Forget the guests and networks recorded on the VNI, then remove it if nothing else holds it.")
    var force = false

    @Flag(help: "Print what was done as JSON.")
    var json = false

    func run() throws {
        try reportingFailures {
            let vni = segment.vni
            let names = try segment.configured { try $0.names(for: vni) }
            let host = try segment.common.openHost(journal: Journal())
            let outcome: LeaveOutcome
            do {
                outcome = try host.lifecycle.tearDown(names, force: force, context: "vxlanctl teardown")
            } catch {
                throw Failure.host(String(describing: error))
            }
            if json { try printJSON(TeardownReport(outcome)) }
            let failure: Failure? =
                switch outcome.decision {
                case .kept(.usedBy(let holders)):
                    .kept(
                        "VNI \(vni): used by \(holders.map(\.description).joined(separator: ", ")); left in place "
                            + "(stop them first, or --force forgets them)")
                case .kept(let reason): .kept("VNI \(vni): \(reason)")
                case .failed(let reason): .host("VNI \(vni): teardown failed: \(reason)")
                case .removed, .teardownPending, .absent: nil
                }
            // The facts before the verdict (guests forgotten); a refusal is the last line, on stderr.
            if !json { for line in failure == nil ? outcome.lines : outcome.lines.dropLast() { print(line) } }
            if let failure { throw failure }
        }
    }
}

/// `vxlanctl ensure --json`.
struct EnsureReport: Encodable {
    var vni: UInt32
    var bridge: String
    var vxlan: String
    var mtu: Int
    var borrowed: Bool
    var tookBackTeardown: Bool
    var changes: [String]

    init(_ outcome: JoinOutcome) {
        vni = outcome.vni.value
        bridge = outcome.names.bridge.rawValue
        vxlan = outcome.names.vxlan.rawValue
        mtu = outcome.mtu
        borrowed = outcome.borrowed
        tookBackTeardown = outcome.tookBackTeardown
        changes = outcome.changes.map(\.description)
    }
}

/// `vxlanctl teardown --json` (and gc's): the decision as a word, its details beside it.
struct TeardownReport: Encodable {
    var vni: UInt32
    /// removed, pending, kept, absent or failed.
    var result: String
    var deleted: [String]?
    var reason: String?
    var usedBy: [HolderReport]?
    var forgotten: [HolderReport]
    var dropped: [HolderReport]

    struct HolderReport: Encodable {
        var kind: String
        var name: String

        init(_ holder: Holder) {
            kind = holder.kind.rawValue
            name = holder.name
        }
    }

    init(_ outcome: LeaveOutcome) {
        vni = outcome.vni.value
        forgotten = outcome.forgotten.map(HolderReport.init)
        dropped = outcome.dropped.map(HolderReport.init)
        switch outcome.decision {
        case .removed(let removal):
            result = "removed"
            deleted = removal.devices.map(\.name)
        case .teardownPending(let removal):
            result = "pending"
            deleted = removal.devices.map(\.name)
        case .kept(let reason):
            result = "kept"
            self.reason = reason.description
            if case .usedBy(let holders) = reason { usedBy = holders.map(HolderReport.init) }
        case .absent:
            result = "absent"
        case .failed(let reason):
            result = "failed"
            self.reason = reason
        }
    }
}
