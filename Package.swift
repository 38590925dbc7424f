// swift-tools-version:6.1
import PackageDescription

/// Warnings are errors in every target we own (libvirt's Makefile does the same).
let strict: [SwiftSetting] = [.unsafeFlags(["-warnings-as-errors"])]

/// The modules linked into the hook, whose start-up cost libvirt pays at every call.
/// Concrete generic types (a `[String: Entry]`, a `Set<VNI>`) get direct metadata
/// accessors instead of mangled-name lookups, each of which made the runtime scan every
/// conformance record of the binary. Release builds put each function in a section of its
/// own, which the hook's link orders (hot-functions.order).
let hookModule: [SwiftSetting] =
    strict + [
        .unsafeFlags(["-Xfrontend", "-disable-concrete-type-metadata-mangled-name-accessors"]),
        .unsafeFlags(["-Xfrontend", "-function-sections"], .when(configuration: .release)),
    ]

/// The hook's release link. Debian's libxml2 and libnl are shared libraries (security
/// updates reach the hook); the Swift runtime, which Debian does not ship, is static. The
/// executable is position-independent, its relocations packed (DT_RELR). ld.lld places
/// the functions a hook call executes (hot-functions.order, written by
/// Benchmarks/hot-functions, checked by `Benchmarks/instructions --check`) together at
/// the start of .text, so a call faults in fewer pages of code; an entry the binary no
/// longer has is a linker warning. The executable exports no symbol (--no-export-dynamic,
/// after the driver's -export-dynamic): nothing loads against it, and the Swift runtime's
/// dladdr lookups at start-up walk the dynamic symbol table, at every call.
let hotFunctions = Context.packageDirectory + "/Sources/libvirt-vxlan-hook/hot-functions.order"
let hookLink =
    ["-use-ld=lld"]
    + ["-z", "pack-relative-relocs", "--no-export-dynamic", "--symbol-ordering-file=\(hotFunctions)"].flatMap {
        ["-Xlinker", $0]
    }

