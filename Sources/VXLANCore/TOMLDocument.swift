/// The subset of TOML that vxlan.conf uses, parsed strictly: `key = value` lines, one
/// level of `[table]`, comments, and values that are basic or literal strings, decimal
/// integers, booleans, or arrays of those (across lines, trailing comma allowed). Every
/// value remembers its line, so configuration errors can name it.
struct TOMLDocument {
    indirect enum Value: Equatable {
        case string(String)
        case integer(Int64)
        case boolean(Bool)
        case array([Value])

        var typeName: String {
            switch self {
            case .string: "a string"
            case .integer: "an integer"
            case .boolean: "a boolean"
            case .array: "an array"
            }
        }
    }

    struct Entry: Equatable {
        var value: Value
        var line: Int
    }

    struct Table {
        var name: String
        var line: Int
        var entries: [String: Entry] = [:]
        /// Keys in the order they were written, for deterministic error reports.
        var order: [String] = []
    }

    /// The root table has the name "".
    private(set) var tables: [Table] = [Table(name: "", line: 0)]

    struct SyntaxError: Error, Equatable {
        var line: Int
        var message: String
    }

    init(parsing bytes: [UInt8]) throws(SyntaxError) {
        guard bytes.count <= inputSizeLimit else {
            throw SyntaxError(line: 0, message: "file is larger than \(inputSizeLimit) bytes")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw SyntaxError(line: Self.lineOfInvalidUTF8(bytes), message: "not valid UTF-8")
        }
        var parser = Parser(Array(text.unicodeScalars))
        try parser.parse(into: &self)
    }

    func table(_ name: String) -> Table? { tables.first { $0.name == name } }

    /// vxlan.conf has one table. The cap keeps the linear duplicate check below from going
    /// quadratic on a file of many distinct `[tN]` headers (found by fuzzing, Fuzz/README.md).
    static let maximumTables = 16

    fileprivate mutating func add(table name: String, line: Int) throws(SyntaxError) {
        guard tables.count <= Self.maximumTables else {
            throw SyntaxError(line: line, message: "more than \(Self.maximumTables) tables")
        }
        guard table(name) == nil else { throw SyntaxError(line: line, message: "table [\(name)] defined twice") }
        tables.append(Table(name: name, line: line))
    }

    fileprivate mutating func add(_ key: String, _ entry: Entry) throws(SyntaxError) {
        let last = tables.count - 1
        guard tables[last].entries[key] == nil else {
            throw SyntaxError(line: entry.line, message: "key '\(key)' defined twice")
        }
        tables[last].entries[key] = entry
        tables[last].order.append(key)
    }

    private static func lineOfInvalidUTF8(_ bytes: [UInt8]) -> Int {
        var line = 1
        var lineStart = bytes.startIndex
        for index in bytes.indices where bytes[index] == UInt8(ascii: "\n") {
            if String(validating: bytes[lineStart..<index], as: UTF8.self) == nil { return line }
            line += 1
            lineStart = bytes.index(after: index)
        }
        return line
    }
}

/// A recursive-descent parser over Unicode scalars, tracking the line.
private struct Parser {
    let text: [Unicode.Scalar]
    var position = 0
    var line = 1
    /// Arrays open around the current position. Each level is a recursive call, so a
    /// file of "[[[[..." would overflow the stack long before the size limit (fuzzing).
    var arrayDepth = 0
    static let maximumArrayDepth = 8

    init(_ text: [Unicode.Scalar]) { self.text = text }

    typealias SyntaxError = TOMLDocument.SyntaxError

    var current: Unicode.Scalar? { position < text.count ? text[position] : nil }

    func error(_ message: String) -> SyntaxError { SyntaxError(line: line, message: message) }

    mutating func advance() {
        if current == "\n" { line += 1 }
        position += 1
    }

    mutating func parse(into document: inout TOMLDocument) throws(SyntaxError) {
        while true {
            skipBlankLines()
            guard let scalar = current else { return }
            if scalar == "[" {
                advance()
                if current == "[" { throw error("arrays of tables ([[...]]) are not supported") }
                skipSpaces()
                let name = try bareKey()
                skipSpaces()
                guard current == "]" else { throw error("expected ']' after table name") }
                advance()
                try document.add(table: name, line: line)
            } else {
                let keyLine = line
                let key = try bareKey()
                skipSpaces()
                guard current == "=" else { throw error("expected '=' after key '\(key)'") }
                advance()
                skipSpaces()
                let value = try self.value()
                try document.add(key, TOMLDocument.Entry(value: value, line: keyLine))
            }
            try endOfLine()
        }
    }

    /// Spaces and tabs.
    mutating func skipSpaces() {
        while current == " " || current == "\t" { advance() }
    }

    /// Spaces, comments and line breaks.
    mutating func skipBlankLines() {
        while true {
            skipSpaces()
            if current == "#" { skipComment() }
            guard current == "\n" || current == "\r" else { return }
            advance()
        }
    }

    mutating func skipComment() {
        while let scalar = current, scalar != "\n" { advance() }
    }

    /// After a value or header: only spaces and a comment may follow on the line.
    mutating func endOfLine() throws(SyntaxError) {
        skipSpaces()
        if current == "#" { skipComment() }
        if current == "\r" { advance() }
        guard current == nil || current == "\n" else {
            throw error("unexpected '\(String(current ?? " ").escapedForMessage)' after the value")
        }
    }

