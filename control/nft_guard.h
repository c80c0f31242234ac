/* SPDX-License-Identifier: MIT */
/*
 * The guard: what protects the gateway itself, in gwd's nftables table,
 * always on and before any policy (docs/nft.md has it as a table).
 *
 *   guard_in   input (-10): first the source checks of a packet conntrack
 *              has not confirmed (guard_lan_src, guard_wan_src: sources a
 *              port cannot have, no route back through it or the
 *              gateway's own, dropped on the LAN and the WAN side); then
 *              the LAN may reach DNS, DHCP, ICMP echo and ND, and what
 *              lan_open opens; the WAN only replies (established,
 *              related), the DHCP client's answers, the ICMPv6 RFC 4890
 *              requires, and what wan_open opens;
 *   guard_out  output (-10): nothing invalid leaves by the WAN;
 *   guard_fwd  forward (-10), the table's only forward hook: a confirmed
 *              flow marked with the live epoch (GWD_NFT_LIVE_SET) in one
 *              rule; another confirmed one to the policy
 *              (GWD_NFT_POLICY_CHAIN); else the source checks, and the
 *              kernel forwards only the kernel ports' own flows (to the
 *              WAN, to and from the LAN side, and replies from the WAN),
 *              each on to the policy, never between the twins;
 *   nat_post   postrouting NAT: what the kernel forwards out a WAN port is
 *              masqueraded onto the kernel's share of the NAT ports.
 * Everything dropped is counted by a named counter per reason
 * (GWD_NFT_DROP_*, listed by `nft list counters table inet gw`).
 *
 * The guard is replaced whole in one batch (the old one stays until the
 * new one is in), and only its own chains, sets and counters are named,
 * an older gwd's guard chains (guard_pre, guard_lan_pre, guard_wan_pre)
 * to remove them, and the policy chain and live epoch set the forward
 * chain refers to (made when missing, never emptied).
 */
#ifndef GW_CONTROL_NFT_GUARD_H
#define GW_CONTROL_NFT_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "nft.h"

/* The guard's drop reasons, as counter names. */
#define GWD_NFT_DROP_SPOOFED     "drop_spoofed"     /* LAN source no route back through its port */
#define GWD_NFT_DROP_WAN_SPOOFED "drop_wan_spoofed" /* the same on the WAN side */
#define GWD_NFT_DROP_LAN_CLOSED  "drop_lan_closed"  /* LAN to a gateway port not open */
#define GWD_NFT_DROP_WAN_CLOSED  "drop_wan_closed"  /* WAN to the gateway, not a reply */
#define GWD_NFT_DROP_WAN_INVALID "drop_wan_invalid" /* conntrack calls it invalid, from the WAN */
#define GWD_NFT_DROP_OUT_INVALID "drop_out_invalid" /* invalid, leaving by the WAN */
#define GWD_NFT_DROP_FORWARD     "drop_forward"     /* forwarding not of a kernel port's flow */

/* The sets of interfaces the guard and the nft engine match on. */
#define GWD_NFT_SET_LAN    "lan_ifs"    /* lan_ports, ebpf_ports, nft_ports */
#define GWD_NFT_SET_WAN    "wan_ifs"
#define GWD_NFT_SET_KERNEL "kernel_ifs" /* ebpf_ports, nft_ports */
#define GWD_NFT_SET_NFT    "nft_ifs"    /* nft_ports */
#define GWD_NFT_SET_GW     "gw_ifs"     /* all of the above */

/* Everything of the guard for cfg into b, replacing an earlier guard. */
void gwd_nft_guard_build(struct gwd_nft_batch *b, const struct gwd_config *cfg);

/* Is the guard in place as cfg wants it?  0 and *ret_ok (with what is
 * missing in why), or -errno when the kernel cannot be asked. */
int gwd_nft_guard_check(struct gwd_nft *n, const struct gwd_config *cfg, bool *ret_ok,
			char *why, size_t whylen);

/* Each drop reason's counter: fn(reason, packets, bytes, arg). */
int gwd_nft_guard_drops(struct gwd_nft *n,
			int (*fn)(const char *reason, uint64_t pkts, uint64_t bytes, void *arg),
			void *arg);

#endif
