import CNetlink
import VXLANCore

/// One kernel operation per function, each named for what it does and documented with
/// the iproute2 command it stands for.
extension NetlinkSession {
    /// `ip -d link show dev NAME`: one link, looked up by name (never a full dump), or nil.
    public func link(named name: String) throws(KernelError) -> Link? {
        try link(lookup: "ip link show dev \(name.escapedForMessage)") { rtnl_link_get_kernel(socket, 0, name, &$0) }
    }

    /// `ip -d link show` of the link with this index, or nil.
    public func link(index: Int32) throws(KernelError) -> Link? {
        try link(lookup: "ip link show index \(index)") { rtnl_link_get_kernel(socket, index, nil, &$0) }
    }

    private func link(
        lookup operation: @autoclosure () -> String, _ get: (inout OpaquePointer?) -> Int32
    ) throws(KernelError) -> Link? {
        var found: OpaquePointer?
        do {
            try call(operation()) { get(&found) }
        } catch  where error.isNoSuchDevice {
            return nil
        }
        guard let found else { return nil }
        defer { rtnl_link_put(found) }
        return Link(found)
    }

    /// `ip link add NAME group G [mtu M] type bridge`, down: a bridge without ports has a
    /// carrier here, so it would get an IPv6 link-local address the moment it comes up.
    public func createBridge(_ name: InterfaceName, mtu: Int?, group: UInt32) throws(KernelError) {
        guard let link = rtnl_link_alloc() else { fatalError("out of memory") }
        defer { rtnl_link_put(link) }
        rtnl_link_set_type(link, "bridge")
        try add(
            link, name: name, mtu: mtu, group: group, master: nil, up: false,
            operation: "ip link add \(name) type bridge")
    }

    /// `ip link add NAME group G [mtu M] master BRIDGE up type vxlan id VNI [group G dev D
    /// | local L] dstport P ttl T [nolearning]`. One message: the kernel sets the group
    /// (our mark), the master and IFF_UP as it creates the device, and removes the device
    /// again if bringing it up fails (ENOBUFS at the IGMP limit), so nothing is half-made.
    public func createVXLAN(_ spec: VXLANDeviceSpec, master: Int32, group: UInt32) throws(KernelError) {
        guard let link = rtnl_link_vxlan_alloc() else { fatalError("out of memory") }
        defer { rtnl_link_put(link) }
        _ = rtnl_link_vxlan_set_id(link, spec.id)
        if let address = spec.group { _ = address.withNLAddress { rtnl_link_vxlan_set_group(link, $0) } }
        if let address = spec.local { _ = address.withNLAddress { rtnl_link_vxlan_set_local(link, $0) } }
        if let underlay = spec.underlay { _ = rtnl_link_vxlan_set_link(link, UInt32(bitPattern: underlay)) }
        _ = rtnl_link_vxlan_set_port(link, UInt32(spec.dstport))
        _ = rtnl_link_vxlan_set_ttl(link, spec.ttl)
        _ = rtnl_link_vxlan_set_learning(link, spec.learning ? 1 : 0)
        try add(
            link, name: spec.name, mtu: spec.mtu, group: group, master: master, up: true,
            operation: "ip link add \(spec.name) type vxlan id \(spec.id)")
    }

    private func add(
        _ link: OpaquePointer, name: InterfaceName, mtu: Int?, group: UInt32, master: Int32?, up: Bool,
        operation: String
    ) throws(KernelError) {
        rtnl_link_set_name(link, name.rawValue)
        rtnl_link_set_group(link, group)
        if up { rtnl_link_set_flags(link, UInt32(IFF_UP.rawValue)) }
        if let mtu { rtnl_link_set_mtu(link, UInt32(mtu)) }
        if let master { rtnl_link_set_master(link, master) }
        try call(operation) { rtnl_link_add(socket, link, NLM_F_CREATE | NLM_F_EXCL) }
        changeSucceeded?()
    }

    /// `ip link set dev NAME [up] [mtu M] [master B]`, only the parts given.
    public func setLink(_ link: Link, up: Bool = false, mtu: Int? = nil, master: Int32? = nil) throws(KernelError) {
        let upFlag = UInt32(IFF_UP.rawValue)
        let message = NetlinkMessage(
            type: Int32(RTM_SETLINK),
            header: ifinfomsg(index: link.index, flags: up ? upFlag : 0, change: up ? upFlag : 0))
        if let mtu { message.put(Int32(IFLA_MTU), uint32: UInt32(mtu)) }
        if let master { message.put(Int32(IFLA_MASTER), uint32: UInt32(bitPattern: master)) }
        var words = ["ip link set dev", link.name]
        if up { words.append("up") }
        if let mtu { words.append("mtu \(mtu)") }
        if let master { words.append("master \(master)") }
        try request(words.joined(separator: " "), message)
    }

