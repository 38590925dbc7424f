/// VXLAN has no encryption and no authentication: across a network it does not trust, it
/// runs over a tunnel that has both, typically WireGuard (`underlay = "wg0"`). What that
/// changes, as pure verdicts for `vxlanctl check` and rules for `vxlanctl firewall`.
public enum EncryptedUnderlay {
    /// Every peer's allowed IPs, from `wg show DEV allowed-ips`: one line per peer, its
    /// public key, a tab, then its networks separated by spaces, or "(none)".
    ///
    ///     xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=	10.0.0.2/32 192.0.2.0/24
    public static func allowedIPs(parsingWGShow output: String) -> [IPNetwork] {
        output.split(whereSeparator: \.isNewline).flatMap { line in
            line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().compactMap { IPNetwork($0) }
        }
    }

    /// Multicast mode needs an underlay that delivers a packet to a group of VTEPs; a
    /// point-to-point device (WireGuard, GRE, tun) delivers nothing to a group: every
    /// flood is lost and the segment carries only what another host sends first.
    public static func modeCheck(mode: UnderlayMode, underlay name: String, pointToPoint: Bool) -> PreflightResult? {
        guard pointToPoint else { return nil }
        guard mode == .multicast else {
            return PreflightResult(
                "tunnel", .pass, "\(name) is point-to-point (WireGuard or another tunnel): \(mode) mode works over it")
        }
        return PreflightResult(
            "tunnel", .fail,
            "mode = \"multicast\" over \(name), a point-to-point device (WireGuard or another tunnel): it carries no multicast, so floods (ARP, DHCP) never reach the other hosts",
            fix: "set mode = \"unicast\" with remotes = [the other hosts' tunnel addresses], or mode = \"evpn\"")
    }

    /// WireGuard sends a packet only to the peer whose allowed IPs hold its destination,
    /// and drops it when none does: a remote outside every peer's allowed IPs is a VTEP
    /// this host cannot reach.
    public static func remotesCheck(_ remotes: [IPAddress], allowedIPs: [IPNetwork], device: String)
        -> PreflightResult
    {
        let allowed = allowedIPs.isEmpty ? "none" : allowedIPs.map(\.description).joined(separator: ", ")
        let outside = remotes.filter { remote in !allowedIPs.contains { $0.contains(remote) } }
        guard outside.isEmpty else {
            let addresses = outside.map(\.description).joined(separator: ", ")
            return PreflightResult(
                "wireguard", .fail,
                "remotes \(addresses) outside every allowed IP of \(device)'s peers (\(allowed)): "
                    + "WireGuard drops what it sends there",
                fix: "add the address to the peer's AllowedIPs (wg set \(device) peer KEY allowed-ips ...), "
                    + "or fix remotes")
        }
        guard !remotes.isEmpty else {
            return PreflightResult("wireguard", .pass, "\(device): WireGuard, peers allow \(allowed)")
        }
        let addresses = remotes.map(\.description).joined(separator: ", ")
        return PreflightResult(
            "wireguard", .pass, "\(device): every remote (\(addresses)) is inside a peer's allowed IPs")
    }
}
