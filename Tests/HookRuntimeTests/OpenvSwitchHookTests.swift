import Foundation
import NamespaceTestSupport
import Testing

/// A libvirt domain whose NICs sit on `bridges`, each with `<virtualport
/// type='openvswitch'/>` where `openvswitch` says so (all by default).
func ovsDomainXML(_ name: String, uuid: String, bridges: [String], openvswitch: [Bool]? = nil) -> String {
    let nics = bridges.enumerated().map { index, bridge in
        let port = (openvswitch?[index] ?? true) ? "<virtualport type='openvswitch'/>" : ""
        return "<interface type='bridge'><mac address='52:54:00:00:\(String(format: "%02x", index)):01'/>"
            + "<source bridge='\(bridge)'/>\(port)<model type='virtio'/></interface>"
    }
    return "<domain type='qemu'><name>\(name)</name><uuid>\(uuid)</uuid><memory unit='KiB'>65536</memory>"
        + "<devices>\(nics.joined())</devices></domain>"
}

/// A namespaced host on Open vSwitch (a private ovsdb-server and ovs-vswitchd, userspace
/// datapath) on which the built hook runs as libvirt would run it, finding the database
/// through OVS_RUNDIR as Open vSwitch's own tools do.
final class OVSHookHost: @unchecked Sendable {
    let host: HookHost
    let ovs: PrivateOpenvSwitch
    var namespace: NetworkNamespace { host.namespace }

    init(_ label: String, keys: String = "", namespace: NetworkNamespace? = nil) throws {
        let text =
            "underlay = \"ul0\"\nvni_ranges = [\"5000-6999\"]\n\(keys)[openvswitch]\ndatapath_type = \"netdev\"\ntimeout = 1\n"
        host = try HookHost(label, config: text, addUnderlay: namespace == nil, namespace: namespace)
        ovs = try PrivateOpenvSwitch(in: host.namespace)
    }

    @discardableResult
    func hook(_ driver: String, _ object: String, _ operation: String, _ sub: String, input: String) throws
        -> CommandResult
    {
        try host.hook(driver, object, operation, sub, input: input, environment: ovs.environment)
    }

    func ports(_ bridge: String = "brvx-6001") throws -> [String] {
        try ovs.vsctl("list-ports", bridge).split(separator: "\n").map(String.init).sorted()
    }

    /// `vxlanctl ARGS` on this host's configuration, state and Open vSwitch.
    func vxlanctl(_ arguments: String...) throws -> CommandResult {
        try namespace.exec(
            [builtProduct("vxlanctl")] + arguments + ["--config", host.config],
            environment: ["LIBVIRT_VXLAN_STATE_DIR": host.state].merging(ovs.environment) { $1 })
    }

    func bridgeExists(_ bridge: String = "brvx-6001") -> Bool { (try? ovs.vsctl("br-exists", bridge)) != nil }

    /// libvirt at the guest's start (`PrivateOpenvSwitch.plugGuest`).
    func plug(_ guest: NetworkNamespace, tap: String, address: String, bridge: String = "brvx-6001") throws {
        try ovs.plugGuest(guest, tap: tap, address: address, bridge: bridge)
    }

    /// libvirt at the guest's stop: `ovs-vsctl --if-exists del-port TAP`, the tap gone.
    func unplug(tap: String) throws {
        try ovs.vsctl("--if-exists", "del-port", tap)
        _ = try? namespace.ip("link", "del", tap)
    }
}

@Suite(
    .enabled(if: isRoot, "needs root to create network namespaces"),
    .enabled(if: PrivateOpenvSwitch.isInstalled, "needs openvswitch-switch"))
