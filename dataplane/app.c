/* SPDX-License-Identifier: MIT */
/*
 * gw-dataplane's set-up and tear-down (app.h).  In order: the mbuf pool and
 * the policy (the one given, or none: closed), the ports (a queue pair per
 * worker where they have them), the WAN's next hop and address when given,
 * the twins with the gateway's addresses and the netlink mirror (full
 * mode), what the workers share (steering rings, TX locks, the punt
 * policers, the NAT's ports and the rates' clocks), the workers' own
 * tables, and the control agent.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include "agent.h"
#include "app.h"
#include "classify.h"
#include "logline.h"
#include "names.h"
#include "port.h"
#include "punt.h"
#include "shaper.h"
#include "twin.h"

#define MBUF_CACHE 256
#define STEER_RING 4096   /* packets waiting for their flow's worker, per worker */
#define RATE_CLOCKS 16384 /* rate limits' (rule, device, direction) clocks, all workers */

/* event=error stage=STAGE error=R msg="...", msg from errno when NULL. */
static int fail(const char *stage, int r, const char *msg)
{
	char v[GW_LOG_VALUE];
	gw_log("error", "stage=%s error=%d msg=%s", stage, r,
	       gw_log_value(v, sizeof(v), msg ? msg : strerror(-r)));
	return r;
}

