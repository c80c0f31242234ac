/* SPDX-License-Identifier: MIT */
/*
 * The dataplane control protocol: what gwd (or gwctl, or a test) says to
 * gw-dataplane over its control socket, `gw-dataplane ... -- --control PATH`.
 *
 * The exchange
 * ------------
 * PATH is a unix stream socket (mode 0660) served by gw-dataplane's main
 * lcore between its other duties; a few clients may be connected at once.
 * A client writes requests and reads replies, strictly one reply per
 * request, in order.  Every message, either way, is a struct dp_msg_hdr
 * followed by exactly hdr.length bytes of body.  All integers are
 * little-endian and fixed-width; structures are packed by construction
 * (explicit padding, which senders set to zero and receivers ignore).
 *
 *   request:  dp_msg_hdr { magic, version, type, flags = 0, length, id }
 *             body of the type (below)
 *   reply:    dp_msg_hdr { magic, version, type | DP_MSG_REPLY, flags = 0,
 *                          length, id (the request's) }
 *             dp_reply { status, reason_len }
 *             reason (reason_len bytes of text, no NUL; only on error)
 *             the type's reply body (only when status == 0)
 *
 * status is 0 or a negative errno.  On error, reason says why in words for
 * a log line (at most DP_REASON_MAX bytes).
 *
 * Requests and their bodies:
 *   HEALTH      empty           -> struct dp_health
 *   STATS       empty           -> struct dp_stats_head, then count
 *                                  struct dp_counter, named
 *                                  "<role>.<counter>" (lan.rx, wan.tx, ...),
 *                                  "<role>.drop.<reason>" and
 *                                  "<role>.punt.<reason>", every reason of
 *                                  dataplane/stats.h, zeros included
 *   LOAD_IMAGE  a policy image  -> struct dp_load_reply
 *               (gwctl policy compile's output, 1 byte to DP_IMAGE_MAX)
 *   SET_ACTIVE  struct dp_set_active, then DIV_ROUND_UP(nrules, 64) u64
 *               words of the mask -> struct dp_load_reply
 *   SET_ACTIVE_FOR struct dp_set_active_for, then the mask as SET_ACTIVE
 *               -> struct dp_load_reply
 *   FLOWS       struct dp_flows_req -> struct dp_flows_head, then count
 *               struct dp_flow_info
 *   IMAGE_INFO  empty           -> struct dp_image_info
 *   DOMAIN_SET  struct dp_domain_head, then count struct dp_domain_entry
 *               (1..DP_DOMAIN_MAX) -> struct dp_domain_reply
 *   EVENTS      struct dp_events_req -> struct dp_events_head, then count
 *               struct dp_flow_event
 *   DEVICE_SET  struct dp_device_head, then count struct dp_device_entry
 *               (1..DP_DEVICE_MAX) -> struct dp_device_reply
 *   DEVICE_USAGE struct dp_usage_req -> struct dp_usage_head, then count
 *               struct dp_device_usage
 *
 * What a request does:
 *  - LOAD_IMAGE builds a classifier from the image and publishes it with
 *    one pointer swap under a new generation number; workers take it with
 *    their next packet, and live flows are classified again on their next
 *    packet.  The previous generation is freed once every worker has
 *    passed a quiescent point (RCU).  If the image does not load, the
 *    running policy stays.  The new generation's active-rule mask follows
 *    its schedules and the clock.
 *  - SET_ACTIVE pins the current generation's active-rule mask (bit r:
 *    rule r may match) and bumps the generation, so live flows are
 *    decided again; the clock no longer drives that generation's mask.
 *    nrules must equal the running policy's rule count, and generation
 *    must be the running one, the one LOAD_IMAGE gave the running image,
 *    or 0 (whichever it is): else -ESTALE.
 *  - SET_ACTIVE_FOR is SET_ACTIVE for valid_s seconds (1..DP_ACTIVE_VALID_MAX,
 *    on the dataplane's monotonic clock): unless a SET_ACTIVE_FOR (or
 *    SET_ACTIVE) comes before then, the pin comes off, the mask follows
 *    the schedules and the clock again, and the generation moves so live
 *    flows are decided again (event=active_expired).  So a mask gwd
 *    pinned does not outlive gwd by more than valid_s.  When the mask
 *    given is the one pinned already, only the pin's end moves: the
 *    generation stays, and no flow is decided again (gwd renews its mask
 *    this way every minute).
 *  - IMAGE_INFO says which image runs: its header's CRC-32 and size, so a
 *    restarted gwd can tell whether the dataplane already runs the
 *    generation gwd holds current (and adopt it without a reload).
 *  - DOMAIN_SET writes the runtime domain table: an address's domain-set
 *    bits (bit s: domain set s of the running policy, as policy/ir.h
 *    numbers them), expiring ttl_s seconds later; sets == 0 removes the
 *    entry.  When bits that a rule of the running policy looks at change,
 *    the running generation moves to a new number (as SET_ACTIVE moves
 *    it), so live flows are decided again.  A ttl_s under DP_DOMAIN_TTL_MIN counts as DP_DOMAIN_TTL_MIN
 *    (a TTL-0 answer must still bind the connection it is for); when an
 *    address comes twice in one request, the last entry wins.  Flows to
 *    an address whose bits change are classified again on their next
 *    packet; an entry that merely expires changes only what new flows (and
 *    flows decided again for another reason) see.  The table survives
 *    LOAD_IMAGE (gwd re-sends it when a new policy numbers its sets
 *    differently).  Accepted whole or not at all: a request that would
 *    take the table past its capacity (DP_DOMAIN_TABLE addresses) gets
 *    -ENOSPC and changes nothing.  entries in the reply counts addresses
 *    not yet swept, expired ones included.
 *  - EVENTS takes up to max flow events from the queue workers fill (new
 *    flows, ended flows, counters of live flows once per 2-second window
 *    in which they see a packet, and decisions of rules that log: at a
 *    flow's start, and when it is decided again with another outcome),
 *    oldest first.  The queue is bounded; what did not
 *    fit is counted in the reply's lost.  One consumer (gwd) is assumed:
 *    two clients polling split the stream.
 *  - DEVICE_SET binds source MACs to devices of the running image at run
 *    time (gwd learned that a new MAC is a declared device) or removes
 *    such bindings.  A binding overrides the image's MAC table: a MAC the
 *    image does not know becomes that device (its rules, not the
 *    new-device policy), a MAC the image knows can be moved to another
 *    device; an unbind removes the runtime binding, and the MAC is again
 *    whatever the image says.  device is an index into the image's
 *    devices (as policy/ir.h numbers them; a device that has no MAC in
 *    the image cannot be bound to: -ENODEV).  Bindings belong to the
 *    image they were made for: LOAD_IMAGE starts the new image with none
 *    (its device indexes may differ), so gwd binds again after every
 *    load, as it re-sends domains; generation in the request, when not 0,
 *    must be the running generation or the one LOAD_IMAGE gave the
 *    running image, else -ESTALE.  When a binding changes the device a
 *    MAC is (bind, move, or unbind of a bound MAC), the running generation
 *    moves to a new number (as SET_ACTIVE moves it), so that MAC's live
 *    flows are decided again on their next packet; a request that
 *    changes no MAC's device does not renumber.  When a MAC comes twice
 *    in one request the last entry wins.  Accepted whole or not at all: a
 *    bad op, a multicast or zero MAC, a bad count or length (-EINVAL), a
 *    device index the image does not have or no policy loaded (-ENODEV),
 *    or more than DP_DEVICE_TABLE bindings (-ENOSPC) change nothing; so
 *    does -EBUSY, when replaced tables still wait for the workers' grace
 *    period (RCU, as for generations).
 *  - DEVICE_USAGE pages through what each device (a source MAC) holds
 *    against the per-device caps, worker by worker (a device's IPv4 flows
 *    and NAT mappings are on one worker; its IPv6 flows follow their
 *    addresses), and how many of its new flows were refused at a cap, so
 *    gwd can say who hit one; the head says the caps and the NAT
 *    filtering.  Paged and snapshot like FLOWS.  A device that holds
 *    nothing may be forgotten (its refusals with it) when a worker needs
 *    its slot for another.
 *  - FLOWS pages through the flow tables: start with cursor 0, pass the
 *    reply's next_cursor to go on; next_cursor 0 means the end.  A page
 *    is a snapshot taken while workers run: a flow may be missing or
 *    counted twice across pages, and its counters are a moment's.
 *
 * Errors:
 *  - A header with a wrong magic or version, nonzero flags, an unknown
 *    type or a length past the type's maximum gets an error reply
 *    (-EBADMSG, -EPROTONOSUPPORT, -EINVAL, -EOPNOTSUPP, -EMSGSIZE) and the
 *    server then closes the connection: it cannot find the next message.
 *  - A well-framed message whose body is wrong for its type gets -EINVAL
 *    and the connection stays.
 *  - Nothing a client sends changes the running policy unless it is
 *    accepted whole.
 *
 * dataplane/proto.c checks messages and builds reply headers; it has no
 * DPDK in it, so the unit tests and fuzz_dp_proto run it as it is.
 */
