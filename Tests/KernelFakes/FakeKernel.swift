import Glibc
import HostNetwork
import VXLANCore

/// A network namespace in memory, under `SegmentConverger` in place of a netlink
/// session: links, addresses and fdb entries change the way the kernel changes them
/// (EEXIST for a taken name, a deleted bridge's ports left without a master, a group
/// deletion taking every link of the group). A test sets the scene with `add`, makes any
/// request fail with `fail`, plays another caller with `beforeCreate`, and reads what
/// the converger asked for in `requests`.
public final class FakeKernel: LinkKernel {
    /// The requests a test can make fail.
    public enum Request: Hashable, Sendable {
        case createBridge, createVXLAN, setLink, disableIPv6AddressGeneration, setGroup, setAlias, deleteLink
        case deleteLinks, appendDefaultDestination, deleteDefaultDestination, setEVPNPortFlags
    }

    public private(set) var links: [Int32: Link] = [:]
    /// The global addresses of each link, by link name, primary first.
    public var addresses: [String: [IPAddress]] = [:]
    /// The all-zero fdb entries' destinations, by ifindex.
    public private(set) var defaultDestinations: [Int32: [IPAddress]] = [:]
    /// Every change asked for, in iproute2 words, in order; failed ones included.
    public private(set) var requests: [String] = []
    /// Runs once, as a create request arrives, with the name asked for: another caller
    /// that gets there first.
    public var beforeCreate: ((String) -> Void)?
    private var failures: [Request: [Int32]] = [:]
    private var nextIndex: Int32 = 1

    public init() {}

    /// Every link's name, sorted.
    public var names: [String] { links.values.map(\.name).sorted() }

    public func named(_ name: String) -> Link? { links.values.first { $0.name == name } }

    /// Adds `link` as the kernel would number it; returns it with its index.
    @discardableResult
    public func add(_ link: Link) -> Link {
        var link = link
        link.index = nextIndex
        nextIndex += 1
        links[link.index] = link
        return link
    }

    /// The next `times` requests of that kind fail with `errno`, before changing anything.
    public func fail(_ request: Request, errno: Int32, times: Int = 1) {
        failures[request, default: []] += Array(repeating: errno, count: times)
    }

    /// Records the request, then throws the failure injected for it, if any.
    private func perform(_ request: Request, _ words: String) throws(KernelError) {
        requests.append(words)
        guard var queued = failures[request], !queued.isEmpty else { return }
        let errno = queued.removeFirst()
        failures[request] = queued
        throw Self.error(words, errno: errno)
    }

    private static func error(_ words: String, errno: Int32) -> KernelError {
        KernelError(operation: words, reason: String(cString: strerror(errno)), code: 0, errno: errno)
    }

    private func link(_ link: Link, _ words: String) throws(KernelError) -> Int32 {
        guard links[link.index] != nil else { throw Self.error(words, errno: ENODEV) }
        return link.index
    }

    // MARK: LinkKernel

    public func link(named name: String) throws(KernelError) -> Link? { named(name) }

    public func link(index: Int32) throws(KernelError) -> Link? { links[index] }

    public func ports(ofBridge bridge: Link) throws(KernelError) -> [Link] {
        links.values.filter { $0.master == bridge.index }.sorted { $0.index < $1.index }
    }

    public func allLinks() throws(KernelError) -> [Link] { links.values.sorted { $0.index < $1.index } }

    public func addresses(of link: Link, family: IPAddress.Family) throws(KernelError) -> [IPAddress] {
        (addresses[link.name] ?? []).filter { $0.family == family }
    }

    public func createBridge(_ name: InterfaceName, mtu: Int?, group: UInt32) throws(KernelError) {
        let words = "ip link add \(name) type bridge"
        try create(name.rawValue, words, .createBridge)
        add(
            Link(
                index: 0, name: name.rawValue, kind: "bridge", isUp: false, mtu: mtu ?? 1500, group: group,
                generatesNoIPv6Address: false))
    }

