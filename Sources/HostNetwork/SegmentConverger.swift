import Glibc
import VXLANCore

/// Makes the host match a `SegmentPlan` (ensure) or removes a segment (teardown), one
/// VNI at a time, by links looked up by name. It repairs whatever partial state it
/// finds, touches only devices in our interface group, and undoes a bridge it created
/// in the same call when a later step fails.
public struct SegmentConverger {
    let network: NetlinkSession
    /// Read a unicast device's fdb even when its alias says it was converged. The kernel
    /// walks every device of the namespace for that dump (+2.6 ms per call with 4096
    /// VNIs), so the hook trusts the alias; `vxlanctl ensure` verifies, which also
    /// repairs fdb entries changed by hand.
    let verifiesForwarding: Bool

    public init(network: NetlinkSession, verifiesForwarding: Bool = false) {
        self.network = network
        self.verifiesForwarding = verifiesForwarding
    }

    /// What ensure or teardown changed, for the journal: "created bridge brvx-5001".
    public struct Action: Hashable, Sendable, CustomStringConvertible {
        public var description: String

        public init(description: String) {
            self.description = description
        }
    }

    public struct EnsureResult: Hashable, Sendable {
        public var actions: [Action]
        /// The segment is an operator's own bridge and vxlan device that already match
        /// the plan: used as is, never modified, never torn down.
        public var borrowed: Bool
        public var mtu: Int

        public init(actions: [Action], borrowed: Bool, mtu: Int) {
            self.actions = actions
            self.borrowed = borrowed
            self.mtu = mtu
        }
    }

    public enum TeardownResult: Hashable, Sendable {
        case removed([Action])
        case absent
        /// The bridge is not ours: left alone.
        case notOwned(String)
        /// Ports other than our vxlan device remain: left alone.
        case inUse(ports: [String])
    }

    // MARK: - ensure

    public func ensure(_ plan: SegmentPlan) throws(ConvergeError) -> EnsureResult {
        let underlay = try network.underlay(named: plan.underlay)
        let spec = try deviceSpec(plan, underlay: underlay)
        var actions: [Action] = []
        let (bridge, createdBridge) = try ensureBridge(plan.names, mtu: spec.mtu, actions: &actions)
        do {
            let borrowed = try ensureVXLAN(spec, plan: plan, bridge: bridge, actions: &actions)
            return EnsureResult(actions: actions, borrowed: borrowed, mtu: spec.mtu ?? bridge.mtu)
        } catch {
            // Leave nothing half-made: a bridge we created in this call goes again.
            if createdBridge { try? network.deleteLink(bridge) }
            throw error
        }
    }

    func deviceSpec(_ plan: SegmentPlan, underlay: Link?) throws(ConvergeError) -> VXLANDeviceSpec {
        try Self.deviceSpec(plan, underlay: underlay) { (underlay) throws(ConvergeError) in
            try netlink { () throws(NetlinkError) in try network.addresses(of: underlay, family: plan.family) }
        }
    }

    /// The device `plan` wants on `underlay`, whose addresses `addresses` reads when the
    /// plan takes its VTEP address from the underlay.
    static func deviceSpec(
        _ plan: SegmentPlan, underlay: Link?, addresses: (Link) throws(ConvergeError) -> [IPAddress]
    ) throws(ConvergeError) -> VXLANDeviceSpec {
        var local = plan.local
        if plan.needsLocalAddress, local == nil, let underlay {
            guard let first = try addresses(underlay).first else {
                throw .noLocalAddress(underlay: underlay.name, family: plan.family)
            }
            local = first
        }
        let mtu = plan.mtu.mtu(underlayMTU: underlay?.mtu, family: plan.family)
        if let mtu, !MTUPolicy.validRange.contains(mtu) { throw .mtuOutOfRange(vni: plan.vni, mtu: mtu) }
        let segmentMTU = plan.segmentMTU(underlayMTU: underlay?.mtu)
        if let required = plan.requiredMTU, required > segmentMTU {
            throw .mtuTooLarge(vni: plan.vni, required: required, segment: segmentMTU)
        }
        return VXLANDeviceSpec(
            name: plan.names.vxlan, id: plan.vni.value, group: plan.group, local: local,
            underlay: underlay?.index, dstport: plan.dstport, ttl: plan.ttl, learning: plan.learning, mtu: mtu)
    }

