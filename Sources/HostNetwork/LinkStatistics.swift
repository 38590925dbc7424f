import CNetlink
import VXLANCore

extension NetlinkSession {
    /// `ip -s link show`: every link with its counters (IFLA_STATS64), from one
    /// RTM_GETLINK dump. For the metrics (the watcher's scrape, `vxlanctl metrics`), never
    /// the hook: a dump walks every link of the namespace.
    public func linksWithCounters() throws(KernelError) -> [(link: Link, counters: LinkCounters)] {
        let message = NetlinkMessage(type: Int32(RTM_GETLINK), flags: NLM_F_DUMP, header: ifinfomsg())
        var found: [(link: Link, counters: LinkCounters)] = []
        try dump("ip -s link show", message, cache: "route/link") { link in
            found.append((Link(link), LinkCounters(link)))
        }
        return found
    }
}

extension LinkCounters {
    /// libnl fills its counters from IFLA_STATS64 when the kernel sends it (every kernel
    /// since 2.6.35), else from the 32-bit IFLA_STATS.
    init(_ link: OpaquePointer) {
        func stat(_ id: rtnl_link_stat_id_t) -> UInt64 { rtnl_link_get_stat(link, id) }
        self.init(
            receivedPackets: stat(RTNL_LINK_RX_PACKETS), receivedBytes: stat(RTNL_LINK_RX_BYTES),
            receiveDrops: stat(RTNL_LINK_RX_DROPPED), receiveErrors: stat(RTNL_LINK_RX_ERRORS),
            transmittedPackets: stat(RTNL_LINK_TX_PACKETS), transmittedBytes: stat(RTNL_LINK_TX_BYTES),
            transmitDrops: stat(RTNL_LINK_TX_DROPPED), transmitErrors: stat(RTNL_LINK_TX_ERRORS))
    }
}
