import Testing
import VXLANCore

private func config() throws -> Config {
    var config = Config()
    config.underlay = try InterfaceName("cloudbr1")
    return config
}

struct NetworkDefinitionTests {
    private func existing(_ name: String, bridge: String, vni: UInt32? = nil) throws -> NetworkDescription {
        NetworkDescription(
            name: name, bridge: bridge, forwardMode: "bridge",
            overrides: try vni.map { SegmentOverrides(vni: try VNI($0)) })
    }

    @Test func testDefiningDecidesCreateUnchangedUpdateOrClash() throws {
        let config = try config()
        let definition = try config.networkDefinition(for: VNI(5001))
        let same = NetworkDescription(
            name: "vxlan-5001", bridge: "brvx-5001", forwardMode: "bridge", overrides: definition.metadata)
        let vniOf: (NetworkDescription) -> VNI? = { config.vni(of: $0) }
        #expect(definition.decision(existing: [], vniOf: vniOf) == .create)
        #expect(definition.decision(existing: [same], vniOf: vniOf) == .unchanged)
        var older = same
        older.overrides?.dstport = 4789
        #expect(definition.decision(existing: [older], vniOf: vniOf) == .update)
        #expect(
            definition.decision(existing: [try existing("vxlan-5001", bridge: "virbr9")], vniOf: vniOf)
                == .clash("network vxlan-5001 exists and is not a libvirt-vxlan network"))
        #expect(
            definition.decision(existing: [try existing("vxlan-5001", bridge: "x", vni: 5002)], vniOf: vniOf)
                == .clash("network vxlan-5001 exists for VNI 5002"))
        #expect(
            definition.decision(existing: [try existing("other", bridge: "brvx-5001")], vniOf: vniOf)
                == .clash("bridge brvx-5001 is already used by network other"))
        #expect(
            definition.decision(existing: [try existing("tenant", bridge: "br-t", vni: 5001)], vniOf: vniOf)
                == .clash("VNI 5001 is already defined as network tenant"))
    }

    @Test(arguments: ["", "a/b", "has space", "x<y", ".hidden", String(repeating: "n", count: 65)])
    func testBadNetworkNamesAreRefused(name: String) throws {
        #expect(throws: PlanError.invalidNetworkName(name)) { try config().networkDefinition(for: VNI(1), name: name) }
    }

    @Test func testVNIOutsideTheRangesIsRefused() throws {
        var config = try config()
        config.vniRanges = [try VNIRange(parsing: "1-10")]
        #expect(throws: PlanError.self) { try config.networkDefinition(for: VNI(11)) }
    }
}
