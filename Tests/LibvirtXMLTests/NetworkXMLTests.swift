import LibvirtXML
import Testing
import VXLANCore

struct NetworkXMLTests {
    /// A network with `<vx:vxlan ATTRIBUTES>CHILDREN</vx:vxlan>` as its metadata.
    static func network(metadata attributes: String, children: String = "") -> [UInt8] {
        bytes(
            """
            <network>
              <name>vxlan-5001</name>
              <metadata>
                <vx:vxlan xmlns:vx='urn:x-libvirt-vxlan:1.0' \(attributes)>\(children)</vx:vxlan>
              </metadata>
              <forward mode='bridge'/>
              <bridge name='brvx-5001'/>
            </network>
            """)
    }

    static func overridesError(_ attributes: String, children: String = "") -> LibvirtXMLError? {
        parseError { () throws(LibvirtXMLError) in
            try NetworkDescription(parsingNetworkXML: network(metadata: attributes, children: children))
        }
    }

    /// Hook data at network start: the network and its multicast metadata, no port.
    @Test func testHookDataAtNetworkStartHasTheNetworkAndNoPort() throws {
        let data = try NetworkHookData(parsingHookData: fixture("hookdata-start.xml"))
        #expect(
            data
                == NetworkHookData(
                    network: NetworkDescription(
                        name: "vxlan-5001", uuid: "d2f8b7a4-1c3e-4a5b-9d6f-0e1a2b3c4d5e", bridge: "brvx-5001",
                        forwardMode: "bridge",
                        overrides: SegmentOverrides(
                            vni: try VNI(5001), mode: .multicast, group: try address("239.0.19.137")))))
    }

    /// Hook data at port-created: every metadata attribute, remotes, another prefix, and the port.
    @Test func testHookDataAtPortCreatedHasEveryMetadataAttributeAndThePort() throws {
        let data = try NetworkHookData(parsingHookData: fixture("hookdata-port-created.xml"))
        let expected = SegmentOverrides(
            vni: try VNI(6000), mode: .unicast,
            remotes: [try address("192.0.2.12"), try address("2001:db8::13")],
            dstport: 4789, ttl: 16, underlay: try InterfaceName("cloudbr1"), local: try address("192.0.2.11"))
        #expect(data.network.name == "vxlan-6000")
        #expect(data.network.bridge == "brvx-6000")
        #expect(data.network.overrides == expected)
        #expect(
            data.port
                == NetworkPortDescription(
                    uuid: "7a1b2c3d-4e5f-4a6b-9c8d-0e1f2a3b4c5d", ownerName: "web1",
                    ownerUUID: "4b1d6f4c-8a5e-4b0e-9f3e-2f6a1c0d7e21", mac: "52:54:00:5a:01:01"))
    }

    /// Every captured network hook input parses; ports exactly on port calls.
    @Test func testEveryCapturedNetworkInputParsesWithPortsExactlyOnPortCalls() throws {
        let names = fixtureNames(in: "captured").filter { $0.contains("-network-") }
        #expect(!names.isEmpty)
        for name in names {
            let data = try NetworkHookData(parsingHookData: fixture("captured/\(name)"))
            #expect(!data.network.name.isEmpty, "\(name)")
            #expect((data.port != nil) == name.contains("-port-"), "\(name)")
        }
    }

    /// Forward mode: absent is nil (isolated), present without mode is NAT; MTU read.
    @Test func testForwardModeAbsentIsIsolatedAndWithoutModeIsNAT() throws {
        let isolated = try NetworkDescription(
            parsingNetworkXML: bytes("<network><name>iso</name><bridge name='virbr9'/><mtu size='9000'/></network>"))
        #expect(isolated == NetworkDescription(name: "iso", bridge: "virbr9", mtu: 9000))
        let nat = try NetworkDescription(parsingNetworkXML: bytes("<network><name>n</name><forward/></network>"))
        #expect(nat.forwardMode == "nat")
    }

    /// Metadata in another namespace is not ours.
    @Test func testMetadataInAnotherNamespaceIsNotOurs() throws {
        let xml = """
            <network><name>n</name><metadata>
              <vx:vxlan xmlns:vx='urn:example:other' vni='nonsense'/>
              <vxlan vni='also-not-ours'/>
            </metadata></network>
            """
        #expect(try NetworkDescription(parsingNetworkXML: bytes(xml)).overrides == nil)
    }

    /// Empty metadata element gives empty overrides, not nil.
    @Test func testEmptyMetadataGivesEmptyOverrides() throws {
        #expect(try NetworkDescription(parsingNetworkXML: Self.network(metadata: "")).overrides == SegmentOverrides())
    }

    /// Each bad metadata value is refused, naming attribute and value.
    @Test(arguments: [
        ("vni", "0"), ("vni", "16777216"), ("vni", "abc"), ("vni", "0x10"), ("vni", "-5"), ("vni", "05001"),
        ("vni", ""),
        ("mode", "vxlan"), ("mode", "Multicast"), ("mode", ""),
        ("group", "239.1.1"), ("group", "192.0.2.1"), ("group", "2001:db8::1"), ("group", "239.1.1.256"),
        ("dstport", "0"), ("dstport", "65536"), ("dstport", "80a"), ("dstport", "+80"), ("dstport", " 80"),
        ("ttl", "0"), ("ttl", "256"), ("ttl", "ten"),
        ("underlay", "a-name-too-long-for-linux"), ("underlay", "eth/0"), ("underlay", "eth 0"), ("underlay", ""),
        ("local", "192.0.2"), ("local", "239.1.1.1"), ("local", "ff02::1"), ("local", "host.example"),
        ("mtu", "67"), ("mtu", "65536"), ("mtu", "1500 "), ("mtu", "auto"),
    ])
    func testBadMetadataValuesAreRefusedNamingTheAttribute(attribute: String, value: String) throws {
        let error = try #require(Self.overridesError("\(attribute)='\(value)'"))
        guard case .invalidValue(let location, let found, _) = error else {
            Issue.record("expected invalidValue, got \(error)")
            return
        }
        #expect(location == "/network/metadata/vx:vxlan/@\(attribute)")
        #expect(found == value)
    }

    /// A bad remote address is refused.
    @Test(arguments: ["192.0.2", "239.1.1.1", "", "nope"])
    func testBadRemoteAddressIsRefused(address: String) throws {
        let error = try #require(Self.overridesError("vni='5001'", children: "<vx:remote address='\(address)'/>"))
        if address.isEmpty {
            #expect(error == .missingValue(location: "/network/metadata/vx:vxlan/vx:remote/@address"))
        } else {
            #expect(
                error
                    == .invalidValue(
                        location: "/network/metadata/vx:vxlan/vx:remote/@address", value: address,
                        reason: "must be a unicast IPv4 or IPv6 address"))
        }
    }

    /// Unknown or namespaced attributes on our element are refused.
    @Test(arguments: ["vnii", "dstprot", "vx:vni", "xml:lang"])
    func testUnknownMetadataAttributesAreRefused(name: String) {
        #expect(
            Self.overridesError("vni='5001' \(name)='1'")
                == .unknownAttribute(
                    element: "/network/metadata/vx:vxlan", name: name, allowed: SegmentOverridesNames.all))
    }

    /// Unknown attributes on <vx:remote> are refused.
    @Test func testUnknownRemoteAttributesAreRefused() {
        #expect(
            Self.overridesError("", children: "<vx:remote address='192.0.2.1' port='4789'/>")
                == .unknownAttribute(
                    element: "/network/metadata/vx:vxlan/vx:remote", name: "port", allowed: ["address"]))
    }

    /// Unknown child elements are refused, in our namespace or another.
    @Test(arguments: ["<vx:remotes address='192.0.2.1'/>", "<remote address='192.0.2.1'/>"])
    func testUnknownMetadataChildrenAreRefused(child: String) throws {
        let error = try #require(Self.overridesError("", children: child))
        guard case .unknownElement(let parent, _, let allowed) = error else {
            Issue.record("expected unknownElement, got \(error)")
            return
        }
        #expect(parent == "/network/metadata/vx:vxlan")
        #expect(allowed == ["remote"])
    }

    /// Two <vx:vxlan> elements are refused.
    @Test func testTwoMetadataElementsAreRefused() {
        let xml = """
            <network><name>n</name><metadata>
              <a:vxlan xmlns:a='urn:x-libvirt-vxlan:1.0' vni='1'/>
              <b:vxlan xmlns:b='urn:x-libvirt-vxlan:1.0' vni='2'/>
            </metadata></network>
            """
        #expect(
            parseError { () throws(LibvirtXMLError) in try NetworkDescription(parsingNetworkXML: bytes(xml)) }
                == .duplicateElement(location: "/network/metadata/b:vxlan"))
    }

    /// Hook data needs a network; a port needs its uuid and owner.
    @Test(arguments: [
        ("<hookData/>", "/hookData/network"),
        ("<hookData><network/></hookData>", "/hookData/network/name"),
        (
            "<hookData><network><name>n</name></network><networkport><owner><name>g</name><uuid>u</uuid></owner></networkport></hookData>",
            "/hookData/networkport/uuid"
        ),
        (
            "<hookData><network><name>n</name></network><networkport><uuid>p</uuid><owner><uuid>u</uuid></owner></networkport></hookData>",
            "/hookData/networkport/owner/name"
        ),
        (
            "<hookData><network><name>n</name></network><networkport><uuid>p</uuid><owner><name>g</name></owner></networkport></hookData>",
            "/hookData/networkport/owner/uuid"
        ),
    ])
    func hookDataMissing(xml: String, location: String) {
        #expect(
            parseError { () throws(LibvirtXMLError) in try NetworkHookData(parsingHookData: bytes(xml)) }
                == .missingValue(location: location))
    }

    /// Roots are checked for networks and hook data.
    @Test func testRootsAreCheckedForNetworksAndHookData() {
        #expect(
            parseError { () throws(LibvirtXMLError) in
                try NetworkDescription(parsingNetworkXML: bytes("<hookData/>"))
            } == .unexpectedRoot(found: "hookData", expected: ["network"]))
        #expect(
            parseError { () throws(LibvirtXMLError) in
                try NetworkHookData(parsingHookData: bytes("<network><name>n</name></network>"))
            } == .unexpectedRoot(found: "network", expected: ["hookData"]))
    }
}

