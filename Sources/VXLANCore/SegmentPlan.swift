/// The mark that tells our devices from everyone else's: the interface group (IFLA_GROUP)
/// we create a VNI's bridge and vxlan device in, 0x76000000 + VNI ("v" in the top byte).
/// Unlike an alias, the kernel sets the group in the very RTM_NEWLINK that creates the
/// device, so no crash can leave a device of ours unmarked. One group per VNI also lets a
/// single RTM_DELLINK remove both devices in one RCU grace period instead of two.
/// `ip link show group 1979716489` lists VNI 5001's devices.
public enum Ownership {
    static let marker: UInt32 = 0x7600_0000

    public static func interfaceGroup(for vni: VNI) -> UInt32 { marker | vni.value }

    /// The group the reaper moves a batch of segments into before it deletes them all with
    /// one RTM_DELLINK (a request's fixed cost paid once per batch): "VNI 0", which no segment
    /// has. Only the reaper puts links there, and only links of VNIs whose lock it holds
    /// and whose teardown is pending; a link in it is ours by its name.
    public static let reapingGroup: UInt32 = marker

    /// The VNI whose devices live in `group`, or nil for a group that is not ours.
    public static func vni(ofGroup group: UInt32) -> VNI? {
        guard group & 0xFF00_0000 == marker else { return nil }
        return try? VNI(group & 0x00FF_FFFF)
    }

    /// The alias (IFLA_IFALIAS) an owned unicast vxlan device gets once its fdb holds one
    /// default entry per remote, in that order: "libvirt-vxlan remotes 192.0.2.2
    /// 192.0.2.3". Set last, after the entries, it marks the fdb as converged, so that a
    /// later prepare can skip reading it. nil when the list does not fit the kernel's 255
    /// bytes: then every prepare reads the fdb.
    public static func forwardingAlias(remotes: [IPAddress]) -> String? {
        var alias = "libvirt-vxlan remotes"
        for remote in remotes { alias += " " + remote.description }
        return alias.utf8.count <= 255 ? alias : nil
    }
}

/// The two device names of one VNI. Enough to tear a segment down, even when the VNI
/// is no longer in the configured ranges.
public struct SegmentNames: Hashable, Sendable {
    public var vni: VNI
    public var bridge: InterfaceName
    public var vxlan: InterfaceName

    public init(vni: VNI, bridge: InterfaceName, vxlan: InterfaceName) {
        self.vni = vni
        self.bridge = bridge
        self.vxlan = vxlan
    }
}

/// Everything needed to converge one VNI on this host: names and vxlan parameters. The
/// host-dependent parts (underlay index and MTU, default local address) are resolved
/// when the plan is applied.
public struct SegmentPlan: Hashable, Sendable {
    public var names: SegmentNames
    public var mode: UnderlayMode
    public var underlay: InterfaceName?
    /// Explicit VTEP source address; nil means "the underlay's first address" where the
    /// mode needs one (unicast, evpn) and none in multicast mode, as CloudStack does.
    public var local: IPAddress?
    public var family: IPAddress.Family
    /// Multicast mode only.
    public var group: IPAddress?
    /// Unicast mode only: remote VTEPs for head-end replication.
    public var remotes: [IPAddress]
    public var dstport: UInt16
    public var ttl: UInt8
    public var mtu: MTUPolicy
    /// The largest MTU a guest interface or libvirt network asked for on this segment.
    public var requiredMTU: Int?
    /// A Linux bridge, or an Open vSwitch bridge with the same vxlan device as its port.
    public var bridgeKind: BridgeKind = .linux
    /// Whether `bridgeKind` is only the configuration's default (no NIC or network asked
    /// for a kind): then an existing bridge of the other kind is used as it is.
    public var adoptsExistingKind = false
    /// Open vSwitch only: the bridge's datapath.
    public var datapathType: OVSDatapathType = .system

    public var vni: VNI { names.vni }

