import ArgumentParser
import FoundationEssentials
import Glibc
import HookRuntime
import HostNetwork
import OVSDB
import VXLANCore

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check that this host is ready for VXLAN segments (changes nothing).",
        discussion: """
            Each line is PASS, WARN or FAIL, with the fix: configuration valid; kernel \
            vxlan support (a throw-away device in a temporary network namespace); the \
            underlay exists, is up and has an address; the MTU guests get; over a \
            point-to-point underlay (WireGuard, GRE), that the mode needs no multicast, and \
            over WireGuard that every remote is inside a peer's allowed IPs; \
            net.ipv4.igmp_max_memberships against the multicast VNIs (multicast mode); \
            the firewall on the UDP dstport (nftables, iptables); Open vSwitch, where \
            bridge_type is openvswitch or it runs: ovsdb-server answers, ovs-vswitchd has \
            applied the database, the datapath type is available; AppArmor: whether each \
            libvirt daemon's loaded profile lets it execute the hook (tested for real with \
            aa-exec, as the daemon would run it); the hook entries: ours, and running; \
            each running libvirt daemon started or reloaded after they were installed; \
            defined guests whose NICs would keep a larger MTU than their segment (see \
            vxlanctl guest-mtu). \
            Exit status 1 if any line is FAIL.

            With --peers (or --peer), one more line per other VTEP: the configured \
            remotes, the remote VTEPs in the fdb of this host's vxlan devices (multicast \
            learning, EVPN routes) and each --peer address. Each gets an ICMP echo with \
            don't-fragment as large as VXLAN carrying a full guest frame (segment MTU + 50 \
            over IPv4, + 70 over IPv6), and a small one, from the VTEP's address, all peers \
            at once, in about 2.5 seconds at most. PASS: the full-size echo came back. \
            FAIL: the path carries at most N bytes (an ICMP fragmentation-needed or \
            packet-too-big said so); full-size packets are lost without an ICMP error (a \
            black hole); or the peer does not answer at all. Needs root (a raw ICMP socket) \
            or ICMP datagram sockets allowed by net.ipv4.ping_group_range.

            Example: vxlanctl check --json
            Example: vxlanctl check --peers --peer 192.0.2.31
            """)

    @OptionGroup var options: CommonOptions

    @Flag(help: "Print JSON instead of lines.")
    var json = false

    @Flag(help: "Also probe the underlay path MTU to every other VTEP.")
    var peers = false

    @Option(
        name: .customLong("peer"),
        help: ArgumentHelp("Also probe this VTEP address (repeatable; implies --peers).", valueName: "address"),
        transform: parsePeerAddress)
    var extraPeers: [IPAddress] = []

    func run() throws {
        var results: [PreflightResult] = []
        do {
            let config = try options.loadConfig()
            let path = ConfigFile.path(explicit: options.config)
            results.append(
                PreflightResult(
                    "config", .pass,
                    "\(path.path)\(path.chosen || FileManager.default.fileExists(atPath: path.path) ? "" : " (absent: defaults)") is valid: mode \(config.mode), dstport \(config.dstport)"
                ))
            results += HostChecks(config: config).run()
            if peers || !extraPeers.isEmpty {
                results += PeerChecks(config: config, configPath: path.path, given: extraPeers).run()
            }
        } catch let failure as Failure {
            results.append(
                PreflightResult("config", .fail, failure.message, fix: "see Samples/vxlan.conf for every key"))
        }
        if json {
            try printJSON(results)
        } else {
            for result in results {
                print("\(result.level.rawValue)  \(result.check): \(result.message)")
                if let fix = result.fix, result.level != .pass { print("      fix: \(fix)") }
            }
        }
        if results.contains(where: { $0.level == .fail }) { throw ExitCode(1) }
    }
}

/// An IPv4 or IPv6 address given on the command line.
private func parsePeerAddress(_ text: String) throws -> IPAddress {
    guard let address = IPAddress(text) else { throw ValidationError("'\(text)' is not an IPv4 or IPv6 address") }
    return address
}

/// The probes of `check`, each reading the host and returning one verdict.
private struct HostChecks {
    let config: Config

    func run() -> [PreflightResult] {
        var results = [kernelSupport()]
        guard let network = try? NetlinkSession() else {
            return results + [PreflightResult("netlink", .fail, "cannot open a netlink socket", fix: "run as root")]
        }
        results += underlay(network)
        if config.mode == .multicast { results.append(memberships(network)) }
        results.append(firewall())
        results += openvswitch()
        results += HookChecks().run()
        results += GuestMTUSurvey.check(config)
        return results
    }

