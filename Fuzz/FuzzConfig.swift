// fuzz-config: vxlan.conf, which every hook call parses first. An accepted file must
// give plans and names that hold together for the VNIs it accepts.
import LibvirtXML
import VXLANCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let config: Config
    do { config = try Config(parsingTOML: input(data, size)) } catch {
        checkMessage(error)
        return 0
    }
    _ = config.acceptedVNICount
    // The bounds of the first few ranges: enough to reach every branch, cheap per input.
    let vnis = config.vniRanges.prefix(4).flatMap { [$0.bounds.lowerBound, $0.bounds.upperBound] }
    for vni in vnis {
        require(config.accepts(vni), "VNI \(vni) of vni_ranges not accepted")
        // The hook finds a segment's VNI again from the names it gave its devices.
        for template in [config.names.bridge, config.names.vxlan, config.names.network] {
            let name = template.render(vni)
            require(template.vni(in: name) == vni, "template \(template) renders \(vni) as \(name.debugDescription)")
        }
        // The parser checks the templates against vni_ranges, so naming cannot fail later.
        do {
            let names = try config.names(for: vni)
            require(names.bridge != names.vxlan, "bridge and vxlan device share the name \(names.bridge)")
        } catch {
            fatalError("fuzz invariant: accepted configuration cannot name VNI \(vni): \(error)")
        }
        do { checkPlan(try config.plan(for: vni), config) } catch { checkMessage(error) }
        checkNetworkDefinition(config, vni, mtu: nil)
    }
    return 0
}
