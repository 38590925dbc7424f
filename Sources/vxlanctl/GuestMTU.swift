import ArgumentParser
import HostNetwork
import LibvirtClient
import LibvirtXML
import VXLANCore

struct GuestMTU: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guest-mtu",
        abstract: "List (or fix) guests whose NICs would keep a larger MTU than their segment.",
        discussion: """
            A virtio guest learns its NIC's MTU only from <mtu size='N'/> on the \
            <interface>; without it the guest keeps 1500, and on a segment below 1500 bytes \
            (mtu "auto" over a 1500-byte underlay gives 1450) every larger frame is lost \
            without an error. libvirt refuses <mtu> on bridge-mode networks, so it has to \
            be on each guest NIC.

            Lists each defined guest with an interface on one of our segments (a bridge \
            named by the bridge template, or one of our libvirt networks) whose segment MTU \
            (vxlan.conf's mtu, or the network's own) is below what the NIC asks for: no \
            <mtu> on a segment below 1500, or a larger <mtu>. With --apply, sets <mtu \
            size='N'/> in each such guest's persistent definition (virsh define); it takes \
            effect at the guest's next start (a running guest keeps its MTU until it is shut \
            down and started again; a reboot from inside it is not enough).

            libvirt: --connect URI, else $LIBVIRT_DEFAULT_URI, else qemu:///system.

            Examples: vxlanctl guest-mtu
                      vxlanctl guest-mtu --apply web1 web2
            """)

    @OptionGroup var options: LibvirtOptions

    @Flag(help: "Set <mtu size='N'/> in the persistent definition of each guest listed.")
    var apply = false

    @Flag(help: "Print JSON instead of lines.")
    var json = false

    @Argument(help: "Guests to look at (default: every defined guest).")
    var guests: [String] = []

    func run() throws {
        try reportingFailures {
            let config = try options.common.loadConfig()
            let connection = try options.connect()
            let survey = GuestMTUSurvey(config: config, connection: connection, network: try? NetlinkSession())
            let guests = try survey.guests(named: self.guests)
            var rows: [Row] = []
            // Guest by guest, each line as soon as its guest is done: if a definition is
            // refused, what was set before it has been said.
            for guest in guests {
                let applies = apply && !guest.findings.isEmpty
                if applies {
                    let xml = try guest.fixedXML()
                    try options.perform { () throws(LibvirtError) in try connection.defineDomain(xml) }
                }
                if json {
                    rows += guest.findings.map { Row($0, guest, applied: applies) }
                } else {
                    guest.report(applied: applies).forEach { print($0) }
                }
            }
            if json { return try printJSON(rows) }
            if guests.isEmpty { print("no guest needs <mtu>") }
        }
    }

    /// One NIC in `--json`.
    struct Row: Encodable {
        var guest: String
        var running: Bool
        var mac: String?
        var source: String
        var vni: UInt32
        var mtu: Int?
        var segmentMTU: Int
        var applied: Bool

        init(_ finding: GuestMTUSurvey.Finding, _ guest: GuestMTUSurvey.Guest, applied: Bool) {
            self.guest = guest.domain.name
            running = guest.domain.isActive
            mac = finding.interface.mac
            source = finding.source
            vni = finding.vni.value
            mtu = finding.interface.mtu
            segmentMTU = finding.segmentMTU
            self.applied = applied
        }
    }
}

/// Which defined guests have NICs whose MTU their segment cannot carry: read through the
/// libvirt API (persistent definitions, the networks the NICs name) and the underlay's
/// MTU through netlink, for `vxlanctl guest-mtu` and `vxlanctl check`.
struct GuestMTUSurvey {
    let config: Config
    let connection: LibvirtConnection
    /// nil when netlink cannot be opened: segments whose MTU follows the underlay are then skipped.
    let network: NetlinkSession?

    /// One NIC that needs `<mtu size='segmentMTU'/>`.
    struct Finding {
        /// Its position in `DomainDescription.interfaces`.
        var position: Int
        var interface: GuestInterface
        /// "brvx-5001" or "network vxlan-5001".
        var source: String
        var vni: VNI
        var segmentMTU: Int
    }

    /// A defined guest with the NICs that need `<mtu>`, and the NICs whose segment MTU is unknown.
    struct Guest {
        var domain: LibvirtDomain
        var findings: [Finding]
        var skipped: [String]

        /// The persistent definition with every finding fixed.
        func fixedXML() throws -> String {
            let mtus = Dictionary(uniqueKeysWithValues: findings.map { ($0.position, $0.segmentMTU) })
            do {
                return try DomainDescription.settingInterfaceMTUs(mtus, inDomainXML: Array(domain.xml.utf8))
            } catch {
                throw Failure.host("cannot edit the definition of \(domain.name.escapedForMessage): \(error)")
            }
        }

        /// One line per NIC, what is wrong and how to fix it: with the command (`fix`),
        /// or, once `applied`, what was set and when it takes effect.
        func report(applied: Bool = false, fix: Bool = true) -> [String] {
            let name = domain.name.escapedForMessage
            let lines = findings.map { finding in
                let nic = "\(name): \(finding.source) (VNI \(finding.vni)): "
                guard !applied else {
                    let running = domain.isActive ? " (running now: shut it down and start it)" : ""
                    return nic + "\(finding.interface.label): set <mtu size='\(finding.segmentMTU)'/> "
                        + "(had \(finding.interface.mtu.map(String.init) ?? "none")); takes effect at its next start\(running)"
                }
                let advice = nic + finding.interface.mtuAdvice(segmentMTU: finding.segmentMTU)
                return fix ? advice + "; fix: vxlanctl guest-mtu --apply \(name)" : advice
            }
            return lines + skipped.map { "\(name): \($0)" }
        }
    }

