import Glibc
import VXLANCore

/// Makes the host match a `SegmentPlan` (ensure) or removes a segment (teardown), one
/// VNI at a time, by links looked up by name. It repairs whatever partial state it
/// finds, touches only devices in our interface group, and undoes the devices it created
/// in the same call when a later step fails.
public struct SegmentConverger {
    let kernel: any LinkKernel
    /// Read a unicast device's fdb even when its alias says it was converged. The kernel
    /// walks every device of the namespace for that dump (docs/benchmarks.md), so the
    /// hook trusts the alias; `vxlanctl ensure` verifies, which also
    /// repairs fdb entries changed by hand.
    let verifiesForwarding: Bool

    public init(kernel: any LinkKernel, verifiesForwarding: Bool = false) {
        self.kernel = kernel
        self.verifiesForwarding = verifiesForwarding
    }

    /// How often a create that found its name taken (EEXIST) looks again: another caller
    /// made the device between our lookup and our create, and we converge on theirs. A
    /// name that stays taken while no lookup finds it ends with the kernel's error.
    static let createAttempts = 3

    // MARK: - ensure

    public func ensure(_ plan: SegmentPlan) throws(ConvergeError) -> EnsureResult {
        let underlay = try kernel.underlay(named: plan.underlay)
        let spec = try deviceSpec(plan, underlay: underlay)
        var changes: [SegmentChange] = []
        let bridge = try ensureBridge(plan.names, mtu: spec.mtu, changes: &changes)
        do {
            let borrowed = try ensureVXLAN(spec, plan: plan, bridge: bridge, changes: &changes)
            return EnsureResult(changes: changes, borrowed: borrowed, mtu: spec.mtu ?? bridge.mtu)
        } catch {
            undo(changes, bridge: bridge, vni: plan.vni)
            throw error
        }
    }

    /// Leaves nothing half-made: the devices this call created (`changes`) go again, the
    /// vxlan device before its bridge (deleting a bridge leaves its ports). A deletion
    /// that fails is not reported over the failure that caused the undo; the next ensure
    /// completes, or a teardown removes, whatever stays.
    private func undo(_ changes: [SegmentChange], bridge: Link, vni: VNI) {
        for change in changes.reversed() {
            switch change {
            case .createdVXLAN(let spec, _):
                if let vxlan = try? kernel.link(named: spec.name.rawValue), vxlan.isOwned(for: vni) {
                    try? kernel.deleteLink(vxlan)
                }
            case .createdBridge:
                try? kernel.deleteLink(bridge)
            default:
                break
            }
        }
    }