struct OpenvSwitchHookTests {
    @Test func anOVSGuestGetsAnOVSSegmentThatGoesAfterItsLastRelease() throws {
        let host = try OVSHookHost("ovsh")
        let g1 = ovsDomainXML("g1", uuid: uuid(1), bridges: ["brvx-6001"])
        let g2 = ovsDomainXML("g2", uuid: uuid(2), bridges: ["brvx-6001"])
        let prepare = try host.hook("qemu", "g1", "prepare", "begin", input: g1)
        #expect(prepare.status == 0, "\(prepare.errors)")
        #expect(try host.ports() == ["vxlan6001"])
        #expect(try host.ovs.vsctl("br-get-external-id", "brvx-6001", "libvirt-vxlan-vni") == "6001\n")
        #expect(try host.namespace.link("brvx-6001")?["mtu"] as? Int == 1450)
        let guest1 = try NetworkNamespace("g1")
        try host.plug(guest1, tap: "vnet0", address: "198.51.100.1/24")
        #expect(try host.hook("qemu", "g2", "prepare", "begin", input: g2).status == 0)
        #expect(try host.ports() == ["vnet0", "vxlan6001"])
        // vxlanctl status: the kind of each segment, in text and JSON.
        let table = try host.vxlanctl("status").output
        let row = table.split(separator: "\n").first { $0.hasPrefix("6001 ") }.map(String.init) ?? table
        #expect(row.contains("brvx-6001  vxlan6001  openvswitch  ready") && row.hasSuffix("vnet0"), "\(table)")
        let json = try host.vxlanctl("status", "6001", "--json").output
        #expect(json.contains("\"kind\" : \"openvswitch\"") || json.contains("\"kind\":\"openvswitch\""), "\(json)")
        #expect(json.contains("netdev"), "\(json)")

        // g1 stops; g2 still recorded: kept.
        try host.unplug(tap: "vnet0")
        #expect(try host.hook("qemu", "g1", "release", "end", input: g1).status == 0)
        host.host.settle()
        #expect(host.bridgeExists())
        // g2 never got its tap (a failed start) and is released: the last user.
        #expect(try host.hook("qemu", "g2", "release", "end", input: g2).status == 0)
        host.host.settle()
        #expect(!host.bridgeExists(), "the OVS bridge is gone after the last release")
        #expect(try !host.host.exists("vxlan6001") && !host.host.exists("brvx-6001"))
        #expect(host.host.users(6001).isEmpty)
    }

