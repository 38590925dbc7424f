import HostNetwork
import PathProbe
import VXLANCore

/// `vxlanctl check --peers`: one line per other VTEP, whether the underlay path to it
/// carries full-size VXLAN packets. The probing is `PathProber`'s, the verdicts
/// `PeerVerdict`'s; this finds the peers and the sizes on this host.
struct PeerChecks {
    let config: Config
    /// The file named in the fixes.
    let configPath: String
    /// `--peer` addresses.
    let given: [IPAddress]

    func run() -> [PreflightResult] {
        guard let network = try? NetlinkSession() else {
            return [PreflightResult("peers", .fail, "cannot open a netlink socket", fix: "run as root")]
        }
        let underlay = (try? network.underlay(named: config.underlay)) ?? nil
        var addresses: [IPAddress.Family: [IPAddress]] = [:]
        for family in [IPAddress.Family.ipv4, .ipv6] {
            addresses[family] = underlay.flatMap { try? network.addresses(of: $0, family: family) } ?? []
        }
        let own = Set(addresses.values.joined()).union([config.local].compactMap { $0 })
        let peers = PeerProbe.peers(
            remotes: config.remotes, forwarding: forwardingDestinations(network), given: given, local: own)
        guard !peers.isEmpty else {
            return [
                PreflightResult(
                    "peers", .warn,
                    "no other VTEP known: no remotes, and no remote VTEP in the fdb of this host's vxlan devices",
                    fix: "name one: vxlanctl check --peer ADDRESS")
            ]
        }
        let reports = peers.map { peer in
            PeerReport(
                peer: peer,
                segmentMTU: PeerProbe.segmentMTU(policy: config.mtu, underlayMTU: underlay?.mtu, family: peer.family),
                configPath: configPath)
        }
        // The VTEP's own address for its family (as the vxlan devices send); the
        // underlay's first address for the other.
        var sources: [IPAddress.Family: IPAddress] = [:]
        for family in [IPAddress.Family.ipv4, .ipv6] {
            let configured = config.local?.family == family ? config.local : nil
            sources[family] = configured ?? addresses[family]?.first
        }
        do {
            let observations = try PathProber(sources: sources).probe(
                reports.map { ProbeTarget(address: $0.peer, fullSize: $0.fullSize) })
            return zip(reports, observations).map { report, observation in
                report.result(PeerVerdict(observation, fullSize: report.fullSize))
            }
        } catch {
            return [
                PreflightResult(
                    "peers", .fail, "cannot probe: \(error)",
                    fix: "run as root, with 'local' in \(configPath) an address of this host")
            ]
        }
    }

    /// The remote VTEPs in the fdb of the vxlan devices of our segments (ours by
    /// interface group, or named by the template), in address order: the kernel's
    /// order is its hash table's.
    private func forwardingDestinations(_ network: NetlinkSession) -> [IPAddress] {
        let segments = (try? network.segments(bridgeNames: config.names.bridge, vxlanNames: config.names.vxlan)) ?? []
        let devices = Set(segments.compactMap { $0.vxlan?.index })
        let destinations = (try? network.remoteDestinationsByLink()) ?? [:]
        return devices.flatMap { destinations[$0] ?? [] }.sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }
    }
}
