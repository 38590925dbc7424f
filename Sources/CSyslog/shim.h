#ifndef LIBVIRT_VXLAN_CSYSLOG_SHIM_H
#define LIBVIRT_VXLAN_CSYSLOG_SHIM_H

#include <syslog.h>

/* syslog(3) is variadic, which Swift reaches only through CVarArg and withVaList: boxing
 * one C string that way makes the runtime search the binary's protocol conformances, some
 * 300,000 instructions per hook call that logs. One fixed-format call instead. */
static inline void libvirt_vxlan_syslog(int priority, const char *message) {
    syslog(priority, "%s", message);
}

#endif