static int setup_pool_policy(struct dp_app *a)
{
	char err[256] = "", v[GW_LOG_VALUE], f[GW_LOG_VALUE];
	int r;
	a->pool = rte_pktmbuf_pool_create("dp_mbufs", a->cfg.mbufs, MBUF_CACHE, 0,
					  RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (!a->pool) {
		r = -rte_errno;
		gw_log("error", "stage=mempool error=%d mbufs=%u msg=%s", r, a->cfg.mbufs,
		       gw_log_value(v, sizeof(v), rte_strerror(rte_errno)));
		return r;
	}
	if (!a->cfg.policy) {
		r = dp_classify_new(NULL, 1, &a->policy);
		return r < 0 ? fail("policy", r, NULL) : 0;
	}
	r = dp_classify_load(a->cfg.policy, 1, &a->policy, err, sizeof(err));
	if (r < 0)
		gw_log("error", "stage=policy error=%d file=%s msg=%s", r,
		       gw_log_value(f, sizeof(f), a->cfg.policy), gw_log_value(v, sizeof(v), err));
	return r;
}

/* A queue pair of each port per worker where the ports have them (RSS
 * spreads the RX side); with fewer (a vdev has one), workers past them
 * receive nothing from the ports and share TX queues under a lock.  In
 * full mode the steering rings bring every packet to its flow's worker
 * either way (lcore.h). */
static int setup_ports(struct dp_app *a)
{
	uint16_t nq = (uint16_t)a->nworkers;
	for (int role = 0; role < DP_ROLE_COUNT; role++) {
		struct rte_eth_dev_info info;
		if (rte_eth_dev_info_get(a->cfg.port[role], &info) == 0) {
			nq = RTE_MIN(nq, info.max_rx_queues);
			nq = RTE_MIN(nq, info.max_tx_queues);
		}
	}
	a->nqueues = nq ? nq : 1;
	for (int role = 0; role < DP_ROLE_COUNT; role++) {
		const char *rn = dp_role_name((enum dp_role)role);
		uint8_t *mac = a->port_mac[role];
		char v[GW_LOG_VALUE], text[POL_MAC_TEXT];
		int r = dp_port_start(a->cfg.port[role], a->nqueues, a->pool, mac);
		if (r < 0) {
			gw_log("error", "stage=port role=%s port=%u error=%d msg=%s", rn,
			       a->cfg.port[role], r, gw_log_value(v, sizeof(v), strerror(-r)));
			return r;
		}
		a->port_up[role] = true;
		gw_log("port_up", "role=%s port=%u mac=%s", rn, a->cfg.port[role],
		       pol_mac_format(mac, text));
	}
	return 0;
}

/* What the config says of the WAN (--wan-ip, --wan-gw-mac) overrides what
 * the mirror will say. */
static void setup_wan(struct dp_app *a)
{
	if (a->cfg.has_wan4)
		a->wan_addr = dp_app_pack_addr(a->cfg.wan4, a->cfg.wan4_plen);
	if (a->cfg.has_wan_gw) {
		static const uint8_t none[16];
		a->wan_nh = dp_app_pack_mac(a->cfg.wan_gw_mac);
		a->wan_nh6 = a->wan_nh;
		dp_app_log_next_hop("config", AF_INET, none, a->cfg.wan_gw_mac);
	}
}

static int twin_addr(struct dp_app *a, enum dp_role role, int family, const uint8_t *addr,
		     uint8_t plen)
{
	char ip[INET6_ADDRSTRLEN], tn[GW_LOG_VALUE], v[GW_LOG_VALUE];
	inet_ntop(family, addr, ip, sizeof(ip));
	gw_log_value(tn, sizeof(tn), dp_twin_name(a->twin[role]));
	int r = dp_nl_addr_add(a->nl, dp_twin_ifindex(a->twin[role]), family, addr, plen);
	if (r < 0)
		gw_log("error", "stage=twin_addr twin=%s addr=%s/%u error=%d msg=%s", tn, ip, plen,
		       r, gw_log_value(v, sizeof(v), strerror(-r)));
	else
		gw_log("twin_addr", "twin=%s addr=%s/%u", tn, ip, plen);
	return r;
}

/* The twins (with the ports' MACs, so the kernel's ARP and ND answers
 * are right), their sysctls, the mirror, the gateway's addresses on
 * them. */
static int setup_twins(struct dp_app *a)
{
	int ifindex[DP_ROLE_COUNT];
	int r;
	for (int role = 0; role < DP_ROLE_COUNT; role++) {
		const char *rn = dp_role_name((enum dp_role)role);
		char tn[GW_LOG_VALUE], v[GW_LOG_VALUE], text[POL_MAC_TEXT];
		gw_log_value(tn, sizeof(tn), a->cfg.twin[role]);
		r = dp_twin_new(a->cfg.twin[role], a->port_mac[role], a->pool, &a->twin[role]);
		if (r < 0) {
			char msg[256];
			snprintf(msg, sizeof(msg), "%s%s", strerror(-r),
				 r == -EBUSY ? " (another process holds it: a second gw-dataplane?)" :
				 r == -EINVAL ? " (not a TAP, or a bad name)" : "");
			gw_log("error", "stage=twin role=%s name=%s error=%d msg=%s", rn, tn, r,
			       gw_log_value(v, sizeof(v), msg));
			return r;
		}
		ifindex[role] = dp_twin_ifindex(a->twin[role]);
		gw_log("twin_up", "role=%s name=%s ifindex=%d mac=%s", rn, tn, ifindex[role],
		       pol_mac_format(a->port_mac[role], text));
	}
	r = dp_app_harden(a, true);
	if (r < 0)
		return r;
	r = dp_nl_new(ifindex, &a->nl);
	if (r < 0)
		return fail("netlink", r, NULL);
	r = twin_addr(a, DP_ROLE_LAN, AF_INET, a->cfg.lan4, a->cfg.lan4_plen);
	if (r == 0 && a->cfg.has_lan6)
		r = twin_addr(a, DP_ROLE_LAN, AF_INET6, a->cfg.lan6, a->cfg.lan6_plen);
	if (r == 0 && a->cfg.has_wan4)
		r = twin_addr(a, DP_ROLE_WAN, AF_INET, a->cfg.wan4, a->cfg.wan4_plen);
	return r;
}

/* What the workers share: steering rings (several workers in full
 * mode), TX locks (more workers than queues), the punt policers (full
 * mode). */
static int setup_shared(struct dp_app *a, bool steering)
{
	int socket = (int)rte_socket_id();
	if (steering) {
		a->steer = rte_zmalloc("dp_steer", sizeof(*a->steer) * a->nworkers, 0);
		if (!a->steer)
			return fail("steer", -ENOMEM, NULL);
		for (unsigned i = 0; i < a->nworkers; i++) {
			char name[RTE_RING_NAMESIZE];
			snprintf(name, sizeof(name), "dp_steer%u", i);
			a->steer[i] = rte_ring_create(name, STEER_RING, socket, RING_F_SC_DEQ);
			if (!a->steer[i])
				return fail("steer", -rte_errno, rte_strerror(rte_errno));
		}
	}
	if (a->nworkers > a->nqueues) {
		unsigned n = (unsigned)DP_ROLE_COUNT * a->nqueues;
		a->tx_locks = rte_zmalloc("dp_tx_locks", sizeof(*a->tx_locks) * n, 0);
		if (!a->tx_locks)
			return fail("tx_locks", -ENOMEM, NULL);
		for (unsigned i = 0; i < n; i++)
			rte_spinlock_init(&a->tx_locks[i]);
	}
	gw_log("workers", "workers=%u queues=%u steering=%s", a->nworkers, a->nqueues,
	       steering ? "on" : "off");
	if (a->cfg.mode == DP_MODE_FULL) {
		int r = dp_police_new(a->cfg.punt_rate, rte_get_tsc_hz(), &a->police);
		if (r < 0)
			return fail("police", r, NULL);
	}
	return 0;
}

/* Each worker's tables (full mode), with the NAT's external ports and the
 * rates' clocks shared when there are several (nat.h, shaper.h). */
static int setup_workers(struct dp_app *a, bool steering)
{
	int socket = (int)rte_socket_id(), r;
	if (steering) {
		r = dp_nat_ports_new(a->cfg.nat_lo, a->cfg.nat_hi, true, socket, &a->ports);
		if (r < 0)
			return fail("nat", r, NULL);
		r = dp_rates_new("dp_rates", RATE_CLOCKS, socket, &a->rates);
		if (r < 0)
			return fail("rates", r, NULL);
	}
	for (unsigned i = 0; i < a->nworkers; i++) {
		struct dp_worker *w = &a->workers[i];
		w->cfg = &a->cfg;
		w->id = i;
		w->queue = (uint16_t)(i % a->nqueues);
		w->rxq = i < a->nqueues;
		w->nworkers = a->nworkers;
		w->steer = a->steer;
		for (int role = 0; role < DP_ROLE_COUNT && a->tx_locks; role++)
			w->tx_lock[role] = &a->tx_locks[role * a->nqueues + w->queue];
		w->ports = a->ports;
		w->rates = a->rates;
		w->pool = a->pool;
		w->policy = &a->policy;
		w->stop = &a->stop;
		w->wan_nh = &a->wan_nh;
		w->wan_nh6 = &a->wan_nh6;
		w->wan_addr = &a->wan_addr;
		w->wan6 = &a->wan6;
		w->police = a->police;
		for (int role = 0; role < DP_ROLE_COUNT; role++) {
			w->twin[role] = a->twin[role];
			memcpy(w->port_mac[role], a->port_mac[role], 6);
		}
		r = dp_worker_init(w);
		if (r < 0) {
			gw_log("error", "stage=worker worker=%u error=%d flows=%u", i, r, a->cfg.flows);
			return r;
		}
	}
	return 0;
}

static int setup_control(struct dp_app *a)
{
	char err[256] = "", p[GW_LOG_VALUE];
	if (!a->cfg.control)
		return 0;
	struct dp_agent_ctx ctx = { .cfg = &a->cfg, .policy = &a->policy,
				    .workers = a->workers, .nworkers = a->nworkers };
	gw_log_value(p, sizeof(p), a->cfg.control);
	int r = dp_agent_new(a->cfg.control, &ctx, &a->agent, err, sizeof(err));
	if (r < 0)
		return fail("control", r, err);
	gw_log("control_listening", "path=%s", p);
	return 0;
}

/* Bytes DPDK's heap has handed out on this socket (what the tables take
 * is the difference around their making). */
static bool heap_used(uint64_t *ret)
{
	struct rte_malloc_socket_stats st;
	if (rte_malloc_get_socket_stats((int)rte_socket_id(), &st) != 0)
		return false;
	*ret = st.heap_allocsz_bytes;
	return true;
}

int dp_app_setup(struct dp_app *a)
{
	unsigned workers = rte_lcore_count() > 1 ? rte_lcore_count() - 1 : 1;
	bool steering = a->cfg.mode == DP_MODE_FULL && workers > 1;
	bool full = a->cfg.mode == DP_MODE_FULL;
	if (workers > 256)
		return fail("lcores", -EINVAL, "at most 256 workers");
	int r = setup_pool_policy(a);
	if (r < 0)
		return r;
	a->workers = rte_zmalloc("dp_workers", sizeof(*a->workers) * workers, RTE_CACHE_LINE_SIZE);
	if (!a->workers)
		return fail("workers", -ENOMEM, NULL);
	a->nworkers = workers;
	if ((r = setup_ports(a)) < 0)
		return r;
	setup_wan(a);
	if (full && !a->cfg.no_twins && (r = setup_twins(a)) < 0)
		return r;
	if ((r = setup_shared(a, steering)) < 0)
		return r;
	uint64_t before = 0, after = 0;
	bool heap = heap_used(&before);
	if ((r = setup_workers(a, steering)) < 0 || (r = setup_control(a)) < 0)
		return r;
	if (full && heap && heap_used(&after))
		dp_app_report_memory(a, after - before);
	return 0;
}

void dp_app_teardown(struct dp_app *a)
{
	for (int role = 0; role < DP_ROLE_COUNT; role++)
		if (a->port_up[role])
			dp_port_stop(a->cfg.port[role]);
	if (a->workers) {
		dp_app_report(a);
		for (unsigned i = 0; i < a->nworkers; i++)
			dp_worker_fini(&a->workers[i]);
	}
	/* The workers have stopped: every retired generation can go, and
	 * the twins' rings have no other user. */
	dp_agent_free(a->agent);
	if (a->nl) {
		const struct dp_nl_stats *n = dp_nl_stats(a->nl);
		gw_log("netlink_stats", "events=%lu resyncs=%lu solicits=%lu neigh_full=%lu bad=%lu",
		       n->events, n->resyncs, n->solicits, n->neigh_full, n->bad);
	}
	dp_nl_free(a->nl);
	for (int role = 0; role < DP_ROLE_COUNT; role++)
		dp_twin_free(a->twin[role]);
	rte_free(a->workers);
	for (unsigned i = 0; a->steer && i < a->nworkers; i++) {
		void *m;
		while (a->steer[i] && rte_ring_dequeue(a->steer[i], &m) == 0)
			rte_pktmbuf_free(m);
		rte_ring_free(a->steer[i]);
	}
	rte_free(a->steer);
	dp_nat_ports_free(a->ports);
	dp_rates_free(a->rates);
	rte_free(a->tx_locks);
	dp_classify_free(a->policy);
	dp_police_free(a->police);
	rte_mempool_free(a->pool);
}
