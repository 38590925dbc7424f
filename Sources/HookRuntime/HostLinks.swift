import Glibc
import HostNetwork
import Lifecycle
import VXLANCore

/// The lifecycle's `SegmentLinks` over this host's netlink (and, for Open vSwitch
/// segments, ovsdb-server): `SegmentConverger` or `OpenvSwitchConverger` for ensure, by
/// the plan's bridge kind; the reaper's staging and deletion; name lookups for status.
/// Built by `SegmentHost` only.
struct HostLinks: RepairableLinks {
    let network: NetlinkSession
    /// See `SegmentConverger.verifiesForwarding`.
    let verifiesForwarding: Bool
    /// Milliseconds a call to ovsdb-server may take.
    let openvswitchTimeout: Int
    /// The OVS bridges of the reaper's current batch, staged and not yet removed.
    let stagedBridges = StagedBridges()

    final class StagedBridges {
        var bridges: [OpenvSwitchBridge] = []
    }

    /// The converger of the plan's bridge kind. A plan that asked for a Linux bridge (a
    /// NIC without virtualport: every guest of a Linux-bridge host) goes straight to the
    /// Linux converger, which costs nothing more than before Open vSwitch was known; an
    /// OVS bridge of the name shows there as a device of the wrong kind, said as such.
    /// Other plans get their kind resolved against what exists first.
    func ensure(_ plan: SegmentPlan) throws(ConvergeError) -> EnsureResult {
        if plan.bridgeKind == .linux, !plan.adoptsExistingKind {
            do {
                return try converger.ensure(plan)
            } catch .wrongKind(let name, let kind, "bridge") where name == plan.names.bridge.rawValue {
                guard kind == "openvswitch" || (try? openvswitch.existingKind(of: plan.names)) == .openvswitch else {
                    throw .wrongKind(name: name, kind: kind, expected: "bridge")
                }
                throw .bridgeKindMismatch(name: name, found: .openvswitch, wanted: .linux)
            }
        }
        let openvswitch = openvswitch  // one connection to ovsdb-server for both
        let resolved = try openvswitch.resolve(plan)
        switch resolved.bridgeKind {
        case .linux: return try converger.ensure(resolved)
        case .openvswitch: return try openvswitch.ensure(resolved)
        }
    }

    func replaceStale(_ plan: SegmentPlan) throws(ConvergeError) -> SegmentChange? {
        try converger.replaceStale(plan)
    }

    func status(of names: SegmentNames) throws(ConvergeError) -> SegmentStatus {
        try openvswitch.status(of: names)
    }

    /// The vxlan device is staged like any other; an Open vSwitch segment's bridge waits
    /// for `deleteStaged`, which removes the batch's bridges in one transaction.
    func stage(_ removal: SegmentRemoval) throws(ConvergeError) {
        try converger.stage(removal)
        if let bridge = removal.openvswitch { stagedBridges.bridges.append(bridge) }
    }

    func unstage(_ devices: [Link], of vni: VNI) throws(ConvergeError) {
        try converger.unstage(devices, of: vni)
    }

    /// The batch's OVS bridges first, in one OVSDB transaction (one reconfiguration of
    /// ovs-vswitchd for all of them; refused whole if a port came to one meanwhile, and the
    /// devices then stay staged, as for any failure here); then the staged devices.
    func deleteStaged(_ devices: [Link]) throws(ConvergeError) -> [String] {
        let bridges = stagedBridges.bridges
        stagedBridges.bridges = []
        if !bridges.isEmpty { try openvswitch.remove(bridges) }
        guard !devices.isEmpty else { return [] }
        return try converger.deleteStaged(devices)
    }

    private var converger: SegmentConverger {
        SegmentConverger(kernel: network, verifiesForwarding: verifiesForwarding)
    }

    var openvswitch: OpenvSwitchConverger {
        OpenvSwitchConverger(kernel: network, timeoutMilliseconds: openvswitchTimeout)
    }
}
