import Testing

@testable import VXLANCore

/// Which bridge kind a segment gets: libvirt plugs a NIC with `<virtualport
/// type='openvswitch'/>` through `ovs-vsctl add-port` and any other through the Linux
/// bridge API, so the plan follows the NICs, and the configuration only where no NIC or
/// network says.
struct OpenvSwitchPlanTests {
    func config(_ text: String = "underlay = \"ul0\"") throws -> Config {
        try Config(parsingTOML: Array(text.utf8))
    }

    func domain(_ interfaces: GuestInterface...) -> DomainDescription {
        DomainDescription(name: "g", uuid: "c7a5fdbd-edaf-9455-926a-d65c16db1809", interfaces: interfaces)
    }

    @Test func aNICWithAnOpenvSwitchVirtualPortGetsAnOpenvSwitchSegment() throws {
        let plans = try config().plans(
            for: domain(GuestInterface(source: .bridge("brvx-6001"), virtualPort: "openvswitch")))
        #expect(plans.map(\.bridgeKind) == [.openvswitch])
        #expect(plans[0].adoptsExistingKind == false)
        #expect(plans[0].datapathType == .system)
    }

    @Test func aBridgeNICWithoutVirtualPortGetsALinuxBridgeWhateverTheDefault() throws {
        let plans = try config("underlay = \"ul0\"\nbridge_type = \"openvswitch\"")
            .plans(for: domain(GuestInterface(source: .bridge("brvx-6001"))))
        #expect(plans.map(\.bridgeKind) == [.linux])
        #expect(plans[0].adoptsExistingKind == false)
    }

    @Test func aNetworkNICWithoutVirtualPortTakesWhatExistsElseTheDefault() throws {
        let plans = try config("underlay = \"ul0\"\nbridge_type = \"openvswitch\"")
            .plans(for: domain(GuestInterface(source: .network("vxlan-6001"))))
        #expect(plans.map(\.bridgeKind) == [.openvswitch])
        #expect(plans[0].adoptsExistingKind)
    }

