/// A network device's traffic counters as the kernel keeps them (IFLA_STATS64, what
/// `ip -s link show DEV` prints): since the device was created, so a segment torn down
/// and made again starts from zero, which Prometheus reads as a counter reset.
public struct LinkCounters: Hashable, Sendable {
    public var receivedPackets: UInt64
    public var receivedBytes: UInt64
    public var receiveDrops: UInt64
    public var receiveErrors: UInt64
    public var transmittedPackets: UInt64
    public var transmittedBytes: UInt64
    public var transmitDrops: UInt64
    public var transmitErrors: UInt64

    public init(
        receivedPackets: UInt64 = 0, receivedBytes: UInt64 = 0, receiveDrops: UInt64 = 0, receiveErrors: UInt64 = 0,
        transmittedPackets: UInt64 = 0, transmittedBytes: UInt64 = 0, transmitDrops: UInt64 = 0,
        transmitErrors: UInt64 = 0
    ) {
        self.receivedPackets = receivedPackets
        self.receivedBytes = receivedBytes
        self.receiveDrops = receiveDrops
        self.receiveErrors = receiveErrors
        self.transmittedPackets = transmittedPackets
        self.transmittedBytes = transmittedBytes
        self.transmitDrops = transmitDrops
        self.transmitErrors = transmitErrors
    }
}
