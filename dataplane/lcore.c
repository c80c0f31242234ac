/* SPDX-License-Identifier: MIT */
/*
 * The worker loop and the full pipeline (see lcore.h).  Per packet:
 * parse; L2 checks; by role and family, punt what is the kernel's, find
 * the flow (or, from the LAN only, classify and create it with its NAT
 * mapping), apply the cached verdict, rewrite, and queue it for TX.
 * Every packet ends counted as forwarded, punted or a named drop.
 * Punted packets go to the kernel twin of the port they came in on
 * (twin.h), and what the kernel sends on a twin is sent out its port from
 * here; without twins they are counted and freed.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>

#include "caps.h"
#include "domain.h"
#include "events.h"
#include "hash.h"
#include "lcore.h"
#include "parse.h"
#include "punt.h"
#include "shaper.h"
#include "xlate.h"

#define EXPIRE_BUDGET 32
#define RATE_KEYS 4096 /* (rule, device, direction) keys a worker shapes at once */
#define PREFETCH_AHEAD 3 /* packets whose headers are prefetched ahead */

/* The packets of one burst that passed their own checks and wait for the
 * flow table, in order of arrival: each one's parse and its flow key
 * (for an ICMP error, the key of the packet it quotes). */
struct dp_burst {
	unsigned n;
	struct rte_mbuf *m[DP_BURST_MAX];
	struct dp_pkt p[DP_BURST_MAX];
	struct dp_flow_probe probe[DP_BURST_MAX];
	/* Hairpinned packets of the burst whose far end is on this worker,
	 * translated and waiting for their second half (hairpin_in). */
	unsigned nloop;
	struct rte_mbuf *loop[DP_BURST_MAX];
};

/* ------------------------------------------------------------ events */

/* Queues one flow event (events.h); nothing without --control.  Called
 * at a flow's decisions, its end and once per DP_EVENT_PERIOD_MS window
 * of activity: never per packet. */
static void flow_event(struct dp_worker *w, const struct dp_flow *f, uint8_t kind)
{
	if (!w->events)
		return;
	struct dp_flow_key k;
	struct timespec ts;
	dp_flow_key(w->flows, f, 0, &k);
	clock_gettime(CLOCK_REALTIME, &ts);
	struct dp_flow_event ev = {
		.kind = kind,
		.family = f->family,
		.proto = f->proto,
		.action = f->action,
		.sport = k.sport,
		.dport = k.dport,
		.rule = f->rule,
		.generation = f->generation,
		.time_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000,
	};
	memcpy(ev.mac, f->mac, 6);
	memcpy(ev.src, k.src, 16);
	memcpy(ev.dst, k.dst, 16);
	for (int d = 0; d < 2; d++) {
		ev.pkts[d] = f->pkts[d];
		ev.bytes[d] = f->bytes[d];
	}
	dp_events_put(w->events, &ev);
}

/* The domain table's bits for a flow's original destination (before
 * NAT), when the policy has rules that look at them. */
static uint64_t domain_bits(const struct dp_worker *w, const struct dp_classify *c,
			    uint8_t family, const uint8_t dst[16])
{
	if (!w->domains || !dp_classify_domain_mask(c))
		return 0;
	return dp_domains_lookup(w->domains, family, dst, rte_get_timer_cycles() / w->ms_div);
}

/* After a verdict: whether packets are shaped, and its events. */
static void decided(struct dp_worker *w, struct dp_flow *f, const struct dp_verdict *v,
		    bool first, bool changed)
{
	if (v->action == POL_ALLOW && v->rate_bps)
		f->flags |= DP_FLOW_RATE;
	else
		f->flags &= (uint8_t)~DP_FLOW_RATE;
	if (first)
		flow_event(w, f, DP_EV_NEW);
	if (v->log && (first || changed))
		flow_event(w, f, DP_EV_LOG);
}

/* When may this packet of a rate-limited flow leave (shaper.h)? */
static enum dp_shape shape(struct dp_worker *w, const struct dp_flow *f, unsigned d,
			   uint32_t len, uint64_t now, uint64_t *ret_when)
{
	const struct dp_classify *c = __atomic_load_n(w->policy, __ATOMIC_ACQUIRE);
	uint64_t rate = dp_classify_rate(c, f->rule);
	if (!rate || !w->shaper)
		return DP_SHAPE_SEND;
	struct dp_rate_key k = { .rule = f->rule, .device = dp_classify_device(c, f->mac),
				 .dir = (uint8_t)d };
	if (k.device == POL_NONE) {
		k.device = UINT32_MAX;
		memcpy(k.mac, f->mac, 6);
	}
	return dp_shaper_admit(w->shaper, &k, rate, len, rte_get_tsc_cycles(), now, ret_when);
}

/* ------------------------------------------------------------ setup */

static void release_flow(void *ctx, struct dp_flow *f)
{
	struct dp_worker *w = ctx;
	struct dp_nat *nat = w->nat;
	flow_event(w, f, DP_EV_END);
	/* NAT is IPv4 only; the mapping's endpoint is the device's, in key 0
	 * (its source); key 1's source is the remote end. */
	const struct dp_flow_key4 *k = f->key.v4;
	if (f->flags & DP_FLOW_PEER)
		dp_nat_peer_del(nat, f->nat_map, k[1].src);
	if (f->flags & DP_FLOW_UNHASHED1) /* its mapping's only flow */
		dp_nat_clear_flow(nat, f->nat_map, f->proto);
	if (f->flags & DP_FLOW_NAT)
		dp_nat_put(nat, f->nat_map, f->proto, k[0].src, k[0].sport);
	if (f->dev != DP_FLOW_NONE)
		dp_caps_flow_del(w->caps, f->dev);
}

/* A NAT mapping went: its device holds one less. */
static void unmapped(void *ctx, uint32_t dev)
{
	struct dp_worker *w = ctx;
	dp_caps_nat_del(w->caps, dev);
}

/* The flow evicted next (flow.h): its NAT mapping comes in meanwhile. */
static void warm_flow(void *ctx, const struct dp_flow *f)
{
	const struct dp_worker *w = ctx;
	if (f->flags & DP_FLOW_NAT)
		dp_nat_prefetch_map(w->nat, f->nat_map);
}

void dp_worker_caps(const struct dp_config *cfg, uint32_t flows4, uint32_t *ret_flows,
		    uint32_t *ret_nat)
{
	/* A quarter of what there is, but at least DP_CAPS_MIN (all of it
	 * when there is less): one device may not take it all, and a small
	 * table still serves one busy device. */
	uint32_t range = (uint32_t)cfg->nat_hi - cfg->nat_lo + 1;
	uint32_t fmin = flows4 < DP_CAPS_MIN ? flows4 : DP_CAPS_MIN;
	uint32_t nmin = range < DP_CAPS_MIN ? range : DP_CAPS_MIN;
	*ret_flows = cfg->device_flows ? cfg->device_flows : RTE_MAX(flows4 / 4, fmin);
	*ret_nat = cfg->device_nat ? cfg->device_nat : RTE_MAX(range / 4, nmin);
}

int dp_worker_init(struct dp_worker *w)
{
	char name[32];
	int r, socket = (int)rte_socket_id();
	w->ms_div = rte_get_timer_hz() / 1000;
	if (w->ms_div == 0)
		w->ms_div = 1;
	memcpy(w->lan4_bcast, w->cfg->lan4, 4);
	for (unsigned b = w->cfg->lan4_plen; b < 32; b++)
		w->lan4_bcast[b / 8] |= (uint8_t)(0x80u >> (b % 8));
	if (w->cfg->mode != DP_MODE_FULL)
		return 0;
	w->burst = rte_zmalloc_socket("dp_burst", sizeof(*w->burst), RTE_CACHE_LINE_SIZE, socket);
	if (!w->burst)
		return -ENOMEM;
	snprintf(name, sizeof(name), "dp_flow%u", w->id);
	r = dp_flow_table_new(name, w->cfg->flows, socket, release_flow, w, &w->flows);
	if (r < 0)
		goto fail;
	/* Every mapping is held by an IPv4 flow: no more than those. */
	uint32_t cap4 = dp_flow_capacity4(w->flows);
	snprintf(name, sizeof(name), "dp_nat%u", w->id);
	struct dp_nat_params np = {
		.name = name,
		.capacity = cap4,
		.lo = w->cfg->nat_lo,
		.hi = w->cfg->nat_hi,
		.ports = w->ports,
		.worker = w->id,
		/* Flows of mappings with several: a quarter of them at most
		 * (most mappings have one flow, whose key says its peer). */
		.peers = w->cfg->nat_filtering == DP_FILTER_ADDRESS ? cap4 / 4 : 0,
		.socket = socket,
	};
	r = dp_nat_new(&np, &w->nat);
	if (r < 0)
		goto fail;
	dp_nat_set_unmap(w->nat, unmapped, w);
	dp_flow_set_warm(w->flows, warm_flow);
	uint32_t flow_cap, nat_cap;
	dp_worker_caps(w->cfg, cap4, &flow_cap, &nat_cap);
	snprintf(name, sizeof(name), "dp_caps%u", w->id);
	r = dp_caps_new(name, DP_CAPS_DEVICES, flow_cap, nat_cap, socket, &w->caps);
	if (r < 0)
		goto fail;
	snprintf(name, sizeof(name), "dp_shaper%u", w->id);
	/* Held packets: a quarter of the pool at most (the ports' rings and
	 * the twins need the rest). */
	r = dp_shaper_new(name, RATE_KEYS, RTE_MAX(w->cfg->mbufs / 4, 64u), w->rates, socket,
			  &w->shaper);
	if (r < 0)
		goto fail;
	return 0;
fail:
	dp_flow_table_free(w->flows);
	dp_nat_free(w->nat);
	dp_caps_free(w->caps);
	rte_free(w->burst);
	w->flows = NULL;
	w->nat = NULL;
	w->caps = NULL;
	w->burst = NULL;
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
	dp_caps_free(w->caps);
	dp_shaper_free(w->shaper);
	rte_free(w->burst);
	w->flows = NULL;
	w->nat = NULL;
	w->caps = NULL;
	w->shaper = NULL;
	w->burst = NULL;
}

