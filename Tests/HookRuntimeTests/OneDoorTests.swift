import Foundation
import NamespaceTestSupport
import Testing

/// vxlanctl's ensure and teardown go through the lifecycle the hook uses: the VNI's lock,
/// the user records, the pending teardowns and the plan records.
@Suite(.enabled(if: isRoot, "needs root to create network namespaces"))
struct OneDoorTests {
    private func vxlanctl(_ host: HookHost, _ arguments: String...) throws -> CommandResult {
        try host.namespace.exec(
            [builtProduct("vxlanctl")] + arguments + ["--config", host.config],
            environment: ["LIBVIRT_VXLAN_STATE_DIR": host.state])
    }

    @Test func testTeardownOfAnActiveNetworksSegmentIsRefusedWithTheNetworksName() throws {
        let host = try HookHost("door-net")
        let network = hookDataXML(network: "tenant-blue", uuid: uuid(100), bridge: "brvx-5003")
        #expect(try host.hook("network", "tenant-blue", "start", "begin", input: network).status == 0)

        let refused = try vxlanctl(host, "teardown", "5003")
        #expect(refused.status == 3, "\(refused.output)\(refused.errors)")
        #expect(refused.errors.contains("VNI 5003: used by network tenant-blue; left in place"), "\(refused.errors)")
        #expect(try host.segmentIsComplete(5003))
        #expect(host.users(5003) == ["network-\(uuid(100))"])

        let forced = try vxlanctl(host, "teardown", "5003", "--force")
        #expect(forced.status == 0, "\(forced.errors)")
        #expect(
            forced.output
                == "VNI 5003: forgot network tenant-blue (--force)\nVNI 5003: deleted vxlan5003, deleted bridge brvx-5003\n"
        )
        #expect(try !host.exists("brvx-5003") && !host.exists("vxlan5003"))
        #expect(host.users(5003).isEmpty)
    }

    @Test func testAnEnsuredSegmentIsRecordedAndOutlivesItsLastGuest() throws {
        let host = try HookHost("door-ensure")
        let ensured = try vxlanctl(host, "ensure", "5001")
        #expect(ensured.status == 0, "\(ensured.errors)")
        #expect(ensured.output.hasSuffix("VNI 5001: brvx-5001 + vxlan5001 ready, mtu 1450\n"))
        #expect(host.users(5001) == ["operator-00000000-0000-0000-0000-000000000000"])
        #expect(FileManager.default.fileExists(atPath: host.state + "/plans/5001"), "no plan for the watcher")

        let xml = domainXML("g1", uuid: uuid(1), bridges: ["brvx-5001"])
        #expect(try host.hook("qemu", "g1", "prepare", "begin", input: xml).status == 0)
        #expect(try host.hook("qemu", "g1", "release", "end", input: xml).status == 0)
        host.settle()
        #expect(try host.segmentIsComplete(5001), "the operator's segment went with the last guest")

        let json = try vxlanctl(host, "teardown", "5001", "--json")
        #expect(json.status == 0, "\(json.errors)")
        let report = try #require(
            try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any], "\(json.output)")
        #expect(report["result"] as? String == "removed")
        #expect(report["deleted"] as? [String] == ["vxlan5001", "brvx-5001"])
        #expect(try !host.exists("brvx-5001"))

        let again = try vxlanctl(host, "teardown", "5001")
        #expect(again.status == 0 && again.output == "VNI 5001: nothing to remove\n", "\(again.output)")
    }

    @Test func testTeardownKeepsASegmentWithAForeignPort() throws {
        let host = try HookHost("door-port")
        #expect(try vxlanctl(host, "ensure", "5002").status == 0)
        try host.addPort("vnet9", to: "brvx-5002")
        let kept = try vxlanctl(host, "teardown", "5002", "--force")
        #expect(kept.status == 3)
        #expect(kept.errors.contains("VNI 5002: kept, brvx-5002 still has ports vnet9"), "\(kept.errors)")
        #expect(try host.segmentIsComplete(5002))
    }
}
