/// An Open vSwitch bridge as its database holds it, for the rules: who made it, which
/// ports it has.
public struct OpenvSwitchBridge: Hashable, Sendable {
    public var name: String
    /// The Bridge row's uuid.
    public var uuid: String
    /// The VNI of our mark (`external_ids:libvirt-vxlan-vni`); nil on a bridge not ours.
    public var ownerVNI: VNI?
    /// "", "system" or "netdev".
    public var datapathType: String
    /// Every Port row's uuid: a removal deletes the bridge only while these are its ports.
    public var portUUIDs: Set<String>
    /// Whether our vxlan device's Port row is one of them.
    public var hasVXLANPort: Bool
    /// The names of its ports other than its own and our vxlan device's: guests' taps.
    public var otherPorts: [String]

    public init(
        name: String, uuid: String, ownerVNI: VNI?, datapathType: String = "", portUUIDs: Set<String> = [],
        hasVXLANPort: Bool = false, otherPorts: [String] = []
    ) {
        self.name = name
        self.uuid = uuid
        self.ownerVNI = ownerVNI
        self.datapathType = datapathType
        self.portUUIDs = portUUIDs
        self.hasVXLANPort = hasVXLANPort
        self.otherPorts = otherPorts
    }
}

/// What the kernel holds for one VNI: its bridge, vxlan device and bridge ports; for an
/// Open vSwitch segment, also what Open vSwitch's database holds.
public struct SegmentStatus: Hashable, Sendable {
    public var vni: VNI
    /// The bridge's device: a Linux bridge, or an OVS bridge's own (internal) device.
    public var bridge: Link?
    public var vxlan: Link?
    /// The bridge's ports, our vxlan device included (an OVS bridge: its ports' devices).
    public var ports: [Link]
    /// The OVS bridge of the segment's name, when there is one.
    public var openvswitch: OpenvSwitchBridge?

    public init(
        vni: VNI, bridge: Link? = nil, vxlan: Link? = nil, ports: [Link] = [], openvswitch: OpenvSwitchBridge? = nil
    ) {
        self.vni = vni
        self.bridge = bridge
        self.vxlan = vxlan
        self.ports = ports
        self.openvswitch = openvswitch
    }

    /// The segment's bridge kind, if it has a bridge.
    public var bridgeKind: BridgeKind? {
        openvswitch != nil ? .openvswitch : bridge == nil ? nil : .linux
    }

    /// Both devices exist and the vxlan device is an up port of an up bridge, whoever made them.
    public var isComplete: Bool {
        guard let bridge, let vxlan else { return false }
        if let openvswitch { return bridge.isUp && vxlan.isUp && openvswitch.hasVXLANPort }
        return bridge.isUp && vxlan.isUp && vxlan.master == bridge.index
    }

    /// Whether the segment may go: only if its devices are ours and no port other than
    /// our vxlan device is left on the bridge. Anything not ours is left exactly as it is.
    public func teardownPlan() throws(ConvergeError) -> TeardownPlan {
        if let openvswitch { return try openvswitchTeardownPlan(openvswitch) }
        if let bridge, bridge.kind != "bridge" {
            throw .wrongKind(name: bridge.name, kind: bridge.kind, expected: "bridge")
        }
        if let vxlan, vxlan.kind != "vxlan" {
            throw .wrongKind(name: vxlan.name, kind: vxlan.kind, expected: "vxlan")
        }
        if bridge == nil, vxlan == nil { return .leave(.absent) }
        if let bridge, !bridge.isOwned(for: vni) { return .leave(.notOwned(bridge.name)) }
        if let vxlan {
            guard vxlan.isOwned(for: vni) else { return .leave(.notOwned(vxlan.name)) }
            guard vxlan.master == 0 || vxlan.master == bridge?.index else { return .leave(.inUse(ports: [vxlan.name])) }
        }
        let others = ports.filter { $0.index != vxlan?.index }
        guard bridge == nil || others.isEmpty else { return .leave(.inUse(ports: others.map(\.name))) }
        return .remove(SegmentRemoval(vni: vni, devices: [vxlan, bridge].compactMap { $0 }))
    }
}

extension SegmentStatus {
    /// An OVS segment goes when its bridge carries our mark and no port but its own and
    /// our vxlan device's: the bridge (from the database) and our vxlan device.
    fileprivate func openvswitchTeardownPlan(_ bridge: OpenvSwitchBridge) throws(ConvergeError) -> TeardownPlan {
        if let vxlan, vxlan.kind != "vxlan" {
            throw .wrongKind(name: vxlan.name, kind: vxlan.kind, expected: "vxlan")
        }
        guard bridge.ownerVNI == vni else { return .leave(.notOwned(bridge.name)) }
        if let vxlan, !vxlan.isOwned(for: vni) { return .leave(.notOwned(vxlan.name)) }
        guard bridge.otherPorts.isEmpty else { return .leave(.inUse(ports: bridge.otherPorts)) }
        return .remove(SegmentRemoval(vni: vni, devices: [vxlan].compactMap { $0 }, openvswitch: bridge))
    }
}

/// The devices a teardown removes: the VNI's links of ours, vxlan device first; for an
/// Open vSwitch segment, its bridge in the database (whose device ovs-vswitchd removes).
public struct SegmentRemoval: Hashable, Sendable {
    public var vni: VNI
    /// The links themselves, as the decision saw them (their index and group).
    public var devices: [Link]
    public var openvswitch: OpenvSwitchBridge?

    public init(vni: VNI, devices: [Link], openvswitch: OpenvSwitchBridge? = nil) {
        self.vni = vni
        self.devices = devices
        self.openvswitch = openvswitch
    }

    /// What the journal says once they are gone: "deleted bridge brvx-5001".
    public var deleted: [SegmentChange] {
        (openvswitch.map { [.deletedOpenvSwitchBridge($0.name)] } ?? [])
            + devices.map { $0.kind == "bridge" ? .deletedBridge($0.name) : .deletedVXLAN($0.name) }
    }

    /// `deleted` in one line, as the journal and vxlanctl say it: "deleted vxlan5001,
    /// deleted bridge brvx-5001".
    public var deletedLine: String { deleted.map(\.description).joined(separator: ", ") }
}

/// Whether a segment goes, decided on its status (`SegmentStatus.teardownPlan`).
public enum TeardownPlan: Hashable, Sendable {
    case remove(SegmentRemoval)
    /// Nothing to remove: `.absent`, `.notOwned` or `.inUse`.
    case leave(TeardownResult)
}

/// Why a teardown leaves the segment.
public enum TeardownResult: Hashable, Sendable {
    case absent
    /// The bridge is not ours: left alone.
    case notOwned(String)
    /// Ports other than our vxlan device remain: left alone.
    case inUse(ports: [String])
}
