/* SPDX-License-Identifier: MIT */
/*
 * gw-dataplane: the DPDK primary process of the fast path.
 *
 *   gw-dataplane [EAL args] -- --lan PORT --wan PORT [--mode io|full] ...
 *
 * (config.h lists the options.)  Every worker lcore runs dp_worker_main on
 * its own RX/TX queue of each port; with no worker lcore (-l 0) the main
 * lcore runs the one worker itself.  The main lcore keeps the policy's
 * clock, serves the control socket (--control, agent.c) and watches for
 * SIGINT/SIGTERM (and --idle-exit).  At start it
 * prints what the flow and NAT tables take (event=flow_memory); on the way
 * out it stops the ports (net_pcap closes its output files then) and
 * prints the forwarding loop's duration (event=run) and every counter as
 * key=value lines on stderr.
 *
 * Exit status: 0 after a clean stop; 1 on an error after EAL started; 2 for
 * bad arguments; 3 when EAL itself cannot start (no hugepages, no rights),
 * which tests take as "cannot run here".
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include "agent.h"
#include "classify.h"
#include "config.h"
#include "lcore.h"
#include "port.h"

#define EXIT_USAGE 2
#define EXIT_NO_EAL 3
#define MBUF_CACHE 256
#define TICK_MS 10

static volatile bool stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = true;
}

struct app {
	struct dp_config cfg;
	struct rte_mempool *pool;
	struct dp_classify *policy; /* published to workers; the agent swaps it */
	struct dp_agent *agent;     /* NULL without --control */
	struct dp_worker *workers;
	unsigned nworkers;
	bool port_up[DP_ROLE_COUNT];
	uint64_t last_tick, last_rx, last_rx_change;
	uint64_t run_start, run_end; /* timer cycles around the workers' loop */
};

static uint64_t now_ms(void)
{
	return rte_get_timer_cycles() / (rte_get_timer_hz() / 1000 ? rte_get_timer_hz() / 1000 : 1);
}

static void tick(void *ctx)
{
	struct app *a = ctx;
	uint64_t now = now_ms();
	if (now - a->last_tick < TICK_MS)
		return;
	a->last_tick = now;
	const struct pol_ir *ir = dp_classify_ir(a->policy);
	struct pol_when when;
	if (ir && pol_when_at(ir, time(NULL), &when) == 0)
		dp_classify_set_when(a->policy, when);
	if (a->agent)
		dp_agent_poll(a->agent);
	if (!a->cfg.idle_exit_ms)
		return;
	uint64_t rx = 0;
	for (unsigned i = 0; i < a->nworkers; i++)
		for (int r = 0; r < DP_ROLE_COUNT; r++)
			rx += __atomic_load_n(&a->workers[i].stats[r].rx, __ATOMIC_RELAXED);
	if (rx != a->last_rx) {
		a->last_rx = rx;
		a->last_rx_change = now;
	} else if (now - a->last_rx_change >= a->cfg.idle_exit_ms) {
		stop = true;
	}
}

