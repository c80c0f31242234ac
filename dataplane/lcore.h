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

#include "classify.h"
#include "config.h"
#include "flow.h"
#include "nat.h"
#include "stats.h"

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
	/* The published generation: read with an acquire load, held no
	 * longer than one burst (see qsbr). */
	struct dp_classify *const *policy;
	/* When set, the worker reports a quiescent state (thread id: id)
	 * between bursts, so a replaced generation can be freed (RCU). */
	struct rte_rcu_qsbr *qsbr;
	uint8_t port_mac[DP_ROLE_COUNT][6];
	uint64_t ms_div; /* timer cycles per ms */
	struct dp_port_stats stats[DP_ROLE_COUNT];
	struct dp_tx_buf tx[DP_ROLE_COUNT];
	volatile bool *stop;
	/* Called every few thousand iterations when this worker runs on the
	 * main lcore (a one-core setup), else NULL. */
	void (*tick)(void *ctx);
	void *tick_ctx;
};

/* Tables for full mode; -errno. */
int dp_worker_init(struct dp_worker *w);
void dp_worker_fini(struct dp_worker *w);

/* The lcore entry (rte_eal_remote_launch): loops until *stop. */
int dp_worker_main(void *arg);

/* One received packet of the full pipeline (exposed for tests). */
void dp_pipeline(struct dp_worker *w, enum dp_role in, struct rte_mbuf *m, uint64_t now_ms);
/* Hand buffered packets to the TX queues. */
void dp_worker_flush(struct dp_worker *w);

#endif
