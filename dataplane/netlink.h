/* SPDX-License-Identifier: MIT */
/*
 * The netlink mirror: what the fast path needs of the kernel's tables on
 * the twins (twin.h), kept by the main lcore with libmnl.
 *
 * Two NETLINK_ROUTE sockets: one subscribed to neighbour, IPv4 and IPv6
 * route and address events (read non-blocking from dp_nl_poll), one for requests
 * that wait for their answer (the dumps at start and after an overrun,
 * address set-up, neighbour resolution).  The event socket subscribes
 * before the dumps run, so nothing falls between them; an event older
 * than a dump that is read after it changes nothing a later one does not.
 *
 * What is mirrored:
 *   - the IPv4 and the IPv6 default route of the main table that leave
 *     through the WAN twin (each family's lowest metric wins), and their
 *     gateways (IPv6: usually the router's link-local fe80:: address, as
 *     router advertisements or a static route give it);
 *   - the IPv4 and IPv6 neighbours on both twins (up to DP_NL_NEIGH_MAX
 *     together; when full, a WAN twin's entry takes the place of a LAN
 *     twin's), with the kernel's NUD state: a family's WAN next hop is
 *     its default gateway's entry while its state holds a usable address
 *     (the kernel's NUD_VALID);
 *   - the WAN twin's primary IPv4 address (the first one the kernel
 *     reports, kept until it goes; secondary addresses are not followed),
 *     e.g. what a DHCP client on the WAN twin got;
 *   - the WAN twin's global IPv6 addresses (scope universe, past duplicate
 *     address detection; up to DP_NL_ADDR6_MAX, in the order they came).
 * While a gateway is known and its MAC is not, dp_nl_poll asks the
 * kernel to resolve it (RTM_NEWNEIGH with NTF_USE: the kernel's own ARP
 * or neighbour discovery), at most once a second per family, and to
 * re-check a STALE one now and then.
 *
 * Libraries never log: dp_nl_poll says when the answer changed and the
 * caller logs it.  No DPDK here.
 */
#ifndef GW_DATAPLANE_NETLINK_H
#define GW_DATAPLANE_NETLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define DP_NL_NEIGH_MAX 256
#define DP_NL_ADDR6_MAX 4

struct dp_nl;

struct dp_nl_stats {
	uint64_t events;     /* messages read from the event socket */
	uint64_t resyncs;    /* full dumps after an overrun (ENOBUFS) */
	uint64_t solicits;   /* resolution requests for the WAN gateway */
	uint64_t neigh_full; /* neighbours not mirrored or forgotten: table full
			      * (a WAN one takes a LAN one's place) */
	uint64_t bad;        /* messages too short for their type */
	uint64_t addr6_full; /* WAN IPv6 addresses not mirrored: DP_NL_ADDR6_MAX held */
};

/* Opens both sockets and dumps routes and neighbours (blocking, bounded
 * by a receive timeout).  ifindex: the twins', by role.  -errno. */
int dp_nl_new(const int ifindex[DP_ROLE_COUNT], struct dp_nl **ret);
/* The mirror alone, without sockets: for tests and the fuzzer, which feed
 * it with dp_nl_input. */
int dp_nl_new_offline(const int ifindex[DP_ROLE_COUNT], struct dp_nl **ret);
void dp_nl_free(struct dp_nl *nl);

/* The event socket, for poll(2); -1 offline. */
int dp_nl_fd(const struct dp_nl *nl);

/* Non-blocking: applies pending events (re-dumps after an overrun) and
 * asks the kernel to resolve the WAN gateway when it is needed.  now_ms:
 * any monotonic clock.  True when the answer of dp_nl_wan_next_hop,
 * dp_nl_wan_next_hop6, dp_nl_wan_addr or dp_nl_wan_addrs6 changed. */
bool dp_nl_poll(struct dp_nl *nl, uint64_t now_ms);

/* One buffer of netlink messages (as the kernel sends them: events or a
 * dump's parts) into the mirror.  Checks every length before use;
 * messages of other types are ignored.  0, or -EBADMSG when the buffer
 * ends inside a message (what came before it is applied). */
int dp_nl_input(struct dp_nl *nl, const void *buf, size_t len);

/* The WAN next hop: true with the gateway's address and MAC when both are
 * known; else false (ret_gw set when the route is known, else zeroed). */
bool dp_nl_wan_next_hop(const struct dp_nl *nl, uint8_t ret_gw[4], uint8_t ret_mac[6]);

/* The same for IPv6: the IPv6 default route's gateway (16 bytes) and its
 * MAC. */
bool dp_nl_wan_next_hop6(const struct dp_nl *nl, uint8_t ret_gw[16], uint8_t ret_mac[6]);

/* The WAN twin's global IPv6 addresses: how many there are; the first
 * max of them (and their prefix lengths) into ret_addr and ret_plen. */
unsigned dp_nl_wan_addrs6(const struct dp_nl *nl, uint8_t ret_addr[][16], uint8_t *ret_plen,
			  unsigned max);

/* The WAN twin's primary IPv4 address and its prefix length, when it has
 * one. */
bool dp_nl_wan_addr(const struct dp_nl *nl, uint8_t ret_addr[4], uint8_t *ret_plen);

/* The MAC of an IPv4 neighbour of a twin, when the kernel has a usable one. */
bool dp_nl_neigh(const struct dp_nl *nl, enum dp_role role, const uint8_t ip[4],
		 uint8_t ret_mac[6]);

/* The MAC of an IPv6 neighbour of a twin, when the kernel has a usable one. */
bool dp_nl_neigh6(const struct dp_nl *nl, enum dp_role role, const uint8_t ip[16],
		  uint8_t ret_mac[6]);

/* Puts an address on a twin (replacing the same one; IPv6 without
 * duplicate address detection).  family AF_INET or AF_INET6.  -errno. */
int dp_nl_addr_add(struct dp_nl *nl, int ifindex, int family, const uint8_t *addr,
		   uint8_t plen);

const struct dp_nl_stats *dp_nl_stats(const struct dp_nl *nl);

#endif