/* ------------------------------------------------------------ outcomes */

static enum dp_punt lan_class(const struct dp_pkt *p, bool group);
static void wan_to_gateway(struct dp_worker *w, struct rte_mbuf *m, const struct dp_pkt *p);

static void drop(struct dp_worker *w, enum dp_role in, struct rte_mbuf *m, enum dp_drop why)
{
	w->stats[in].drop[why]++;
	rte_pktmbuf_free(m);
}

/* Who sent a packet to be punted, for its policer (punt.h): its MAC on
 * the LAN (and ARP's on both sides), its address on the WAN (IPv6: its
 * /64), keyed-hashed. */
static uint32_t punt_source(enum dp_role in, const struct rte_mbuf *m, const struct dp_pkt *p)
{
	if (in == DP_ROLE_LAN || p->family == 0)
		return dp_hash_bytes(rte_pktmbuf_mtod(m, const uint8_t *) + 6, 6);
	return dp_hash_bytes(p->src, p->family == 4 ? 4 : 8);
}

static void punt(struct dp_worker *w, enum dp_role in, struct rte_mbuf *m, const struct dp_pkt *p,
		 enum dp_punt why)
{
	if (w->police) {
		enum dp_drop d = dp_police_check(w->police, in, why, punt_source(in, m, p),
						 rte_get_tsc_cycles());
		if (d != DP_DROP_COUNT) {
			drop(w, in, m, d);
			return;
		}
	}
	struct dp_twin *t = w->twin[in];
	if (t && !dp_twin_punt(t, m, DP_PUNT_URGENT(why))) {
		drop(w, in, m, DP_DROP_TWIN_FULL); /* never wait for the kernel */
		return;
	}
	w->stats[in].punted++;
	w->stats[in].punt[why]++;
	if (!t)
		rte_pktmbuf_free(m);
}

/* The WAN next hop's MAC for a family (4 or 6: each has its own default
 * route); false while unknown. */
static bool wan_next_hop(const struct dp_worker *w, uint8_t family, uint8_t mac[6])
{
	const uint64_t *nh = family == 6 ? w->wan_nh6 : w->wan_nh;
	if (!nh) {
		memcpy(mac, w->cfg->wan_gw_mac, 6);
		return w->cfg->has_wan_gw;
	}
	uint64_t v = __atomic_load_n(nh, __ATOMIC_RELAXED);
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)(v >> (8 * i));
	return v & DP_NH_KNOWN;
}

/* The WAN address NAT masquerades as; false while the WAN twin has none. */
static bool wan_addr(const struct dp_worker *w, uint8_t a[4])
{
	if (!w->wan_addr) {
		memcpy(a, w->cfg->wan4, 4);
		return w->cfg->has_wan4;
	}
	uint64_t v = __atomic_load_n(w->wan_addr, __ATOMIC_RELAXED);
	for (int i = 0; i < 4; i++)
		a[i] = (uint8_t)(v >> (8 * i));
	return v & DP_WAN_KNOWN;
}

/* The WAN subnet's broadcast address; false while there is no WAN
 * address, or its subnet has none (a /31 or /32). */
static bool wan_bcast(const struct dp_worker *w, uint8_t a[4])
{
	uint8_t plen;
	if (!w->wan_addr) {
		memcpy(a, w->cfg->wan4, 4);
		plen = w->cfg->wan4_plen;
		if (!w->cfg->has_wan4)
			return false;
	} else {
		uint64_t v = __atomic_load_n(w->wan_addr, __ATOMIC_RELAXED);
		if (!(v & DP_WAN_KNOWN))
			return false;
		for (int i = 0; i < 4; i++)
			a[i] = (uint8_t)(v >> (8 * i));
		plen = (uint8_t)(v >> DP_WAN_PLEN_SHIFT);
	}
	if (plen >= 31)
		return false;
	for (unsigned b = plen; b < 32; b++)
		a[b / 8] |= (uint8_t)(0x80u >> (b % 8));
	return true;
}

/* Whether addr is one of the WAN twin's IPv6 addresses. */
static bool wan6_has(const struct dp_worker *w, const uint8_t addr[16])
{
	const struct dp_wan6 *s = w->wan6;
	if (!s)
		return false;
	for (;;) {
		uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
		if (seq & 1) {
			rte_pause();
			continue;
		}
		bool found = false;
		uint32_t n = __atomic_load_n(&s->n, __ATOMIC_RELAXED);
		for (uint32_t i = 0; i < n && i < DP_WAN6_MAX; i++)
			found |= !memcmp(s->addr[i], addr, 16);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) == seq)
			return found;
	}
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
		rte_spinlock_t *lock = w->tx_lock[role];
		if (lock)
			rte_spinlock_lock(lock);
		uint16_t sent = rte_eth_tx_burst(w->cfg->port[role], w->queue, b->m, b->n);
		if (lock)
			rte_spinlock_unlock(lock);
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
	const struct dp_flow_key4 *k = &f->key.v4[1 - d]; /* IPv4 only */
	memset(t->src, 0, 16);
	memset(t->dst, 0, 16);
	memcpy(t->src, k->dst, 4);
	memcpy(t->dst, k->src, 4);
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

/* Is this a hairpinned flow: one whose remote end is the WAN address
 * itself (another LAN device's mapping)?  Its reply key (direction 1, as
 * packets arrive at the device's mapping) then has the WAN address as
 * both source and destination, which no packet from the internet has. */
static bool hairpinned(const struct dp_flow *f)
{
	return f->family == 4 && !memcmp(f->key.v4[1].src, f->key.v4[1].dst, 4);
}

/* The NAT mapping that owns an external port on this worker (nat.h: the
 * port may lead to the mapping's only flow), or DP_NAT_NONE. */
static uint32_t port_mapping(const struct dp_worker *w, uint8_t proto, uint16_t ext)
{
	uint32_t e = dp_nat_by_ext(w->nat, proto, ext);
	if (e != DP_NAT_NONE && (e & DP_NAT_FLOW))
		return dp_flow_get(w->flows, e & ~DP_NAT_FLOW)->nat_map;
	return e;
}

/* The LAN host behind external port ext (a hairpin's far end) and the
 * worker that holds its mapping: from the shared owners with several
 * workers, else from this worker's own mappings. */
static bool nat_peer(const struct dp_worker *w, uint8_t proto, uint16_t ext, uint8_t ip[4],
		     unsigned *ret_worker)
{
	uint16_t port;
	if (w->ports)
		return dp_nat_ports_owner(w->ports, proto, ext, ret_worker, ip, &port);
	uint32_t m = port_mapping(w, proto, ext);
	if (m == DP_NAT_NONE)
		return false;
	memcpy(ip, dp_nat_get(w->nat, m).ip, 4);
	*ret_worker = w->id;
	return true;
}

