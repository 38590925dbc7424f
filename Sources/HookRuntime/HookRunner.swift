import Glibc
import HostNetwork
import LibvirtXML
import VXLANCore

/// Carries out one hook call: reads the XML, plans the VNIs, and under each VNI's lock
/// converges the host and records or drops the caller as a user of the VNI.
public struct HookRunner {
    let config: Config
    let registry: UserRegistry
    let network: NetlinkSession
    let journal: Journal
    /// A recorded guest counts as gone when none of its NICs is a port of the bridge and
    /// its record is older than this: long enough for any start (prepare -> tap on bridge).
    let staleAfter: Int
    let teardownStyle: TeardownStyle

    /// Where a teardown's deletion runs once it is decided.
    public enum TeardownStyle: Sendable {
        /// In this process: vxlanctl, whose caller wants to see the result.
        case inline
        /// In a detached child that holds the VNI's lock (`DetachedChild`): the hook,
        /// so that libvirt does not wait out the kernel's RCU grace period.
        case detached
    }

    public init(
        config: Config, state: StateDirectory, network: NetlinkSession, journal: Journal, staleAfter: Int = 300,
        teardownStyle: TeardownStyle = .inline
    ) {
        self.config = config
        self.registry = UserRegistry(state: state)
        self.network = network
        self.journal = journal
        self.staleAfter = staleAfter
        self.teardownStyle = teardownStyle
    }

    private var converger: SegmentConverger { SegmentConverger(network: network) }

    public func run(_ call: HookCall, input: [UInt8]) throws(HookError) {
        let phase = "\(call.driver) \(call.operation) \(call.subOperation)"
        switch call.action {
        case .ignore:
            return
        case .prepareDomain:
            try prepare(try parseDomain(input), phase: phase)
        case .reconnectDomain:
            // libvirt kills a running guest whose reconnect hook fails: log, never fail.
            do { try prepare(try parseDomain(input), phase: phase) } catch {
                journal.log(.error, "\(phase) \(call.object.escapedForMessage): \(error) (guest left running)")
            }
        case .releaseDomain:
            try release(try parseDomain(input), phase: phase)
        case .startNetwork, .plugPort, .unplugPort, .stopNetwork:
            try serveNetwork(call.action, try parseHookData(input), phase: phase)
        }
    }

    // MARK: domains

    private func prepare(_ domain: DomainDescription, phase: String) throws(HookError) {
        let plans: [SegmentPlan]
        do { plans = try config.plans(for: domain) } catch {
            throw .refused("\(domain.name.escapedForMessage): \(error)")
        }
        guard !plans.isEmpty else { return }
        let user = try domainUser(domain)
        var prepared: [SegmentPlan] = []
        for plan in plans {
            let macs = domain.interfaces.filter { config.vni(of: $0) == plan.vni }.compactMap(\.mac)
            do {
                try withLock(plan.vni) { (_) throws(HookError) in
                    try ensure(plan, for: "\(phase) domain \(domain.name.escapedForMessage)")
                    try record(user, UserRegistry.Record(name: domain.name, macs: macs), on: plan.vni)
                }
            } catch {
                // Nothing half-made: undo this call's earlier VNIs before failing the start.
                for done in prepared { try? drop(user, mac: nil, from: done.names, phase: phase) }
                throw error
            }
            prepared.append(plan)
        }
    }

    private func release(_ domain: DomainDescription, phase: String) throws(HookError) {
        let user = try domainUser(domain)
        let vnis = Set(domain.interfaces.compactMap { config.vni(of: $0) })
        for vni in vnis.sorted() {
            try drop(user, mac: nil, from: try names(vni), phase: "\(phase) domain \(domain.name.escapedForMessage)")
        }
    }

    // MARK: networks

