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
        let journal = Journal()
        let context = "modifyvxlan \(request.operation)"
        func failure(_ message: String, logged: Bool) -> Outcome {
            if !logged { journal.log(.error, "\(context) VNI \(request.vni): \(message)") }
            return Outcome(lines: [message], status: 1)
        }
        let config: Config
        do { config = try ConfigFile.load(explicit: configPath) } catch {
            return failure("\(error)", logged: false)
        }
        let log = RecordingLog(forwardingTo: journal)
        let state = StateDirectory.fromEnvironment()
        let network: NetlinkSession
        do { network = try HostLinks.openNetlink() } catch { return failure("\(error)", logged: false) }
        // Inline reaper: a delete returns once the devices are gone, and says so.
        let lifecycle = SegmentLifecycle.onHost(network: network, state: state, journal: log, reaper: .inline)
        switch request.operation {
        case .add:
            let plan: SegmentPlan
            do { plan = try config.plan(for: request) } catch { return failure("\(error)", logged: false) }
            do {
                let mtu = try lifecycle.ensureUnrecorded(plan, context: context)
                let carrier = plan.group.map { "group \($0)" } ?? "\(plan.mode) mode"
                return Outcome(
                    lines: [
                        "VNI \(request.vni): \(plan.names.bridge) + \(plan.names.vxlan) ready, \(carrier), mtu \(mtu)"
                    ],
                    status: 0)
            } catch {
                // The lifecycle has logged it already.
                return failure("\(error)", logged: true)
            }
        case .delete:
            let names: SegmentNames
            do { names = try config.names(for: request) } catch { return failure("\(error)", logged: false) }
            do { try lifecycle.leave(nil, from: names, context: context) } catch {
                return failure("\(error)", logged: true)
            }
            // Removed, or kept and why: what the lifecycle and its reaper said, one line each,
            // from "VNI N:" on (the journal's lines name the caller: "teardown VNI N: ...").
            let said = log.lines.map { line in
                line.firstRange(of: "VNI ").map { String(line[$0.lowerBound...]) } ?? line
            }
            return Outcome(lines: said.isEmpty ? ["VNI \(request.vni): nothing to remove"] : said, status: 0)
        }
    }
}

/// What the lifecycle logs, kept for stdout and passed on to the journal.
final class RecordingLog: LifecycleLog {
    let journal: any LifecycleLog
    private(set) var lines: [String] = []

    init(forwardingTo journal: any LifecycleLog) {
        self.journal = journal
    }

    func log(_ level: LogLevel, _ message: String) {
        journal.log(level, message)
        if level != .debug { lines.append(message) }
    }
}

/// The agent's entry without vxlanctl's start-up (libvirt, Foundation, ArgumentParser:
/// ~40 ms a call): `Packaging/modifyvxlan.sh` executes the hook worker with
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