#ifndef GW_DATAPLANE_PROTO_H
#define GW_DATAPLANE_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define DP_MSG_MAGIC   0x50445747u /* "GWDP" as little-endian bytes */
#define DP_MSG_VERSION 1
#define DP_MSG_REPLY   0x8000u     /* set in a reply's type */

#define DP_IMAGE_MAX   (16u << 20) /* the largest LOAD_IMAGE body */
#define DP_REASON_MAX  200
#define DP_FLOWS_MAX   256         /* flows per FLOWS page */
#define DP_MASK_RULES  16384       /* the most rules SET_ACTIVE speaks of: as many as
				      * the fast path loads (DP_CLASSIFY_MAX_RULES) */

enum dp_msg_type {
	DP_MSG_HEALTH = 1,
	DP_MSG_STATS = 2,
	DP_MSG_LOAD_IMAGE = 3,
	DP_MSG_SET_ACTIVE = 4,
	DP_MSG_FLOWS = 5,
	DP_MSG_IMAGE_INFO = 6,
	DP_MSG_DOMAIN_SET = 7,
	DP_MSG_EVENTS = 8,
	DP_MSG_DEVICE_SET = 9,
	DP_MSG_SET_ACTIVE_FOR = 10,
	DP_MSG_DEVICE_USAGE = 11,
};

