import ArgumentParser
import Glibc
import HookRuntime
import VXLANCore

/// CloudStack's `modifyvxlan.sh`, with the agent's arguments and the hook's rules.
struct ModifyVXLAN: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "modifyvxlan",
        abstract: "Add or delete a VNI's bridge for CloudStack's KVM agent (its modifyvxlan.sh).",
        usage: "vxlanctl modifyvxlan \(AgentRequest.usage) [--config <path>]",
        discussion: """
            Takes the arguments the CloudStack agent gives modifyvxlan.sh and does what \
            `vxlanctl ensure` and the libvirt hook do, under the hook's lock for the VNI, \
            so the agent's call and libvirt's hook call for the same guest never race. \
            `vxlanctl cloudstack enable` makes the agent run it.

            add: makes the bridge (-b) and vxlanVNI with -p as the underlay (a NIC that is a \
            port of a bridge, such as eth1 in cloudbr1, resolves to that bridge, which holds \
            the address) and the rest from the configuration. With no configuration file \
            these are CloudStack's own parameters: multicast group \
            239.(VNI>>16).(VNI>>8 & 255).(VNI & 255), ttl 10, the kernel's port 8472; with -6, \
            CloudStack's IPv6 group ff05::(VNI>>16):(VNI>>8 & 255):(VNI & 255), each number \
            written in decimal as CloudStack's script writes it. Running it again changes \
            nothing; a partial segment is repaired; a device of that name that libvirt-vxlan \
            did not create is used only if it already matches, else refused.

            delete: removes the bridge and vxlan device only if libvirt-vxlan made them, no \
            port other than the vxlan device is left on the bridge and the libvirt hook \
            records no guest or network on the VNI. Otherwise they stay, and the reason is \
            printed and logged; the exit status is 0 either way, as with CloudStack's script.

            The agent logs what the script prints: every outcome is one line on stdout (and \
            in the journal, tag libvirt-vxlan). Exit status: 0 success, 1 failure (the agent \
            then fails the guest's start), 64 invalid command line.

            Example: vxlanctl modifyvxlan -o add -v 5001 -p eth1 -b brvx-5001
            """)

    /// Read by `AgentRequest(parsingArguments:)`, the parser the hook worker's entry for the
    /// agent uses too, so that both take the same command lines; ArgumentParser only takes
    /// `--config` and `--help` out, wherever they are.
    @Argument(
        parsing: .allUnrecognized,
        help: ArgumentHelp(
            "The agent's arguments: \(AgentRequest.usage), in any order, each value "
                + "apart or attached (-v5001). -p is the traffic label's device: the underlay, or a port of "
                + "it (add only); -b the VNI's bridge (brvx-VNI); -6 an IPv6 underlay, with CloudStack's "
                + "IPv6 group.",
            valueName: "agent-arguments"))
    var arguments: [String] = []

    @OptionGroup var common: CommonOptions

    func run() throws {
        let request: AgentRequest
        do { request = try AgentRequest(parsingArguments: arguments) } catch {
            AgentMain.report(error)
            throw ExitCode(AgentMain.usageStatus)
        }
        let outcome = AgentCall.run(request, configPath: common.config)
        print(outcome.lines.joined(separator: "\n"))
        // The agent reads stdout, and treats any non-zero status as a failure.
        if outcome.status != 0 { throw ExitCode(outcome.status) }
    }
}

// MARK: - vxlanctl cloudstack

struct CloudStackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cloudstack",
        abstract: "Make CloudStack's KVM agent run vxlanctl modifyvxlan, or stop it.",
        discussion: """
            The CloudStack agent (4.19 and later) runs /usr/share/modifyvxlan.sh in \
            preference to its packaged script, a path no package owns. enable links it to \
            \(CloudStackAgent.entryPath), which runs `vxlanctl modifyvxlan`; disable \
            removes that link. A file or link there that is not libvirt-vxlan's (CloudStack's \
            EVPN script, say) is never replaced or removed. The agent finds its script when \
            it starts: restart it after either (systemctl restart cloudstack-agent).

            Exit status: 0 done or nothing to do, 1 enable found someone else's file, 3 \
            disable left someone else's file in place.
            """,
        subcommands: [Enable.self, Disable.self, Show.self])

    struct Enable: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Link /usr/share/modifyvxlan.sh to libvirt-vxlan's entry.")

        func run() throws {
            try reportingFailures {
                switch AgentScriptState.current() {
                case .ours:
                    print("already enabled: \(AgentScriptState.ours)")
                case .absent:
                    guard access(CloudStackAgent.entryPath, X_OK) == 0 else {
                        throw Failure.host("\(CloudStackAgent.entryPath) is missing: reinstall libvirt-vxlan")
                    }
                    // symlink(2) never replaces: a file that appeared since is left alone.
                    try changeScript("create", symlink(CloudStackAgent.entryPath, CloudStackAgent.scriptPath))
                    print("enabled: \(AgentScriptState.ours)")
                    print("restart the agent to use it: systemctl restart cloudstack-agent")
                case let foreign:
                    throw Failure.host("\(foreign); left alone: move it away first to enable")
                }
            }
        }
    }

    struct Disable: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove /usr/share/modifyvxlan.sh if it is libvirt-vxlan's link.")

        func run() throws {
            try reportingFailures {
                switch AgentScriptState.current() {
                case .ours:
                    try changeScript("remove", unlink(CloudStackAgent.scriptPath))
                    print("disabled: removed \(CloudStackAgent.scriptPath)")
                    print("restart the agent to use its packaged script: systemctl restart cloudstack-agent")
                case .absent:
                    print("not enabled: \(AgentScriptState.absent)")
                case let foreign:
                    throw Failure.kept("\(foreign); left alone")
                }
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status", abstract: "Say what /usr/share/modifyvxlan.sh is.")

        func run() throws {
            let state = AgentScriptState.current()
            let word =
                switch state {
                case .ours: "enabled"
                case .absent: "disabled"
                case .foreignLink, .foreignFile: "not libvirt-vxlan's"
                }
            print("\(word): \(state)")
            if access(CloudStackAgent.entryPath, X_OK) != 0 {
                print("\(CloudStackAgent.entryPath) is missing: reinstall libvirt-vxlan")
            }
        }
    }
}

/// The outcome of a system call on `/usr/share/modifyvxlan.sh` (0 or -1 and errno), as a failure.
private func changeScript(_ operation: String, _ result: Int32) throws {
    guard result == 0 else {
        throw Failure.host("cannot \(operation) \(CloudStackAgent.scriptPath): \(String(cString: strerror(errno)))")
    }
}

extension AgentScriptState {
    /// What `/usr/share/modifyvxlan.sh` is now (lstat, readlink: a link is never followed).
    static func current() -> AgentScriptState {
        var status = stat()
        guard lstat(CloudStackAgent.scriptPath, &status) == 0 else {
            return AgentScriptState(exists: false, linkTarget: nil)
        }
        guard status.st_mode & S_IFMT == S_IFLNK else { return AgentScriptState(exists: true, linkTarget: nil) }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink(CloudStackAgent.scriptPath, &buffer, Int(PATH_MAX))
        guard length >= 0 else { return .foreignLink(target: "?") }
        let target = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return AgentScriptState(exists: true, linkTarget: target)
    }
}