static void print_stats(const struct app *a)
{
	/* The forwarding loop's own duration, so a benchmark can turn the
	 * counters below into rates without EAL's start-up time. */
	if (a->run_end > a->run_start)
		fprintf(stderr, "event=run seconds=%.6f\n",
			(double)(a->run_end - a->run_start) / (double)rte_get_timer_hz());
	for (int role = 0; role < DP_ROLE_COUNT; role++) {
		struct dp_port_stats s = { 0 };
		for (unsigned i = 0; i < a->nworkers; i++) {
			const struct dp_port_stats *w = &a->workers[i].stats[role];
			s.rx += w->rx;
			s.rx_bytes += w->rx_bytes;
			s.forwarded += w->forwarded;
			s.tx += w->tx;
			s.tx_bytes += w->tx_bytes;
			s.tx_full += w->tx_full;
			s.generated += w->generated;
			s.punted += w->punted;
			for (int k = 0; k < DP_PUNT_COUNT; k++)
				s.punt[k] += w->punt[k];
			for (int k = 0; k < DP_DROP_COUNT; k++)
				s.drop[k] += w->drop[k];
		}
		uint64_t dropped = 0;
		for (int k = 0; k < DP_DROP_COUNT; k++)
			dropped += s.drop[k];
		const char *rn = dp_role_name((enum dp_role)role);
		fprintf(stderr,
			"event=port_stats role=%s port=%u rx=%lu rx_bytes=%lu forwarded=%lu "
			"punted=%lu dropped=%lu generated=%lu tx=%lu tx_bytes=%lu tx_full=%lu\n",
			rn, a->cfg.port[role], s.rx, s.rx_bytes, s.forwarded, s.punted, dropped,
			s.generated, s.tx, s.tx_bytes, s.tx_full);
		for (int k = 0; k < DP_PUNT_COUNT; k++)
			if (s.punt[k])
				fprintf(stderr, "event=punt role=%s reason=%s count=%lu\n", rn,
					dp_punt_name((enum dp_punt)k), s.punt[k]);
		for (int k = 0; k < DP_DROP_COUNT; k++)
			if (s.drop[k])
				fprintf(stderr, "event=drop role=%s reason=%s count=%lu\n", rn,
					dp_drop_name((enum dp_drop)k), s.drop[k]);
	}
	for (unsigned i = 0; i < a->nworkers; i++) {
		const struct dp_worker *w = &a->workers[i];
		if (!w->flows)
			continue;
		struct dp_flow_stats fs;
		struct dp_nat_stats ns;
		dp_flow_stats(w->flows, &fs);
		dp_nat_stats(w->nat, &ns);
		fprintf(stderr,
			"event=flow_stats worker=%u created=%lu expired=%lu evicted=%lu removed=%lu "
			"active=%u\n",
			i, fs.created, fs.expired, fs.evicted, fs.removed, fs.active);
		fprintf(stderr,
			"event=nat_stats worker=%u created=%lu preserved=%lu exhausted=%lu active=%u\n",
			i, ns.created, ns.preserved, ns.exhausted, ns.active);
	}
}

static int setup(struct app *a)
{
	char err[256] = "";
	int r;
	unsigned workers = rte_lcore_count() > 1 ? rte_lcore_count() - 1 : 1;
	if (a->cfg.mode == DP_MODE_FULL && workers > 1) {
		/* Both directions of a flow must meet one worker's table:
		 * that needs symmetric steering, not there yet. */
		fprintf(stderr, "event=error stage=lcores error=%d msg=\"full mode runs one "
			"worker lcore; give EAL one or two lcores\"\n", -ENOTSUP);
		return -ENOTSUP;
	}
	a->pool = rte_pktmbuf_pool_create("dp_mbufs", a->cfg.mbufs, MBUF_CACHE, 0,
					  RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (!a->pool) {
		r = -rte_errno;
		fprintf(stderr, "event=error stage=mempool error=%d mbufs=%u msg=\"%s\"\n", r,
			a->cfg.mbufs, rte_strerror(rte_errno));
		return r;
	}
	if (a->cfg.policy) {
		r = dp_classify_load(a->cfg.policy, 1, &a->policy, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "event=error stage=policy error=%d file=%s msg=\"%s\"\n", r,
				a->cfg.policy, err);
			return r;
		}
	} else {
		r = dp_classify_new(NULL, 1, &a->policy);
		if (r < 0) {
			fprintf(stderr, "event=error stage=policy error=%d\n", r);
			return r;
		}
	}
	a->workers = rte_zmalloc("dp_workers", sizeof(*a->workers) * workers, RTE_CACHE_LINE_SIZE);
	if (!a->workers) {
		fprintf(stderr, "event=error stage=workers error=%d\n", -ENOMEM);
		return -ENOMEM;
	}
	a->nworkers = workers;
	for (int role = 0; role < DP_ROLE_COUNT; role++) {
		uint8_t mac[6];
		r = dp_port_start(a->cfg.port[role], (uint16_t)workers, a->pool, mac);
		if (r < 0) {
			fprintf(stderr, "event=error stage=port role=%s port=%u error=%d msg=\"%s\"\n",
				dp_role_name((enum dp_role)role), a->cfg.port[role], r, strerror(-r));
			return r;
		}
		a->port_up[role] = true;
		for (unsigned i = 0; i < workers; i++)
			memcpy(a->workers[i].port_mac[role], mac, 6);
		fprintf(stderr, "event=port_up role=%s port=%u mac=%02x:%02x:%02x:%02x:%02x:%02x\n",
			dp_role_name((enum dp_role)role), a->cfg.port[role], mac[0], mac[1], mac[2],
			mac[3], mac[4], mac[5]);
	}
	/* What the flow and NAT tables take: the malloc heap before and after
	 * (rte_hash, the flow array and NAT mappings all come from it). */
	struct rte_malloc_socket_stats before, after;
	int socket = (int)rte_socket_id();
	bool heap = rte_malloc_get_socket_stats(socket, &before) == 0;
	for (unsigned i = 0; i < workers; i++) {
		struct dp_worker *w = &a->workers[i];
		w->cfg = &a->cfg;
		w->id = i;
		w->queue = (uint16_t)i;
		w->pool = a->pool;
		w->policy = &a->policy;
		w->stop = &stop;
		r = dp_worker_init(w);
		if (r < 0) {
			fprintf(stderr, "event=error stage=worker worker=%u error=%d flows=%u\n", i, r,
				a->cfg.flows);
			return r;
		}
	}
	if (a->cfg.control) {
		struct dp_agent_ctx ctx = { .cfg = &a->cfg, .policy = &a->policy,
					    .workers = a->workers, .nworkers = workers };
		r = dp_agent_new(a->cfg.control, &ctx, &a->agent, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "event=error stage=control error=%d msg=\"%s\"\n", r, err);
			return r;
		}
		fprintf(stderr, "event=control_listening path=%s\n", a->cfg.control);
	}
	if (a->cfg.mode == DP_MODE_FULL && heap &&
	    rte_malloc_get_socket_stats(socket, &after) == 0) {
		uint64_t bytes = after.heap_allocsz_bytes - before.heap_allocsz_bytes;
		fprintf(stderr, "event=flow_memory workers=%u flows=%u bytes=%lu per_flow=%.1f\n",
			workers, a->cfg.flows, (unsigned long)bytes,
			(double)bytes / ((double)a->cfg.flows * workers));
	}
	return 0;
}