static void classify_facts(const struct dp_worker *w, const struct dp_flow *f,
			   struct dp_classify_in *ci)
{
	struct dp_flow_key k0, k1;
	dp_flow_key(w->flows, f, 0, &k0);
	dp_flow_key(w->flows, f, 1, &k1);
	memset(ci, 0, sizeof(*ci));
	memcpy(ci->mac, f->mac, 6);
	ci->family = f->family;
	ci->proto = f->proto;
	ci->dport = (f->proto == IPPROTO_TCP || f->proto == IPPROTO_UDP) ? k0.dport : 0;
	/* Where the device's packets really go: for hairpinned ones, the
	 * LAN host behind the WAN address and port. */
	memcpy(ci->dst, k1.src, 16);
	unsigned owner;
	uint8_t ip[4];
	if (hairpinned(f) && nat_peer(w, f->proto, k1.sport, ip, &owner))
		memcpy(ci->dst, ip, 4);
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
	struct dp_flow_key k0;
	classify_facts(w, f, &ci);
	dp_flow_key(w->flows, f, 0, &k0);
	ci.domain_sets = domain_bits(w, c, f->family, k0.dst);
	dp_classify_flow(c, &ci, &v);
	if (v.action == POL_ALLOW && f->action != POL_ALLOW && f->family == 4 &&
	    !(f->flags & DP_FLOW_NAT)) {
		dp_flow_remove(w->flows, idx);
		return false;
	}
	bool changed = v.action != f->action || v.rule != f->rule;
	f->action = v.action;
	f->rule = v.rule;
	f->generation = gen;
	decided(w, f, &v, false, changed);
	return true;
}

/* Where direction d of a flow goes: the port role and the next hop's MAC
 * (DP_ROLE_COUNT while the WAN next hop is unknown).  Direction 1 goes
 * back to the device; direction 0 out the WAN to the current next hop,
 * so a changed next hop applies to live flows (a hairpinned flow's
 * direction 0 loops back in instead: flow_packet). */
static enum dp_role next_hop(const struct dp_worker *w, const struct dp_flow *f, unsigned d,
			     uint8_t mac[6])
{
	if (d == 1) {
		memcpy(mac, f->mac, 6);
		return DP_ROLE_LAN;
	}
	return wan_next_hop(w, f->family, mac) ? DP_ROLE_WAN : DP_ROLE_COUNT;
}

/* The first half of a hairpinned packet is done: translated as if it left
 * for the internet (from the WAN address and its sender's external port,
 * to the WAN address and the far end's port).  Its second half is the
 * far end's mapping receiving it as from the WAN (hairpin_in), on the
 * worker that holds that mapping: here after this burst, or through that
 * worker's ring. */
static void hairpin_out(struct dp_worker *w, enum dp_role in, struct rte_mbuf *m, uint8_t proto,
			uint16_t ext)
{
	unsigned owner = w->id;
	uint8_t ip[4];
	if (w->ports && !nat_peer(w, proto, ext, ip, &owner)) {
		drop(w, in, m, DP_DROP_WAN_UNSOLICITED); /* the far end's mapping went */
		return;
	}
	if (owner == w->id || !w->steer) {
		w->burst->loop[w->burst->nloop++] = m;
		return;
	}
	m->port = DP_PORT_HAIRPIN;
	if (rte_ring_enqueue(w->steer[owner], m) != 0)
		drop(w, in, m, DP_DROP_STEER_FULL);
}

/* A shaped packet, ready to leave by out (DP_ROLE_COUNT: the second half
 * of a hairpin) at tsc `when`; its outcome is counted when it goes. */
static void hold(struct dp_worker *w, enum dp_role in, enum dp_role out, struct rte_mbuf *m,
		 uint64_t when)
{
	if (!dp_shaper_hold(w->shaper, when, m, (uint8_t)in, (uint8_t)out))
		drop(w, in, m, DP_DROP_RATE_LIMIT);
}

static void loop_stage(struct dp_worker *w, uint64_t now);

/* Held packets whose time has come leave (tsc UINT64_MAX: every one,
 * dropped: the worker is stopping). */
static void release_held(struct dp_worker *w, uint64_t tsc, uint64_t now)
{
	void *pk[DP_BURST_MAX];
	uint8_t in[DP_BURST_MAX], out[DP_BURST_MAX];
	unsigned n;
	do {
		n = dp_shaper_due(w->shaper, tsc, pk, in, out, DP_BURST_MAX);
		for (unsigned i = 0; i < n; i++) {
			struct rte_mbuf *m = pk[i];
			struct dp_pkt p;
			if (tsc == UINT64_MAX)
				drop(w, (enum dp_role)in[i], m, DP_DROP_RATE_LIMIT);
			else if (out[i] < DP_ROLE_COUNT)
				forward(w, (enum dp_role)in[i], (enum dp_role)out[i], m);
			else if (dp_parse(rte_pktmbuf_mtod(m, const uint8_t *), rte_pktmbuf_data_len(m),
					  &p) == 0)
				hairpin_out(w, (enum dp_role)in[i], m, p.proto, p.dport);
			else
				drop(w, (enum dp_role)in[i], m, DP_DROP_RATE_LIMIT);
		}
		dp_worker_flush(w);
	} while (n == DP_BURST_MAX);
	loop_stage(w, now);
}

/* A packet of an existing flow, direction d.  routed: false for a
 * hairpinned packet's second half, which was routed (TTL) in its first. */
static void flow_packet(struct dp_worker *w, enum dp_role in, struct rte_mbuf *m,
			const struct dp_pkt *p, uint32_t idx, unsigned d, uint64_t now, bool routed)
{
	struct dp_flow *f = dp_flow_get(w->flows, idx);
	uint32_t last = f->last_ms;
	uint8_t tcp_flags = p->tcp_flags;
	if (f->proto == IPPROTO_TCP) {
		/* An off-path host does not know the sequence numbers: what
		 * would end or reset the flow must be in its window. */
		const struct dp_tcp_seg seg = { .seq = p->tcp_seq, .ack = p->tcp_ack,
						.win = p->tcp_win, .len = p->l4_payload,
						.flags = tcp_flags, .wscale = p->tcp_wscale };
		enum dp_tcp_verdict tv = dp_tcp_win_check(&f->tw, d, &seg);
		const uint8_t control = DP_TCP_RST | DP_TCP_FIN | DP_TCP_SYN;
		if (tv == DP_TCPW_OUT && (tcp_flags & control)) {
			drop(w, in, m, DP_DROP_TCP_WINDOW);
			return;
		}
		if (tv != DP_TCPW_OK)
			tcp_flags &= (uint8_t)~control; /* passes, changes nothing */
	}
	dp_flow_touch(w->flows, idx, d, rte_pktmbuf_pkt_len(m), tcp_flags, now);
	/* Live counters once per window in which the flow is active. */
	if (w->events && (uint32_t)now / DP_EVENT_PERIOD_MS != last / DP_EVENT_PERIOD_MS)
		flow_event(w, f, DP_EV_COUNTERS);
	if (f->action == POL_BLOCK) {
		drop(w, in, m, f->rule == POL_NONE ? DP_DROP_NO_POLICY : DP_DROP_POLICY_BLOCK);
		return;
	}
	if (f->action == POL_REJECT) {
		if (d == 0)
			send_reject(w, in, m, p);
		drop(w, in, m, DP_DROP_POLICY_REJECT);
		return;
	}
	if (routed && p->ttl <= 1) {
		drop(w, in, m, DP_DROP_TTL);
		return;
	}
	/* A rate: it leaves now, later (held, ready to go, until its time:
	 * release_held), or not at all. */
	uint64_t when = 0;
	enum dp_shape sh = DP_SHAPE_SEND;
	if (f->flags & DP_FLOW_RATE) {
		sh = shape(w, f, d, rte_pktmbuf_pkt_len(m), now, &when);
		if (sh == DP_SHAPE_DROP) {
			drop(w, in, m, DP_DROP_RATE_LIMIT);
			return;
		}
	}
	uint8_t *data = rte_pktmbuf_mtod(m, uint8_t *);
	if (d == 0 && hairpinned(f)) {
		struct dp_tuple t;
		out_tuple(f, 0, &t);
		dp_rewrite4(data, p, &t);
		dp_ttl_dec(data, p);
		if (sh == DP_SHAPE_HOLD)
			hold(w, in, DP_ROLE_COUNT, m, when);
		else
			hairpin_out(w, in, m, p->proto, t.dport);
		return;
	}
	uint8_t nh_mac[6];
	enum dp_role out = next_hop(w, f, d, nh_mac);
	if (out == DP_ROLE_COUNT) {
		drop(w, in, m, DP_DROP_NO_NEXTHOP);
		return;
	}
	if (p->family == 4) {
		struct dp_tuple t;
		out_tuple(f, d, &t);
		dp_rewrite4(data, p, &t);
	}
	if (routed)
		dp_ttl_dec(data, p);
	dp_set_macs(data, nh_mac, w->port_mac[out]);
	if (sh == DP_SHAPE_HOLD)
		hold(w, in, out, m, when);
	else
		forward(w, in, out, m);
}

/* An ICMP error about a packet of one of our flows (idx, direction d:
 * what the quoted packet's reverse was found as): translate the quoted
 * packet back to what its sender sent, and send the error to that sender.
 * Returns DP_DROP_COUNT when forwarded, else why not. */
