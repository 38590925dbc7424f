/// The libvirt network vxlanctl defines for a VNI: `<forward mode='bridge'/>` on the
/// VNI's bridge, with the segment's parameters in our metadata so that the network hook
/// serves it the same way on every host, whatever that host's defaults. LibvirtXML
/// writes it (`xml`), next to the code that reads it back.
public struct NetworkDefinition: Hashable, Sendable {
    public var name: String
    public var bridge: InterfaceName
    public let vni: VNI
    /// What the network carries in `<vx:vxlan>`; its `vni` is always `vni`.
    public private(set) var metadata: SegmentOverrides
    /// Open vSwitch: the network carries `<virtualport type='openvswitch'/>`, which libvirt
    /// gives every NIC on it (plugged with `ovs-vsctl add-port`), and the network hook
    /// makes an OVS bridge.
    public var bridgeKind: BridgeKind

    public init(
        name: String, bridge: InterfaceName, vni: VNI, metadata: SegmentOverrides, bridgeKind: BridgeKind = .linux
    ) {
        self.name = name
        self.bridge = bridge
        self.vni = vni
        self.metadata = metadata
        self.metadata.vni = vni
        self.bridgeKind = bridgeKind
    }

    /// `<virtualport type='...'/>` of the network, if any.
    public var virtualPort: String? { bridgeKind == .openvswitch ? "openvswitch" : nil }

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
                name: same.name, bridge: same.bridge, forwardMode: same.forwardMode, overrides: same.overrides,
                virtualPort: same.virtualPort)
            let wanted = NetworkDescription(
                name: name, bridge: bridge.rawValue, forwardMode: "bridge", overrides: metadata,
                virtualPort: virtualPort)
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
    /// carrying the mode, group or remotes, dstport (and MTU, if given) in force now, on
    /// a bridge of `bridgeKind` (default: `bridge_type`).
    public func networkDefinition(
        for vni: VNI, name: String? = nil, mtu: Int? = nil, bridgeKind: BridgeKind? = nil
    ) throws(PlanError) -> NetworkDefinition {
        let plan = try plan(for: vni, bridgeKind: bridgeKind ?? bridgeType)
        let networkName = name ?? names.network.render(vni)
        guard Self.isValidNetworkName(networkName) else { throw .invalidNetworkName(networkName) }
        if let mtu, !MTUPolicy.validRange.contains(mtu) { throw .mtuOutOfRange(mtu) }
        let metadata = SegmentOverrides(
            mode: plan.mode, group: plan.group, remotes: plan.mode == .unicast ? plan.remotes : nil,
            dstport: plan.dstport, mtu: mtu)
        return NetworkDefinition(
            name: networkName, bridge: plan.names.bridge, vni: vni, metadata: metadata, bridgeKind: plan.bridgeKind)
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
