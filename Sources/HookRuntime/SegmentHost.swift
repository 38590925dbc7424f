import Glibc
import HostNetwork
import Lifecycle
import VXLANCore

/// The host's VXLAN segments, in one place: a netlink session, the runtime state under
/// `/run/libvirt-vxlan` (user records, VNI locks, pending teardowns, plan records), the
/// reaper, and the rules that change a segment (`SegmentLifecycle`, `SegmentRepair`).
/// The hook, the CloudStack entry, the watcher and vxlanctl's ensure, teardown, gc and
/// status all get what they need here, so every change of a segment takes the VNI's lock
/// and keeps the records true; nothing else builds a converger (`HostLinks` does, here).
public struct SegmentHost {
    public let state: StateDirectory
    public let journal: any LifecycleLog
    /// For reading the kernel's view (status, checks); changes go through `lifecycle`.
    public let network: NetlinkSession
    let reaper: PendingTeardowns.Style
    let staleAfter: Int
    let verifiesForwarding: Bool
    /// The most one call to ovsdb-server (and the wait for ovs-vswitchd) may take
    /// (`[openvswitch] timeout`), its reaper's too; the reaper program, which reads no
    /// configuration, takes the default.
    let openvswitchTimeout: Int

    /// - Parameters:
    ///   - reaper: where a teardown's deletion runs: detached for the hook, whose caller
    ///     must not wait for the kernel; inline for vxlanctl, whose caller wants the result.
    ///   - staleAfter: seconds before a recorded guest none of whose NICs is on its bridge
    ///     may be forgotten (`vxlanctl gc --grace`).
    ///   - verifiesForwarding: read a unicast device's fdb even when its alias says it was
    ///     converged (vxlanctl ensure: also repairs entries changed by hand).
    ///   - openvswitchTimeout: milliseconds an Open vSwitch segment's database call may take.
    public static func open(
        state: StateDirectory = .fromEnvironment(), journal: any LifecycleLog, reaper: PendingTeardowns.Style,
        staleAfter: Int = 300, verifiesForwarding: Bool = false,
        openvswitchTimeout: Int = OpenvSwitchSettings().timeoutMilliseconds
    ) throws(KernelError) -> SegmentHost {
        let network = try NetlinkSession()
        #if DEBUG
            // In debug builds every change is a crash point (`FaultInjection`).
            network.changeSucceeded = FaultInjection.changeSucceeded
        #endif
        return SegmentHost(
            state: state, journal: journal, network: network, reaper: reaper, staleAfter: staleAfter,
            verifiesForwarding: verifiesForwarding, openvswitchTimeout: openvswitchTimeout)
    }

    /// Every rule of a segment's life on this host. Each join records the plan it
    /// converged to, for the watcher (`PlanRecordingLinks`).
    public var lifecycle: SegmentLifecycle {
        SegmentLifecycle(
            links: PlanRecordingLinks(links: links, plans: plans, journal: journal), users: users, locks: state,
            teardowns: teardowns, journal: journal, staleAfter: staleAfter, now: { Int(time(nil)) })
    }

    /// The watcher's repair. `configured`: the configuration's plan of a VNI whose plan
    /// was never recorded (see `SegmentRepair`).
    public func repair(configured: @escaping (VNI) -> SegmentPlan?) -> SegmentRepair {
        SegmentRepair(links: links, users: users, locks: state, plans: plans, configured: configured)
    }

    public var users: UserRegistry { UserRegistry(state: state) }
    public var plans: PlanRegistry { PlanRegistry(state: state) }

    /// The teardowns marked and not yet done; the reaper runs over a netlink session of
    /// its own, opened where it runs.
    public var teardowns: PendingTeardowns {
        let (state, journal, reaper, staleAfter, timeout) = (state, journal, reaper, staleAfter, openvswitchTimeout)
        return PendingTeardowns(state: state, style: reaper) {
            do {
                return try SegmentHost.open(
                    state: state, journal: journal, reaper: reaper, staleAfter: staleAfter, openvswitchTimeout: timeout
                ).lifecycle.reap()
            } catch {
                journal.log(.error, "teardown: \(error)")
                var outcome = ReapOutcome()
                outcome.pending = state.pendingTeardowns()
                return outcome
            }
        }
    }

    var links: HostLinks {
        HostLinks(network: network, verifiesForwarding: verifiesForwarding, openvswitchTimeout: openvswitchTimeout)
    }

    /// The host's Open vSwitch segments, for reading (status, checks).
    public var openvswitch: OpenvSwitchConverger { links.openvswitch }
}
