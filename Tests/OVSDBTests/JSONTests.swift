import OVSDB
import Testing

@Suite struct JSONTests {
    @Test func encodesObjectsInOrderWithEscapes() {
        let value: JSON = .object([
            ("b", .string("a\"b\\c\n\u{01}")), ("a", .array([.integer(-3), .null, .bool(true)])),
        ])
        #expect(value.encoded == #"{"b":"a\"b\\c\n\u0001","a":[-3,null,true]}"#)
    }

    @Test func parsesWhatItWrites() throws {
        let value: JSON = .object([
            ("id", .integer(7)), ("result", .array([.object([("rows", .array([]))])])), ("error", .null),
            ("text", .string("é ✓ \u{1F600}")), ("real", .real(1.5)),
        ])
        #expect(try JSON(parsing: Array(value.encoded.utf8)) == value)
    }

    @Test func parsesUnicodeEscapesAndSurrogatePairs() throws {
        #expect(try JSON(parsing: Array(#""\u00e9\ud83d\ude00""#.utf8)) == .string("é\u{1F600}"))
    }

    @Test func refusesMalformedInput() {
        for text in ["{", "[1,]", #"{"a" 1}"#, "tru", "\"abc", "[1] 2", #""\x""#, "{\"a\":\"\u{01}\"}"] {
            #expect(throws: JSONError.self) { try JSON(parsing: Array(text.utf8)) }
        }
    }

    @Test func refusesNestingDeeperThanItsLimit() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: JSONError.self) { try JSON(parsing: Array(deep.utf8)) }
    }

    @Test func findsWhereOneMessageEndsInAStream() {
        let stream = Array(#"{"id":1,"s":"}]\"{"}{"id":2}"#.utf8)
        #expect(JSON.completeValueLength(in: stream[...]) == 20)
        #expect(JSON.completeValueLength(in: stream[..<19]) == nil)
        #expect(JSON.completeValueLength(in: Array(" \n{\"a\":[1]}".utf8)[...]) == 11)
    }

    @Test func readsOVSDBNotation() {
        let set = JSON.set([.uuid("a"), .uuid("b")])
        #expect(set.setElements.compactMap(\.uuidValue) == ["a", "b"])
        #expect(JSON.uuid("c").setElements.compactMap(\.uuidValue) == ["c"])
        #expect(JSON.map([("libvirt-vxlan-vni", "5001")]).stringMap == ["libvirt-vxlan-vni": "5001"])
        #expect(JSON.set([]).setElements.isEmpty)
    }
}
