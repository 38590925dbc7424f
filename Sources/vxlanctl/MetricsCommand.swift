import ArgumentParser
import Glibc
import HookRuntime
import Metrics
import VXLANCore

struct MetricsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "Print this host's metrics once, in Prometheus's text format.",
        discussion: """
            What vxlanctl watch serves on /metrics and writes for node_exporter: the \
            segments in use by state (complete or partial, and teardowns pending), users \
            per VNI, each segment's vxlan device and bridge counters (packets, bytes, drops, \
            errors), remote VTEPs in its fdb, multicast memberships against \
            net.ipv4.igmp_max_memberships, the hook's calls by phase and outcome with their \
            duration, the reaper's batches and the watcher's checks and repairs by cause. \
            The counters live in /run/libvirt-vxlan/metrics until reboot, so this works \
            whether the watcher runs or not (the peer verdicts are the watcher's only).

            Example: vxlanctl metrics | grep libvirt_vxlan_segments
            """)

    @OptionGroup var options: CommonOptions

    @Option(
        help: ArgumentHelp(
            "Write the metrics atomically to this file (node_exporter's textfile) instead of stdout.",
            valueName: "path"))
    var textfile: String?

    func run() throws {
        try reportingFailures {
            // A broken file is refused here, as every command refuses it.
            _ = try options.loadConfig()
            let explicit = options.config
            let host = try options.openHost(journal: Journal(echo: true))
            let metrics = HostMetrics(host: host) { vni in
                guard let config = try? ConfigFile.load(explicit: explicit) else { return nil }
                return try? config.plan(for: vni)
            }
            let text: String
            do { text = try metrics.exposition() } catch { throw Failure.host(String(describing: error)) }
            if let textfile {
                do { try MetricsTextfile.write(text, to: textfile) } catch {
                    throw Failure.host(String(describing: error))
                }
            } else {
                print(text, terminator: "")
            }
        }
    }
}
