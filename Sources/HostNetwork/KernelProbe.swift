import CNetlink
import Glibc
import VXLANCore

extension NetlinkSession {
    /// Proves the kernel can make what the hook makes, without touching this host's
    /// network: on a thread of its own that moves into a new, empty network namespace,
    /// `ip link add lvxprobe0 type bridge; ip link add lvxprobe1 master lvxprobe0 type
    /// vxlan id 1 dstport PORT`, then deletes both. The namespace dies with the thread.
    public static func probeVXLANSupport(dstport: UInt16) throws(KernelError) {
        let probe = Probe(dstport: dstport)
        let context = Unmanaged.passRetained(probe).toOpaque()
        var thread = pthread_t()
        let started = pthread_create(
            &thread, nil,
            { raw in
                guard let raw else { return nil }
                Unmanaged<Probe>.fromOpaque(raw).takeRetainedValue().run()
                return nil
            }, context)
        guard started == 0 else {
            Unmanaged<Probe>.fromOpaque(context).release()
            throw KernelError(operation: "start probe thread", code: NLE_NOMEM, errno: started, kernelMessage: "")
        }
        pthread_join(thread, nil)
        if let error = probe.error { throw error }
    }

    private final class Probe {
        let dstport: UInt16
        var error: KernelError?

        init(dstport: UInt16) { self.dstport = dstport }

        func run() {
            do throws(KernelError) {
                guard lvx_unshare_network_namespace() == 0 else {
                    throw KernelError(
                        operation: "unshare network namespace", code: NLE_NOACCESS, errno: Glibc.errno,
                        kernelMessage: String(cString: strerror(Glibc.errno)))
                }
                try NetlinkSession().makeAndRemoveProbeDevices(dstport: dstport)
            } catch {
                self.error = error
            }
        }
    }

    private func makeAndRemoveProbeDevices(dstport: UInt16) throws(KernelError) {
        guard let bridgeName = try? InterfaceName("lvxprobe0"), let vxlanName = try? InterfaceName("lvxprobe1") else {
            return
        }
        try createBridge(bridgeName, mtu: nil, group: 0)
        guard let bridge = try link(named: bridgeName.rawValue) else { return }
        let spec = VXLANDeviceSpec(
            name: vxlanName, id: 1, group: nil, local: nil, underlay: nil, dstport: dstport, ttl: 10, learning: true,
            mtu: nil)
        try createVXLAN(spec, master: bridge.index, group: 0)
        if let vxlan = try link(named: vxlanName.rawValue) { try deleteLink(vxlan) }
        try deleteLink(bridge)
    }
}