    private func serveNetwork(_ action: HookAction, _ data: NetworkHookData, phase: String) throws(HookError) {
        let plan: SegmentPlan
        do {
            guard let ours = try config.plan(for: data.network) else { return }
            plan = ours
        } catch {
            throw .refused("network \(data.network.name.escapedForMessage): \(error)")
        }
        let context = "\(phase) network \(data.network.name.escapedForMessage)"
        switch action {
        case .startNetwork, .stopNetwork:
            guard let uuid = data.network.uuid, let user = UserRegistry.User(.network, uuid: uuid) else {
                throw .refused("network \(data.network.name.escapedForMessage) has no valid <uuid>")
            }
            if action == .startNetwork {
                try withLock(plan.vni) { (_) throws(HookError) in
                    try ensure(plan, for: context)
                    try record(user, UserRegistry.Record(name: data.network.name, macs: []), on: plan.vni)
                }
            } else {
                try drop(user, mac: nil, from: plan.names, phase: context)
            }
        case .plugPort, .unplugPort:
            guard let port = data.port, let user = UserRegistry.User(.domain, uuid: port.ownerUUID) else {
                throw .refused("\(context): <networkport> without a valid owner <uuid>")
            }
            let portContext = "\(context) port of \(port.ownerName.escapedForMessage)"
            if action == .plugPort {
                try withLock(plan.vni) { (_) throws(HookError) in
                    try ensure(plan, for: portContext)
                    try record(
                        user, UserRegistry.Record(name: port.ownerName, macs: [port.mac].compactMap { $0 }),
                        on: plan.vni)
                }
            } else {
                try drop(user, mac: port.mac, from: plan.names, phase: portContext)
            }
        case .ignore, .prepareDomain, .reconnectDomain, .releaseDomain:
            return
        }
    }

    // MARK: one VNI, under its lock

    /// `context` names the caller in log lines; a call that changes nothing logs nothing
    /// and never builds it.
    private func ensure(_ plan: SegmentPlan, for context: @autoclosure () -> String) throws(HookError) {
        do {
            let result = try converger.ensure(plan)
            for action in result.actions { journal.log(.notice, "\(context()) VNI \(plan.vni): \(action)") }
            if result.borrowed {
                journal.log(
                    .info,
                    "\(context()) VNI \(plan.vni): using \(plan.names.bridge), which libvirt-vxlan did not create")
            }
        } catch {
            journal.log(.error, "\(context()) VNI \(plan.vni): \(error)")
            throw .refused("VNI \(plan.vni): \(error)")
        }
    }

    private func record(_ user: UserRegistry.User, _ record: UserRegistry.Record, on vni: VNI) throws(HookError) {
        do {
            var merged = record
            if let existing = registry.record(of: user, on: vni) {
                merged.macs = Array(Set(existing.macs + record.macs)).sorted()
            }
            try registry.add(user, merged, on: vni)
        } catch {
            throw .state(error)
        }
    }

    /// `vxlanctl gc`: for every VNI with recorded users or devices of ours, forgets guests
    /// that vanished without `release` and tears down what nobody uses any more.
    public func collectGarbage(_ vnis: [VNI]) throws(HookError) {
        for vni in vnis {
            try drop(nil, mac: nil, from: try names(vni), phase: "gc")
        }
    }

    /// Drops `user` (or only one of its NICs, `mac`) from the VNI, then tears the VNI down
    /// if no user and no foreign port is left. With no user, only reconciles.
    private func drop(_ user: UserRegistry.User?, mac: String?, from names: SegmentNames, phase: String)
        throws(HookError)
    {
        try withLock(names.vni) { (lock) throws(HookError) in
            do throws(StateDirectory.Error) {
                var users = try registry.users(of: names.vni)
                if let user, let mac, var record = users[user], record.macs.contains(mac), record.macs.count > 1 {
                    record.macs.removeAll { $0 == mac }
                    try registry.add(user, record, on: names.vni)
                    users[user] = record
                } else if let user {
                    try registry.remove(user, from: names.vni)
                    users[user] = nil
                }
                users = try reconcile(users, on: names, phase: phase)
                guard users.isEmpty else {
                    journal.log(
                        .info,
                        "\(phase) VNI \(names.vni): kept, used by \(users.values.map(\.name).sorted().joined(separator: ", "))"
                    )
                    return
                }
            } catch {
                throw .state(error)
            }
            teardown(names, phase: phase, holding: lock)
        }
    }

