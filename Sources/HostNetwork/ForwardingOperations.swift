import CNetlink
import VXLANCore

/// The all-zero MAC: an fdb entry for it tells a vxlan device where to send frames it has
/// no better entry for (broadcast, unknown unicast, multicast): head-end replication.
private let allZeroMAC: [UInt8] = [0, 0, 0, 0, 0, 0]

extension NetlinkSession {
    /// `bridge fdb show dev VXLAN | grep '^00:00:00:00:00:00'`: the remote VTEPs of the
    /// device's default (all-zero) entries. The kernel lists a multicast device's group
    /// there too; that is not a remote VTEP, so it is left out.
    public func defaultDestinations(of vxlan: Link) throws(KernelError) -> [IPAddress] {
        try fdbDestinations(dumping: vxlan.index, "bridge fdb show dev \(vxlan.name)")[vxlan.index] ?? []
    }

    /// The same for every device, by ifindex, from one dump. A dump filtered to one
    /// device still walks every device of the namespace in the kernel: `vxlanctl status`
    /// asks once instead of once per VNI.
    public func defaultDestinationsByLink() throws(KernelError) -> [Int32: [IPAddress]] {
        try fdbDestinations(dumping: 0, "bridge fdb show")
    }

    /// `bridge fdb show | grep dst`: every remote VTEP any fdb entry names, by ifindex:
    /// the default entries, and the MACs a device learned (multicast mode) or EVPN
    /// installed behind a VTEP. `vxlanctl check --peers` probes the path to each.
    public func remoteDestinationsByLink() throws(KernelError) -> [Int32: [IPAddress]] {
        try fdbDestinations(dumping: 0, "bridge fdb show", defaultEntriesOnly: false)
    }

    /// The destinations of the fdb entries of device `index` (0: every device).
    private func fdbDestinations(dumping index: Int32, _ operation: String, defaultEntriesOnly: Bool = true)
        throws(KernelError) -> [Int32: [IPAddress]]
    {
        var header = ndmsg()
        header.ndm_family = UInt8(AF_BRIDGE)
        header.ndm_ifindex = index
        let message = NetlinkMessage(type: Int32(RTM_GETNEIGH), flags: NLM_F_DUMP, header: header)
        var found: [Int32: [IPAddress]] = [:]
        try dump(operation, message, cache: "route/neigh") { entry in
            let device = rtnl_neigh_get_ifindex(entry)
            guard index == 0 || device == index, let mac = rtnl_neigh_get_lladdr(entry),
                !defaultEntriesOnly || nl_addr_iszero(mac) != 0, let dst = rtnl_neigh_get_dst(entry),
                let ip = IPAddress(nlAddress: dst), !ip.isMulticast
            else { return }
            found[device, default: []].append(ip)
        }
        return found
    }

    /// `bridge fdb append 00:00:00:00:00:00 dev VXLAN dst REMOTE self permanent`
    public func appendDefaultDestination(_ remote: IPAddress, to vxlan: Link) throws(KernelError) {
        try request(
            "bridge fdb append 00:00:00:00:00:00 dev \(vxlan.name) dst \(remote)",
            defaultDestinationMessage(Int32(RTM_NEWNEIGH), NLM_F_CREATE | NLM_F_APPEND, remote, vxlan))
    }

    /// `bridge fdb del 00:00:00:00:00:00 dev VXLAN dst REMOTE self`
    public func deleteDefaultDestination(_ remote: IPAddress, from vxlan: Link) throws(KernelError) {
        try request(
            "bridge fdb del 00:00:00:00:00:00 dev \(vxlan.name) dst \(remote)",
            defaultDestinationMessage(Int32(RTM_DELNEIGH), 0, remote, vxlan))
    }

    private func defaultDestinationMessage(
        _ type: Int32, _ flags: Int32, _ remote: IPAddress, _ vxlan: Link
    ) -> NetlinkMessage {
        var header = ndmsg()
        header.ndm_family = UInt8(AF_BRIDGE)
        header.ndm_ifindex = vxlan.index
        header.ndm_state = UInt16(NUD_PERMANENT | NUD_NOARP)
        header.ndm_flags = UInt8(NTF_SELF)
        let message = NetlinkMessage(type: type, flags: flags, header: header)
        message.put(Int32(NDA_LLADDR), bytes: allZeroMAC)
        message.put(Int32(NDA_DST), bytes: remote.bytes)
        return message
    }

    /// `bridge link set dev PORT learning off neigh_suppress on`: the EVPN shape of a
    /// bridge port, where BGP, not flooding, tells where MACs and IPs live.
    public func setEVPNPortFlags(of port: Link) throws(KernelError) {
        var header = ifinfomsg(family: AF_BRIDGE, index: port.index)
        header.ifi_family = UInt8(AF_BRIDGE)
        let message = NetlinkMessage(type: Int32(RTM_SETLINK), header: header)
        message.nest(Int32(IFLA_PROTINFO) | Int32(NLA_F_NESTED)) {
            message.put(Int32(IFLA_BRPORT_LEARNING), uint8: 0)
            message.put(Int32(IFLA_BRPORT_NEIGH_SUPPRESS), uint8: 1)
        }
        try request("bridge link set dev \(port.name) learning off neigh_suppress on", message)
    }
}