    /// Returns the bridge, and whether this call created it.
    private func ensureBridge(
        _ names: SegmentNames, mtu: Int?, actions: inout [Action]
    ) throws(ConvergeError) -> (Link, Bool) {
        let name = names.bridge
        if let bridge = try lookup(name, kind: "bridge") {
            guard bridge.isOwned(for: names.vni) else { return (bridge, false) }
            // Before it comes up (a crash may have left it down after creation).
            if try hideHost(on: bridge) { actions.append(Action(description: "set addrgenmode none on \(name)")) }
            let wrongMTU = mtu.map { $0 != bridge.mtu } ?? false
            if !bridge.isUp || wrongMTU {
                try netlink { () throws(NetlinkError) in
                    try network.setLink(bridge, up: true, mtu: wrongMTU ? mtu : nil)
                }
                actions.append(Action(description: "repaired bridge \(name) (up, mtu \(mtu ?? bridge.mtu))"))
            }
            return (bridge, false)
        }
        do {
            try network.createBridge(name, mtu: mtu, group: Ownership.interfaceGroup(for: names.vni))
        } catch  where error.errno == EEXIST {
            // Another caller made it between our lookup and our create: converge on theirs.
            return try ensureBridge(names, mtu: mtu, actions: &actions)
        } catch {
            throw .netlink(error)
        }
        actions.append(Action(description: "created bridge \(name)"))
        guard let created = try lookup(name, kind: "bridge") else {
            throw .wrongKind(name: name.rawValue, kind: nil, expected: "bridge")
        }
        // Created down: no IPv6 address generation first, then up.
        do {
            _ = try hideHost(on: created)
            try netlink { () throws(NetlinkError) in try network.setLink(created, up: true) }
        } catch {
            try? network.deleteLink(created)
            throw error
        }
        return (created, true)
    }

    /// Makes the bridge generate no IPv6 link-local address: a guest on the segment must
    /// not reach the host's own services at fe80::...%brvx-N. Returns whether it changed
    /// anything; a kernel without IPv6 has nothing to hide.
    private func hideHost(on bridge: Link) throws(ConvergeError) -> Bool {
        guard !bridge.generatesNoIPv6Address else { return false }
        do {
            try network.disableIPv6AddressGeneration(of: bridge)
        } catch  where error.errno == EAFNOSUPPORT {
            return false
        } catch {
            throw .netlink(error)
        }
        return true
    }

    /// Returns whether the segment is borrowed (an operator's matching devices).
    private func ensureVXLAN(
        _ spec: VXLANDeviceSpec, plan: SegmentPlan, bridge: Link, actions: inout [Action]
    ) throws(ConvergeError) -> Bool {
        guard let vxlan = try lookup(spec.name, kind: "vxlan") else {
            guard bridge.isOwned(for: plan.vni) else { throw .foreignBridge(bridge.name) }
            try createVXLAN(spec, plan: plan, bridge: bridge)
            actions.append(Action(description: "created \(spec.name) (\(describe(spec))) in \(bridge.name)"))
            if plan.mode != .multicast, let created = try lookup(spec.name, kind: "vxlan") {
                try ensureForwarding(plan, vxlan: created, actions: &actions)
            }
            return false
        }
        let differences = Self.differences(vxlan.vxlan, spec)
        guard vxlan.isOwned(for: plan.vni), bridge.isOwned(for: plan.vni) else {
            guard differences.isEmpty, vxlan.master == bridge.index, vxlan.isUp, bridge.isUp else {
                throw .foreignDevice(
                    name: vxlan.isOwned(for: plan.vni) ? bridge.name : vxlan.name,
                    differences: differences + (vxlan.master == bridge.index ? [] : ["not a port of \(bridge.name)"])
                        + (vxlan.isUp && bridge.isUp ? [] : ["down"]))
            }
            return true
        }
        guard differences.isEmpty else {
            throw .ownedDeviceDiffers(name: vxlan.name, vni: plan.vni, differences: differences)
        }
        if vxlan.master != 0, vxlan.master != bridge.index {
            let master = (try? network.link(index: vxlan.master))??.name ?? "index \(vxlan.master)"
            throw .portOfOtherBridge(name: vxlan.name, master: master)
        }
        let wrongMTU = spec.mtu.map { $0 != vxlan.mtu } ?? false
        if !vxlan.isUp || wrongMTU || vxlan.master == 0 {
            try netlink { () throws(NetlinkError) in
                try network.setLink(
                    vxlan, up: true, mtu: wrongMTU ? spec.mtu : nil, master: vxlan.master == 0 ? bridge.index : nil)
            }
            actions.append(
                Action(description: "repaired \(vxlan.name) (up, port of \(bridge.name), mtu \(spec.mtu ?? vxlan.mtu))")
            )
        }
        // The link found above: its index and alias are what a repair left them.
        try ensureForwarding(plan, vxlan: vxlan, actions: &actions)
        return false
    }

