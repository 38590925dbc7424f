import ArgumentParser
import FoundationEssentials
import Glibc
import HookRuntime
import HostNetwork
import VXLANCore

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the VXLAN segments on this host.",
        discussion: """
            Lists every VNI that has a bridge or vxlan device named by the templates or \
            created by libvirt-vxlan: the devices, their vxlan parameters, the bridge's \
            ports (guest taps), and whether libvirt-vxlan owns them. With a VNI, shows that \
            one only (by name lookup). --in-use keeps the segments of ours that guests still \
            use. --json prints the same as a JSON document.

            Examples: vxlanctl status
                      vxlanctl status 5001 --json
            """)

    @OptionGroup var options: CommonOptions

    @Argument(help: "Show only this VNI.", transform: parseVNIArgument)
    var vni: VNI?

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @Flag(help: "Show only the segments of ours that carry a port besides their vxlan device (a guest's tap).")
    var inUse = false

    func run() throws {
        try reportingFailures {
            let config = try options.loadConfig()
            let host = try options.openHost()
            let network = host.network
            let segments: [SegmentStatus]
            let context: ReportContext
            do {
                if let vni {
                    let names: SegmentNames
                    do { names = try config.names(for: vni) } catch {
                        throw Failure.configuration(String(describing: error))
                    }
                    segments = [try host.openvswitch.status(of: names)]
                    context = ReportContext(network: network, destinations: nil)
                } else {
                    segments = try host.openvswitch.segments(
                        in: network, bridgeNames: config.names.bridge, vxlanNames: config.names.vxlan)
                    context = ReportContext(network: network, destinations: try network.defaultDestinationsByLink())
                }
            } catch let error as KernelError {
                throw Failure.host(String(describing: error))
            } catch let error as ConvergeError {
                throw Failure.host(String(describing: error))
            }
            let pending = Set(host.state.pendingTeardowns())
            let reports = segments.map {
                SegmentReport($0, context: context, teardownPending: pending.contains($0.vni))
            }.filter {
                !inUse || ($0.owned && !$0.ports.isEmpty)
            }
            let watcher = WatcherReport(pid: host.state.watcherPID())
            if json {
                try printJSON(StatusReport(segments: reports, watcher: watcher))
            } else {
                printTable(reports)
                // Not with --in-use: the package's prerm reads that table alone.
                if !inUse && vni == nil { print("\n\(watcher)") }
            }
        }
    }

    private func printTable(_ reports: [SegmentReport]) {
        let header = ["VNI", "BRIDGE", "VXLAN", "KIND", "STATE", "OWNED", "MTU", "PARAMETERS", "PORTS"]
        let rows = reports.map { report in
            [
                String(report.vni), report.bridge?.name ?? "-", report.vxlan?.name ?? "-", report.kind ?? "-",
                report.state,
                report.owned ? "yes" : "no", report.vxlan.map { String($0.mtu) } ?? "-",
                report.vxlan?.parameters ?? "-", report.ports.isEmpty ? "-" : report.ports.joined(separator: ","),
            ]
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        for row in [header] + rows {
            let cells = row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: max(0, widths[index] - cell.count))
            }
            print(cells.joined(separator: "  "))
        }
    }
}

struct StatusReport: Codable {
    var segments: [SegmentReport]
    var watcher: WatcherReport
}

/// Whether `vxlanctl watch` runs (it holds the lock of /run/libvirt-vxlan/watch.pid).
struct WatcherReport: Codable, CustomStringConvertible {
    var running: Bool
    var pid: Int32?

    init(pid: Int32?) {
        self.pid = pid
        running = pid != nil
    }

    var description: String {
        pid.map { "watcher: running (pid \($0)): segments in use are repaired between guest starts" }
            ?? "watcher: not running: segments are repaired only when a guest starts (vxlanctl watch)"
    }
}

/// One VNI as `status` prints it.
struct SegmentReport: Codable {
    struct Device: Codable {
        var name: String
        var up: Bool
        var mtu: Int
        var owned: Bool
        var master: String?
        var parameters: String?
        var id: UInt32?
        var group: String?
        var local: String?
        var underlay: String?
        var dstport: UInt16?
        var ttl: UInt8?
        var learning: Bool?
        var remotes: [String]?
    }

