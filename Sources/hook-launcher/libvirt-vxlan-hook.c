/*
 * libvirt-vxlan-hook: the program libvirt runs, through the hook entries
 * /etc/libvirt/hooks/qemu.d/50-libvirt-vxlan and .../network.d/50-libvirt-vxlan.
 *
 * libvirt runs every hook synchronously at every step of every guest's and
 * network's life, about six times per guest start and stop, and most steps
 * concern libvirt-vxlan not at all. This program answers those itself, at the
 * cost of an exec of a small C program that loads nothing but libc. For the
 * steps it acts on, it executes libvirt-vxlan-hook-worker (Swift, libxml2,
 * libnl: the hook proper) from its own folder, with the same arguments and the
 * same stdin, so that only those pay for loading Debian's shared libraries.
 *
 * Which steps act, and which folder is which driver's, is the worker's
 * HookCall.actedOn and HookCall.Driver (Sources/VXLANCore/HookCall.swift):
 * acted-phases.h is generated from them, Tests/HookRuntimeTests fails while it
 * differs, and runs this program and the worker's rules over the same calls and paths.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "acted-phases.h"

/* The driver named NAME (--kind), as hook_drivers spells it; NULL for no driver. */
static const char *driver_named(const char *name) {
    for (size_t i = 0; i < sizeof hook_drivers / sizeof hook_drivers[0]; i++) {
        if (strcmp(name, hook_drivers[i].name) == 0)
            return hook_drivers[i].name;
    }
    return NULL;
}

/* The driver whose folder is the path's last component but one, exactly as written:
 * hooks/qemu.d/50-libvirt-vxlan is qemu's; NULL for any other path. */
static const char *driver_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return NULL;
    const char *start = slash;
    while (start > path && start[-1] != '/')
        start--;
    size_t length = (size_t)(slash - start);
    for (size_t i = 0; i < sizeof hook_drivers / sizeof hook_drivers[0]; i++) {
        if (strlen(hook_drivers[i].folder) == length && strncmp(start, hook_drivers[i].folder, length) == 0)
            return hook_drivers[i].name;
    }
    return NULL;
}

static int acts(const char *driver, const char *operation, const char *sub_operation) {
    for (size_t i = 0; i < sizeof acted_phases / sizeof acted_phases[0]; i++) {
        if (strcmp(driver, acted_phases[i].driver) == 0 && strcmp(operation, acted_phases[i].operation) == 0 &&
            strcmp(sub_operation, acted_phases[i].sub_operation) == 0)
            return 1;
    }
    return 0;
}

int main(int argc, char *argv[]) {
    /* [--kind qemu|network] OBJECT OPERATION SUBOPERATION [EXTRA]; anything else is the
     * worker's to refuse, with its usage message. */
    int first = 1;
    const char *driver = argc > 0 ? driver_of(argv[0]) : NULL;
    if (argc > 2 && strcmp(argv[1], "--kind") == 0) {
        driver = driver_named(argv[2]);
        first = 3;
    }
    int rest = argc - first;
    if (driver != NULL && (rest == 3 || rest == 4) && !acts(driver, argv[first + 1], argv[first + 2]))
        return 0;

    char worker[PATH_MAX];
    ssize_t length = readlink("/proc/self/exe", worker, sizeof worker - 1);
    if (length < 0) {
        fprintf(stderr, "libvirt-vxlan: cannot find the hook's folder (/proc/self/exe): %s\n", strerror(errno));
        return 1;
    }
    worker[length] = '\0';
    char *slash = strrchr(worker, '/');
    static const char name[] = "libvirt-vxlan-hook-worker";
    if (slash == NULL || (size_t)(slash + 1 - worker) + sizeof name > sizeof worker) {
        fprintf(stderr, "libvirt-vxlan: the hook's path is too long\n");
        return 1;
    }
    memcpy(slash + 1, name, sizeof name);
    /* argv[0] stays the entry's path: the worker tells the driver from it too. */
    execv(worker, argv);
    fprintf(stderr, "libvirt-vxlan: cannot run %s: %s\n", worker, strerror(errno));
    return 1;
}
