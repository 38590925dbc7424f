/// The nftables rules that let VXLAN in only from the other VTEPs, as the VXLAN guides
/// advise: anyone who can send to the UDP port can inject frames into every segment. Over
/// a tunnel underlay (WireGuard), only through the tunnel.
///
/// They live in a table of their own, `inet libvirt_vxlan`, so applying or removing them
/// never touches the operator's rules. Its chain only drops: VXLAN from an unknown
/// source. An accept there cannot open what another table drops, so a host firewall
/// that blocks the port must still allow it (`vxlanctl check` says so).
public struct FirewallRules: Hashable, Sendable {
    public static let table = "libvirt_vxlan"

    public var dstport: UInt16
    /// The addresses VTEPs may send from.
    public var sources: [IPNetwork]
    /// The tunnel (WireGuard) the underlay is: VXLAN that arrives on any other interface
    /// is plaintext from the physical network, injected or misrouted, and is dropped.
    public var tunnel: InterfaceName?

    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case noSources(UnderlayMode)
        case unquotableTunnel(InterfaceName)

        public var description: String {
            switch self {
            case .noSources(let mode):
                "no VTEP address is known in \(mode) mode: set 'underlay' to an interface with an address, or pass --peer CIDR"
            case .unquotableTunnel(let name):
                "the underlay's name '\(name.rawValue.escapedForMessage)' holds a quote or backslash, which an nftables rule cannot name"
            }
        }
    }

    /// Unicast mode trusts its `remotes`; multicast and EVPN trust the underlay's subnets
    /// (every VTEP of the fabric sits there). `peers` are added in every mode. `tunnel`:
    /// the underlay when it is a tunnel, through which alone VXLAN may arrive.
    public init(config: Config, underlaySubnets: [IPNetwork], peers: [IPNetwork], tunnel: InterfaceName? = nil)
        throws(Error)
    {
        let remotes = config.remotes.map { IPNetwork(host: $0) }
        let trusted = (config.mode == .unicast ? remotes : underlaySubnets) + peers
        guard !trusted.isEmpty else { throw .noSources(config.mode) }
        if let tunnel, tunnel.rawValue.contains(where: { $0 == "\"" || $0 == "\\" }) {
            throw .unquotableTunnel(tunnel)
        }
        self.tunnel = tunnel
        dstport = config.dstport
        sources = trusted.reduce(into: []) { unique, network in
            if !unique.contains(network) { unique.append(network) }
        }
    }

    /// An `nft -f` script that replaces the table in one transaction: it creates the
    /// table if missing, deletes it, and defines it again.
    public var script: String {
        var lines = [
            "# libvirt-vxlan: VXLAN (UDP \(dstport)) only from the other VTEPs.",
            "table inet \(Self.table)",
            "delete table inet \(Self.table)",
            "table inet \(Self.table) {",
        ]
        var rules: [String] = []
        if let tunnel {
            rules.append(
                "        udp dport \(dstport) iifname != \"\(tunnel)\" counter drop comment \"VXLAN outside the tunnel \(tunnel)\""
            )
        }
        for (family, set, match) in [(IPAddress.Family.ipv4, "vteps4", "ip"), (.ipv6, "vteps6", "ip6")] {
            let members = sources.filter { $0.address.family == family }.map(\.description)
            guard !members.isEmpty else { continue }
            let type = family == .ipv4 ? "ipv4_addr" : "ipv6_addr"
            lines.append("    set \(set) {")
            lines.append("        type \(type); flags interval")
            lines.append("        elements = { \(members.joined(separator: ", ")) }")
            lines.append("    }")
            rules.append("        udp dport \(dstport) \(match) saddr @\(set) accept")
        }
        lines.append("    chain input {")
        lines.append("        type filter hook input priority filter - 10; policy accept;")
        lines += rules
        lines.append("        udp dport \(dstport) counter drop comment \"VXLAN from an unknown source\"")
        lines.append("    }")
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    /// An `nft -f` script that removes the table, whether or not it exists.
    public static var removalScript: String {
        "table inet \(table)\ndelete table inet \(table)\n"
    }
}

extension IPNetwork {
    /// One address as a network: 192.0.2.2/32, 2001:db8::2/128.
    public init(host address: IPAddress) {
        self.init(address: address, prefixLength: address.bitWidth)
    }

    /// The network of `prefixLength` bits that holds `address`: 192.0.2.7/24 gives 192.0.2.0/24.
    public init(containing address: IPAddress, prefixLength: Int) {
        let length = min(max(prefixLength, 0), address.bitWidth)
        let base = IPNetwork(address: address, prefixLength: length).address(at: 0)
        self.init(address: base, prefixLength: length)
    }
}
