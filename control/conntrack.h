/* SPDX-License-Identifier: MIT */
/*
 * The kernel's connection tracking as the nft engine reads it: the
 * connections it allowed, for gwd's flow collector (flows.h).
 *
 * ctnetlink, through libmnl: one socket subscribed to conntrack's DESTROY
 * events (no NEW: the kernel then builds no message for a new
 * connection), and a periodic dump (filtered in the kernel by ct mark)
 * for the live connections, the counters (nf_conntrack_acct must be on:
 * gwd_ct_acct_on) and what the events missed.
 *
 * gwd_ct_parse reads what the kernel sends as untrusted bytes: every
 * length and attribute size is checked before use (fuzzed by
 * tests/fuzz/fuzz_conntrack.c).
 *
 * The tracker (gwd_ct_tracker) keeps the connections it reported, at most
 * its cap (over it a connection is not reported and `over_cap` counts
 * it), and turns events and dumps into flow events: NEW at the first
 * sight, UPDATE when the counters grew, END at DESTROY, when a TCP
 * connection closes (FIN_WAIT .. TIME_WAIT, CLOSE) or when a dump no
 * longer has it.  Who the connection belongs to (device MAC, rule,
 * verdict, generation) comes from the caller's attribute function: a
 * connection it cannot attribute (no MAC known for its source yet) is
 * tried again at the next dump.  No event loop, no clock of its own.
 */
#ifndef GW_CONTROL_CONNTRACK_H
#define GW_CONTROL_CONNTRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flows.h"

enum gwd_ct_kind {
	GWD_CT_NEW = 1,     /* an event: conntrack confirmed a connection */
	GWD_CT_UPDATE = 2,  /* a dump's entry (or an update event) */
	GWD_CT_DESTROY = 3, /* an event: the entry is gone */
};

/* One ctnetlink message. */
struct gwd_ct_rec {
	uint8_t kind;     /* enum gwd_ct_kind */
	uint8_t family;   /* 4 or 6 */
	uint8_t proto;    /* IPPROTO_* */
	uint8_t tcp_state; /* TCP_CONNTRACK_* when has_tcp_state */
	bool has_mark, has_counters, has_tcp_state, has_status;
	uint8_t src[16], dst[16]; /* the original direction; IPv4 in [0..3] */
	uint16_t sport, dport;    /* TCP, UDP, SCTP, UDP-Lite; host order; else 0 */
	uint32_t id;      /* the kernel's id of the entry (0: none sent) */
	uint32_t mark;    /* ct mark, host order */
	uint32_t status;  /* IPS_* bits (CTA_STATUS) when has_status */
	uint64_t pkts[2], bytes[2]; /* [0]: original direction */
};

/* One netlink message (nlmsghdr first, len bytes, untrusted): 0 and *ret;
 * -EINVAL when it is not a conntrack entry of IPv4 or IPv6 or does not
 * parse (framing, attribute sizes, no original tuple). */
int gwd_ct_parse(const void *msg, size_t len, struct gwd_ct_rec *ret);

/* net.netfilter.nf_conntrack_acct = 1 (per connection byte and packet
 * counters, for connections made from now on); *ret_was its value before. */
int gwd_ct_acct_on(int *ret_was);

struct gwd_ct;
/* The event socket (DESTROY) and the dump socket, in the caller's
 * network namespace; root. */
int gwd_ct_new(struct gwd_ct **ret);
void gwd_ct_free(struct gwd_ct *c);
int gwd_ct_fd(const struct gwd_ct *c);
typedef void (*gwd_ct_fn)(const struct gwd_ct_rec *r, void *arg);
/* Queued events to fn (at most GWD_CT_DRAIN_MAX messages: 64 reads of up
 * to 32 messages each, one recvmmsg a read: call again when it returns
 * GWD_CT_DRAIN_MAX), without blocking: the number of messages read; the
 * number of times the kernel dropped events (ENOBUFS) into *ret_lost. */
#define GWD_CT_DRAIN_MAX (64u * 32u)
unsigned gwd_ct_drain(struct gwd_ct *c, gwd_ct_fn fn, void *arg, uint64_t *ret_lost);
/* The entries whose mark & mask == mark & mask and, when status_mask is
 * not 0, whose status & status_mask == status (the kernel filters: an
 * entry left out costs it no message), to fn; waits at most a second for
 * each part of the kernel's answer. */
int gwd_ct_dump(struct gwd_ct *c, uint32_t mark, uint32_t mask, uint32_t status,
		uint32_t status_mask, gwd_ct_fn fn, void *arg);

/* What the caller knows of a connection: its device and decision into
 * ev (mac, action, rule, generation, log); false when it cannot say yet. */
typedef bool (*gwd_ct_attr_fn)(const struct gwd_ct_rec *r, struct gwd_flow_ev *ev, void *arg);

struct gwd_ct_stats {
	uint32_t tracked;        /* connections reported and not ended */
	uint64_t reported;       /* connections ever reported */
	uint64_t over_cap;       /* not reported: the tracker was full (a connection
				  * counts at each event and dump that shows it) */
	uint64_t unattributed;   /* not reported (yet): attr said no */
	uint64_t lost;           /* times the kernel dropped events */
};

struct gwd_ct_tracker;
/* cap connections at most (> 0); mark/mask: the connections of interest
 * (the others are passed over); flows may be NULL. */
int gwd_ct_tracker_new(uint32_t cap, uint32_t mark, uint32_t mask, struct gwd_flows *flows,
		       gwd_ct_attr_fn attr, void *arg, struct gwd_ct_tracker **ret);
void gwd_ct_tracker_free(struct gwd_ct_tracker *t);
/* One record (an event or a dump's entry); time_ms: CLOCK_REALTIME. */
void gwd_ct_tracker_feed(struct gwd_ct_tracker *t, const struct gwd_ct_rec *r, uint64_t time_ms);
/* Around a dump: after dump_end, what the dump did not show has ended;
 * dump_cancel instead when the dump failed half way (nothing ends).
 * replied_only: the dump asked for answered connections only (status
 * IPS_SEEN_REPLY): a connection never seen answered is not ended by it. */
void gwd_ct_tracker_dump_begin(struct gwd_ct_tracker *t, bool replied_only);
void gwd_ct_tracker_dump_end(struct gwd_ct_tracker *t, uint64_t time_ms);
void gwd_ct_tracker_dump_cancel(struct gwd_ct_tracker *t);
void gwd_ct_tracker_add_lost(struct gwd_ct_tracker *t, uint64_t lost);
void gwd_ct_tracker_stats(const struct gwd_ct_tracker *t, struct gwd_ct_stats *ret);

#endif
