/// CloudStack's KVM agent makes its VXLAN bridges itself, by running
/// `modifyvxlan.sh -o add|delete -v VNI -p PIF -b BRIDGE [-6]`. These are the pure parts
/// of standing in for that script: its multicast groups, the plan for one call, and
/// whether the path the agent runs is ours.
public enum CloudStackAgent {
    /// The script the agent prefers to its packaged one (found first on its search path
    /// since CloudStack 4.19); no package owns this path.
    public static let scriptPath = "/usr/share/modifyvxlan.sh"
    /// What `vxlanctl cloudstack enable` links `scriptPath` to: a two-line script that
    /// executes `vxlanctl modifyvxlan` with the agent's arguments.
    public static let entryPath = "/usr/libexec/libvirt-vxlan/modifyvxlan.sh"

    /// The IPv6 group of CloudStack's `modifyvxlan.sh -6`: `ff05::{vni>>16}:{vni>>8 & 255}:{vni & 255}`.
    /// The script prints each byte in *decimal* into a 16-bit *hexadecimal* group (VNI
    /// 5001: `ff05::0:19:137`, that is 0x19 and 0x137), so the same is done here, or a
    /// host of ours and a CloudStack host would join different groups.
    public static func ipv6Group(for vni: VNI) -> IPAddress {
        let bytes = [(vni.value >> 16) & 0xFF, (vni.value >> 8) & 0xFF, vni.value & 0xFF]
        let groups = bytes.map { decimalDigitsAsHex($0) }
        let low = UInt64(groups[0]) << 32 | UInt64(groups[1]) << 16 | UInt64(groups[2])
        return .v6(high: 0xFF05_0000_0000_0000, low: low)
    }

    /// 137 -> 0x137: each decimal digit becomes a hexadecimal one.
    private static func decimalDigitsAsHex(_ value: UInt32) -> UInt32 {
        var remaining = value
        var result: UInt32 = 0
        var shift: UInt32 = 0
        repeat {
            result |= (remaining % 10) << shift
            remaining /= 10
            shift += 4
        } while remaining > 0
        return result
    }
}

/// One call of the agent's script, as `init(parsingArguments:)` reads it for both entries.
public struct AgentRequest: Hashable, Sendable {
    public enum Operation: String, Sendable, CaseIterable, DescribedByRawValue {
        case add
        case delete
    }

    public var operation: Operation
    public var vni: VNI
    /// The agent's `-p`: the traffic label's NIC (a port of the bridge that holds the
    /// address) or the bridge itself. At `delete` the agent passes a word taken from the
    /// bridge name (`vx` for `brvx-5001`), so it is not used there.
    public var physicalInterface: InterfaceName
    public var bridge: InterfaceName
    /// `-6`: an IPv6 underlay.
    public var ipv6: Bool

    public init(
        operation: Operation, vni: VNI, physicalInterface: InterfaceName, bridge: InterfaceName, ipv6: Bool = false
    ) {
        self.operation = operation
        self.vni = vni
        self.physicalInterface = physicalInterface
        self.bridge = bridge
        self.ipv6 = ipv6
    }
}

extension Config {
    /// The device names for an agent call: the configuration's, with the agent's bridge.
    public func names(for request: AgentRequest) throws(PlanError) -> SegmentNames {
        var names = try names(for: request.vni)
        names.bridge = request.bridge
        return names
    }

    /// The plan for an agent's `add`: `-p` as the underlay and `-b` as the bridge, the
    /// rest from the configuration. With `-6` and CloudStack's group rule the group is
    /// CloudStack's IPv6 one, so both kinds of host meet in the same group; an IPv6
    /// underlay with IPv4 addresses in the configuration is refused.
    public func plan(for request: AgentRequest) throws(PlanError) -> SegmentPlan {
        var overrides = SegmentOverrides(underlay: request.physicalInterface)
        if request.ipv6, mode == .multicast, groupPolicy == .cloudstack {
            overrides.group = CloudStackAgent.ipv6Group(for: request.vni)
        }
        // A Linux bridge whatever bridge_type says: CloudStack calls modifyvxlan.sh only from
        // its native (Linux bridge) driver, whose guests' NICs carry no <virtualport>.
        var plan = try plan(for: request.vni, overrides: overrides, bridge: request.bridge, bridgeKind: .linux)
        if request.ipv6, plan.family != .ipv6 {
            // Only the default family may change: explicit IPv4 addresses contradict -6.
            guard plan.local == nil, plan.remotes.isEmpty, plan.group == nil else {
                throw .familyMismatch(request.vni)
            }
            plan.family = .ipv6
        }
        return plan
    }
}

