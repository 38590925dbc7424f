import Foundation
import Glibc
import NamespaceTestSupport
import Testing
import VXLANCore

@testable import HookRuntime

/// The journal's native protocol, received on a datagram socket standing in for journald's.
struct JournalTests {
    @Test func testLineCarriesTheProcessAndEventFields() throws {
        let folder = try TemporaryFolder()
        let receiver = try DatagramReceiver(path: folder.path + "/journal")
        var journal = Journal(phase: "prepare", subject: .domain("web1"))
        journal.destination = receiver.path
        let vni = try VNI(5001)
        journal.log(
            .notice, "prepare begin domain web1 VNI 5001: created brvx-5001",
            LogEvent(.segmentMade, vni: vni, outcome: "created"))
        let fields = try receiver.receiveFields()
        #expect(fields["MESSAGE"] == "prepare begin domain web1 VNI 5001: created brvx-5001")
        #expect(fields["PRIORITY"] == "5")
        #expect(fields["SYSLOG_IDENTIFIER"] == "libvirt-vxlan")
        #expect(fields["PHASE"] == "prepare")
        #expect(fields["DOMAIN"] == "web1")
        #expect(fields["VNI"] == "5001")
        #expect(fields["OUTCOME"] == "created")
        #expect(fields["MESSAGE_ID"] == LogEventKind.segmentMade.messageID)
    }

    @Test func testPlainLineCarriesNoEventFields() throws {
        let folder = try TemporaryFolder()
        let receiver = try DatagramReceiver(path: folder.path + "/journal")
        var journal = Journal(phase: "watch")
        journal.destination = receiver.path
        journal.log(.error, "two\nlines")
        let fields = try receiver.receiveFields()
        #expect(fields["MESSAGE"] == "two\nlines")
        #expect(fields["PRIORITY"] == "3")
        #expect(fields["PHASE"] == "watch")
        #expect(fields["VNI"] == nil && fields["MESSAGE_ID"] == nil)
    }

    /// Without journald's socket the line goes to syslog instead: sending fails, nothing throws.
    @Test func testMissingSocketIsNotSent() throws {
        let folder = try TemporaryFolder()
        var datagram = JournalDatagram()
        datagram.append("MESSAGE", "x")
        #expect(!Journal.send(datagram.bytes, to: folder.path + "/absent"))
    }

    @Test func testMessageIDsAreDistinct128BitHex() {
        let ids = LogEventKind.allCases.map(\.messageID)
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.count == 32 && $0.allSatisfy(\.isHexDigit) && $0 == $0.lowercased() })
    }
}

/// A bound AF_UNIX datagram socket, read as journald reads its native protocol.
final class DatagramReceiver {
    let path: String
    private let descriptor: Int32

    init(path: String) throws {
        self.path = path
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard descriptor >= 0, bound == 0 else { throw POSIXError(.EIO) }
    }

    deinit { close(descriptor) }

    /// The next datagram's fields (journald's parsing: KEY=value, or KEY, LF, length, bytes).
    func receiveFields() throws -> [String: String] {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { throw POSIXError(.ETIMEDOUT) }
        var fields: [String: String] = [:]
        var rest = buffer[..<count]
        while let newline = rest.firstIndex(of: 0x0A) {
            let line = rest[..<newline]
            if let equals = line.firstIndex(of: 0x3D) {
                fields[String(decoding: line[..<equals], as: UTF8.self)] = String(
                    decoding: line[(equals + 1)...], as: UTF8.self)
                rest = rest[(newline + 1)...]
            } else {
                let lengthStart = newline + 1
                let length = rest[lengthStart..<(lengthStart + 8)].reversed().reduce(0) { $0 << 8 | Int($1) }
                let valueStart = lengthStart + 8
                fields[String(decoding: line, as: UTF8.self)] = String(
                    decoding: rest[valueStart..<(valueStart + length)], as: UTF8.self)
                rest = rest[(valueStart + length + 1)...]
            }
        }
        return fields
    }
}