static enum dp_drop icmp_error(struct dp_worker *w, enum dp_role in, struct rte_mbuf *m,
			       const struct dp_pkt *p, uint32_t idx, unsigned d)
{
	const struct dp_inner *q = &p->inner;
	if (idx == DP_FLOW_NONE)
		return DP_DROP_ICMP_NO_FLOW;
	struct dp_flow *f = dp_flow_get(w->flows, idx);
	if (f->action != POL_ALLOW)
		return f->action == POL_BLOCK ? DP_DROP_POLICY_BLOCK : DP_DROP_POLICY_REJECT;
	if (hairpinned(f))
		return DP_DROP_HAIRPIN_ICMP; /* not translated twice over */
	if (p->ttl <= 1)
		return DP_DROP_TTL;
	uint8_t nh_mac[6];
	enum dp_role out = next_hop(w, f, d, nh_mac);
	if (out == DP_ROLE_COUNT)
		return DP_DROP_NO_NEXTHOP;
	uint8_t *data = rte_pktmbuf_mtod(m, uint8_t *);
	if (p->family == 4) {
		/* The quoted packet left in direction 1 - d; its sender first
		 * sent it as key[1 - d] says. */
		struct dp_flow_key orig;
		dp_flow_key(w->flows, f, 1 - d, &orig);
		struct dp_tuple inner;
		memcpy(inner.src, orig.src, 16);
		memcpy(inner.dst, orig.dst, 16);
		inner.sport = orig.sport;
		inner.dport = orig.dport;
		const uint8_t *osrc = p->src;
		if (!memcmp(p->src, q->dst, 4)) /* from the end host itself */
			osrc = orig.dst;
		dp_rewrite_icmp4_error(data, p, &inner, osrc, orig.src);
	}
	dp_ttl_dec(data, p);
	dp_set_macs(data, nh_mac, w->port_mac[out]);
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

/* Address-dependent filtering's question: does mapping map have a flow to
 * address a?  Its only flow says so from its own key; the others are in
 * the peer table (nat.h). */
static bool mapping_talks_to(const struct dp_worker *w, uint8_t proto, uint16_t ext, uint32_t map,
			     const uint8_t a[4])
{
	uint32_t e = dp_nat_by_ext(w->nat, proto, ext);
	if (e != DP_NAT_NONE && (e & DP_NAT_FLOW) &&
	    !memcmp(dp_flow_get(w->flows, e & ~DP_NAT_FLOW)->key.v4[1].src, a, 4))
		return true;
	return dp_nat_peer_has(w->nat, map, a);
}

/* A flow of a mapping besides its only one: with address-dependent
 * filtering its remote address is counted (mapping_talks_to). */
static void count_peer(struct dp_worker *w, struct dp_flow *f)
{
	if (w->cfg->nat_filtering == DP_FILTER_ADDRESS && (f->flags & DP_FLOW_NAT) &&
	    !(f->flags & DP_FLOW_PEER) && dp_nat_peer_add(w->nat, f->nat_map, f->key.v4[1].src) == 0)
		f->flags |= DP_FLOW_PEER;
}

/* The first packet of a flow from the LAN: classify, map, create.  p0:
 * its key, which the table does not hold (just looked up). */
static void new_flow(struct dp_worker *w, struct rte_mbuf *m, const struct dp_pkt *p,
		     const struct dp_flow_probe *p0, uint64_t now)
{
	const enum dp_role in = DP_ROLE_LAN;
	const uint8_t *smac = rte_pktmbuf_mtod(m, const uint8_t *) + 6;
	enum dp_drop why = opener_check(p);
	if (why != DP_DROP_COUNT) {
		drop(w, in, m, why);
		return;
	}
	uint8_t wan4[16] = { 0 }; /* as flow keys hold addresses */
	if (p->family == 4 && !wan_addr(w, wan4)) {
		drop(w, in, m, DP_DROP_NO_WAN_ADDR);
		return;
	}
	/* The device's caps (caps.h): before anything is made for it. */
	uint32_t dev = dp_caps_device(w->caps, smac);
	if (dev == DP_CAPS_NONE) {
		drop(w, in, m, DP_DROP_DEVICE_FULL);
		return;
	}
	if (!dp_caps_flow_ok(w->caps, dev)) {
		drop(w, in, m, DP_DROP_DEVICE_FLOW_CAP);
		return;
	}
	/* Room first: in a full table every NAT mapping is held, so the
	 * victim's must go before this flow's is taken. */
	if (dp_flow_reserve(w->flows, p->family, now) < 0) {
		drop(w, in, m, DP_DROP_FLOW_FULL);
		return;
	}
	bool hairpin = p->family == 4 && !memcmp(p->dst, wan4, 4);
	uint8_t gw_mac[6];
	struct dp_classify_in ci = { .family = p->family, .proto = p->proto };
	memcpy(ci.mac, smac, 6);
	memcpy(ci.dst, p->dst, 16);
	ci.dport = (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP) ? p->dport : 0;
	if (hairpin) {
		/* To another device's mapping (hairpinning, RFC 4787 REQ-9):
		 * decided for where it really goes, the LAN host behind it. */
		uint8_t peer[4];
		unsigned owner;
		if (p->proto == IPPROTO_ICMP || !nat_peer(w, p->proto, p->dport, peer, &owner)) {
			punt(w, in, m, p, lan_class(p, false)); /* the gateway's own service */
			return;
		}
		memset(ci.dst, 0, 16);
		memcpy(ci.dst, peer, 4);
	} else if (!wan_next_hop(w, p->family, gw_mac)) {
		/* The mirror asks the kernel to resolve it meanwhile. */
		drop(w, in, m, DP_DROP_NO_NEXTHOP);
		return;
	}
	const struct dp_classify *c = __atomic_load_n(w->policy, __ATOMIC_ACQUIRE);
	struct dp_verdict v;
	/* The number before the verdict: a renumber (domains, devices, mask)
	 * that lands in between makes the flow be decided again. */
	uint32_t gen = dp_classify_generation(c);
	ci.domain_sets = domain_bits(w, c, p->family, p->dst);
	dp_classify_flow(c, &ci, &v);

	/* The reply's key (IPv4: packed as the hash keeps it, directly). */
	struct dp_flow_probe p1;
	uint32_t map = DP_NAT_NONE;
	/* The mapping's only flow: its replies are found through the
	 * mapping's port (nat.h), not the flow hash. */
	bool first = false;
	if (v.action == POL_ALLOW && p->family == 4) {
		bool made;
		int r = dp_nat_acquire(w->nat, p->proto, p->src, p->sport, dev,
				       dp_caps_nat_ok(w->caps, dev), &map, &made);
		if (r < 0) {
			if (r == -EDQUOT)
				dp_caps_nat_refused(w->caps, dev);
			drop(w, in, m, r == -EDQUOT ? DP_DROP_DEVICE_NAT_CAP : DP_DROP_NAT_EXHAUSTED);
			return;
		}
		if (made)
			dp_caps_nat_add(w->caps, dev);
		uint16_t ext = dp_nat_ext(w->nat, map);
		/* The reply as it reaches the mapping from the WAN; a hairpinned
		 * one comes from the WAN address itself and the far end's port.
		 * An echo's identifier stands in both ports. */
		dp_flow_probe4(&p1, DP_ROLE_WAN, p->proto, p->dst, wan4,
			       p->proto == IPPROTO_ICMP ? ext : p->dport, ext);
		uint32_t e = dp_nat_by_ext(w->nat, p->proto, ext);
		if (e == map) {
			first = dp_nat_refs(w->nat, map) == 1;
		} else if (e != DP_NAT_NONE && (e & DP_NAT_FLOW)) {
			/* A second flow: from now on the endpoint's replies are
			 * all found in the hash (one bulk lookup a burst), the
			 * first one's too, and its peer is counted as the
			 * others' are. */
			struct dp_flow *one = dp_flow_get(w->flows, e & ~DP_NAT_FLOW);
			if (dp_flow_hash_key1(w->flows, e & ~DP_NAT_FLOW) == 0)
				dp_nat_clear_flow(w->nat, map, p->proto);
			count_peer(w, one);
		}
	} else if (p->family == 4) {
		/* Refused: the reply is the mirror image. */
		dp_flow_probe4(&p1, DP_ROLE_WAN, p->proto, p->dst, p->src, p->dport, p->sport);
	} else {
		/* Routed (IPv6): the mirror image too. */
		struct dp_flow_key k1;
		make_key(&k1, DP_ROLE_WAN, p->family, p->proto, p->dst, p->src, p->dport, p->sport);
		dp_flow_probe_init(&p1, &k1);
	}
	uint32_t idx;
	/* The only flow's reply key is unique without a check: a flow with
	 * the same one would have the same device endpoint (the mapping's)
	 * and destination, so this packet's key, which no flow has. */
	int r = first ? dp_flow_add_unhashed(w->flows, p0, &p1.key.k4, p->proto, now, &idx) :
			dp_flow_add(w->flows, p0, &p1, p->proto, now, &idx);
	if (r < 0) {
		if (map != DP_NAT_NONE)
			dp_nat_release(w->nat, map);
		drop(w, in, m, DP_DROP_FLOW_FULL);
		return;
	}
	struct dp_flow *f = dp_flow_get(w->flows, idx);
	f->action = v.action;
	f->rule = v.rule;
	f->generation = gen;
	memcpy(f->mac, smac, 6);
	f->dev = dev;
	dp_caps_flow_add(w->caps, dev);
	if (map != DP_NAT_NONE) {
		f->flags |= DP_FLOW_NAT;
		f->nat_map = map;
		if (first)
			dp_nat_set_flow(w->nat, map, p->proto, idx);
		else
			count_peer(w, f);
	}
	decided(w, f, &v, true, false);
	flow_packet(w, in, m, p, idx, 0, now, true);
}

/* What a NAT mapping's filtering (RFC 4787 REQ-8, RFC 5382 REQ-3) says
 * of a packet from the WAN that no flow of the mapping expects: let in
 * (DP_DROP_COUNT) or why not.  Only a TCP SYN may open a flow. */
static enum dp_drop filtering(const struct dp_worker *w, uint32_t map, const struct dp_pkt *p)
{
	if (p->proto == IPPROTO_TCP &&
	    (p->tcp_flags & (DP_TCP_SYN | DP_TCP_ACK | DP_TCP_RST)) != DP_TCP_SYN)
		return DP_DROP_NAT_FILTERED;
	switch ((enum dp_nat_filtering)w->cfg->nat_filtering) {
	case DP_FILTER_ENDPOINT:
		return DP_DROP_COUNT;
	case DP_FILTER_ADDRESS:
		return mapping_talks_to(w, p->proto, p->dport, map, p->src) ? DP_DROP_COUNT :
									       DP_DROP_NAT_FILTERED;
	case DP_FILTER_ADDRESS_PORT:
		break; /* every flow it lets in is a flow of the mapping already */
	}
	return DP_DROP_NAT_FILTERED;
}

/* A packet from the WAN (or a hairpinned one, routed false) to one of
 * this worker's NAT mappings that no flow of the mapping expects: the
 * filtering lets it in as a new flow of the device, made as if the
 * device had opened it towards the sender (so the device's policy
 * decides it, its caps count it, and its own packets to that endpoint
 * belong to it), or it is dropped as nat_filtered.  false (nothing done):
 * no mapping of this worker owns the port. */
static bool inbound(struct dp_worker *w, enum dp_role in, struct rte_mbuf *m,
		    const struct dp_pkt *p, const struct dp_flow_probe *pr, uint64_t now, bool routed)
{
	if (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP)
		return false;
	uint32_t map = port_mapping(w, p->proto, p->dport);
	if (map == DP_NAT_NONE)
		return false;
	enum dp_drop why = filtering(w, map, p);
	uint32_t dev = dp_nat_dev(w->nat, map);
	if (why == DP_DROP_COUNT && !dp_caps_flow_ok(w->caps, dev))
		why = DP_DROP_DEVICE_FLOW_CAP;
	if (why != DP_DROP_COUNT) {
		drop(w, in, m, why);
		return true;
	}
	/* Held from here: making room may evict the mapping's last flow. */
	dp_nat_ref(w->nat, map);
	struct dp_nat_map nm = dp_nat_get(w->nat, map);
	struct dp_flow_probe p0;
	unsigned d;
	dp_flow_probe4(&p0, DP_ROLE_LAN, p->proto, nm.ip, p->src, nm.port, p->sport);
	if (dp_flow_reserve(w->flows, 4, now) < 0 || dp_flow_find(w->flows, &p0, &d) != DP_FLOW_NONE) {
		/* (A flow of the device's own to the sender with no mapping:
		 * one its policy refused.) */
		dp_nat_release(w->nat, map);
		drop(w, in, m, DP_DROP_FLOW_FULL);
		return true;
	}
	const struct dp_classify *c = __atomic_load_n(w->policy, __ATOMIC_ACQUIRE);
	struct dp_classify_in ci = { .family = 4, .proto = p->proto, .dport = p->sport };
	memcpy(ci.mac, dp_caps_mac(w->caps, dev), 6);
	memcpy(ci.dst, p->src, 4);
	uint8_t peer[4];
	unsigned owner;
	uint8_t wan4[16] = { 0 };
	if (wan_addr(w, wan4) && !memcmp(p->src, wan4, 4) &&
	    nat_peer(w, p->proto, p->sport, peer, &owner))
		memcpy(ci.dst, peer, 4); /* hairpinned: the LAN host behind it */
	uint32_t gen = dp_classify_generation(c);
	struct dp_verdict v;
	ci.domain_sets = domain_bits(w, c, 4, p->src);
	dp_classify_flow(c, &ci, &v);
	uint32_t idx;
	if (dp_flow_add(w->flows, &p0, pr, p->proto, now, &idx) < 0) {
		dp_nat_release(w->nat, map);
		drop(w, in, m, DP_DROP_FLOW_FULL);
		return true;
	}
	struct dp_flow *f = dp_flow_get(w->flows, idx);
	f->action = v.action;
	f->rule = v.rule;
	f->generation = gen;
	memcpy(f->mac, ci.mac, 6);
	f->dev = dev;
	dp_caps_flow_add(w->caps, dev);
	f->flags |= DP_FLOW_NAT;
	f->nat_map = map;
	count_peer(w, f);
	decided(w, f, &v, true, false);
	flow_packet(w, in, m, p, idx, 1, now, routed);
	return true;
}

/* A packet for the flow table: it joins the burst's list (p is already
 * its slot there, see front) with its key; flow_stage looks them all up
 * at once. */
static void by_flow(struct dp_worker *w, enum dp_role in, struct rte_mbuf *m,
		    const struct dp_pkt *p, uint64_t now)
{
	(void)now;
	struct dp_burst *b = w->burst;
	struct dp_flow_probe *pr = &b->probe[b->n];
	if (p->icmp_kind == DP_ICMP_ERROR) {
		/* The flow of the quoted packet, seen from its reverse. */
		const struct dp_inner *q = &p->inner;
		struct dp_flow_key k;
		make_key(&k, in, p->family, q->proto, q->dst, q->src, q->dport, q->sport);
		dp_flow_probe_init(pr, &k);
	} else if (p->family == 4) {
		dp_flow_probe4(pr, (uint8_t)in, p->proto, p->src, p->dst, p->sport, p->dport);
	} else {
		struct dp_flow_key k;
		make_key(&k, in, p->family, p->proto, p->src, p->dst, p->sport, p->dport);
		dp_flow_probe_init(pr, &k);
	}
	b->m[b->n++] = m;
}

/* An existing flow's packet (idx, direction d), or (from the LAN) the
 * first of a new one. */
static void flow_found(struct dp_worker *w, enum dp_role in, struct rte_mbuf *m,
		       const struct dp_pkt *p, const struct dp_flow_probe *pr, uint32_t idx,
		       unsigned d, uint64_t now)
{
	if (p->icmp_kind == DP_ICMP_ERROR) {
		enum dp_drop why = icmp_error(w, in, m, p, idx, d);
		if (why == DP_DROP_ICMP_NO_FLOW && in == DP_ROLE_WAN && p->family == 4)
			wan_to_gateway(w, m, p); /* about the kernel's own traffic? */
		else if (why != DP_DROP_COUNT)
			drop(w, in, m, why);
		return;
	}
	if (idx != DP_FLOW_NONE && recheck(w, idx)) {
		flow_packet(w, in, m, p, idx, d, now, true);
		return;
	}
	if (in == DP_ROLE_LAN)
		new_flow(w, m, p, pr, now);
	else if (p->family == 4 && !inbound(w, in, m, p, pr, now, true))
		wan_to_gateway(w, m, p); /* IPv4 from the WAN comes to its address */
	else if (p->family == 6)
		drop(w, in, m, DP_DROP_WAN_UNSOLICITED);
}

/* A WAN-side IPv4 key (probe p, not in the burst's bulk lookup): through
 * its port's mapping's only flow when the port leads to one (nat.h),
 * else in the hash. */
static uint32_t wan_find(const struct dp_worker *w, const struct dp_flow_probe *p, unsigned *d)
{
	uint32_t e = dp_nat_by_ext(w->nat, p->key.k4.proto, p->key.k4.dport);
	if (e != DP_NAT_NONE && (e & DP_NAT_FLOW) &&
	    dp_flow_is_key(w->flows, e & ~DP_NAT_FLOW, 1, p)) {
		*d = 1;
		return e & ~DP_NAT_FLOW;
	}
	return dp_flow_find(w->flows, p, d);
}

/* The second half of a hairpinned packet (hairpin_out): it reaches the
 * far end's mapping as if from the WAN, from the WAN address and its
 * sender's external port, and is counted on the LAN port it came in on. */
static void hairpin_in(struct dp_worker *w, struct rte_mbuf *m, uint64_t now)
{
	struct dp_pkt p;
	int r = dp_parse(rte_pktmbuf_mtod(m, const uint8_t *), rte_pktmbuf_data_len(m), &p);
	if (r || p.family != 4) { /* (it was parsed before, and rewritten here) */
		drop(w, DP_ROLE_LAN, m, r ? dp_parse_reason(r) : DP_DROP_L4_PROTO);
		return;
	}
	struct dp_flow_probe pr;
	unsigned d = 1;
	dp_flow_probe4(&pr, DP_ROLE_WAN, p.proto, p.src, p.dst, p.sport, p.dport);
	uint32_t idx = wan_find(w, &pr, &d);
	if (idx != DP_FLOW_NONE && recheck(w, idx))
		flow_packet(w, DP_ROLE_LAN, m, &p, idx, d, now, false);
	else if (!inbound(w, DP_ROLE_LAN, m, &p, &pr, now, false))
		drop(w, DP_ROLE_LAN, m, DP_DROP_WAN_UNSOLICITED); /* its mapping went */
}

/* The burst's hairpinned packets whose far end is here. */
static void loop_stage(struct dp_worker *w, uint64_t now)
{
	struct dp_burst *b = w->burst;
	for (unsigned i = 0; i < b->nloop; i++)
		hairpin_in(w, b->loop[i], now);
	b->nloop = 0;
}

/* The burst's waiting packets: one bulk lookup (it prefetches every
 * key's buckets, then the flows found), then each packet in order.  An
 * earlier packet of the burst may have changed the table since: a miss is
 * looked up again after an insert (the same new flow twice in a burst),
 * a hit checked again after a removal (an eviction may have taken it). */
static void flow_stage(struct dp_worker *w, enum dp_role in, uint64_t now)
{
	struct dp_burst *b = w->burst;
	uint32_t idx[DP_BURST_MAX];
	uint8_t dir[DP_BURST_MAX];
	uint64_t ins0, rem0, ins, rem;
	if (!b->n)
		return;
	/* From the WAN, a reply to a NAT mapping's only flow is found
	 * through the mapping's port (nat.h), the rest in the hash: those
	 * flows are fetched meanwhile and their keys compared below. */
	uint32_t first[DP_BURST_MAX];
	uint64_t skip = 0;
	for (unsigned i = 0; i < b->n && in == DP_ROLE_WAN; i++) {
		const struct dp_flow_probe *pr = &b->probe[i];
		first[i] = DP_NAT_NONE;
		if (pr->family != 4)
			continue;
		uint32_t e = dp_nat_by_ext(w->nat, pr->key.k4.proto, pr->key.k4.dport);
		if (e == DP_NAT_NONE || !(e & DP_NAT_FLOW))
			continue;
		first[i] = e & ~DP_NAT_FLOW;
		const char *f = (const char *)dp_flow_get(w->flows, first[i]);
		rte_prefetch0(f);
		rte_prefetch0(f + sizeof(struct dp_flow) - 1);
		skip |= 1ull << i;
	}
	dp_flow_find_bulk(w->flows, b->probe, b->n, skip, idx, dir);
	dp_flow_changes(w->flows, &ins0, &rem0);
	/* New IPv4 flows from the LAN will want their NAT mappings: fetch
	 * those side by side too. */
	uint8_t nproto[DP_BURST_MAX], nip[DP_BURST_MAX][4];
	uint16_t nport[DP_BURST_MAX];
	unsigned nn = 0;
	for (unsigned i = 0; i < b->n && in == DP_ROLE_LAN; i++) {
		const struct dp_pkt *p = &b->p[i];
		if (idx[i] != DP_FLOW_NONE || p->family != 4 || p->icmp_kind == DP_ICMP_ERROR)
			continue;
		nproto[nn] = p->proto;
		memcpy(nip[nn], p->src, 4);
		nport[nn++] = p->sport;
	}
	dp_nat_prefetch(w->nat, nn, nproto, (const uint8_t (*)[4])nip, nport);
	for (unsigned i = 0; i < b->n; i++) {
		unsigned d = dir[i];
		uint32_t x = idx[i];
		if (skip & (1ull << i)) {
			/* (Read now: an earlier packet may have ended it.) */
			d = 1;
			x = wan_find(w, &b->probe[i], &d);
			flow_found(w, in, b->m[i], &b->p[i], &b->probe[i], x, d, now);
			continue;
		}
		dp_flow_changes(w->flows, &ins, &rem);
		if (x != DP_FLOW_NONE && rem != rem0)
			x = dp_flow_refind(w->flows, &b->probe[i], x, &d);
		else if (x == DP_FLOW_NONE && ins != ins0)
			x = dp_flow_refind(w->flows, &b->probe[i], x, &d);
		flow_found(w, in, b->m[i], &b->p[i], &b->probe[i], x, d, now);
	}
	b->n = 0;
}

/* ------------------------------------------------------------ by role */

/*
 * What is punted, by role (docs/dataplane.md, "What goes to the kernel"):
 * only what is addressed to the gateway itself and needed, so the kernel
 * never gets a packet it could forward on its own.  From the LAN: ARP,
 * broadcast and multicast (DHCP, ND, mDNS, ...), and what is addressed to
 * the gateway's LAN addresses (its services, the nft guard's to filter);
 * anything else is a flow or is dropped.  From the WAN: ARP, ND, the DHCP
 * client's replies, and at the gateway's WAN addresses the ports
 * --wan-open opens, replies to the kernel's own ports (--kernel-ports),
 * echo and ICMP errors about the kernel's traffic; nothing while the WAN
 * has no address but DHCP.  Every source address from the LAN must be the
 * LAN's, to the gateway too (its answers to a spoofed source would leave
 * by the WAN).
 */

/* ICMPv6 types of neighbour discovery and multicast listener discovery. */
static bool icmp6_nd(const struct dp_pkt *p)
{
	if (p->family != 6 || p->proto != IPPROTO_ICMPV6)
		return false;
	uint8_t t = p->icmp_type;
	return (t >= 133 && t <= 136) || (t >= 130 && t <= 132) || t == 143;
}

/* The class of a packet from the LAN to the gateway itself: its LAN
 * address (unicast) or, group, a broadcast or multicast address. */
static enum dp_punt lan_class(const struct dp_pkt *p, bool group)
{
	if (icmp6_nd(p))
		return DP_PUNT_ND;
	if (p->proto == IPPROTO_UDP && p->dport == (p->family == 4 ? 67 : 547))
		return DP_PUNT_DHCP;
	if (group)
		return DP_PUNT_MULTICAST;
	if (p->proto == IPPROTO_ICMP || p->proto == IPPROTO_ICMPV6)
		return DP_PUNT_ICMP;
	return DP_PUNT_GATEWAY;
}

static void lan_ip4(struct dp_worker *w, struct rte_mbuf *m, const struct dp_pkt *p, uint64_t now)
{
	const struct dp_config *cfg = w->cfg;
	const enum dp_role in = DP_ROLE_LAN;
	bool src_ok = dp_prefix_has(4, cfg->lan4, cfg->lan4_plen, p->src);
	if (dp_ip4_is_group(p->dst) || !memcmp(p->dst, w->lan4_bcast, 4)) {
		/* A DHCP client has no address yet (0.0.0.0), nor a device
		 * with only a link-local one (169.254/16, mDNS). */
		static const uint8_t none[4];
		if (src_ok || !memcmp(p->src, none, 4) || (p->src[0] == 169 && p->src[1] == 254))
			punt(w, in, m, p, lan_class(p, true));
		else
			drop(w, in, m, DP_DROP_LAN_SPOOFED);
	} else if (p->l2_group) {
		drop(w, in, m, DP_DROP_L2_GROUP);
	} else if (!src_ok) {
		drop(w, in, m, DP_DROP_LAN_SPOOFED);
	} else if (!memcmp(p->dst, cfg->lan4, 4)) {
		punt(w, in, m, p, lan_class(p, false));
	} else if (dp_prefix_has(4, cfg->lan4, cfg->lan4_plen, p->dst) ||
		   (p->dst[0] == 169 && p->dst[1] == 254)) {
		drop(w, in, m, DP_DROP_ON_LINK);
	} else {
		by_flow(w, in, m, p, now);
	}
}

/* A DHCP server's reply (UDP 67 to 68) to the WAN twin's DHCP client:
 * BOOTREPLY for the WAN port's MAC, to the broadcast address, the WAN
 * address, or the address it offers (RFC 2131 4.1), never one of the
 * LAN's (the kernel would forward it there). */
static bool dhcp_for_us(const struct dp_worker *w, const struct rte_mbuf *m,
			const struct dp_pkt *p)
{
	const uint8_t *b = rte_pktmbuf_mtod(m, const uint8_t *) + p->l4_off + 8;
	const struct dp_config *cfg = w->cfg;
	uint8_t wan4[4], bcast[4];
	if (p->l4_payload < 44 || b[0] != 2 || b[1] != 1 || b[2] != 6 ||
	    memcmp(b + 28, w->port_mac[DP_ROLE_WAN], 6))
		return false;
	if (dp_prefix_has(4, cfg->lan4, cfg->lan4_plen, p->dst))
		return false;
	static const uint8_t all[4] = { 255, 255, 255, 255 };
	return !memcmp(p->dst, all, 4) || !memcmp(p->dst, b + 16, 4) ||
	       (wan_addr(w, wan4) && !memcmp(p->dst, wan4, 4)) ||
	       (wan_bcast(w, bcast) && !memcmp(p->dst, bcast, 4));
}

static void wan_ip4(struct dp_worker *w, struct rte_mbuf *m, const struct dp_pkt *p, uint64_t now)
{
	const enum dp_role in = DP_ROLE_WAN;
	uint8_t wan4[4], bcast[4];
	bool have = wan_addr(w, wan4);
	bool group = dp_ip4_is_group(p->dst) || (wan_bcast(w, bcast) && !memcmp(p->dst, bcast, 4));
	if (p->proto == IPPROTO_UDP && p->sport == 67 && p->dport == 68) {
		if (dhcp_for_us(w, m, p))
			punt(w, in, m, p, DP_PUNT_DHCP); /* an offer before any address too */
		else
			drop(w, in, m, group ? DP_DROP_WAN_GROUP : DP_DROP_WAN_UNSOLICITED);
	} else if (group) {
		drop(w, in, m, DP_DROP_WAN_GROUP);
	} else if (p->l2_group) {
		drop(w, in, m, DP_DROP_L2_GROUP);
	} else if (!have) {
		drop(w, in, m, DP_DROP_WAN_UNCONFIGURED);
	} else if (memcmp(p->dst, wan4, 4)) {
		drop(w, in, m, DP_DROP_WAN_UNSOLICITED);
	} else {
		by_flow(w, in, m, p, now);
	}
}

static void lan_ip6(struct dp_worker *w, struct rte_mbuf *m, const struct dp_pkt *p, uint64_t now)
{
	const struct dp_config *cfg = w->cfg;
	const enum dp_role in = DP_ROLE_LAN;
	static const uint8_t unspecified[16];
	bool src_ok = cfg->has_lan6 && dp_prefix_has(6, cfg->lan6, cfg->lan6_plen, p->src);
	bool src_local = src_ok || dp_ip6_is_link_local(p->src);
	if (dp_ip6_is_multicast(p->dst)) {
		/* Duplicate address detection comes from :: */
		if (src_local || !memcmp(p->src, unspecified, 16))
			punt(w, in, m, p, lan_class(p, true));
		else
			drop(w, in, m, DP_DROP_LAN_SPOOFED);
	} else if (p->l2_group) {
		drop(w, in, m, DP_DROP_L2_GROUP);
	} else if (dp_ip6_is_link_local(p->dst)) {
		/* Link-local and to the port's MAC: for the gateway. */
		if (src_local)
			punt(w, in, m, p, lan_class(p, false));
		else
			drop(w, in, m, DP_DROP_LAN_SPOOFED);
	} else if (!cfg->has_lan6) {
		drop(w, in, m, DP_DROP_IP6_DISABLED);
	} else if (!src_ok) {
		drop(w, in, m, DP_DROP_LAN_SPOOFED);
	} else if (!memcmp(p->dst, cfg->lan6, 16)) {
		punt(w, in, m, p, lan_class(p, false));
	} else if (dp_prefix_has(6, cfg->lan6, cfg->lan6_plen, p->dst)) {
		drop(w, in, m, DP_DROP_ON_LINK);
	} else {
		by_flow(w, in, m, p, now);
	}
}

/* From the WAN to the gateway's own WAN address (IPv4 or IPv6) with no
 * flow of the fast path's: what the kernel needs, or a drop. */
static void wan_to_gateway(struct dp_worker *w, struct rte_mbuf *m, const struct dp_pkt *p)
{
	const struct dp_config *cfg = w->cfg;
	const enum dp_role in = DP_ROLE_WAN;
	switch (p->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		if (p->proto == IPPROTO_UDP && p->family == 6 && p->dport == 546)
			punt(w, in, m, p, DP_PUNT_DHCP); /* DHCPv6 client */
		else if (dp_config_open(cfg, p->proto, p->dport))
			punt(w, in, m, p, DP_PUNT_GATEWAY);
		else if (!dp_config_kernel_port(cfg, p->dport))
			drop(w, in, m, p->dport >= cfg->nat_lo && p->dport <= cfg->nat_hi ?
					       DP_DROP_WAN_UNSOLICITED : DP_DROP_WAN_CLOSED);
		else if (p->proto == IPPROTO_TCP &&
			 (p->tcp_flags & (DP_TCP_SYN | DP_TCP_ACK)) == DP_TCP_SYN)
			drop(w, in, m, DP_DROP_WAN_CLOSED); /* nobody asked to open it */
		else
			punt(w, in, m, p, DP_PUNT_KERNEL); /* the kernel's own flows */
		return;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if (icmp6_nd(p)) {
			punt(w, in, m, p, DP_PUNT_ND);
		} else if (p->icmp_kind == DP_ICMP_ECHO_REQUEST || p->icmp_kind == DP_ICMP_ECHO_REPLY) {
			punt(w, in, m, p, DP_PUNT_ICMP);
		} else if (p->icmp_kind == DP_ICMP_ERROR) {
			/* About a packet the gateway sent: one of the kernel's
			 * own, unless from one of our NAT ports (which has no
			 * flow: nothing to tell). */
			const struct dp_inner *q = &p->inner;
			if ((q->proto == IPPROTO_TCP || q->proto == IPPROTO_UDP) &&
			    q->sport >= cfg->nat_lo && q->sport <= cfg->nat_hi)
				drop(w, in, m, DP_DROP_ICMP_NO_FLOW);
			else
				punt(w, in, m, p, DP_PUNT_ICMP);
		} else {
			drop(w, in, m, DP_DROP_ICMP_TYPE);
		}
		return;
	}
	drop(w, in, m, DP_DROP_L4_PROTO);
}

static void wan_ip6(struct dp_worker *w, struct rte_mbuf *m, const struct dp_pkt *p, uint64_t now)
{
	const struct dp_config *cfg = w->cfg;
	const enum dp_role in = DP_ROLE_WAN;
	if (dp_ip6_is_multicast(p->dst)) {
		if (icmp6_nd(p))
			punt(w, in, m, p, DP_PUNT_ND);
		else if (p->proto == IPPROTO_UDP && p->dport == 546)
			punt(w, in, m, p, DP_PUNT_DHCP);
		else
			drop(w, in, m, DP_DROP_WAN_GROUP);
	} else if (p->l2_group) {
		drop(w, in, m, DP_DROP_L2_GROUP);
	} else if (dp_ip6_is_link_local(p->dst) || wan6_has(w, p->dst)) {
		wan_to_gateway(w, m, p);
	} else if (cfg->has_lan6 && dp_prefix_has(6, cfg->lan6, cfg->lan6_plen, p->dst) &&
		   memcmp(p->dst, cfg->lan6, 16)) {
		by_flow(w, in, m, p, now);
	} else {
		/* The gateway's LAN address too: the WAN does not reach it. */
		drop(w, in, m, DP_DROP_WAN_UNSOLICITED);
	}
}

/* A packet's own checks, up to the point where it needs the flow table
 * (by_flow): it is parsed into its slot of the burst's list, which
 * by_flow keeps. */
static void front(struct dp_worker *w, enum dp_role in, struct rte_mbuf *m, uint64_t now)
{
	struct dp_pkt *p = &w->burst->p[w->burst->n];
	if (m->nb_segs != 1) {
		drop(w, in, m, DP_DROP_SEGMENTED);
		return;
	}
	uint8_t *data = rte_pktmbuf_mtod(m, uint8_t *);
	int r = dp_parse(data, rte_pktmbuf_data_len(m), p);
	if (r) {
		drop(w, in, m, dp_parse_reason(r));
		return;
	}
	if (p->vlan) {
		/* No VLANs are configured: a VLAN id is not ours.  Priority
		 * tags (VID 0) are the untagged LAN's, as the kernel takes
		 * them, so policy, anti-spoofing and flows apply: off they
		 * come, before anything looks at the frame. */
		if (p->vlan_id) {
			drop(w, in, m, DP_DROP_VLAN);
			return;
		}
		unsigned tags = DP_VLAN_HLEN * p->vlans;
		memmove(data + tags, data, 12);
		data = (uint8_t *)rte_pktmbuf_adj(m, (uint16_t)tags);
		r = dp_parse(data, rte_pktmbuf_data_len(m), p);
		if (r) { /* (cannot be: the same frame, untagged) */
			drop(w, in, m, dp_parse_reason(r));
			return;
		}
	}
	if (!p->l2_group && memcmp(data, w->port_mac[in], 6)) {
		drop(w, in, m, DP_DROP_L2_NOT_OURS);
		return;
	}
	if (p->family == 0) {
		punt(w, in, m, p, DP_PUNT_ARP);
		return;
	}
	/* Trailing Ethernet padding is not part of the packet. */
	uint32_t end = (uint32_t)p->l3_off + p->l3_len;
	if (rte_pktmbuf_data_len(m) > end)
		rte_pktmbuf_trim(m, (uint16_t)(rte_pktmbuf_data_len(m) - end));
	if (p->family == 4)
		(in == DP_ROLE_LAN ? lan_ip4 : wan_ip4)(w, m, p, now);
	else
		(in == DP_ROLE_LAN ? lan_ip6 : wan_ip6)(w, m, p, now);
}

void dp_pipeline(struct dp_worker *w, enum dp_role in, struct rte_mbuf *m, uint64_t now)
{
	front(w, in, m, now);
	flow_stage(w, in, now);
	loop_stage(w, now);
}

void dp_pipeline_burst(struct dp_worker *w, enum dp_role in, struct rte_mbuf **ms, uint16_t n,
		       uint64_t now)
{
	for (uint16_t i = 0; i < n && i < PREFETCH_AHEAD; i++)
		rte_prefetch0(rte_pktmbuf_mtod(ms[i], void *));
	for (uint16_t i = 0; i < n; i++) {
		if (i + PREFETCH_AHEAD < n)
			rte_prefetch0(rte_pktmbuf_mtod(ms[i + PREFETCH_AHEAD], void *));
		front(w, in, ms[i], now);
	}
	flow_stage(w, in, now);
	loop_stage(w, now);
}

/* ------------------------------------------------------------ steering */

/* The worker that owns a received frame's flow (see lcore.h), or
 * w->id when it belongs to none: it is punted or dropped where it is. */
static unsigned owner(const struct dp_worker *w, enum dp_role in, const struct rte_mbuf *m)
{
	const uint8_t *data = rte_pktmbuf_mtod(m, const uint8_t *);
	struct dp_pkt p;
	/* (Behind priority tags a packet is its flow's as untagged: the
	 * parse has its addresses and ports.) */
	if (m->nb_segs != 1 || (data[0] & 1) ||
	    dp_parse(data, rte_pktmbuf_data_len(m), &p) || p.family == 0 || p.vlan_id)
		return w->id;
	const unsigned n = w->nworkers;
	if (p.family == 6) {
		const uint8_t *dev = in == DP_ROLE_LAN ? p.src :
				     p.icmp_kind == DP_ICMP_ERROR ? p.inner.src : p.dst;
		return dp_hash_steer(dev, 16) % n;
	}
	if (in == DP_ROLE_LAN) {
		/* A device's IPv4 packets by its MAC, whatever their addresses:
		 * its flows, mappings and caps meet in one worker's tables. */
		return dp_hash_steer(data + 6, 6) % n;
	}
	/* Our external port: the destination, an echo reply's identifier,
	 * or the source of the packet an error quotes; the worker that holds
	 * its mapping. */
	bool err = p.icmp_kind == DP_ICMP_ERROR;
	unsigned o;
	uint8_t ip[4];
	uint16_t port;
	if (!w->ports || !dp_nat_ports_owner(w->ports, err ? p.inner.proto : p.proto,
					    err ? p.inner.sport : p.dport, &o, ip, &port) || o >= n)
		return w->id;
	return o;
}

/* A burst received from in: each packet to its owner's ring, the rest
 * through the pipeline here. */
static void steer_burst(struct dp_worker *w, enum dp_role in, struct rte_mbuf **ms, uint16_t n,
			uint64_t now)
{
	struct rte_mbuf *local[DP_BURST_MAX], *out[DP_BURST_MAX];
	uint8_t to[DP_BURST_MAX];
	uint16_t nl = 0, no = 0;
	for (uint16_t i = 0; i < n; i++) {
		unsigned o = owner(w, in, ms[i]);
		ms[i]->port = w->cfg->port[in]; /* its role, for the owner */
		if (o == w->id) {
			local[nl++] = ms[i];
		} else {
			to[no] = (uint8_t)o;
			out[no++] = ms[i];
		}
	}
	/* One enqueue per owner, in order of arrival within each. */
	bool done[DP_BURST_MAX] = { false };
	for (uint16_t i = 0; i < no; i++) {
		struct rte_mbuf *batch[DP_BURST_MAX];
		unsigned k = 0;
		if (done[i])
			continue;
		for (uint16_t j = i; j < no; j++) {
			if (!done[j] && to[j] == to[i]) {
				batch[k++] = out[j];
				done[j] = true;
			}
		}
		unsigned sent = rte_ring_enqueue_burst(w->steer[to[i]], (void **)batch, k, NULL);
		for (unsigned j = sent; j < k; j++)
			drop(w, in, batch[j], DP_DROP_STEER_FULL);
	}
	if (nl)
		dp_pipeline_burst(w, in, local, nl, now);
}

/* What other workers steered here, by the role it came in on. */
static void take_steered(struct dp_worker *w, struct rte_mbuf **ms, uint64_t now)
{
	unsigned n = rte_ring_dequeue_burst(w->steer[w->id], (void **)ms, w->cfg->burst, NULL);
	if (!n)
		return;
	struct rte_mbuf *by[DP_ROLE_COUNT][DP_BURST_MAX];
	uint16_t cnt[DP_ROLE_COUNT] = { 0, 0 };
	for (unsigned i = 0; i < n; i++) {
		if (ms[i]->port == DP_PORT_HAIRPIN) {
			hairpin_in(w, ms[i], now);
			continue;
		}
		int role = ms[i]->port == w->cfg->port[DP_ROLE_WAN] ? DP_ROLE_WAN : DP_ROLE_LAN;
		by[role][cnt[role]++] = ms[i];
	}
	for (int role = 0; role < DP_ROLE_COUNT; role++)
		if (cnt[role])
			dp_pipeline_burst(w, (enum dp_role)role, by[role], cnt[role], now);
	dp_worker_flush(w);
}

void dp_worker_drain(struct dp_worker *w)
{
	struct rte_mbuf *ms[DP_BURST_MAX];
	if (w->cfg->mode != DP_MODE_FULL)
		return;
	uint64_t now = rte_get_timer_cycles() / w->ms_div;
	while (w->nworkers > 1 && w->steer && !rte_ring_empty(w->steer[w->id]))
		take_steered(w, ms, now);
	/* What the shaper still holds goes now, counted as rate_limit. */
	if (w->shaper && dp_shaper_held(w->shaper))
		release_held(w, UINT64_MAX, now);
	dp_worker_flush(w);
}

/* ------------------------------------------------------------ loops */

int dp_worker_main(void *arg)
{
	struct dp_worker *w = arg;
	const struct dp_config *cfg = w->cfg;
	struct rte_mbuf *ms[DP_BURST_MAX];
	unsigned iter = 0;
	uint64_t expired_at = 0;
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
		bool steering = cfg->mode == DP_MODE_FULL && w->nworkers > 1;
		for (int role = 0; role < DP_ROLE_COUNT && w->rxq; role++) {
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
			} else if (steering) {
				steer_burst(w, (enum dp_role)role, ms, n, now);
			} else {
				dp_pipeline_burst(w, (enum dp_role)role, ms, n, now);
			}
			dp_worker_flush(w);
		}
		if (steering)
			take_steered(w, ms, now);
		/* Shaped packets whose time has come. */
		if (w->shaper && dp_shaper_next(w->shaper) <= rte_get_tsc_cycles())
			release_held(w, rte_get_tsc_cycles(), now);
		/* What the kernel sent on the twins goes out their ports. */
		for (int role = 0; role < DP_ROLE_COUNT; role++) {
			if (!w->twin[role])
				continue;
			unsigned n = dp_twin_take(w->twin[role], ms, cfg->burst);
			if (!n)
				continue;
			w->stats[role].from_kernel += n;
			for (unsigned i = 0; i < n; i++)
				queue_tx(w, (enum dp_role)role, ms[i]);
			dp_worker_flush(w);
		}
		/* Expiry once a millisecond, off the per-burst path. */
		if (cfg->mode == DP_MODE_FULL && now != expired_at) {
			dp_flow_expire(w->flows, now, EXPIRE_BUDGET);
			expired_at = now;
		}
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