let package = Package(
    name: "libvirt-vxlan",
    products: [
        .executable(name: "vxlanctl", targets: ["vxlanctl"]),
        .executable(name: "libvirt-vxlan-hook", targets: ["libvirt-vxlan-hook"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
    ],
    targets: [
        // C libraries from Debian's -dev packages, each behind a modulemap and a shim header.
        .systemLibrary(
            name: "CLibXML2", pkgConfig: "libxml-2.0",
            providers: [.apt(["libxml2-dev"])]),
        .systemLibrary(
            name: "CNetlink", pkgConfig: "libnl-route-3.0",
            providers: [.apt(["libnl-3-dev", "libnl-route-3-dev"])]),
        .systemLibrary(
            name: "CLibvirt", pkgConfig: "libvirt",
            providers: [.apt(["libvirt-dev"])]),
        // syslog(3) without C varargs (libc: nothing to link).
        .systemLibrary(name: "CSyslog"),
        // Atomic adds on counters in a file several processes map (header only).
        .systemLibrary(name: "CAtomic"),

        // Pure logic: configuration, names, VNIs, addresses, the plan. Imports no C library.
        .target(name: "VXLANCore", swiftSettings: hookModule),
        // libvirt's domain and network XML, read through libxml2 into VXLANCore values.
        .target(name: "LibvirtXML", dependencies: ["CLibXML2", "VXLANCore"], swiftSettings: hookModule),
        // rtnetlink through libnl: links, bridges, vxlan devices, fdb entries; the converger.
        .target(name: "HostNetwork", dependencies: ["CNetlink", "OVSDB", "VXLANCore"], swiftSettings: hookModule),
        // Open vSwitch's database over its unix socket (RFC 7047 JSON-RPC), no Foundation,
        // every call bounded by a timeout: the OVS bridges of segments on OVS hosts.
        .target(name: "OVSDB", swiftSettings: hookModule),
        // The rules of a segment's life (join, leave, reconcile, teardown, rollback) over
        // protocols for links, user records and locks; HookRuntime implements them. Links no
        // netlink: the values it decides on live in VXLANCore.
        .target(name: "Lifecycle", dependencies: ["VXLANCore"], swiftSettings: hookModule),

        // ICMP echo with don't-fragment to other VTEPs, all at once: vxlanctl check --peers.
        .target(name: "PathProbe", dependencies: ["VXLANCore"], swiftSettings: strict),

        // Child processes started clean (posix_spawn): vxlanctl's commands, the tests' daemons,
        // the benchmark's samples.
        .target(name: "Spawn", swiftSettings: strict),

        // The libvirt API (networks), for vxlanctl only: linking libvirt costs the hook ~10 ms.
        .target(name: "LibvirtClient", dependencies: ["CLibvirt"], swiftSettings: strict),

        // The hook at run time: argv and stdin, dispatch, configuration file, user records
        // and locks under /run, the journal, the detached teardown.
        .target(
            name: "HookRuntime",
            dependencies: ["CAtomic", "CSyslog", "VXLANCore", "LibvirtXML", "HostNetwork", "Lifecycle"],
            swiftSettings: hookModule),

        // What an operator graphs: the Prometheus exposition, the host's segments and
        // counters as metric families, /metrics and node_exporter's textfile for the
        // watcher. vxlanctl only: every symbol linked into the hook costs each call.
        .target(
            name: "Metrics", dependencies: ["VXLANCore", "HostNetwork", "Lifecycle", "HookRuntime"],
            swiftSettings: strict),

        // The libvirt hook: argv + stdin -> HookRuntime. Links no libvirt (start-up cost).
        .executableTarget(
            name: "libvirt-vxlan-hook", dependencies: ["HookRuntime"], exclude: ["hot-functions.order"],
            swiftSettings: hookModule,
            linkerSettings: [.unsafeFlags(hookLink, .when(configuration: .release))]),

        .executableTarget(
            name: "vxlanctl",
            dependencies: [
                "VXLANCore", "HostNetwork", "HookRuntime", "Lifecycle", "LibvirtClient", "LibvirtXML", "Metrics",
                "OVSDB", "PathProbe", "Spawn", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),

        // Benchmarks/run: the hook per phase, at scale and in storms, against baselines.
        .executableTarget(
            name: "hook-benchmark",
            dependencies: [
                "HostNetwork", "Spawn", "VXLANCore", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/HookBenchmark", swiftSettings: strict),

        // Network namespaces, commands and temporary folders for the root tests.
        .target(
            name: "NamespaceTestSupport", dependencies: ["HostNetwork", "Spawn"], path: "Tests/NamespaceTestSupport",
            swiftSettings: strict),
        // In-memory links, user records and locks for the lifecycle's rules.
        .target(
            name: "LifecycleFakes", dependencies: ["Lifecycle", "VXLANCore"],
            path: "Tests/LifecycleFakes", swiftSettings: strict),
        // An in-memory kernel under the converger, for its branches without root.
        .target(
            name: "KernelFakes", dependencies: ["HostNetwork", "OVSDB", "VXLANCore"], path: "Tests/KernelFakes",
            swiftSettings: strict),
        .testTarget(name: "VXLANCoreTests", dependencies: ["VXLANCore"], swiftSettings: strict),
        .testTarget(
            name: "MetricsTests", dependencies: ["Metrics", "VXLANCore", "NamespaceTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "OVSDBTests", dependencies: ["OVSDB", "NamespaceTestSupport", "Spawn"], swiftSettings: strict),
        .testTarget(name: "PathProbeTests", dependencies: ["PathProbe", "VXLANCore"], swiftSettings: strict),
        .testTarget(
            name: "LifecycleTests", dependencies: ["Lifecycle", "LifecycleFakes", "VXLANCore"],
            swiftSettings: strict),
        .testTarget(
            name: "LibvirtXMLTests", dependencies: ["LibvirtXML", "VXLANCore", "CLibXML2"],
            resources: [.copy("Fixtures")], swiftSettings: strict),
        .testTarget(
            name: "LibvirtClientTests", dependencies: ["LibvirtClient", "LibvirtXML", "VXLANCore"],
            swiftSettings: strict),
        .testTarget(
            name: "HookRuntimeTests",
            dependencies: [
                "HookRuntime", "Lifecycle", "LifecycleFakes", "Metrics", "VXLANCore", "HostNetwork",
                "NamespaceTestSupport", "Spawn",
                "libvirt-vxlan-hook", "vxlanctl",
            ],
            swiftSettings: strict),
        .testTarget(
            name: "EndToEndTests", dependencies: ["NamespaceTestSupport", "libvirt-vxlan-hook", "vxlanctl"],
            swiftSettings: strict),
        .testTarget(
            name: "HostNetworkTests",
            dependencies: ["HostNetwork", "OVSDB", "VXLANCore", "KernelFakes", "NamespaceTestSupport", "vxlanctl"],
            swiftSettings: strict),
    ]
)