    @Test func twoNICsOfOneGuestWantingDifferentKindsOnOneVNIAreRefusedInOneLine() throws {
        let guest = domain(
            GuestInterface(source: .bridge("brvx-6001"), virtualPort: "openvswitch"),
            GuestInterface(source: .bridge("brvx-6001")))
        #expect {
            try config().plans(for: guest)
        } throws: { error in
            let text = "\(error)"
            return !text.contains("\n") && text.hasPrefix("VNI 6001: this guest has a NIC with <virtualport")
        }
        // On different VNIs, each NIC gets its own kind.
        let mixed = try config().plans(
            for: domain(
                GuestInterface(source: .bridge("brvx-6001"), virtualPort: "openvswitch"),
                GuestInterface(source: .bridge("brvx-6002")), GuestInterface(source: .network("vxlan-6001"))))
        #expect(mixed.map(\.bridgeKind) == [.openvswitch, .linux])
    }

    @Test func evpnOverOpenvSwitchIsRefusedWithTheReason() throws {
        #expect {
            try Config(parsingTOML: Array("mode = \"evpn\"\nlocal = \"192.0.2.1\"\nbridge_type = \"openvswitch\"".utf8))
        } throws: { "\($0)".contains("FRR learns") }
        let evpn = try config("mode = \"evpn\"\nlocal = \"192.0.2.1\"")
        #expect(throws: PlanError.evpnNeedsLinuxBridge(try VNI(6001))) {
            try evpn.plans(for: domain(GuestInterface(source: .bridge("brvx-6001"), virtualPort: "openvswitch")))
        }
    }

    @Test func theOpenvSwitchTableSetsDatapathAndTimeout() throws {
        let config = try config(
            """
            underlay = "ul0"
            bridge_type = "openvswitch"
            [openvswitch]
            datapath_type = "netdev"
            timeout = 2
            """)
        #expect(config.bridgeType == .openvswitch)
        #expect(config.openvswitch.datapathType == .netdev)
        #expect(config.openvswitch.timeoutMilliseconds == 2000)
        let plan = try config.plan(for: try VNI(6001))
        #expect(plan.bridgeKind == .openvswitch && plan.datapathType == .netdev && plan.adoptsExistingKind)
        #expect(throws: ConfigError.self) { try Config(parsingTOML: Array("[openvswitch]\ntimeout = 0".utf8)) }
        #expect(throws: ConfigError.self) { try Config(parsingTOML: Array("bridge_type = \"ovs\"".utf8)) }
        #expect(throws: ConfigError.self) { try Config(parsingTOML: Array("[openvswitch]\nbridge = 1".utf8)) }
    }

    @Test func aNetworkWithAVirtualPortIsAnOpenvSwitchSegment() throws {
        let network = NetworkDescription(
            name: "vxlan-6001", bridge: "brvx-6001", forwardMode: "bridge", virtualPort: "openvswitch")
        #expect(try config().plan(for: network)?.bridgeKind == .openvswitch)
        let plain = NetworkDescription(name: "vxlan-6001", bridge: "brvx-6001", forwardMode: "bridge")
        #expect(try config("underlay = \"ul0\"\nbridge_type = \"openvswitch\"").plan(for: plain)?.bridgeKind == .linux)
    }

    @Test func anOpenvSwitchPlanRecordKeepsItsKindAndOldRecordsAreLinux() throws {
        var plan = try config().plan(for: try VNI(6001), bridgeKind: .openvswitch)
        plan.datapathType = .netdev
        plan.adoptsExistingKind = false
        #expect(plan.recordText.contains("bridge_kind openvswitch\ndatapath netdev\n"))
        #expect(SegmentPlan(recordText: plan.recordText) == plan)
        let linux = try config().plan(for: try VNI(6001), bridgeKind: .linux)
        #expect(!linux.recordText.contains("bridge_kind"))
        #expect(SegmentPlan(recordText: linux.recordText)?.bridgeKind == .linux)
    }

    @Test func aNetworkDefinedForOpenvSwitchCarriesTheVirtualPortAndDiffersFromALinuxOne() throws {
        let config = try config()
        let ovs = try config.networkDefinition(for: try VNI(6001), bridgeKind: .openvswitch)
        #expect(ovs.virtualPort == "openvswitch")
        let linux = try config.networkDefinition(for: try VNI(6001))
        #expect(linux.virtualPort == nil)
        let existing = NetworkDescription(
            name: linux.name, bridge: linux.bridge.rawValue, forwardMode: "bridge", overrides: linux.metadata)
        #expect(linux.decision(existing: [existing], vniOf: config.vni(of:)) == .unchanged)
        #expect(ovs.decision(existing: [existing], vniOf: config.vni(of:)) == .update)
    }
}

struct OpenvSwitchPreflightTests {
    let socket = "/var/run/openvswitch/db.sock"

    @Test func aRunningSwitchWithItsDatapathPasses() {
        let facts = OpenvSwitchFacts(
            socket: socket, currentConfig: 7, nextConfig: 7, datapathTypes: ["netdev", "system"], kernelModule: true)
        #expect(Preflight.openvswitch(facts, datapath: .system).map(\.level) == [.pass, .pass, .pass])
    }

    @Test func aStoppedDatabaseIsOneFailWithTheFix() {
        let facts = OpenvSwitchFacts(socket: socket, databaseError: "ovsdb-server is not running: ...")
        let results = Preflight.openvswitch(facts, datapath: .system)
        #expect(results.map(\.level) == [.fail])
        #expect(results[0].fix?.contains("openvswitch-switch") == true)
    }

    @Test func aSwitchBehindTheDatabaseOrWithoutTheDatapathFails() {
        let behind = OpenvSwitchFacts(
            socket: socket, currentConfig: 3, nextConfig: 5, datapathTypes: ["netdev", "system"], kernelModule: true)
        #expect(Preflight.openvswitch(behind, datapath: .system).map(\.level) == [.pass, .fail, .pass])
        let noModule = OpenvSwitchFacts(
            socket: socket, currentConfig: 5, nextConfig: 5, datapathTypes: ["netdev", "system"], kernelModule: false)
        let results = Preflight.openvswitch(noModule, datapath: .system)
        #expect(results.map(\.level) == [.pass, .pass, .fail])
        #expect(results[2].fix?.hasPrefix("modprobe openvswitch") == true)
        #expect(Preflight.openvswitch(noModule, datapath: .netdev).map(\.level) == [.pass, .pass, .pass])
    }
}
