import Foundation
import NamespaceTestSupport
import Testing

/// A namespaced host with an underlay, a state folder and a configuration, on which the
/// built `libvirt-vxlan-hook` runs as libvirt would run it.
final class HookHost: @unchecked Sendable {  // immutable after init; only its commands run concurrently
    let namespace: NetworkNamespace
    let folder: TemporaryFolder
    let config: String
    var state: String { folder.path + "/state" }

    /// `addUnderlay: false` leaves the namespace without ul0, for a test that joins two
    /// hosts with a veth pair of its own.
    init(
        _ label: String, config text: String = "underlay = \"ul0\"\nvni_ranges = [\"5000-5999\"]\n",
        addUnderlay: Bool = true, namespace existing: NetworkNamespace? = nil
    ) throws {
        namespace = try existing ?? NetworkNamespace(label)
        if addUnderlay { try namespace.addUnderlay() }
        folder = try TemporaryFolder()
        config = try folder.write("vxlan.conf", text)
    }

    /// `hooks/DRIVER.d/50-libvirt-vxlan OBJECT OPERATION SUBOPERATION -` with `input` on stdin.
    @discardableResult
    func hook(
        _ driver: String, _ object: String, _ operation: String, _ sub: String, input: String = "",
        environment: [String: String] = [:]
    ) throws -> CommandResult {
        try namespace.exec(
            [builtProduct("libvirt-vxlan-hook"), "--kind", driver, object, operation, sub, "-"],
            environment: ["LIBVIRT_VXLAN_CONFIG": config, "LIBVIRT_VXLAN_STATE_DIR": state].merging(environment) { $1 },
            input: Array(input.utf8))
    }

    func exists(_ link: String) throws -> Bool { try namespace.link(link) != nil }

    /// `vxlanctl gc --grace 0` on this host's configuration and state.
    func collectGarbage() throws -> CommandResult {
        try namespace.exec(
            [builtProduct("vxlanctl"), "gc", "--grace", "0", "--config", config],
            environment: ["LIBVIRT_VXLAN_STATE_DIR": state])
    }

    /// Guest g1 prepared on VNI 5001, then its `release end` with a crash point after
    /// change `step`: the guest's XML and what the release did.
    func releaseOfOneGuest(crashingAfter step: Int) throws -> (xml: String, release: CommandResult) {
        let xml = domainXML("g1", uuid: uuid(1), bridges: ["brvx-5001"])
        #expect(try hook("qemu", "g1", "prepare", "begin", input: xml).status == 0)
        let release = try hook(
            "qemu", "g1", "release", "end", input: xml, environment: ["LIBVIRT_VXLAN_CRASH_AFTER": "\(step)"])
        return (xml, release)
    }

    /// A veth end as a port of `bridge`, as a guest's tap or an operator's device is.
    func addPort(_ name: String, to bridge: String) throws {
        try namespace.ip("link", "add", name, "type", "veth", "peer", "name", name + "p")
        try namespace.ip("link", "set", name, "master", bridge)
    }

    /// Waits (at most 10 s) until no teardown is pending: the hook leaves the deletion to
    /// a detached reaper, which removes a VNI's mark once its links are gone.
    func settle() {
        for _ in 0..<2_000 where !pending.isEmpty { usleep(5_000) }
    }