    /// EVPN leaves learning to BGP; the other modes learn remote MACs from traffic.
    public var learning: Bool { mode != .evpn }

    /// Whether the device must carry a source address (FRR reads it as the VTEP IP;
    /// unicast replication needs a fixed source).
    public var needsLocalAddress: Bool { mode != .multicast }
}

public enum PlanError: Error, Equatable, CustomStringConvertible {
    case vniNotAllowed(VNI, [VNIRange])
    case invalidName(InterfaceNameError)
    case missingUnderlay(UnderlayMode)
    case missingRemotes(VNI)
    case missingLocal(VNI)
    case familyMismatch(VNI)
    case notMulticast(IPAddress)
    case invalidNetworkName(String)
    case mtuOutOfRange(Int)
    /// Two NICs of one guest on one VNI that libvirt plugs into different bridge kinds.
    case bridgeKindConflict(VNI, bridge: InterfaceName)
    /// EVPN needs the Linux bridge: FRR's zebra learns guests' MACs from its fdb.
    case evpnNeedsLinuxBridge(VNI)

    public var description: String {
        switch self {
        case .vniNotAllowed(let vni, let ranges):
            "VNI \(vni) is not in this host's vni_ranges (\(ranges.map(\.description).joined(separator: ", ")))"
        case .invalidName(let error):
            error.description
        case .missingUnderlay(let mode):
            "\(mode) mode needs 'underlay' (the device that carries VXLAN) in the configuration"
        case .missingRemotes(let vni):
            "VNI \(vni): unicast mode needs at least one entry in 'remotes'"
        case .missingLocal(let vni):
            "VNI \(vni): evpn mode needs 'local' or 'underlay' to find the VTEP address"
        case .familyMismatch(let vni):
            "VNI \(vni): local, remotes and group must all be IPv4 or all IPv6"
        case .notMulticast(let group):
            "group \(group) is not a multicast address"
        case .invalidNetworkName(let name):
            "network name '\(name.escapedForMessage)' may hold at most 64 letters, digits, '-', '_', '.' and ':'"
        case .mtuOutOfRange(let mtu):
            "MTU \(mtu) is out of range (\(MTUPolicy.validRange.lowerBound)-\(MTUPolicy.validRange.upperBound))"
        case .bridgeKindConflict(let vni, let bridge):
            "VNI \(vni): this guest has a NIC with <virtualport type='openvswitch'/> and one without on \(bridge); "
                + "libvirt would plug them into an Open vSwitch bridge and a Linux bridge: give all of them the same"
        case .evpnNeedsLinuxBridge(let vni):
            "VNI \(vni): evpn mode needs a Linux bridge (FRR learns guests' MAC addresses from the Linux bridge's "
                + "fdb, which an Open vSwitch bridge does not fill): use bridge_type = \"linux\" and no "
                + "<virtualport type='openvswitch'/> on this VNI, or multicast or unicast mode"
        }
    }
}

extension Config {
    /// The device names of `vni` under this configuration's templates.
    public func names(for vni: VNI) throws(PlanError) -> SegmentNames {
        do {
            return SegmentNames(
                vni: vni, bridge: try names.bridge.interfaceName(for: vni),
                vxlan: try names.vxlan.interfaceName(for: vni))
        } catch {
            throw .invalidName(error)
        }
    }

