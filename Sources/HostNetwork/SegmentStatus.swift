import VXLANCore

/// What the kernel holds for one VNI: its bridge, vxlan device and bridge ports.
public struct SegmentStatus: Hashable, Sendable {
    public var vni: VNI
    public var bridge: Link?
    public var vxlan: Link?
    public var ports: [String]

    /// Both devices exist, are ours, and the vxlan device is an up port of an up bridge.
    public var isComplete: Bool {
        guard let bridge, let vxlan else { return false }
        return bridge.isUp && vxlan.isUp && vxlan.master == bridge.index
    }
}

extension NetlinkSession {
    /// One VNI, by name lookups only.
    public func status(of names: SegmentNames) throws(NetlinkError) -> SegmentStatus {
        let bridge = try link(named: names.bridge.rawValue)
        let vxlan = try link(named: names.vxlan.rawValue)
        let ports = try bridge.map { (bridge) throws(NetlinkError) in try self.ports(ofBridge: bridge) } ?? []
        return SegmentStatus(vni: names.vni, bridge: bridge, vxlan: vxlan, ports: ports.map(\.name))
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
            byVNI[vni, default: SegmentStatus(vni: vni, ports: [])].vxlan = vxlan
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
            byVNI[vni, default: SegmentStatus(vni: vni, ports: [])].bridge = bridge
        }
        for (vni, status) in byVNI {
            guard let bridge = status.bridge else { continue }
            byVNI[vni]?.ports = (portsByMaster[bridge.index] ?? []).map(\.name)
        }
        return byVNI.values.sorted { $0.vni < $1.vni }
    }
}
