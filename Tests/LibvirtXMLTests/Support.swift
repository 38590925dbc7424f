import Foundation
import LibvirtXML
import VXLANCore

/// The bytes of a file under `Fixtures/`, copied into the test bundle.
func fixture(_ name: String) throws -> [UInt8] {
    guard let url = Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil) else {
        throw FixtureMissing(name: name)
    }
    return Array(try Data(contentsOf: url))
}

/// The names of the files in `Fixtures/<folder>` with extension `xml`, sorted.
func fixtureNames(in folder: String) -> [String] {
    guard let url = Bundle.module.url(forResource: "Fixtures/\(folder)", withExtension: nil),
        let names = try? FileManager.default.contentsOfDirectory(atPath: url.path)
    else { return [] }
    return names.filter { $0.hasSuffix(".xml") }.sorted()
}

struct FixtureMissing: Error, CustomStringConvertible {
    let name: String
    var description: String { "fixture \(name) is not in the test bundle" }
}

/// `/work/main/Samples`, found from this file's location so the tests read the very
/// files the package ships.
let samplesDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Samples")

/// The error `body` throws, or nil if it returns.
func parseError<Value>(_ body: () throws(LibvirtXMLError) -> Value) -> LibvirtXMLError? {
    do {
        _ = try body()
        return nil
    } catch {
        return error
    }
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Runs `body` with file descriptor 2 redirected to a temporary file and returns what
/// was written there. Anything captured is written back to the real stderr afterwards,
/// since tests running in parallel (and the test runner) may print in the meantime.
func capturingStandardError(_ body: () -> Void) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("libvirtxml-stderr-\(UUID().uuidString)")
    let file = open(url.path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
    let saved = dup(STDERR_FILENO)
    guard file >= 0, saved >= 0 else { throw CocoaError(.fileWriteUnknown) }
    defer { try? FileManager.default.removeItem(at: url) }
    fflush(nil)
    dup2(file, STDERR_FILENO)
    body()
    fflush(nil)
    dup2(saved, STDERR_FILENO)
    close(saved)
    defer { close(file) }
    lseek(file, 0, SEEK_SET)
    var captured: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while case let count = read(file, &chunk, chunk.count), count > 0 {
        captured += chunk.prefix(count)
    }
    FileHandle.standardError.write(Data(captured))
    return String(decoding: captured, as: UTF8.self)
}

/// An address the test knows is valid; a typo in the test fails it instead of crashing.
func address(_ text: String) throws -> IPAddress {
    guard let address = IPAddress(text) else { throw InvalidTestAddress(text: text) }
    return address
}

struct InvalidTestAddress: Error {
    let text: String
}
