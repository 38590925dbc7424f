import Glibc
import VXLANCore

/// Finds and reads the configuration: `--config PATH`, else `LIBVIRT_VXLAN_CONFIG`, else
/// `/etc/libvirt-vxlan/vxlan.conf`. Only the default path may be missing (built-in
/// defaults); a path the operator named must exist.
public enum ConfigFile {
    public static let environmentVariable = "LIBVIRT_VXLAN_CONFIG"

    public enum LoadError: Error, Equatable, CustomStringConvertible {
        case unreadable(path: String, reason: String)
        case tooLarge(path: String)
        case invalid(path: String, ConfigError)

        public var description: String {
            switch self {
            case .unreadable(let path, let reason): "cannot read \(path): \(reason)"
            case .tooLarge(let path): "\(path) is larger than \(inputSizeLimit) bytes"
            case .invalid(let path, let error): "\(path): \(error)"
            }
        }
    }

    /// The path in force and whether the operator chose it.
    public static func path(explicit: String?) -> (path: String, chosen: Bool) {
        if let explicit { return (explicit, true) }
        if let fromEnvironment = getenv(environmentVariable) {
            return (String(cString: fromEnvironment), true)
        }
        return (Config.defaultPath, false)
    }

    public static func load(explicit: String? = nil) throws(LoadError) -> Config {
        let (path, chosen) = path(explicit: explicit)
        let bytes: [UInt8]?
        do { bytes = try readFile(at: path, limit: inputSizeLimit) } catch {
            throw error == .tooLarge(limit: inputSizeLimit)
                ? .tooLarge(path: path) : .unreadable(path: path, reason: error.description)
        }
        guard let bytes else {
            guard !chosen else { throw .unreadable(path: path, reason: String(cString: strerror(ENOENT))) }
            return Config()
        }
        do {
            return try Config(parsingTOML: bytes)
        } catch {
            throw .invalid(path: path, error)
        }
    }
}
