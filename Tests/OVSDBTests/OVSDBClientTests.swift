import OVSDB
import Testing

/// A server that answers from a script: what the client sent, and bytes to hand back.
final class ScriptedTransport: OVSDBTransport {
    let socketPath = "/test/db.sock"
    var sent: [String] = []
    var replies: [[UInt8]]

    init(_ replies: [String]) {
        self.replies = replies.map { Array($0.utf8) }
    }

    func send(_ bytes: [UInt8], deadline: Deadline) throws(OVSDBError) {
        sent.append(String(decoding: bytes, as: UTF8.self))
    }

    func receive(deadline: Deadline) throws(OVSDBError) -> [UInt8] {
        guard !replies.isEmpty else { throw .timedOut(socket: socketPath, milliseconds: deadline.milliseconds) }
        return replies.removeFirst()
    }
}

@Suite struct OVSDBClientTests {
    let deadline = Deadline(millisecondsFromNow: 1000)

    @Test func sendsOneTransactOfTheOperationsAndReadsItsAnswer() throws {
        let transport = ScriptedTransport([#"{"id":1,"result":[{"rows":[]}],"error":null}"#])
        let client = OVSDBClient(transport: transport)
        let results = try client.transact([.object([("op", .string("comment"))])], deadline: deadline)
        #expect(transport.sent == [#"{"method":"transact","params":["Open_vSwitch",{"op":"comment"}],"id":1}"#])
        #expect(results == [.object([("rows", .array([]))])])
    }

    @Test func answersAnEchoAndSkipsOtherMessagesWhileWaiting() throws {
        let transport = ScriptedTransport([
            #"{"method":"echo","params":[],"id":"echo"}{"method":"update","params":[null,{}],"id":null}"#,
            #"{"id":1,"result":[{},"#, #"{}],"error":null}"#,
        ])
        let results = try OVSDBClient(transport: transport).transact([.null, .null], deadline: deadline)
        #expect(results.count == 2)
        #expect(transport.sent.last == #"{"id":"echo","result":[],"error":null}"#)
    }

    @Test func reportsTheFirstOperationErrorWithItsDetails() {
        let transport = ScriptedTransport([
            #"{"id":1,"result":[{"uuid":["uuid","x"]},{"error":"constraint violation","details":"Transaction causes multiple rows in \"Bridge\" table to have identical values (\"brvx-5001\") for index on column \"name\"."}],"error":null}"#
        ])
        #expect {
            _ = try OVSDBClient(transport: transport).transact([.null, .null], deadline: deadline)
        } throws: { error in
            guard let error = error as? OVSDBError, error.isConflict else { return false }
            return error.description.hasPrefix("ovsdb-server refused the change: constraint violation (")
        }
    }

    @Test func aSilentServerCostsTheDeadlineAndSaysSoInOneLine() {
        let transport = ScriptedTransport([])
        #expect {
            _ = try OVSDBClient(transport: transport).transact([.null], deadline: Deadline(millisecondsFromNow: 2000))
        } throws: { error in
            "\(error)" == "ovsdb-server at unix:/test/db.sock did not answer within 2 s"
        }
    }

    @Test func findsTheSocketAsOpenvSwitchToolsDo() {
        #expect(OVSDBSocket.path { _ in nil } == "/var/run/openvswitch/db.sock")
        #expect(OVSDBSocket.path { $0 == "OVS_RUNDIR" ? "/tmp/ovs" : nil } == "/tmp/ovs/db.sock")
        #expect(OVSDBSocket.path { $0 == "OVS_RUNDIR" ? "" : nil } == "/var/run/openvswitch/db.sock")
    }

    @Test func aMissingSocketMeansOVSDBServerIsNotRunning() {
        #expect {
            _ = try OVSDBClient(socket: "/nonexistent/db.sock", deadline: deadline)
        } throws: { error in
            "\(error)".hasPrefix("ovsdb-server is not running: cannot connect to unix:/nonexistent/db.sock (")
        }
    }
}

@Suite struct VSwitchOperationTests {
    @Test func aNewSegmentIsOneTransactionWithOurMarkOnEveryRow() {
        var change = VSwitch.Change(
            bridge: "brvx-5001", vxlan: "vxlan5001", vni: 5001, datapathType: "netdev", mtu: 1450)
        change.createBridge = true
        change.addVXLANPort = true
        let text = JSON.array(VSwitch.operations(change)).encoded
        let mark = #""external_ids":["map",[["libvirt-vxlan-vni","5001"]]]"#
        #expect(text.components(separatedBy: mark).count - 1 == 5)
        #expect(
            text.contains(
                #"{"op":"insert","table":"Bridge","row":{"name":"brvx-5001","ports":["set",[["named-uuid","vxlan_port"],["named-uuid","bridge_port"]]],"datapath_type":"netdev","#
            ))
        #expect(text.contains(#""mtu_request":1450"#))
        #expect(text.contains(#"["bridges","insert",["set",[["named-uuid","bridge"]]]]"#))
        #expect(text.contains(#"["next_cfg","+=",1]"#))
    }

    @Test func aMissingPortOnOurBridgeIsAddedByMutationNotByRewritingPorts() {
        var change = VSwitch.Change(
            bridge: "brvx-5001", vxlan: "vxlan5001", vni: 5001, datapathType: "system", mtu: nil)
        change.bridgeUUID = "b"
        change.addVXLANPort = true
        let text = JSON.array(VSwitch.operations(change)).encoded
        // libvirt adds guests' taps to the same Ports column meanwhile: insert, never set.
        #expect(
            text.contains(
                #"{"op":"mutate","table":"Bridge","where":[["_uuid","==",["uuid","b"]]],"mutations":[["ports","insert",["set",[["named-uuid","vxlan_port"]]]]]}"#
            ))
        #expect(!text.contains(#""table":"Bridge","row""#))
    }
}