    func deviceSpec(_ plan: SegmentPlan, underlay: Link?) throws(ConvergeError) -> VXLANDeviceSpec {
        try Self.deviceSpec(plan, underlay: underlay) { (underlay) throws(ConvergeError) in
            try request { () throws(KernelError) in try kernel.addresses(of: underlay, family: plan.family) }
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

    /// The VNI's bridge: found, repaired when it is ours, or made; `changes` says which.
    private func ensureBridge(
        _ names: SegmentNames, mtu: Int?, changes: inout [SegmentChange], attempts: Int = createAttempts
    ) throws(ConvergeError) -> Link {
        let name = names.bridge
        if var bridge = try lookup(name, kind: "bridge") {
            guard bridge.isOwned(for: names.vni) else { return bridge }
            // Before it comes up (a crash may have left it down after creation).
            if try hideHost(on: bridge) { changes.append(.hidHost(bridge: bridge.name)) }
            let wrongMTU = mtu.map { $0 != bridge.mtu } ?? false
            if !bridge.isUp || wrongMTU {
                try request { () throws(KernelError) in
                    try kernel.setLink(bridge, up: true, mtu: wrongMTU ? mtu : nil, master: nil)
                }
                changes.append(.repairedBridge(bridge.name, mtu: mtu ?? bridge.mtu))
                // The snapshot as we left it: the vxlan device is judged against it.
                bridge.isUp = true
                bridge.mtu = mtu ?? bridge.mtu
            }
            return bridge
        }
        do {
            try kernel.createBridge(name, mtu: mtu, group: Ownership.interfaceGroup(for: names.vni))
        } catch  where error.errno == EEXIST && attempts > 1 {
            // Another caller made it between our lookup and our create: converge on theirs.
            return try ensureBridge(names, mtu: mtu, changes: &changes, attempts: attempts - 1)
        } catch {
            throw .kernel(error)
        }
        guard var created = try lookup(name, kind: "bridge") else {
            throw .wrongKind(name: name.rawValue, kind: nil, expected: "bridge")
        }
        // Created down: no IPv6 address generation first, then up.
        do {
            _ = try hideHost(on: created)
            try request { () throws(KernelError) in try kernel.setLink(created, up: true, mtu: nil, master: nil) }
        } catch {
            try? kernel.deleteLink(created)
            throw error
        }
        changes.append(.createdBridge(created.name))
        created.isUp = true
        return created
    }

    /// Makes the bridge generate no IPv6 link-local address: a guest on the segment must
    /// not reach the host's own services at fe80::...%brvx-N. Returns whether it changed
    /// anything; a kernel without IPv6 has nothing to hide.
    func hideHost(on bridge: Link) throws(ConvergeError) -> Bool {
        guard !bridge.generatesNoIPv6Address else { return false }
        do {
            try kernel.disableIPv6AddressGeneration(of: bridge)
        } catch  where error.errno == EAFNOSUPPORT {
            return false
        } catch {
            throw .kernel(error)
        }
        return true
    }

    /// Returns whether the segment is borrowed (an operator's matching devices).
    private func ensureVXLAN(
        _ spec: VXLANDeviceSpec, plan: SegmentPlan, bridge: Link, changes: inout [SegmentChange],
        attempts: Int = createAttempts
    ) throws(ConvergeError) -> Bool {
        guard let vxlan = try lookup(spec.name, kind: "vxlan") else {
            guard bridge.isOwned(for: plan.vni) else { throw .foreignBridge(bridge.name) }
            do {
                try kernel.createVXLAN(spec, master: bridge.index, group: Ownership.interfaceGroup(for: plan.vni))
            } catch  where error.errno == EEXIST && attempts > 1 {
                // Another caller made it between our lookup and our create: converge on theirs.
                return try ensureVXLAN(spec, plan: plan, bridge: bridge, changes: &changes, attempts: attempts - 1)
            } catch  where error.errno == ENOBUFS && spec.group != nil {
                throw .multicastLimit(name: spec.name.rawValue, group: spec.group ?? .v4(0))
            } catch {
                throw .kernel(error)
            }
            changes.append(.createdVXLAN(spec, bridge: bridge.name))
            if plan.mode != .multicast, let created = try lookup(spec.name, kind: "vxlan") {
                try ensureForwarding(plan, vxlan: created, changes: &changes)
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
            let master = (try? kernel.link(index: vxlan.master))?.name ?? "index \(vxlan.master)"
            throw .portOfOtherBridge(name: vxlan.name, master: master)
        }
        let wrongMTU = spec.mtu.map { $0 != vxlan.mtu } ?? false
        if !vxlan.isUp || wrongMTU || vxlan.master == 0 {
            try request { () throws(KernelError) in
                try kernel.setLink(
                    vxlan, up: true, mtu: wrongMTU ? spec.mtu : nil, master: vxlan.master == 0 ? bridge.index : nil)
            }
            changes.append(.repairedVXLAN(vxlan.name, bridge: bridge.name, mtu: spec.mtu ?? vxlan.mtu))
        }
        // The link found above: its index and alias are what a repair left them.
        try ensureForwarding(plan, vxlan: vxlan, changes: &changes)
        return false
    }

    /// Unicast: exactly one all-zero fdb entry per configured remote, marked converged by
    /// the device's alias (see `verifiesForwarding`). EVPN: the bridge
    /// port's learning off and neigh_suppress on. Multicast needs nothing: the kernel joins
    /// the group on the underlay when the device comes up.
    private func ensureForwarding(
        _ plan: SegmentPlan, vxlan: Link, changes: inout [SegmentChange]
    ) throws(ConvergeError) {
        let name = vxlan.name
        try request { () throws(KernelError) in
            switch plan.mode {
            case .multicast:
                break
            case .unicast:
                let alias = Ownership.forwardingAlias(remotes: plan.remotes)
                if !verifiesForwarding, alias != nil, vxlan.alias == alias { return }
                let present = try kernel.defaultDestinations(of: vxlan)
                for remote in plan.remotes where !present.contains(remote) {
                    try kernel.appendDefaultDestination(remote, to: vxlan)
                    changes.append(.addedForwarding(remote, device: name))
                }
                for stale in present where !plan.remotes.contains(stale) {
                    try kernel.deleteDefaultDestination(stale, from: vxlan)
                    changes.append(.removedForwarding(stale, device: name))
                }
                // Last: a crash before this leaves the old alias, and the next call reads the fdb.
                if let alias, vxlan.alias != alias { try kernel.setAlias(alias, of: vxlan) }
            case .evpn:
                try kernel.setEVPNPortFlags(of: vxlan)
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

    // MARK: - teardown (the reaper's, many segments in one request)

    /// Moves the removal's devices into the reaping group, where `deleteStaged` finds
    /// them with other VNIs' devices. Changing a group costs no grace period.
    public func stage(_ removal: SegmentRemoval) throws(ConvergeError) {
        for device in removal.devices {
            try request { () throws(KernelError) in try kernel.setGroup(Ownership.reapingGroup, of: device) }
        }
    }

    /// Moves staged devices back into the VNI's group: a teardown taken back.
    public func unstage(_ devices: [Link], of vni: VNI) throws(ConvergeError) {
        for device in devices where device.isStaged {
            try request { () throws(KernelError) in
                try kernel.setGroup(Ownership.interfaceGroup(for: vni), of: device)
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
        let strangers = try request { () throws(KernelError) in try kernel.allLinks() }
            .filter { $0.isStaged && !expected.contains($0.index) }
        try request { () throws(KernelError) in
            if strangers.isEmpty {
                try kernel.deleteLinks(inGroup: Ownership.reapingGroup)
            } else {
                for device in devices { try kernel.deleteLink(device) }
            }
        }
        return strangers.map(\.name)
    }

    // MARK: - helpers

    /// The link of that name if it exists and has the expected kind.
    private func lookup(_ name: InterfaceName, kind: String) throws(ConvergeError) -> Link? {
        guard let link = try request({ () throws(KernelError) in try kernel.link(named: name.rawValue) }) else {
            return nil
        }
        guard link.kind == kind else { throw .wrongKind(name: link.name, kind: link.kind, expected: kind) }
        return link
    }

    func request<T>(_ body: () throws(KernelError) -> T) throws(ConvergeError) -> T {
        do { return try body() } catch { throw .kernel(error) }
    }
}
