/* SPDX-License-Identifier: MIT */
/*
 * gw-dataplane's run (app.h): the workers launched on their lcores, and the
 * main lcore's loop meanwhile.  It sleeps in poll() on the twins' TAPs, the
 * netlink socket and the control agent's sockets for at most a millisecond
 * (or a tick, with no twin and no netlink), and each time round: the
 * exception path (twin.c), the mirror's news published to the workers
 * (next hops and WAN addresses, one atomic word each, logged when they
 * change), the twins' sysctls once a second, the control agent when one
 * of its sockets is ready (a request is answered on the wake-up that its
 * arrival causes, not at the next tick), and once a tick the agent's
 * housekeeping, the policy's clock and --idle-exit.  With one lcore the
 * worker's loop calls the same tick every 1024 iterations, and the agent's
 * sockets are then looked at with a poll() that does not wait.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <rte_eal.h>
#include <rte_lcore.h>

#include "agent.h"
#include "app.h"
#include "classify.h"
#include "logline.h"
#include "twin.h"

_Static_assert(DP_NL_ADDR6_MAX <= DP_WAN6_MAX, "the workers' copy holds the mirror's addresses");

/* The WAN twin's global IPv6 addresses changed: to the workers, under
 * the sequence count (lcore.h), and to the log. */
