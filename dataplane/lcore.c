/* SPDX-License-Identifier: MIT */
/*
 * The worker loop and the full pipeline (see lcore.h).  Per packet:
 * parse; L2 checks; by role and family, punt what is the kernel's, find
 * the flow (or, from the LAN only, classify and create it with its NAT
 * mapping), apply the cached verdict, rewrite, and queue it for TX.
 * Every packet ends counted as forwarded, punted or a named drop.  The
 * exception path (TAP twins) is a later stage: punted packets are counted
 * and freed here.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_rcu_qsbr.h>

#include "lcore.h"
#include "parse.h"
#include "xlate.h"

#define EXPIRE_BUDGET 32

/* ------------------------------------------------------------ setup */

static void release_flow(void *ctx, struct dp_flow *f)
{
	struct dp_nat *nat = ctx;
	if (f->flags & DP_FLOW_NAT)
		dp_nat_release(nat, f->nat_map[0]);
	if (f->flags & DP_FLOW_HAIRPIN)
		dp_nat_release(nat, f->nat_map[1]);
}

int dp_worker_init(struct dp_worker *w)
{
	char name[32];
	int r, socket = (int)rte_socket_id();
	w->ms_div = rte_get_timer_hz() / 1000;
	if (w->ms_div == 0)
		w->ms_div = 1;
	if (w->cfg->mode != DP_MODE_FULL)
		return 0;
	snprintf(name, sizeof(name), "dp_nat%u", w->id);
	r = dp_nat_new(name, w->cfg->flows, w->cfg->nat_lo, w->cfg->nat_hi, socket, &w->nat);
	if (r < 0)
		return r;
	snprintf(name, sizeof(name), "dp_flow%u", w->id);
	r = dp_flow_table_new(name, w->cfg->flows, socket, release_flow, w->nat, &w->flows);
	if (r < 0) {
		dp_nat_free(w->nat);
		w->nat = NULL;
	}
	return r;
}

void dp_worker_fini(struct dp_worker *w)
{
	for (int role = 0; role < DP_ROLE_COUNT; role++) {
		rte_pktmbuf_free_bulk(w->tx[role].m, w->tx[role].n);
		w->tx[role].n = 0;
	}
	dp_flow_table_free(w->flows);
	dp_nat_free(w->nat);
	w->flows = NULL;
	w->nat = NULL;
}

/* ------------------------------------------------------------ outcomes */

static void drop(struct dp_worker *w, enum dp_role in, struct rte_mbuf *m, enum dp_drop why)
{
	w->stats[in].drop[why]++;
	rte_pktmbuf_free(m);
}

static void punt(struct dp_worker *w, enum dp_role in, struct rte_mbuf *m, enum dp_punt why)
{
	w->stats[in].punted++;
	w->stats[in].punt[why]++;
	rte_pktmbuf_free(m);
}

static void queue_tx(struct dp_worker *w, enum dp_role out, struct rte_mbuf *m)
{
	struct dp_tx_buf *b = &w->tx[out];
	if (b->n == RTE_DIM(b->m)) {
		w->stats[out].tx_full++;
		rte_pktmbuf_free(m);
		return;
	}
	b->m[b->n++] = m;
}

static void forward(struct dp_worker *w, enum dp_role in, enum dp_role out, struct rte_mbuf *m)
{
	w->stats[in].forwarded++;
	queue_tx(w, out, m);
}

void dp_worker_flush(struct dp_worker *w)
{
	for (int role = 0; role < DP_ROLE_COUNT; role++) {
		struct dp_tx_buf *b = &w->tx[role];
		if (!b->n)
			continue;
		/* Lengths before the PMD owns (and may free) the mbufs. */
		uint32_t len[RTE_DIM(b->m)];
		for (uint16_t i = 0; i < b->n; i++)
			len[i] = rte_pktmbuf_pkt_len(b->m[i]);
		uint16_t sent = rte_eth_tx_burst(w->cfg->port[role], w->queue, b->m, b->n);
		for (uint16_t i = 0; i < sent; i++)
			w->stats[role].tx_bytes += len[i];
		w->stats[role].tx += sent;
		if (sent < b->n) {
			w->stats[role].tx_full += (uint64_t)(b->n - sent);
			rte_pktmbuf_free_bulk(b->m + sent, (unsigned)(b->n - sent));
		}
		b->n = 0;
	}
}

