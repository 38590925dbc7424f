/// What a journal line is about, as fields an operator filters on
/// (`journalctl VNI=5001`, `journalctl MESSAGE_ID=...`): the kind of event, the VNI and
/// how it ended. The process adds its own (PHASE, DOMAIN or NETWORK).
public struct LogEvent: Hashable, Sendable {
    public var kind: LogEventKind
    public var vni: VNI?
    /// A word: created, kept, pending, removed, repaired, failed, refused...
    public var outcome: String?

    public init(_ kind: LogEventKind, vni: VNI? = nil, outcome: String? = nil) {
        self.kind = kind
        self.vni = vni
        self.outcome = outcome
    }
}

/// A kind of event, each with a stable 128-bit MESSAGE_ID (journald's convention, made
/// once with `journalctl --new-id128`): never change one, add new ones.
public enum LogEventKind: String, Sendable, CaseIterable, DescribedByRawValue {
    /// A join made or repaired a segment's devices.
    case segmentMade
    /// A join or a leave failed on a segment.
    case segmentFailed
    /// A guest's use was refused (its MTU).
    case useRefused
    /// A leave kept the segment (other users, foreign devices or ports).
    case segmentKept
    /// A leave marked the segment's teardown for the reaper.
    case teardownPending
    /// A join took a pending teardown back.
    case teardownTakenBack
    /// The reaper deleted a segment.
    case segmentRemoved
    /// The reaper could not delete a segment; the teardown stays pending.
    case teardownFailed
    /// A guest that vanished without release was forgotten.
    case guestForgotten
    /// A hook call failed or was refused (the line libvirt's caller sees).
    case hookCallFailed
    /// The watcher repaired a segment in use.
    case repaired
    /// The watcher could not repair a segment in use.
    case repairFailed
    /// The watcher waits for an underlay.
    case underlayWaiting
    /// The kernel dropped link notifications.
    case notificationsLost
    case watcherStarted
    case watcherStopped
    /// Anything else worth a line: a warning about the configuration, an MTU advice.
    case notice

    public var messageID: String {
        switch self {
        case .segmentMade: "e71bdfb762334c13bb9809aab26cf65a"
        case .segmentFailed: "0d6242e6f2d94002961b9b3726e8da7b"
        case .useRefused: "08c83550377b466f8cd45f15d2f4ed61"
        case .segmentKept: "716e3877b8654ba78169cef451af88f1"
        case .teardownPending: "ec8790a2371b4ce8a5aed6e4e47c2092"
        case .teardownTakenBack: "fc519a2e0a034009af4818d9b53f3976"
        case .segmentRemoved: "3e71cddfc6fe42da89a23f0ab1a96c0e"
        case .teardownFailed: "cc1870c100ab4315be49d4ac293ed5a1"
        case .guestForgotten: "b350f8af500440d1ac5600bee8b68aa8"
        case .hookCallFailed: "fe41256f198a4e29b3d236a2d10cd90e"
        case .repaired: "9c7bb67343d345a6b7c396d56702683b"
        case .repairFailed: "6fa714e6207e452b9146bbf7c03fc731"
        case .underlayWaiting: "44bd7d67d8b1460999a4296310e0eb86"
        case .notificationsLost: "6bf6fab70e9f4a17a31d820f2a6df417"
        case .watcherStarted: "8359774081dd4c009b7c488341840896"
        case .watcherStopped: "cc4ae2ed77b84ff68174e2c569002437"
        case .notice: "5a38f0f7432c4c38980faa6010950562"
        }
    }
}

/// One journal entry in journald's native protocol (systemd's `sd_journal_send`, as a
/// datagram to /run/systemd/journal/socket): `KEY=value` lines; a value holding a line
/// feed goes as `KEY`, a line feed, its length as 64-bit little-endian, the bytes and a
/// line feed. Keys are ours: upper case, digits and underscores. Built in place, byte by
/// byte: the hook pays for each line it logs.
public struct JournalDatagram {
    public private(set) var bytes: [UInt8] = []

    public init() {
        bytes.reserveCapacity(512)
    }

    public mutating func append(_ key: StaticString, _ value: String) {
        key.withUTF8Buffer { bytes.append(contentsOf: $0) }
        appendValue(value)
    }

    public mutating func append(_ key: String, _ value: String) {
        bytes.append(contentsOf: key.utf8)
        appendValue(value)
    }

    private mutating func appendValue(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            if utf8.contains(0x0A) {
                bytes.append(0x0A)
                var length = UInt64(utf8.count).littleEndian
                withUnsafeBytes(of: &length) { bytes.append(contentsOf: $0) }
            } else {
                bytes.append(0x3D)  // "="
            }
            bytes.append(contentsOf: utf8)
        }
        bytes.append(0x0A)
    }
}