    /// `ip link set dev NAME addrgenmode none`: no IPv6 link-local address, so the host is
    /// not reachable from the segment. A request of its own, before the link comes up:
    /// the kernel refuses it when creating a link, and applies it after the flags when
    /// both are in one message (too late: the address is made at IFF_UP).
    public func disableIPv6AddressGeneration(of link: Link) throws(KernelError) {
        let message = NetlinkMessage(type: Int32(RTM_SETLINK), header: ifinfomsg(index: link.index))
        message.nest(Int32(IFLA_AF_SPEC)) {
            message.nest(Int32(AF_INET6)) {
                message.put(Int32(IFLA_INET6_ADDR_GEN_MODE), uint8: UInt8(IN6_ADDR_GEN_MODE_NONE.rawValue))
            }
        }
        try request("ip link set dev \(link.name) addrgenmode none", message)
    }

    /// `ip link set dev NAME group G`: moves the link into another interface group. Unlike
    /// a deletion or `down`, no RCU grace period: the kernel only stores the number.
    public func setGroup(_ group: UInt32, of link: Link) throws(KernelError) {
        let message = NetlinkMessage(type: Int32(RTM_SETLINK), header: ifinfomsg(index: link.index))
        message.put(Int32(IFLA_GROUP), uint32: group)
        try request("ip link set dev \(link.name) group \(group)", message)
    }

    /// `ip link set dev NAME alias TEXT`
    public func setAlias(_ alias: String, of link: Link) throws(KernelError) {
        let message = NetlinkMessage(type: Int32(RTM_SETLINK), header: ifinfomsg(index: link.index))
        message.put(Int32(IFLA_IFALIAS), string: alias)
        try request("ip link set dev \(link.name) alias \(alias)", message)
    }

    /// `ip link del dev NAME`
    public func deleteLink(_ link: Link) throws(KernelError) {
        try request(
            "ip link del dev \(link.name)",
            NetlinkMessage(type: Int32(RTM_DELLINK), header: ifinfomsg(index: link.index)))
    }

    /// `ip link del group GROUP`: every link in the group, in one RCU grace period.
    public func deleteLinks(inGroup group: UInt32) throws(KernelError) {
        let message = NetlinkMessage(type: Int32(RTM_DELLINK), header: ifinfomsg())
        message.put(Int32(IFLA_GROUP), uint32: group)
        try request("ip link del group \(group)", message)
    }

    /// `ip link show master BRIDGE`: the kernel filters the dump, so only the ports cross.
    public func ports(ofBridge bridge: Link) throws(KernelError) -> [Link] {
        let message = NetlinkMessage(type: Int32(RTM_GETLINK), flags: NLM_F_DUMP, header: ifinfomsg())
        message.put(Int32(IFLA_MASTER), uint32: UInt32(bitPattern: bridge.index))
        return try links("ip link show master \(bridge.name)", message)
    }

    /// `ip link show type KIND` (kernel-filtered dump). For `vxlanctl status`, never the hook.
    public func links(ofKind kind: String) throws(KernelError) -> [Link] {
        let message = NetlinkMessage(type: Int32(RTM_GETLINK), flags: NLM_F_DUMP, header: ifinfomsg())
        message.nest(Int32(IFLA_LINKINFO)) { message.put(Int32(IFLA_INFO_KIND), string: kind) }
        return try links("ip link show type \(kind)", message)
    }

    /// `ip link show`: every link of the namespace. For vxlanctl, never the hook.
    public func allLinks() throws(KernelError) -> [Link] {
        try links("ip link show", NetlinkMessage(type: Int32(RTM_GETLINK), flags: NLM_F_DUMP, header: ifinfomsg()))
    }

    private func links(_ operation: String, _ message: NetlinkMessage) throws(KernelError) -> [Link] {
        var found: [Link] = []
        try dump(operation, message, cache: "route/link") { found.append(Link($0)) }
        return found.sorted { $0.index < $1.index }
    }

    /// `ip -4|-6 addr show dev NAME scope global`: the link's global addresses of a family,
    /// in the kernel's order (primary first).
    public func addresses(of link: Link, family: IPAddress.Family) throws(KernelError) -> [IPAddress] {
        try globalAddresses(of: link, family: family).map(\.address)
    }

    /// The subnets of the link's global addresses: 192.0.2.0/24 for 192.0.2.1/24.
    public func subnets(of link: Link, family: IPAddress.Family) throws(KernelError) -> [IPNetwork] {
        try globalAddresses(of: link, family: family).map {
            IPNetwork(containing: $0.address, prefixLength: $0.prefixLength)
        }
    }

    private func globalAddresses(of link: Link, family: IPAddress.Family) throws(KernelError) -> [(
        address: IPAddress, prefixLength: Int
    )] {
        var header = ifaddrmsg()
        header.ifa_family = UInt8(family == .ipv4 ? AF_INET : AF_INET6)
        header.ifa_index = UInt32(bitPattern: link.index)
        let message = NetlinkMessage(type: Int32(RTM_GETADDR), flags: NLM_F_DUMP, header: header)
        var found: [(IPAddress, Int)] = []
        try dump("ip addr show dev \(link.name)", message, cache: "route/addr") { address in
            guard rtnl_addr_get_ifindex(address) == link.index,
                rtnl_addr_get_scope(address) == Int32(RT_SCOPE_UNIVERSE.rawValue),
                let local = rtnl_addr_get_local(address), let ip = IPAddress(nlAddress: local),
                ip.family == family
            else { return }
            found.append((ip, Int(rtnl_addr_get_prefixlen(address))))
        }
        return found
    }
}