    /// The VNIs whose teardown is marked pending.
    var pending: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "\(state)/pending")) ?? []).sorted()
    }

    /// `guests` hook processes at once, guest N on VNI 5000 + N % 4: each prepared, then,
    /// unless it is one of `keeps`, released after a random pause. Returns what failed.
    func prepareAndRelease(guests: Int, keeping keeps: Set<Int>) -> [String] {
        let failures = Failures()
        DispatchQueue.concurrentPerform(iterations: guests) { index in
            let xml = domainXML("g\(index)", uuid: uuid(index), bridges: ["brvx-\(5000 + index % 4)"])
            do {
                let prepare = try hook("qemu", "g\(index)", "prepare", "begin", input: xml)
                if prepare.status != 0 { failures.add("prepare g\(index): \(prepare.errors)") }
                usleep(UInt32.random(in: 0...20_000))
                guard !keeps.contains(index) else { return }
                let release = try hook("qemu", "g\(index)", "release", "end", input: xml)
                if release.status != 0 { failures.add("release g\(index): \(release.errors)") }
            } catch {
                failures.add("\(error)")
            }
        }
        return failures.all
    }

    func segmentIsComplete(_ vni: Int) throws -> Bool {
        guard let bridge = try namespace.link("brvx-\(vni)"), let vxlan = try namespace.link("vxlan\(vni)") else {
            return false
        }
        let upFlags = [bridge, vxlan].allSatisfy { ($0["flags"] as? [String] ?? []).contains("UP") }
        return upFlags && vxlan["master"] as? String == "brvx-\(vni)"
    }

    func users(_ vni: Int) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "\(state)/vni/\(vni)")) ?? []).sorted()
    }
}

/// A libvirt domain with one NIC per bridge, in the shape libvirt hands to hooks.
func domainXML(_ name: String, uuid: String, bridges: [String]) -> String {
    let nics = bridges.enumerated().map { index, bridge in
        "<interface type='bridge'><mac address='52:54:00:00:\(String(format: "%02x", index)):01'/>"
            + "<source bridge='\(bridge)'/><model type='virtio'/></interface>"
    }
    return "<domain type='qemu'><name>\(name)</name><uuid>\(uuid)</uuid><memory unit='KiB'>65536</memory>"
        + "<devices>\(nics.joined())</devices></domain>"
}

/// The network hook's stdin, with a port when `owner` is given.
func hookDataXML(network: String, uuid: String, bridge: String, owner: (name: String, uuid: String)? = nil) -> String {
    var port = ""
    if let owner {
        port =
            "<networkport><uuid>11111111-2222-3333-4444-555555555555</uuid><owner><name>\(owner.name)</name>"
            + "<uuid>\(owner.uuid)</uuid></owner><mac address='52:54:00:aa:bb:cc'/><plug type='bridge' bridge='\(bridge)'/></networkport>"
    }
    return "<hookData><network><name>\(network)</name><uuid>\(uuid)</uuid><forward mode='bridge'/>"
        + "<bridge name='\(bridge)'/></network>\(port)</hookData>"
}

func uuid(_ number: Int) -> String { String(format: "00000000-0000-4000-8000-%012x", number) }

@Suite(.enabled(if: isRoot, "needs root to create network namespaces"))
struct HookProcessTests {
    @Test func testPrepareMakesTheSegmentAndTheLastReleaseRemovesIt() throws {
        let host = try HookHost("life")
        let first = domainXML("g1", uuid: uuid(1), bridges: ["brvx-5001", "virbr0"])
        let second = domainXML("g2", uuid: uuid(2), bridges: ["brvx-5001"])
        #expect(try host.hook("qemu", "g1", "prepare", "begin", input: first).status == 0)
        #expect(try host.segmentIsComplete(5001))
        #expect(host.users(5001) == ["domain-\(uuid(1))"])
        #expect(try host.hook("qemu", "g2", "prepare", "begin", input: second).status == 0)
        #expect(try host.hook("qemu", "g1", "release", "end", input: first).status == 0)
        #expect(try host.segmentIsComplete(5001), "released while g2 still uses it")
        #expect(try host.hook("qemu", "g2", "release", "end", input: second).status == 0)
        host.settle()
        #expect(try !host.exists("brvx-5001") && !host.exists("vxlan5001"))
        #expect(host.users(5001).isEmpty)
    }