#define DP_DOMAIN_MAX  4096 /* entries per DOMAIN_SET */
#define DP_DOMAIN_TABLE 65536 /* addresses the domain table holds */
#define DP_DOMAIN_TTL_MIN 5   /* seconds: shorter TTLs count as this */
#define DP_EVENTS_MAX  512  /* events per EVENTS reply */
#define DP_DEVICE_MAX  1024 /* entries per DEVICE_SET */
#define DP_DEVICE_TABLE 4096 /* runtime MAC bindings the dataplane holds */
#define DP_USAGE_MAX   256  /* devices per DEVICE_USAGE page */

struct dp_msg_hdr {
	uint32_t magic;   /* DP_MSG_MAGIC */
	uint16_t version; /* DP_MSG_VERSION */
	uint16_t type;    /* enum dp_msg_type, | DP_MSG_REPLY in replies */
	uint32_t flags;   /* 0; none defined */
	uint32_t length;  /* body bytes after this header */
	uint64_t id;      /* chosen by the client, echoed in the reply */
};
_Static_assert(sizeof(struct dp_msg_hdr) == 24, "dp_msg_hdr is 24 bytes");

struct dp_reply {
	int32_t status;      /* 0 or -errno */
	uint16_t reason_len; /* bytes of reason text that follow */
	uint16_t pad;
};
_Static_assert(sizeof(struct dp_reply) == 8, "dp_reply is 8 bytes");

struct dp_health {
	uint32_t generation; /* the running policy generation */
	uint32_t workers;
	uint32_t nrules;     /* the running policy's rules (0: no policy) */
	uint32_t flags;      /* DP_HEALTH_* */
	uint64_t uptime_ms;  /* since the control socket opened */
	uint64_t rx;         /* packets received, all ports */
	uint64_t flows;      /* flows in the tables */
};
_Static_assert(sizeof(struct dp_health) == 40, "dp_health is 40 bytes");
#define DP_HEALTH_POLICY 0x1u /* a policy is loaded (else: closed, no flow is forwarded) */
#define DP_HEALTH_PINNED 0x2u /* SET_ACTIVE pinned the active-rule mask */
#define DP_HEALTH_IO     0x4u /* --mode io: no classification */

