import CNetlink

/// One rtnetlink request under construction: a libnl `nl_msg` with a fixed header and
/// attributes. The one message builder every raw request goes through.
struct NetlinkMessage {
    private let message: OpaquePointer

    /// - Parameters:
    ///   - type: RTM_SETLINK, RTM_GETLINK, RTM_NEWNEIGH...
    ///   - flags: NLM_F_* beyond NLM_F_REQUEST (libnl adds REQUEST and ACK itself).
    ///   - header: the family header (ifinfomsg, ndmsg, ifaddrmsg), copied as is.
    init<Header>(type: Int32, flags: Int32 = 0, header: Header) {
        // nlmsg_alloc_simple only fails when malloc does; so does the rest of Swift.
        guard let message = nlmsg_alloc_simple(type, flags) else { fatalError("out of memory") }
        self.message = message
        var header = header
        _ = withUnsafeMutableBytes(of: &header) { raw in
            nlmsg_append(message, raw.baseAddress, raw.count, Int32(NLMSG_ALIGNTO))
        }
    }

    /// Hands the message to libnl, which frees it.
    func take() -> OpaquePointer { message }

    func put(_ attribute: Int32, uint32 value: UInt32) {
        nla_put_u32(message, attribute, value)
    }

    func put(_ attribute: Int32, uint8 value: UInt8) {
        nla_put_u8(message, attribute, value)
    }

    func put(_ attribute: Int32, string value: String) {
        nla_put_string(message, attribute, value)
    }

    func put(_ attribute: Int32, bytes value: [UInt8]) {
        value.withUnsafeBytes { raw in _ = nla_put(message, attribute, Int32(raw.count), raw.baseAddress) }
    }

    /// Attributes added inside `body` go into a nested attribute.
    func nest(_ attribute: Int32, _ body: () -> Void) {
        let start = nla_nest_start(message, attribute)
        body()
        nla_nest_end(message, start)
    }
}

extension ifinfomsg {
    init(family: Int32 = AF_UNSPEC, index: Int32 = 0, flags: UInt32 = 0, change: UInt32 = 0) {
        self.init()
        ifi_family = UInt8(family)
        ifi_index = index
        ifi_flags = flags
        ifi_change = change
    }
}
