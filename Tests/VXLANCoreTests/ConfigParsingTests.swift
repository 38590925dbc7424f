import Foundation
import Testing

@testable import VXLANCore

private func parse(_ text: String) throws(ConfigError) -> Config {
    try Config(parsingTOML: Array(text.utf8))
}

struct ConfigParsingTests {
    @Test func testEmptyFileGivesTheDefaults() throws {
        let config = try parse("")
        #expect(config == Config())
        #expect(config.mode == .multicast && config.dstport == 8472 && config.ttl == 10 && config.mtu == .auto)
        #expect(config.groupPolicy == .cloudstack)
        #expect(config.vniRanges.map(\.description) == ["1-16777215"])
    }

    @Test func testTheSampleParsesAndHoldsItsValues() throws {
        let sample = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Samples/vxlan.conf").standardized
        let config = try Config(parsingTOML: Array(try Data(contentsOf: sample)))
        #expect(config.underlay?.rawValue == "cloudbr1")
        #expect(config.mode == .multicast && config.dstport == 8472 && config.ttl == 10)
        #expect(config.names.bridge == .defaultBridge && config.names.vxlan == .defaultVXLAN)
    }

    /// `[metrics]`: what vxlanctl watch exports; the defaults serve nothing over TCP.
    @Test func testMetricsTableIsRead() throws {
        let defaults = try parse("").metrics
        #expect(defaults.listen == nil && defaults.textfile == .auto)
        #expect(defaults.textfileInterval == 15 && defaults.peerCheckInterval == 0)
        let metrics = try parse(
            """
            [metrics]
            listen = "[::1]:9470"
            textfile = "/srv/textfiles/vxlan.prom"
            textfile_interval = 30
            peer_check_interval = 300
            """
        ).metrics
        #expect(metrics.listen == ListenAddress("[::1]:9470") && metrics.listen?.isLoopback == true)
        #expect(metrics.textfile == .path("/srv/textfiles/vxlan.prom"))
        #expect(metrics.textfileInterval == 30 && metrics.peerCheckInterval == 300)
        #expect(try parse("[metrics]\nlisten = \"off\"\ntextfile = \"off\"\n").metrics.textfile == .off)
    }

