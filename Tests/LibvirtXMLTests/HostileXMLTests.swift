import Foundation
import LibvirtXML
import Testing
import VXLANCore

/// Input crafted to break the hook, which runs as root. Each must fail with the right
/// error, read no file, fetch nothing, expand nothing, and print nothing.
struct HostileXMLTests {
    static func domainError(_ input: [UInt8]) -> LibvirtXMLError? {
        parseError { () throws(LibvirtXMLError) in try DomainDescription(parsingDomainXML: input) }
    }

    static func networkError(_ input: [UInt8]) -> LibvirtXMLError? {
        parseError { () throws(LibvirtXMLError) in try NetworkDescription(parsingNetworkXML: input) }
    }

    static func hookDataError(_ input: [UInt8]) -> LibvirtXMLError? {
        parseError { () throws(LibvirtXMLError) in try NetworkHookData(parsingHookData: input) }
    }

    /// 10,000 nested elements inside a domain: deeper than libxml2's limit of 256.
    static let deeplyNested = bytes(
        "<domain><name>g</name><uuid>u</uuid>" + String(repeating: "<a>", count: 10_000)
            + String(repeating: "</a>", count: 10_000) + "</domain>")

    /// 0xC3 starts a two-byte sequence; 0x28 ('(') cannot continue it.
    static let invalidUTF8 = bytes("<domain><name>") + [0xC3, 0x28] + bytes("</name><uuid>u</uuid></domain>")

