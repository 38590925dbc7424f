// Shared by every fuzz target (compiled into each). A crash of the target is a finding:
// either the code under test trapped, or one of the `require`s below saw the hook break
// a promise it makes (one-line messages, plans that hold together, round trips).
import LibvirtXML
import VXLANCore

/// Traps with a message. `precondition` would lose the message under -O, and the crash
/// report should say which promise was broken.
func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("fuzz invariant: \(message())") }
}

/// Every refusal reaches libvirt's user (stderr at `virsh start`) or the journal as one
/// line: no control character may come through from the input.
func checkMessage(_ error: some Error & CustomStringConvertible) {
    let message = error.description
    require(
        !message.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F },
        "error message is not one printable line: \(message.debugDescription)")
}

/// The configurations the hook runs the parsed XML against: the defaults (no underlay,
/// so every multicast plan is refused), and complete ones in each mode, so that the
/// fuzzer also reaches the plan code past the VNI and name checks.
let planConfigs: [Config] = {
    var multicast = Config()
    multicast.underlay = try? InterfaceName("eth0")
    multicast.vniRanges = [VNIRange(VNI.minimum...VNI.maximum)]
    var unicast = multicast
    unicast.mode = .unicast
    unicast.remotes = [.v4(0xC000_020C), .v4(0xC000_020D)]  // 192.0.2.12, 192.0.2.13
    var evpn = Config()
    evpn.mode = .evpn
    evpn.local = .v6(high: 0x2001_0db8_0000_0000, low: 1)
    if let range = try? VNIRange(parsing: "5000-5999") { evpn.vniRanges = [range] }
    return [Config(), multicast, unicast, evpn]
}()

/// What the hook promises of a plan it accepted.
func checkPlan(_ plan: SegmentPlan, _ config: Config) {
    require(config.accepts(plan.vni), "plan for VNI \(plan.vni) outside \(config.vniRanges)")
    let addresses = [plan.local, plan.group].compactMap { $0 } + plan.remotes
    require(addresses.allSatisfy { $0.family == plan.family }, "plan mixes address families: \(plan)")
    switch plan.mode {
    case .multicast: require(plan.group?.isMulticast == true && plan.remotes.isEmpty, "multicast plan: \(plan)")
    case .unicast: require(!plan.remotes.isEmpty && plan.group == nil, "unicast plan: \(plan)")
    case .evpn: require(plan.group == nil && plan.remotes.isEmpty, "evpn plan: \(plan)")
    }
    if let mtu = plan.requiredMTU { require(MTUPolicy.validRange.contains(mtu), "required MTU \(mtu)") }
}

/// libFuzzer's input as a collection, without copying; `data` may be null when `size` is 0.
func input(_ data: UnsafePointer<UInt8>?, _ size: Int) -> UnsafeBufferPointer<UInt8> {
    UnsafeBufferPointer(start: data, count: size)
}

/// `vxlanctl network define` writes a `<network>` for a VNI; the network hook later reads
/// it back. What it reads must be what was written, or a host would serve the segment
/// with other parameters than the defining one.
func checkNetworkDefinition(_ config: Config, _ vni: VNI, mtu: Int?) {
    let definition: NetworkDefinition
    do { definition = try config.networkDefinition(for: vni, mtu: mtu) } catch {
        checkMessage(error)
        return
    }
    let parsed: NetworkDescription
    do { parsed = try NetworkDescription(parsingNetworkXML: Array(definition.xml.utf8)) } catch {
        fatalError("fuzz invariant: cannot read back our own network XML (\(error)):\n\(definition.xml)")
    }
    require(parsed.name == definition.name, "network name \(definition.name) read back as \(parsed.name)")
    require(parsed.overrides == definition.metadata, "metadata \(definition.metadata) read back as \(parsed)")
    require(config.vni(of: parsed) == vni, "network of VNI \(vni) read back as \(String(describing: parsed))")
}