    @Test(arguments: [
        ("[metrics]\nlisten = \"localhost:9470\"\n", "line 2: listen: \"localhost:9470\" is not ADDRESS:PORT"),
        ("[metrics]\ntextfile = \"metrics.txt\"\n", "line 2: textfile: \"metrics.txt\" must be"),
        ("[metrics]\npeer_check_interval = -1\n", "line 2: peer_check_interval: -1 is out of range"),
        ("[metrics]\nport = 9470\n", "line 2: unknown key 'port' in [metrics]"),
    ])
    func testMetricsTableRefusesWhatItCannotServe(text: String, message: String) {
        #expect(throws: ConfigError.self) { try parse(text) }
        do { _ = try parse(text) } catch { #expect(error.description.hasPrefix(message), "\(error)") }
    }

    @Test func testEveryKeyIsRead() throws {
        let config = try parse(
            """
            # a comment
            underlay = "eth1"   # trailing comment
            local = '192.0.2.11'
            mode = "unicast"
            dstport = 4789
            ttl = 64
            mtu = 9000
            vni_ranges = [
                "5000-5999",  # tenants
                7001,
            ]
            remotes = ["192.0.2.12", "192.0.2.13"]
            group_base = "239.1.0.0/16"
            guest_mtu = "refuse"

            [names]
            bridge = "br{vni}"
            vxlan = "vx{vni}"
            network = "seg-{vni}"
            """)
        #expect(config.underlay?.rawValue == "eth1")
        #expect(config.local == IPAddress("192.0.2.11"))
        #expect(config.mode == .unicast && config.dstport == 4789 && config.ttl == 64 && config.mtu == .fixed(9000))
        #expect(config.vniRanges.map(\.description) == ["5000-5999", "7001"])
        #expect(config.remotes == [IPAddress("192.0.2.12"), IPAddress("192.0.2.13")])
        #expect(config.groupPolicy == .network(try #require(IPNetwork("239.1.0.0/16"))))
        #expect(config.names.network.render(try VNI(9)) == "seg-9")
        #expect(config.guestMTU == .refuse && Config().guestMTU == .warn)
    }

    @Test func testEscapesInBasicStrings() throws {
        #expect(try parse(#"underlay = "e\u0074h0""#).underlay?.rawValue == "eth0")
    }

    /// Each bad file: the line the error must name, and words it must contain.
    static let badFiles: [(text: String, line: Int, words: [String])] = [
        ("undrelay = \"eth0\"", 1, ["unknown key 'undrelay'", "underlay"]),
        ("\n[tables]\n", 2, ["unknown table [tables]"]),
        ("[names]\nbrige = \"b{vni}\"", 2, ["unknown key 'brige' in [names]"]),
        ("ttl = 5\nttl = 6", 2, ["'ttl' defined twice"]),
        ("[names]\n[names]", 2, ["[names] defined twice"]),
        ("dstport = \"8472\"", 1, ["dstport must be an integer, not a string"]),
        ("dstport = 70000", 1, ["dstport", "70000 is out of range (1-65535)"]),
        ("dstport = 0", 1, ["dstport", "out of range"]),
        ("ttl = 256", 1, ["ttl", "out of range (1-255)"]),
        ("mtu = 20", 1, ["mtu", "out of range"]),
        ("mtu = \"big\"", 1, ["mtu", "neither \"auto\" nor a number"]),
        ("mode = \"vxlan\"", 1, ["mode", "not one of multicast, unicast, evpn"]),
        ("vni_ranges = [\"0-10\"]", 1, ["vni_ranges", "VNI 0 is out of range"]),
        ("vni_ranges = [\"16777216\"]", 1, ["vni_ranges", "out of range"]),
        ("vni_ranges = [\"6000-5000\"]", 1, ["vni_ranges", "6000-5000"]),
        ("vni_ranges = []", 1, ["vni_ranges", "at least one range"]),
        ("vni_ranges = [\"0x10\"]", 1, ["vni_ranges", "not a decimal number"]),
        ("group_base = \"239.1.0.0/33\"", 1, ["group_base", "neither \"cloudstack\" nor a CIDR"]),
        ("group_base = \"10.0.0.0/8\"", 1, ["group_base", "not a multicast network"]),
        ("remotes = [\"239.1.1.1\"]", 1, ["remotes", "multicast"]),
        ("remotes = [\"192.0.2.1\", \"192.0.2.1\"]", 1, ["remotes", "listed twice"]),
        ("remotes = [\"192.0.2.300\"]", 1, ["remotes", "not an IP address"]),
        ("local = \"239.0.0.1\"", 1, ["local", "multicast"]),
        ("local = \"192.0.2.1\"\nremotes = [\"2001:db8::2\"]", 2, ["remotes", "one address family"]),
        ("mode = \"unicast\"", 1, ["mode", "remotes"]),
        ("guest_mtu = \"deny\"", 1, ["guest_mtu", "not one of warn, refuse"]),
        ("[names]\nbridge = \"brvx\"", 2, ["bridge", "{vni} exactly once"]),
        ("[names]\nbridge = \"bridge-vxlan-{vni}\"", 2, ["bridge", "Linux allows 15"]),
        ("[names]\nvxlan = \"brvx-{vni}\"", 2, ["vxlan", "must differ"]),
        ("underlay = \"eth0/1\"", 1, ["underlay", "printable ASCII"]),
        ("underlay = \"eth0", 1, ["string is not closed"]),
        ("underlay = \"eth\\q0\"", 1, ["invalid escape"]),
        ("underlay = eth0", 1, ["not a value", "strings need quotes"]),
        ("ttl = 010", 1, ["not a value"]),
        ("ttl = 10 11", 1, ["after the value"]),
        ("vni_ranges = [\"1-10\"", 1, ["array is not closed"]),
        ("\n\nmode = ", 3, ["expected a value"]),
        ("a.b = 1", 1, ["dotted keys"]),
        // Bare keys are ASCII letters, digits, '_' and '-', as TOML has them.
        ("ünderlay = \"eth0\"", 1, ["expected a key"]),
        ("undérlay = \"eth0\"", 1, ["expected '=' after key 'und'"]),
        ("[[names]]", 1, ["arrays of tables"]),
        ((1...17).map { "[t\($0)]" }.joined(separator: "\n"), 17, ["more than 16 tables"]),
        ("underlay = \"\"\"eth0\"\"\"", 1, ["multi-line strings"]),
        ("underlay = \"a\u{1}b\"", 1, ["control character"]),
    ]

    @Test(arguments: badFiles)
    func testBadFileIsRefusedNamingLineAndKey(bad: (text: String, line: Int, words: [String])) {
        #expect {
            try parse(bad.text)
        } throws: { error in
            let message = "\(error)"
            let named = message.hasPrefix("line \(bad.line): ") && bad.words.allSatisfy { message.contains($0) }
            if !named { Issue.record("\(bad.text.debugDescription) -> \(message)") }
            return named && !message.contains("\n")
        }
    }

    @Test func testInvalidUTF8NamesItsLine() {
        let bytes = Array("ttl = 10\n".utf8) + [0x75, 0x3D, 0xFF, 0xFE] + Array("\n".utf8)
        #expect(throws: ConfigError.syntax(line: 2, message: "not valid UTF-8")) { try Config(parsingTOML: bytes) }
    }

    @Test func testNULByteIsRefused() {
        #expect(throws: ConfigError.self) { try Config(parsingTOML: Array("ttl = 1\0\n".utf8)) }
    }

    @Test func testOversizeFileIsRefused() {
        let bytes = [UInt8](repeating: UInt8(ascii: "#"), count: (1 << 20) + 1)
        #expect(throws: ConfigError.syntax(line: 0, message: "file is larger than 1048576 bytes")) {
            try Config(parsingTOML: bytes)
        }
    }
}
