import Lifecycle
import LifecycleFakes
import Testing
import VXLANCore

@testable import HookRuntime

/// The dispatch from libvirt's XML to the lifecycle, on fakes: no root, no kernel.
struct HookRunnerTests {
    let host = FakeHost()

    private func run(_ driver: HookCall.Driver, _ operation: String, _ sub: String, _ xml: String) throws {
        let runner = HookRunner(config: host.config, lifecycle: host.lifecycle, journal: host.log)
        try runner.run(
            HookCall(driver: driver, object: "g", operation: operation, subOperation: sub), input: Array(xml.utf8))
    }

    private static let withoutUUID = """
        <domain type='test'><name>test</name><devices><interface type='network'>\
        <source network='default'/></interface></devices></domain>
        """

    @Test(arguments: [("prepare", "begin"), ("reconnect", "begin"), ("release", "end")])
    func testDomainWithoutUUIDAndWithoutVXLANInterfacesIsNeverRefused(operation: String, sub: String) throws {
        try run(.qemu, operation, sub, Self.withoutUUID)
        #expect(host.links.names.isEmpty && host.users.records.isEmpty && host.log.lines.isEmpty)
    }

    @Test func testDomainWithAVXLANInterfaceNeedsItsUUID() {
        let xml =
            "<domain><name>g</name><devices><interface type='bridge'><source bridge='brvx-5001'/></interface></devices></domain>"
        #expect {
            try run(.qemu, "prepare", "begin", xml)
        } throws: { error in
            "\(error)" == "domain g has no valid <uuid>"
        }
        #expect(host.links.names.isEmpty)
    }

    @Test func testPrepareAndReleaseOfADomainJoinAndLeaveItsVNIs() throws {
        let xml = """
            <domain><name>g</name><uuid>00000000-0000-4000-8000-000000000001</uuid><devices>\
            <interface type='bridge'><mac address='52:54:00:00:00:01'/><source bridge='brvx-5001'/></interface>\
            <interface type='network'><mac address='52:54:00:00:00:02'/><source network='vxlan-5002'/></interface>\
            </devices></domain>
            """
        try run(.qemu, "prepare", "begin", xml)
        #expect(host.links.names == ["brvx-5001", "brvx-5002", "vxlan5001", "vxlan5002"])
        #expect(host.users.records[try VNI(5002)]?.values.first?.macs == ["52:54:00:00:00:02"])
        try run(.qemu, "release", "end", xml)
        #expect(host.users.records.isEmpty && host.teardowns.pending.count == 2)
        host.lifecycle.reap()
        #expect(host.links.names.isEmpty && host.links.deletions == 1)
    }

    /// libvirt may reject an incoming migration (or a restore) after its `migrate begin`
    /// hook, and then never calls `release end`: that call checks and makes nothing; the
    /// `prepare begin` that libvirt runs before QEMU starts makes and records.
    @Test(arguments: ["migrate", "restore"])
    func testIncomingMigrationAndRestoreCheckButMakeAndRecordNothing(operation: String) throws {
        let xml = """
            <domain><name>g</name><uuid>00000000-0000-4000-8000-000000000001</uuid><devices>\
            <interface type='bridge'><source bridge='brvx-5001'/></interface></devices></domain>
            """
        var config = FakeHost.defaultConfig
        config.vniRanges = [try VNIRange(parsing: "5000-5999")]
        let host = FakeHost(config: config)
        let runner = HookRunner(config: host.config, lifecycle: host.lifecycle, journal: host.log)
        func call(_ operation: String, _ xml: String) throws {
            try runner.run(
                HookCall(driver: .qemu, object: "g", operation: operation, subOperation: "begin"),
                input: Array(xml.utf8))
        }
        try call(operation, xml)
        #expect(host.links.names.isEmpty && host.users.records.isEmpty)
        #expect {
            try call(operation, xml.replacingOccurrences(of: "brvx-5001", with: "brvx-7000"))
        } throws: { error in
            "\(error)".hasPrefix("g: VNI 7000 is not in this host's vni_ranges")
        }
        try call("prepare", xml)
        #expect(host.links.names == ["brvx-5001", "vxlan5001"])
    }

    /// A segment below 1500 bytes (the fakes make 1450) and a NIC that does not ask for its
    /// MTU: the journal says so and what to add; a NIC that asks is not warned about.
    @Test func testANICWithoutMTUOnASmallSegmentIsWarnedAbout() throws {
        let xml = """
            <domain><name>g</name><uuid>00000000-0000-4000-8000-000000000001</uuid><devices>\
            <interface type='bridge'><mac address='52:54:00:00:00:01'/><source bridge='brvx-5001'/></interface>\
            <interface type='bridge'><mac address='52:54:00:00:00:02'/><source bridge='brvx-5002'/><mtu size='1450'/>\
            </interface></devices></domain>
            """
        try run(.qemu, "prepare", "begin", xml)
        let warnings = host.log.lines.filter { $0.level == .warning }.map(\.message)
        #expect(
            warnings == [
                "qemu prepare begin domain g VNI 5001: NIC 52:54:00:00:00:01 has no <mtu>: the guest keeps 1500 on a "
                    + "1450-byte segment and loses larger frames; add <mtu size='1450'/> to its <interface>"
            ])
    }

    /// `guest_mtu = "refuse"`: the start fails with one line naming the NIC and the `<mtu>`
    /// to add, and the segment made for the guest goes with it; a NIC that asks for the
    /// segment's MTU starts.
    @Test func testRefusePolicyRefusesTheStartAndLeavesNothing() throws {
        var config = FakeHost.defaultConfig
        config.guestMTU = .refuse
        let host = FakeHost(config: config)
        let runner = HookRunner(config: host.config, lifecycle: host.lifecycle, journal: host.log)
        func prepare(_ interface: String) throws {
            let xml = """
                <domain><name>g</name><uuid>00000000-0000-4000-8000-000000000001</uuid><devices>\
                <interface type='bridge'><mac address='52:54:00:00:00:01'/><source bridge='brvx-5001'/>\
                \(interface)</interface></devices></domain>
                """
            try runner.run(
                HookCall(driver: .qemu, object: "g", operation: "prepare", subOperation: "begin"),
                input: Array(xml.utf8))
        }
        #expect {
            try prepare("")
        } throws: { error in
            "\(error)"
                == "VNI 5001: NIC 52:54:00:00:00:01 has no <mtu>: the guest keeps 1500 on a 1450-byte segment and "
                + "loses larger frames; add <mtu size='1450'/> to its <interface> (guest_mtu = \"refuse\"; "
                + "vxlanctl guest-mtu --apply g does it)"
        }
        // The rollback marked the teardown of the segment the refused start made; the
        // reaper deletes it.
        let vni = try VNI(5001)
        #expect(host.users.records.isEmpty && host.teardowns.isMarked(vni))
        host.lifecycle.reap()
        #expect(host.links.names.isEmpty)
        try prepare("<mtu size='1450'/>")
        #expect(host.links.names == ["brvx-5001", "vxlan5001"])
    }

    /// libvirt kills a running guest whose `reconnect` hook fails: whatever `guest_mtu`
    /// says, a guest that already runs is only warned about.
    @Test func testRefusePolicyOnlyWarnsAboutARunningGuest() throws {
        var config = FakeHost.defaultConfig
        config.guestMTU = .refuse
        let host = FakeHost(config: config)
        let runner = HookRunner(config: host.config, lifecycle: host.lifecycle, journal: host.log)
        let xml = """
            <domain><name>g</name><uuid>00000000-0000-4000-8000-000000000001</uuid><devices>\
            <interface type='bridge'><source bridge='brvx-5001'/></interface></devices></domain>
            """
        try runner.run(
            HookCall(driver: .qemu, object: "g", operation: "reconnect", subOperation: "begin"), input: Array(xml.utf8))
        #expect(host.links.names == ["brvx-5001", "vxlan5001"])
        #expect(host.log.lines.filter { $0.level == .warning }.count == 1)
        #expect(!host.log.lines.contains { $0.level == .error })
    }

    /// A reconnect that fails is logged, not thrown (libvirt would kill the guest), and
    /// counted as failed: the metrics must not call it ok.
    @Test func testFailedReconnectIsCountedAsFailed() throws {
        let host = FakeHost()
        let runner = HookRunner(config: host.config, lifecycle: host.lifecycle, journal: host.log)
        let noUUID = """
            <domain><name>g</name><devices><interface type='bridge'><source bridge='brvx-5001'/></interface>            </devices></domain>
            """
        let reconnect = HookCall(driver: .qemu, object: "g", operation: "reconnect", subOperation: "begin")
        #expect(try runner.run(reconnect, input: Array(noUUID.utf8)) == .failed)
        #expect(host.log.lines.contains { $0.level == .error })
    }
}
