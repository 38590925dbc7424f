import Foundation
import LibvirtXML
import Testing
import VXLANCore

/// Every XML file in `Samples/` is shipped as an example for operators, so each must
/// parse, and parse to what its comment promises.
struct SampleTests {
    enum Expected {
        case domain(DomainDescription)
        case network(NetworkDescription)
    }

    static func expectations() throws -> [String: Expected] {
        [
            "domain-bridge.xml": .domain(
                DomainDescription(
                    name: "vxlan-demo-bridge", uuid: "6f1c2a9e-3b4d-4e5f-8a6b-7c8d9e0f1a2b",
                    interfaces: [GuestInterface(source: .bridge("brvx-5001"), mac: "52:54:00:5a:50:01")])),
            "domain-network.xml": .domain(
                DomainDescription(
                    name: "vxlan-demo-network", uuid: "0a7e3c51-9d2b-4f86-b1e4-58c2d7a9f310",
                    interfaces: [GuestInterface(source: .network("vxlan-5002"), mac: "52:54:00:5a:50:11", mtu: 1450)])),
            "network-vxlan-5001.xml": .network(
                NetworkDescription(
                    name: "vxlan-5001", uuid: "d2f8b7a4-1c3e-4a5b-9d6f-0e1a2b3c4d5e", bridge: "brvx-5001",
                    forwardMode: "bridge",
                    overrides: SegmentOverrides(
                        vni: try VNI(5001), mode: .multicast, group: try address("239.0.19.137")))),
            "domain-openvswitch.xml": .domain(
                DomainDescription(
                    name: "vxlan-demo-openvswitch", uuid: "3e9b6d2c-8a41-4c7f-9e05-b1d2c3f4a5e6",
                    interfaces: [
                        GuestInterface(
                            source: .bridge("brvx-6001"), mac: "52:54:00:5a:60:01", mtu: 1450,
                            virtualPort: "openvswitch")
                    ])),
            "network-handmade.xml": .network(
                NetworkDescription(name: "tenant-blue", bridge: "brvx-5003", forwardMode: "bridge")),
        ]
    }

    static let sampleNames = [
        "domain-bridge.xml", "domain-network.xml", "domain-openvswitch.xml", "network-vxlan-5001.xml",
        "network-handmade.xml",
    ]

    /// Each sample parses to the expected values.
    @Test(arguments: sampleNames)
    func testEachSampleParsesToTheExpectedValues(name: String) throws {
        let bytes = Array(try Data(contentsOf: samplesDirectory.appendingPathComponent(name)))
        switch try #require(try Self.expectations()[name]) {
        case .domain(let expected):
            #expect(try DomainDescription(parsingDomainXML: bytes) == expected)
        case .network(let expected):
            #expect(try NetworkDescription(parsingNetworkXML: bytes) == expected)
        }
    }

    /// Every XML file in Samples has an expectation.
    @Test func testEveryXMLSampleHasAnExpectation() throws {
        let present = try FileManager.default.contentsOfDirectory(atPath: samplesDirectory.path)
            .filter { $0.hasSuffix(".xml") }
        #expect(Set(present) == Set(Self.sampleNames))
        #expect(Set(try Self.expectations().keys) == Set(Self.sampleNames))
    }
}