    private func createVXLAN(_ spec: VXLANDeviceSpec, plan: SegmentPlan, bridge: Link) throws(ConvergeError) {
        do {
            try network.createVXLAN(spec, master: bridge.index, group: Ownership.interfaceGroup(for: plan.vni))
        } catch  where error.errno == ENOBUFS && spec.group != nil {
            throw .multicastLimit(name: spec.name.rawValue, group: spec.group ?? .v4(0))
        } catch {
            throw .netlink(error)
        }
    }

    /// Unicast: exactly one all-zero fdb entry per configured remote, marked converged by
    /// the device's alias (see `verifiesForwarding`). EVPN: the bridge
    /// port's learning off and neigh_suppress on. Multicast needs nothing: the kernel joins
    /// the group on the underlay when the device comes up.
    private func ensureForwarding(_ plan: SegmentPlan, vxlan: Link, actions: inout [Action]) throws(ConvergeError) {
        let name = vxlan.name
        try netlink { () throws(NetlinkError) in
            switch plan.mode {
            case .multicast:
                break
            case .unicast:
                let alias = Ownership.forwardingAlias(remotes: plan.remotes)
                if !verifiesForwarding, alias != nil, vxlan.alias == alias { return }
                let present = try network.defaultDestinations(of: vxlan)
                for remote in plan.remotes where !present.contains(remote) {
                    try network.appendDefaultDestination(remote, to: vxlan)
                    actions.append(Action(description: "added fdb 00:00:00:00:00:00 dst \(remote) on \(name)"))
                }
                for stale in present where !plan.remotes.contains(stale) {
                    try network.deleteDefaultDestination(stale, from: vxlan)
                    actions.append(Action(description: "removed fdb 00:00:00:00:00:00 dst \(stale) from \(name)"))
                }
                // Last: a crash before this leaves the old alias, and the next call reads the fdb.
                if let alias, vxlan.alias != alias { try network.setAlias(alias, of: vxlan) }
            case .evpn:
                try network.setEVPNPortFlags(of: vxlan)
            }
        }
    }

    /// How an existing device differs from what the plan wants, in iproute2 words.
    static func differences(_ actual: VXLANAttributes?, _ wanted: VXLANDeviceSpec) -> [String] {
        guard let actual else { return ["not a vxlan device"] }
        var found: [String] = []
        func compare<T: Equatable>(_ label: String, _ have: T, _ want: T, _ show: (T) -> String) {
            if have != want { found.append("\(label) \(show(have)) instead of \(show(want))") }
        }
        compare("id", actual.id, wanted.id) { String($0) }
        compare("group", actual.group, wanted.group) { $0?.description ?? "none" }
        if let local = wanted.local { compare("local", actual.local, local) { $0?.description ?? "none" } }
        if let underlay = wanted.underlay { compare("dev index", actual.underlay, underlay) { String($0) } }
        compare("dstport", actual.dstport, wanted.dstport) { String($0) }
        compare("ttl", actual.ttl, wanted.ttl) { String($0) }
        compare("learning", actual.learning, wanted.learning) { $0 ? "on" : "off" }
        return found
    }

    private func describe(_ spec: VXLANDeviceSpec) -> String {
        var words = ["id \(spec.id)"]
        if let group = spec.group { words.append("group \(group)") }
        if let local = spec.local { words.append("local \(local)") }
        words.append("dstport \(spec.dstport) ttl \(spec.ttl)")
        if !spec.learning { words.append("nolearning") }
        if let mtu = spec.mtu { words.append("mtu \(mtu)") }
        return words.joined(separator: " ")
    }

    // MARK: - teardown

