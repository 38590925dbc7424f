import HostNetwork
import VXLANCore

/// Every rule of a segment's life on this host, in one place: a user joins a VNI (the
/// segment is made and the user recorded), a user or one of its NICs leaves, guests that
/// vanished without `release` are forgotten, a segment nobody uses is torn down, and a
/// start that fails half-way is rolled back. It decides on snapshots (user records, link
/// state) and acts through `SegmentLinks`, `UserStore` and `SegmentLocks`, so the hook,
/// `vxlanctl gc` and the tests' fakes all drive the same rules.
public struct SegmentLifecycle {
    let links: any SegmentLinks
    let users: any UserStore
    let locks: any SegmentLocks
    let journal: any LifecycleLog
    /// A recorded guest counts as gone when none of its NICs is a port of the bridge and
    /// its record is older than this: long enough for any start (prepare -> tap on bridge).
    let staleAfter: Int
    /// Seconds since the epoch.
    let now: () -> Int

    public init(
        links: any SegmentLinks, users: any UserStore, locks: any SegmentLocks, journal: any LifecycleLog,
        staleAfter: Int = 300, now: @escaping () -> Int
    ) {
        self.links = links
        self.users = users
        self.locks = locks
        self.journal = journal
        self.staleAfter = staleAfter
        self.now = now
    }

    /// One VNI a user joins, and what to record of the user there.
    public struct Use {
        public var plan: SegmentPlan
        public var record: UserRecord
        /// The guest's NICs on this VNI that ask for no `<mtu>`: a virtio guest then keeps
        /// 1500 whatever the segment carries.
        public var interfacesWithoutMTU: [GuestInterface]
        /// What to do about them on a segment below 1500 bytes: warn (the default, and
        /// always for a guest that already runs), or refuse the start.
        public var guestMTU: GuestMTUPolicy

        public init(
            plan: SegmentPlan, record: UserRecord, interfacesWithoutMTU: [GuestInterface] = [],
            guestMTU: GuestMTUPolicy = .warn
        ) {
            self.plan = plan
            self.record = record
            self.interfacesWithoutMTU = interfacesWithoutMTU
            self.guestMTU = guestMTU
        }
    }

    // MARK: joining

    /// Under each VNI's lock in turn: makes the segment and records `user` on it, its MACs
    /// merged with an older record's. If one VNI fails, the VNIs this call joined before
    /// it are left again (torn down if unused), so a failed start leaves nothing half-made;
    /// so is the segment of a guest refused for its MTU (`guest_mtu = "refuse"`).
    /// `context` names the caller in log lines; a call that changes nothing never builds it.
    public func join(_ user: SegmentUser, _ uses: [Use], context: @autoclosure () -> String) throws(LifecycleError) {
        var joined: [SegmentNames] = []
        for use in uses {
            var made = false
            do {
                try withLock(use.plan.vni) { (_) throws(LifecycleError) in
                    let mtu = try ensure(use.plan, context: context())
                    made = true
                    try checkGuestMTU(use, segmentMTU: mtu, context: context())
                    try record(user, use.record, on: use.plan.vni)
                }
            } catch {
                for names in joined + (made ? [use.plan.names] : []) {
                    try? leave(user, from: names, context: context())
                }
                throw error
            }
            joined.append(use.plan.names)
        }
    }

    /// Under the VNI's lock: makes the segment and records nobody (CloudStack's agent,
    /// through `vxlanctl modifyvxlan`, which tracks its guests itself). Returns its MTU.
    public func ensureUnrecorded(_ plan: SegmentPlan, context: String) throws(LifecycleError) -> Int {
        var mtu = 0
        try withLock(plan.vni) { (_) throws(LifecycleError) in mtu = try ensure(plan, context: context) }
        return mtu
    }

    /// Makes the segment; returns its MTU.
    private func ensure(_ plan: SegmentPlan, context: @autoclosure () -> String) throws(LifecycleError) -> Int {
        do {
            let result = try links.ensure(plan)
            for action in result.actions { journal.log(.notice, "\(context()) VNI \(plan.vni): \(action)") }
            if result.borrowed {
                journal.log(
                    .info,
                    "\(context()) VNI \(plan.vni): using \(plan.names.bridge), which libvirt-vxlan did not create")
            }
            return result.mtu
        } catch {
            journal.log(.error, "\(context()) VNI \(plan.vni): \(error)")
            throw .refused("VNI \(plan.vni): \(error)")
        }
    }

    /// A segment below 1500 bytes and a NIC that does not ask for its MTU: the guest sends
    /// frames the segment cannot carry, and they are lost without an error. Warned about,
    /// or refused with the first such NIC when the operator asks for it.
    private func checkGuestMTU(_ use: Use, segmentMTU mtu: Int, context: String) throws(LifecycleError) {
        guard mtu < GuestInterface.defaultGuestMTU else { return }
        for nic in use.interfacesWithoutMTU {
            let advice = nic.mtuAdvice(segmentMTU: mtu)
            guard use.guestMTU == .warn else {
                journal.log(.error, "\(context) VNI \(use.plan.vni): refused: \(advice)")
                throw .refused(
                    "VNI \(use.plan.vni): \(advice) (guest_mtu = \"refuse\"; vxlanctl guest-mtu --apply "
                        + "\(use.record.name.escapedForMessage) does it)")
            }
            journal.log(.warning, "\(context) VNI \(use.plan.vni): \(advice)")
        }
    }