    /// The release that tears down returns before the kernel has deleted anything; a
    /// prepare right behind it on the same VNI waits for the detached deletion (the VNI's
    /// lock) and then makes the segment again, instead of racing it.
    @Test func testPrepareRightAfterTheLastReleaseGetsACompleteSegment() throws {
        let host = try HookHost("relapse")
        let xml = domainXML("g1", uuid: uuid(1), bridges: ["brvx-5001"])
        for round in 1...5 {
            #expect(try host.hook("qemu", "g1", "prepare", "begin", input: xml).status == 0)
            #expect(try host.hook("qemu", "g1", "release", "end", input: xml).status == 0)
            #expect(try host.hook("qemu", "g1", "prepare", "begin", input: xml).status == 0)
            #expect(try host.segmentIsComplete(5001), "round \(round): prepare raced the teardown")
            #expect(try host.hook("qemu", "g1", "release", "end", input: xml).status == 0)
        }
        host.settle()
        #expect(try !host.exists("brvx-5001"))
    }

    @Test(arguments: [("start", "begin"), ("started", "begin"), ("stopped", "end")])
    func testPhasesWeDoNotActOnChangeNothing(operation: String, sub: String) throws {
        let host = try HookHost("noop")
        let before = try host.namespace.linkNames()
        let result = try host.hook("qemu", "g1", operation, sub, input: "not even XML")
        #expect(result.status == 0 && result.errors.isEmpty)
        #expect(try host.namespace.linkNames() == before)
    }

