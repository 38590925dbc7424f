import Foundation
import NamespaceTestSupport
import Testing

/// One hostile or refused call of the built hook, as libvirt would make it.
struct HostileCall: CustomTestStringConvertible, Sendable {
    var label: String
    var driver = "qemu"
    var input: [UInt8]
    var config = "underlay = \"ul0\"\nvni_ranges = [\"5000-5999\"]\n"
    /// `ip` commands run in the host namespace before the call.
    var setup: [[String]] = []
    /// 1: refused with one line on stderr containing `message`; 0: not ours, ignored.
    var status: Int32 = 1
    var message = ""

    var testDescription: String { label }
}

private func domain(bridge: String) -> [UInt8] {
    Array(domainXML("g", uuid: uuid(1), bridges: [bridge]).utf8)
}

private func network(vni: String) -> [UInt8] {
    Array(
        ("<hookData><network><name>n</name><uuid>\(uuid(9))</uuid><forward mode='bridge'/><bridge name='br-n'/>"
            + "<metadata><vx:vxlan xmlns:vx='urn:x-libvirt-vxlan:1.0' vni='\(vni)'/></metadata></network></hookData>")
            .utf8)
}

private func fixture(_ name: String) throws -> [UInt8] {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../LibvirtXMLTests/Fixtures/\(name)")
    return Array(try Data(contentsOf: url))
}

private let unreadable = "cannot read libvirt's XML"

private func hostileCalls() throws -> [HostileCall] {
    var calls = [
        HostileCall(label: "XXE, file", input: try fixture("hostile-xxe-file.xml"), message: unreadable),
        HostileCall(label: "XXE, network", input: try fixture("hostile-xxe-http.xml"), message: unreadable),
        HostileCall(label: "billion laughs", input: try fixture("hostile-billion-laughs.xml"), message: unreadable),
        HostileCall(label: "truncated", input: try fixture("hostile-truncated.xml"), message: unreadable),
        HostileCall(label: "not libvirt XML", input: try fixture("hostile-not-libvirt.xml"), message: unreadable),
        HostileCall(
            label: "5000 nested elements",
            input: Array(("<domain><name>" + String(repeating: "<a>", count: 5000) + "</name></domain>").utf8),
            message: "Excessive depth"),
        HostileCall(
            label: "50 MB document", input: Array(repeating: UInt8(ascii: " "), count: 50 << 20),
            message: "larger than 1048576 bytes"),
        HostileCall(
            label: "invalid UTF-8",
            input: Array("<domain><name>".utf8) + [0xff, 0xfe] + Array("</name></domain>".utf8),
            message: "not proper UTF-8"),
        HostileCall(
            label: "UUID as a path", input: Array(domainXML("g", uuid: "../../etc", bridges: ["brvx-5001"]).utf8),
            message: "has no valid <uuid>"),
        HostileCall(
            label: "VNI outside vni_ranges", input: domain(bridge: "brvx-7000"),
            message: "VNI 7000 is not in this host's vni_ranges (5000-5999)"),
        HostileCall(
            label: "bridge that exists and is not ours", input: domain(bridge: "brvx-5001"),
            setup: [["link", "add", "brvx-5001", "type", "bridge"]],
            message: "bridge brvx-5001 exists but was not created by libvirt-vxlan"),
        HostileCall(
            label: "conflicting vxlan5001", input: domain(bridge: "brvx-5001"),
            setup: [["link", "add", "vxlan5001", "type", "vxlan", "id", "9", "dstport", "4789", "dev", "ul0"]],
            message: "vxlan5001"),
        HostileCall(
            label: "underlay missing", input: domain(bridge: "brvx-5001"), config: "underlay = \"missing0\"\n",
            message: "missing0"),
        HostileCall(
            label: "underlay down", input: domain(bridge: "brvx-5001"), setup: [["link", "set", "ul0", "down"]],
            message: "ul0"),
        HostileCall(
            label: "config: duplicate key", input: domain(bridge: "brvx-5001"),
            config: "underlay = \"ul0\"\nunderlay = \"ul1\"\n", message: "defined twice"),
        HostileCall(
            label: "config: wrong type", input: domain(bridge: "brvx-5001"), config: "dstport = \"8472\"\n",
            message: "dstport"),
        HostileCall(
            label: "config: port out of range", input: domain(bridge: "brvx-5001"), config: "dstport = 70000\n",
            message: "dstport"),
        // A broken configuration stops only what concerns a segment of ours.
        HostileCall(
            label: "config broken, guest on another bridge", input: domain(bridge: "br0"), config: "dstport = 70000\n",
            status: 0),
        HostileCall(
            label: "config broken, another network", driver: "network",
            input: Array(
                ("<hookData><network><name>default</name><uuid>\(uuid(8))</uuid><forward mode='nat'/>"
                    + "<bridge name='virbr0'/></network></hookData>").utf8),
            config: "mode = \"broadcast\"\n", status: 0),
    ]
    // Metadata VNIs must be plain decimal and in range.
    for vni in ["0", "-1", "16777216", "0x1389", "05001", " 5001"] {
        calls.append(
            HostileCall(
                label: "metadata VNI '\(vni)'", driver: "network", input: network(vni: vni),
                message: "must be a decimal VNI, 1-16777215"))
    }
    // Bridge names that are not ours (no VNI, not plain decimal, not a valid name): the
    // hook leaves them to libvirt, which fails the start on a bridge that does not exist.
    for bridge in [
        "brvx-0", "brvx-16777216", "brvx-99999999999999", "brvx-0x1389", "brvx-05001", "brvx-5001/../x",
        "brvx-5001 ", "brvx-50\n01", "brvx-５００１", "../brvx-5001",
    ] {
        calls.append(
            HostileCall(label: "bridge name \(bridge.debugDescription)", input: domain(bridge: bridge), status: 0))
    }
    return calls
}

