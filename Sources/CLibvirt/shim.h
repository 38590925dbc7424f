#ifndef LIBVIRT_VXLAN_CLIBVIRT_SHIM_H
#define LIBVIRT_VXLAN_CLIBVIRT_SHIM_H

/* Used by vxlanctl only: linking libvirt costs ~10 ms of start-up, which the
 * hook binary must never pay. */
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#endif