struct dp_stats_head {
	uint32_t count; /* struct dp_counter entries that follow */
	uint32_t pad;
};
_Static_assert(sizeof(struct dp_stats_head) == 8, "dp_stats_head is 8 bytes");

struct dp_counter {
	char name[40]; /* NUL-terminated, NUL-padded */
	uint64_t value;
};
_Static_assert(sizeof(struct dp_counter) == 48, "dp_counter is 48 bytes");

struct dp_load_reply {
	uint32_t generation; /* the generation now running */
	uint32_t nrules;
};
_Static_assert(sizeof(struct dp_load_reply) == 8, "dp_load_reply is 8 bytes");

struct dp_set_active {
	uint32_t generation; /* the generation the mask is for; 0: the running one */
	uint32_t nrules;     /* the policy's rule count, 0..DP_MASK_RULES */
	/* followed by (nrules + 63) / 64 uint64_t words, bit r of word r / 64
	 * for rule r; bits at or past nrules must be 0 */
};
_Static_assert(sizeof(struct dp_set_active) == 8, "dp_set_active is 8 bytes");

#define DP_ACTIVE_VALID_MAX 86400 /* SET_ACTIVE_FOR: the longest pin, seconds */

struct dp_set_active_for {
	uint32_t generation; /* as dp_set_active */
	uint32_t nrules;
	uint32_t valid_s;    /* 1..DP_ACTIVE_VALID_MAX: how long the pin holds */
	uint32_t pad;
	/* followed by the mask, as for SET_ACTIVE */
};
_Static_assert(sizeof(struct dp_set_active_for) == 16, "dp_set_active_for is 16 bytes");

struct dp_flows_req {
	uint64_t cursor; /* 0 to start, else a previous reply's next_cursor */
	uint32_t max;    /* flows wanted, 1..DP_FLOWS_MAX */
	uint32_t pad;
};
_Static_assert(sizeof(struct dp_flows_req) == 16, "dp_flows_req is 16 bytes");

struct dp_flows_head {
	uint64_t next_cursor; /* 0: no more flows */
	uint32_t count;       /* struct dp_flow_info entries that follow */
	uint32_t pad;
};
_Static_assert(sizeof(struct dp_flows_head) == 16, "dp_flows_head is 16 bytes");

struct dp_flow_info {
	uint8_t src[16], dst[16]; /* as the opening packet had them; IPv4 in [0..3] */
	uint16_t sport, dport;    /* ICMP echo: the identifier in both */
	uint8_t family;           /* 4 or 6 */
	uint8_t proto;            /* IPPROTO_* */
	uint8_t action;           /* enum pol_action, as last decided */
	uint8_t tcp_state;        /* enum dp_tcp_state */
	uint32_t rule;            /* deciding rule, or POL_RULE_DEFAULT* */
	uint32_t generation;      /* the generation that decided */
	uint32_t worker;
	uint32_t pad;
	uint64_t pkts[2], bytes[2]; /* [0]: the opener's direction */
	uint64_t idle_ms;           /* since its last packet */
};
_Static_assert(sizeof(struct dp_flow_info) == 96, "dp_flow_info is 96 bytes");

struct dp_image_info {
	uint32_t generation; /* the running generation (0: none) */
	uint32_t nrules;
	uint32_t crc;        /* the running image's header CRC-32 (0: none) */
	uint32_t size;       /* its size in bytes (0: none) */
};
_Static_assert(sizeof(struct dp_image_info) == 16, "dp_image_info is 16 bytes");

struct dp_domain_head {
	uint32_t count; /* struct dp_domain_entry entries that follow */
	uint32_t pad;
};
_Static_assert(sizeof(struct dp_domain_head) == 8, "dp_domain_head is 8 bytes");

