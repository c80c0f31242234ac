/* SPDX-License-Identifier: MIT */
/*
 * What gw-dataplane says about itself (app.h), one log line each: at start
 * the memory its tables take; at the end the forwarding loop's duration
 * (so a benchmark turns counters into rates without EAL's start-up) and
 * every counter: per port received, forwarded, punted and dropped (so that
 * received = forwarded + punted + drops), each punt and drop reason that
 * counted, each twin's traffic, each worker's flow and NAT tables.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "logline.h"
#include "names.h"
#include "twin.h"

void dp_app_log_next_hop(const char *source, int family, const uint8_t *gw,
			 const uint8_t *mac)
{
	static const uint8_t none[16];
	char ip[INET6_ADDRSTRLEN] = "none", text[POL_MAC_TEXT];
	if (memcmp(gw, none, family == AF_INET ? 4 : 16))
		inet_ntop(family, gw, ip, sizeof(ip));
	gw_log(family == AF_INET ? "wan_next_hop" : "wan_next_hop6", "source=%s gw=%s mac=%s",
	       source, ip, mac ? pol_mac_format(mac, text) : "unknown");
}

/* Per flow each family holds: an IPv4 flow with its NAT mapping (the flow
 * table's IPv4 part and the NAT table, which is sized for those flows), an
 * IPv6 flow (routed, no NAT); the rest of bytes is fixed (caps, shaper,
 * the burst, shared tables, the agent's). */
void dp_app_report_memory(const struct dp_app *a, uint64_t bytes)
{
	uint64_t b4 = 0, b6 = 0, f4 = 0, f6 = 0, nat = 0;
	for (unsigned i = 0; i < a->nworkers; i++) {
		uint64_t fam[2];
		dp_flow_memory(a->workers[i].flows, fam);
		nat += dp_nat_memory(a->workers[i].nat);
		b4 += fam[0] + dp_nat_memory(a->workers[i].nat);
		b6 += fam[1];
		f4 += dp_flow_capacity4(a->workers[i].flows);
		f6 += dp_flow_capacity(a->workers[i].flows) - dp_flow_capacity4(a->workers[i].flows);
	}
	gw_log("flow_memory",
	       "workers=%u flows=%u bytes=%lu per_flow=%.1f flows4=%lu bytes4=%lu per_flow4=%.1f "
	       "nat=%lu flows6=%lu bytes6=%lu per_flow6=%.1f fixed=%lu",
	       a->nworkers, a->cfg.flows, (unsigned long)bytes,
	       (double)bytes / ((double)a->cfg.flows * a->nworkers), (unsigned long)f4,
	       (unsigned long)b4, f4 ? (double)b4 / (double)f4 : 0.0, (unsigned long)nat,
	       (unsigned long)f6,
	       (unsigned long)b6, f6 ? (double)b6 / (double)f6 : 0.0,
	       (unsigned long)(bytes - b4 - b6));
}

/* One port's counters over the workers. */
static void port_sum(const struct dp_app *a, int role, struct dp_port_stats *s)
{
	memset(s, 0, sizeof(*s));
	for (unsigned i = 0; i < a->nworkers; i++) {
		const struct dp_port_stats *w = &a->workers[i].stats[role];
		s->rx += w->rx;
		s->rx_bytes += w->rx_bytes;
		s->forwarded += w->forwarded;
		s->tx += w->tx;
		s->tx_bytes += w->tx_bytes;
		s->tx_full += w->tx_full;
		s->generated += w->generated;
		s->punted += w->punted;
		s->from_kernel += w->from_kernel;
		for (int k = 0; k < DP_PUNT_COUNT; k++)
			s->punt[k] += w->punt[k];
		for (int k = 0; k < DP_DROP_COUNT; k++)
			s->drop[k] += w->drop[k];
	}
}

static void report_port(const struct dp_app *a, int role)
{
	struct dp_port_stats s;
	port_sum(a, role, &s);
	uint64_t dropped = 0;
	for (int k = 0; k < DP_DROP_COUNT; k++)
		dropped += s.drop[k];
	const char *rn = dp_role_name((enum dp_role)role);
	gw_log("port_stats",
	       "role=%s port=%u rx=%lu rx_bytes=%lu forwarded=%lu punted=%lu dropped=%lu "
	       "generated=%lu from_kernel=%lu tx=%lu tx_bytes=%lu tx_full=%lu",
	       rn, a->cfg.port[role], s.rx, s.rx_bytes, s.forwarded, s.punted, dropped, s.generated,
	       s.from_kernel, s.tx, s.tx_bytes, s.tx_full);
	if (a->twin[role]) {
		const struct dp_twin_stats *t = dp_twin_stats(a->twin[role]);
		char tn[GW_LOG_VALUE];
		gw_log("twin_stats",
		       "role=%s name=%s to_kernel=%lu urgent=%lu to_kernel_err=%lu from_kernel=%lu "
		       "from_kernel_drop=%lu",
		       rn, gw_log_value(tn, sizeof(tn), dp_twin_name(a->twin[role])), t->to_kernel,
		       t->urgent, t->to_kernel_err, t->from_kernel, t->from_kernel_drop);
	}
	for (int k = 0; k < DP_PUNT_COUNT; k++)
		if (s.punt[k])
			gw_log("punt", "role=%s reason=%s count=%lu", rn,
			       dp_punt_name((enum dp_punt)k), s.punt[k]);
	for (int k = 0; k < DP_DROP_COUNT; k++)
		if (s.drop[k])
			gw_log("drop", "role=%s reason=%s count=%lu", rn,
			       dp_drop_name((enum dp_drop)k), s.drop[k]);
}

void dp_app_report(const struct dp_app *a)
{
	if (a->run_end > a->run_start)
		gw_log("run", "seconds=%.6f",
		       (double)(a->run_end - a->run_start) / (double)rte_get_timer_hz());
	for (int role = 0; role < DP_ROLE_COUNT; role++)
		report_port(a, role);
	for (unsigned i = 0; i < a->nworkers; i++) {
		const struct dp_worker *w = &a->workers[i];
		if (!w->flows)
			continue;
		struct dp_flow_stats fs;
		struct dp_nat_stats ns;
		dp_flow_stats(w->flows, &fs);
		dp_nat_stats(w->nat, &ns);
		gw_log("flow_stats", "worker=%u created=%lu expired=%lu evicted=%lu removed=%lu "
		       "active=%u", i, fs.created, fs.expired, fs.evicted, fs.removed, fs.active);
		gw_log("nat_stats", "worker=%u created=%lu preserved=%lu exhausted=%lu capped=%lu "
		       "scanned=%lu peers_full=%lu active=%u", i, ns.created, ns.preserved,
		       ns.exhausted, ns.capped, ns.scanned, ns.peers_full, ns.active);
	}
}
