#ifndef LIBVIRT_VXLAN_CATOMIC_SHIM_H
#define LIBVIRT_VXLAN_CATOMIC_SHIM_H

#include <stdint.h>

/* Atomic operations on 64-bit counters in memory that several processes map (the
 * counters file under /run/libvirt-vxlan/metrics): Swift's Synchronization module has
 * no atomic view of memory it did not allocate. Relaxed order: each counter stands
 * alone, and a reader needs no order between them. */
static inline void lvx_atomic_add(uint64_t *slot, uint64_t value) {
    __atomic_fetch_add(slot, value, __ATOMIC_RELAXED);
}

static inline void lvx_atomic_store(uint64_t *slot, uint64_t value) {
    __atomic_store_n(slot, value, __ATOMIC_RELAXED);
}

static inline uint64_t lvx_atomic_load(uint64_t *slot) {
    return __atomic_load_n(slot, __ATOMIC_RELAXED);
}

/* Sets *slot to desired if it holds expected; returns what it held. */
static inline uint64_t lvx_atomic_compare_exchange(uint64_t *slot, uint64_t expected, uint64_t desired) {
    __atomic_compare_exchange_n(slot, &expected, desired, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    return expected;
}

#endif
