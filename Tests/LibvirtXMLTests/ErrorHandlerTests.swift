import CLibXML2
import LibvirtXML
import Testing
import VXLANCore

/// libxml2's error handlers are per-thread state shared with everything else in the
/// process (libvirt's own XML code, in vxlanctl). Parsing silences them only while it
/// runs and then puts back whatever the caller had.
struct ErrorHandlerTests {
    /// The caller's structured error handler and context are restored after a failed parse.
    @Test func testCallersErrorHandlerIsRestoredAfterAFailedParse() throws {
        var sentinel = 0
        try withUnsafeMutablePointer(to: &sentinel) { marker in
            let handler: xmlStructuredErrorFunc = { _, _ in }
            xmlSetStructuredErrorFunc(marker, handler)
            defer { xmlSetStructuredErrorFunc(nil, nil) }
            _ = parseError { () throws(LibvirtXMLError) in
                try DomainDescription(
                    parsingDomainXML: bytes("<?xml version='1.0' encoding='Shift_JIS'?><domain>") + [0x81, 0xFF])
            }
            let context = try #require(__xmlStructuredErrorContext()).pointee
            #expect(context == UnsafeMutableRawPointer(marker))
            #expect(try #require(__xmlStructuredError()).pointee != nil)
        }
    }
}
