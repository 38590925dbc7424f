/// The most any input may hold, in bytes: libvirt's XML for a guest or network and the
/// configuration file are a few KiB; this bounds what a hostile input makes us read.
public let inputSizeLimit = 1 << 20

/// A String-backed enum that prints as its raw value: without a description, string
/// interpolation of an enum goes through runtime reflection (conformance scans).
public protocol DescribedByRawValue: CustomStringConvertible, RawRepresentable where RawValue == String {}

extension DescribedByRawValue {
    public var description: String { rawValue }
}

/// One call of a libvirt hook: `hooks/<driver>.d/50-libvirt-vxlan OBJECT OPERATION
/// SUBOPERATION EXTRA`, and what libvirt-vxlan does about it. Pure: the table that
/// decides is tested without libvirt, netlink or a file system.
public struct HookCall: Hashable, Sendable {
    /// Which libvirt driver runs the hook; told by the folder it was called from.
    public enum Driver: String, Sendable, CaseIterable, DescribedByRawValue {
        case qemu
        case network

        /// The folder of libvirt's hooks whose entries this driver runs (libvirt >= 6.5):
        /// `hooks/qemu.d`, `hooks/network.d`.
        public var folder: String { "\(rawValue).d" }

        /// The driver of the hook entry at `path`: the one whose `folder` is the path's last
        /// component but one, exactly as written (`/etc/libvirt/hooks/qemu.d/50-libvirt-vxlan`
        /// is qemu's; `qemu.d//50-libvirt-vxlan` and `50-libvirt-vxlan` are nobody's). The C
        /// launcher applies the same rule to the same folder names (acted-phases.h).
        public init?(entryPath path: String) {
            let components = path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
            guard components.count >= 2 else { return nil }
            let folder = components[components.count - 2]
            guard let driver = Self.allCases.first(where: { $0.folder.utf8.elementsEqual(folder) }) else {
                return nil
            }
            self = driver
        }
    }

    public var driver: Driver
    /// The domain or network name.
    public var object: String
    public var operation: String
    public var subOperation: String
    /// `$4`: "-", or since libvirt 10.5 the reason of `release end` ("failed", "migrated"...).
    public var extra: String

    public init(driver: Driver, object: String, operation: String, subOperation: String, extra: String = "-") {
        self.driver = driver
        self.object = object
        self.operation = operation
        self.subOperation = subOperation
        self.extra = extra
    }

    /// What the hook does for this call: its phase's in `actedOn`, else `.ignore`.
    public var action: HookAction {
        for phase in Self.actedOn
        where phase.driver == driver && phase.operation == operation && phase.subOperation == subOperation {
            return phase.action
        }
        return .ignore
    }

    /// A step of libvirt's that the hook acts on, and how.
    public struct ActedPhase: Hashable, Sendable {
        public var driver: Driver
        public var operation: String
        public var subOperation: String
        public var action: HookAction
    }

    /// The calls libvirt-vxlan acts on; every other one it ignores. The one table: the C
    /// launcher (what libvirt executes) answers every other call itself, from its copy in
    /// Sources/hook-launcher/acted-phases.h, which is generated from this one and checked
    /// against it by Tests/HookRuntimeTests/HookLauncherTests.swift.
    public static let actedOn = [
        ActedPhase(driver: .qemu, operation: "prepare", subOperation: "begin", action: .prepareDomain),
        ActedPhase(driver: .qemu, operation: "migrate", subOperation: "begin", action: .checkDomain),
        ActedPhase(driver: .qemu, operation: "restore", subOperation: "begin", action: .checkDomain),
        ActedPhase(driver: .qemu, operation: "reconnect", subOperation: "begin", action: .reconnectDomain),
        ActedPhase(driver: .qemu, operation: "attach", subOperation: "begin", action: .reconnectDomain),
        ActedPhase(driver: .qemu, operation: "release", subOperation: "end", action: .releaseDomain),
        ActedPhase(driver: .network, operation: "start", subOperation: "begin", action: .startNetwork),
        ActedPhase(driver: .network, operation: "port-created", subOperation: "begin", action: .plugPort),
        ActedPhase(driver: .network, operation: "port-deleted", subOperation: "begin", action: .unplugPort),
        ActedPhase(driver: .network, operation: "stopped", subOperation: "end", action: .stopNetwork),
    ]
}

/// What a hook call makes libvirt-vxlan do. Each case says whether its failure may
/// stop libvirt: libvirt aborts the operation on a non-zero exit for `begin` calls.
public enum HookAction: Hashable, Sendable, CaseIterable {
    /// Nothing: return at once, without reading stdin.
    case ignore
    /// A guest is about to run here (start, and the `prepare` that follows an incoming
    /// migration or a restore): ensure every VNI of its interfaces and record it as a
    /// user. A failure aborts the start.
    case prepareDomain
    /// An incoming migration or a restore is about to begin: refuse what `prepare` would
    /// refuse (VNI outside vni_ranges, bad names), but make and record nothing. libvirt may
    /// still reject the migration after this call (a domain of that name exists) and then
    /// calls no `release`: whatever was made here would stay. `prepare begin` follows.
    case checkDomain
    /// libvirtd restarted (or attached to) a running guest: ensure and record again. A
    /// failure is logged, never returned: libvirt would kill the running guest.
    case reconnectDomain
    /// A guest is gone: drop its uses and tear down VNIs nobody uses any more.
    case releaseDomain
    /// A network of ours starts: ensure its VNI and record the network as a user.
    case startNetwork
    /// A guest NIC is plugged into a network of ours (at guest start, hot-plug, or daemon
    /// restart): record its owner as a user of the VNI and ensure it.
    case plugPort
    /// A guest NIC left a network of ours: drop that use; tear down if unused.
    case unplugPort
    /// A network of ours stopped: drop the network's use; tear down if unused.
    case stopNetwork

    /// Whether a non-zero exit would stop something libvirt is doing. `migrate` and
    /// `restore` are filters too, but we never print on stdout.
    public var failureStopsLibvirt: Bool {
        switch self {
        case .prepareDomain, .checkDomain, .startNetwork, .plugPort: true
        case .ignore, .reconnectDomain, .releaseDomain, .unplugPort, .stopNetwork: false
        }
    }
}
