import CNetlink
import VXLANCore

extension Link {
    /// Copies what we need out of a libnl `rtnl_link`.
    init(_ link: OpaquePointer) {
        let kind = rtnl_link_get_type(link).map { String(cString: $0) }
        let flags = rtnl_link_get_flags(link)
        var mode: UInt8 = 0
        self.init(
            index: rtnl_link_get_ifindex(link), name: rtnl_link_get_name(link).map { String(cString: $0) } ?? "",
            kind: kind, isUp: flags & UInt32(IFF_UP.rawValue) != 0, mtu: Int(rtnl_link_get_mtu(link)),
            master: rtnl_link_get_master(link), group: rtnl_link_get_group(link),
            address: Self.macAddress(rtnl_link_get_addr(link)),
            alias: rtnl_link_get_ifalias(link).map { String(cString: $0) },
            generatesNoIPv6Address: rtnl_link_inet6_get_addr_gen_mode(link, &mode) < 0
                || mode == UInt8(IN6_ADDR_GEN_MODE_NONE.rawValue),
            isPointToPoint: flags & UInt32(IFF_POINTOPOINT.rawValue | IFF_NOARP.rawValue) != 0,
            vxlan: kind == "vxlan" ? VXLANAttributes(link) : nil)
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
        self.init(
            id: id, group: Self.address { rtnl_link_vxlan_get_group(link, &$0) },
            local: Self.address { rtnl_link_vxlan_get_local(link, &$0) }, underlay: Int32(bitPattern: underlay),
            // libnl converts IFLA_VXLAN_PORT to host byte order both ways.
            dstport: UInt16(truncatingIfNeeded: port), ttl: UInt8(clamping: max(0, rtnl_link_vxlan_get_ttl(link))),
            learning: rtnl_link_vxlan_get_learning(link) > 0)
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
