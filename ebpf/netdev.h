/* SPDX-License-Identifier: MIT */
/*
 * A device's XDP features (the kernel's netdev generic netlink family).
 * Functions return 0 or -errno and never log.
 */
#ifndef GW_EBPF_NETDEV_H
#define GW_EBPF_NETDEV_H

#include <stdint.h>

/* include/uapi/linux/netdev.h: enum netdev_xdp_act. */
#define GWBPF_XDP_ACT_NDO_XMIT 0x4ull /* takes XDP frames from a redirect */

struct gwbpf_netdev;

/* A generic netlink socket, the netdev family resolved.  A kernel without
 * the family (before 6.3) opens all the same: every query then gives
 * -EOPNOTSUPP. */
int gwbpf_netdev_open(struct gwbpf_netdev **ret);
void gwbpf_netdev_close(struct gwbpf_netdev *d);
/* NETDEV_A_DEV_XDP_FEATURES of ifindex (NETDEV_XDP_ACT_* bits):
 * -ENODEV for no such device. */
int gwbpf_netdev_xdp_features(struct gwbpf_netdev *d, int ifindex, uint64_t *ret);

#endif
