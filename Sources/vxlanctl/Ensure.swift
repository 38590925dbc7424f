import ArgumentParser
import HostNetwork
import VXLANCore

struct Ensure: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a VNI's bridge and vxlan device exist, up and correct.",
        discussion: """
            Creates whatever is missing and repairs whatever is partial (a bridge without \
            its vxlan port, a device that is down, a wrong MTU), as the hook does before a \
            guest starts. Running it twice changes nothing the second time. An existing \
            device of the same name that was not created by libvirt-vxlan is used only if \
            it already matches the configuration; otherwise ensure refuses and changes nothing.

            Example: vxlanctl ensure 5001
            """)

    @OptionGroup var segment: SegmentOptions

    func run() throws {
        try reportingFailures {
            let vni = segment.vni
            let plan = try segment.configured { try $0.plan(for: vni) }
            let converger = try segment.converger()
            do {
                let result = try converger.ensure(plan)
                for change in result.changes { print(change) }
                let state = result.borrowed ? "in place (not ours, used as is)" : "ready"
                print("VNI \(vni): \(plan.names.bridge) + \(plan.names.vxlan) \(state), mtu \(result.mtu)")
            } catch {
                throw Failure.host(String(describing: error))
            }
        }
    }
}

struct Teardown: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove a VNI's vxlan device and bridge, if they are ours and unused.",
        discussion: """
            Deletes the vxlan device and the bridge only when both were created by \
            libvirt-vxlan and the bridge has no port but our vxlan device. A bridge that \
            still carries a guest's tap (or anyone's port) is left in place, and so is \
            anything libvirt-vxlan did not create: then the exit status is 3.

            Example: vxlanctl teardown 5001
            """)

    @OptionGroup var segment: SegmentOptions

    func run() throws {
        try reportingFailures {
            let vni = segment.vni
            let names = try segment.configured { try $0.names(for: vni) }
            let converger = try segment.converger()
            let result: TeardownResult
            do { result = try converger.teardown(names) } catch { throw Failure.host(String(describing: error)) }
            switch result {
            case .removed(let actions):
                for action in actions { print(action) }
                print("VNI \(vni): removed")
            case .absent:
                print("VNI \(vni): nothing to remove")
            case .notOwned(let name):
                throw Failure.kept("VNI \(vni): \(name) was not created by libvirt-vxlan; left in place")
            case .inUse(let ports):
                throw Failure.kept(
                    "VNI \(vni): \(names.bridge) still has ports \(ports.joined(separator: ", ")); left in place")
            }
        }
    }
}
