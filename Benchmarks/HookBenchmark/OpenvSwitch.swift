import Foundation

/// Open vSwitch segments: `Benchmarks/run` starts a private ovsdb-server and ovs-vswitchd
/// in the benchmark's namespace (userspace datapath: the test kernel has no openvswitch
/// module) and names its run directory, which the hook and ovs-vsctl find through
/// OVS_RUNDIR as they find /var/run/openvswitch on a host.
extension Benchmark {
    /// A guest whose one NIC carries `<virtualport type='openvswitch'/>`.
    func openvswitchGuest(_ name: String, vni: Int) throws -> Guest {
        var guest = try guest(name, vni: vni)
        let xml = try String(contentsOfFile: guest.xml, encoding: .utf8).replacingOccurrences(
            of: "<model type='virtio'/>", with: "<virtualport type='openvswitch'/><model type='virtio'/>")
        guest.xml = "\(work)/xml/\(name).ovs.xml"
        try xml.write(toFile: guest.xml, atomically: true, encoding: .utf8)
        return guest
    }

    /// Per round, interleaved: the hook's prepare on a new VNI (bridge made, waited for
    /// until ovs-vswitchd has made its device), on an existing VNI (a second guest), the
    /// last guest's release (what libvirt waits for) and until the bridge is gone; then
    /// OpenNebula's `ovswitch_vxlan` procedure with ovs-vsctl (Benchmarks/opennebula-ovs-
    /// procedure) on the same devices: add on a new VNI, add again, delete.
    func openvswitch(runs: Int, rundir: String, procedure: String) throws -> [Row] {
        try "underlay = \"ul0\"\n[openvswitch]\ndatapath_type = \"netdev\"\n".write(
            toFile: "\(work)/openvswitch.conf", atomically: true, encoding: .utf8)
        let spawner = Spawner(
            environment: [
                "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LIBVIRT_VXLAN_CONFIG": "\(work)/openvswitch.conf",
                "LIBVIRT_VXLAN_STATE_DIR": "\(work)/state", "OVS_RUNDIR": rundir,
            ], errorFolder: work)
        @discardableResult func run(_ arguments: [String], input: String = "/dev/null") -> Sample {
            let sample = spawner.run(arguments, input: input)
            guard sample.status == 0 else {
                fatalError("\(arguments.joined(separator: " ")) exited \(sample.status): \(spawner.errors())")
            }
            return sample
        }
        var samples: [String: [Sample]] = [:]
        // A VNI in use all along: each round a new guest joins it (an existing VNI).
        let resident = try openvswitchGuest("ovs-resident", vni: 599_999)
        run(hookCommand(resident, "prepare", "begin"), input: resident.xml)
        for round in 0..<runs {
            waitForIdleCPUs(limit: 2, window: 0.1)
            let joining = try openvswitchGuest("ovs-joining\(round)", vni: 599_999)
            samples["existing", default: []].append(run(hookCommand(joining, "prepare", "begin"), input: joining.xml))
            let vni = 600_000 + round
            let first = try openvswitchGuest("ovs-first\(round)", vni: vni)
            samples["new", default: []].append(run(hookCommand(first, "prepare", "begin"), input: first.xml))
            waitForIdleCPUs(limit: 2, window: 0.1)
            let started = now()
            let release = run(hookCommand(first, "release", "end"), input: first.xml)
            samples["release", default: []].append(release)
            waitForTeardowns(vni: vni)
            samples["gone", default: []].append(Sample(microseconds: now() - started, of: release))

            let shellVNI = String(610_000 + round)
            samples["nebulaNew", default: []].append(run([procedure, "add", shellVNI, "ul0", "netdev"]))
            samples["nebulaExisting", default: []].append(run([procedure, "add", shellVNI, "ul0", "netdev"]))
            samples["nebulaDelete", default: []].append(run([procedure, "delete", shellVNI, "ul0"]))
        }
        let labels: [(String, String)] = [
            ("new", "OVS hook: prepare begin, new VNI (until ovs-vswitchd applied it)"),
            ("existing", "OVS hook: prepare begin, existing VNI"),
            ("release", "OVS hook: release end, last user (libvirt waits)"),
            ("gone", "OVS hook: release end until the bridge is gone"),
            ("nebulaNew", "OpenNebula ovswitch_vxlan (ovs-vsctl): add, new VNI"),
            ("nebulaExisting", "OpenNebula ovswitch_vxlan (ovs-vsctl): add, existing VNI"),
            ("nebulaDelete", "OpenNebula ovswitch_vxlan (ovs-vsctl): delete"),
        ]
        return labels.map {
            let taken = samples[$0.0] ?? []
            return Row(
                key: "openvswitch.\($0.0)", label: $0.1, microseconds: Distribution(taken.map(\.microseconds)),
                minorFaults: Distribution(taken.map { Double($0.minorFaults) }))
        }
    }
}