@Suite(.enabled(if: isRoot, "needs root to create network namespaces"))
struct HostileInputTests {
    /// Every hostile call: the expected exit status, one clear line on stderr when
    /// refused, and the host's links exactly as they were (names, flags, masters).
    @Test(arguments: try hostileCalls())
    func testHostileCallChangesNoLink(call: HostileCall) throws {
        let host = try HookHost("hostile", config: call.config)
        for command in call.setup { try host.namespace.ip(command) }
        let before = try host.namespace.ip("-o", "link", "show")
        let result = try host.namespace.exec(
            [
                builtProduct("libvirt-vxlan-hook"), "--kind", call.driver, "g",
                call.driver == "qemu" ? "prepare" : "start",
                "begin", "-",
            ],
            environment: ["LIBVIRT_VXLAN_CONFIG": host.config, "LIBVIRT_VXLAN_STATE_DIR": host.state],
            input: call.input)
        #expect(result.status == call.status, "\(result.errors)")
        if call.status == 1 {
            #expect(result.errors.hasPrefix("libvirt-vxlan: "))
            #expect(result.errors.contains(call.message), "\(result.errors)")
            #expect(result.errors.filter { $0 == "\n" }.count == 1, "not one line: \(result.errors)")
        } else {
            #expect(result.errors.isEmpty)
        }
        #expect(try host.namespace.ip("-o", "link", "show") == before)
    }

    /// Our bridge with a foreign port (something the hook did not plug, such as an
    /// operator's veth): the last guest's release must leave the segment in place.
    @Test func testReleaseNeverTearsDownOurBridgeWithAForeignPort() throws {
        let host = try HookHost("foreign-port")
        let xml = domainXML("g1", uuid: uuid(1), bridges: ["brvx-5001"])
        #expect(try host.hook("qemu", "g1", "prepare", "begin", input: xml).status == 0)
        try host.addPort("op0", to: "brvx-5001")
        #expect(try host.hook("qemu", "g1", "release", "end", input: xml).status == 0)
        host.settle()
        #expect(try host.segmentIsComplete(5001), "torn down under a foreign port")
        #expect(host.users(5001).isEmpty)
    }
}
