/* SPDX-License-Identifier: MIT */
/*
 * gw-dataplane as a process (main.c is its thin main).  The DPDK primary
 * process of the fast path: every worker lcore runs dp_worker_main on its
 * own RX/TX queue of each port; with no worker lcore (-l 0) the main lcore
 * runs the one worker itself.  The main lcore keeps the policy's clock,
 * serves the control socket (--control, agent.c), moves the exception
 * path's packets between the twins' rings and TAPs (twin.c), keeps the
 * netlink mirror (netlink.c) and publishes the WAN next hop and address to
 * the workers (one atomic 64-bit word each), and watches for a stop
 * (SIGINT/SIGTERM, --idle-exit).
 *
 *   app.c         set-up and tear-down: the mbuf pool and the policy, the
 *                 ports, the twins and the mirror, the workers and what
 *                 they share, the control agent
 *   app_run.c     the run: the workers launched, the main lcore's loop
 *                 (exception path, mirror, schedules, agent, idle exit)
 *   app_report.c  what the process says about itself: the memory its
 *                 tables take (event=flow_memory) and, at the end, the
 *                 loop's duration and every counter
 *
 * Program code, not library: it logs, one gw_log line per event
 * (policy/logline.h), errors as event=error stage=... error=-errno msg=...
 */
#ifndef GW_DATAPLANE_APP_H
#define GW_DATAPLANE_APP_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_cycles.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_spinlock.h>

#include "config.h"
#include "lcore.h"
#include "netlink.h"

#define DP_APP_TICK_MS 10

struct dp_agent;
struct dp_classify;
struct dp_police;
struct dp_twin;

struct dp_app {
	struct dp_config cfg;
	/* Set by a signal or --idle-exit: every loop ends. */
	volatile bool stop;
	struct rte_mempool *pool;
	struct dp_classify *policy; /* published to workers; the agent swaps it */
	struct dp_agent *agent;     /* NULL without --control */
	struct dp_worker *workers;
	unsigned nworkers;
	uint16_t nqueues;           /* queue pairs of each port */
	struct rte_ring **steer;    /* full mode, several workers: each one's queue */
	struct dp_nat_ports *ports; /* full mode, several workers: shared NAT ports */
	struct dp_rates *rates;     /* full mode, several workers: shared rate clocks */
	rte_spinlock_t *tx_locks;   /* [role][queue]: more workers than TX queues */
	bool port_up[DP_ROLE_COUNT];
	uint8_t port_mac[DP_ROLE_COUNT][6];
	struct dp_twin *twin[DP_ROLE_COUNT]; /* NULL with --no-twins or in io mode */
	struct dp_nl *nl;
	/* The published WAN next hop (lcore.h, DP_NH_KNOWN); the workers
	 * read it, only the main lcore writes it. */
	uint64_t wan_nh;
	/* The same for IPv6 (the IPv6 default route's gateway); --wan-gw-mac
	 * sets both. */
	uint64_t wan_nh6;
	/* The published WAN address (lcore.h, DP_WAN_KNOWN): --wan-ip, or
	 * the WAN twin's, followed. */
	uint64_t wan_addr;
	/* The WAN twin's global IPv6 addresses as last logged, and as the
	 * workers read them (what from the WAN is the gateway's own). */
	unsigned wan_addrs6;
	uint8_t wan_addr6[DP_NL_ADDR6_MAX][16];
	struct dp_wan6 wan6;
	struct dp_police *police;   /* the punt path's policers (full mode) */
	uint64_t hardened_at;       /* dp_app_now_ms() of the twins' last sysctl check */
	uint64_t last_tick, last_rx, last_rx_change;
	uint64_t run_start, run_end; /* timer cycles around the workers' loop */
};

/* After a->cfg is parsed: everything the run needs.  -errno, said in a
 * log line; dp_app_teardown undoes a half-made set-up too. */
int dp_app_setup(struct dp_app *a);
/* Until a->stop: 0, or -errno (a worker could not be launched). */
int dp_app_run(struct dp_app *a);
/* The ports stopped, the final report, everything freed. */
void dp_app_teardown(struct dp_app *a);

/* app_run.c: the twins' sysctls as their roles need them (start: the
 * first time, logged as such).  -errno. */
int dp_app_harden(struct dp_app *a, bool start);

/* app_report.c */
void dp_app_report_memory(const struct dp_app *a, uint64_t bytes);
void dp_app_report(const struct dp_app *a);
/* A WAN next hop as a log line (mac NULL: unknown). */
void dp_app_log_next_hop(const char *source, int family, const uint8_t *gw,
			 const uint8_t *mac);

static inline uint64_t dp_app_now_ms(void)
{
	uint64_t hz = rte_get_timer_hz() / 1000;
	return rte_get_timer_cycles() / (hz ? hz : 1);
}

/* A MAC as the workers read it (lcore.h, DP_NH_KNOWN). */
static inline uint64_t dp_app_pack_mac(const uint8_t mac[6])
{
	uint64_t v = DP_NH_KNOWN;
	for (int i = 0; i < 6; i++)
		v |= (uint64_t)mac[i] << (8 * i);
	return v;
}

/* A WAN address and its prefix as the workers read them (DP_WAN_KNOWN). */
static inline uint64_t dp_app_pack_addr(const uint8_t a[4], uint8_t plen)
{
	uint64_t v = DP_WAN_KNOWN | (uint64_t)plen << DP_WAN_PLEN_SHIFT;
	for (int i = 0; i < 4; i++)
		v |= (uint64_t)a[i] << (8 * i);
	return v;
}

#endif