    @Test func checkSaysWhetherOpenvSwitchIsReady() throws {
        // bridge_type: checked even when ovsdb-server has gone with its socket.
        let host = try OVSHookHost("ovsc", keys: "bridge_type = \"openvswitch\"\n")
        func lines() throws -> [String] {
            let check = try host.vxlanctl("check")
            let found = check.output.split(separator: "\n").map(String.init).filter { $0.contains("openvswitch:") }
            if found.isEmpty { Issue.record("vxlanctl check: \(check.output)\(check.errors)") }
            return found
        }
        let ready = try lines()
        #expect(
            ready == [
                "PASS  openvswitch: ovsdb-server answers at unix:\(host.ovs.socket)",
                "PASS  openvswitch: ovs-vswitchd runs and has applied configuration 0",
                "PASS  openvswitch: datapath_type \"netdev\" is available",
            ], "\(ready)")
        host.ovs.stopDatabase()
        let stopped = try lines()
        #expect(
            stopped.count == 1 && stopped[0].hasPrefix("FAIL  openvswitch: ovsdb-server is not running"), "\(stopped)")
    }

    @Test func gcRemovesTheOVSSegmentOfAGuestThatVanishedAndKeepsOneInUse() throws {
        let host = try OVSHookHost("ovsg")
        let g1 = ovsDomainXML("g1", uuid: uuid(1), bridges: ["brvx-6001"])
        let g2 = ovsDomainXML("g2", uuid: uuid(2), bridges: ["brvx-6002"])
        #expect(try host.hook("qemu", "g1", "prepare", "begin", input: g1).status == 0)
        #expect(try host.hook("qemu", "g2", "prepare", "begin", input: g2).status == 0)
        // g2's tap (named after its MAC, as libvirt's are: fe:54:...) is on its bridge; g1 has none.
        try host.namespace.ip(
            "link", "add", "vnet7", "address", "fe:54:00:00:00:01", "type", "veth", "peer", "name", "vnet7p")
        try host.ovs.vsctl("add-port", "brvx-6002", "vnet7")
        let gc = try host.vxlanctl("gc", "--grace", "0")
        #expect(gc.status == 0, "\(gc.errors)")
        #expect(!host.bridgeExists("brvx-6001"), "\(gc.output)\(gc.errors)")
        #expect(try !host.host.exists("vxlan6001"))
        #expect(host.bridgeExists("brvx-6002"))
        #expect(try host.ports("brvx-6002") == ["vnet7", "vxlan6002"])
    }

    /// An incoming migration or a restore: `migrate begin` / `restore begin` check and make
    /// nothing (libvirt may still refuse the guest, and then calls no release); the
    /// `prepare begin` that follows makes the OVS segment; the source's `release end
    /// migrated` removes its own.
    @Test func migrationAndRestoreCheckFirstAndMakeAtPrepare() throws {
        let host = try OVSHookHost("ovsm")
        let g1 = ovsDomainXML("g1", uuid: uuid(1), bridges: ["brvx-6001"])
        for (operation, sub) in [("migrate", "begin"), ("restore", "begin")] {
            let check = try host.hook("qemu", "g1", operation, sub, input: g1)
            #expect(check.status == 0 && check.output.isEmpty, "\(operation): \(check.errors)")
            #expect(!host.bridgeExists())
            #expect(try !host.host.exists("vxlan6001"))
        }
        let mixed = ovsDomainXML("g2", uuid: uuid(2), bridges: ["brvx-6002", "brvx-6002"], openvswitch: [true, false])
        #expect(try host.hook("qemu", "g2", "migrate", "begin", input: mixed).status == 1)
        #expect(try host.hook("qemu", "g1", "prepare", "begin", input: g1).status == 0)
        #expect(try host.ports() == ["vxlan6001"])
        let release = try host.host.hook("qemu", "g1", "release", "end", input: g1, environment: host.ovs.environment)
        #expect(release.status == 0)
        host.host.settle()
        #expect(!host.bridgeExists())
    }

    @Test func gcRemovesSeveralOVSSegmentsInOneBatch() throws {
        let host = try OVSHookHost("ovsb")
        for vni in 6011...6013 {
            let guest = ovsDomainXML("g\(vni)", uuid: uuid(vni), bridges: ["brvx-\(vni)"])
            #expect(try host.hook("qemu", "g\(vni)", "prepare", "begin", input: guest).status == 0)
        }
        func configuration() throws -> Int? {
            Int(
                try host.ovs.vsctl("get", "Open_vSwitch", ".", "next_cfg").trimmingCharacters(
                    in: .whitespacesAndNewlines))
        }
        let before = try configuration()
        let gc = try host.vxlanctl("gc", "--grace", "0")
        #expect(gc.status == 0, "\(gc.errors)")
        // One transaction for the three bridges: one reconfiguration of ovs-vswitchd.
        #expect(try configuration() == before.map { $0 + 1 })
        for vni in 6011...6013 {
            #expect(!host.bridgeExists("brvx-\(vni)"), "\(gc.output)\(gc.errors)")
            #expect(try !host.host.exists("vxlan\(vni)"))
        }
        #expect(try host.ovs.vsctl("list-br") == "")
    }

    /// CloudStack calls modifyvxlan.sh only from its native (Linux bridge) driver, whose
    /// NICs carry no virtualport: the entry makes a Linux bridge whatever bridge_type says.
    @Test func theCloudStackEntryMakesALinuxBridgeOnAnOpenvSwitchHost() throws {
        let host = try OVSHookHost("ovsa", keys: "bridge_type = \"openvswitch\"\n")
        let add = try host.vxlanctl("modifyvxlan", "-o", "add", "-v", "6007", "-p", "ul0", "-b", "brvx-6007")
        #expect(add.status == 0, "\(add.output)\(add.errors)")
        #expect(
            try host.namespace.link("brvx-6007")?["linkinfo"].flatMap {
                ($0 as? [String: Any])?["info_kind"] as? String
            } == "bridge")
        #expect(!host.bridgeExists("brvx-6007"))
    }

    @Test func ensureAndTeardownFollowBridgeType() throws {
        let host = try OVSHookHost("ovse", keys: "bridge_type = \"openvswitch\"\n")
        let ensure = try host.vxlanctl("ensure", "6005")
        #expect(ensure.status == 0, "\(ensure.errors)")
        #expect(ensure.output.contains("VNI 6005: Open vSwitch bridge brvx-6005 + vxlan6005 ready"), "\(ensure.output)")
        #expect(try host.ports("brvx-6005") == ["vxlan6005"])
        #expect(try host.vxlanctl("ensure", "6005").status == 0)
        let teardown = try host.vxlanctl("teardown", "6005")
        #expect(teardown.status == 0, "\(teardown.errors)")
        #expect(!host.bridgeExists("brvx-6005"))
        #expect(try !host.host.exists("vxlan6005"))
    }

    @Test func aForeignOVSBridgeOfOurNameIsLeftAlone() throws {
        let host = try OVSHookHost("ovsh")
        try host.ovs.vsctl("add-br", "brvx-6001", "--", "set", "Bridge", "brvx-6001", "datapath_type=netdev")
        let g1 = ovsDomainXML("g1", uuid: uuid(1), bridges: ["brvx-6001"])
        let prepare = try host.hook("qemu", "g1", "prepare", "begin", input: g1)
        #expect(prepare.status == 1)
        #expect(prepare.errors.hasPrefix("libvirt-vxlan: VNI 6001: bridge brvx-6001 exists but was not created"))
        #expect(prepare.errors.filter { $0 == "\n" }.count == 1)
        #expect(try !host.host.exists("vxlan6001"))
        #expect(try host.hook("qemu", "g1", "release", "end", input: g1).status == 0)
        host.host.settle()
        #expect(host.bridgeExists(), "a bridge without our mark is never deleted")
        #expect(try host.ports().isEmpty)
    }

    @Test func aStoppedOVSDBServerFailsThePrepareInOneLineAndMakesNothing() throws {
        let host = try OVSHookHost("ovsh")
        host.ovs.stopDatabase()
        let before = try host.namespace.linkNames()
        let prepare = try host.hook(
            "qemu", "g1", "prepare", "begin", input: ovsDomainXML("g1", uuid: uuid(1), bridges: ["brvx-6001"]))
        #expect(prepare.status == 1)
        #expect(
            prepare.errors.hasPrefix(
                "libvirt-vxlan: VNI 6001: ovsdb-server is not running: cannot connect to unix:\(host.ovs.socket)"))
        #expect(prepare.errors.filter { $0 == "\n" }.count == 1)
        #expect(try host.namespace.linkNames() == before)
        #expect(host.host.users(6001).isEmpty)
    }

    @Test func aBridgeOfTheOtherKindOrAGuestWantingBothIsRefusedAndNothingChanges() throws {
        let host = try OVSHookHost("ovsh")
        // A Linux-bridge guest made brvx-6001; an OVS guest on the same VNI is refused.
        let plain = ovsDomainXML("plain", uuid: uuid(1), bridges: ["brvx-6001"], openvswitch: [false])
        #expect(try host.hook("qemu", "plain", "prepare", "begin", input: plain).status == 0)
        #expect(try host.namespace.link("brvx-6001")?["linkinfo"].map { _ in true } == true)
        let ovsGuest = ovsDomainXML("ovs", uuid: uuid(2), bridges: ["brvx-6001"])
        let refused = try host.hook("qemu", "ovs", "prepare", "begin", input: ovsGuest)
        #expect(refused.status == 1)
        #expect(
            refused.errors.hasPrefix(
                "libvirt-vxlan: VNI 6001: brvx-6001 is a Linux bridge, but this guest's NIC has <virtualport"))
        #expect(!host.bridgeExists())
        #expect(host.host.users(6001) == ["domain-\(uuid(1))"])

        // One guest, two NICs on VNI 6002, one plugged each way: refused before anything.
        let both = ovsDomainXML(
            "both", uuid: uuid(3), bridges: ["brvx-6002", "brvx-6002"], openvswitch: [true, false])
        let mixed = try host.hook("qemu", "both", "prepare", "begin", input: both)
        #expect(mixed.status == 1)
        #expect(
            mixed.errors.contains(
                "VNI 6002: this guest has a NIC with <virtualport type='openvswitch'/> and one without"))
        #expect(try !host.host.exists("brvx-6002") && !host.host.exists("vxlan6002") && !host.bridgeExists("brvx-6002"))
    }
}

