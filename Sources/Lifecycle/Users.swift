import VXLANCore

/// A user of a VNI: a guest (by domain UUID), a libvirt network (by network UUID) or the
/// operator (`vxlanctl ensure`), named so that the name is a safe file name.
public struct SegmentUser: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable, DescribedByRawValue {
        case domain
        case network
        /// `vxlanctl ensure`: the segment stays until `vxlanctl teardown`.
        case `operator`
    }

    public let kind: Kind
    public let uuid: String

    /// Only a canonical UUID makes a user: it becomes a file name, so nothing else
    /// (no "/", no "..") may reach the file system.
    public init?(_ kind: Kind, uuid: String) {
        let bytes = Array(uuid.utf8)
        let dashes: Set<Int> = [8, 13, 18, 23]
        guard bytes.count == 36,
            bytes.indices.allSatisfy({ index in
                dashes.contains(index)
                    ? bytes[index] == UInt8(ascii: "-") : Character(UnicodeScalar(bytes[index])).isHexDigit
            })
        else { return nil }
        self.kind = kind
        self.uuid = uuid.lowercased()
    }

    /// The user a file name written by `fileName` stands for.
    public init?(fileName: String) {
        let parts = fileName.split(separator: "-", maxSplits: 1)
        guard parts.count == 2, let kind = Kind(rawValue: String(parts[0])) else { return nil }
        self.init(kind, uuid: String(parts[1]))
    }

    /// The operator's one record per VNI (`vxlanctl ensure`), under the nil UUID.
    public static let `operator` = SegmentUser(kind: .operator, canonicalUUID: "00000000-0000-0000-0000-000000000000")

    private init(kind: Kind, canonicalUUID: String) {
        self.kind = kind
        self.uuid = canonicalUUID
    }

    public var fileName: String { "\(kind.rawValue)-\(uuid)" }
    public var description: String { fileName }
}

/// What we keep of a user: its libvirt name (for logs) and its NICs' MACs on the VNI.
public struct UserRecord: Hashable, Sendable {
    public var name: String
    public var macs: [String]
    /// When the record was written, seconds since the epoch.
    public var since: Int

    public init(name: String, macs: [String], since: Int = 0) {
        self.name = name
        self.macs = macs
        self.since = since
    }
}

extension UserRecord {
    /// Whether the guest this records may have vanished without `release`: recorded at
    /// least `staleAfter` seconds before `now`, and none of its NICs has a tap among
    /// `taps`. The lifecycle forgets such a guest; the watcher uses it as a hint.
    public func mayHaveVanished(now: Int, staleAfter: Int, taps: GuestTaps) -> Bool {
        now - since >= staleAfter && !macs.contains { taps.holdsTap(ofMAC: $0) }
    }
}

/// A bridge's ports as guests' taps: libvirt gives a guest's tap the MAC of its NIC with
/// fe: in place of the first byte, so the last five bytes tell whose tap a port is.
public struct GuestTaps {
    private let lastFiveBytes: Set<Substring>

    public init(onBridgePorts ports: [Link]) {
        lastFiveBytes = Set(ports.map { $0.address.dropFirst(2) })
    }

    /// Whether the NIC with MAC `mac` has its tap on the bridge.
    public func holdsTap(ofMAC mac: String) -> Bool {
        lastFiveBytes.contains(mac.lowercased().dropFirst(2))
    }
}

/// A failed change of the runtime state: what, where, and the system's reason.
public struct StateError: Error, Equatable, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var reason: String

    public init(operation: String, path: String, reason: String) {
        self.operation = operation
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(operation) \(path): \(reason)" }
}

/// Why a lifecycle step failed; the description is the one line libvirt shows the user.
public enum LifecycleError: Error, Equatable, CustomStringConvertible {
    case refused(String)
    case state(StateError)

    public var description: String {
        switch self {
        case .refused(let message): message
        case .state(let error): "runtime state: \(error)"
        }
    }
}
