#ifndef LIBVIRT_VXLAN_CNETLINK_SHIM_H
#define LIBVIRT_VXLAN_CNETLINK_SHIM_H

#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/vxlan.h>
#include <netlink/route/link/inet6.h>
#include <netlink/route/addr.h>
#include <netlink/route/neighbour.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/if_bridge.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

/* What the kernel said about the last failed request. libnl turns the kernel's errno
 * into its own NLE_* codes (ENOBUFS becomes "Out of memory") and drops the extended
 * ack text ("vxlan: A VXLAN device with the specified VNI already exists"); an
 * operator needs both, so an error callback keeps them here. */
struct lvx_kernel_error {
    int error;           /* positive errno, 0 when the last ack was a success */
    char message[256];   /* NLMSGERR_ATTR_MSG, empty when the kernel gave none */
};

static inline int lvx_capture_error(struct sockaddr_nl *who, struct nlmsgerr *err, void *arg) {
    (void)who;
    struct lvx_kernel_error *out = (struct lvx_kernel_error *)arg;
    out->error = -err->error;
    out->message[0] = '\0';
    /* The nlmsgerr sits right after its own header; with NLM_F_ACK_TLVS the extended
     * ack attributes follow the (capped) copy of our request. */
    struct nlmsghdr *header = (struct nlmsghdr *)((char *)err - NLMSG_HDRLEN);
    if (header->nlmsg_flags & NLM_F_ACK_TLVS) {
        size_t offset = sizeof(*err);
        if (!(header->nlmsg_flags & NLM_F_CAPPED))
            offset += err->msg.nlmsg_len - NLMSG_HDRLEN;
        int length = (int)header->nlmsg_len - NLMSG_HDRLEN - (int)offset;
        struct nlattr *attribute;
        int remaining;
        if (length > 0) {
            nla_for_each_attr(attribute, (struct nlattr *)((char *)err + offset), length, remaining) {
                if (nla_type(attribute) == NLMSGERR_ATTR_MSG) {
                    nla_strlcpy(out->message, attribute, sizeof(out->message));
                    break;
                }
            }
        }
    }
    return NL_STOP;
}

/* Asks for extended acks, strict dump filtering, and routes errors through
 * lvx_capture_error. Returns 0 or a negative NLE code. */
static inline int lvx_socket_prepare(struct nl_sock *socket, struct lvx_kernel_error *capture) {
    int one = 1;
    int fd = nl_socket_get_fd(socket);
    setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
    setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
    if (setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof(one)) < 0)
        return -NLE_OPNOTSUPP;
    /* One recvmsg per message instead of a MSG_PEEK for its size first: a buffer larger
     * than any message the kernel sends (dump batches are at most 32 KiB). */
    nl_socket_set_msg_buf_size(socket, 65536);
    nl_socket_disable_msg_peek(socket);
    return nl_socket_modify_err_cb(socket, NL_CB_CUSTOM, lvx_capture_error, capture);
}

/* setns(2) is declared only under _GNU_SOURCE, which a module header cannot count on. */
extern int setns(int fd, int nstype);
static inline int lvx_enter_network_namespace(int fd) {
    return setns(fd, 0x40000000 /* CLONE_NEWNET */);
}

/* Moves the calling thread alone into a new, empty network namespace. */
extern int unshare(int flags);
static inline int lvx_unshare_network_namespace(void) {
    return unshare(0x40000000 /* CLONE_NEWNET */);
}

#endif