/// An Open vSwitch host and a Linux-bridge host, both run by the hook, on one VNI: their
/// guests ping across in multicast and unicast mode.
@Suite(
    .enabled(if: isRoot, "needs root to create network namespaces"),
    .enabled(if: PrivateOpenvSwitch.isInstalled, "needs openvswitch-switch"))
struct OpenvSwitchTwoHostTests {
    @Test(arguments: ["multicast", "unicast"])
    func guestsOfAnOVSHostAndALinuxBridgeHostPingAcross(mode: String) throws {
        let a = try NetworkNamespace("ovsA")
        let b = try NetworkNamespace("brB")
        try NetworkNamespace.joinUnderlay(a, b)
        func keys(_ peer: String) -> String {
            "mode = \"\(mode)\"\n" + (mode == "unicast" ? "remotes = [\"\(peer)\"]\n" : "")
        }
        let ovsHost = try OVSHookHost("ovsA", keys: keys("192.0.2.2"), namespace: a)
        let linuxHost = try HookHost(
            "brB", config: "underlay = \"ul0\"\n\(keys("192.0.2.1"))", addUnderlay: false, namespace: b)
        let ovsGuest = ovsDomainXML("g1", uuid: uuid(1), bridges: ["brvx-6001"])
        let linuxGuest = domainXML("g2", uuid: uuid(2), bridges: ["brvx-6001"])
        #expect(try ovsHost.hook("qemu", "g1", "prepare", "begin", input: ovsGuest).status == 0)
        #expect(try linuxHost.hook("qemu", "g2", "prepare", "begin", input: linuxGuest).status == 0)

        let guestA = try NetworkNamespace("guestA")
        let guestB = try NetworkNamespace("guestB")
        try ovsHost.plug(guestA, tap: "vnet0", address: "198.51.100.1/24")
        try guestB.plugGuest(into: b, tap: "vnet0", bridge: "brvx-6001", address: "198.51.100.2/24")
        #expect(try guestA.pings("198.51.100.2"), "no ping from the OVS host's guest across the \(mode) overlay")
        #expect(try guestB.pings("198.51.100.1"))

        try ovsHost.unplug(tap: "vnet0")
        #expect(try ovsHost.hook("qemu", "g1", "release", "end", input: ovsGuest).status == 0)
        ovsHost.host.settle()
        #expect(!ovsHost.bridgeExists())
        #expect(try a.link("vxlan6001") == nil)
    }
}