struct dp_domain_entry {
	uint8_t family;   /* 4 or 6 */
	uint8_t pad[3];
	uint32_t ttl_s;   /* seconds until it expires (ignored when sets == 0) */
	uint8_t addr[16]; /* IPv4 in [0..3], the rest 0 */
	uint64_t sets;    /* domain-set bits; 0 removes the entry */
};
_Static_assert(sizeof(struct dp_domain_entry) == 32, "dp_domain_entry is 32 bytes");

struct dp_domain_reply {
	uint32_t entries; /* addresses in the table after this request */
	uint32_t pad;
};
_Static_assert(sizeof(struct dp_domain_reply) == 8, "dp_domain_reply is 8 bytes");

struct dp_events_req {
	uint32_t max; /* events wanted, 1..DP_EVENTS_MAX */
	uint32_t pad;
};
_Static_assert(sizeof(struct dp_events_req) == 8, "dp_events_req is 8 bytes");

struct dp_events_head {
	uint32_t count; /* struct dp_flow_event entries that follow */
	uint32_t lost;  /* events dropped since the previous EVENTS (queue full) */
};
_Static_assert(sizeof(struct dp_events_head) == 8, "dp_events_head is 8 bytes");

enum dp_event_kind {
	DP_EV_NEW = 1,      /* a flow was decided for the first time */
	DP_EV_END = 2,      /* it left the table (its final counters) */
	DP_EV_COUNTERS = 3, /* a live flow's counters, now and then */
	DP_EV_LOG = 4,      /* a rule with `log` decided it (also for blocks) */
};

struct dp_flow_event {
	uint8_t kind;             /* enum dp_event_kind */
	uint8_t family;           /* 4 or 6 */
	uint8_t proto;
	uint8_t action;           /* enum pol_action */
	uint8_t mac[6];           /* the LAN device's MAC */
	uint16_t pad;
	uint8_t src[16], dst[16]; /* as the opening packet had them (before NAT) */
	uint16_t sport, dport;
	uint32_t rule;            /* deciding rule, or POL_RULE_DEFAULT* */
	uint32_t generation;
	uint32_t pad2[2];
	uint64_t pkts[2], bytes[2]; /* [0]: the opener's direction; totals so far */
	uint64_t time_ms;           /* CLOCK_REALTIME */
};
_Static_assert(sizeof(struct dp_flow_event) == 104, "dp_flow_event is 104 bytes");

struct dp_device_head {
	uint32_t count;      /* struct dp_device_entry entries that follow */
	uint32_t generation; /* the generation the device indexes are for; 0: the running one */
};
_Static_assert(sizeof(struct dp_device_head) == 8, "dp_device_head is 8 bytes");

enum dp_device_op {
	DP_DEVICE_BIND = 1,   /* mac is device `device` from now on */
	DP_DEVICE_UNBIND = 2, /* remove mac's runtime binding (device: 0, ignored) */
};

struct dp_device_entry {
	uint8_t mac[6];  /* a unicast source MAC, not all zero */
	uint8_t op;      /* enum dp_device_op */
	uint8_t pad;
	uint32_t device; /* device index in the running image (DP_DEVICE_BIND) */
};
_Static_assert(sizeof(struct dp_device_entry) == 12, "dp_device_entry is 12 bytes");

struct dp_device_reply {
	uint32_t applied;    /* entries applied: the request's count */
	uint32_t bindings;   /* runtime bindings after this request */
	uint32_t generation; /* the running generation now (moved when a device changed) */
	uint32_t image;      /* the generation LOAD_IMAGE gave the image the bindings are for */
};
_Static_assert(sizeof(struct dp_device_reply) == 16, "dp_device_reply is 16 bytes");

struct dp_usage_req {
	uint64_t cursor; /* 0 to start, else a previous reply's next_cursor */
	uint32_t max;    /* devices wanted, 1..DP_USAGE_MAX */
	uint32_t pad;
};
_Static_assert(sizeof(struct dp_usage_req) == 16, "dp_usage_req is 16 bytes");