    /// Where segments may be Open vSwitch bridges (`bridge_type = "openvswitch"`, or Open
    /// vSwitch runs here: its socket exists), ovsdb-server, ovs-vswitchd and the datapath.
    private func openvswitch() -> [PreflightResult] {
        let socket = OVSDBSocket.path()
        guard config.bridgeType == .openvswitch || access(socket, F_OK) == 0 else { return [] }
        var facts = OpenvSwitchFacts(socket: socket, kernelModule: access("/sys/module/openvswitch", F_OK) == 0)
        do {
            let state = try VSwitch.connect(socket: socket, timeoutMilliseconds: config.openvswitch.timeoutMilliseconds)
                .switchState()
            (facts.currentConfig, facts.nextConfig, facts.datapathTypes) = state
        } catch {
            facts.databaseError = error.description
        }
        return Preflight.openvswitch(facts, datapath: config.openvswitch.datapathType)
    }

    /// A bridge and a vxlan device made and deleted in a namespace of a thread's own.
    private func kernelSupport() -> PreflightResult {
        do {
            try NetlinkSession.probeVXLANSupport(dstport: config.dstport)
            return PreflightResult("kernel", .pass, "vxlan and bridge devices can be created")
        } catch {
            return PreflightResult(
                "kernel", .fail, "cannot create a vxlan device: \(error)",
                fix: "modprobe vxlan bridge (and run as root)")
        }
    }

    private func underlay(_ network: NetlinkSession) -> [PreflightResult] {
        guard let name = config.underlay else {
            let needed = config.mode == .multicast || config.local == nil
            return [
                PreflightResult(
                    "underlay", needed ? .fail : .pass,
                    needed
                        ? "no 'underlay' configured: \(config.mode) mode needs the device that carries VXLAN"
                        : "none (local \(config.local?.description ?? ""))",
                    fix: "set underlay = \"NIC-or-bridge\" in vxlan.conf")
            ]
        }
        let link: Link
        do {
            guard let resolved = try network.underlay(named: name) else { return [] }
            link = resolved
        } catch {
            return [PreflightResult("underlay", .fail, String(describing: error))]
        }
        let via = link.name == name.rawValue ? "" : " (bridge of \(name))"
        var results = [PreflightResult("underlay", .pass, "\(link.name)\(via) is up, MTU \(link.mtu)")]
        let family = config.family
        let addresses = (try? network.addresses(of: link, family: family)) ?? []
        if let first = config.local ?? addresses.first {
            results.append(PreflightResult("address", .pass, "VTEP address \(first)"))
        } else {
            results.append(
                PreflightResult(
                    "address", .fail, "\(link.name) has no global \(family == .ipv4 ? "IPv4" : "IPv6") address",
                    fix: "add one to \(link.name), or set local = \"...\" in vxlan.conf"))
        }
        results.append(Preflight.mtu(underlay: link.name, underlayMTU: link.mtu, family: family, policy: config.mtu))
        results += TunnelUnderlayChecks(config: config, underlay: link).run()
        return results
    }

    private func memberships(_ network: NetlinkSession) -> PreflightResult {
        let path = "/proc/sys/net/ipv4/igmp_max_memberships"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
            let limit = Int(text.withoutSurroundingWhitespace)
        else {
            return PreflightResult(
                "igmp", .warn, "cannot read \(path)", fix: "run as root, in the host's own network namespace")
        }
        let devices = (try? network.links(ofKind: "vxlan")) ?? []
        let inUse = devices.filter { $0.vxlan?.group?.isMulticast == true && $0.vxlan?.dstport == config.dstport }
        return Preflight.multicastMemberships(limit: limit, inUse: inUse.count, acceptedVNIs: config.acceptedVNICount)
    }

    /// Reads the ruleset with nftables (or iptables) and looks for the VXLAN port.
    private func firewall() -> PreflightResult {
        let port = String(config.dstport)
        let open = "nft add rule inet filter input udp dport \(port) ip saddr OTHER-VTEPS accept"
        for command in [["nft", "list", "ruleset"], ["iptables-save"]] {
            guard let rules = output(of: command) else { continue }
            let filtering =
                rules.contains("policy drop") || rules.contains(":INPUT DROP") || rules.contains("-j DROP")
                || rules.contains(" drop")
            if !filtering {
                // VXLAN has no authentication: whoever reaches the port puts frames on every segment.
                return PreflightResult(
                    "firewall", .warn,
                    "\(command[0]): no input filtering; UDP \(port) is open to everyone, who can inject frames into every segment",
                    fix: "vxlanctl firewall --apply (accepts VXLAN only from the other VTEPs; --peer CIDR adds more)")
            }
            if rules.contains("dport \(port)") || rules.contains("--dport \(port)") {
                return PreflightResult("firewall", .pass, "\(command[0]): a rule names UDP \(port)")
            }
            return PreflightResult(
                "firewall", .warn, "\(command[0]) filters input and no rule names UDP \(port): VXLAN may be dropped",
                fix: open)
        }
        return PreflightResult(
            "firewall", .warn, "cannot read the firewall (neither nft nor iptables-save ran)", fix: open)
    }

    /// The standard output of a fixed command, or nil if it cannot run or fails.
    private func output(of command: [String]) -> String? {
        guard let result = ChildProcess.run(command), result.status == 0 else { return nil }
        return result.output
    }
}