/* ------------------------------------------------------------ helpers */

static void make_key(struct dp_flow_key *k, enum dp_role role, uint8_t family, uint8_t proto,
		     const uint8_t src[16], const uint8_t dst[16], uint16_t sport, uint16_t dport)
{
	memset(k, 0, sizeof(*k));
	memcpy(k->src, src, 16);
	memcpy(k->dst, dst, 16);
	k->sport = sport;
	k->dport = dport;
	k->proto = proto;
	k->family = family;
	k->role = (uint8_t)role;
}

/* The tuple a packet of direction d leaves with: the reverse of the key
 * the other direction arrives with. */
static void out_tuple(const struct dp_flow *f, unsigned d, struct dp_tuple *t)
{
	const struct dp_flow_key *k = &f->key[1 - d];
	memcpy(t->src, k->dst, 16);
	memcpy(t->dst, k->src, 16);
	t->sport = k->dport;
	t->dport = k->sport;
}

static void send_reject(struct dp_worker *w, enum dp_role in, struct rte_mbuf *m,
			const struct dp_pkt *p)
{
	const uint8_t *gw = p->family == 4 ? w->cfg->lan4 : w->cfg->lan6;
	struct rte_mbuf *r = rte_pktmbuf_alloc(w->pool);
	if (!r)
		return;
	size_t len = dp_build_reject(rte_pktmbuf_mtod(m, const uint8_t *), p, w->port_mac[in], gw,
				     rte_pktmbuf_mtod(r, uint8_t *), rte_pktmbuf_tailroom(r));
	if (!len) {
		rte_pktmbuf_free(r);
		return;
	}
	rte_pktmbuf_append(r, (uint16_t)len);
	w->stats[in].generated++;
	queue_tx(w, in, r);
}

static void classify_facts(const struct dp_flow *f, struct dp_classify_in *ci)
{
	const struct dp_flow_key *k0 = &f->key[0], *k1 = &f->key[1];
	memset(ci, 0, sizeof(*ci));
	memcpy(ci->mac, f->mac[1], 6);
	ci->family = k0->family;
	ci->proto = k0->proto;
	ci->dport = (k0->proto == IPPROTO_TCP || k0->proto == IPPROTO_UDP) ? k0->dport : 0;
	/* Where the device's packets really go: for hairpinned ones, the
	 * LAN host behind the WAN address. */
	memcpy(ci->dst, k1->src, 16);
}

/* A flow decided by an older generation is decided again.  Returns false
 * when the flow had to go (now allowed, it needs a NAT mapping it never
 * got): the packet then opens a new one. */
static bool recheck(struct dp_worker *w, uint32_t idx)
{
	struct dp_flow *f = dp_flow_get(w->flows, idx);
	const struct dp_classify *c = __atomic_load_n(w->policy, __ATOMIC_ACQUIRE);
	uint32_t gen = dp_classify_generation(c);
	if (f->generation == gen)
		return true;
	struct dp_classify_in ci;
	struct dp_verdict v;
	classify_facts(f, &ci);
	dp_classify_flow(c, &ci, &v);
	if (v.action == POL_ALLOW && f->action != POL_ALLOW && f->key[0].family == 4 &&
	    !(f->flags & DP_FLOW_NAT)) {
		dp_flow_remove(w->flows, idx);
		return false;
	}
	f->action = v.action;
	f->rule = v.rule;
	f->generation = gen;
	return true;
}

