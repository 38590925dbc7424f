import Glibc
import VXLANCore

/// Finds and reads the configuration: `--config PATH`, else `LIBVIRT_VXLAN_CONFIG`, else
/// `/etc/libvirt-vxlan/vxlan.conf`. Only the default path may be missing (built-in
/// defaults); a path the operator named must exist.
public enum ConfigFile {
    public static let environmentVariable = "LIBVIRT_VXLAN_CONFIG"
    /// Far above any real configuration; stops a runaway file before it is read whole.
    static let maximumSize = 1 << 20

    public enum LoadError: Error, Equatable, CustomStringConvertible {
        case unreadable(path: String, reason: String)
        case tooLarge(path: String)
        case invalid(path: String, ConfigError)

        public var description: String {
            switch self {
            case .unreadable(let path, let reason): "cannot read \(path): \(reason)"
            case .tooLarge(let path): "\(path) is larger than \(ConfigFile.maximumSize) bytes"
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
        guard let bytes = try contents(of: path, missingIsEmpty: !chosen) else { return Config() }
        do {
            return try Config(parsingTOML: bytes)
        } catch {
            throw .invalid(path: path, error)
        }
    }

    /// The file's bytes; nil when it is missing and that is allowed.
    static func contents(of path: String, missingIsEmpty: Bool) throws(LoadError) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT, missingIsEmpty { return nil }
            throw .unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
            if count == 0 { return bytes }
            bytes += chunk[..<count]
            guard bytes.count <= maximumSize else { throw .tooLarge(path: path) }
        }
    }
}
