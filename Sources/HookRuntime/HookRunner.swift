import LibvirtXML
import Lifecycle
import VXLANCore

/// One hook call, dispatched: reads libvirt's XML, turns it into the users and plans of
/// the VNIs it concerns, and hands those to the `SegmentLifecycle`, which holds the rules.
public struct HookRunner {
    let config: Config
    let lifecycle: SegmentLifecycle
    let journal: any LifecycleLog

    public init(config: Config, lifecycle: SegmentLifecycle, journal: any LifecycleLog) {
        self.config = config
        self.lifecycle = lifecycle
        self.journal = journal
    }

    public func run(_ call: HookCall, input: [UInt8]) throws(HookError) {
        let phase = "\(call.driver) \(call.operation) \(call.subOperation)"
        switch call.action {
        case .ignore:
            return
        case .prepareDomain:
            try prepare(try parseDomain(input), phase: phase, guestMTU: config.guestMTU)
        case .checkDomain:
            _ = try plans(for: try parseDomain(input))
        case .reconnectDomain:
            // libvirt kills a running guest whose reconnect hook fails: log, never fail.
            do { try prepare(try parseDomain(input), phase: phase, guestMTU: .warn) } catch {
                journal.log(.error, "\(phase) \(call.object.escapedForMessage): \(error) (guest left running)")
            }
        case .releaseDomain:
            try release(try parseDomain(input), phase: phase)
        case .startNetwork, .stopNetwork:
            try serveNetwork(call.action == .startNetwork, try parseHookData(input), phase: phase)
        case .plugPort, .unplugPort:
            try servePort(call.action == .plugPort, try parseHookData(input), phase: phase)
        }
    }

    /// Whether a call concerns a segment of ours under `config`: a domain with an interface
    /// on one of our bridges or networks, or a network of ours. Input that cannot be read
    /// concerns us: the call then fails as it would have.
    public static func concerns(_ call: HookCall, input: [UInt8], under config: Config) -> Bool {
        switch call.action {
        case .ignore:
            return false
        case .prepareDomain, .checkDomain, .reconnectDomain, .releaseDomain:
            guard let domain = try? DomainDescription(parsingDomainXML: input) else { return true }
            return domain.interfaces.contains { config.vni(of: $0) != nil }
        case .startNetwork, .stopNetwork, .plugPort, .unplugPort:
            guard let data = try? NetworkHookData(parsingHookData: input) else { return true }
            do { return try config.plan(for: data.network) != nil } catch { return true }
        }
    }

    // MARK: domains

    /// The plan of every VNI the domain's interfaces use; a refusal names the domain.
    private func plans(for domain: DomainDescription) throws(HookError) -> [SegmentPlan] {
        do { return try config.plans(for: domain) } catch {
            throw .refused("\(domain.name.escapedForMessage): \(error)")
        }
    }

    /// `guestMTU`: what to do about a NIC that would keep a larger MTU than its segment;
    /// a guest that already runs is only ever warned about.
    private func prepare(_ domain: DomainDescription, phase: String, guestMTU: GuestMTUPolicy) throws(HookError) {
        let plans = try plans(for: domain)
        // A guest without VXLAN interfaces is none of our business, with or without a UUID.
        guard !plans.isEmpty else { return }
        let user = try domainUser(domain)
        let uses = plans.map { plan in
            let interfaces = domain.interfaces.filter { config.vni(of: $0) == plan.vni }
            return SegmentLifecycle.Use(
                plan: plan, record: UserRecord(name: domain.name, macs: interfaces.compactMap(\.mac)),
                interfacesWithoutMTU: interfaces.filter { $0.mtu == nil }, guestMTU: guestMTU)
        }
        try lifecycle(lifecycle.join(user, uses, context: "\(phase) domain \(domain.name.escapedForMessage)"))
    }

