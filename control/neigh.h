/* SPDX-License-Identifier: MIT */
/*
 * The kernel's neighbour tables as the identity registry reads them
 * (docs/dns.md, "Devices and their names"): rtnetlink RTM_NEWNEIGH and
 * RTM_DELNEIGH messages, from a dump at start and as they happen, so every
 * IPv4 and IPv6 address a device uses towards the gateway (SLAAC and
 * privacy addresses too) is known with its MAC.
 *
 * gwd_neigh_parse checks every message it reads (lengths, attribute
 * sizes, address families) before it hands an entry on: what the kernel
 * sends is trusted to be framed, but the table's content comes from ARP
 * and neighbour discovery packets of the LAN.  gwd_neighmon is the socket
 * on gwd's event loop.
 */
#ifndef GW_CONTROL_NEIGH_H
#define GW_CONTROL_NEIGH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

struct gwd_neigh {
	int ifindex;
	uint8_t family;   /* 4 or 6 */
	uint8_t addr[16]; /* unicast: not multicast, not unspecified, not loopback */
	uint8_t mac[6];   /* unicast, not zero; valid when has_mac */
	bool has_mac;
	bool gone;        /* deleted, or the address stopped answering (FAILED, INCOMPLETE) */
	bool confirmed;   /* the kernel heard from it just now (REACHABLE, PERMANENT) */
};

/*
 * Every neighbour entry in buf (len bytes: one datagram of netlink
 * messages) to cb; other messages are passed over.  Entries of no
 * interest (multicast, NOARP, no usable address) are skipped.  *ret_done
 * is set when the datagram ends a dump (NLMSG_DONE).  -EINVAL when the
 * framing is broken: entries before it were handed on.
 */
int gwd_neigh_parse(const void *buf, size_t len,
		    void (*cb)(const struct gwd_neigh *n, void *arg), void *arg, bool *ret_done);

/*
 * The neighbour socket: subscribes to the kernel's neighbour events and
 * dumps the tables at start (and again after the kernel dropped events:
 * ENOBUFS).  on_entry gets each entry of the ports named (ifnames, looked
 * up again when an interface is recreated) with the dump's epoch;
 * on_dump_done(epoch) after each full dump.
 */
struct gwd_neighmon;
struct gwd_neighmon_ops {
	void (*on_entry)(const struct gwd_neigh *n, uint32_t epoch, void *arg);
	void (*on_dump_done)(uint32_t epoch, void *arg);
};
int gwd_neighmon_new(struct event_base *base, const char (*ifnames)[16], size_t n,
		     const struct gwd_neighmon_ops *ops, void *arg, struct gwd_neighmon **ret);
void gwd_neighmon_free(struct gwd_neighmon *m);

#endif
