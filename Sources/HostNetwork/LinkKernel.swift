import VXLANCore

/// The kernel operations `SegmentConverger` makes, one per function, each the iproute2
/// command it stands for: `NetlinkSession` does them over rtnetlink, and a test hands the
/// converger an in-memory kernel to run its branches (borrowed and foreign devices,
/// races, rollbacks) without root.
public protocol LinkKernel: AnyObject {
    /// `ip -d link show dev NAME`: one link, looked up by name (never a full dump), or nil.
    func link(named name: String) throws(KernelError) -> Link?

    /// `ip -d link show` of the link with this index, or nil.
    func link(index: Int32) throws(KernelError) -> Link?

    /// `ip link show master BRIDGE`
    func ports(ofBridge bridge: Link) throws(KernelError) -> [Link]

    /// `ip link show`: every link of the namespace. Only the reaper's check asks.
    func allLinks() throws(KernelError) -> [Link]

    /// `ip -4|-6 addr show dev NAME scope global`, primary first.
    func addresses(of link: Link, family: IPAddress.Family) throws(KernelError) -> [IPAddress]

    /// `ip link add NAME group G [mtu M] type bridge`, down.
    func createBridge(_ name: InterfaceName, mtu: Int?, group: UInt32) throws(KernelError)

    /// `ip link add NAME group G [mtu M] master BRIDGE up type vxlan id VNI ...`, in one
    /// request the kernel undoes whole when any part fails.
    func createVXLAN(_ spec: VXLANDeviceSpec, master: Int32, group: UInt32) throws(KernelError)

    /// `ip link set dev NAME [up] [mtu M] [master B]`, only the parts given.
    func setLink(_ link: Link, up: Bool, mtu: Int?, master: Int32?) throws(KernelError)

    /// `ip link set dev NAME addrgenmode none`
    func disableIPv6AddressGeneration(of link: Link) throws(KernelError)

    /// `ip link set dev NAME group G`
    func setGroup(_ group: UInt32, of link: Link) throws(KernelError)

    /// `ip link set dev NAME alias TEXT`
    func setAlias(_ alias: String, of link: Link) throws(KernelError)

    /// `ip link del dev NAME`
    func deleteLink(_ link: Link) throws(KernelError)

    /// `ip link del group GROUP`
    func deleteLinks(inGroup group: UInt32) throws(KernelError)

    /// `bridge fdb show dev VXLAN | grep '^00:00:00:00:00:00'`: the remote VTEPs.
    func defaultDestinations(of vxlan: Link) throws(KernelError) -> [IPAddress]

    /// `bridge fdb append 00:00:00:00:00:00 dev VXLAN dst REMOTE self permanent`
    func appendDefaultDestination(_ remote: IPAddress, to vxlan: Link) throws(KernelError)

    /// `bridge fdb del 00:00:00:00:00:00 dev VXLAN dst REMOTE self`
    func deleteDefaultDestination(_ remote: IPAddress, from vxlan: Link) throws(KernelError)

    /// `bridge link set dev PORT learning off neigh_suppress on`
    func setEVPNPortFlags(of port: Link) throws(KernelError)
}

extension NetlinkSession: LinkKernel {}

extension LinkKernel {
    /// One VNI, by name lookups only.
    public func status(of names: SegmentNames) throws(KernelError) -> SegmentStatus {
        let bridge = try link(named: names.bridge.rawValue)
        let vxlan = try link(named: names.vxlan.rawValue)
        let ports = try bridge.map { (bridge) throws(KernelError) in try self.ports(ofBridge: bridge) } ?? []
        return SegmentStatus(vni: names.vni, bridge: bridge, vxlan: vxlan, ports: ports)
    }
}
