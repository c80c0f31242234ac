/* SPDX-License-Identifier: MIT */
/*
 * A worker lcore: polls its RX queue of each port and runs the io
 * forwarder or the full pipeline (parse, flow, classify, NAT, rewrite) on
 * every burst.  Each worker owns its flow table, NAT mappings, counters and
 * TX buffers; it shares only the read-only config and policy generation.
 */
#ifndef GW_DATAPLANE_LCORE_H
#define GW_DATAPLANE_LCORE_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_spinlock.h>

#include "classify.h"
#include "config.h"
#include "flow.h"
#include "nat.h"
#include "stats.h"
#include "twin.h"

/* The WAN next hop as workers read it, with one atomic load of a
 * uint64_t the main lcore publishes (the netlink mirror's answer, or
 * --wan-gw-mac): DP_NH_KNOWN | the MAC in bits 0..47, byte 0 lowest;
 * 0 while unknown. */
#define DP_NH_KNOWN (1ull << 48)
/* The WAN address the same way: DP_WAN_KNOWN | its 4 bytes in bits 0..31,
 * byte 0 lowest | its prefix length << DP_WAN_PLEN_SHIFT; 0 while the WAN
 * twin has none. */
#define DP_WAN_KNOWN (1ull << 32)
#define DP_WAN_PLEN_SHIFT 40

/* The WAN twin's global IPv6 addresses, for what is addressed to the
 * gateway from the WAN: written by the main lcore (seq odd meanwhile),
 * read by workers, who read again while seq is odd or moved. */
#define DP_WAN6_MAX 4
struct dp_wan6 {
	uint32_t seq;
	uint32_t n;
	uint8_t addr[DP_WAN6_MAX][16];
};

/* A hairpinned packet in a steering ring (its mbuf's port): translated
 * by its sender's worker, for the worker that holds the far end's NAT
 * mapping (lcore.c, hairpin_out). */
#define DP_PORT_HAIRPIN UINT16_MAX

struct dp_burst;
struct dp_caps;
struct dp_domains;
struct dp_police;
struct dp_events;
struct dp_rates;
struct dp_shaper;

struct dp_tx_buf {
	uint16_t n;
	struct rte_mbuf *m[2 * DP_BURST_MAX];
};

