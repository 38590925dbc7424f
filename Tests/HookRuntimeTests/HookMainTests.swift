import Testing
import VXLANCore

@testable import HookRuntime

struct HookMainTests {
    @Test(arguments: [
        ("/etc/libvirt/hooks/qemu.d/50-libvirt-vxlan", HookCall.Driver.qemu),
        ("/etc/libvirt/hooks/network.d/50-libvirt-vxlan", .network),
        ("hooks/qemu.d/50-libvirt-vxlan", .qemu),
    ])
    func testDriverIsTheFolderTheHookIsCalledFrom(path: String, driver: HookCall.Driver) throws {
        let call = try HookMain.parse([path, "guest1", "prepare", "begin", "-"]).get()
        #expect(call == HookCall(driver: driver, object: "guest1", operation: "prepare", subOperation: "begin"))
    }

    @Test func testKindFlagOverridesTheFolder() throws {
        let call = try HookMain.parse(["/usr/libexec/x", "--kind", "network", "net1", "stopped", "end", "-"]).get()
        #expect(call.driver == .network && call.object == "net1" && call.action == .stopNetwork)
    }

    @Test func testReleaseReasonIsKept() throws {
        let call = try HookMain.parse(["qemu.d/h", "g", "release", "end", "migrated"]).get()
        #expect(call.extra == "migrated")
    }

    @Test(arguments: [
        ["/usr/bin/hook", "g", "prepare", "begin", "-"],
        ["qemu.d/h", "g", "prepare"],
        ["qemu.d/h", "--kind", "lxc", "g", "prepare", "begin", "-"],
        ["qemu.d/h", "g", "prepare", "begin", "-", "extra"],
    ])
    func testBadArgumentsAreUsageErrors(arguments: [String]) {
        guard case .failure(let usage) = HookMain.parse(arguments) else {
            Issue.record("accepted \(arguments)")
            return
        }
        #expect(!usage.message.isEmpty)
    }

    @Test func testIgnoredPhaseReturnsAtOnceWithoutReadingInput() {
        var reads = 0
        let input = { () -> [UInt8] in
            reads += 1
            return []
        }
        #expect(HookMain.run(["qemu.d/h", "g", "started", "begin", "-"], input: input) == 0)
        #expect(HookMain.run(["network.d/h", "n", "updated", "begin", "-"], input: input) == 0)
        #expect(reads == 0)
        // The same call for a phase we act on does read it (and fails on empty XML).
        #expect(HookMain.run(["qemu.d/h", "g", "prepare", "begin", "-"], input: input) == 1)
        #expect(reads == 1)
    }
}