    /// The devices a teardown removes: the VNI's links of ours, named for the journal.
    public struct Removal: Hashable, Sendable {
        public var vni: VNI
        public var links: [String]
        /// The links themselves, as the decision saw them (their index and group).
        public var devices: [Link]

        public init(vni: VNI, links: [String], devices: [Link] = []) {
            self.vni = vni
            self.links = links
            self.devices = devices
        }

        /// What the journal says once they are gone: "deleted bridge brvx-5001".
        public var deleted: [Action] { links.map { Action(description: "deleted \($0)") } }
    }

    public enum TeardownPlan: Hashable, Sendable {
        case remove(Removal)
        /// Nothing to remove: `.absent`, `.notOwned` or `.inUse`.
        case leave(TeardownResult)
    }

    /// Decides whether the VNI's segment goes (`SegmentStatus.teardownPlan`), from name
    /// lookups. Run it under the VNI's lock, with `remove` after it.
    public func planTeardown(_ names: SegmentNames) throws(ConvergeError) -> TeardownPlan {
        try netlink { () throws(NetlinkError) in try network.status(of: names) }.teardownPlan()
    }

    /// Deletes the VNI's devices with one RTM_DELLINK for its interface group: the kernel
    /// waits one RCU grace period (~30 ms) per request, so this halves a teardown. Devices
    /// a killed reaper left staged go back into the VNI's group first.
    public func remove(_ removal: Removal) throws(ConvergeError) -> [Action] {
        try unstage(removal.devices, of: removal.vni)
        try netlink { () throws(NetlinkError) in
            try network.deleteLinks(inGroup: Ownership.interfaceGroup(for: removal.vni))
        }
        return removal.deleted
    }

    // MARK: - batched teardown (the reaper)

    /// Moves the removal's devices into the reaping group, where `deleteStaged` finds
    /// them with other VNIs' devices. Changing a group costs no grace period.
    public func stage(_ removal: Removal) throws(ConvergeError) {
        for device in removal.devices {
            try netlink { () throws(NetlinkError) in try network.setGroup(Ownership.reapingGroup, of: device) }
        }
    }

    /// Moves staged devices back into the VNI's group: a teardown taken back.
    public func unstage(_ devices: [Link], of vni: VNI) throws(ConvergeError) {
        for device in devices where device.isStaged {
            try netlink { () throws(NetlinkError) in
                try network.setGroup(Ownership.interfaceGroup(for: vni), of: device)
            }
        }
    }

    /// Deletes the staged `devices`: with one RTM_DELLINK for the reaping group (the
    /// kernel's `unregister_netdevice_many`: its expedited grace periods once for the
    /// batch, though a bridge still costs one of its own), when nothing else sits in it; otherwise one by one, so that a link someone else put in
    /// our group is never deleted. Returns the names of such strangers. The check reads
    /// every link, which only the detached reaper does.
    public func deleteStaged(_ devices: [Link]) throws(ConvergeError) -> [String] {
        let expected = Set(devices.map(\.index))
        let strangers = try netlink { () throws(NetlinkError) in try network.allLinks() }
            .filter { $0.isStaged && !expected.contains($0.index) }
        try netlink { () throws(NetlinkError) in
            if strangers.isEmpty {
                try network.deleteLinks(inGroup: Ownership.reapingGroup)
            } else {
                for device in devices { try network.deleteLink(device) }
            }
        }
        return strangers.map(\.name)
    }

    /// `planTeardown`, then `remove` if the plan says so.
    public func teardown(_ names: SegmentNames) throws(ConvergeError) -> TeardownResult {
        switch try planTeardown(names) {
        case .remove(let removal): .removed(try remove(removal))
        case .leave(let result): result
        }
    }

    // MARK: - helpers

    /// The link of that name if it exists and has the expected kind.
    private func lookup(_ name: InterfaceName, kind: String) throws(ConvergeError) -> Link? {
        guard let link = try netlink({ () throws(NetlinkError) in try network.link(named: name.rawValue) }) else {
            return nil
        }
        guard link.kind == kind else { throw .wrongKind(name: link.name, kind: link.kind, expected: kind) }
        return link
    }

    func netlink<T>(_ body: () throws(NetlinkError) -> T) throws(ConvergeError) -> T {
        do { return try body() } catch { throw .netlink(error) }
    }
}
