import Testing

@testable import VXLANCore

/// The plan the hook records for the watcher must come back exactly as it was written.
struct SegmentPlanRecordTests {
    @Test func testMulticastPlanRoundTrips() throws {
        var config = Config()
        config.underlay = try InterfaceName("cloudbr1")
        // A record holds the kind ensure made, never "whatever exists" (adoptsExistingKind).
        let plan = try config.plan(for: VNI(5001), requiredMTU: 1400, bridgeKind: .linux)
        #expect(SegmentPlan(recordText: plan.recordText) == plan)
        #expect(plan.recordText.contains("group 239.0.19.137\n"))
    }

    @Test func testNetworkPlanWithOverridesRoundTrips() throws {
        var config = Config()
        config.underlay = try InterfaceName("cloudbr1")
        let overrides = SegmentOverrides(
            vni: try VNI(7000), mode: .unicast,
            remotes: [try #require(IPAddress("2001:db8::2")), try #require(IPAddress("2001:db8::3"))],
            dstport: 4789, ttl: 64, local: IPAddress("2001:db8::1"), mtu: 1380)
        let network = NetworkDescription(name: "tenant", bridge: "br-tenant", overrides: overrides)
        let plan = try #require(try config.plan(for: network))
        #expect(SegmentPlan(recordText: plan.recordText) == plan)
        #expect(plan.names.bridge.rawValue == "br-tenant")
    }

    @Test(arguments: [
        "", "vni 5001\n", "vni 5001\nvni 5002\n", "bridge brvx-5001 extra words are one value\n",
        "vni 0\nbridge b\nvxlan v\nmode multicast\nfamily ipv4\ndstport 8472\nttl 10\nmtu auto\n",
        "vni 5001\nbridge b\nvxlan v\nmode multicast\nfamily ipv4\ndstport 8472\nttl 10\nmtu auto\ncolour blue\n",
        "vni 5001\nbridge b\nvxlan v\nmode multicast\nfamily ipv4\ndstport 8472\nttl 10\nmtu auto\nremote x\n",
    ])
    func testTextItDidNotWriteIsRefused(text: String) {
        #expect(SegmentPlan(recordText: text) == nil)
    }
}
