import ArgumentParser
import HostNetwork
import VXLANCore

struct Firewall: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print (or apply) nftables rules that accept VXLAN only from known VTEPs.",
        discussion: """
            Anyone who can send to the VXLAN port can put frames on every segment of this \
            host. The rules accept UDP dstport only from the other VTEPs: the configured \
            remotes in unicast mode; the underlay's subnets in multicast and evpn mode; \
            plus every --peer. Everything else sent to that port is counted and dropped. \
            When the underlay is a tunnel (WireGuard, GRE: point-to-point), VXLAN arriving \
            on any other interface is dropped too: plaintext from the physical network.

            The rules live in their own table, inet libvirt_vxlan, which --apply replaces \
            in one transaction (nft -f) and --remove deletes; no other table is touched. \
            The hook never changes the firewall. Without --apply or --remove the rule set \
            is printed, for review or for /etc/nftables.conf.

            Example: vxlanctl firewall --peer 198.51.100.0/24 --apply
            """)

    @OptionGroup var options: CommonOptions

    @Option(
        name: .customLong("peer"),
        help: ArgumentHelp("Another address or network VTEPs send from (repeatable).", valueName: "cidr"),
        transform: parsePeer)
    var peers: [IPNetwork] = []

    @Flag(help: "Load the rules into the kernel with nft instead of printing them.")
    var apply = false

    @Flag(help: "Delete the inet libvirt_vxlan table.")
    var remove = false

    func validate() throws {
        if apply && remove { throw ValidationError("--apply and --remove exclude each other") }
    }

    func run() throws {
        try reportingFailures {
            if remove {
                return try load(FirewallRules.removalScript, done: "removed table inet \(FirewallRules.table)")
            }
            let config = try options.loadConfig()
            let rules: FirewallRules
            let (subnets, tunnel) = try underlay(config)
            do {
                rules = try FirewallRules(config: config, underlaySubnets: subnets, peers: peers, tunnel: tunnel)
            } catch let error as FirewallRules.Error {
                throw Failure.configuration(error.description)
            }
            guard apply else { return print(rules.script, terminator: "") }
            try load(
                rules.script,
                done: "applied table inet \(FirewallRules.table): UDP \(rules.dstport) accepted from "
                    + rules.sources.map(\.description).joined(separator: ", ")
                    + (rules.tunnel.map { ", only through \($0)" } ?? ""))
        }
    }

    /// The underlay's subnets (multicast and evpn mode; none needed for unicast), and its
    /// name when it is a tunnel (WireGuard, GRE: point-to-point, no ARP).
    private func underlay(_ config: Config) throws -> (subnets: [IPNetwork], tunnel: InterfaceName?) {
        guard config.underlay != nil else { return ([], nil) }
        let network = try options.openNetlink()
        do {
            guard let underlay = try network.underlay(named: config.underlay) else {
                return ([], nil)
            }
            let tunnel = underlay.isPointToPoint ? try? InterfaceName(underlay.name) : nil
            guard config.mode != .unicast else { return ([], tunnel) }
            return (try network.subnets(of: underlay, family: config.family), tunnel)
        } catch {
            // Unicast mode trusts its remotes, wherever the underlay is.
            guard config.mode != .unicast else { return ([], nil) }
            throw Failure.host(String(describing: error))
        }
    }

    private func load(_ script: String, done: String) throws {
        guard let result = ChildProcess.run(["nft", "-f", "-"], input: script, mergingErrors: true) else {
            throw Failure.host("cannot run nft: install the nftables package")
        }
        guard result.status == 0 else {
            let reason = result.output.split(separator: "\n").first.map(String.init) ?? "exit status \(result.status)"
            throw Failure.host("nft refused the rules: \(reason)")
        }
        print(done)
    }
}

/// `--peer 192.0.2.7` or `--peer 192.0.2.0/24`.
private func parsePeer(_ text: String) throws -> IPNetwork {
    if let network = IPNetwork(text) {
        return network.canonical
    }
    if let address = IPAddress(text) { return IPNetwork(host: address) }
    throw ValidationError("'\(text.escapedForMessage)' is not an IP address or CIDR network")
}