    /// Forgets guests that vanished without `release`: old records none of whose NICs is a
    /// port of the bridge any more (libvirt names a guest's tap after its MAC, fe:...).
    private func reconcile(
        _ users: [UserRegistry.User: UserRegistry.Record], on names: SegmentNames, phase: String
    ) throws(StateDirectory.Error) -> [UserRegistry.User: UserRegistry.Record] {
        let domainUsers = users.filter { $0.key.kind == .domain }
        guard !domainUsers.isEmpty else { return users }
        let ports: [Link]
        do {
            guard let bridge = try network.link(named: names.bridge.rawValue) else { return users }
            ports = try network.ports(ofBridge: bridge)
        } catch {
            return users
        }
        let portMACs = Set(ports.map { String($0.address.dropFirst(2)) })
        let now = Int(time(nil))
        var remaining = users
        for (user, record) in domainUsers where now - record.since >= staleAfter {
            guard !record.macs.contains(where: { portMACs.contains(String($0.lowercased().dropFirst(2))) }) else {
                continue
            }
            try registry.remove(user, from: names.vni)
            remaining[user] = nil
            journal.log(
                .warning,
                "\(phase) VNI \(names.vni): forgot \(record.name) (\(user)): none of its NICs is on \(names.bridge)")
        }
        return remaining
    }

    private func teardown(_ names: SegmentNames, phase: String, holding lock: VNILock) {
        let context = "\(phase) VNI \(names.vni)"
        do {
            switch try converger.planTeardown(names) {
            case .remove(let removal):
                let detached =
                    teardownStyle == .detached
                    && DetachedChild.run(keeping: lock.descriptor) {
                        remove(removal, context: context, inChild: true)
                    }
                if !detached { remove(removal, context: context, inChild: false) }
            case .leave(let result):
                explain(result, context: context, names: names)
            }
        } catch {
            // Teardown runs where libvirt ignores our exit status: log it and go on.
            journal.log(.error, "\(context): teardown failed: \(error)")
        }
    }

    /// The deletion itself; in a detached child it needs a netlink socket of its own,
    /// since the parent goes on using its socket for the guest's other VNIs.
    private func remove(_ removal: SegmentConverger.Removal, context: String, inChild: Bool) {
        do {
            let session = inChild ? try NetlinkSession() : network
            for action in try SegmentConverger(network: session).remove(removal) {
                journal.log(.notice, "\(context): \(action)")
            }
        } catch {
            journal.log(.error, "\(context): teardown failed: \(error)")
        }
    }

    private func explain(_ result: SegmentConverger.TeardownResult, context: String, names: SegmentNames) {
        switch result {
        case .removed(let actions):
            for action in actions { journal.log(.notice, "\(context): \(action)") }
        case .absent:
            break
        case .notOwned(let name):
            journal.log(.info, "\(context): \(name) was not created by libvirt-vxlan; left in place")
        case .inUse(let ports):
            journal.log(.info, "\(context): kept, \(names.bridge) still has ports \(ports.joined(separator: ", "))")
        }
    }

    // MARK: helpers

    private func withLock(_ vni: VNI, _ body: (VNILock) throws(HookError) -> Void) throws(HookError) {
        let lock: VNILock
        do { lock = try VNILock(vni, in: registry.state) } catch { throw .state(error) }
        defer { lock.release() }
        try body(lock)
    }

    private func names(_ vni: VNI) throws(HookError) -> SegmentNames {
        do { return try config.names(for: vni) } catch { throw .refused(error.description) }
    }

    private func domainUser(_ domain: DomainDescription) throws(HookError) -> UserRegistry.User {
        guard let user = UserRegistry.User(.domain, uuid: domain.uuid) else {
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
    case state(StateDirectory.Error)

    public var description: String {
        switch self {
        case .input(let error): "cannot read libvirt's XML: \(error)"
        case .refused(let message): message
        case .state(let error): "runtime state: \(error)"
        }
    }
}