    /// XXE reading a file is refused as a DTD.
    @Test(arguments: ["hostile-xxe-file.xml"])
    func testXXEReadingAFileIsRefusedAsADTD(name: String) throws {
        let error = Self.domainError(try fixture(name))
        #expect(error == .documentTypeDeclaration)
        let hostname =
            (try? String(contentsOfFile: "/etc/hostname", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        if hostname.count >= 4 { #expect(error?.description.contains(hostname) == false) }
    }

    /// XXE reading a file with a unique marker: refused, the marker appears nowhere.
    @Test func testXXEMarkerAppearsNowhere() throws {
        let marker = "secret-\(UUID().uuidString)"
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("libvirtxml-xxe-\(UUID().uuidString)")
        try Data(marker.utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let doctype = "<!DOCTYPE x [<!ENTITY xxe SYSTEM \"\(url.absoluteString)\">]>"
        let cases: [(String, ([UInt8]) -> LibvirtXMLError?)] = [
            (doctype + "<domain><name>&xxe;</name><uuid>&xxe;</uuid></domain>", Self.domainError),
            (doctype + "<network><name>&xxe;</name><bridge name='&xxe;'/></network>", Self.networkError),
            (doctype + "<hookData><network><name>&xxe;</name></network></hookData>", Self.hookDataError),
        ]
        for (xml, parse) in cases {
            let error = parse(bytes(xml))
            #expect(error == .documentTypeDeclaration)
            #expect(error?.description.contains(marker) == false)
        }
    }

    /// Any DOCTYPE is refused, even without an internal subset.
    @Test(arguments: [
        "<!DOCTYPE domain SYSTEM \"file:///etc/passwd\"><domain><name>g</name><uuid>u</uuid></domain>",
        "<!DOCTYPE domain><domain><name>g</name><uuid>u</uuid></domain>",
        "<?xml version='1.0'?>\n<!-- harmless? -->\n<!DOCTYPE domain [<!ATTLIST domain type CDATA 'kvm'>]><domain><name>g</name><uuid>u</uuid></domain>",
    ])
    func testAnyDoctypeIsRefused(xml: String) {
        #expect(Self.domainError(bytes(xml)) == .documentTypeDeclaration)
    }

    /// XXE over http is refused as a DTD.
    @Test func testXXEOverHTTPIsRefusedAsADTD() throws {
        #expect(Self.networkError(try fixture("hostile-xxe-http.xml")) == .documentTypeDeclaration)
    }

    /// Billion laughs is refused as a DTD, before any expansion.
    @Test func testBillionLaughsIsRefusedBeforeAnyExpansion() throws {
        #expect(Self.domainError(try fixture("hostile-billion-laughs.xml")) == .documentTypeDeclaration)
    }

    /// Truncated XML is malformed, with libxml2's reason on one line.
    @Test func testTruncatedXMLIsMalformedWithLibxml2sReasonOnOneLine() throws {
        let error = try #require(Self.domainError(try fixture("hostile-truncated.xml")))
        guard case .malformed(let line, let message) = error else {
            Issue.record("expected malformed, got \(error)")
            return
        }
        #expect(line >= 6)
        #expect(!message.isEmpty && !message.contains("\n"))
    }

    /// A document that is not libvirt's is refused by its root.
    @Test func testDocumentThatIsNotLibvirtsIsRefusedByItsRoot() throws {
        #expect(
            Self.domainError(try fixture("hostile-not-libvirt.xml"))
                == .unexpectedRoot(
                    found: "project xmlns='http://maven.apache.org/POM/4.0.0'", expected: ["domain", "domstatus"]))
    }

    /// A namespaced <domain> is not libvirt's.
    @Test func testNamespacedDomainIsNotLibvirts() {
        #expect(
            Self.domainError(bytes("<domain xmlns='urn:example'><name>g</name><uuid>u</uuid></domain>"))
                == .unexpectedRoot(found: "domain xmlns='urn:example'", expected: ["domain", "domstatus"]))
    }

    /// 10,000 levels of nesting are malformed.
    @Test func testDeepNestingIsMalformed() throws {
        let error = try #require(Self.domainError(Self.deeplyNested))
        guard case .malformed = error else {
            Issue.record("expected malformed, got \(error)")
            return
        }
    }

    /// Invalid UTF-8 is malformed.
    @Test func testInvalidUTF8IsMalformed() throws {
        let error = try #require(Self.domainError(Self.invalidUTF8))
        guard case .malformed(let line, let message) = error else {
            Issue.record("expected malformed, got \(error)")
            return
        }
        #expect(line == 1)
        #expect(message.contains("UTF-8"))
    }

    /// An undeclared entity reference is malformed: without a DTD no entity can exist.
    @Test func testUndeclaredEntityIsMalformed() throws {
        let error = try #require(Self.domainError(bytes("<domain><name>&xxe;</name><uuid>u</uuid></domain>")))
        guard case .malformed(_, let message) = error else {
            Issue.record("expected malformed, got \(error)")
            return
        }
        #expect(message.contains("xxe"))
    }

    /// Empty input is malformed.
    @Test func testEmptyInputIsMalformed() throws {
        let error = try #require(Self.domainError([]))
        guard case .malformed = error else {
            Issue.record("expected malformed, got \(error)")
            return
        }
    }

    /// 2 MiB is refused before parsing, naming size and limit.
    @Test func testOversizeInputIsRefusedBeforeParsing() {
        let input = bytes("<domain>") + [UInt8](repeating: UInt8(ascii: " "), count: 2 << 20)
        let error = Self.domainError(input)
        #expect(error == .tooLarge(bytes: input.count, limit: 1 << 20))
        #expect(error?.description.contains("\(input.count)") == true)
        #expect(error?.description.contains("1048576") == true)
    }

    /// Exactly 1 MiB is still accepted.
    @Test func testInputOfExactlyTheLimitIsAccepted() throws {
        let head = "<domain><name>g</name><uuid>u</uuid><!--", tail = "--></domain>"
        let padding = (1 << 20) - head.utf8.count - tail.utf8.count
        let input = bytes(head) + [UInt8](repeating: UInt8(ascii: "x"), count: padding) + bytes(tail)
        #expect(input.count == 1 << 20)
        #expect(try DomainDescription(parsingDomainXML: input).name == "g")
    }

    static let hostileInputs: [[UInt8]] = [
        bytes("<domain><name>g</name>"),
        bytes("<domain><name>&undefined;</name></domain>"),
        bytes("<domain xmlns:a='x'><a:b:c/></domain>"),
        bytes("<?xml version='1.0' encoding='UTF-16'?><domain/>"),
        bytes("<?xml version='1.0' encoding='no-such-encoding'?><domain/>"),
        bytes("<?xml version='1.0' encoding='ISO-2022-JP'?><domain>") + [0x1B, 0x24, 0x42, 0xFF, 0xFE]
            + bytes("</domain>"),
        bytes("<?xml version='1.0' encoding='Shift_JIS'?><domain><name>") + [0x81, 0xFF, 0xA0]
            + bytes("</name></domain>"),
        bytes("<!DOCTYPE d [<!ENTITY e SYSTEM 'file:///nonexistent'>]><domain>&e;</domain>"),
        bytes("<domain attr='1' attr='2'/>"),
        bytes("\u{FEFF}\u{FEFF}<domain/>"),
        [0xFF, 0xFE, 0x3C, 0x00],
        deeplyNested,
        invalidUTF8,
    ]

    /// Libxml2 never prints to stderr, and every message is one line.
    @Test func testLibxml2NeverPrintsAndEveryMessageIsOneLine() throws {
        var errors: [LibvirtXMLError?] = []
        let captured = try capturingStandardError {
            for input in Self.hostileInputs {
                errors.append(Self.domainError(input))
            }
            for name in [
                "hostile-xxe-file.xml", "hostile-xxe-http.xml", "hostile-billion-laughs.xml", "hostile-truncated.xml",
            ] {
                errors.append((try? fixture(name)).flatMap(Self.domainError))
            }
        }
        // libxml2's own reports read "...: parser error : ..." or "... warning : ...".
        #expect(!captured.contains("error : ") && !captured.contains("warning : "))
        for error in errors {
            let description = try #require(error).description
            #expect(!description.isEmpty && !description.contains("\n"), "\(description)")
        }
    }
}
