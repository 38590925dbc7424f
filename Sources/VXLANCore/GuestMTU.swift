/// A virtio guest learns its NIC's MTU only from `<mtu size='N'/>` on the `<interface>`;
/// without it the guest keeps 1500, and on a segment that carries less every larger frame
/// is lost without an error (SSH sessions hang, large pages never load). libvirt refuses
/// `<mtu>` on `forward mode='bridge'` networks, so it has to be on each guest NIC. The
/// hook, `vxlanctl check` and `vxlanctl guest-mtu` decide and word this the same way.
extension GuestInterface {
    /// The MTU a virtio guest uses on this NIC: what `<mtu>` asks for, else Ethernet's 1500.
    public static let defaultGuestMTU = 1500

    /// Whether the guest would send frames a segment of `segmentMTU` bytes cannot carry:
    /// no `<mtu>` on a segment below 1500, or an `<mtu>` above the segment's.
    public func exceeds(segmentMTU: Int) -> Bool {
        (mtu ?? Self.defaultGuestMTU) > segmentMTU
    }

    /// How messages name the NIC: "NIC 52:54:00:12:34:56", or "a NIC" before libvirt gave it a MAC.
    public var label: String { mac.map { "NIC \($0)" } ?? "a NIC" }

    /// What is wrong and the line that fixes it, for a segment of `segmentMTU` bytes:
    /// "NIC 52:54:00:12:34:56 has no <mtu>: the guest keeps 1500 on a 1400-byte segment and
    /// loses larger frames; add <mtu size='1400'/> to its <interface>".
    public func mtuAdvice(segmentMTU: Int) -> String {
        let asks = mtu.map { "asks for <mtu size='\($0)'/>" } ?? "has no <mtu>"
        let keeps = mtu.map { "sends up to \($0) bytes" } ?? "the guest keeps \(Self.defaultGuestMTU)"
        let fix = mtu == nil ? "add <mtu size='\(segmentMTU)'/> to" : "set <mtu size='\(segmentMTU)'/> in"
        return
            "\(label) \(asks): \(keeps) on a \(segmentMTU)-byte segment and loses larger frames; \(fix) its <interface>"
    }
}

extension SegmentPlan {
    /// The segment's MTU on an underlay of `underlayMTU` bytes (nil: none known). With no
    /// underlay to measure, the kernel gives a vxlan device 1500 - 50.
    public func segmentMTU(underlayMTU: Int?) -> Int {
        mtu.mtu(underlayMTU: underlayMTU, family: family) ?? 1450
    }
}
