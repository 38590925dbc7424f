import Glibc
import HostNetwork
import KernelFakes
import Testing
import VXLANCore

/// The converger's own decisions against an in-memory kernel, without root: whose
/// devices it uses, which it refuses, how it meets another caller's create, and what it
/// undoes when a step fails. `SegmentConvergerTests` holds the same behaviours against
/// the real kernel in a namespace.
final class ConvergerBranchTests {
    let kernel = FakeKernel()
    var config = Config()
    let underlay: Link

    init() throws {
        underlay = kernel.add(Link(index: 0, name: "ul0", kind: "veth"))
        kernel.addresses["ul0"] = [try #require(IPAddress("192.0.2.1"))]
        config.underlay = try InterfaceName("ul0")
    }

    var converger: SegmentConverger { SegmentConverger(kernel: kernel) }

    func plan(_ vni: UInt32 = 5001) throws -> SegmentPlan { try config.plan(for: VNI(vni)) }

    @discardableResult
    func ensure(_ vni: UInt32 = 5001) throws -> EnsureResult { try converger.ensure(plan(vni)) }

    /// What ensure throws, or nil.
    func failure(_ vni: UInt32 = 5001) throws -> ConvergeError? {
        let plan = try plan(vni)
        do { _ = try converger.ensure(plan) } catch { return error }
        return nil
    }

    /// The vxlan device VNI 5001's multicast plan asks for on `ul0`.
    func matchingVXLAN(_ name: String = "vxlan5001", master: Int32, group: UInt32 = 0, dstport: UInt16 = 8472) throws
        -> Link
    {
        Link(
            index: 0, name: name, kind: "vxlan", master: master, group: group,
            vxlan: VXLANAttributes(
                id: 5001, group: IPAddress("239.0.19.137"), local: nil, underlay: underlay.index,
                dstport: dstport, ttl: 10, learning: true))
    }

    /// An operator's bridge, or one of ours when `ours`.
    @discardableResult
    func bridge(_ name: String = "brvx-5001", ours: Bool = false, up: Bool = true) throws -> Link {
        kernel.add(
            Link(
                index: 0, name: name, kind: "bridge", isUp: up, mtu: 1450,
                group: ours ? Ownership.interfaceGroup(for: try VNI(5001)) : 0))
    }

    // MARK: making and repairing

    @Test func testEnsureMakesTheSegmentAndSaysSoInIproute2Words() throws {
        let result = try ensure()
        #expect(
            result.changes.map(\.description) == [
                "created bridge brvx-5001",
                "created vxlan5001 (id 5001 group 239.0.19.137 dstport 8472 ttl 10 mtu 1450) in brvx-5001",
            ])
        #expect(!result.borrowed && result.mtu == 1450)
        let bridge = try #require(kernel.named("brvx-5001"))
        let vni = try VNI(5001)
        #expect(bridge.isUp && bridge.generatesNoIPv6Address && bridge.isOwned(for: vni))
        #expect(kernel.named("vxlan5001")?.master == bridge.index)
        #expect(try ensure().changes.isEmpty)
    }

    @Test func testEnsureRepairsOwnedVXLANOutsideItsBridge() throws {
        let bridge = try bridge(ours: true)
        var vxlan = try matchingVXLAN(master: 0, group: bridge.group)
        vxlan.isUp = false
        kernel.add(vxlan)
        #expect(try ensure().changes == [.repairedVXLAN("vxlan5001", bridge: "brvx-5001", mtu: 1450)])
        #expect(kernel.named("vxlan5001")?.master == bridge.index && kernel.named("vxlan5001")?.isUp == true)
    }

    @Test func testEnsureHidesTheHostOnAnOwnedBridgeAndBringsItUp() throws {
        let group = Ownership.interfaceGroup(for: try VNI(5001))
        let owned = kernel.add(
            Link(
                index: 0, name: "brvx-5001", kind: "bridge", isUp: false, mtu: 1450, group: group,
                generatesNoIPv6Address: false))
        var vxlan = try matchingVXLAN(master: owned.index, group: group)
        vxlan.mtu = 1450
        kernel.add(vxlan)
        let changes = try ensure().changes.map(\.description)
        #expect(changes == ["set addrgenmode none on brvx-5001", "repaired bridge brvx-5001 (up, mtu 1450)"])
        #expect(kernel.named("brvx-5001")?.isUp == true && kernel.named("brvx-5001")?.generatesNoIPv6Address == true)
    }