    var vni: UInt32
    /// "linux" or "openvswitch"; nil without a bridge.
    var kind: String?
    /// An Open vSwitch bridge's datapath ("system", "netdev").
    var datapath: String?
    /// "ready", "partial" (something missing or down), "absent", or "teardown pending"
    /// (decided, waiting for the reaper's next batch; a prepare takes it back).
    var state: String
    /// Both devices exist and libvirt-vxlan created them.
    var owned: Bool
    var bridge: Device?
    var vxlan: Device?
    var ports: [String]

    init(_ status: SegmentStatus, context: ReportContext, teardownPending: Bool = false) {
        vni = status.vni.value
        kind = status.bridgeKind?.rawValue
        datapath = status.openvswitch.map { $0.datapathType.isEmpty ? "system" : $0.datapathType }
        let absent = status.bridge == nil && status.vxlan == nil && status.openvswitch == nil
        state = absent ? "absent" : teardownPending ? "teardown pending" : status.isComplete ? "ready" : "partial"
        let bridgeOwned =
            status.openvswitch.map { $0.ownerVNI == status.vni } ?? (status.bridge?.isOwned(for: status.vni) == true)
        owned = bridgeOwned && status.vxlan?.isOwned(for: status.vni) == true
        bridge = status.bridge.map { Device($0, vni: status.vni) }
        if let ovs = status.openvswitch {
            // Marked in the database, not by the interface group (ovs-vswitchd made the device).
            if bridge == nil { bridge = Device(name: ovs.name, up: false, mtu: 0, owned: false) }
            bridge?.owned = bridgeOwned
        }
        vxlan = status.vxlan.map { Device($0, vni: status.vni, bridge: status.bridge, context: context) }
        ports = status.ports.map(\.name).filter { $0 != status.vxlan?.name }
    }
}

extension SegmentReport.Device {
    init(_ link: Link, vni: VNI, bridge: Link? = nil, context: ReportContext? = nil) {
        name = link.name
        up = link.isUp
        mtu = link.mtu
        owned = link.isOwned(for: vni)
        if link.master != 0 {
            master = link.master == bridge?.index ? bridge?.name : context?.name(of: link.master)
        }
        guard let attributes = link.vxlan else { return }
        id = attributes.id
        group = attributes.group?.description
        local = attributes.local?.description
        underlay = attributes.underlay == 0 ? nil : context?.name(of: attributes.underlay)
        dstport = attributes.dstport
        ttl = attributes.ttl
        learning = attributes.learning
        let destinations = context?.remotes(of: link) ?? []
        remotes = destinations.isEmpty ? nil : destinations.map(\.description)
        var words = ["id \(attributes.id)"]
        if let group { words.append("group \(group)") }
        if let local { words.append("local \(local)") }
        if let underlay { words.append("dev \(underlay)") }
        if let remotes { words.append("remotes \(remotes.joined(separator: ","))") }
        words.append("dstport \(attributes.dstport) ttl \(attributes.ttl)")
        if !attributes.learning { words.append("nolearning") }
        parameters = words.joined(separator: " ")
    }
}

/// What a report needs besides its segment: the names of other links (underlay, master)
/// and each vxlan device's remotes. For every VNI the remotes come from one fdb dump;
/// names are looked up once each (every segment has the same underlay).
final class ReportContext {
    private let network: NetlinkSession
    private let destinations: [Int32: [IPAddress]]?
    private var names: [Int32: String?] = [:]

    /// `destinations` nil: ask the kernel per device.
    init(network: NetlinkSession, destinations: [Int32: [IPAddress]]?) {
        self.network = network
        self.destinations = destinations
    }

    func name(of index: Int32) -> String? {
        if let known = names[index] { return known }
        let name = (try? network.link(index: index))??.name
        names[index] = name
        return name
    }

    func remotes(of vxlan: Link) -> [IPAddress] {
        destinations.map { $0[vxlan.index] ?? [] } ?? (try? network.defaultDestinations(of: vxlan)) ?? []
    }
}