/* A packet of an existing flow, direction d. */
static void flow_packet(struct dp_worker *w, enum dp_role in, struct rte_mbuf *m,
			const struct dp_pkt *p, uint32_t idx, unsigned d, uint64_t now)
{
	struct dp_flow *f = dp_flow_get(w->flows, idx);
	dp_flow_touch(w->flows, idx, d, rte_pktmbuf_pkt_len(m), p->tcp_flags, now);
	if (f->action == POL_BLOCK) {
		drop(w, in, m, DP_DROP_POLICY_BLOCK);
		return;
	}
	if (f->action == POL_REJECT) {
		if (d == 0)
			send_reject(w, in, m, p);
		drop(w, in, m, DP_DROP_POLICY_REJECT);
		return;
	}
	if (p->ttl <= 1) {
		drop(w, in, m, DP_DROP_TTL);
		return;
	}
	uint8_t *data = rte_pktmbuf_mtod(m, uint8_t *);
	if (p->family == 4) {
		struct dp_tuple t;
		out_tuple(f, d, &t);
		dp_rewrite4(data, p, &t);
	}
	dp_ttl_dec(data, p);
	enum dp_role out = (enum dp_role)f->out_role[d];
	dp_set_macs(data, f->mac[d], w->port_mac[out]);
	forward(w, in, out, m);
}

/* An ICMP error about a packet of one of our flows: translate the quoted
 * packet back to what its sender sent, and send the error to that sender.
 * Returns DP_DROP_COUNT when forwarded, else why not. */
static enum dp_drop icmp_error(struct dp_worker *w, enum dp_role in, struct rte_mbuf *m,
			       const struct dp_pkt *p)
{
	const struct dp_inner *q = &p->inner;
	struct dp_flow_key k;
	unsigned d;
	make_key(&k, in, p->family, q->proto, q->dst, q->src, q->dport, q->sport);
	uint32_t idx = dp_flow_lookup(w->flows, &k, &d);
	if (idx == DP_FLOW_NONE)
		return DP_DROP_ICMP_NO_FLOW;
	struct dp_flow *f = dp_flow_get(w->flows, idx);
	if (f->action != POL_ALLOW)
		return f->action == POL_BLOCK ? DP_DROP_POLICY_BLOCK : DP_DROP_POLICY_REJECT;
	if (p->ttl <= 1)
		return DP_DROP_TTL;
	uint8_t *data = rte_pktmbuf_mtod(m, uint8_t *);
	if (p->family == 4) {
		/* The quoted packet left in direction 1 - d; its sender first
		 * sent it as key[1 - d] says. */
		const struct dp_flow_key *orig = &f->key[1 - d];
		struct dp_tuple inner;
		memcpy(inner.src, orig->src, 16);
		memcpy(inner.dst, orig->dst, 16);
		inner.sport = orig->sport;
		inner.dport = orig->dport;
		const uint8_t *osrc = p->src;
		if (!memcmp(p->src, q->dst, 4)) /* from the end host itself */
			osrc = orig->dst;
		dp_rewrite_icmp4_error(data, p, &inner, osrc, orig->src);
	}
	dp_ttl_dec(data, p);
	enum dp_role out = (enum dp_role)f->out_role[d];
	dp_set_macs(data, f->mac[d], w->port_mac[out]);
	forward(w, in, out, m);
	return DP_DROP_COUNT;
}

/* May this packet open a flow?  TCP (not a RST), UDP and echo requests. */
static enum dp_drop opener_check(const struct dp_pkt *p)
{
	switch (p->proto) {
	case IPPROTO_TCP:
		return p->tcp_flags & DP_TCP_RST ? DP_DROP_TCP_FLAGS : DP_DROP_COUNT;
	case IPPROTO_UDP:
		return DP_DROP_COUNT;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return p->icmp_kind == DP_ICMP_ECHO_REQUEST ? DP_DROP_COUNT : DP_DROP_ICMP_TYPE;
	}
	return DP_DROP_L4_PROTO;
}

