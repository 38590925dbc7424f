/// Why a segment could not be made or removed. Each message is one line that says what
/// is wrong and what the operator can do about it; libvirt shows it to whoever ran
/// `virsh start`.
public enum ConvergeError: Error, Equatable, Sendable, CustomStringConvertible {
    case underlayMissing(InterfaceName)
    case underlayDown(String)
    case noLocalAddress(underlay: String, family: IPAddress.Family)
    case wrongKind(name: String, kind: String?, expected: String)
    case foreignBridge(String)
    case foreignDevice(name: String, differences: [String])
    case ownedDeviceDiffers(name: String, vni: VNI, differences: [String])
    case portOfOtherBridge(name: String, master: String)
    case mtuTooLarge(vni: VNI, required: Int, segment: Int)
    case mtuOutOfRange(vni: VNI, mtu: Int)
    case multicastLimit(name: String, group: IPAddress)
    /// The VNI's bridge exists as the other kind than the guest's NICs are plugged into.
    case bridgeKindMismatch(name: String, found: BridgeKind, wanted: BridgeKind)
    /// Open vSwitch's database or daemon said no, or did not answer: its line.
    case openvswitch(String)
    case kernel(KernelError)

    public var description: String {
        switch self {
        case .underlayMissing(let name):
            "underlay device \(name) does not exist: set 'underlay' in vxlan.conf to the NIC or bridge that carries VXLAN"
        case .underlayDown(let name):
            "underlay device \(name) is down: bring it up (ip link set dev \(name) up) before starting guests"
        case .noLocalAddress(let underlay, let family):
            "underlay device \(underlay) has no global \(family == .ipv4 ? "IPv4" : "IPv6") address to use as VTEP source: add one or set 'local' in vxlan.conf"
        case .wrongKind(let name, let kind, let expected):
            "\(name) exists but is \(kind.map { "a \($0) device" } ?? "a physical device"), not a \(expected): rename it or change [names] in vxlan.conf"
        case .foreignBridge(let name):
            "bridge \(name) exists but was not created by libvirt-vxlan and has no matching vxlan port; libvirt-vxlan does not modify foreign bridges: remove it or change [names] bridge"
        case .foreignDevice(let name, let differences):
            "\(name) exists but was not created by libvirt-vxlan and does not match the configuration (\(differences.joined(separator: ", "))); libvirt-vxlan does not modify foreign devices"
        case .ownedDeviceDiffers(let name, let vni, let differences):
            "\(name) does not match the configuration (\(differences.joined(separator: ", "))); stop the guests on VNI \(vni) and run 'vxlanctl teardown \(vni)' to recreate it"
        case .portOfOtherBridge(let name, let master):
            "\(name) is a port of \(master), not of its VNI's bridge: detach it (ip link set dev \(name) nomaster)"
        case .mtuTooLarge(let vni, let required, let segment):
            "VNI \(vni): a guest asks for MTU \(required) but the segment carries \(segment): raise the underlay MTU by \(required - segment) or lower the guest's <mtu>"
        case .mtuOutOfRange(let vni, let mtu):
            "VNI \(vni): computed MTU \(mtu) is out of range (\(MTUPolicy.validRange.lowerBound)-\(MTUPolicy.validRange.upperBound)): check the underlay MTU or set 'mtu' in vxlan.conf"
        case .multicastLimit(let name, let group):
            "cannot create \(name): the kernel refused to join multicast group \(group) (No buffer space available); raise net.ipv4.igmp_max_memberships (sysctl -w net.ipv4.igmp_max_memberships=512 and persist it in /etc/sysctl.d), and past ~2700 groups net.core.optmem_max (each group takes 48 bytes of it, default 131072)"
        case .bridgeKindMismatch(let name, .linux, _):
            "\(name) is a Linux bridge, but this guest's NIC has <virtualport type='openvswitch'/>, which libvirt "
                + "plugs with ovs-vsctl add-port: remove the <virtualport>, or stop the guests on it so the segment goes"
        case .bridgeKindMismatch(let name, _, _):
            "\(name) is an Open vSwitch bridge, but this guest's NIC has no <virtualport type='openvswitch'/>, so "
                + "libvirt would plug it with the Linux bridge API, which Open vSwitch refuses: add the <virtualport>"
        case .openvswitch(let line):
            line
        case .kernel(let error):
            error.description
        }
    }
}

/// A request to the kernel's network stack that failed: what we asked, in iproute2
/// words, and why. HostNetwork makes them from netlink's answers; everything else only
/// shows them or looks at the errno.
public struct KernelError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What we were doing, in iproute2 words: "ip link add vxlan5001 type vxlan".
    public var operation: String
    /// Why, in the netlink library's words for its code: "Object exists".
    public var reason: String
    /// The netlink library's own (positive) code, libnl's NLE_*.
    public var code: Int32
    /// The kernel's errno, when the kernel answered (0 when the failure was local).
    public var errno: Int32
    /// The kernel's extended ack message, when it gave one.
    public var kernelMessage: String

    public init(operation: String, reason: String, code: Int32, errno: Int32, kernelMessage: String = "") {
        self.operation = operation
        self.reason = reason
        self.code = code
        self.errno = errno
        self.kernelMessage = kernelMessage
    }

    public var description: String {
        var text = "\(operation): \(reason)"
        if errno != 0 { text += " (errno \(errno))" }
        if !kernelMessage.isEmpty { text += ": \(kernelMessage)" }
        return text
    }
}
