/*
 * Generated from Sources/VXLANCore/HookCall.swift (HookCall.Driver, HookCall.actedOn) by
 * Tests/HookRuntimeTests/LauncherHeader.swift: do not edit. After a change there, run
 *     LIBVIRT_VXLAN_WRITE_LAUNCHER_HEADER=1 swift test --filter HookLauncherTests.GeneratedHeader
 * and commit the result; HookLauncherTests fails while this file differs from the Swift.
 */

/* Each driver, and the folder whose hook entries it runs: hooks/<folder>/50-libvirt-vxlan. */
static const struct hook_driver {
    const char *name;
    const char *folder;
} hook_drivers[] = {
    {"qemu", "qemu.d"},
    {"network", "network.d"},
};

/* The calls the worker acts on; the launcher answers every other one itself (exit 0). */
static const struct acted_phase {
    const char *driver;
    const char *operation;
    const char *sub_operation;
} acted_phases[] = {
    {"qemu", "prepare", "begin"},
    {"qemu", "migrate", "begin"},
    {"qemu", "restore", "begin"},
    {"qemu", "reconnect", "begin"},
    {"qemu", "attach", "begin"},
    {"qemu", "release", "end"},
    {"network", "start", "begin"},
    {"network", "port-created", "begin"},
    {"network", "port-deleted", "begin"},
    {"network", "stopped", "end"},
};
