import VXLANCore

extension NetlinkSession {
    /// Every VNI on the host: vxlan devices that are ours or carry a template name, and
    /// bridges named by the template. One dump of every link, grouped here: asking the
    /// kernel for each bridge's ports made `vxlanctl status` quadratic in the number of
    /// VNIs. For vxlanctl, never the hook.
    public func segments(bridgeNames: NameTemplate, vxlanNames: NameTemplate) throws(KernelError) -> [SegmentStatus] {
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
