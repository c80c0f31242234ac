/* SPDX-License-Identifier: MIT */
/*
 * The kernel's side of the rates' shaper (gw_bpf_abi.h, "Rates"): HTB
 * qdiscs and classes and the ifb, over rtnetlink, in the caller's network
 * namespace.  Only the loader (loader.c) calls these; they know nothing of
 * the maps.  Every function is 0 or -errno (the kernel's answer).
 */
#ifndef GW_EBPF_SHAPER_H
#define GW_EBPF_SHAPER_H

#include <stdint.h>

/* The ifb `name`, made (and set up) if missing: its ifindex in *ret. */
int gwbpf_tc_ifb(const char *name, int *ret_ifindex);
/* Removes the ifb `name`; -ENODEV: none. */
int gwbpf_tc_ifb_del(const char *name);
/* The interface's root qdisc is gw's HTB (handle major:): made, replacing
 * whatever root qdisc was there, unless it is there already.  What no
 * class takes goes through HTB's direct queue, unshaped. */
int gwbpf_tc_htb_root(int ifindex, uint16_t major);
/* Removes gw's root HTB from the interface (the kernel puts its default
 * back); -ENOENT: it is not there. */
int gwbpf_tc_htb_root_del(int ifindex, uint16_t major);
/* Class `classid` of gw's root HTB, of rate and ceil rate_bps, with a byte
 * FIFO of 100 ms at that rate (at least 64 KiB) as its queue: made, or
 * changed if it is there. */
int gwbpf_tc_class(int ifindex, uint32_t classid, uint64_t rate_bps);
/* Removes the class and its queue; -ENOENT: not there. */
int gwbpf_tc_class_del(int ifindex, uint32_t classid);

#endif
