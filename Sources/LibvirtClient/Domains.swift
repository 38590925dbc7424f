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
        let persistent = UInt32(VIR_CONNECT_LIST_DOMAINS_PERSISTENT.rawValue)
        return try listAll(
            "list domains", { virConnectListAllDomains(connection, $0, persistent) }, release: virDomainFree
        ) { (domain) throws(LibvirtError) in try describe(domain: domain) }.sorted { $0.name < $1.name }
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