    /// A-Z a-z 0-9 _ -, compared as ranges: Unicode's property tables are not needed for
    /// ASCII, and reading them cost the hook a page fault or two per call.
    static func isBareKeyScalar(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
            || scalar == "_" || scalar == "-"
    }

    mutating func bareKey() throws(SyntaxError) -> String {
        var key = ""
        while let scalar = current, Self.isBareKeyScalar(scalar) {
            key.unicodeScalars.append(scalar)
            advance()
        }
        guard !key.isEmpty else {
            if current == "\"" || current == "'" { throw error("quoted keys are not supported") }
            throw error("expected a key")
        }
        if current == "." { throw error("dotted keys are not supported") }
        return key
    }

    mutating func value() throws(SyntaxError) -> TOMLDocument.Value {
        switch current {
        case "\"": return .string(try basicString())
        case "'": return .string(try literalString())
        case "[": return .array(try array())
        case nil, "\n", "\r", "#": throw error("expected a value")
        default: return try scalarValue()
        }
    }

    mutating func array() throws(SyntaxError) -> [TOMLDocument.Value] {
        let opening = line
        guard arrayDepth < Self.maximumArrayDepth else {
            throw error("arrays nested more than \(Self.maximumArrayDepth) deep are not supported")
        }
        arrayDepth += 1
        defer { arrayDepth -= 1 }
        advance()
        var elements: [TOMLDocument.Value] = []
        while true {
            skipBlankLines()
            if current == "]" {
                advance()
                return elements
            }
            guard current != nil else { throw SyntaxError(line: opening, message: "array is not closed with ']'") }
            elements.append(try value())
            skipBlankLines()
            guard current != nil else { throw SyntaxError(line: opening, message: "array is not closed with ']'") }
            if current == "," {
                advance()
            } else if current != "]" {
                throw error("expected ',' or ']' in array")
            }
        }
    }

    mutating func basicString() throws(SyntaxError) -> String {
        advance()
        if current == "\"", position + 1 < text.count, text[position + 1] == "\"" {
            throw error("multi-line strings are not supported")
        }
        var result = ""
        while true {
            guard let scalar = current, scalar != "\n" else { throw error("string is not closed with '\"'") }
            advance()
            switch scalar {
            case "\"":
                return result
            case "\\":
                result.unicodeScalars.append(try escape())
            default:
                guard scalar.value >= 0x20 || scalar == "\t", scalar.value != 0x7F else {
                    throw error("control character in string")
                }
                result.unicodeScalars.append(scalar)
            }
        }
    }

    mutating func escape() throws(SyntaxError) -> Unicode.Scalar {
        guard let scalar = current else { throw error("string is not closed with '\"'") }
        advance()
        switch scalar {
        case "\"": return "\""
        case "\\": return "\\"
        case "n": return "\n"
        case "t": return "\t"
        case "r": return "\r"
        case "b": return "\u{8}"
        case "f": return "\u{C}"
        case "u", "U":
            let count = scalar == "u" ? 4 : 8
            var digits = ""
            for _ in 0..<count {
                guard let digit = current, digit.properties.isASCIIHexDigit else {
                    throw error("\\\(scalar) needs \(count) hex digits")
                }
                digits.unicodeScalars.append(digit)
                advance()
            }
            guard let code = UInt32(digits, radix: 16), let decoded = Unicode.Scalar(code) else {
                throw error("\\\(scalar)\(digits) is not a Unicode scalar")
            }
            return decoded
        default:
            throw error("invalid escape '\\\(String(scalar).escapedForMessage)'")
        }
    }

    mutating func literalString() throws(SyntaxError) -> String {
        advance()
        var result = ""
        while true {
            guard let scalar = current, scalar != "\n" else { throw error("string is not closed with \"'\"") }
            advance()
            if scalar == "'" { return result }
            guard scalar.value >= 0x20 || scalar == "\t", scalar.value != 0x7F else {
                throw error("control character in string")
            }
            result.unicodeScalars.append(scalar)
        }
    }

    /// An integer or boolean: the run of characters up to a separator, classified.
    mutating func scalarValue() throws(SyntaxError) -> TOMLDocument.Value {
        var word = ""
        while let scalar = current, !" \t\r\n#,]".unicodeScalars.contains(scalar) {
            word.unicodeScalars.append(scalar)
            advance()
        }
        switch word {
        case "true": return .boolean(true)
        case "false": return .boolean(false)
        default: break
        }
        let negative = word.hasPrefix("-")
        let digits = word.hasPrefix("-") || word.hasPrefix("+") ? String(word.dropFirst()) : word
        // No setting comes near 2^53; anything larger is a typo, not a value.
        let limit: UInt64 = 1 << 53
        guard let magnitude = parseDecimal(digits, saturatingAt: limit) else {
            throw error("'\(word.escapedForMessage)' is not a value (strings need quotes; integers are plain decimal)")
        }
        guard magnitude < limit else { throw error("'\(word)' is too large") }
        return .integer(negative ? -Int64(magnitude) : Int64(magnitude))
    }
}