/// What is at `/usr/share/modifyvxlan.sh`, and what `vxlanctl cloudstack` may do there:
/// only ever create our link where nothing is, and remove only our link.
public enum AgentScriptState: Hashable, Sendable, CustomStringConvertible {
    case absent
    /// A symbolic link to `CloudStackAgent.entryPath`.
    case ours
    /// A symbolic link elsewhere (CloudStack's EVPN script, say).
    case foreignLink(target: String)
    /// A file, folder or anything else that is not a link.
    case foreignFile

    /// Classifies what `lstat`/`readlink` found: nil `linkTarget` for a path that is not a link.
    public init(exists: Bool, linkTarget: String?) {
        guard exists else {
            self = .absent
            return
        }
        guard let linkTarget else {
            self = .foreignFile
            return
        }
        self = linkTarget == CloudStackAgent.entryPath ? .ours : .foreignLink(target: linkTarget)
    }

    public var description: String {
        let path = CloudStackAgent.scriptPath
        return switch self {
        case .absent: "\(path) does not exist: the agent runs its packaged modifyvxlan.sh"
        case .ours: "\(path) -> \(CloudStackAgent.entryPath): the agent runs vxlanctl modifyvxlan"
        case .foreignLink(let target): "\(path) -> \(target.escapedForMessage) is not libvirt-vxlan's"
        case .foreignFile: "\(path) is a file that is not libvirt-vxlan's"
        }
    }
}

/// Why the agent's command line was refused: one line for its log.
public struct AgentUsageError: Error, Equatable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}

extension AgentRequest {
    /// The agent's command line, CloudStack's script's usage.
    public static let usage = "-o add|delete -v VNI -p PIF -b BRIDGE [-6]"

    /// The one reader of the agent's command line, for the hook worker's entry (`AgentMain`)
    /// and `vxlanctl modifyvxlan` alike. As the script's `getopts 'o:v:p:b:6'` reads it:
    /// options in any order, a value as the next argument (even one starting with `-`) or
    /// attached (`-v5001`), `-6` grouped with others (`-6o add`), `--` ending the options.
    /// Stricter than getopts where it would go on with a wrong request: an unknown option,
    /// an option given twice, an operand or a missing option is refused. Every value is
    /// validated like the hook's own input (VNI range, IFNAMSIZ names). The agent passes
    /// `-v VNI -p PIF -b BRIDGE -o add` to make a bridge and `-o delete -v VNI -p vx -b
    /// BRIDGE` (`vx` taken from `brvx-VNI`) to remove it.
    public init(parsingArguments arguments: [String]) throws(AgentUsageError) {
        var values: [Character: String] = [:]
        var ipv6 = false
        var remaining = arguments[...]
        while let argument = remaining.popFirst() {
            if argument == "--" {
                if let operand = remaining.first {
                    throw AgentUsageError("unexpected argument \(operand.escapedForMessage)")
                }
                break
            }
            guard argument.count >= 2, argument.first == "-" else {
                throw AgentUsageError("unexpected argument \(argument.escapedForMessage)")
            }
            guard !argument.hasPrefix("--") else {
                throw AgentUsageError("unknown option \(argument.escapedForMessage)")
            }
            var letters = argument.dropFirst()
            while let letter = letters.popFirst() {
                if letter == "6" {
                    ipv6 = true
                    continue
                }
                guard "ovpb".contains(letter) else {
                    throw AgentUsageError("unknown option -\(String(letter).escapedForMessage)")
                }
                guard values[letter] == nil else { throw AgentUsageError("-\(letter) given twice") }
                // The rest of the argument is the value, or else the next argument.
                guard let value = letters.isEmpty ? remaining.popFirst() : String(letters) else {
                    throw AgentUsageError("-\(letter) needs a value")
                }
                values[letter] = value
                break
            }
        }
        func required(_ letter: Character) throws(AgentUsageError) -> String {
            guard let value = values[letter] else { throw AgentUsageError("missing -\(letter); usage: \(Self.usage)") }
            return value
        }
        let operationText = try required("o")
        guard let operation = Operation(rawValue: operationText) else {
            throw AgentUsageError("-o takes add or delete, not \(operationText.escapedForMessage)")
        }
        let vniText = try required("v")
        let physicalInterfaceText = try required("p")
        let bridgeText = try required("b")
        let vni = try asAgentUsage { () throws(VNIError) in try VNI(parsing: vniText) }
        let physicalInterface = try asAgentUsage { () throws(InterfaceNameError) in
            try InterfaceName(physicalInterfaceText)
        }
        let bridge = try asAgentUsage { () throws(InterfaceNameError) in try InterfaceName(bridgeText) }
        self.init(operation: operation, vni: vni, physicalInterface: physicalInterface, bridge: bridge, ipv6: ipv6)
    }
}

/// What `make` returns, or its error as the agent's usage error.
private func asAgentUsage<Value, Failure: Error & CustomStringConvertible>(
    _ make: () throws(Failure) -> Value
) throws(AgentUsageError) -> Value {
    do { return try make() } catch { throw AgentUsageError(error.description) }
}
