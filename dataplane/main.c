/* SPDX-License-Identifier: MIT */
/*
 * gw-dataplane: the DPDK primary process of the fast path.
 *
 *   gw-dataplane [EAL args] -- --lan PORT --wan PORT [--mode io|full] ...
 *
 * (config.h lists the options.)  Every worker lcore runs dp_worker_main on
 * its own RX/TX queue of each port; with no worker lcore (-l 0) the main
 * lcore runs the one worker itself.  The main lcore keeps the policy's
 * clock, serves the control socket (--control, agent.c), moves the
 * exception path's packets between the twins' rings and TAPs (twin.c),
 * keeps the netlink mirror (netlink.c) and publishes the WAN next hop and
 * address to the workers (one atomic 64-bit word each), and watches for
 * SIGINT/SIGTERM (and --idle-exit).  In full mode it first creates the
 * twins (unless --no-twins) and gives them the ports' MACs and the
 * --lan-ip/--lan-ip6/--wan-ip addresses.  At start it
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
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_spinlock.h>

#include "agent.h"
#include "classify.h"
#include "config.h"
#include "lcore.h"
#include "netlink.h"
#include "port.h"
#include "punt.h"
#include "twin.h"

#define EXIT_USAGE 2
#define EXIT_NO_EAL 3
#define MBUF_CACHE 256
#define TICK_MS 10
#define AGENT_HOT_MS 50 /* after the agent's last work: polled on every call, not per tick */
#define STEER_RING 4096 /* packets waiting for their flow's worker, per worker */

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
	struct rte_ring **steer;    /* full mode, several workers: each one's queue */
	rte_spinlock_t *tx_locks;   /* [role][queue]: more workers than TX queues */
	bool port_up[DP_ROLE_COUNT];
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
	uint64_t hardened_at;       /* now_ms() of the twins' last sysctl check */
	uint64_t last_tick, last_rx, last_rx_change;
	uint64_t agent_busy; /* now_ms() of the agent's last work */
	uint64_t run_start, run_end; /* timer cycles around the workers' loop */
};

static uint64_t now_ms(void)
{
	return rte_get_timer_cycles() / (rte_get_timer_hz() / 1000 ? rte_get_timer_hz() / 1000 : 1);
}

static uint64_t pack_mac(const uint8_t mac[6])
{
	uint64_t v = DP_NH_KNOWN;
	for (int i = 0; i < 6; i++)
		v |= (uint64_t)mac[i] << (8 * i);
	return v;
}

_Static_assert(DP_NL_ADDR6_MAX <= DP_WAN6_MAX, "the workers' copy holds the mirror's addresses");

static uint64_t pack_addr(const uint8_t a[4], uint8_t plen)
{
	uint64_t v = DP_WAN_KNOWN | (uint64_t)plen << DP_WAN_PLEN_SHIFT;
	for (int i = 0; i < 4; i++)
		v |= (uint64_t)a[i] << (8 * i);
	return v;
}