struct dp_worker {
	const struct dp_config *cfg;
	unsigned id;
	uint16_t queue;
	struct rte_mempool *pool;
	struct dp_flow_table *flows;
	struct dp_nat *nat;
	/* The NAT's external ports, shared by the workers (nat.h), set by
	 * main.c before dp_worker_init when there are several; NULL: the
	 * worker's NAT keeps a table of its own. */
	struct dp_nat_ports *ports;
	/* What each device holds against its caps (caps.h), made by
	 * dp_worker_init. */
	struct dp_caps *caps;
	/* The published generation: read with an acquire load, held no
	 * longer than one burst (see qsbr). */
	struct dp_classify *const *policy;
	/* When set, the worker reports a quiescent state (thread id: id)
	 * between bursts, so a replaced generation can be freed (RCU). */
	struct rte_rcu_qsbr *qsbr;
	uint8_t port_mac[DP_ROLE_COUNT][6];
	/* Each port's kernel twin; NULL: punted packets are counted and
	 * freed (no twins). */
	struct dp_twin *twin[DP_ROLE_COUNT];
	/* The published WAN next hop (see DP_NH_KNOWN); NULL: the config's
	 * --wan-gw-mac, as unit tests set it. */
	const uint64_t *wan_nh;
	/* The same for IPv6 flows: the IPv6 default route's gateway; NULL:
	 * the config's --wan-gw-mac. */
	const uint64_t *wan_nh6;
	/* The published WAN address (see DP_WAN_KNOWN); NULL: the config's
	 * --wan-ip. */
	const uint64_t *wan_addr;
	/* The WAN twin's IPv6 addresses; NULL: none. */
	const struct dp_wan6 *wan6;
	/* The punt path's policers (punt.h), shared by all workers; NULL:
	 * punts are not policed (unit tests). */
	struct dp_police *police;
	/* Set by the control agent (NULL without --control): the domain
	 * table new flows' destinations are looked up in, and the queue
	 * flow events go to (domain.h, events.h). */
	const struct dp_domains *domains;
	struct dp_events *events;
	/* Rate limits (shaper.h): the clocks, shared by the workers (set by
	 * main.c before dp_worker_init; NULL: the shaper keeps its own), and
	 * this worker's shaper and held packets, made by dp_worker_init. */
	struct dp_rates *rates;
	struct dp_shaper *shaper;
	/* The packets of the burst waiting for the flow table (lcore.c:
	 * one bulk lookup for them all), made by dp_worker_init. */
	struct dp_burst *burst;
	uint8_t lan4_bcast[4]; /* the LAN's IPv4 broadcast address */
	/*
	 * Several workers in full mode (set by main.c before dp_worker_init;
	 * nworkers 0 or 1: one worker, none of this).  Every flow has one
	 * owner, the worker whose table holds it, and a packet is steered to
	 * its owner's ring whichever worker received it:
	 *  - from the LAN, IPv4 by the device's MAC (so a device's IPv4
	 *    flows, NAT mappings and caps are one worker's, whatever
	 *    addresses it uses), IPv6 by its source address;
	 *  - from the WAN, IPv4 by the owner of the destination port's NAT
	 *    mapping (an echo reply's identifier; an ICMP error's quoted
	 *    source port), which the shared port table says (ports), IPv6
	 *    by the destination (the device; an ICMPv6 error's quoted
	 *    source).
	 * Workers take external ports from the whole range, so a device's
	 * port is preserved whichever worker holds it.  A hairpinned packet
	 * is translated by its sender's worker and then handed, as if from
	 * the WAN, to the worker holding the far end's mapping (marked
	 * DP_PORT_HAIRPIN in the ring).  What belongs to no flow (punts,
	 * drops) stays where it was received.
	 */
	unsigned nworkers;
	struct rte_ring *const *steer; /* [nworkers]: worker i's incoming packets */
	bool rxq;                      /* polls RX queue `queue` of both ports */
	/* Non-NULL: this TX queue of the port is shared with other workers
	 * (the port has fewer queues than workers). */
	rte_spinlock_t *tx_lock[DP_ROLE_COUNT];
	uint64_t ms_div; /* timer cycles per ms */
	struct dp_port_stats stats[DP_ROLE_COUNT];
	struct dp_tx_buf tx[DP_ROLE_COUNT];
	volatile bool *stop;
	/* Called every few thousand iterations when this worker runs on the
	 * main lcore (a one-core setup), else NULL. */
	void (*tick)(void *ctx);
	void *tick_ctx;
};

/* The per-device caps (caps.h) for a worker with flows4 IPv4 flows: the
 * config's, or the defaults, a quarter of the flows and of the NAT range
 * but at least DP_CAPS_MIN (or all of it). */
#define DP_CAPS_MIN 64
void dp_worker_caps(const struct dp_config *cfg, uint32_t flows4, uint32_t *ret_flows,
		    uint32_t *ret_nat);

/* Tables for full mode; -errno. */
int dp_worker_init(struct dp_worker *w);
void dp_worker_fini(struct dp_worker *w);

/* The lcore entry (rte_eal_remote_launch): loops until *stop. */
int dp_worker_main(void *arg);

/* One received packet of the full pipeline (exposed for tests). */
void dp_pipeline(struct dp_worker *w, enum dp_role in, struct rte_mbuf *m, uint64_t now_ms);
/* A burst of n <= DP_BURST_MAX received packets of the full pipeline: the
 * packets' own checks one by one, then one bulk flow lookup, then each
 * packet's verdict in order of arrival. */
void dp_pipeline_burst(struct dp_worker *w, enum dp_role in, struct rte_mbuf **ms, uint16_t n,
		       uint64_t now_ms);
/* Hand buffered packets to the TX queues. */
void dp_worker_flush(struct dp_worker *w);
/* After every worker has stopped (on the main lcore): the packets still
 * in w's steering ring go through w's pipeline, and what its shaper holds
 * is dropped (counted as rate_limit). */
void dp_worker_drain(struct dp_worker *w);

#endif
