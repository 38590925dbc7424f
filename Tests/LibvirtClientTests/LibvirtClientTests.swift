import Foundation
import LibvirtClient
import LibvirtXML
import Testing
import VXLANCore

/// libvirt's in-process test driver: real libvirt API and XML validation, no daemon.
/// Every connection in the process shares its state, so each test uses a VNI of its own.
private func testDriver() throws -> LibvirtConnection { try LibvirtConnection(uri: "test:///default") }

private func config() throws -> Config {
    var config = Config()
    config.underlay = try InterfaceName("cloudbr1")
    return config
}

struct LibvirtClientTests {
    @Test func testDefinedNetworkReadsBackAsOursWithItsMetadata() throws {
        let libvirt = try testDriver()
        let definition = try config().networkDefinition(for: VNI(5001), mtu: 1400)
        try libvirt.defineNetwork(definition.xml)
        let network = try #require(try libvirt.network(named: "vxlan-5001"))
        #expect(network.isPersistent && !network.isActive && !network.autostart)
        let parsed = try NetworkDescription(parsingNetworkXML: Array(network.xml.utf8))
        #expect(parsed.bridge == "brvx-5001")
        #expect(parsed.forwardMode == "bridge")
        #expect(parsed.overrides == definition.metadata)
        #expect(try config().plan(for: parsed)?.mtu == .fixed(1400))
    }

    @Test func testUnicastDefinitionCarriesItsRemotes() throws {
        var unicast = try config()
        unicast.mode = .unicast
        unicast.remotes = [try #require(IPAddress("192.0.2.12")), try #require(IPAddress("192.0.2.13"))]
        let definition = try unicast.networkDefinition(for: VNI(7))
        let libvirt = try testDriver()
        try libvirt.defineNetwork(definition.xml)
        let xml = try #require(try libvirt.network(named: "vxlan-7")).xml
        let parsed = try NetworkDescription(parsingNetworkXML: Array(xml.utf8))
        #expect(parsed.overrides?.remotes == unicast.remotes)
        #expect(parsed.overrides?.group == nil)
    }

    @Test func testStartAutostartStopUndefine() throws {
        let libvirt = try testDriver()
        try libvirt.defineNetwork(try config().networkDefinition(for: VNI(5003)).xml)
        try libvirt.setAutostart("vxlan-5003", true)
        try libvirt.startNetwork("vxlan-5003")
        let network = try #require(try libvirt.network(named: "vxlan-5003"))
        #expect(network.isActive && network.autostart && network.ports == 0)
        #expect(try libvirt.networks().contains { $0.name == "vxlan-5003" })
        try libvirt.stopNetwork("vxlan-5003")
        try libvirt.undefineNetwork("vxlan-5003")
        #expect(try libvirt.network(named: "vxlan-5003") == nil)
        #expect(try libvirt.networks().contains { $0.name == "default" })
    }

    @Test func testLibvirtErrorsAreReturnedNotPrinted() throws {
        let libvirt = try testDriver()
        let printed = try capturingStandardError {
            writeToStandardError("marker\n")
            #expect(throws: LibvirtError.self) { try libvirt.startNetwork("no-such-network") }
            #expect(throws: LibvirtError.self) { try libvirt.defineNetwork("<network><name>x</name><bogus/>") }
        }
        #expect(printed.contains("marker"), "stderr was not captured")
        #expect(!printed.contains("no-such-network") && !printed.contains("bogus"), "libvirt printed: \(printed)")
    }

    @Test func testConnectionFailureNamesTheURI() {
        #expect {
            _ = try LibvirtConnection(uri: "qemu+unix:///system?socket=/nonexistent/libvirt-sock")
        } throws: { error in
            "\(error)".contains("connect to qemu+unix:///system?socket=/nonexistent/libvirt-sock")
        }
    }

    /// `vxlanctl guest-mtu --apply`'s round trip: a defined domain listed with its
    /// persistent XML, edited, defined again, and read back with the NIC's `<mtu>`.
    @Test func testDomainDefinitionWithInterfaceMTUReadsBack() throws {
        let libvirt = try testDriver()
        try libvirt.defineDomain(
            """
            <domain type='test'><name>mtu-guest</name><memory>65536</memory><os><type>hvm</type></os>\
            <devices><interface type='bridge'><mac address='52:54:00:00:13:70'/><source bridge='brvx-5001'/>\
            </interface></devices></domain>
            """)
        let defined = try #require(try libvirt.definedDomains().first { $0.name == "mtu-guest" })
        #expect(!defined.isActive)
        #expect(try DomainDescription(parsingDomainXML: Array(defined.xml.utf8)).interfaces.map(\.mtu) == [nil])
        try libvirt.defineDomain(
            try DomainDescription.settingInterfaceMTUs([0: 1370], inDomainXML: Array(defined.xml.utf8)))
        let redefined = try #require(try libvirt.definedDomains().first { $0.name == "mtu-guest" })
        let interfaces = try DomainDescription(parsingDomainXML: Array(redefined.xml.utf8)).interfaces
        #expect(interfaces == [GuestInterface(source: .bridge("brvx-5001"), mac: "52:54:00:00:13:70", mtu: 1370)])
    }
}

/// What the process wrote on stderr while `body` ran (other tests' lines included: the
/// caller looks for its own text).
private func capturingStandardError(_ body: () throws -> Void) throws -> String {
    var template = Array("/tmp/lvx-stderr-XXXXXX".utf8CString)
    let file = mkstemp(&template)
    guard file >= 0 else { throw POSIXError(.EIO) }
    unlink(template)
    defer { close(file) }
    let saved = dup(STDERR_FILENO)
    dup2(file, STDERR_FILENO)
    defer {
        dup2(saved, STDERR_FILENO)
        close(saved)
    }
    try body()
    var bytes = [UInt8](repeating: 0, count: 65_536)
    let count = pread(file, &bytes, bytes.count, 0)
    return String(decoding: bytes.prefix(max(0, count)), as: UTF8.self)
}

private func writeToStandardError(_ text: String) {
    var text = text
    text.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
}
