import VXLANCore

extension LinkKernel {
    /// The underlay device, or its bridge when it is a bridge port (CloudStack's traffic
    /// label may name `eth1` inside `cloudbr1`, which holds the address): what a segment's
    /// vxlan device is bound to, and what `vxlanctl check` and `firewall` read. Lookups
    /// only; nil when no underlay is named.
    public func underlay(named name: InterfaceName?) throws(ConvergeError) -> Link? {
        guard let name else { return nil }
        guard var link = try converging({ () throws(KernelError) in try self.link(named: name.rawValue) }) else {
            throw .underlayMissing(name)
        }
        if link.master != 0,
            let master = try converging({ () throws(KernelError) in try self.link(index: link.master) }),
            master.kind == "bridge"
        {
            link = master
        }
        guard link.isUp else { throw .underlayDown(link.name) }
        return link
    }

    private func converging<T>(_ body: () throws(KernelError) -> T) throws(ConvergeError) -> T {
        do { return try body() } catch { throw .kernel(error) }
    }
}
