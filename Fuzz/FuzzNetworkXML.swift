// fuzz-network-xml: the network hook's stdin (`<hookData>` around a network and maybe a
// port) and a bare `<network>` as vxlanctl reads it from libvirt. Each input is tried as
// both, so one corpus serves the two readers; then the network goes through planning as
// in the network hook.
import LibvirtXML
import VXLANCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNetworkXML(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = input(data, size)
    do {
        let hookData = try NetworkHookData(parsingHookData: bytes)
        if let port = hookData.port {
            require(
                !port.uuid.isEmpty && !port.ownerName.isEmpty && !port.ownerUUID.isEmpty,
                "accepted a <networkport> without uuid or owner")
        }
        check(hookData.network)
    } catch {
        checkMessage(error)
    }
    do { check(try NetworkDescription(parsingNetworkXML: bytes)) } catch { checkMessage(error) }
    return 0
}

private func check(_ network: NetworkDescription) {
    require(!network.name.isEmpty, "accepted a network without a name")
    if let mtu = network.mtu { require(MTUPolicy.validRange.contains(mtu), "accepted <mtu size='\(mtu)'>") }
    if let remotes = network.overrides?.remotes {
        require(!remotes.isEmpty && !remotes.contains(where: \.isMulticast), "accepted remotes \(remotes)")
    }
    for config in planConfigs {
        let plan: SegmentPlan?
        do { plan = try config.plan(for: network) } catch {
            checkMessage(error)
            continue
        }
        guard let plan else {
            require(config.vni(of: network) == nil, "a network of ours got no plan")
            continue
        }
        checkPlan(plan, config)
        if let mtu = network.overrides?.mtu {
            require(plan.mtu == .fixed(mtu), "metadata mtu \(mtu) became \(plan.mtu)")
        }
        checkNetworkDefinition(config, plan.vni, mtu: network.overrides?.mtu)
    }
}
