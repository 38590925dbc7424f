import LibvirtXML
import Testing
import VXLANCore

struct DomainXMLTests {
    /// Live domain XML: bridge and network NICs kept in order, direct and user skipped.
    @Test func testLiveDomainKeepsBridgeAndNetworkNICsInOrderAndSkipsOthers() throws {
        let domain = try DomainDescription(parsingDomainXML: fixture("domain-live.xml"))
        #expect(domain.name == "web1")
        #expect(domain.uuid == "4b1d6f4c-8a5e-4b0e-9f3e-2f6a1c0d7e21")
        #expect(
            domain.interfaces == [
                GuestInterface(
                    source: .bridge("brvx-5001"), mac: "52:54:00:5a:01:01", mtu: 1450),
                // A network NIC in its live form (type='bridge', source network + bridge).
                GuestInterface(source: .network("vxlan-5002"), mac: "52:54:00:5a:02:01"),
            ])
    }

    /// A domain without <uuid> reads, with no UUID (libvirt's own test domains lack it).
    @Test func testDomainWithoutUUIDReadsWithNoUUID() throws {
        let xml = "<domain type='test'><name>t</name><devices><interface type='user'/></devices></domain>"
        #expect(
            try DomainDescription(parsingDomainXML: Array(xml.utf8))
                == DomainDescription(name: "t", uuid: nil, interfaces: []))
    }

    /// An empty <uuid/> (found by fuzz-domain-xml: `<uuid offset='utc'/>`) is no UUID.
    @Test func testEmptyUUIDReadsAsNoUUID() throws {
        let xml = "<domain type='qemu'><name>capture1</name><uuid offset='utc'/></domain>"
        #expect(try DomainDescription(parsingDomainXML: Array(xml.utf8)).uuid == nil)
    }

    /// Status XML: <domstatus> around the <domain>.
    @Test func testStatusXMLHasTheDomainInsideDomstatus() throws {
        let domain = try DomainDescription(parsingDomainXML: fixture("domstatus-running.xml"))
        #expect(
            domain
                == DomainDescription(
                    name: "db1", uuid: "9c4e2b7a-6d1f-4e3a-8b5c-1a2b3c4d5e6f",
                    interfaces: [
                        GuestInterface(source: .bridge("brvx-7"), mac: "52:54:00:5a:05:01")
                    ]))
    }

    /// Every captured qemu hook input parses, with a named source on every NIC kept.
    @Test func testEveryCapturedQemuInputParsesWithANamedSourceOnEveryNIC() throws {
        let names = fixtureNames(in: "captured").filter { $0.contains("-qemu-") }
        #expect(!names.isEmpty)
        for name in names {
            let domain = try DomainDescription(parsingDomainXML: fixture("captured/\(name)"))
            #expect(!domain.name.isEmpty && domain.uuid?.isEmpty == false, "\(name)")
            #expect(!domain.interfaces.isEmpty, "\(name)")
            for interface in domain.interfaces {
                switch interface.source {
                case .bridge(let source), .network(let source): #expect(!source.isEmpty, "\(name)")
                }
            }
        }
    }

    /// A NIC reads the same in every captured phase, from prepare to release.
    @Test func testANICReadsTheSameInEveryCapturedPhase() throws {
        var sources: [String: [GuestInterface.Source]] = [:]
        for name in fixtureNames(in: "captured") where name.contains("-qemu-") {
            for interface in try DomainDescription(parsingDomainXML: fixture("captured/\(name)")).interfaces {
                sources[try #require(interface.mac), default: []].append(interface.source)
            }
        }
        #expect(!sources.isEmpty)
        for (mac, seen) in sources {
            #expect(Set(seen).count == 1, "\(mac): \(seen)")
        }
    }

    /// Interfaces of other types are skipped.
    @Test(arguments: ["direct", "user", "ethernet", "vhostuser", "hostdev"])
    func testInterfacesOfOtherTypesAreSkipped(type: String) throws {
        let xml = """
            <domain type='qemu'><name>g</name><uuid>u</uuid><devices>
              <interface type='\(type)'><mac address='52:54:00:00:00:01'/><source dev='eth0' mode='vepa'/></interface>
              <interface type='bridge'><source bridge='brvx-1'/></interface>
            </devices></domain>
            """
        let domain = try DomainDescription(parsingDomainXML: bytes(xml))
        #expect(domain.interfaces == [GuestInterface(source: .bridge("brvx-1"))])
    }

    /// A domain without interfaces has none.
    @Test func testDomainWithoutInterfacesHasNone() throws {
        let domain = try DomainDescription(parsingDomainXML: bytes("<domain><name>g</name><uuid>u</uuid></domain>"))
        #expect(domain.interfaces.isEmpty)
    }

    // libvirt's elements and attributes have no namespace, as XPath's unprefixed names
    // require; one in another namespace is someone else's, whatever its local name.
    /// Elements and attributes in another namespace are not libvirt's.
    @Test func testElementsAndAttributesInAnotherNamespaceAreNotLibvirts() throws {
        let xml = """
            <domain xmlns:x='urn:example'><x:name>other</x:name><name>g</name><uuid>u</uuid><devices>
              <interface type='bridge' xmlns='urn:example'><source bridge='brvx-1'/></interface>
              <x:interface type='bridge'><source bridge='brvx-2'/></x:interface>
              <interface type='bridge'><source x:bridge='brvx-3' bridge='brvx-4'/><x:mac address='52:54:00:00:00:09'/></interface>
            </devices></domain>
            """
        let domain = try DomainDescription(parsingDomainXML: bytes(xml))
        #expect(domain.name == "g")
        #expect(domain.interfaces == [GuestInterface(source: .bridge("brvx-4"))])
    }

    /// A bridge attribute only in another namespace is missing.
    @Test func testBridgeAttributeOnlyInAnotherNamespaceIsMissing() {
        let xml = """
            <domain xmlns:x='urn:example'><name>g</name><uuid>u</uuid><devices>
              <interface type='bridge'><source x:bridge='brvx-3'/></interface>
            </devices></domain>
            """
        #expect(
            parseError { () throws(LibvirtXMLError) in try DomainDescription(parsingDomainXML: bytes(xml)) }
                == .missingValue(location: "/domain/devices/interface/source/@bridge"))
    }

    /// Interface MTU outside 68-65535 or not a plain number is refused.
    @Test(arguments: ["67", "65536", "0", "-1", "+1500", "01500", "1500 ", "0x5dc", "", "99999999999999999999"])
    func testBadMTUIsRefused(size: String) {
        let xml = """
            <domain><name>g</name><uuid>u</uuid><devices>
            <interface type='bridge'><source bridge='brvx-1'/><mtu size='\(size)'/></interface>
            </devices></domain>
            """
        #expect(
            parseError { () throws(LibvirtXMLError) in try DomainDescription(parsingDomainXML: bytes(xml)) }
                == .invalidValue(
                    location: "/domain/devices/interface/mtu/@size", value: size,
                    reason: "must be an integer from 68 to 65535"))
    }

    /// MTU bounds are accepted.
    @Test(arguments: [68, 1450, 65535])
    func testMTUBoundsAreAccepted(size: Int) throws {
        let xml = """
            <domain><name>g</name><uuid>u</uuid><devices>
            <interface type='network'><source network='n'/><mtu size='\(size)'/></interface>
            </devices></domain>
            """
        #expect(try DomainDescription(parsingDomainXML: bytes(xml)).interfaces.first?.mtu == size)
    }

    /// Required values are reported by location.
    @Test(arguments: [
        ("<domain><uuid>u</uuid></domain>", "/domain/name"),
        ("<domain><name></name><uuid>u</uuid></domain>", "/domain/name"),
        (
            "<domain><name>g</name><uuid>u</uuid><devices><interface type='bridge'/></devices></domain>",
            "/domain/devices/interface/source/@bridge"
        ),
        (
            "<domain><name>g</name><uuid>u</uuid><devices><interface type='network'><source bridge='b'/></interface></devices></domain>",
            "/domain/devices/interface/source/@network"
        ),
        ("<domstatus state='running'/>", "/domstatus/domain"),
    ])
    func testRequiredValuesAreReportedByLocation(xml: String, location: String) {
        #expect(
            parseError { () throws(LibvirtXMLError) in try DomainDescription(parsingDomainXML: bytes(xml)) }
                == .missingValue(location: location))
    }

    /// A network document is not a domain.
    @Test func testNetworkDocumentIsNotADomain() {
        #expect(
            parseError { () throws(LibvirtXMLError) in
                try DomainDescription(parsingDomainXML: bytes("<network><name>n</name></network>"))
            } == .unexpectedRoot(found: "network", expected: ["domain", "domstatus"]))
    }

    /// A hostile value cannot put a second line into the message.
    @Test func testHostileValueCannotPutASecondLineIntoTheMessage() throws {
        let xml = """
            <domain><name>g</name><uuid>u</uuid><devices>
            <interface type='bridge'><source bridge='b'/><mtu size='1500&#10;error: forged'/></interface>
            </devices></domain>
            """
        let error = try #require(
            parseError { () throws(LibvirtXMLError) in try DomainDescription(parsingDomainXML: bytes(xml)) })
        #expect(!error.description.contains("\n"))
        #expect(error.description.contains("1500\\xaerror: forged"))
    }

    /// `vxlanctl guest-mtu --apply`'s edit: `<mtu size>` replaced on the first NIC, added
    /// to the second, the user NIC (not counted) and the rest of the document untouched;
    /// the result reads back with the new MTUs.
    @Test func testSettingInterfaceMTUsEditsOnlyTheNamedInterfaces() throws {
        let xml = """
            <domain type='kvm'><name>web1</name><uuid>4b1d6f4c-8a5e-4b0e-9f3e-2f6a1c0d7e21</uuid><devices>\
            <interface type='user'><mac address='52:54:00:00:00:09'/></interface>\
            <interface type='bridge'><mac address='52:54:00:00:00:01'/><source bridge='brvx-5001'/>\
            <mtu size='1500'/></interface>\
            <interface type='network'><mac address='52:54:00:00:00:02'/><source network='vxlan-5002'/>\
            <model type='virtio'/></interface>\
            <interface type='network'><source network='default'/></interface>\
            </devices><vx:x xmlns:vx='urn:other'>&lt;kept&gt;</vx:x></domain>
            """
        let edited = try DomainDescription.settingInterfaceMTUs([0: 1400, 1: 1370], inDomainXML: Array(xml.utf8))
        let domain = try DomainDescription(parsingDomainXML: Array(edited.utf8))
        #expect(domain.interfaces.map(\.mtu) == [1400, 1370, nil])
        #expect(edited.contains("<mtu size=\"1400\"/>") && !edited.contains("1500"))
        #expect(edited.contains("<model type=\"virtio\"/>\n      <mtu size=\"1370\"/>"))
        #expect(edited.contains("&lt;kept&gt;") && edited.contains("<interface type=\"user\">"))
        #expect(edited.hasPrefix("<domain type=\"kvm\">"))
    }
}