static void log_next_hop(const char *source, const uint8_t gw[4], const uint8_t *mac)
{
	char ip[INET_ADDRSTRLEN] = "none";
	if (gw[0] | gw[1] | gw[2] | gw[3])
		inet_ntop(AF_INET, gw, ip, sizeof(ip));
	if (mac)
		fprintf(stderr, "event=wan_next_hop source=%s gw=%s mac=%02x:%02x:%02x:%02x:%02x:%02x\n",
			source, ip, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	else
		fprintf(stderr, "event=wan_next_hop source=%s gw=%s mac=unknown\n", source, ip);
}

/* The exception path and the mirror: as often as the main lcore comes by
 * (every millisecond at most, or every 1024 worker loops with -l 0). */
static void exception_path(struct app *a)
{
	for (int role = 0; role < DP_ROLE_COUNT; role++)
		if (a->twin[role])
			dp_twin_poll(a->twin[role]);
	if (!a->nl || !dp_nl_poll(a->nl, now_ms()))
		return;
	uint8_t gw[4], mac[6], addr[4], plen;
	bool known = dp_nl_wan_next_hop(a->nl, gw, mac);
	uint64_t v = known ? pack_mac(mac) : 0;
	/* --wan-gw-mac and --wan-ip override what the kernel says. */
	if (!a->cfg.has_wan_gw && v != a->wan_nh) {
		__atomic_store_n(&a->wan_nh, v, __ATOMIC_RELAXED);
		log_next_hop("kernel", gw, known ? mac : NULL);
	}
	uint8_t gw6[16];
	known = dp_nl_wan_next_hop6(a->nl, gw6, mac);
	v = known ? pack_mac(mac) : 0;
	if (!a->cfg.has_wan_gw && v != a->wan_nh6) {
		__atomic_store_n(&a->wan_nh6, v, __ATOMIC_RELAXED);
		char ip6[INET6_ADDRSTRLEN] = "none";
		static const uint8_t none6[16];
		if (memcmp(gw6, none6, 16))
			inet_ntop(AF_INET6, gw6, ip6, sizeof(ip6));
		if (known)
			fprintf(stderr,
				"event=wan_next_hop6 source=kernel gw=%s "
				"mac=%02x:%02x:%02x:%02x:%02x:%02x\n",
				ip6, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
		else
			fprintf(stderr, "event=wan_next_hop6 source=kernel gw=%s mac=unknown\n", ip6);
	}
	uint8_t addrs6[DP_NL_ADDR6_MAX][16], plens6[DP_NL_ADDR6_MAX];
	unsigned n6 = dp_nl_wan_addrs6(a->nl, addrs6, plens6, DP_NL_ADDR6_MAX);
	if (n6 != a->wan_addrs6 || memcmp(addrs6, a->wan_addr6, n6 * 16)) {
		a->wan_addrs6 = n6;
		memcpy(a->wan_addr6, addrs6, n6 * 16);
		/* To the workers, under the sequence count (lcore.h). */
		__atomic_store_n(&a->wan6.seq, a->wan6.seq + 1, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_RELEASE);
		memcpy(a->wan6.addr, addrs6, n6 * 16);
		__atomic_store_n(&a->wan6.n, n6, __ATOMIC_RELAXED);
		__atomic_store_n(&a->wan6.seq, a->wan6.seq + 1, __ATOMIC_RELEASE);
		char ip6[INET6_ADDRSTRLEN];
		for (unsigned i = 0; i < n6; i++)
			fprintf(stderr, "event=wan_addr6 source=kernel addr=%s/%u\n",
				inet_ntop(AF_INET6, addrs6[i], ip6, sizeof(ip6)), plens6[i]);
		if (!n6)
			fprintf(stderr, "event=wan_addr6 source=kernel addr=none\n");
	}
	known = dp_nl_wan_addr(a->nl, addr, &plen);
	v = known ? pack_addr(addr, plen) : 0;
	if (!a->cfg.has_wan4 && v != a->wan_addr) {
		/* Flows masqueraded as the old address die with it: their
		 * replies are no longer ours. */
		__atomic_store_n(&a->wan_addr, v, __ATOMIC_RELAXED);
		char ip[INET_ADDRSTRLEN];
		if (known)
			fprintf(stderr, "event=wan_addr source=kernel addr=%s/%u\n",
				inet_ntop(AF_INET, addr, ip, sizeof(ip)), plen);
		else
			fprintf(stderr, "event=wan_addr source=kernel addr=none\n");
	}
}

/* The twins' sysctls as their roles need them (twin.h), at start and
 * then once a second: writing net.ipv4.ip_forward, as a kernel-port
 * setup does, turns every interface's forwarding back on. */
static int harden(struct app *a, bool start)
{
	for (int role = 0; role < DP_ROLE_COUNT; role++) {
		char changed[512];
		if (!a->twin[role])
			continue;
		int r = dp_twin_harden(a->twin[role], role == DP_ROLE_LAN, changed, sizeof(changed));
		if (r < 0) {
			fprintf(stderr, "event=error stage=twin_sysctl twin=%s error=%d msg=\"%s\"\n",
				dp_twin_name(a->twin[role]), r, strerror(-r));
			return r;
		}
		if (r > 0)
			fprintf(stderr, "event=twin_sysctl twin=%s when=%s set=%s\n",
				dp_twin_name(a->twin[role]), start ? "start" : "changed", changed);
	}
	return 0;
}

static void tick(void *ctx)
{
	struct app *a = ctx;
	exception_path(a);
	uint64_t now = now_ms();
	if (now - a->hardened_at >= 1000) {
		a->hardened_at = now;
		harden(a, false);
	}
	bool full = now - a->last_tick >= TICK_MS;
	/* A client in a conversation with the agent (a LOAD_IMAGE crossing,
	 * then IMAGE_INFO) is served on every call, not once a tick. */
	if (a->agent && (full || now - a->agent_busy < AGENT_HOT_MS) && dp_agent_poll(a->agent))
		a->agent_busy = now;
	if (!full)
		return;
	a->last_tick = now;
	const struct pol_ir *ir = dp_classify_ir(a->policy);
	struct pol_when when;
	if (ir && pol_when_at(ir, time(NULL), &when) == 0)
		dp_classify_set_when(a->policy, when);
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
			s.from_kernel += w->from_kernel;
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
			"punted=%lu dropped=%lu generated=%lu from_kernel=%lu tx=%lu tx_bytes=%lu "
			"tx_full=%lu\n",
			rn, a->cfg.port[role], s.rx, s.rx_bytes, s.forwarded, s.punted, dropped,
			s.generated, s.from_kernel, s.tx, s.tx_bytes, s.tx_full);
		if (a->twin[role]) {
			const struct dp_twin_stats *t = dp_twin_stats(a->twin[role]);
			fprintf(stderr,
				"event=twin_stats role=%s name=%s to_kernel=%lu urgent=%lu "
				"to_kernel_err=%lu from_kernel=%lu from_kernel_drop=%lu\n",
				rn, dp_twin_name(a->twin[role]), t->to_kernel, t->urgent,
				t->to_kernel_err, t->from_kernel, t->from_kernel_drop);
		}
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

static int twin_addr(struct app *a, enum dp_role role, int family, const uint8_t *addr,
		     uint8_t plen)
{
	char ip[INET6_ADDRSTRLEN];
	inet_ntop(family, addr, ip, sizeof(ip));
	int r = dp_nl_addr_add(a->nl, dp_twin_ifindex(a->twin[role]), family, addr, plen);
	if (r < 0)
		fprintf(stderr, "event=error stage=twin_addr twin=%s addr=%s/%u error=%d msg=\"%s\"\n",
			dp_twin_name(a->twin[role]), ip, plen, r, strerror(-r));
	else
		fprintf(stderr, "event=twin_addr twin=%s addr=%s/%u\n",
			dp_twin_name(a->twin[role]), ip, plen);
	return r;
}

/* The twins (with the ports' MACs, so the kernel's ARP and ND answers
 * are right), the gateway's addresses on them, and the mirror. */
static int setup_twins(struct app *a, uint8_t mac[DP_ROLE_COUNT][6])
{
	int ifindex[DP_ROLE_COUNT];
	int r;
	for (int role = 0; role < DP_ROLE_COUNT; role++) {
		const char *name = a->cfg.twin[role];
		const uint8_t *m = mac[role];
		r = dp_twin_new(name, m, a->pool, &a->twin[role]);
		if (r < 0) {
			fprintf(stderr, "event=error stage=twin role=%s name=%s error=%d msg=\"%s%s\"\n",
				dp_role_name((enum dp_role)role), name, r, strerror(-r),
				r == -EBUSY ? " (another process holds it: a second gw-dataplane?)" :
				r == -EINVAL ? " (not a TAP, or a bad name)" : "");
			return r;
		}
		ifindex[role] = dp_twin_ifindex(a->twin[role]);
		fprintf(stderr,
			"event=twin_up role=%s name=%s ifindex=%d mac=%02x:%02x:%02x:%02x:%02x:%02x\n",
			dp_role_name((enum dp_role)role), name, ifindex[role], m[0], m[1], m[2], m[3],
			m[4], m[5]);
	}
	r = harden(a, true);
	if (r < 0)
		return r;
	r = dp_nl_new(ifindex, &a->nl);
	if (r < 0) {
		fprintf(stderr, "event=error stage=netlink error=%d msg=\"%s\"\n", r, strerror(-r));
		return r;
	}
	r = twin_addr(a, DP_ROLE_LAN, AF_INET, a->cfg.lan4, a->cfg.lan4_plen);
	if (r == 0 && a->cfg.has_lan6)
		r = twin_addr(a, DP_ROLE_LAN, AF_INET6, a->cfg.lan6, a->cfg.lan6_plen);
	if (r == 0 && a->cfg.has_wan4)
		r = twin_addr(a, DP_ROLE_WAN, AF_INET, a->cfg.wan4, a->cfg.wan4_plen);
	return r;
}

static int setup(struct app *a)
{
	uint8_t port_mac[DP_ROLE_COUNT][6];
	char err[256] = "";
	int r;
	unsigned workers = rte_lcore_count() > 1 ? rte_lcore_count() - 1 : 1;
	bool steering = a->cfg.mode == DP_MODE_FULL && workers > 1;
	if (steering && (unsigned)(a->cfg.nat_hi - a->cfg.nat_lo) + 1 < workers) {
		fprintf(stderr, "event=error stage=lcores error=%d msg=\"%u workers need at least "
			"as many NAT ports\"\n", -EINVAL, workers);
		return -EINVAL;
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
	/* A queue pair of each port per worker where the ports have them
	 * (RSS spreads the RX side); with fewer (a vdev has one), workers
	 * past them receive nothing from the ports and share TX queues under
	 * a lock.  In full mode the steering rings bring every packet to its
	 * flow's worker either way (lcore.h). */
	uint16_t nq = (uint16_t)workers;
	for (int role = 0; role < DP_ROLE_COUNT; role++) {
		struct rte_eth_dev_info info;
		if (rte_eth_dev_info_get(a->cfg.port[role], &info) == 0) {
			nq = RTE_MIN(nq, info.max_rx_queues);
			nq = RTE_MIN(nq, info.max_tx_queues);
		}
	}
	if (nq == 0)
		nq = 1;
	for (int role = 0; role < DP_ROLE_COUNT; role++) {
		uint8_t mac[6];
		r = dp_port_start(a->cfg.port[role], nq, a->pool, mac);
		if (r < 0) {
			fprintf(stderr, "event=error stage=port role=%s port=%u error=%d msg=\"%s\"\n",
				dp_role_name((enum dp_role)role), a->cfg.port[role], r, strerror(-r));
			return r;
		}
		a->port_up[role] = true;
		memcpy(port_mac[role], mac, 6);
		for (unsigned i = 0; i < workers; i++)
			memcpy(a->workers[i].port_mac[role], mac, 6);
		fprintf(stderr, "event=port_up role=%s port=%u mac=%02x:%02x:%02x:%02x:%02x:%02x\n",
			dp_role_name((enum dp_role)role), a->cfg.port[role], mac[0], mac[1], mac[2],
			mac[3], mac[4], mac[5]);
	}
	if (a->cfg.has_wan4)
		a->wan_addr = pack_addr(a->cfg.wan4, a->cfg.wan4_plen);
	if (a->cfg.has_wan_gw) {
		a->wan_nh = pack_mac(a->cfg.wan_gw_mac);
		a->wan_nh6 = a->wan_nh;
		static const uint8_t none[4];
		log_next_hop("config", none, a->cfg.wan_gw_mac);
	}
	if (a->cfg.mode == DP_MODE_FULL && !a->cfg.no_twins) {
		r = setup_twins(a, port_mac);
		if (r < 0)
			return r;
	}
	/* What the flow and NAT tables take: the malloc heap before and after
	 * (rte_hash, the flow array and NAT mappings all come from it). */
	struct rte_malloc_socket_stats before, after;
	int socket = (int)rte_socket_id();
	if (steering) {
		a->steer = rte_zmalloc("dp_steer", sizeof(*a->steer) * workers, 0);
		if (!a->steer)
			return -ENOMEM;
		for (unsigned i = 0; i < workers; i++) {
			char name[RTE_RING_NAMESIZE];
			snprintf(name, sizeof(name), "dp_steer%u", i);
			a->steer[i] = rte_ring_create(name, STEER_RING, socket, RING_F_SC_DEQ);
			if (!a->steer[i]) {
				fprintf(stderr, "event=error stage=steer error=%d\n", -rte_errno);
				return -rte_errno;
			}
		}
	}
	if (workers > nq) {
		a->tx_locks = rte_zmalloc("dp_tx_locks", sizeof(*a->tx_locks) * DP_ROLE_COUNT * nq, 0);
		if (!a->tx_locks)
			return -ENOMEM;
		for (unsigned i = 0; i < (unsigned)DP_ROLE_COUNT * nq; i++)
			rte_spinlock_init(&a->tx_locks[i]);
	}
	fprintf(stderr, "event=workers workers=%u queues=%u steering=%s\n", workers, nq,
		steering ? "on" : "off");
	if (a->cfg.mode == DP_MODE_FULL) {
		r = dp_police_new(a->cfg.punt_rate, rte_get_tsc_hz(), &a->police);
		if (r < 0) {
			fprintf(stderr, "event=error stage=police error=%d\n", r);
			return r;
		}
	}
	bool heap = rte_malloc_get_socket_stats(socket, &before) == 0;
	for (unsigned i = 0; i < workers; i++) {
		struct dp_worker *w = &a->workers[i];
		w->cfg = &a->cfg;
		w->id = i;
		w->queue = (uint16_t)(i % nq);
		w->rxq = i < nq;
		w->nworkers = workers;
		w->steer = a->steer;
		for (int role = 0; role < DP_ROLE_COUNT && a->tx_locks; role++)
			w->tx_lock[role] = &a->tx_locks[role * nq + w->queue];
		if (steering)
			dp_worker_nat_slice(a->cfg.nat_lo, a->cfg.nat_hi, workers, i, &w->nat_lo,
					    &w->nat_hi, &w->nat_slice);
		w->pool = a->pool;
		w->policy = &a->policy;
		w->stop = &stop;
		w->wan_nh = &a->wan_nh;
		w->wan_nh6 = &a->wan_nh6;
		w->wan_addr = &a->wan_addr;
		w->wan6 = &a->wan6;
		w->police = a->police;
		for (int role = 0; role < DP_ROLE_COUNT; role++)
			w->twin[role] = a->twin[role];
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
	/* The workers have stopped: every retired generation can go, and
	 * the twins' rings have no other user. */
	dp_agent_free(a->agent);
	if (a->nl) {
		const struct dp_nl_stats *n = dp_nl_stats(a->nl);
		fprintf(stderr,
			"event=netlink_stats events=%lu resyncs=%lu solicits=%lu neigh_full=%lu "
			"bad=%lu\n",
			n->events, n->resyncs, n->solicits, n->neigh_full, n->bad);
	}
	dp_nl_free(a->nl);
	for (int role = 0; role < DP_ROLE_COUNT; role++)
		dp_twin_free(a->twin[role]);
	if (a->workers)
		rte_free(a->workers);
	for (unsigned i = 0; a->steer && i < a->nworkers; i++) {
		void *m;
		while (a->steer[i] && rte_ring_dequeue(a->steer[i], &m) == 0)
			rte_pktmbuf_free(m);
		rte_ring_free(a->steer[i]);
	}
	rte_free(a->steer);
	rte_free(a->tx_locks);
	dp_classify_free(a->policy);
	dp_police_free(a->police);
	rte_mempool_free(a->pool);
}

static int run(struct app *a)
{
	unsigned lcore, i = 0;
	a->last_tick = 0;
	a->last_rx_change = now_ms();
	fprintf(stderr, "event=start mode=%s workers=%u lan_port=%u wan_port=%u policy=%s%s\n",
		a->cfg.mode == DP_MODE_IO ? "io" : "full", a->nworkers, a->cfg.port[DP_ROLE_LAN],
		a->cfg.port[DP_ROLE_WAN], a->cfg.policy ? a->cfg.policy : "none",
		a->cfg.policy || a->cfg.mode == DP_MODE_IO ? "" :
		" closed=yes msg=\"no flow is forwarded until a policy is loaded\"");
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
	/* Wake for the kernel's packets and events at once; a worker's punt
	 * waits a millisecond at most. */
	struct pollfd fds[DP_ROLE_COUNT + 1];
	nfds_t nfds = 0;
	for (int role = 0; role < DP_ROLE_COUNT; role++)
		if (a->twin[role])
			fds[nfds++] = (struct pollfd){ .fd = dp_twin_fd(a->twin[role]), .events = POLLIN };
	if (a->nl)
		fds[nfds++] = (struct pollfd){ .fd = dp_nl_fd(a->nl), .events = POLLIN };
	while (!stop) {
		if (nfds && poll(fds, nfds, 1) > 0) {
			/* A twin deleted under us (ip link del) stays in error:
			 * say so once and stop watching it, so this loop still
			 * sleeps.  Its punts count as to_kernel_err from then on;
			 * forwarding goes on (fail-static). */
			for (nfds_t k = 0; k < nfds; k++) {
				if (fds[k].fd < 0 || !(fds[k].revents & (POLLERR | POLLHUP | POLLNVAL)))
					continue;
				if (a->nl && fds[k].fd == dp_nl_fd(a->nl))
					continue; /* an overrun: dp_nl_poll dumps again */
				for (int role = 0; role < DP_ROLE_COUNT; role++)
					if (a->twin[role] && dp_twin_fd(a->twin[role]) == fds[k].fd)
						fprintf(stderr, "event=error stage=twin role=%s name=%s "
							"msg=\"the TAP is gone; the kernel no longer sees this "
							"port\"\n", dp_role_name((enum dp_role)role),
							dp_twin_name(a->twin[role]));
				fds[k].fd = -1;
			}
		} else if (!nfds) {
			bool hot = now_ms() - a->agent_busy < AGENT_HOT_MS;
			rte_delay_us_sleep((hot ? 1 : TICK_MS) * 1000);
		}
		tick(a);
	}
	rte_eal_mp_wait_lcore();
	/* What workers steered to each other after the owner's last look:
	 * finished here, so every received packet ends counted. */
	for (i = 0; i < a->nworkers; i++)
		dp_worker_drain(&a->workers[i]);
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
