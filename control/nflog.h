/* SPDX-License-Identifier: MIT */
/*
 * NFLOG for the nft engine: the packets log rules send to one NFLOG group
 * (nftables `log group N prefix "gw gen=G rule=R action=A "`), read back as
 * a log line nft_log and a flow event per packet (engine nft, log).
 * Only the first 160 bytes of each packet are copied: the headers.
 */
#ifndef GW_CONTROL_NFLOG_H
#define GW_CONTROL_NFLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gwd_flows;

/* One logged packet. */
struct gwd_nflog_rec {
	uint32_t gen, rule;   /* from the prefix */
	uint8_t action;       /* enum pol_action */
	bool has_mac;
	uint8_t mac[6];       /* the packet's source MAC */
	uint8_t family;       /* 4 or 6 */
	uint8_t proto;
	uint8_t src[16], dst[16];
	uint16_t sport, dport; /* TCP and UDP only, host order */
	uint32_t len;         /* the packet's length */
};

/* One netlink message (nlmsghdr first, len bytes, untrusted) that NFLOG
 * sent: 0 and *ret, -EINVAL when it is not a packet of gw's log rules or
 * does not parse. */
int gwd_nflog_parse(const void *msg, size_t len, struct gwd_nflog_rec *ret);
struct gwd_nflog;

/* Bound to group (1..65535) in the caller's network namespace. */
int gwd_nflog_new(uint16_t group, struct gwd_nflog **ret);
void gwd_nflog_free(struct gwd_nflog *l);
int gwd_nflog_fd(const struct gwd_nflog *l);
/* Reads what is queued, without blocking, at most GWD_NFLOG_DRAIN_MAX
 * reads of the socket (a flood leaves the rest for the next call: the
 * caller's loop gets its turn); flows may be NULL.  The packets read. */
#define GWD_NFLOG_DRAIN_MAX 64
unsigned gwd_nflog_drain(struct gwd_nflog *l, struct gwd_flows *flows);

#endif
