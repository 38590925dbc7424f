#ifndef LIBVIRT_VXLAN_CLIBXML2_SHIM_H
#define LIBVIRT_VXLAN_CLIBXML2_SHIM_H

/* Debian's libxml2 is built with ICU; its UErrorCode clashes with Foundation's
 * copy in a clean build. We never use the ICU encoders, so hide them. */
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED

#include <libxml/parser.h>
#include <libxml/tree.h>

/* xmlFree is a global function pointer, which Swift 6 rejects as not
 * concurrency-safe; call it through a function. */
static inline void libvirt_vxlan_xml_free(void *pointer) {
    xmlFree(pointer);
}

#endif
