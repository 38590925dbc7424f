import Testing

@testable import VXLANCore

struct VNITests {
    @Test(arguments: [("1", 1), ("5001", 5001), ("16777215", 16_777_215)] as [(String, UInt32)])
    func testVNIParsesPlainDecimal(text: String, value: UInt32) throws {
        #expect(try VNI(parsing: text).value == value)
    }

    @Test(arguments: ["0", "16777216", "4294967296", "99999999999999999999999999"])
    func testVNIOutOfRangeIsRejected(text: String) {
        #expect(throws: VNIError.outOfRange(text)) { try VNI(parsing: text) }
    }

    @Test(arguments: ["", "-1", "+5", " 5001", "5001 ", "05001", "0x1389", "1e3", "5001\n", "٥٠٠١", "50 01"])
    func testVNIThatIsNotPlainDecimalIsRejected(text: String) {
        #expect(throws: VNIError.notANumber(text)) { try VNI(parsing: text) }
    }

    @Test func testVNIRangeParsesBoundsAndSingleValues() throws {
        #expect(try VNIRange(parsing: "5000-5999").bounds == VNI(5000)...VNI(5999))
        #expect(try VNIRange(parsing: "5001").contains(VNI(5001)))
        #expect(throws: VNIError.outOfRange("6000-5000")) { try VNIRange(parsing: "6000-5000") }
        #expect(throws: VNIError.outOfRange("0")) { try VNIRange(parsing: "0-10") }
    }

    @Test func testErrorMessagesEscapeControlCharacters() {
        let message = VNIError.notANumber("1\nERROR: forged").description
        #expect(!message.contains("\n"))
        #expect(message.contains("\\xa"))
    }

    // Both sides of the shortcut for names with nothing to escape: 64 bytes, control
    // characters, and scalars of more than one byte.
    @Test(
        arguments: [
            ("web1", "web1"),
            (String(repeating: "a", count: 64), String(repeating: "a", count: 64)),
            (String(repeating: "a", count: 65), String(repeating: "a", count: 64) + "..."),
            (String(repeating: "é", count: 40), String(repeating: "é", count: 40)),
            (String(repeating: "é", count: 65), String(repeating: "é", count: 64) + "..."),
            ("a\tb\u{7F}c\r", "a\\x9b\\x7fc\\xd"),
            ("ünïcode\u{1B}[31m", "ünïcode\\x1b[31m"),
        ])
    func testEscapedForMessage(text: String, escaped: String) {
        #expect(text.escapedForMessage == escaped)
    }
}

struct InterfaceNameTests {
    @Test(arguments: ["eth0", "cloudbr1", "eth0.100", "brvx-16777215", "a", "bond0-v_1"])
    func testValidNamesAreAccepted(name: String) throws {
        #expect(try InterfaceName(name).rawValue == name)
    }

    @Test(arguments: ["a/b", "..", ".", "with space", "new\nline", "tab\t", "colon:0", "brü", "\u{0}"])
    func testNamesWithForbiddenCharactersAreRejected(name: String) {
        #expect(throws: InterfaceNameError.invalidCharacters(name)) { try InterfaceName(name) }
    }

    @Test func testNamesLongerThanIFNAMSIZAreRejected() throws {
        #expect(try InterfaceName("fifteen-chars15").rawValue.count == 15)
        #expect(throws: InterfaceNameError.tooLong("sixteen-chars-16")) { try InterfaceName("sixteen-chars-16") }
        #expect(throws: InterfaceNameError.empty) { try InterfaceName("") }
    }
}

struct NameTemplateTests {
    @Test func testDefaultTemplatesAreCloudStacksNames() throws {
        let vni = try VNI(5001)
        #expect(try NameTemplate.defaultBridge.interfaceName(for: vni).rawValue == "brvx-5001")
        #expect(try NameTemplate.defaultVXLAN.interfaceName(for: vni).rawValue == "vxlan5001")
        #expect(NameTemplate.defaultNetwork.render(vni) == "vxlan-5001")
        #expect(try NameTemplate("brvx-{vni}") == .defaultBridge)
    }

    @Test func testTemplateMatchesOnlyCanonicalNames() throws {
        let template = try NameTemplate("br-{vni}-x")
        #expect(template.vni(in: "br-5001-x")?.value == 5001)
        for name in ["br-05001-x", "br-0-x", "br--x", "br-5001", "xbr-5001-x", "br-16777216-x", "br-5o01-x"] {
            #expect(template.vni(in: name) == nil, "\(name)")
        }
    }

    @Test(arguments: ["brvx", "{vni}-{vni}", "br{vni}}", "br{{vni}", ""])
    func testTemplateNeedsExactlyOnePlaceholder(pattern: String) {
        #expect(throws: NameTemplateError.placeholderCount(pattern)) { try NameTemplate(pattern) }
    }

    /// IFNAMSIZ is 16 with the NUL: the longest VNI (8 digits) leaves 7 characters.
    @Test func testTemplatesAreCheckedForTheLongestVNIOfEachRange() throws {
        let ranges = [try VNIRange(parsing: "1-100"), try VNIRange(parsing: "16777215")]
        try NameTemplate("vxbridge-{vni}").validateInterfaceNames(for: [try VNIRange(parsing: "1-999999")])
        #expect(throws: InterfaceNameError.tooLong("vxbridge-16777215")) {
            try NameTemplate("vxbridge-{vni}").validateInterfaceNames(for: ranges)
        }
    }
}
