import Glibc
import HostNetwork
import Lifecycle
import VXLANCore

/// One call of CloudStack's KVM agent (`modifyvxlan.sh -o add|delete ...`), answered as
/// its script answers: every outcome is lines on stdout, which the agent logs; status 0
/// on success and for a segment kept at `delete`, 1 on failure (the agent then fails the
/// guest's start). The decisions are the hook's own, under the VNI's lock: `add` ensures
/// and records nobody, `delete` is `vxlanctl gc`'s leave. `vxlanctl modifyvxlan` and the
/// hook worker's lean entry for the agent (`AgentMain`) both run this.
public enum AgentCall {
    public struct Outcome: Equatable, Sendable {
        public var lines: [String]
        public var status: Int32
    }

    /// `configPath` nil: `LIBVIRT_VXLAN_CONFIG` or the default file (`ConfigFile`).
    public static func run(_ request: AgentRequest, configPath: String?) -> Outcome {
        // PHASE=modifyvxlan: CloudStack's agent, not a libvirt hook phase.
        let journal = Journal(phase: "modifyvxlan")
        let context = "modifyvxlan \(request.operation)"
        func failure(_ message: String, logged: Bool) -> Outcome {
            if !logged {
                journal.log(
                    .error, "\(context) VNI \(request.vni): \(message)",
                    LogEvent(.segmentFailed, vni: request.vni, outcome: "failed"))
            }
            return Outcome(lines: [message], status: 1)
        }
        let config: Config
        do { config = try ConfigFile.load(explicit: configPath) } catch {
            return failure("\(error)", logged: false)
        }
        // Inline reaper: a delete returns once the devices are gone, and says so.
        let host: SegmentHost
        do { host = try SegmentHost.open(journal: journal, reaper: .inline) } catch {
            return failure("\(error)", logged: false)
        }
        switch request.operation {
        case .add:
            let plan: SegmentPlan
            do { plan = try config.plan(for: request) } catch { return failure("\(error)", logged: false) }
            do {
                let made = try host.lifecycle.ensureUnrecorded(plan, context: context)
                let carrier = plan.group.map { "group \($0)" } ?? "\(plan.mode) mode"
                return Outcome(lines: [made.readyLine(carrier: carrier)], status: 0)
            } catch {
                // The lifecycle has logged it already.
                return failure("\(error)", logged: true)
            }
        case .delete:
            let names: SegmentNames
            do { names = try config.names(for: request) } catch { return failure("\(error)", logged: false) }
            do {
                let left = try host.lifecycle.leave(nil, from: names, context: context)
                return Outcome(lines: left.lines, status: 0)
            } catch {
                return failure("\(error)", logged: true)
            }
        }
    }
}

extension JoinOutcome {
    /// "VNI 5001: brvx-5001 + vxlan5001 ready, group 239.0.19.137, mtu 1450"; `carrier`
    /// (the group or the mode) only where CloudStack's script prints it.
    public func readyLine(carrier: String? = nil) -> String {
        let state = borrowed ? "in place (not ours, used as is)" : "ready"
        let bridge = bridgeKind == .openvswitch ? "Open vSwitch bridge \(names.bridge)" : names.bridge.rawValue
        return "VNI \(vni): \(bridge) + \(names.vxlan) \(state), \(carrier.map { "\($0), " } ?? "")mtu \(mtu)"
    }
}

extension LeaveOutcome {
    /// What a leave did, one line per fact, each starting "VNI N:" (CloudStack's agent
    /// logs them; vxlanctl prints them).
    public var lines: [String] {
        let prefix = "VNI \(vni): "
        var lines = forgotten.map { "\(prefix)forgot \($0): none of its NICs is on \(names.bridge)" }
        lines += dropped.map { "\(prefix)forgot \($0) (--force)" }
        switch decision {
        case .kept(let reason): lines.append(prefix + reason.description)
        case .teardownPending: lines.append(prefix + "teardown pending")
        case .removed(let removal): lines.append(prefix + removal.deletedLine)
        case .absent: lines.append(prefix + "nothing to remove")
        case .failed(let reason): lines.append(prefix + "teardown failed: \(reason)")
        }
        return lines
    }
}

/// The agent's entry without vxlanctl's start-up (libvirt, Foundation, ArgumentParser;
/// docs/benchmarks.md has the figures): `Packaging/modifyvxlan.sh` executes the hook worker with
/// `--cloudstack-agent` and the agent's arguments.
public enum AgentMain {
    public static let flag = "--cloudstack-agent"
    /// The exit status for a command line that cannot be read (EX_USAGE, as ArgumentParser's).
    public static let usageStatus: Int32 = 64

    /// Why the agent's command line was refused: one line on stderr, the same from
    /// `vxlanctl modifyvxlan`; the caller exits with `usageStatus`.
    public static func report(_ refusal: AgentUsageError) {
        writeStandardError("modifyvxlan: \(refusal)\n")
    }

    /// `arguments`: the agent's, after the flag.
    public static func run(_ arguments: [String]) -> Int32 {
        let request: AgentRequest
        do { request = try AgentRequest(parsingArguments: arguments) } catch {
            report(error)
            return usageStatus
        }
        let outcome = AgentCall.run(request, configPath: nil)
        write(outcome.lines.joined(separator: "\n") + "\n", to: STDOUT_FILENO)
        return outcome.status
    }
}
