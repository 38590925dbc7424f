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

    /// The plan's bridge kind resolved against what exists (`OpenvSwitchConverger.resolve`),
    /// then the converger of that kind.
    func ensure(_ plan: SegmentPlan) throws(ConvergeError) -> EnsureResult {
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

    /// An Open vSwitch segment's bridge leaves the database here (one transaction, refused
    /// if a port came meanwhile); its vxlan device is staged like any other.
    func stage(_ removal: SegmentRemoval) throws(ConvergeError) {
        if let bridge = removal.openvswitch { try openvswitch.remove(bridge) }
        try converger.stage(removal)
    }

    func unstage(_ devices: [Link], of vni: VNI) throws(ConvergeError) {
        try converger.unstage(devices, of: vni)
    }

    func deleteStaged(_ devices: [Link]) throws(ConvergeError) -> [String] {
        try converger.deleteStaged(devices)
    }

    private var converger: SegmentConverger {
        SegmentConverger(kernel: network, verifiesForwarding: verifiesForwarding)
    }

    var openvswitch: OpenvSwitchConverger {
        OpenvSwitchConverger(kernel: network, timeoutMilliseconds: openvswitchTimeout)
    }
}
