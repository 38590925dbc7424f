import Testing

@testable import VXLANCore

private func multicastConfig() throws -> Config {
    var config = Config()
    config.underlay = try InterfaceName("cloudbr1")
    return config
}

struct PlanTests {
    @Test func testDomainPlansOneSegmentPerVXLANVNIInOrder() throws {
        let domain = DomainDescription(
            name: "web1", uuid: "c7a5fdbd-edaf-9455-926a-d65c16db1809",
            interfaces: [
                GuestInterface(source: .network("vxlan-5002"), mac: "52:54:00:00:00:02", mtu: 1400),
                GuestInterface(source: .bridge("brvx-5001"), mac: "52:54:00:00:00:01"),
                GuestInterface(source: .bridge("virbr0")),
                GuestInterface(source: .network("default")),
                GuestInterface(source: .bridge("brvx-5001"), mtu: 1450),
            ])
        let plans = try multicastConfig().plans(for: domain)
        #expect(plans.map(\.vni.value) == [5001, 5002])
        #expect(plans.map(\.requiredMTU) == [1450, 1400])
        #expect(plans[0].names.bridge.rawValue == "brvx-5001")
        #expect(plans[0].names.vxlan.rawValue == "vxlan5001")
        #expect(plans[0].group == IPAddress("239.0.19.137"))
        #expect(plans[0].learning)
    }

    @Test func testDomainWithoutVXLANInterfacesHasNoPlans() throws {
        let domain = DomainDescription(name: "db", uuid: "u", interfaces: [GuestInterface(source: .bridge("br0"))])
        #expect(try multicastConfig().plans(for: domain).isEmpty)
    }

    @Test func testVNIOutsideTheRangesIsRefused() throws {
        var config = try multicastConfig()
        config.vniRanges = [try VNIRange(parsing: "100-200")]
        let domain = DomainDescription(name: "x", uuid: "u", interfaces: [GuestInterface(source: .bridge("brvx-5001"))])
        #expect(throws: PlanError.vniNotAllowed(try VNI(5001), config.vniRanges)) { try config.plans(for: domain) }
    }

    @Test func testModesCheckWhatTheyNeed() throws {
        var config = Config()
        #expect(throws: PlanError.missingUnderlay(.multicast)) { try config.plan(for: VNI(1)) }
        config.mode = .unicast
        #expect(throws: PlanError.missingRemotes(try VNI(1))) { try config.plan(for: VNI(1)) }
        config.mode = .evpn
        #expect(throws: PlanError.missingLocal(try VNI(1))) { try config.plan(for: VNI(1)) }
        config.local = IPAddress("192.0.2.11")
        let plan = try config.plan(for: VNI(1))
        #expect(!plan.learning && plan.group == nil && plan.needsLocalAddress)
    }

    @Test func testMixedFamiliesAreRefused() throws {
        var config = Config()
        config.mode = .unicast
        config.local = IPAddress("192.0.2.11")
        config.remotes = [try #require(IPAddress("2001:db8::2"))]
        #expect(throws: PlanError.familyMismatch(try VNI(7))) { try config.plan(for: VNI(7)) }
    }

    @Test func testNetworkWithOurMetadataOverridesTheConfiguration() throws {
        let network = NetworkDescription(
            name: "tenant-a", bridge: "br-tenant-a", forwardMode: "bridge", mtu: 1400,
            overrides: SegmentOverrides(
                vni: try VNI(9000), mode: .unicast, remotes: [try #require(IPAddress("192.0.2.12"))], dstport: 4789))
        let plan = try #require(try multicastConfig().plan(for: network))
        #expect(plan.vni.value == 9000)
        #expect(plan.names.bridge.rawValue == "br-tenant-a")
        #expect(plan.names.vxlan.rawValue == "vxlan9000")
        #expect(plan.mode == .unicast && plan.dstport == 4789 && plan.group == nil)
        #expect(plan.remotes == [IPAddress("192.0.2.12")])
        #expect(plan.requiredMTU == 1400)
    }

    @Test func testHandMadeNetworkIsOursByItsBridgeName() throws {
        let network = NetworkDescription(name: "vx", bridge: "brvx-5005", forwardMode: "bridge")
        #expect(try multicastConfig().plan(for: network)?.vni.value == 5005)
        let foreign = NetworkDescription(name: "default", bridge: "virbr0", forwardMode: "nat")
        #expect(try multicastConfig().plan(for: foreign) == nil)
    }

    @Test func testNetworkBridgeNameIsValidated() throws {
        let network = NetworkDescription(
            name: "vx", bridge: "br/../../etc", overrides: SegmentOverrides(vni: try VNI(5)))
        #expect(throws: PlanError.invalidName(.invalidCharacters("br/../../etc"))) {
            try multicastConfig().plan(for: network)
        }
    }
}

struct PreflightTests {
    @Test(
        arguments: [
            (1550, MTUPolicy.auto, PreflightResult.Level.pass), (1500, .auto, .warn), (9000, .auto, .pass),
            (1300, .auto, .fail), (1500, .fixed(1500), .fail), (1500, .fixed(1400), .warn),
        ] as [(Int, MTUPolicy, PreflightResult.Level)])
    func testMTUVerdict(underlay: Int, policy: MTUPolicy, level: PreflightResult.Level) {
        #expect(Preflight.mtu(underlay: "eth1", underlayMTU: underlay, family: .ipv4, policy: policy).level == level)
    }

    @Test func testIGMPVerdict() {
        #expect(Preflight.multicastMemberships(limit: 20, inUse: 20, acceptedVNIs: 20).level == .fail)
        #expect(Preflight.multicastMemberships(limit: 20, inUse: 3, acceptedVNIs: 1000).level == .warn)
        #expect(Preflight.multicastMemberships(limit: 512, inUse: 3, acceptedVNIs: 100).level == .pass)
    }
}