    private func release(_ domain: DomainDescription, phase: String) throws(HookError) {
        let vnis = Set(domain.interfaces.compactMap { config.vni(of: $0) })
        guard !vnis.isEmpty else { return }
        let user = try domainUser(domain)
        for vni in vnis.sorted() {
            let names = try names(vni)
            try lifecycle(
                lifecycle.leave(user, from: names, context: "\(phase) domain \(domain.name.escapedForMessage)"))
        }
    }

    // MARK: networks

    private func serveNetwork(_ starts: Bool, _ data: NetworkHookData, phase: String) throws(HookError) {
        guard let plan = try plan(for: data.network) else { return }
        let context = "\(phase) network \(data.network.name.escapedForMessage)"
        guard let uuid = data.network.uuid, let user = SegmentUser(.network, uuid: uuid) else {
            throw .refused("network \(data.network.name.escapedForMessage) has no valid <uuid>")
        }
        if starts {
            let use = SegmentLifecycle.Use(plan: plan, record: UserRecord(name: data.network.name, macs: []))
            try lifecycle(lifecycle.join(user, [use], context: context))
        } else {
            try lifecycle(lifecycle.leave(user, from: plan.names, context: context))
        }
    }

    private func servePort(_ plugs: Bool, _ data: NetworkHookData, phase: String) throws(HookError) {
        guard let plan = try plan(for: data.network) else { return }
        let context = "\(phase) network \(data.network.name.escapedForMessage)"
        guard let port = data.port, let user = SegmentUser(.domain, uuid: port.ownerUUID) else {
            throw .refused("\(context): <networkport> without a valid owner <uuid>")
        }
        let portContext = "\(context) port of \(port.ownerName.escapedForMessage)"
        if plugs {
            let record = UserRecord(name: port.ownerName, macs: [port.mac].compactMap { $0 })
            try lifecycle(
                lifecycle.join(user, [SegmentLifecycle.Use(plan: plan, record: record)], context: portContext))
        } else {
            try lifecycle(lifecycle.leave(user, mac: port.mac, from: plan.names, context: portContext))
        }
    }

    /// The plan of a network of ours, nil for anyone else's.
    private func plan(for network: NetworkDescription) throws(HookError) -> SegmentPlan? {
        do { return try config.plan(for: network) } catch {
            throw .refused("network \(network.name.escapedForMessage): \(error)")
        }
    }

    // MARK: helpers

    /// The hook renders what the lifecycle did through the journal alone (its reaper runs
    /// detached, so a leave's outcome is "teardown pending" at most).
    private func lifecycle<Outcome>(_ step: @autoclosure () throws(LifecycleError) -> Outcome) throws(HookError) {
        do { _ = try step() } catch { throw .lifecycle(error) }
    }

    private func names(_ vni: VNI) throws(HookError) -> SegmentNames {
        do { return try config.names(for: vni) } catch { throw .refused(error.description) }
    }

    /// The domain's UUID names its user records: required once a domain has a VXLAN NIC.
    private func domainUser(_ domain: DomainDescription) throws(HookError) -> SegmentUser {
        guard let uuid = domain.uuid, let user = SegmentUser(.domain, uuid: uuid) else {
            throw .refused("domain \(domain.name.escapedForMessage) has no valid <uuid>")
        }
        return user
    }

    private func parseDomain(_ input: [UInt8]) throws(HookError) -> DomainDescription {
        do { return try DomainDescription(parsingDomainXML: input) } catch { throw .input(error) }
    }

    private func parseHookData(_ input: [UInt8]) throws(HookError) -> NetworkHookData {
        do { return try NetworkHookData(parsingHookData: input) } catch { throw .input(error) }
    }
}

/// Why a hook call failed; the description is the one line libvirt shows the user.
public enum HookError: Error, CustomStringConvertible {
    case input(LibvirtXMLError)
    case refused(String)
    case lifecycle(LifecycleError)

    public var description: String {
        switch self {
        case .input(let error): "cannot read libvirt's XML: \(error)"
        case .refused(let message): message
        case .lifecycle(let error): error.description
        }
    }
}