/* The first packet of a flow from the LAN: classify, map, create. */
static void new_flow(struct dp_worker *w, struct rte_mbuf *m, const struct dp_pkt *p,
		     uint64_t now)
{
	const enum dp_role in = DP_ROLE_LAN;
	const struct dp_config *cfg = w->cfg;
	const uint8_t *smac = rte_pktmbuf_mtod(m, const uint8_t *) + 6;
	enum dp_drop why = opener_check(p);
	if (why != DP_DROP_COUNT) {
		drop(w, in, m, why);
		return;
	}
	bool hairpin = p->family == 4 && !memcmp(p->dst, cfg->wan4, 4);
	uint32_t peer = DP_NAT_NONE;
	struct dp_classify_in ci = { .family = p->family, .proto = p->proto };
	memcpy(ci.mac, smac, 6);
	memcpy(ci.dst, p->dst, 16);
	ci.dport = (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP) ? p->dport : 0;
	if (hairpin) {
		if (p->proto != IPPROTO_ICMP)
			peer = dp_nat_by_ext(w->nat, p->proto, p->dport);
		if (peer == DP_NAT_NONE) { /* the gateway's own service */
			punt(w, in, m, DP_PUNT_TO_GATEWAY);
			return;
		}
		memset(ci.dst, 0, 16);
		memcpy(ci.dst, dp_nat_get(w->nat, peer)->ip, 4);
	} else if (!cfg->has_wan_gw) {
		drop(w, in, m, DP_DROP_NO_NEXTHOP);
		return;
	}
	const struct dp_classify *c = __atomic_load_n(w->policy, __ATOMIC_ACQUIRE);
	struct dp_verdict v;
	dp_classify_flow(c, &ci, &v);

	struct dp_flow_key k0, k1;
	make_key(&k0, in, p->family, p->proto, p->src, p->dst, p->sport, p->dport);
	uint32_t map = DP_NAT_NONE;
	if (v.action == POL_ALLOW && p->family == 4) {
		if (dp_nat_acquire(w->nat, p->proto, p->src, p->sport, smac, &map) < 0) {
			drop(w, in, m, DP_DROP_NAT_EXHAUSTED);
			return;
		}
		uint16_t ext = dp_nat_get(w->nat, map)->ext;
		if (hairpin) {
			const struct dp_nat_map *b = dp_nat_get(w->nat, peer);
			uint8_t bip[16] = { 0 };
			memcpy(bip, b->ip, 4);
			make_key(&k1, DP_ROLE_LAN, 4, p->proto, bip, cfg->wan4, b->port, ext);
		} else {
			/* An echo's identifier stands in both ports. */
			make_key(&k1, DP_ROLE_WAN, 4, p->proto, p->dst, cfg->wan4,
				 p->proto == IPPROTO_ICMP ? ext : p->dport, ext);
		}
	} else {
		/* Routed (IPv6) or refused: the reply is the mirror image. */
		make_key(&k1, DP_ROLE_WAN, p->family, p->proto, p->dst, p->src, p->dport, p->sport);
	}
	uint32_t idx;
	if (dp_flow_insert(w->flows, &k0, &k1, p->proto, now, &idx) < 0) {
		if (map != DP_NAT_NONE)
			dp_nat_release(w->nat, map);
		drop(w, in, m, DP_DROP_FLOW_FULL);
		return;
	}
	struct dp_flow *f = dp_flow_get(w->flows, idx);
	f->action = v.action;
	f->rule = v.rule;
	f->generation = dp_classify_generation(c);
	memcpy(f->mac[1], smac, 6);
	f->out_role[1] = DP_ROLE_LAN;
	if (map != DP_NAT_NONE) {
		f->flags |= DP_FLOW_NAT;
		f->nat_map[0] = map;
	}
	if (hairpin && map != DP_NAT_NONE) {
		dp_nat_ref(w->nat, peer);
		f->flags |= DP_FLOW_HAIRPIN;
		f->nat_map[1] = peer;
		memcpy(f->mac[0], dp_nat_get(w->nat, peer)->mac, 6);
		f->out_role[0] = DP_ROLE_LAN;
	} else {
		memcpy(f->mac[0], cfg->wan_gw_mac, 6);
		f->out_role[0] = DP_ROLE_WAN;
	}
	flow_packet(w, in, m, p, idx, 0, now);
}

