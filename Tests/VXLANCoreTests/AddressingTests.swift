import Testing

@testable import VXLANCore

struct IPAddressTests {
    @Test(arguments: [
        ("192.0.2.1", "192.0.2.1"), ("0.0.0.0", "0.0.0.0"), ("255.255.255.255", "255.255.255.255"),
        ("2001:db8::1", "2001:db8::1"), ("::", "::"), ("::1", "::1"), ("FE80::1:2", "fe80::1:2"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"), ("2001:db8:1:1:1:1:1:1", "2001:db8:1:1:1:1:1:1"),
        ("ff05:0:0:0:0:0:0:1389", "ff05::1389"),
    ])
    func testAddressesRoundTripInCanonicalForm(text: String, canonical: String) throws {
        #expect(try #require(IPAddress(text)).description == canonical)
    }

    @Test(arguments: [
        "256.1.1.1", "1.2.3", "01.2.3.4", "1.2.3.4.5", "1::2::3", "12345::", "::g", "", "1.2.3.-1", ":::",
    ])
    func testMalformedAddressesAreRejected(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test func testBytesAreNetworkOrder() throws {
        #expect(try #require(IPAddress("192.0.2.1")).bytes == [192, 0, 2, 1])
        #expect(IPAddress(bytes: [239, 0, 19, 137]) == IPAddress("239.0.19.137"))
        #expect(try #require(IPAddress("2001:db8::1")).bytes.count == 16)
    }

    @Test func testMulticastIsRecognisedInBothFamilies() {
        #expect(IPAddress("239.1.2.3")?.isMulticast == true)
        #expect(IPAddress("192.0.2.1")?.isMulticast == false)
        #expect(IPAddress("ff05::1")?.isMulticast == true)
        #expect(IPAddress("2001:db8::1")?.isMulticast == false)
    }
}

struct MulticastGroupTests {
    /// CloudStack's modifyvxlan.sh: 239.$(( (vni >> 16) % 256 )).$(( (vni >> 8) % 256 )).$(( vni % 256 ))
    @Test(
        arguments: [
            (1, "239.0.0.1"), (255, "239.0.0.255"), (256, "239.0.1.0"), (5001, "239.0.19.137"),
            (65535, "239.0.255.255"), (65536, "239.1.0.0"), (16_777_215, "239.255.255.255"),
        ] as [(UInt32, String)])
    func testCloudStackGroupDerivation(vni: UInt32, group: String) throws {
        #expect(MulticastGroupPolicy.cloudstack.group(for: try VNI(vni)).description == group)
    }

    @Test(
        arguments: [
            ("239.1.0.0/16", 5001, "239.1.19.137"), ("239.1.0.0/16", 65537, "239.1.0.1"),
            ("239.1.2.0/24", 5001, "239.1.2.137"), ("ff05::/104", 5001, "ff05::1389"),
            ("ff05::/16", 16_777_215, "ff05::ff:ffff"),
        ] as [(String, UInt32, String)])
    func testGroupFromANetworkUsesTheVNIsLowBits(network: String, vni: UInt32, group: String) throws {
        let policy = MulticastGroupPolicy.network(try #require(IPNetwork(network)))
        #expect(policy.group(for: try VNI(vni)).description == group)
    }
}

struct MTUTests {
    @Test(
        arguments: [
            (MTUPolicy.auto, 1500, IPAddress.Family.ipv4, 1450), (.auto, 9000, .ipv4, 8950), (.auto, 1550, .ipv4, 1500),
            (.auto, 1500, .ipv6, 1430), (.fixed(1400), 9000, .ipv4, 1400),
        ] as [(MTUPolicy, Int, IPAddress.Family, Int)])
    func testSegmentMTU(policy: MTUPolicy, underlay: Int, family: IPAddress.Family, expected: Int) {
        #expect(policy.mtu(underlayMTU: underlay, family: family) == expected)
    }

    @Test func testAutoWithoutUnderlayLeavesTheKernelDefault() {
        #expect(MTUPolicy.auto.mtu(underlayMTU: nil, family: .ipv4) == nil)
    }
}