/// `vxlanctl watch` on an Open vSwitch host: an OVS segment in use, deleted or cut by hand,
/// comes back as the hook made it.
@Suite(
    .enabled(if: isRoot, "needs root to create network namespaces"),
    .enabled(if: PrivateOpenvSwitch.isInstalled, "needs openvswitch-switch"), .serialized)
struct OpenvSwitchWatcherTests {
    @Test func theWatcherRebuildsAnOVSBridgeDeletedWithDelBrAndAVXLANDeviceDeleted() throws {
        let host = try OVSHookHost("ovsw")
        let g1 = ovsDomainXML("g1", uuid: uuid(1), bridges: ["brvx-6001"])
        try #require(try host.hook("qemu", "g1", "prepare", "begin", input: g1).status == 0)
        let watcher = try Watcher(on: host.host, environment: host.ovs.environment)

        try host.ovs.vsctl("del-br", "brvx-6001")
        #expect(
            eventually { host.bridgeExists() && (try? host.ports()) == ["vxlan6001"] },
            "not repaired after del-br: \(watcher.output)")
        #expect(watcher.output.contains("created Open vSwitch bridge brvx-6001"), "\(watcher.output)")

        try host.namespace.ip("link", "del", "vxlan6001")
        #expect(
            try eventually { try host.host.exists("vxlan6001") && (try? host.ports()) == ["vxlan6001"] },
            "not repaired after ip link del vxlan6001: \(watcher.output)")

        // ovs-vswitchd restarted: the segment is as it was, its device up and without a
        // link-local address (the userspace datapath keeps its taps across a restart; a
        // device made again would be repaired as after del-br).
        host.ovs.stopSwitch()
        try host.ovs.startSwitch()
        #expect(
            try eventually {
                let bridge = try host.namespace.link("brvx-6001")
                let flags = bridge?["flags"] as? [String] ?? []
                return flags.contains("UP") && (bridge?["addr_info"] as? [Any] ?? []).isEmpty
            }, "not repaired after ovs-vswitchd restarted: \(watcher.output)")
        #expect(watcher.stop())
    }
}
