/// One line of `vxlanctl check`: what was checked, the verdict, and how to fix it.
public struct PreflightResult: Hashable, Sendable, Codable {
    public enum Level: String, Sendable, Codable {
        case pass = "PASS"
        case warn = "WARN"
        case fail = "FAIL"
    }

    public var check: String
    public var level: Level
    public var message: String
    public var fix: String?

    public init(_ check: String, _ level: Level, _ message: String, fix: String? = nil) {
        self.check = check
        self.level = level
        self.message = message
        self.fix = fix
    }
}

/// The verdicts of `vxlanctl check` that are arithmetic, not probing.
public enum Preflight {
    /// IPv6 needs 1280; a guest link below it breaks more than it carries.
    public static let smallestUsefulMTU = 1280

    /// What MTU guests get on this underlay, and whether that is enough.
    public static func mtu(underlay name: String, underlayMTU: Int, family: IPAddress.Family, policy: MTUPolicy)
        -> PreflightResult
    {
        let overhead = MTUPolicy.overhead(for: family)
        let carried = underlayMTU - overhead
        let segment = policy.mtu(underlayMTU: underlayMTU, family: family) ?? carried
        let raise =
            "raise the MTU of \(name) to \(1500 + overhead) (jumbo frames: 9000 gives guests \(9000 - overhead))"
        if segment > carried {
            return PreflightResult(
                "mtu", .fail,
                "mtu = \(segment) but \(name) (MTU \(underlayMTU)) carries at most \(carried) after the VXLAN header",
                fix: "set mtu = \"auto\", or \(raise)")
        }
        if segment < smallestUsefulMTU {
            return PreflightResult(
                "mtu", .fail, "guests would get MTU \(segment), below IPv6's minimum of \(smallestUsefulMTU)",
                fix: raise)
        }
        if segment < 1500 {
            return PreflightResult(
                "mtu", .warn, "guests get MTU \(segment): set <mtu size='\(segment)'/> on their interfaces", fix: raise)
        }
        return PreflightResult("mtu", .pass, "guests get MTU \(segment) (\(name) \(underlayMTU) - \(overhead))")
    }

    /// Every multicast vxlan device joins one group on one shared kernel socket, which
    /// `net.ipv4.igmp_max_memberships` caps (default 20): past it, a device fails to come
    /// up with "No buffer space available".
    public static func multicastMemberships(limit: Int, inUse: Int, acceptedVNIs: Int) -> PreflightResult {
        let setting = "net.ipv4.igmp_max_memberships"
        let fix = "sysctl -w \(setting)=\(max(512, inUse * 2)) and persist it in /etc/sysctl.d/"
        if inUse >= limit {
            return PreflightResult(
                "igmp", .fail,
                "\(inUse) multicast VNIs already use all \(limit) memberships of \(setting): the next one fails",
                fix: fix)
        }
        if acceptedVNIs > limit {
            return PreflightResult(
                "igmp", .warn,
                "\(setting) = \(limit) allows \(limit) multicast VNIs at once (\(inUse) in use); vni_ranges accepts \(acceptedVNIs)",
                fix: fix)
        }
        return PreflightResult("igmp", .pass, "\(setting) = \(limit), \(inUse) in use")
    }
}

extension Config {
    /// How many VNIs `vni_ranges` accepts (overlaps counted twice: an upper bound).
    public var acceptedVNICount: Int {
        vniRanges.reduce(0) { $0 + Int($1.bounds.upperBound.value - $1.bounds.lowerBound.value) + 1 }
    }
}

/// What `vxlanctl check` learned of Open vSwitch, for its verdicts.
public struct OpenvSwitchFacts: Hashable, Sendable {
    /// ovsdb-server's socket.
    public var socket: String
    /// Why ovsdb-server could not be asked (its one line); nil when it answered.
    public var databaseError: String?
    /// The Open_vSwitch row: the configuration ovs-vswitchd applied, and the latest one.
    public var currentConfig: Int
    public var nextConfig: Int
    /// The datapath types ovs-vswitchd registered (empty: it never started).
    public var datapathTypes: [String]
    /// Whether the kernel's openvswitch module is loaded (`/sys/module/openvswitch`).
    public var kernelModule: Bool

    public init(
        socket: String, databaseError: String? = nil, currentConfig: Int = 0, nextConfig: Int = 0,
        datapathTypes: [String] = [], kernelModule: Bool = false
    ) {
        self.socket = socket
        self.databaseError = databaseError
        self.currentConfig = currentConfig
        self.nextConfig = nextConfig
        self.datapathTypes = datapathTypes
        self.kernelModule = kernelModule
    }
}

extension Preflight {
    /// The `openvswitch` lines: ovsdb-server answers, ovs-vswitchd runs and has applied
    /// the database, and the configured datapath type is one it has (the kernel's needs
    /// the openvswitch module).
    public static func openvswitch(_ facts: OpenvSwitchFacts, datapath: OVSDatapathType) -> [PreflightResult] {
        if let error = facts.databaseError {
            return [
                PreflightResult(
                    "openvswitch", .fail, error,
                    fix: "systemctl enable --now openvswitch-switch (or set bridge_type = \"linux\")")
            ]
        }
        var results = [PreflightResult("openvswitch", .pass, "ovsdb-server answers at unix:\(facts.socket)")]
        if facts.datapathTypes.isEmpty || facts.currentConfig < facts.nextConfig {
            results.append(
                PreflightResult(
                    "openvswitch", .fail,
                    facts.datapathTypes.isEmpty
                        ? "ovs-vswitchd has never run on this database: bridges would exist only in OVSDB"
                        : "ovs-vswitchd has not applied configuration \(facts.nextConfig) (it is at "
                            + "\(facts.currentConfig)): is it running? guest starts wait for it, then fail",
                    fix: "systemctl restart ovs-vswitchd; systemctl status ovs-vswitchd"))
        } else {
            results.append(
                PreflightResult(
                    "openvswitch", .pass, "ovs-vswitchd runs and has applied configuration \(facts.nextConfig)"))
        }
        if !facts.datapathTypes.isEmpty, !facts.datapathTypes.contains(datapath.rawValue) {
            results.append(
                PreflightResult(
                    "openvswitch", .fail,
                    "datapath_type = \"\(datapath)\", but ovs-vswitchd has only \(facts.datapathTypes.joined(separator: ", "))",
                    fix: "set [openvswitch] datapath_type to one of \(facts.datapathTypes.joined(separator: ", "))"))
        } else if datapath == .system, !facts.kernelModule {
            results.append(
                PreflightResult(
                    "openvswitch", .fail,
                    "datapath_type = \"system\" needs the kernel's openvswitch module, which is not loaded",
                    fix: "modprobe openvswitch (and list it in /etc/modules-load.d), or set datapath_type = \"netdev\"")
            )
        } else {
            results.append(PreflightResult("openvswitch", .pass, "datapath_type \"\(datapath)\" is available"))
        }
        return results
    }
}
