import CLibvirt
import Glibc

/// A defined libvirt domain as vxlanctl sees it: its persistent definition and state.
public struct LibvirtDomain: Hashable, Sendable {
    public var name: String
    /// The persistent definition (`virsh dumpxml --inactive`): what the next start uses.
    public var xml: String
    public var isActive: Bool
}

extension LibvirtConnection {
    /// `virsh list --all --persistent`, with each domain's persistent definition, by name.
    public func definedDomains() throws(LibvirtError) -> [LibvirtDomain] {
        var list: UnsafeMutablePointer<OpaquePointer?>?
        let persistent = UInt32(VIR_CONNECT_LIST_DOMAINS_PERSISTENT.rawValue)
        let count = virConnectListAllDomains(connection, &list, persistent)
        guard count >= 0, let list else { throw LibvirtError.last("list domains") }
        defer {
            for index in 0..<Int(count) { if let domain = list[index] { virDomainFree(domain) } }
            free(list)
        }
        var domains: [LibvirtDomain] = []
        for index in 0..<Int(count) {
            guard let domain = list[index] else { continue }
            domains.append(try describe(domain: domain))
        }
        return domains.sorted { $0.name < $1.name }
    }

    /// `virsh define FILE`: replaces a domain's persistent definition. A running guest
    /// keeps its live one until it next starts.
    public func defineDomain(_ xml: String) throws(LibvirtError) {
        guard let domain = virDomainDefineXML(connection, xml) else { throw LibvirtError.last("define domain") }
        virDomainFree(domain)
    }

    private func describe(domain: OpaquePointer) throws(LibvirtError) -> LibvirtDomain {
        let name = virDomainGetName(domain).map { String(cString: $0) } ?? ""
        let inactive = UInt32(VIR_DOMAIN_XML_INACTIVE.rawValue)
        guard let xml = virDomainGetXMLDesc(domain, inactive) else {
            throw LibvirtError.last("read domain \(name)")
        }
        defer { free(xml) }
        return LibvirtDomain(name: name, xml: String(cString: xml), isActive: virDomainIsActive(domain) == 1)
    }
}
