import ArgumentParser
import FoundationEssentials
import Glibc
import LibvirtClient
import LibvirtXML
import VXLANCore

struct NetworkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "network",
        abstract: "Define libvirt networks for VXLAN segments, through the libvirt API.",
        discussion: """
            A network defined here is <forward mode='bridge'/> on the VNI's bridge \
            (brvx-VNI), named vxlan-VNI, with the segment's mode, group or remotes and \
            dstport in libvirt-vxlan's metadata. `virsh net-list` shows it; guests use it \
            with <interface type='network'><source network='vxlan-VNI'/>, and the network \
            hook makes the bridge at net-start and removes it at net-destroy.

            A network written by hand (virsh net-define) is served the same way when its \
            bridge is named by the bridge template, or when it carries the metadata; see \
            Samples/network-handmade.xml and Samples/network-vxlan-5001.xml.

            libvirt: --connect URI, else $LIBVIRT_DEFAULT_URI, else qemu:///system.
            """,
        subcommands: [Define.self, DefineRange.self, Undefine.self, List.self])
}

/// Options of every `network` subcommand.
struct LibvirtOptions: ParsableArguments {
    @OptionGroup var common: CommonOptions

    @Option(name: .customLong("connect"), help: ArgumentHelp("libvirt URI.", valueName: "uri"))
    var uri: String?

    func connect() throws -> LibvirtConnection {
        do {
            return try LibvirtConnection(uri: uri)
        } catch {
            throw Failure.host("\(error) (is libvirtd running?)")
        }
    }

    /// Every network libvirt has, parsed, with its VNI when it is ours.
    func networks(_ connection: LibvirtConnection, _ config: Config) throws -> [(
        LibvirtNetwork, NetworkDescription, VNI?
    )] {
        let networks: [LibvirtNetwork]
        do { networks = try connection.networks() } catch { throw Failure.host(String(describing: error)) }
        return networks.map { network in
            // A network we cannot read is not ours; it still takes up its name.
            let description =
                (try? NetworkDescription(parsingNetworkXML: Array(network.xml.utf8)))
                ?? NetworkDescription(name: network.name)
            return (network, description, config.vni(of: description))
        }
    }

    func perform(_ body: () throws(LibvirtError) -> Void) throws {
        do { try body() } catch { throw Failure.host(String(describing: error)) }
    }
}