/* An existing flow's packet, or (from the LAN) the first of a new one. */
static void by_flow(struct dp_worker *w, enum dp_role in, struct rte_mbuf *m,
		    const struct dp_pkt *p, uint64_t now)
{
	if (p->icmp_kind == DP_ICMP_ERROR) {
		enum dp_drop why = icmp_error(w, in, m, p);
		if (why == DP_DROP_ICMP_NO_FLOW && in == DP_ROLE_WAN && p->family == 4)
			punt(w, in, m, DP_PUNT_WAN_UNMATCHED); /* the kernel's own traffic */
		else if (why != DP_DROP_COUNT)
			drop(w, in, m, why);
		return;
	}
	struct dp_flow_key k;
	unsigned d;
	make_key(&k, in, p->family, p->proto, p->src, p->dst, p->sport, p->dport);
	uint32_t idx = dp_flow_lookup(w->flows, &k, &d);
	if (idx != DP_FLOW_NONE && recheck(w, idx)) {
		flow_packet(w, in, m, p, idx, d, now);
		return;
	}
	if (in == DP_ROLE_LAN)
		new_flow(w, m, p, now);
	else if (p->family == 4)
		punt(w, in, m, DP_PUNT_WAN_UNMATCHED);
	else
		drop(w, in, m, DP_DROP_WAN_UNSOLICITED);
}

/* ------------------------------------------------------------ by role */

static void lan_ip4(struct dp_worker *w, struct rte_mbuf *m, const struct dp_pkt *p, uint64_t now)
{
	const struct dp_config *cfg = w->cfg;
	const enum dp_role in = DP_ROLE_LAN;
	uint8_t bcast[4];
	memcpy(bcast, cfg->lan4, 4);
	for (unsigned b = cfg->lan4_plen; b < 32; b++)
		bcast[b / 8] |= (uint8_t)(0x80u >> (b % 8));
	if (dp_ip4_is_group(p->dst) || !memcmp(p->dst, bcast, 4))
		punt(w, in, m, DP_PUNT_IP_GROUP);
	else if (!memcmp(p->dst, cfg->lan4, 4))
		punt(w, in, m, DP_PUNT_TO_GATEWAY);
	else if (!dp_prefix_has(4, cfg->lan4, cfg->lan4_plen, p->src))
		drop(w, in, m, DP_DROP_LAN_SPOOFED);
	else if (dp_prefix_has(4, cfg->lan4, cfg->lan4_plen, p->dst))
		punt(w, in, m, DP_PUNT_ON_LINK);
	else if (p->dst[0] == 169 && p->dst[1] == 254)
		punt(w, in, m, DP_PUNT_LINK_LOCAL);
	else
		by_flow(w, in, m, p, now);
}

static void wan_ip4(struct dp_worker *w, struct rte_mbuf *m, const struct dp_pkt *p, uint64_t now)
{
	const enum dp_role in = DP_ROLE_WAN;
	if (dp_ip4_is_group(p->dst))
		punt(w, in, m, DP_PUNT_IP_GROUP);
	else if (memcmp(p->dst, w->cfg->wan4, 4))
		drop(w, in, m, DP_DROP_WAN_UNSOLICITED);
	else
		by_flow(w, in, m, p, now);
}

static void lan_ip6(struct dp_worker *w, struct rte_mbuf *m, const struct dp_pkt *p, uint64_t now)
{
	const struct dp_config *cfg = w->cfg;
	const enum dp_role in = DP_ROLE_LAN;
	if (dp_ip6_is_multicast(p->dst))
		punt(w, in, m, DP_PUNT_IP_GROUP);
	else if (dp_ip6_is_link_local(p->dst))
		punt(w, in, m, DP_PUNT_LINK_LOCAL);
	else if (!cfg->has_lan6)
		drop(w, in, m, DP_DROP_IP6_DISABLED);
	else if (!memcmp(p->dst, cfg->lan6, 16))
		punt(w, in, m, DP_PUNT_TO_GATEWAY);
	else if (!dp_prefix_has(6, cfg->lan6, cfg->lan6_plen, p->src))
		drop(w, in, m, DP_DROP_LAN_SPOOFED);
	else if (dp_prefix_has(6, cfg->lan6, cfg->lan6_plen, p->dst))
		punt(w, in, m, DP_PUNT_ON_LINK);
	else
		by_flow(w, in, m, p, now);
}

static void wan_ip6(struct dp_worker *w, struct rte_mbuf *m, const struct dp_pkt *p, uint64_t now)
{
	const struct dp_config *cfg = w->cfg;
	const enum dp_role in = DP_ROLE_WAN;
	if (dp_ip6_is_multicast(p->dst))
		punt(w, in, m, DP_PUNT_IP_GROUP);
	else if (dp_ip6_is_link_local(p->dst))
		punt(w, in, m, DP_PUNT_LINK_LOCAL);
	else if (!cfg->has_lan6 || !dp_prefix_has(6, cfg->lan6, cfg->lan6_plen, p->dst) ||
		 !memcmp(p->dst, cfg->lan6, 16))
		punt(w, in, m, DP_PUNT_TO_GATEWAY);
	else
		by_flow(w, in, m, p, now);
}

