/// A plan written down as text, one `key value` line per field, so that a later process
/// (the watcher) converges a segment to exactly the plan the hook last applied to it:
/// the configuration's plan, or a libvirt network's with its own bridge name and
/// metadata, which only the hook call that read the network's XML knows.
///
///     vni 5001
///     bridge brvx-5001
///     vxlan vxlan5001
///     mode unicast
///     underlay ul0
///     family ipv4
///     remote 192.0.2.2
///     dstport 8472
///     ttl 10
///     mtu auto
///
/// An Open vSwitch segment adds `bridge_kind openvswitch` and `datapath system`; a record
/// without them (all records before 0.4) is a Linux bridge's. The kind recorded is the one
/// ensure found or made, never "whatever exists": the watcher must make the same again.
extension SegmentPlan {
    public var recordText: String {
        var lines = ["vni \(vni)", "bridge \(names.bridge)", "vxlan \(names.vxlan)", "mode \(mode)"]
        if let underlay { lines.append("underlay \(underlay)") }
        if let local { lines.append("local \(local)") }
        lines.append("family \(family.rawValue)")
        if let group { lines.append("group \(group)") }
        for remote in remotes { lines.append("remote \(remote)") }
        lines += ["dstport \(dstport)", "ttl \(ttl)", "mtu \(mtu)"]
        if let requiredMTU { lines.append("required_mtu \(requiredMTU)") }
        if bridgeKind == .openvswitch { lines += ["bridge_kind \(bridgeKind)", "datapath \(datapathType)"] }
        return lines.map { $0 + "\n" }.joined()
    }

    /// The plan `recordText` wrote; nil for text it did not write (a missing or unknown
    /// field, a value that does not parse).
    public init?(recordText: String) {
        var fields: [String: String] = [:]
        var remotes: [IPAddress] = []
        for line in recordText.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { return nil }
            if parts[0] == "remote" {
                guard let remote = IPAddress(parts[1]) else { return nil }
                remotes.append(remote)
            } else {
                guard fields.updateValue(parts[1], forKey: parts[0]) == nil else { return nil }
            }
        }
        func optional<T>(_ key: String, _ parse: (String) -> T?) -> T?? {
            guard let text = fields.removeValue(forKey: key) else { return .some(nil) }
            return parse(text).map { .some($0) } ?? nil
        }
        func required<T>(_ key: String, _ parse: (String) -> T?) -> T? {
            fields.removeValue(forKey: key).flatMap(parse)
        }
        guard let vni = required("vni", { try? VNI(parsing: $0) }),
            let bridge = required("bridge", { try? InterfaceName($0) }),
            let vxlan = required("vxlan", { try? InterfaceName($0) }),
            let mode = required("mode", UnderlayMode.init(rawValue:)),
            let underlay = optional("underlay", { try? InterfaceName($0) }),
            let local = optional("local", { IPAddress($0) }),
            let family = required("family", IPAddress.Family.init(rawValue:)),
            let group = optional("group", { IPAddress($0) }),
            let dstport = required("dstport", { UInt16($0) }),
            let ttl = required("ttl", { UInt8($0) }),
            let mtu = required("mtu", { $0 == "auto" ? MTUPolicy.auto : Int($0).map(MTUPolicy.fixed) }),
            let requiredMTU = optional("required_mtu", { Int($0) }),
            let bridgeKind = optional("bridge_kind", BridgeKind.init(rawValue:)),
            let datapathType = optional("datapath", OVSDatapathType.init(rawValue:)),
            fields.isEmpty
        else { return nil }
        self.init(
            names: SegmentNames(vni: vni, bridge: bridge, vxlan: vxlan), mode: mode, underlay: underlay, local: local,
            family: family, group: group, remotes: remotes, dstport: dstport, ttl: ttl, mtu: mtu,
            requiredMTU: requiredMTU, bridgeKind: bridgeKind ?? .linux, datapathType: datapathType ?? .system)
    }
}