    private func record(_ user: SegmentUser, _ record: UserRecord, on vni: VNI) throws(LifecycleError) {
        var merged = record
        if let existing = users.record(of: user, on: vni) {
            merged.macs = Array(Set(existing.macs + record.macs)).sorted()
        }
        do { try users.add(user, merged, on: vni) } catch { throw .state(error) }
    }

    // MARK: leaving

    /// Under the VNI's lock: drops `user` (or only its NIC `mac`, when the user has others
    /// on the VNI), forgets vanished guests, and tears the segment down if no user is
    /// left. With no user, only reconciles (`vxlanctl gc`). Teardown failures are logged,
    /// not thrown: the guest is gone whatever the kernel says.
    public func leave(_ user: SegmentUser?, mac: String? = nil, from names: SegmentNames, context: String)
        throws(LifecycleError)
    {
        try withLock(names.vni) { (lock) throws(LifecycleError) in
            var links = LinkSnapshot(names: names, of: self.links)
            do throws(StateError) {
                var recorded = try users.users(of: names.vni)
                if let user, let mac, var record = recorded[user], record.macs.contains(mac), record.macs.count > 1 {
                    record.macs.removeAll { $0 == mac }
                    try users.add(user, record, on: names.vni)
                    recorded[user] = record
                } else if let user {
                    try users.remove(user, from: names.vni)
                    recorded[user] = nil
                }
                recorded = try forgetVanished(recorded, on: names, links: &links, context: context)
                guard recorded.isEmpty else {
                    let holders = recorded.values.map(\.name).sorted().joined(separator: ", ")
                    journal.log(.info, "\(context) VNI \(names.vni): kept, used by \(holders)")
                    return
                }
            } catch {
                throw .state(error)
            }
            tearDown(names, links: &links, context: "\(context) VNI \(names.vni)", holding: lock)
        }
    }

    /// `vxlanctl gc`, for one VNI: forgets vanished guests and tears the segment down if
    /// nobody uses it any more.
    public func collectGarbage(_ names: SegmentNames) throws(LifecycleError) {
        try leave(nil, from: names, context: "gc")
    }

    /// Forgets guests that vanished without `release`: records older than `staleAfter`
    /// none of whose NICs is a port of the bridge (libvirt names a guest's tap after its
    /// MAC, fe:...). Without a bridge to look at, or when the lookup fails, forgets nobody.
    private func forgetVanished(
        _ recorded: [SegmentUser: UserRecord], on names: SegmentNames, links: inout LinkSnapshot, context: String
    ) throws(StateError) -> [SegmentUser: UserRecord] {
        let guests = recorded.filter { $0.key.kind == .domain }
        guard !guests.isEmpty, case .success(let status) = links.status, status.bridge != nil else { return recorded }
        let portMACs = Set(status.ports.map { String($0.address.dropFirst(2)) })
        let now = now()
        var remaining = recorded
        for (user, record) in guests where now - record.since >= staleAfter {
            guard !record.macs.contains(where: { portMACs.contains(String($0.lowercased().dropFirst(2))) }) else {
                continue
            }
            try users.remove(user, from: names.vni)
            remaining[user] = nil
            journal.log(
                .warning,
                "\(context) VNI \(names.vni): forgot \(record.name) (\(user)): none of its NICs is on \(names.bridge)")
        }
        return remaining
    }

    /// Removes the segment if the links allow it (`SegmentStatus.teardownPlan`): only
    /// devices of ours, and no port but our vxlan device on the bridge.
    private func tearDown(
        _ names: SegmentNames, links snapshot: inout LinkSnapshot, context: String, holding lock: any SegmentLock
    ) {
        do {
            switch try snapshot.status.get().teardownPlan() {
            case .remove(let removal):
                links.remove(removal, keeping: lock) { result in
                    switch result {
                    case .success(let actions):
                        for action in actions { journal.log(.notice, "\(context): \(action)") }
                    case .failure(let error):
                        journal.log(.error, "\(context): teardown failed: \(error)")
                    }
                }
            case .leave(.notOwned(let name)):
                journal.log(.info, "\(context): \(name) was not created by libvirt-vxlan; left in place")
            case .leave(.inUse(let ports)):
                journal.log(.info, "\(context): kept, \(names.bridge) still has ports \(ports.joined(separator: ", "))")
            case .leave(.absent), .leave(.removed):
                break
            }
        } catch {
            // The user is gone already; what kept the segment is for the journal.
            journal.log(.error, "\(context): teardown failed: \(error)")
        }
    }

    // MARK: helpers

    private func withLock(_ vni: VNI, _ body: (any SegmentLock) throws(LifecycleError) -> Void)
        throws(LifecycleError)
    {
        let lock: any SegmentLock
        do { lock = try locks.lock(vni) } catch { throw .state(error) }
        defer { lock.release() }
        try body(lock)
    }
}

/// The VNI's links, read once when a rule first needs them: reconciling and deciding a
/// teardown look at the same state, since nothing in between changes a link.
struct LinkSnapshot {
    let names: SegmentNames
    let links: any SegmentLinks
    private var taken: Result<SegmentStatus, ConvergeError>?

    init(names: SegmentNames, of links: any SegmentLinks) {
        self.names = names
        self.links = links
    }

    var status: Result<SegmentStatus, ConvergeError> {
        mutating get {
            if let taken { return taken }
            let status = Result { () throws(ConvergeError) in try links.status(of: names) }
            taken = status
            return status
        }
    }
}
