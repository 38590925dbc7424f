import ArgumentParser
import FoundationEssentials
import HookRuntime
import HostNetwork
import Lifecycle
import VXLANCore

#if canImport(Glibc)
    import Glibc
#endif

@main
struct VXLANCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vxlanctl",
        abstract: "Create, inspect and remove the VXLAN segments of a KVM host.",
        discussion: """
            Each VXLAN segment (VNI) is a Linux bridge (brvx-VNI) with a kernel vxlan \
            device (vxlanVNI) as a port. The libvirt hook makes and removes them as guests \
            start and stop; vxlanctl does the same by hand and shows what exists.

            Configuration: /etc/libvirt-vxlan/vxlan.conf (TOML), or --config PATH, or \
            $LIBVIRT_VXLAN_CONFIG. A missing default file means built-in defaults.

            Devices created by libvirt-vxlan for a VNI are in interface group 0x76000000 + VNI \
            (VNI 5001: ip link show group 1979716489); \
            nothing outside these groups is ever modified or deleted.

            Exit status: 0 success, 1 the host could not be changed as asked, 2 invalid \
            configuration, 3 teardown left the segment in place (not ours, or still in use), \
            64 invalid command line.
            """,
        version: "0.4.0",
        subcommands: [
            Ensure.self, Teardown.self, Status.self, GarbageCollect.self, NetworkCommand.self, Check.self,
            Firewall.self, GuestMTU.self, ModifyVXLAN.self, CloudStackCommand.self, Watch.self, MetricsCommand.self,
        ])
}

/// The `--json` form of every command: stable key order, and paths and URIs as they are
/// (`/etc/libvirt`, not `\/etc\/libvirt`).
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// Options every subcommand takes.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Configuration file.", valueName: "path"))
    var config: String?

    func loadConfig() throws -> Config {
        do {
            return try ConfigFile.load(explicit: config)
        } catch {
            throw Failure.configuration(String(describing: error))
        }
    }

    func openNetlink() throws -> NetlinkSession {
        do {
            return try NetlinkSession()
        } catch {
            throw Failure.host(String(describing: error))
        }
    }

    /// The host's segments (`SegmentHost`), whose changes vxlanctl waits for: its reaper
    /// runs inline. Lines go to the journal and, echoed, to stderr.
    func openHost(
        reaper: PendingTeardowns.Style = .inline, staleAfter: Int = 300, verifiesForwarding: Bool = false,
        journal: any LifecycleLog = Journal(echo: true, phase: "vxlanctl")
    ) throws -> SegmentHost {
        do {
            return try SegmentHost.open(
                journal: journal, reaper: reaper, staleAfter: staleAfter, verifiesForwarding: verifiesForwarding)
        } catch {
            throw Failure.host(String(describing: error))
        }
    }
}

/// The options and the VNI of a command that acts on one segment.
struct SegmentOptions: ParsableArguments {
    @OptionGroup var common: CommonOptions

    @Argument(help: "The VXLAN Network Identifier (1-16777215).", transform: parseVNIArgument)
    var vni: VNI

    /// What `derive` takes from the configuration (a plan, names); its errors are
    /// configuration errors (exit status 2).
    func configured<Value>(_ derive: (Config) throws -> Value) throws -> Value {
        let config = try common.loadConfig()
        do { return try derive(config) } catch { throw Failure.configuration(String(describing: error)) }
    }

}

/// Reads a VNI argument the way the hook reads one, with the reason when it is refused
/// ("VNI 0 is out of range (1-16777215)").
func parseVNIArgument(_ text: String) throws -> VNI {
    do { return try VNI(parsing: text) } catch { throw ValidationError(error.description) }
}

/// How vxlanctl fails: one line on stderr and an exit status a script can test.
enum Failure: Error {
    case host(String)
    case configuration(String)
    case kept(String)

    var exitCode: ExitCode {
        switch self {
        case .host: ExitCode(1)
        case .configuration: ExitCode(2)
        case .kept: ExitCode(3)
        }
    }

    var message: String {
        switch self {
        case .host(let message), .configuration(let message), .kept(let message): message
        }
    }
}

extension ParsableCommand {
    /// Runs `body`, turning a `Failure` into its message on stderr and its exit status.
    func reportingFailures(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let failure as Failure {
            printError("vxlanctl: \(failure.message)")
            throw failure.exitCode
        }
    }
}

func printError(_ line: String) {
    writeStandardError(line + "\n")
}