    @Test func testFailedPrepareIsOneLineAndLeavesNothingHalfMade() throws {
        let host = try HookHost("rollback")
        try host.namespace.ip("link", "add", "brvx-5002", "type", "bridge")
        let before = try host.namespace.linkNames()
        let result = try host.hook(
            "qemu", "g1", "prepare", "begin",
            input: domainXML("g1", uuid: uuid(1), bridges: ["brvx-5001", "brvx-5002"]))
        #expect(result.status == 1)
        #expect(
            result.errors.hasPrefix(
                "libvirt-vxlan: VNI 5002: bridge brvx-5002 exists but was not created by libvirt-vxlan"))
        #expect(result.errors.filter { $0 == "\n" }.count == 1)
        host.settle()
        #expect(try host.namespace.linkNames() == before, "VNI 5001 was not rolled back")
        #expect(host.users(5001).isEmpty)
    }

    @Test(arguments: [
        ("<domain><name>x</name>", "cannot read libvirt's XML"),
        (
            "<!DOCTYPE d [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><domain><name>&e;</name></domain>",
            "cannot read libvirt's XML"
        ),
        (
            domainXML("g", uuid: uuid(1), bridges: ["brvx-7000"]),
            "VNI 7000 is not in this host's vni_ranges (5000-5999)"
        ),
        (domainXML("g", uuid: "../../etc", bridges: ["brvx-5001"]), "has no valid <uuid>"),
    ])
    func testHostileOrRefusedDomainChangesNothing(xml: String, message: String) throws {
        let host = try HookHost("hostile")
        let before = try host.namespace.linkNames()
        let result = try host.hook("qemu", "g", "prepare", "begin", input: xml)
        #expect(result.status == 1)
        #expect(result.errors.contains(message), "\(result.errors)")
        #expect(try host.namespace.linkNames() == before)
    }

    @Test func testNetworkPhasesKeepTheSegmentWhileTheNetworkIsActive() throws {
        let host = try HookHost("network")
        let network = hookDataXML(network: "tenant-blue", uuid: uuid(100), bridge: "brvx-5003")
        let port = hookDataXML(network: "tenant-blue", uuid: uuid(100), bridge: "brvx-5003", owner: ("g1", uuid(1)))
        #expect(try host.hook("network", "tenant-blue", "start", "begin", input: network).status == 0)
        #expect(try host.segmentIsComplete(5003))
        #expect(try host.hook("network", "tenant-blue", "port-created", "begin", input: port).status == 0)
        #expect(host.users(5003) == ["domain-\(uuid(1))", "network-\(uuid(100))"])
        #expect(try host.hook("network", "tenant-blue", "port-deleted", "begin", input: port).status == 0)
        #expect(try host.segmentIsComplete(5003), "torn down under an active network")
        #expect(try host.hook("network", "tenant-blue", "stopped", "end", input: network).status == 0)
        host.settle()
        #expect(try !host.exists("brvx-5003"))
    }

    @Test func testForeignNetworkIsIgnored() throws {
        let host = try HookHost("foreign-net")
        let data = hookDataXML(network: "default", uuid: uuid(7), bridge: "virbr0")
        let result = try host.hook("network", "default", "start", "begin", input: data)
        #expect(result.status == 0 && result.errors.isEmpty)
        #expect(try !host.exists("virbr0"))
    }

    /// 32 hook processes at once, guests on 4 shared VNIs, each guest prepared then (for
    /// three in four) released in random order. No call may fail, and afterwards exactly
    /// the VNIs of the guests still running exist.
    @Test func testStormOfConcurrentHooksEndsInTheExactState() throws {
        let host = try HookHost("storm")
        let guests = 32
        let keeps = Set((0..<guests).filter { $0 % 4 == 0 && $0 / 4 % 2 == 0 })  // guests 0, 8, 16, 24 on VNI 5000
        let failures = host.prepareAndRelease(guests: guests, keeping: keeps)
        #expect(failures.isEmpty, "\(failures)")
        #expect(try host.segmentIsComplete(5000))
        #expect(host.users(5000) == keeps.sorted().map { "domain-\(uuid($0))" }.sorted())
        for vni in 5001...5003 {
            host.settle()
            #expect(try !host.exists("brvx-\(vni)") && !host.exists("vxlan\(vni)"), "VNI \(vni) left behind")
        }
    }

    /// kill -9 after each change of prepare (unicast: bridge created down, its addrgenmode,
    /// bridge up, vxlan, two fdb entries, the alias that marks the fdb converged, the user
    /// record), then one more prepare must complete the segment and the record.
    @Test(arguments: 1...8)
    func testCrashAfterAnyStepOfPrepareConvergesOnTheNextCall(step: Int) throws {
        let host = try HookHost(
            "crash", config: "underlay = \"ul0\"\nmode = \"unicast\"\nremotes = [\"192.0.2.2\", \"192.0.2.3\"]\n")
        let xml = domainXML("g1", uuid: uuid(1), bridges: ["brvx-5001"])
        let crashed = try host.hook(
            "qemu", "g1", "prepare", "begin", input: xml, environment: ["LIBVIRT_VXLAN_CRASH_AFTER": "\(step)"])
        #expect(crashed.killed, "step \(step): the crash point was not reached")
        #expect(try host.hook("qemu", "g1", "prepare", "begin", input: xml).status == 0)
        #expect(try host.segmentIsComplete(5001))
        let fdb = try run("bridge", "-n", host.namespace.name, "fdb", "show", "dev", "vxlan5001")
        #expect(fdb.contains("dst 192.0.2.2") && fdb.contains("dst 192.0.2.3"))
        #expect(host.users(5001) == ["domain-\(uuid(1))"])
    }

    /// Release, step 1: the user record is removed, and the hook is killed before it
    /// deletes anything. The segment is left complete with no user; libvirt ignores a
    /// failed release. `vxlanctl gc` (or the next release on the VNI) removes it.
    @Test func testCrashAfterReleaseForgotTheUserLeavesASegmentGCRemoves() throws {
        let host = try HookHost("crash-forgot")
        #expect(try host.releaseOfOneGuest(crashingAfter: 1).release.killed)
        #expect(try host.segmentIsComplete(5001) && host.users(5001).isEmpty)
        let gc = try host.collectGarbage()
        #expect(gc.status == 0, "\(gc.errors)")
        #expect(try !host.exists("brvx-5001") && !host.exists("vxlan5001"))
    }

    /// kill -9 after each change of a release and of the reaper it starts (forgetting the
    /// user, the pending mark, staging the vxlan device and the bridge, the group delete,
    /// removing the mark): the release libvirt waited for has exited 0 from step 3 on, and
    /// the next prepare gets a complete segment, whose release then leaves nothing.
    @Test(arguments: 1...6)
    func testCrashAfterAnyStepOfReleaseOrReaperConverges(step: Int) throws {
        let host = try HookHost("crash-release")
        let (xml, released) = try host.releaseOfOneGuest(crashingAfter: step)
        #expect(released.killed == (step <= 2), "step \(step)")
        host.settle()
        #expect(try host.hook("qemu", "g1", "prepare", "begin", input: xml).status == 0)
        #expect(try host.segmentIsComplete(5001), "step \(step)")
        #expect(host.users(5001) == ["domain-\(uuid(1))"] && host.pending.isEmpty)
        #expect(try host.hook("qemu", "g1", "release", "end", input: xml).status == 0)
        host.settle()
        #expect(try !host.exists("brvx-5001") && !host.exists("vxlan5001"), "step \(step)")
        #expect(host.pending.isEmpty)
    }

    /// /run/libvirt-vxlan lost while a guest runs: the guest's tap on the bridge still
    /// protects the segment, and the next prepare on the VNI works.
    @Test func testLostStateNeverTearsDownABridgeWithAGuestTap() throws {
        let host = try HookHost("lost-state")
        let g1 = domainXML("g1", uuid: uuid(1), bridges: ["brvx-5001"])
        #expect(try host.hook("qemu", "g1", "prepare", "begin", input: g1).status == 0)
        try host.addPort("vnet0", to: "brvx-5001")
        try FileManager.default.removeItem(atPath: host.state)
        let g2 = domainXML("g2", uuid: uuid(2), bridges: ["brvx-5001"])
        #expect(try host.hook("qemu", "g2", "prepare", "begin", input: g2).status == 0)
        #expect(try host.hook("qemu", "g2", "release", "end", input: g2).status == 0)
        #expect(try host.segmentIsComplete(5001), "torn down under a running guest's tap")
    }
}

