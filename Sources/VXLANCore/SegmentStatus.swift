/// What the kernel holds for one VNI: its bridge, vxlan device and bridge ports.
public struct SegmentStatus: Hashable, Sendable {
    public var vni: VNI
    public var bridge: Link?
    public var vxlan: Link?
    /// The bridge's ports, our vxlan device included.
    public var ports: [Link]

    public init(vni: VNI, bridge: Link? = nil, vxlan: Link? = nil, ports: [Link] = []) {
        self.vni = vni
        self.bridge = bridge
        self.vxlan = vxlan
        self.ports = ports
    }

    /// Both devices exist and the vxlan device is an up port of an up bridge, whoever made them.
    public var isComplete: Bool {
        guard let bridge, let vxlan else { return false }
        return bridge.isUp && vxlan.isUp && vxlan.master == bridge.index
    }

    /// Whether the segment may go: only if its devices are ours and no port other than
    /// our vxlan device is left on the bridge. Anything not ours is left exactly as it is.
    public func teardownPlan() throws(ConvergeError) -> TeardownPlan {
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

/// The devices a teardown removes: the VNI's links of ours, vxlan device first.
public struct SegmentRemoval: Hashable, Sendable {
    public var vni: VNI
    /// The links themselves, as the decision saw them (their index and group).
    public var devices: [Link]

    public init(vni: VNI, devices: [Link]) {
        self.vni = vni
        self.devices = devices
    }

    /// What the journal says once they are gone: "deleted bridge brvx-5001".
    public var deleted: [SegmentChange] {
        devices.map { $0.kind == "bridge" ? .deletedBridge($0.name) : .deletedVXLAN($0.name) }
    }
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
