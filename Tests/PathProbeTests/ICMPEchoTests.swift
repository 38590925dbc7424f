import Testing
import VXLANCore

@testable import PathProbe

struct ICMPEchoTests {
    /// A 1500-byte IPv4 probe: 20 bytes of IP header, 8 of ICMP, 1472 of data (`ping -s 1472`).
    @Test func testRequestFillsThePacketSize() {
        let v4 = ICMPEcho.request(family: .ipv4, identifier: 0x1234, sequence: 7, packetSize: 1500)
        #expect(v4.count == 1480)
        #expect(Array(v4[0..<2]) == [8, 0])
        #expect(Array(v4[4..<8]) == [0x12, 0x34, 0, 7])
        let v6 = ICMPEcho.request(family: .ipv6, identifier: 1, sequence: 2, packetSize: 1500)
        #expect(v6.count == 1460)
        #expect(v6[0] == 128)
        // The kernel computes ICMPv6's checksum (it covers the IPv6 pseudo-header).
        #expect(Array(v6[2..<4]) == [0, 0])
    }

    /// A packet with a correct checksum sums to zero, odd lengths included.
    @Test func testIPv4ChecksumVerifies() {
        for size in [28, 84, 1500, 1501] {
            let message = ICMPEcho.request(family: .ipv4, identifier: 0xBEEF, sequence: 513, packetSize: size)
            #expect(ICMPEcho.checksum(message) == 0, "size \(size)")
        }
        // RFC 1071's example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2.
        #expect(ICMPEcho.checksum([0x00, 0x01, 0xF2, 0x03, 0xF4, 0xF5, 0xF6, 0xF7]) == ~UInt16(0xDDF2))
    }

    @Test func testReplyHeaderAfterTheIPv4Header() {
        var packet: [UInt8] = [0x45] + [UInt8](repeating: 0, count: 19)
        packet += [0, 0, 0, 0, 0x12, 0x34, 0x01, 0x02] + [1, 2, 3]
        let message = ICMPEcho.payload(ofIPv4: packet)
        let header = ICMPEcho.header(of: message, type: 0)
        #expect(header?.identifier == 0x1234)
        #expect(header?.sequence == 0x0102)
        // Not an echo reply, or cut short: nothing.
        #expect(ICMPEcho.header(of: message, type: 129) == nil)
        #expect(ICMPEcho.header(of: message.prefix(7), type: 0) == nil)
        #expect(ICMPEcho.payload(ofIPv4: [0x60, 0, 0]).isEmpty)
    }

    @Test func testSequenceNumbersMapBackToPeerAndProbe() {
        for peer in [0, 1, 99, ICMPEcho.maximumPeers - 1] {
            for kind in ProbeKind.allCases {
                let probe = ICMPEcho.probe(ofSequence: ICMPEcho.sequence(peer: peer, kind: kind))
                #expect(probe.peer == peer && probe.kind == kind)
            }
        }
    }

    /// Control messages as recvmsg(MSG_ERRQUEUE) returns them on x86-64 and arm64.
    func control(level: Int32, type: Int32, _ data: [UInt8]) -> [UInt8] {
        let length = UInt64(16 + data.count)
        var bytes = withUnsafeBytes(of: length.littleEndian) { Array($0) }
        bytes += withUnsafeBytes(of: level.littleEndian) { Array($0) }
        bytes += withUnsafeBytes(of: type.littleEndian) { Array($0) }
        bytes += data
        while bytes.count % 8 != 0 { bytes.append(0) }
        return bytes
    }

    func extendedError(errno: UInt32, origin: UInt8, type: UInt8, code: UInt8, info: UInt32, offender: [UInt8])
        -> [UInt8]
    {
        withUnsafeBytes(of: errno.littleEndian) { Array($0) } + [origin, type, code, 0]
            + withUnsafeBytes(of: info.littleEndian) { Array($0) } + [0, 0, 0, 0] + offender
    }

    /// sockaddr_in of 10.0.0.254.
    let router: [UInt8] = [2, 0, 0, 0, 10, 0, 0, 254] + [UInt8](repeating: 0, count: 8)

    @Test func testFragmentationNeededFromARouter() throws {
        // An unrelated control message first: the walk must skip it.
        let bytes =
            control(level: 1, type: 29, [1, 2, 3, 4])
            + control(
                level: 0, type: 11,
                extendedError(errno: 90, origin: 2, type: 3, code: 4, info: 1500, offender: router))
        let error = try #require(ExtendedError.first(in: bytes))
        #expect(error.event == .tooBig(mtu: 1500, reporter: IPAddress("10.0.0.254")))
    }

    @Test func testPacketTooBigAndLocalMessageTooLong() throws {
        var offender: [UInt8] = [10, 0, 0, 0, 0, 0, 0, 0, 0xFD, 0] + [UInt8](repeating: 0, count: 13) + [0xFE]
        offender += [0, 0, 0, 0]
        let ptb = control(
            level: 41, type: 25, extendedError(errno: 90, origin: 3, type: 2, code: 0, info: 1280, offender: offender))
        #expect(ExtendedError.first(in: ptb)?.event == .tooBig(mtu: 1280, reporter: IPAddress("fd00::fe")))
        let local = control(
            level: 0, type: 11,
            extendedError(
                errno: 90, origin: 1, type: 0, code: 0, info: 1500, offender: [0, 0] + [UInt8](repeating: 0, count: 14))
        )
        #expect(ExtendedError.first(in: local)?.event == .tooBig(mtu: 1500, reporter: nil))
    }

    @Test func testHostUnreachableNamesTheRouter() throws {
        let bytes = control(
            level: 0, type: 11, extendedError(errno: 113, origin: 2, type: 3, code: 1, info: 0, offender: router))
        #expect(ExtendedError.first(in: bytes)?.event == .unreachable("No route to host (ICMP from 10.0.0.254)"))
        // Truncated control data: no error rather than garbage.
        #expect(ExtendedError.first(in: Array(bytes.prefix(20))) == nil)
    }
}