/// Failures collected from concurrent workers.
final class Failures: @unchecked Sendable {
    private let lock = NSLock()
    private var messages: [String] = []

    func add(_ message: String) { lock.withLock { messages.append(message) } }
    var all: [String] { lock.withLock { messages } }
}

@Suite(.enabled(if: isRoot, "needs root to create network namespaces"))
struct GarbageCollectionTests {
    /// A guest that vanished without release (its tap gone, its record left): gc forgets
    /// it and removes the segment; a guest whose tap is still on its bridge is kept.
    @Test func testGCForgetsVanishedGuestsAndKeepsRunningOnes() throws {
        let host = try HookHost("gc")
        let vanished = domainXML("gone", uuid: uuid(1), bridges: ["brvx-5001"])
        let running = domainXML("alive", uuid: uuid(2), bridges: ["brvx-5002"])
        #expect(try host.hook("qemu", "gone", "prepare", "begin", input: vanished).status == 0)
        #expect(try host.hook("qemu", "alive", "prepare", "begin", input: running).status == 0)
        // libvirt names the tap's MAC after the guest's: fe + the guest MAC's last five bytes.
        try host.namespace.ip(
            "link", "add", "vnet0", "address", "fe:54:00:00:00:01", "type", "veth", "peer", "name", "p0")
        try host.namespace.ip("link", "set", "vnet0", "master", "brvx-5002")

        let gc = try host.collectGarbage()
        #expect(gc.status == 0, "\(gc.errors)")
        #expect(gc.errors.contains("forgot gone (domain-\(uuid(1)))"))
        #expect(try !host.exists("brvx-5001"))
        #expect(try host.segmentIsComplete(5002))
        #expect(host.users(5002) == ["domain-\(uuid(2))"])
    }
}