    /// The guests named (every defined guest when `names` is empty) that have a NIC on a
    /// segment of ours needing `<mtu>`, or one whose segment MTU cannot be told.
    func guests(named names: [String]) throws -> [Guest] {
        var domains: [LibvirtDomain]
        do { domains = try connection.definedDomains() } catch { throw Failure.host(String(describing: error)) }
        if !names.isEmpty {
            let unknown = names.filter { name in !domains.contains { $0.name == name } }
            guard unknown.isEmpty else {
                throw Failure.host("no defined guest named \(unknown.map(\.escapedForMessage).joined(separator: ", "))")
            }
            domains = domains.filter { names.contains($0.name) }
        }
        return domains.compactMap { domain in
            // A definition we cannot read has no segment of ours as far as we can tell.
            guard let description = try? DomainDescription(parsingDomainXML: Array(domain.xml.utf8)) else {
                return nil
            }
            var guest = Guest(domain: domain, findings: [], skipped: [])
            for (position, interface) in description.interfaces.enumerated() {
                switch segment(of: interface) {
                case .none:
                    continue
                case .failure(let reason):
                    guest.skipped.append("\(interface.label): segment MTU unknown (\(reason)); not checked")
                case .success(let (source, plan, mtu)):
                    guard interface.exceeds(segmentMTU: mtu) else { continue }
                    guest.findings.append(
                        Finding(
                            position: position, interface: interface, source: source, vni: plan.vni, segmentMTU: mtu))
                }
            }
            return guest.findings.isEmpty && guest.skipped.isEmpty ? nil : guest
        }
    }

    /// The segment a NIC sits on, with its plan and MTU; nil when it is not ours.
    private func segment(of interface: GuestInterface) -> Result<(String, SegmentPlan, Int), SegmentError>? {
        let source: String
        switch interface.source {
        case .bridge(let bridge): source = bridge
        case .network(let name): source = "network \(name)"
        }
        guard let planned = plan(of: interface) else { return nil }
        return planned.mapError { SegmentError(reason: "\($0)") }.flatMap { plan in
            segmentMTU(plan).map { (source, plan, $0) }
        }
    }

    /// The plan of the segment a NIC sits on, nil when it is not ours. A libvirt network
    /// is planned as the network hook plans it (its metadata over the configuration); a
    /// bridge, or a network libvirt does not know, by its name.
    private func plan(of interface: GuestInterface) -> Result<SegmentPlan, PlanError>? {
        if case .network(let name) = interface.source, let network = try? connection.network(named: name),
            let description = try? NetworkDescription(parsingNetworkXML: Array(network.xml.utf8))
        {
            do { return try config.plan(for: description).map { .success($0) } } catch { return .failure(error) }
        }
        guard let vni = config.vni(of: interface) else { return nil }
        return Result { () throws(PlanError) in try config.plan(for: vni) }
    }

    /// The MTU the hook gives the segment: the configured number, or the underlay's MTU
    /// less the VXLAN overhead.
    private func segmentMTU(_ plan: SegmentPlan) -> Result<Int, SegmentError> {
        guard case .auto = plan.mtu, let name = plan.underlay else {
            return .success(plan.segmentMTU(underlayMTU: nil))
        }
        guard let network else { return .failure(SegmentError(reason: "cannot open a netlink socket")) }
        do {
            let underlay = try network.underlay(named: name)
            return .success(plan.segmentMTU(underlayMTU: underlay?.mtu))
        } catch {
            return .failure(SegmentError(reason: "\(error)"))
        }
    }

    struct SegmentError: Error, CustomStringConvertible {
        var reason: String
        var description: String { reason }
    }

    /// `vxlanctl check`'s verdict on the defined guests: one WARN per guest to fix, with
    /// the command that fixes it. A host without a libvirt daemon to ask gets a WARN too:
    /// nothing was checked.
    static func check(_ config: Config) -> [PreflightResult] {
        let guests: [Guest]
        do {
            let survey = GuestMTUSurvey(
                config: config, connection: try LibvirtConnection(uri: nil), network: try? NetlinkSession())
            guests = try survey.guests(named: [])
        } catch {
            let reason = (error as? Failure)?.message ?? "\(error)"
            return [
                PreflightResult(
                    "guest-mtu", .warn, "cannot read the defined guests: \(reason)",
                    fix: "run as root where libvirtd runs, then vxlanctl guest-mtu")
            ]
        }
        guard !guests.isEmpty else {
            return [PreflightResult("guest-mtu", .pass, "no defined guest keeps a larger MTU than its segment")]
        }
        return guests.map { guest in
            PreflightResult(
                "guest-mtu", .warn, guest.report(fix: false).joined(separator: "; "),
                fix: "vxlanctl guest-mtu --apply \(guest.domain.name.escapedForMessage)")
        }
    }
}