static void teardown(struct app *a)
{
	for (int role = 0; role < DP_ROLE_COUNT; role++)
		if (a->port_up[role])
			dp_port_stop(a->cfg.port[role]);
	if (a->workers) {
		print_stats(a);
		for (unsigned i = 0; i < a->nworkers; i++)
			dp_worker_fini(&a->workers[i]);
	}
	/* The workers have stopped: every retired generation can go. */
	dp_agent_free(a->agent);
	if (a->workers)
		rte_free(a->workers);
	dp_classify_free(a->policy);
	rte_mempool_free(a->pool);
}

static int run(struct app *a)
{
	unsigned lcore, i = 0;
	a->last_tick = 0;
	a->last_rx_change = now_ms();
	fprintf(stderr, "event=start mode=%s workers=%u lan_port=%u wan_port=%u policy=%s\n",
		a->cfg.mode == DP_MODE_IO ? "io" : "full", a->nworkers, a->cfg.port[DP_ROLE_LAN],
		a->cfg.port[DP_ROLE_WAN], a->cfg.policy ? a->cfg.policy : "none");
	a->run_start = rte_get_timer_cycles();
	if (rte_lcore_count() == 1) {
		a->workers[0].tick = tick;
		a->workers[0].tick_ctx = a;
		int r = dp_worker_main(&a->workers[0]);
		a->run_end = rte_get_timer_cycles();
		return r;
	}
	RTE_LCORE_FOREACH_WORKER(lcore) {
		int r = rte_eal_remote_launch(dp_worker_main, &a->workers[i], lcore);
		if (r < 0) {
			stop = true;
			rte_eal_mp_wait_lcore();
			fprintf(stderr, "event=error stage=launch lcore=%u error=%d\n", lcore, r);
			return r;
		}
		i++;
	}
	while (!stop) {
		rte_delay_us_sleep(TICK_MS * 1000);
		tick(a);
	}
	rte_eal_mp_wait_lcore();
	a->run_end = rte_get_timer_cycles();
	return 0;
}

int main(int argc, char **argv)
{
	struct app a = { 0 };
	char err[256];
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	int n = rte_eal_init(argc, argv);
	if (n < 0) {
		fprintf(stderr, "event=error stage=eal error=%d msg=\"%s\"\n", -rte_errno,
			rte_strerror(rte_errno));
		return EXIT_NO_EAL;
	}
	int r = dp_config_parse(argc - n, argv + n, &a.cfg, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "event=error stage=args error=%d msg=\"%s\"\n", r, err);
		rte_eal_cleanup();
		return EXIT_USAGE;
	}
	r = setup(&a);
	if (r == 0)
		r = run(&a);
	teardown(&a);
	rte_eal_cleanup();
	fprintf(stderr, "event=exit status=%d\n", r < 0 ? 1 : 0);
	return r < 0 ? 1 : 0;
}
