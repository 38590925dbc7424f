import CNetlink
import VXLANCore

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

    /// Ours, created for this VNI.
    public func isOwned(for vni: VNI) -> Bool { group == Ownership.interfaceGroup(for: vni) }
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
}

extension Link {
    /// Copies what we need out of a libnl `rtnl_link`.
    init(_ link: OpaquePointer) {
        index = rtnl_link_get_ifindex(link)
        name = rtnl_link_get_name(link).map { String(cString: $0) } ?? ""
        kind = rtnl_link_get_type(link).map { String(cString: $0) }
        let flags = rtnl_link_get_flags(link)
        isUp = flags & UInt32(IFF_UP.rawValue) != 0
        isPointToPoint = flags & UInt32(IFF_POINTOPOINT.rawValue | IFF_NOARP.rawValue) != 0
        mtu = Int(rtnl_link_get_mtu(link))
        master = rtnl_link_get_master(link)
        group = rtnl_link_get_group(link)
        address = Self.macAddress(rtnl_link_get_addr(link))
        alias = rtnl_link_get_ifalias(link).map { String(cString: $0) }
        var mode: UInt8 = 0
        generatesNoIPv6Address =
            rtnl_link_inet6_get_addr_gen_mode(link, &mode) < 0 || mode == UInt8(IN6_ADDR_GEN_MODE_NONE.rawValue)
        vxlan = kind == "vxlan" ? VXLANAttributes(link) : nil
    }
}

extension Link {
    static func macAddress(_ address: OpaquePointer?) -> String {
        guard let address, let raw = nl_addr_get_binary_addr(address) else { return "" }
        let bytes = UnsafeRawBufferPointer(start: raw, count: Int(nl_addr_get_len(address)))
        // Byte by byte: a generic map/joined here runs unspecialized (run-time type lookups).
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * 3)
        for byte in bytes {
            if !text.isEmpty { text.append(UInt8(ascii: ":")) }
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0xf)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}

extension VXLANAttributes {
    init(_ link: OpaquePointer) {
        var id: UInt32 = 0
        _ = rtnl_link_vxlan_get_id(link, &id)
        var underlay: UInt32 = 0
        _ = rtnl_link_vxlan_get_link(link, &underlay)
        var port: UInt32 = 0
        _ = rtnl_link_vxlan_get_port(link, &port)
        self.id = id
        self.underlay = Int32(bitPattern: underlay)
        // libnl converts IFLA_VXLAN_PORT to host byte order both ways.
        dstport = UInt16(truncatingIfNeeded: port)
        ttl = UInt8(clamping: max(0, rtnl_link_vxlan_get_ttl(link)))
        learning = rtnl_link_vxlan_get_learning(link) > 0
        group = Self.address { rtnl_link_vxlan_get_group(link, &$0) }
        local = Self.address { rtnl_link_vxlan_get_local(link, &$0) }
    }

    private static func address(_ get: (inout OpaquePointer?) -> Int32) -> IPAddress? {
        var address: OpaquePointer?
        guard get(&address) >= 0, let address else { return nil }
        defer { nl_addr_put(address) }
        return IPAddress(nlAddress: address)
    }
}

extension IPAddress {
    init?(nlAddress address: OpaquePointer) {
        guard let raw = nl_addr_get_binary_addr(address) else { return nil }
        let bytes = UnsafeRawBufferPointer(start: raw, count: Int(nl_addr_get_len(address)))
        guard let parsed = IPAddress(bytes: Array(bytes)), parsed != .v4(0), parsed != .v6(high: 0, low: 0) else {
            return nil
        }
        self = parsed
    }

    /// A libnl address for this IP; the caller owns (puts) it.
    func withNLAddress<Result>(_ body: (OpaquePointer) -> Result) -> Result {
        var raw = bytes
        let family = self.family == .ipv4 ? AF_INET : AF_INET6
        // nl_addr_build only fails when malloc does.
        guard let address = raw.withUnsafeMutableBytes({ nl_addr_build(family, $0.baseAddress, $0.count) })
        else { fatalError("out of memory") }
        defer { nl_addr_put(address) }
        return body(address)
    }
}