extension NetworkCommand {
    struct Define: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Define (or update) the libvirt network of a VNI.",
            discussion: """
                Idempotent: defining the same VNI again changes nothing and says so. A \
                network of that name, bridge or VNI that is not this definition's is refused.

                Examples: vxlanctl network define 5001 --autostart --start
                          vxlanctl network define 5002 --name tenant-red --mtu 1400
                          vxlanctl network define 5003 --openvswitch
                """)

        @OptionGroup var options: LibvirtOptions

        @Argument(help: "The VXLAN Network Identifier (1-16777215).", transform: parseVNIArgument)
        var vni: VNI

        @Option(help: "Network name (default: the [names] network template, vxlan-VNI).")
        var name: String?

        @Option(help: "Segment MTU for this network (default: the configuration's mtu).")
        var mtu: Int?

        @Flag(
            help: ArgumentHelp(
                "An Open vSwitch bridge: writes <virtualport type='openvswitch'/> into the network (default: bridge_type)."
            ))
        var openvswitch = false

        @Flag(help: "Start the network with libvirtd (virsh net-autostart).")
        var autostart = false

        @Flag(help: "Start the network now (virsh net-start); the hook makes its bridge.")
        var start = false

        func run() throws {
            try reportingFailures {
                let config = try options.common.loadConfig()
                let definition: NetworkDefinition
                do {
                    definition = try config.networkDefinition(
                        for: vni, name: name, mtu: mtu, bridgeKind: openvswitch ? .openvswitch : nil)
                } catch {
                    throw Failure.configuration(String(describing: error))
                }
                let connection = try options.connect()
                let existing = try options.networks(connection, config)
                switch definition.decision(existing: existing.map(\.1), vniOf: config.vni(of:)) {
                case .clash(let reason):
                    throw Failure.host(reason)
                case .unchanged:
                    print("network \(definition.name) (VNI \(vni)) is already defined: unchanged")
                case .create, .update:
                    try options.perform { () throws(LibvirtError) in try connection.defineNetwork(definition.xml) }
                    print("defined network \(definition.name): VNI \(vni) on \(definition.bridge)")
                }
                let current = existing.first { $0.1.name == definition.name }?.0
                if autostart, current?.autostart != true {
                    try options.perform { () throws(LibvirtError) in try connection.setAutostart(definition.name, true)
                    }
                    print("network \(definition.name): autostart")
                }
                if start, current?.isActive != true {
                    try options.perform { () throws(LibvirtError) in try connection.startNetwork(definition.name) }
                    print("network \(definition.name): started")
                }
            }
        }
    }

    struct DefineRange: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "define-range",
            abstract: "Define the libvirt networks of a range of VNIs.",
            discussion: """
                Lists libvirt's networks once, then defines each VNI of the range that is \
                not defined yet. VNIs whose network is already there are left unchanged; a \
                clash is reported and the others are still defined (exit status 1).

                Example: vxlanctl network define-range 5000-5999 --autostart
                """)

        @OptionGroup var options: LibvirtOptions

        @Argument(help: "VNIs, as FIRST-LAST.")
        var range: String

        @Flag(help: "Open vSwitch bridges: <virtualport type='openvswitch'/> in each network (default: bridge_type).")
        var openvswitch = false

        @Flag(help: "Mark each new network autostart.")
        var autostart = false

        func run() throws {
            try reportingFailures {
                let vnis: VNIRange
                do { vnis = try VNIRange(parsing: range) } catch { throw ValidationError(String(describing: error)) }
                let config = try options.common.loadConfig()
                let connection = try options.connect()
                var existing = try options.networks(connection, config).map(\.1)
                let started = ContinuousClock.now
                var defined = 0
                var unchanged = 0
                var clashes: [String] = []
                for value in vnis.bounds.lowerBound.value...vnis.bounds.upperBound.value {
                    let vni = try VNI(value)
                    let definition: NetworkDefinition
                    do {
                        definition = try config.networkDefinition(
                            for: vni, bridgeKind: openvswitch ? .openvswitch : nil)
                    } catch {
                        throw Failure.configuration(String(describing: error))
                    }
                    switch definition.decision(existing: existing, vniOf: config.vni(of:)) {
                    case .clash(let reason):
                        clashes.append(reason)
                        continue
                    case .unchanged:
                        unchanged += 1
                        continue
                    case .create, .update:
                        try options.perform { () throws(LibvirtError) in
                            try connection.defineNetwork(definition.xml)
                            if autostart { try connection.setAutostart(definition.name, true) }
                        }
                        defined += 1
                        existing.removeAll { $0.name == definition.name }
                        existing.append(
                            NetworkDescription(
                                name: definition.name, bridge: definition.bridge.rawValue, forwardMode: "bridge",
                                overrides: definition.metadata))
                    }
                }
                let elapsed = ContinuousClock.now - started
                print(
                    "defined \(defined), unchanged \(unchanged), refused \(clashes.count) of VNIs \(vnis) in \(elapsed)"
                )
                guard clashes.isEmpty else { throw Failure.host(clashes.joined(separator: "; ")) }
            }
        }
    }

    struct Undefine: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove the libvirt network of a VNI (stopping it first).",
            discussion: """
                Refuses while guest NICs are plugged into the network, unless --force. Only \
                libvirt-vxlan networks (metadata, or a template bridge) are touched.

                Examples: vxlanctl network undefine 5001
                          vxlanctl network undefine tenant-red --force
                """)

        @OptionGroup var options: LibvirtOptions

        @Argument(help: "A VNI, or a network name.")
        var network: String

        @Flag(help: "Stop the network even though guests use it (they lose connectivity).")
        var force = false

        func run() throws {
            try reportingFailures {
                let config = try options.common.loadConfig()
                let connection = try options.connect()
                let networks = try options.networks(connection, config)
                let vni = try? VNI(parsing: network)
                guard
                    let (found, _, ourVNI) = networks.first(where: { vni != nil ? $0.2 == vni : $0.0.name == network })
                else {
                    throw Failure.host("no libvirt network \(vni.map { "for VNI \($0)" } ?? network.escapedForMessage)")
                }
                guard let ourVNI else {
                    throw Failure.host("network \(found.name) is not a libvirt-vxlan network; left alone")
                }
                if found.isActive {
                    guard found.ports == 0 || force else {
                        throw Failure.host(
                            "network \(found.name) has \(found.ports) guest NIC(s) plugged in: stop those guests, or pass --force"
                        )
                    }
                    try options.perform { () throws(LibvirtError) in try connection.stopNetwork(found.name) }
                    print("stopped network \(found.name)")
                }
                if found.isPersistent {
                    try options.perform { () throws(LibvirtError) in try connection.undefineNetwork(found.name) }
                }
                print("undefined network \(found.name) (VNI \(ourVNI))")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the libvirt-vxlan networks libvirt knows.",
            discussion: "Only networks with our metadata or a bridge named by the template.")

        @OptionGroup var options: LibvirtOptions

        @Flag(help: "Print JSON instead of a table.")
        var json = false

        struct Row: Codable {
            var name: String
            var vni: UInt32
            var active: Bool
            var autostart: Bool
            var bridge: String
            var users: Int
        }

        func run() throws {
            try reportingFailures {
                let config = try options.common.loadConfig()
                let networks = try options.networks(try options.connect(), config)
                let rows = networks.compactMap { network, description, vni in
                    vni.map {
                        Row(
                            name: network.name, vni: $0.value, active: network.isActive, autostart: network.autostart,
                            bridge: description.bridge ?? "-", users: network.ports)
                    }
                }
                if json {
                    try printJSON(rows)
                    return
                }
                print(["NAME", "VNI", "ACTIVE", "AUTOSTART", "BRIDGE", "USERS"].joined(separator: "\t"))
                for row in rows {
                    print(
                        [
                            row.name, String(row.vni), row.active ? "yes" : "no", row.autostart ? "yes" : "no",
                            row.bridge,
                            String(row.users),
                        ].joined(separator: "\t"))
                }
            }
        }
    }
}
