// fuzz-domain-xml: the qemu hook's stdin (domain or domstatus XML), then what the hook
// does with it at `prepare begin` (plans per VNI) and `release end` (names per VNI).
import LibvirtXML
import VXLANCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDomainXML(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let domain: DomainDescription
    do { domain = try DomainDescription(parsingDomainXML: input(data, size)) } catch {
        checkMessage(error)
        return 0
    }
    require(!domain.name.isEmpty && domain.uuid?.isEmpty != true, "accepted a domain without name or with empty uuid")
    for interface in domain.interfaces {
        if let mtu = interface.mtu { require(MTUPolicy.validRange.contains(mtu), "accepted <mtu size='\(mtu)'>") }
    }
    for config in planConfigs {
        // prepare: one plan per VNI, in VNI order, each VNI once.
        do {
            let plans = try config.plans(for: domain)
            require(zip(plans, plans.dropFirst()).allSatisfy { $0.vni < $1.vni }, "plans not in strict VNI order")
            for plan in plans { checkPlan(plan, config) }
        } catch {
            checkMessage(error)
        }
        // release: the device names of every VNI the domain's interfaces name.
        for interface in domain.interfaces {
            guard let vni = config.vni(of: interface) else { continue }
            do { _ = try config.names(for: vni) } catch { checkMessage(error) }
        }
    }
    return 0
}