void dp_pipeline(struct dp_worker *w, enum dp_role in, struct rte_mbuf *m, uint64_t now)
{
	struct dp_pkt p;
	if (m->nb_segs != 1) {
		drop(w, in, m, DP_DROP_SEGMENTED);
		return;
	}
	const uint8_t *data = rte_pktmbuf_mtod(m, const uint8_t *);
	int r = dp_parse(data, rte_pktmbuf_data_len(m), &p);
	if (r) {
		drop(w, in, m, dp_parse_reason(r));
		return;
	}
	if (data[0] & 1) { /* group bit: broadcast or multicast */
		punt(w, in, m, p.ethertype == DP_ETHERTYPE_ARP ? DP_PUNT_ARP : DP_PUNT_L2_GROUP);
		return;
	}
	if (memcmp(data, w->port_mac[in], 6)) {
		drop(w, in, m, DP_DROP_L2_NOT_OURS);
		return;
	}
	if (p.vlan) {
		punt(w, in, m, DP_PUNT_VLAN);
		return;
	}
	if (p.family == 0) {
		punt(w, in, m, DP_PUNT_ARP);
		return;
	}
	/* Trailing Ethernet padding is not part of the packet. */
	uint32_t end = (uint32_t)p.l3_off + p.l3_len;
	if (rte_pktmbuf_data_len(m) > end)
		rte_pktmbuf_trim(m, (uint16_t)(rte_pktmbuf_data_len(m) - end));
	if (p.family == 4)
		(in == DP_ROLE_LAN ? lan_ip4 : wan_ip4)(w, m, &p, now);
	else
		(in == DP_ROLE_LAN ? lan_ip6 : wan_ip6)(w, m, &p, now);
}

/* ------------------------------------------------------------ loops */

int dp_worker_main(void *arg)
{
	struct dp_worker *w = arg;
	const struct dp_config *cfg = w->cfg;
	struct rte_mbuf *ms[DP_BURST_MAX];
	unsigned iter = 0;
	if (w->qsbr) {
		rte_rcu_qsbr_thread_register(w->qsbr, w->id);
		rte_rcu_qsbr_thread_online(w->qsbr, w->id);
	}
	while (!*w->stop) {
		/* Between bursts this worker holds no policy pointer: the
		 * generation it read last may be freed after this point. */
		if (w->qsbr)
			rte_rcu_qsbr_quiescent(w->qsbr, w->id);
		uint64_t now = rte_get_timer_cycles() / w->ms_div;
		for (int role = 0; role < DP_ROLE_COUNT; role++) {
			uint16_t n = rte_eth_rx_burst(cfg->port[role], w->queue, ms, cfg->burst);
			if (!n)
				continue;
			struct dp_port_stats *s = &w->stats[role];
			for (uint16_t i = 0; i < n; i++)
				s->rx_bytes += rte_pktmbuf_pkt_len(ms[i]);
			__atomic_store_n(&s->rx, s->rx + n, __ATOMIC_RELAXED);
			if (cfg->mode == DP_MODE_IO) {
				for (uint16_t i = 0; i < n; i++)
					forward(w, (enum dp_role)role, (enum dp_role)(1 - role), ms[i]);
			} else {
				for (uint16_t i = 0; i < n; i++)
					dp_pipeline(w, (enum dp_role)role, ms[i], now);
			}
			dp_worker_flush(w);
		}
		if (cfg->mode == DP_MODE_FULL)
			dp_flow_expire(w->flows, now, EXPIRE_BUDGET);
		if (w->tick && (++iter & 1023) == 0)
			w->tick(w->tick_ctx);
	}
	dp_worker_flush(w);
	if (w->qsbr) {
		rte_rcu_qsbr_thread_offline(w->qsbr, w->id);
		rte_rcu_qsbr_thread_unregister(w->qsbr, w->id);
	}
	return 0;
}
