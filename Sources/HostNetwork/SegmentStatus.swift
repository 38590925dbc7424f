import VXLANCore

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
    public func teardownPlan() throws(ConvergeError) -> SegmentConverger.TeardownPlan {
        if let bridge, bridge.kind != "bridge" {
            throw .wrongKind(name: bridge.name, kind: bridge.kind, expected: "bridge")
        }
        if let vxlan, vxlan.kind != "vxlan" {
            throw .wrongKind(name: vxlan.name, kind: vxlan.kind, expected: "vxlan")
        }
        if bridge == nil, vxlan == nil { return .leave(.absent) }
        if let bridge, !bridge.isOwned(for: vni) { return .leave(.notOwned(bridge.name)) }
        var links: [String] = []
        if let vxlan {
            guard vxlan.isOwned(for: vni) else { return .leave(.notOwned(vxlan.name)) }
            guard vxlan.master == 0 || vxlan.master == bridge?.index else { return .leave(.inUse(ports: [vxlan.name])) }
            links.append(vxlan.name)
        }
        if let bridge {
            let others = ports.filter { $0.index != vxlan?.index }
            guard others.isEmpty else { return .leave(.inUse(ports: others.map(\.name))) }
            links.append("bridge \(bridge.name)")
        }
        return .remove(SegmentConverger.Removal(vni: vni, links: links, devices: [vxlan, bridge].compactMap { $0 }))
    }
}

extension NetlinkSession {
    /// One VNI, by name lookups only.
    public func status(of names: SegmentNames) throws(NetlinkError) -> SegmentStatus {
        let bridge = try link(named: names.bridge.rawValue)
        let vxlan = try link(named: names.vxlan.rawValue)
        let ports = try bridge.map { (bridge) throws(NetlinkError) in try self.ports(ofBridge: bridge) } ?? []
        return SegmentStatus(vni: names.vni, bridge: bridge, vxlan: vxlan, ports: ports)
    }

    /// Every VNI on the host: vxlan devices that are ours or carry a template name, and
    /// bridges named by the template. One dump of every link, grouped here: asking the
    /// kernel for each bridge's ports made `vxlanctl status` quadratic (6 s at 4096
    /// VNIs). For vxlanctl, never the hook.
    public func segments(bridgeNames: NameTemplate, vxlanNames: NameTemplate) throws(NetlinkError) -> [SegmentStatus] {
        let all = try allLinks()
        let portsByMaster = Dictionary(grouping: all.filter { $0.master != 0 }, by: \.master)
        var byVNI: [VNI: SegmentStatus] = [:]
        for vxlan in all where vxlan.kind == "vxlan" {
            let vni = vxlan.ownerVNI ?? vxlan.vxlan.flatMap { try? VNI($0.id) } ?? vxlanNames.vni(in: vxlan.name)
            guard let vni, vxlan.ownerVNI != nil || vxlanNames.vni(in: vxlan.name) != nil else { continue }
            byVNI[vni, default: SegmentStatus(vni: vni)].vxlan = vxlan
        }
        let bridges = all.filter { $0.kind == "bridge" }
        let bridgeByIndex = Dictionary(bridges.map { ($0.index, $0) }) { first, _ in first }
        for (vni, status) in byVNI {
            if let master = status.vxlan?.master, let bridge = bridgeByIndex[master] {
                byVNI[vni]?.bridge = bridge
            }
        }
        let claimed = Set(byVNI.values.compactMap { $0.bridge?.index })
        for bridge in bridges where !claimed.contains(bridge.index) {
            guard let vni = bridgeNames.vni(in: bridge.name) else { continue }
            byVNI[vni, default: SegmentStatus(vni: vni)].bridge = bridge
        }
        for (vni, status) in byVNI {
            guard let bridge = status.bridge else { continue }
            byVNI[vni]?.ports = portsByMaster[bridge.index] ?? []
        }
        return byVNI.values.sorted { $0.vni < $1.vni }
    }
}