    public func createVXLAN(_ spec: VXLANDeviceSpec, master: Int32, group: UInt32) throws(KernelError) {
        let words = "ip link add \(spec.name) type vxlan id \(spec.id)"
        try create(spec.name.rawValue, words, .createVXLAN)
        let attributes = VXLANAttributes(
            id: spec.id, group: spec.group, local: spec.local, underlay: spec.underlay ?? 0, dstport: spec.dstport,
            ttl: spec.ttl, learning: spec.learning)
        add(
            Link(
                index: 0, name: spec.name.rawValue, kind: "vxlan", mtu: spec.mtu ?? 1500, master: master, group: group,
                vxlan: attributes))
    }

    private func create(_ name: String, _ words: String, _ request: Request) throws(KernelError) {
        if let other = beforeCreate {
            beforeCreate = nil
            other(name)
        }
        try perform(request, words)
        if named(name) != nil { throw Self.error(words, errno: EEXIST) }
    }

    public func setLink(_ link: Link, up: Bool, mtu: Int?, master: Int32?) throws(KernelError) {
        let words =
            "ip link set dev \(link.name)" + (up ? " up" : "") + (mtu.map { " mtu \($0)" } ?? "")
            + (master.map { " master \($0)" } ?? "")
        try perform(.setLink, words)
        let index = try self.link(link, words)
        if up { links[index]?.isUp = true }
        if let mtu { links[index]?.mtu = mtu }
        if let master { links[index]?.master = master }
    }

    public func disableIPv6AddressGeneration(of link: Link) throws(KernelError) {
        let words = "ip link set dev \(link.name) addrgenmode none"
        try perform(.disableIPv6AddressGeneration, words)
        links[try self.link(link, words)]?.generatesNoIPv6Address = true
    }

    public func setGroup(_ group: UInt32, of link: Link) throws(KernelError) {
        let words = "ip link set dev \(link.name) group \(group)"
        try perform(.setGroup, words)
        links[try self.link(link, words)]?.group = group
    }

    public func setAlias(_ alias: String, of link: Link) throws(KernelError) {
        let words = "ip link set dev \(link.name) alias \(alias)"
        try perform(.setAlias, words)
        links[try self.link(link, words)]?.alias = alias
    }

    public func deleteLink(_ link: Link) throws(KernelError) {
        let words = "ip link del dev \(link.name)"
        try perform(.deleteLink, words)
        remove([try self.link(link, words)])
    }

    public func deleteLinks(inGroup group: UInt32) throws(KernelError) {
        try perform(.deleteLinks, "ip link del group \(group)")
        remove(links.values.filter { $0.group == group }.map(\.index))
    }

    /// A deleted bridge's ports stay, without a master; its fdb entries go with a device.
    private func remove(_ indices: [Int32]) {
        for index in indices {
            links[index] = nil
            defaultDestinations[index] = nil
            for port in links.values where port.master == index { links[port.index]?.master = 0 }
        }
    }

    public func defaultDestinations(of vxlan: Link) throws(KernelError) -> [IPAddress] {
        defaultDestinations[vxlan.index] ?? []
    }

    public func appendDefaultDestination(_ remote: IPAddress, to vxlan: Link) throws(KernelError) {
        let words = "bridge fdb append 00:00:00:00:00:00 dev \(vxlan.name) dst \(remote)"
        try perform(.appendDefaultDestination, words)
        defaultDestinations[try link(vxlan, words), default: []].append(remote)
    }

    public func deleteDefaultDestination(_ remote: IPAddress, from vxlan: Link) throws(KernelError) {
        let words = "bridge fdb del 00:00:00:00:00:00 dev \(vxlan.name) dst \(remote)"
        try perform(.deleteDefaultDestination, words)
        defaultDestinations[try link(vxlan, words)]?.removeAll { $0 == remote }
    }

    public func setEVPNPortFlags(of port: Link) throws(KernelError) {
        let words = "bridge link set dev \(port.name) learning off neigh_suppress on"
        try perform(.setEVPNPortFlags, words)
        _ = try link(port, words)
    }
}