    /// The plan for one VNI, with a libvirt network's per-network settings on top of the
    /// configuration. Refuses VNIs outside `vni_ranges` and incomplete settings.
    public func plan(
        for vni: VNI, overrides: SegmentOverrides? = nil, bridge: InterfaceName? = nil, requiredMTU: Int? = nil,
        bridgeKind: BridgeKind? = nil
    ) throws(PlanError) -> SegmentPlan {
        guard accepts(vni) else { throw .vniNotAllowed(vni, vniRanges) }
        var segmentNames = try names(for: vni)
        if let bridge { segmentNames.bridge = bridge }
        let mode = overrides?.mode ?? self.mode
        let underlay = overrides?.underlay ?? self.underlay
        let local = overrides?.local ?? self.local
        let remotes = overrides?.remotes ?? self.remotes
        let group = mode == .multicast ? (overrides?.group ?? groupPolicy.group(for: vni)) : nil
        let addresses = [local].compactMap { $0 } + remotes + [group].compactMap { $0 }
        let family = addresses.first?.family ?? self.family

        switch mode {
        case .multicast:
            guard underlay != nil else { throw .missingUnderlay(mode) }
        case .unicast:
            guard !remotes.isEmpty else { throw .missingRemotes(vni) }
        case .evpn:
            guard local != nil || underlay != nil else { throw .missingLocal(vni) }
        }
        if let group, !group.isMulticast { throw .notMulticast(group) }
        guard addresses.allSatisfy({ $0.family == family }) else { throw .familyMismatch(vni) }

        let kind = bridgeKind ?? bridgeType
        if kind == .openvswitch, mode == .evpn { throw .evpnNeedsLinuxBridge(vni) }

        return SegmentPlan(
            names: segmentNames, mode: mode, underlay: underlay, local: local, family: family, group: group,
            remotes: mode == .unicast ? remotes : [], dstport: overrides?.dstport ?? dstport,
            ttl: overrides?.ttl ?? ttl, mtu: overrides?.mtu.map { .fixed($0) } ?? mtu, requiredMTU: requiredMTU,
            bridgeKind: kind, adoptsExistingKind: bridgeKind == nil, datapathType: openvswitch.datapathType)
    }

    /// The VNI a guest interface belongs to, if it sits on a VXLAN segment: a bridge
    /// named by the bridge template, or a libvirt network named by the network template.
    public func vni(of interface: GuestInterface) -> VNI? {
        switch interface.source {
        case .bridge(let name): names.bridge.vni(in: name)
        case .network(let name): names.network.vni(in: name)
        }
    }

    /// One plan per VNI the domain uses, in VNI order; each plan requires the largest
    /// `<mtu>` any of the domain's interfaces on that VNI asks for, and the bridge kind
    /// its NICs are plugged into (`GuestInterface.bridgeKind`; refused when they differ).
    public func plans(for domain: DomainDescription) throws(PlanError) -> [SegmentPlan] {
        var largestMTU: [VNI: Int?] = [:]
        var kinds: [VNI: BridgeKind] = [:]
        for interface in domain.interfaces {
            guard let vni = vni(of: interface) else { continue }
            let previous = largestMTU[vni] ?? nil
            largestMTU[vni] = [previous, interface.mtu].compactMap { $0 }.max()
            guard let kind = interface.bridgeKind else { continue }
            if let earlier = kinds.updateValue(kind, forKey: vni), earlier != kind {
                throw .bridgeKindConflict(vni, bridge: try names(for: vni).bridge)
            }
        }
        var plans: [SegmentPlan] = []
        for (vni, mtu) in largestMTU.sorted(by: { $0.key < $1.key }) {
            plans.append(try plan(for: vni, requiredMTU: mtu, bridgeKind: kinds[vni]))
        }
        return plans
    }

    /// The VNI of a libvirt network if it is ours: the VNI of our metadata, or of a bridge
    /// named by the bridge template. Nil for every other network.
    public func vni(of network: NetworkDescription) -> VNI? {
        network.overrides?.vni ?? network.bridge.flatMap { names.bridge.vni(in: $0) }
    }

    /// The plan for a libvirt network if it is ours (see `vni(of:)`), nil otherwise.
    public func plan(for network: NetworkDescription) throws(PlanError) -> SegmentPlan? {
        guard let vni = vni(of: network) else { return nil }
        var bridge: InterfaceName?
        if let name = network.bridge {
            do { bridge = try InterfaceName(name) } catch { throw .invalidName(error) }
        }
        return try plan(
            for: vni, overrides: network.overrides, bridge: bridge, requiredMTU: network.mtu,
            bridgeKind: network.bridgeKind)
    }
}
