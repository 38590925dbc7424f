import CLibvirt
import Glibc

/// A libvirt network as vxlanctl sees it: its definition and state.
public struct LibvirtNetwork: Hashable, Sendable {
    public var name: String
    /// The persistent definition (`virsh net-dumpxml --inactive`).
    public var xml: String
    public var isActive: Bool
    public var isPersistent: Bool
    public var autostart: Bool
    /// Guest NICs plugged in now (virNetworkListAllPorts), 0 when inactive.
    public var ports: Int
}

/// One libvirt API call per function, named for what it does, documented with the
/// virsh command it stands for.
extension LibvirtConnection {
    /// `virsh net-list --all`, with each network's definition and state.
    public func networks() throws(LibvirtError) -> [LibvirtNetwork] {
        try listAll("list networks", { virConnectListAllNetworks(connection, $0, 0) }, release: virNetworkFree) {
            (network) throws(LibvirtError) in try describe(network)
        }.sorted { $0.name < $1.name }
    }

    /// `virsh net-info NAME`, or nil if there is no such network.
    public func network(named name: String) throws(LibvirtError) -> LibvirtNetwork? {
        guard let network = virNetworkLookupByName(connection, name) else {
            let error = LibvirtError.last("look up network \(name)")
            if error.isNoNetwork { return nil }
            throw error
        }
        defer { virNetworkFree(network) }
        return try describe(network)
    }

    /// `virsh net-define FILE`: creates or replaces the persistent definition.
    public func defineNetwork(_ xml: String) throws(LibvirtError) {
        guard let network = virNetworkDefineXML(connection, xml) else { throw LibvirtError.last("define network") }
        virNetworkFree(network)
    }

    /// `virsh net-start NAME`
    public func startNetwork(_ name: String) throws(LibvirtError) {
        try withNetwork(name, "start network \(name)") { virNetworkCreate($0) }
    }

    /// `virsh net-destroy NAME`
    public func stopNetwork(_ name: String) throws(LibvirtError) {
        try withNetwork(name, "stop network \(name)") { virNetworkDestroy($0) }
    }

    /// `virsh net-undefine NAME`
    public func undefineNetwork(_ name: String) throws(LibvirtError) {
        try withNetwork(name, "undefine network \(name)") { virNetworkUndefine($0) }
    }

    /// `virsh net-autostart NAME [--disable]`
    public func setAutostart(_ name: String, _ enabled: Bool) throws(LibvirtError) {
        try withNetwork(name, "set autostart of network \(name)") { virNetworkSetAutostart($0, enabled ? 1 : 0) }
    }

    private func withNetwork(_ name: String, _ operation: String, _ call: (OpaquePointer) -> Int32)
        throws(LibvirtError)
    {
        guard let network = virNetworkLookupByName(connection, name) else { throw LibvirtError.last(operation) }
        defer { virNetworkFree(network) }
        guard call(network) >= 0 else { throw LibvirtError.last(operation) }
    }

    private func describe(_ network: OpaquePointer) throws(LibvirtError) -> LibvirtNetwork {
        let name = virNetworkGetName(network).map { String(cString: $0) } ?? ""
        // The persistent definition; drivers without it (the test driver) give the live one.
        let inactive = UInt32(VIR_NETWORK_XML_INACTIVE.rawValue)
        guard let xml = virNetworkGetXMLDesc(network, inactive) ?? virNetworkGetXMLDesc(network, 0) else {
            throw LibvirtError.last("read network \(name)")
        }
        virResetLastError()
        defer { free(xml) }
        var autostart: Int32 = 0
        _ = virNetworkGetAutostart(network, &autostart)
        let active = virNetworkIsActive(network) == 1
        var ports: UnsafeMutablePointer<OpaquePointer?>?
        var portCount: Int32 = 0
        if active {
            portCount = max(0, virNetworkListAllPorts(network, &ports, 0))
            if let ports {
                for index in 0..<Int(portCount) { if let port = ports[index] { virNetworkPortFree(port) } }
                free(ports)
            }
        }
        return LibvirtNetwork(
            name: name, xml: String(cString: xml), isActive: active, isPersistent: virNetworkIsPersistent(network) == 1,
            autostart: autostart == 1, ports: Int(portCount))
    }
}
