/// A snapshot of one network interface as the kernel reported it.
public struct Link: Hashable, Sendable {
    public var index: Int32
    public var name: String
    /// IFLA_INFO_KIND: "bridge", "vxlan", "veth"...; nil for a physical NIC.
    public var kind: String?
    public var isUp: Bool
    public var mtu: Int
    /// The master's index (the bridge this link is a port of), 0 for none.
    public var master: Int32
    public var group: UInt32
    /// The MAC address, lower-case "fe:54:00:12:34:56".
    public var address: String
    /// IFLA_IFALIAS (`ip link set dev NAME alias TEXT`), nil when unset.
    public var alias: String?
    /// The kernel gives the link no IPv6 link-local address (`addrgenmode none`), or
    /// has no IPv6 at all.
    public var generatesNoIPv6Address: Bool
    /// A tunnel without link-layer neighbours (IFF_POINTOPOINT or IFF_NOARP): WireGuard,
    /// wireguard-go's tun device, GRE. It carries no multicast to a group of VTEPs, and
    /// whatever arrives on it came through the tunnel.
    public var isPointToPoint: Bool
    public var vxlan: VXLANAttributes?

    public init(
        index: Int32, name: String, kind: String?, isUp: Bool = true, mtu: Int = 1500, master: Int32 = 0,
        group: UInt32 = 0, address: String = "", alias: String? = nil, generatesNoIPv6Address: Bool = true,
        isPointToPoint: Bool = false, vxlan: VXLANAttributes? = nil
    ) {
        self.index = index
        self.name = name
        self.kind = kind
        self.isUp = isUp
        self.mtu = mtu
        self.master = master
        self.group = group
        self.address = address
        self.alias = alias
        self.generatesNoIPv6Address = generatesNoIPv6Address
        self.isPointToPoint = isPointToPoint
        self.vxlan = vxlan
    }

    /// The VNI libvirt-vxlan created this link for (its interface group), nil if foreign.
    public var ownerVNI: VNI? { Ownership.vni(ofGroup: group) }

    /// Ours, created for this VNI; or staged for deletion under this VNI's name (a reaper
    /// killed between staging and deleting leaves it there).
    public func isOwned(for vni: VNI) -> Bool { group == Ownership.interfaceGroup(for: vni) || isStaged }

    /// In the reaping group: about to be deleted with the reaper's batch.
    public var isStaged: Bool { group == Ownership.reapingGroup }
}

/// The vxlan-specific attributes (IFLA_VXLAN_*) we set and check.
public struct VXLANAttributes: Hashable, Sendable {
    public var id: UInt32
    public var group: IPAddress?
    public var local: IPAddress?
    /// The underlay device index (`dev`), 0 for none.
    public var underlay: Int32
    public var dstport: UInt16
    public var ttl: UInt8
    public var learning: Bool

    public init(
        id: UInt32, group: IPAddress?, local: IPAddress?, underlay: Int32, dstport: UInt16, ttl: UInt8,
        learning: Bool
    ) {
        self.id = id
        self.group = group
        self.local = local
        self.underlay = underlay
        self.dstport = dstport
        self.ttl = ttl
        self.learning = learning
    }
}

/// The vxlan device to create, with every host-dependent value already resolved.
public struct VXLANDeviceSpec: Hashable, Sendable {
    public var name: InterfaceName
    public var id: UInt32
    public var group: IPAddress?
    public var local: IPAddress?
    public var underlay: Int32?
    public var dstport: UInt16
    public var ttl: UInt8
    public var learning: Bool
    public var mtu: Int?

    public init(
        name: InterfaceName, id: UInt32, group: IPAddress?, local: IPAddress?, underlay: Int32?, dstport: UInt16,
        ttl: UInt8, learning: Bool, mtu: Int?
    ) {
        self.name = name
        self.id = id
        self.group = group
        self.local = local
        self.underlay = underlay
        self.dstport = dstport
        self.ttl = ttl
        self.learning = learning
        self.mtu = mtu
    }

    /// Its settings in `ip link add ... type vxlan` words: "id 5001 group 239.0.19.137
    /// dstport 8472 ttl 10 mtu 1450".
    public var settings: String {
        var words = ["id \(id)"]
        if let group { words.append("group \(group)") }
        if let local { words.append("local \(local)") }
        words.append("dstport \(dstport) ttl \(ttl)")
        if !learning { words.append("nolearning") }
        if let mtu { words.append("mtu \(mtu)") }
        return words.joined(separator: " ")
    }
}
