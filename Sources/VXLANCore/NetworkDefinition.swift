/// The libvirt network vxlanctl defines for a VNI: `<forward mode='bridge'/>` on the
/// VNI's bridge, with the segment's parameters in our metadata so that the network hook
/// serves it the same way on every host, whatever that host's defaults.
public struct NetworkDefinition: Hashable, Sendable {
    public var name: String
    public var bridge: InterfaceName
    public var metadata: SegmentOverrides

    public var vni: VNI { metadata.vni ?? VNI.minimum }

    /// The `<network>` document for `virNetworkDefineXML`. Every value in it has been
    /// validated (names, addresses, numbers), and is escaped all the same.
    public var xml: String {
        var attributes = [("vni", vni.description)]
        if let mode = metadata.mode { attributes.append(("mode", mode.rawValue)) }
        if let group = metadata.group { attributes.append(("group", group.description)) }
        if let dstport = metadata.dstport { attributes.append(("dstport", String(dstport))) }
        if let mtu = metadata.mtu { attributes.append(("mtu", String(mtu))) }
        let vxlanAttributes = attributes.map { " \($0.0)='\(escapeXML($0.1))'" }.joined()
        let remotes = (metadata.remotes ?? []).map { "\n      <vx:remote address='\($0)'/>" }.joined()
        let element =
            remotes.isEmpty
            ? "<vx:vxlan xmlns:vx='\(metadataNamespace)'\(vxlanAttributes)/>"
            : "<vx:vxlan xmlns:vx='\(metadataNamespace)'\(vxlanAttributes)>\(remotes)\n    </vx:vxlan>"
        return """
            <network>
              <name>\(escapeXML(name))</name>
              <forward mode='bridge'/>
              <bridge name='\(escapeXML(bridge.rawValue))'/>
              <metadata>
                \(element)
              </metadata>
            </network>

            """
    }

    /// What defining this network would do, given the networks libvirt already has.
    public enum Decision: Hashable, Sendable {
        case create
        /// The same network is already defined: nothing to do.
        case unchanged
        /// Ours, same name and VNI, other parameters: redefine.
        case update
        /// Refused: the name, the bridge or the VNI belongs to another network.
        case clash(String)
    }

    /// Compares with `existing` (parsed from libvirt); `vniOf` tells our networks and their VNI.
    public func decision(existing: [NetworkDescription], vniOf: (NetworkDescription) -> VNI?) -> Decision {
        if let same = existing.first(where: { $0.name == name }) {
            guard let otherVNI = vniOf(same) else {
                return .clash("network \(name) exists and is not a libvirt-vxlan network")
            }
            guard otherVNI == vni else { return .clash("network \(name) exists for VNI \(otherVNI)") }
            let current = NetworkDescription(
                name: same.name, bridge: same.bridge, forwardMode: same.forwardMode, overrides: same.overrides)
            let wanted = NetworkDescription(
                name: name, bridge: bridge.rawValue, forwardMode: "bridge", overrides: metadata)
            return current == wanted ? .unchanged : .update
        }
        if let other = existing.first(where: { $0.bridge == bridge.rawValue }) {
            return .clash("bridge \(bridge) is already used by network \(other.name)")
        }
        if let other = existing.first(where: { vniOf($0) == vni }) {
            return .clash("VNI \(vni) is already defined as network \(other.name)")
        }
        return .create
    }
}

extension Config {
    /// The network for `vni`: named by the network template unless `name` is given,
    /// carrying the mode, group or remotes, dstport (and MTU, if given) in force now.
    public func networkDefinition(for vni: VNI, name: String? = nil, mtu: Int? = nil) throws(PlanError)
        -> NetworkDefinition
    {
        let plan = try plan(for: vni)
        let networkName = name ?? names.network.render(vni)
        guard Self.isValidNetworkName(networkName) else { throw .invalidNetworkName(networkName) }
        if let mtu, !MTUPolicy.validRange.contains(mtu) { throw .mtuOutOfRange(mtu) }
        let metadata = SegmentOverrides(
            vni: vni, mode: plan.mode, group: plan.group, remotes: plan.mode == .unicast ? plan.remotes : nil,
            dstport: plan.dstport, mtu: mtu)
        return NetworkDefinition(name: networkName, bridge: plan.names.bridge, metadata: metadata)
    }

    /// libvirt accepts more, but a network name also ends up in file names and in
    /// commands operators type: letters, digits, "-", "_", "." and ":", at most 64.
    static func isValidNetworkName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64 && !name.hasPrefix(".")
            && name.unicodeScalars.allSatisfy {
                $0.isASCII
                    && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.:".unicodeScalars.contains($0))
            }
    }
}

/// Text made safe for an XML attribute or element.
func escapeXML(_ text: String) -> String {
    var escaped = ""
    for character in text {
        switch character {
        case "&": escaped += "&amp;"
        case "<": escaped += "&lt;"
        case ">": escaped += "&gt;"
        case "'": escaped += "&apos;"
        case "\"": escaped += "&quot;"
        default: escaped.append(character)
        }
    }
    return escaped
}