static void publish_addrs6(struct dp_app *a, unsigned n6, uint8_t addrs6[][16],
			   const uint8_t *plens6)
{
	a->wan_addrs6 = n6;
	memcpy(a->wan_addr6, addrs6, n6 * 16);
	__atomic_store_n(&a->wan6.seq, a->wan6.seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(a->wan6.addr, addrs6, n6 * 16);
	__atomic_store_n(&a->wan6.n, n6, __ATOMIC_RELAXED);
	__atomic_store_n(&a->wan6.seq, a->wan6.seq + 1, __ATOMIC_RELEASE);
	char ip6[INET6_ADDRSTRLEN];
	for (unsigned i = 0; i < n6; i++)
		gw_log("wan_addr6", "source=kernel addr=%s/%u",
		       inet_ntop(AF_INET6, addrs6[i], ip6, sizeof(ip6)), plens6[i]);
	if (!n6)
		gw_log("wan_addr6", "source=kernel addr=none");
}

/* What the mirror knows now, to the workers where it changed (--wan-gw-mac
 * and --wan-ip override what the kernel says). */
static void publish_mirror(struct dp_app *a)
{
	uint8_t gw[4], gw6[16], mac[6], addr[4], plen;
	bool known = dp_nl_wan_next_hop(a->nl, gw, mac);
	uint64_t v = known ? dp_app_pack_mac(mac) : 0;
	if (!a->cfg.has_wan_gw && v != a->wan_nh) {
		__atomic_store_n(&a->wan_nh, v, __ATOMIC_RELAXED);
		dp_app_log_next_hop("kernel", AF_INET, gw, known ? mac : NULL);
	}
	known = dp_nl_wan_next_hop6(a->nl, gw6, mac);
	v = known ? dp_app_pack_mac(mac) : 0;
	if (!a->cfg.has_wan_gw && v != a->wan_nh6) {
		__atomic_store_n(&a->wan_nh6, v, __ATOMIC_RELAXED);
		dp_app_log_next_hop("kernel", AF_INET6, gw6, known ? mac : NULL);
	}
	uint8_t addrs6[DP_NL_ADDR6_MAX][16], plens6[DP_NL_ADDR6_MAX];
	unsigned n6 = dp_nl_wan_addrs6(a->nl, addrs6, plens6, DP_NL_ADDR6_MAX);
	if (n6 != a->wan_addrs6 || memcmp(addrs6, a->wan_addr6, n6 * 16))
		publish_addrs6(a, n6, addrs6, plens6);
	known = dp_nl_wan_addr(a->nl, addr, &plen);
	v = known ? dp_app_pack_addr(addr, plen) : 0;
	if (!a->cfg.has_wan4 && v != a->wan_addr) {
		/* Flows masqueraded as the old address die with it: their
		 * replies are no longer ours. */
		__atomic_store_n(&a->wan_addr, v, __ATOMIC_RELAXED);
		char ip[INET_ADDRSTRLEN];
		if (known)
			gw_log("wan_addr", "source=kernel addr=%s/%u",
			       inet_ntop(AF_INET, addr, ip, sizeof(ip)), plen);
		else
			gw_log("wan_addr", "source=kernel addr=none");
	}
}

/* The exception path and the mirror: as often as the main lcore comes by. */
static void exception_path(struct dp_app *a)
{
	for (int role = 0; role < DP_ROLE_COUNT; role++)
		if (a->twin[role])
			dp_twin_poll(a->twin[role]);
	if (a->nl && dp_nl_poll(a->nl, dp_app_now_ms()))
		publish_mirror(a);
}

/* The twins' sysctls as their roles need them (twin.h), at start and
 * then once a second: writing net.ipv4.ip_forward, as a kernel-port
 * setup does, turns every interface's forwarding back on. */
int dp_app_harden(struct dp_app *a, bool start)
{
	for (int role = 0; role < DP_ROLE_COUNT; role++) {
		char changed[512], tn[GW_LOG_VALUE], v[GW_LOG_VALUE];
		if (!a->twin[role])
			continue;
		gw_log_value(tn, sizeof(tn), dp_twin_name(a->twin[role]));
		int r = dp_twin_harden(a->twin[role], role == DP_ROLE_LAN, changed, sizeof(changed));
		if (r < 0) {
			gw_log("error", "stage=twin_sysctl twin=%s error=%d msg=%s", tn, r,
			       gw_log_value(v, sizeof(v), strerror(-r)));
			return r;
		}
		if (r > 0)
			gw_log("twin_sysctl", "twin=%s when=%s set=%s", tn, start ? "start" : "changed",
			       gw_log_value(v, sizeof(v), changed));
	}
	return 0;
}

/* --idle-exit: a stop once no packet came for that long. */
static void idle_exit(struct dp_app *a, uint64_t now)
{
	uint64_t rx = 0;
	for (unsigned i = 0; i < a->nworkers; i++)
		for (int r = 0; r < DP_ROLE_COUNT; r++)
			rx += __atomic_load_n(&a->workers[i].stats[r].rx, __ATOMIC_RELAXED);
	if (rx != a->last_rx) {
		a->last_rx = rx;
		a->last_rx_change = now;
	} else if (now - a->last_rx_change >= a->cfg.idle_exit_ms) {
		a->stop = true;
	}
}

/* Whether any of fds (n of them, as dp_agent_pollfds filled them and
 * poll() answered) has something for the agent. */
static bool any_ready(const struct pollfd *fds, nfds_t n)
{
	for (nfds_t k = 0; k < n; k++)
		if (fds[k].revents)
			return true;
	return false;
}

/* agent_ready: one of the agent's sockets is ready (a request, a
 * connection, room for a pending reply): served now, whatever the tick. */
static void tick(struct dp_app *a, bool agent_ready)
{
	exception_path(a);
	uint64_t now = dp_app_now_ms();
	if (now - a->hardened_at >= 1000) {
		a->hardened_at = now;
		dp_app_harden(a, false);
	}
	bool full = now - a->last_tick >= DP_APP_TICK_MS;
	if (a->agent && (full || agent_ready))
		dp_agent_poll(a->agent);
	if (!full)
		return;
	a->last_tick = now;
	const struct pol_ir *ir = dp_classify_ir(a->policy);
	struct pol_when when;
	if (ir && pol_when_at(ir, time(NULL), &when) == 0)
		dp_classify_set_when(a->policy, when);
	if (a->cfg.idle_exit_ms)
		idle_exit(a, now);
}

/* A twin deleted under us (ip link del) stays in error: say so once and
 * stop watching it (fd -1), so the loop still sleeps.  Its punts count as
 * to_kernel_err from then on; forwarding goes on (fail-static). */
static void watch_errors(struct dp_app *a, struct pollfd *fds, nfds_t nfds)
{
	for (nfds_t k = 0; k < nfds; k++) {
		if (fds[k].fd < 0 || !(fds[k].revents & (POLLERR | POLLHUP | POLLNVAL)))
			continue;
		if (a->nl && fds[k].fd == dp_nl_fd(a->nl))
			continue; /* an overrun: dp_nl_poll dumps again */
		for (int role = 0; role < DP_ROLE_COUNT; role++) {
			char tn[GW_LOG_VALUE];
			if (a->twin[role] && dp_twin_fd(a->twin[role]) == fds[k].fd)
				gw_log("error", "stage=twin role=%s name=%s msg=%s",
				       dp_role_name((enum dp_role)role),
				       gw_log_value(tn, sizeof(tn), dp_twin_name(a->twin[role])),
				       "\"the TAP is gone; the kernel no longer sees this port\"");
		}
		fds[k].fd = -1;
	}
}

/* One lcore: the worker's loop calls this every 1024 iterations.  The
 * agent's sockets are asked without waiting (one system call, beside the
 * exception path's own): a request is served on the next call, not at
 * the next tick. */
static void worker_tick(void *ctx)
{
	struct dp_app *a = ctx;
	struct pollfd fds[DP_AGENT_POLLFDS];
	nfds_t n = a->agent ? dp_agent_pollfds(a->agent, fds, DP_AGENT_POLLFDS) : 0;
	tick(a, n && poll(fds, n, 0) > 0 && any_ready(fds, n));
}

/* The main lcore while the workers run: wake for the kernel's packets and
 * events and for the control agent's clients at once (a worker's punt
 * waits a millisecond at most; a control request not at all).  The
 * agent's part of the set is made again each time round: its clients
 * come and go, and want POLLOUT while a reply waits for its reader. */
static void main_loop(struct dp_app *a)
{
	struct pollfd fds[DP_ROLE_COUNT + 1 + DP_AGENT_POLLFDS];
	nfds_t nbase = 0;
	for (int role = 0; role < DP_ROLE_COUNT; role++)
		if (a->twin[role])
			fds[nbase++] = (struct pollfd){ .fd = dp_twin_fd(a->twin[role]), .events = POLLIN };
	if (a->nl)
		fds[nbase++] = (struct pollfd){ .fd = dp_nl_fd(a->nl), .events = POLLIN };
	int timeout = nbase ? 1 : DP_APP_TICK_MS;
	while (!a->stop) {
		nfds_t nagent = a->agent ? dp_agent_pollfds(a->agent, fds + nbase, DP_AGENT_POLLFDS) : 0;
		bool agent_ready = false;
		if (poll(fds, nbase + nagent, timeout) > 0) {
			watch_errors(a, fds, nbase);
			agent_ready = any_ready(fds + nbase, nagent);
		}
		tick(a, agent_ready);
	}
}

int dp_app_run(struct dp_app *a)
{
	unsigned lcore, i = 0;
	char p[GW_LOG_VALUE];
	a->last_tick = 0;
	a->last_rx_change = dp_app_now_ms();
	gw_log("start", "mode=%s workers=%u lan_port=%u wan_port=%u policy=%s%s",
	       a->cfg.mode == DP_MODE_IO ? "io" : "full", a->nworkers, a->cfg.port[DP_ROLE_LAN],
	       a->cfg.port[DP_ROLE_WAN], gw_log_value(p, sizeof(p), a->cfg.policy ? a->cfg.policy :
										     "none"),
	       a->cfg.policy || a->cfg.mode == DP_MODE_IO ? "" :
	       " closed=yes msg=\"no flow is forwarded until a policy is loaded\"");
	a->run_start = rte_get_timer_cycles();
	if (rte_lcore_count() == 1) {
		a->workers[0].tick = worker_tick;
		a->workers[0].tick_ctx = a;
		int r = dp_worker_main(&a->workers[0]);
		dp_worker_drain(&a->workers[0]);
		a->run_end = rte_get_timer_cycles();
		return r;
	}
	RTE_LCORE_FOREACH_WORKER(lcore) {
		int r = rte_eal_remote_launch(dp_worker_main, &a->workers[i], lcore);
		if (r < 0) {
			a->stop = true;
			rte_eal_mp_wait_lcore();
			gw_log("error", "stage=launch lcore=%u error=%d", lcore, r);
			return r;
		}
		i++;
	}
	main_loop(a);
	rte_eal_mp_wait_lcore();
	/* What workers steered to each other after the owner's last look:
	 * finished here, so every received packet ends counted. */
	for (i = 0; i < a->nworkers; i++)
		dp_worker_drain(&a->workers[i]);
	a->run_end = rte_get_timer_cycles();
	return 0;
}