/// The attribute list the errors name, spelled out here rather than read from the
/// module, so that a change to it is a visible change to the tests.
enum SegmentOverridesNames {
    static let all = ["vni", "mode", "group", "dstport", "ttl", "underlay", "local", "mtu"]
}

struct NetworkDefinitionXMLTests {
    /// A definition's XML reads back as the same network, metadata and remotes included.
    @Test func testDefinitionReadsBackAsTheSameNetwork() throws {
        var config = Config()
        config.mode = .unicast
        config.remotes = [try #require(IPAddress("192.0.2.12")), try #require(IPAddress("192.0.2.13"))]
        let definition = try config.networkDefinition(for: VNI(5001), name: "tenant_a.1", mtu: 1400)
        let parsed = try NetworkDescription(parsingNetworkXML: Array(definition.xml.utf8))
        #expect(parsed.name == "tenant_a.1" && parsed.bridge == "brvx-5001" && parsed.forwardMode == "bridge")
        #expect(parsed.overrides == definition.metadata)
        #expect(parsed.overrides?.vni == definition.vni)
    }
}

struct OpenvSwitchXMLTests {
    @Test func aDomainNICCarriesItsVirtualPortType() throws {
        let xml = """
            <domain type='kvm'><name>g</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid><devices>
              <interface type='bridge'><source bridge='brvx-6001'/><virtualport type='openvswitch'/></interface>
              <interface type='bridge'><source bridge='brvx-6002'/></interface>
              <interface type='network'><source network='vxlan-6003'/>
                <virtualport type='openvswitch'><parameters interfaceid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f'/></virtualport>
              </interface>
            </devices></domain>
            """
        let domain = try DomainDescription(parsingDomainXML: Array(xml.utf8))
        #expect(domain.interfaces.map(\.virtualPort) == ["openvswitch", nil, "openvswitch"])
        #expect(domain.interfaces.map(\.bridgeKind) == [.openvswitch, .linux, .openvswitch])
    }

    @Test func aNetworkDefinedWithOpenvSwitchReadsBackTheSame() throws {
        var config = Config()
        config.underlay = try InterfaceName("ul0")
        let definition = try config.networkDefinition(for: try VNI(6001), bridgeKind: .openvswitch)
        #expect(definition.xml.contains("<virtualport type=\"openvswitch\"/>"))
        let read = try NetworkDescription(parsingNetworkXML: Array(definition.xml.utf8))
        #expect(read.virtualPort == "openvswitch")
        #expect(read.bridgeKind == .openvswitch)
        #expect(definition.decision(existing: [read], vniOf: config.vni(of:)) == .unchanged)
    }
}
