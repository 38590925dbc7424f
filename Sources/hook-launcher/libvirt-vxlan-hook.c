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
 * Which steps act is the worker's HookCall.action table; Tests/HookRuntimeTests
 * runs this program over every documented step and checks that the two agree.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct step {
    const char *driver;
    const char *operation;
    const char *sub_operation;
};

/* The calls the worker acts on; every other one it ignores (exit 0). */
static const struct step acted_on[] = {
    {"qemu", "prepare", "begin"},       {"qemu", "migrate", "begin"},  {"qemu", "restore", "begin"},
    {"qemu", "reconnect", "begin"},     {"qemu", "attach", "begin"},   {"qemu", "release", "end"},
    {"network", "start", "begin"},      {"network", "port-created", "begin"},
    {"network", "port-deleted", "begin"}, {"network", "stopped", "end"},
};

/* The driver is the folder the hook was called from: hooks/qemu.d or hooks/network.d. */
static const char *driver_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return NULL;
    const char *start = slash;
    while (start > path && start[-1] != '/')
        start--;
    size_t length = (size_t)(slash - start);
    if (length == 6 && strncmp(start, "qemu.d", 6) == 0)
        return "qemu";
    if (length == 9 && strncmp(start, "network.d", 9) == 0)
        return "network";
    return NULL;
}

static int acts(const char *driver, const char *operation, const char *sub_operation) {
    for (size_t i = 0; i < sizeof acted_on / sizeof acted_on[0]; i++) {
        if (strcmp(driver, acted_on[i].driver) == 0 && strcmp(operation, acted_on[i].operation) == 0 &&
            strcmp(sub_operation, acted_on[i].sub_operation) == 0)
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
        driver = strcmp(argv[2], "qemu") == 0 || strcmp(argv[2], "network") == 0 ? argv[2] : NULL;
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