    @Test func testUnicastEnsureAddsTheMissingRemoteAndRemovesTheStaleOne() throws {
        config.mode = .unicast
        config.remotes = [try #require(IPAddress("192.0.2.2"))]
        try ensure()
        config.remotes = [try #require(IPAddress("192.0.2.3"))]
        let changes = try ensure().changes.map(\.description)
        #expect(
            changes == [
                "added fdb 00:00:00:00:00:00 dst 192.0.2.3 on vxlan5001",
                "removed fdb 00:00:00:00:00:00 dst 192.0.2.2 from vxlan5001",
            ])
        let vxlan = try #require(kernel.named("vxlan5001"))
        #expect(kernel.defaultDestinations[vxlan.index] == [try #require(IPAddress("192.0.2.3"))])
        #expect(vxlan.alias == "libvirt-vxlan remotes 192.0.2.3")
    }

    // MARK: devices that are not ours

    @Test func testEnsureUsesOperatorsMatchingSegmentAsIs() throws {
        let bridge = try bridge()
        kernel.add(try matchingVXLAN(master: bridge.index))
        let result = try ensure()
        #expect(result.borrowed && result.changes.isEmpty)
        #expect(kernel.requests.isEmpty, "an operator's devices are never modified")
        #expect(try converger.teardown(config.names(for: VNI(5001)), reading: kernel) == .left(.notOwned("brvx-5001")))
        #expect(kernel.names == ["brvx-5001", "ul0", "vxlan5001"])
    }

    @Test func testEnsureRefusesForeignBridgeWithoutVXLANAndChangesNothing() throws {
        try bridge()
        #expect(try failure() == .foreignBridge("brvx-5001"))
        #expect(kernel.requests.isEmpty)
    }

    @Test func testEnsureRefusesForeignDeviceThatDiffersNamingEveryDifference() throws {
        try bridge()
        var vxlan = try matchingVXLAN(master: 0, dstport: 4789)
        vxlan.isUp = false
        kernel.add(vxlan)
        #expect(
            try failure()
                == .foreignDevice(
                    name: "vxlan5001",
                    differences: ["dstport 4789 instead of 8472", "not a port of brvx-5001", "down"]))
        #expect(kernel.requests.isEmpty)
    }