struct dp_usage_head {
	uint64_t next_cursor; /* 0: no more devices */
	uint32_t count;       /* struct dp_device_usage entries that follow */
	uint32_t flow_cap;    /* flows a device may hold on a worker */
	uint32_t nat_cap;     /* NAT mappings a device may hold */
	uint8_t filtering;    /* NAT filtering: 0 endpoint-independent,
			       * 1 address-dependent, 2 address-and-port-dependent */
	uint8_t pad[3];
	uint64_t full;        /* new devices refused since the start: every
			       * device slot of their worker was busy */
};
_Static_assert(sizeof(struct dp_usage_head) == 32, "dp_usage_head is 32 bytes");

struct dp_device_usage {
	uint8_t mac[6];          /* the device's source MAC */
	uint16_t pad;
	uint32_t worker;
	uint32_t flows;          /* flows it holds now (on this worker) */
	uint32_t maps;           /* NAT mappings it holds now */
	uint32_t pad2;
	uint64_t refused_flows;  /* new flows refused: at its flow cap */
	uint64_t refused_maps;   /* new flows refused: at its NAT mapping cap */
};
_Static_assert(sizeof(struct dp_device_usage) == 40, "dp_device_usage is 40 bytes");

/* ------------------------------------------------------------ checking */

/* A request as dp_proto_parse found it.  image points into the buffer
 * parsed (valid while it is); integers are in host order. */
struct dp_request {
	uint16_t type;
	uint64_t id;
	union {
		struct {
			const uint8_t *data;
			uint32_t size;
		} image;
		struct {
			uint32_t generation, nrules;
			uint32_t valid_s; /* SET_ACTIVE_FOR; 0 for SET_ACTIVE: for ever */
			uint64_t mask[DP_MASK_RULES / 64];
		} active;
		struct {
			uint64_t cursor;
			uint32_t max;
		} flows;
		struct {
			/* count checked entries in the buffer parsed: read
			 * them with dp_proto_domain_entry */
			const uint8_t *entries;
			uint32_t count;
		} domains;
		struct {
			uint32_t max;
		} events;
		struct {
			/* count checked entries in the buffer parsed: read
			 * them with dp_proto_device_entry */
			const uint8_t *entries;
			uint32_t count, generation;
		} devices;
		struct {
			uint64_t cursor;
			uint32_t max;
		} usage;
	} u;
};

/* The header at buf (at least sizeof(struct dp_msg_hdr) bytes, else
 * -EAGAIN).  0 with *ret in host order, or (see "Errors" above) -EBADMSG,
 * -EPROTONOSUPPORT, -EINVAL, -EOPNOTSUPP or -EMSGSIZE with the reason in
 * err.  *ret_id gets the id field in any case but -EAGAIN, for the error
 * reply. */
int dp_proto_header(const void *buf, size_t len, struct dp_msg_hdr *ret, uint64_t *ret_id,
		    char *err, size_t errlen);

/* One whole request, header and body, exactly len bytes: 0 and *ret, or
 * the header's errors, or -EINVAL (a length that is not len - header,
 * a body wrong for its type) with the reason in err. */
int dp_proto_parse(const void *buf, size_t len, struct dp_request *ret, char *err,
		   size_t errlen);

/* Entry i (< count) of a DOMAIN_SET that dp_proto_parse accepted, in host
 * order, pads zero. */
void dp_proto_domain_entry(const struct dp_request *r, uint32_t i, struct dp_domain_entry *ret);

/* Entry i (< count) of a DEVICE_SET that dp_proto_parse accepted: op is
 * DP_DEVICE_BIND or DP_DEVICE_UNBIND (device 0 for an unbind), pad zero.
 * Whether the device index exists is the agent's to check. */
void dp_proto_device_entry(const struct dp_request *r, uint32_t i, struct dp_device_entry *ret);

/* Writes a reply's dp_msg_hdr and dp_reply (and the reason, when status
 * is not 0) at out, for a body of payload_len bytes to follow; returns the
 * bytes written, or 0 when cap is too small.  reason may be NULL. */
size_t dp_proto_reply(void *out, size_t cap, uint16_t type, uint64_t id, int32_t status,
		      const char *reason, uint32_t payload_len);

/* Writes a request's header; returns sizeof(struct dp_msg_hdr). */
size_t dp_proto_request(void *out, uint16_t type, uint64_t id, uint32_t length);

const char *dp_proto_type_name(uint16_t type);

#endif