    @Test func testEnsureRefusesForeignVXLANAndUndoesTheBridgeItMade() throws {
        kernel.add(try matchingVXLAN(master: 0, dstport: 4789))
        #expect(
            try failure()
                == .foreignDevice(
                    name: "vxlan5001", differences: ["dstport 4789 instead of 8472", "not a port of brvx-5001"]))
        #expect(kernel.names == ["ul0", "vxlan5001"])
    }

    @Test func testEnsureRefusesANameTakenByAnotherKindOfDevice() throws {
        kernel.add(Link(index: 0, name: "brvx-5001", kind: "veth"))
        #expect(try failure() == .wrongKind(name: "brvx-5001", kind: "veth", expected: "bridge"))
        #expect(kernel.requests.isEmpty)
    }

    // MARK: our own devices that changed

    @Test func testEnsureRefusesOwnedVXLANWhoseParametersChanged() throws {
        let bridge = try bridge(ours: true)
        kernel.add(try matchingVXLAN(master: bridge.index, group: bridge.group, dstport: 4789))
        #expect(
            try failure()
                == .ownedDeviceDiffers(
                    name: "vxlan5001", vni: try VNI(5001), differences: ["dstport 4789 instead of 8472"]))
        #expect(kernel.requests.isEmpty)
    }

    @Test func testEnsureRefusesOwnedVXLANThatIsAPortOfAnotherBridge() throws {
        let owned = try bridge(ours: true)
        let other = try bridge("br-other")
        kernel.add(try matchingVXLAN(master: other.index, group: owned.group))
        #expect(try failure() == .portOfOtherBridge(name: "vxlan5001", master: "br-other"))
        #expect(kernel.requests.isEmpty)
    }

    // MARK: races

    @Test func testEnsureConvergesOnTheBridgeAnotherCallerCreatedFirst() throws {
        let group = Ownership.interfaceGroup(for: try VNI(5001))
        kernel.beforeCreate = { [kernel] name in
            // Theirs is made as ours is: in our group, down, addrgenmode not yet set.
            kernel.add(
                Link(
                    index: 0, name: name, kind: "bridge", isUp: false, mtu: 1450, group: group,
                    generatesNoIPv6Address: false))
        }
        let changes = try ensure().changes
        #expect(!changes.contains(.createdBridge("brvx-5001")))
        #expect(changes.first == .hidHost(bridge: "brvx-5001"))
        #expect(kernel.names == ["brvx-5001", "ul0", "vxlan5001"])
        #expect(kernel.named("brvx-5001")?.isUp == true)
    }

    @Test func testEnsureConvergesOnTheVXLANDeviceAnotherCallerCreatedFirst() throws {
        let bridge = try bridge(ours: true)
        var theirs = try matchingVXLAN(master: bridge.index, group: bridge.group)
        theirs.mtu = 1450
        kernel.beforeCreate = { [kernel] _ in kernel.add(theirs) }
        #expect(try ensure().changes.isEmpty)
        #expect(kernel.names == ["brvx-5001", "ul0", "vxlan5001"])
    }

    /// A name the kernel says is taken while no lookup finds it (an altname, a device
    /// made and deleted again and again): a few attempts, then the kernel's error.
    @Test func testACreateThatKeepsMeetingEEXISTEndsWithTheKernelsError() throws {
        kernel.fail(.createBridge, errno: EEXIST, times: 10)
        let error = try #require(try failure()?.kernelError)
        #expect(error.errno == EEXIST)
        #expect(kernel.requests.filter { $0.hasPrefix("ip link add brvx-5001") }.count == 3)
    }

    // MARK: rollback

    @Test func testAFailedVXLANCreateDeletesTheBridgeMadeInTheSameCall() throws {
        kernel.fail(.createVXLAN, errno: EINVAL)
        let error = try #require(try failure()?.kernelError)
        #expect(error.errno == EINVAL && error.operation.hasPrefix("ip link add vxlan5001"))
        #expect(kernel.names == ["ul0"])
    }

    @Test func testARollbackThatFailsDoesNotHideTheFirstError() throws {
        kernel.fail(.createVXLAN, errno: EINVAL)
        kernel.fail(.deleteLink, errno: EBUSY)
        let error = try #require(try failure()?.kernelError)
        #expect(error.errno == EINVAL)
        #expect(kernel.requests.last == "ip link del dev brvx-5001")
    }

    @Test func testAFailureAfterTheVXLANDeviceWasMadeUndoesBothDevices() throws {
        config.mode = .unicast
        config.remotes = [try #require(IPAddress("192.0.2.2"))]
        kernel.fail(.appendDefaultDestination, errno: ENOMEM)
        let error = try #require(try failure()?.kernelError)
        #expect(error.errno == ENOMEM && error.operation.hasPrefix("bridge fdb append"))
        #expect(kernel.names == ["ul0"])
        #expect(Array(kernel.requests.suffix(2)) == ["ip link del dev vxlan5001", "ip link del dev brvx-5001"])
    }

    @Test func testAFailureOnAnExistingBridgeLeavesTheBridge() throws {
        let owned = try bridge(ours: true)
        kernel.fail(.createVXLAN, errno: EINVAL)
        #expect(try failure() != nil)
        #expect(kernel.named("brvx-5001")?.index == owned.index)
    }

    @Test func testENOBUFSOnAMulticastVXLANNamesTheIGMPLimit() throws {
        kernel.fail(.createVXLAN, errno: ENOBUFS)
        let error = try failure()
        #expect(error == .multicastLimit(name: "vxlan5001", group: try #require(IPAddress("239.0.19.137"))))
        #expect(error?.description.contains("net.ipv4.igmp_max_memberships") == true)
        #expect(kernel.names == ["ul0"])
    }

    @Test func testENOBUFSOnAUnicastVXLANIsTheKernelsOwnError() throws {
        config.mode = .unicast
        config.remotes = [try #require(IPAddress("192.0.2.2"))]
        kernel.fail(.createVXLAN, errno: ENOBUFS)
        let error = try #require(try failure()?.kernelError)
        #expect(error.errno == ENOBUFS)
    }

    // MARK: teardown

    @Test func testTeardownDeletesTheReapingGroupAndNamesWhatWent() throws {
        try ensure()
        let result = try converger.teardown(config.names(for: VNI(5001)), reading: kernel)
        #expect(result == .removed([.deletedVXLAN("vxlan5001"), .deletedBridge("brvx-5001")]))
        if case .removed(let changes) = result {
            #expect(changes.map(\.description) == ["deleted vxlan5001", "deleted bridge brvx-5001"])
        }
        #expect(kernel.requests.last == "ip link del group \(Ownership.reapingGroup)")
        #expect(kernel.names == ["ul0"])
    }
}

extension ConvergeError {
    /// The kernel's own error, when that is what this is.
    fileprivate var kernelError: KernelError? {
        guard case .kernel(let error) = self else { return nil }
        return error
    }
}
