/* SPDX-License-Identifier: MIT */
/*
 * Differential test of the fast path's classification: random policies
 * (tests/lib/c/randpol.c, through the real compiler) and random first
 * packets, each built as a frame in an mbuf and run through dp_pipeline
 * from the LAN port of a worker on a real EAL (--no-huge, its own
 * --file-prefix, two net_null ports).  For every packet that opens a flow,
 * the flow's cached verdict and rule must be the reference evaluator's,
 * and the packet must end as that verdict says (forwarded, or dropped
 * under the policy's reason).  Every case, opener or not, is also asked of
 * dp_classify_flow directly (log, rate and device too).  The destination's
 * domain sets (one or several bits) go into the worker's domain table as
 * DOMAIN_SET would put them.
 *
 * The packets come in shapes a device could send to get past its policy
 * (issue 13), each with the fate the parser and pipeline owe it:
 *  - priority tags (VID 0, up to GW_PKT_MAX_VLAN of them): the verdict of
 *    the untagged packet, the flow keyed as if untagged;
 *  - a tag with a VLAN id: dropped as vlan; more tags than walked:
 *    dropped as vlan_stacked; no flow either way;
 *  - IPv6 with up to GW_PKT_MAX_IP6_EXT extension headers of every kind
 *    walked: the verdict with its ports; one more: dropped as ip6_ext;
 *  - a source outside the LAN's prefix: dropped as lan_spoofed, no flow;
 *  - the flow's reverse tuple sent first, from the LAN (a spoofed source)
 *    and from the WAN (no flow to reply to): neither opens a flow nor is
 *    forwarded, and the real packet still gets the evaluator's verdict.
 * A second test waits out a domain entry's TTL: a new flow after it no
 * longer sees the domain set.  GW_SEED=n replays a seed.  Skips (77)
 * where EAL cannot start (fails under GW_TEST_STRICT=1).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_errno.h>
#include <rte_mbuf.h>

#include "cksum.h"
#include "domain.h"
#include "lcore.h"
#include "parse.h"
#include "pktlimits.h"
#include "port.h"
#include "gwtest.h"
#include "randpol.h"

#define NOW_MS 1000

static struct rte_mempool *pool;
static uint8_t port_mac[DP_ROLE_COUNT][6];

/* The gateway as the tests set it: LAN, WAN and next hop chosen away from
 * randpol's anchors; a random destination that still falls in them is
 * not a flow's first packet and is counted apart. */
static struct dp_config config(void)
{
	struct dp_config c = {
		.port = { 0, 1 },
		.mode = DP_MODE_FULL,
		.nat_lo = 1024,
		.nat_hi = 65535,
		.mbufs = 4095,
		.flows = 4096,
		.burst = 32,
		.has_lan4 = true, .has_lan6 = true, .has_wan4 = true, .has_wan_gw = true,
		.lan4_plen = 24, .lan6_plen = 64,
		.wan_gw_mac = { 0x02, 0, 0, 0, 0, 0xfe },
	};
	inet_pton(AF_INET, "100.64.7.1", c.lan4);
	inet_pton(AF_INET6, "fdee:7::1", c.lan6);
	inet_pton(AF_INET, "100.100.100.100", c.wan4);
	return c;
}

static uint64_t seed(void)
{
	const char *s = getenv("GW_SEED");
	return s ? strtoull(s, NULL, 0) : 0xd1ffu;
}

/* Destinations never seen on a wire (0/8, 127/8, ::, ::1): whether the
 * parser drops them as martians is the parser's business, not this test's;
 * the classifier is still asked about them directly. */
static bool martian_dst(const struct pol_facts *f)
{
	static const uint8_t zero[16];
	if (f->family == 4)
		return f->dst[0] == 0 || f->dst[0] == 127;
	return !memcmp(f->dst, zero, 15) && f->dst[15] <= 1;
}

/* Would the pipeline classify this packet as a new flow from the LAN? */
static bool opens_flow(const struct dp_config *c, const struct pol_facts *f)
{
	switch (f->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		if (!f->dport)
			return false; /* dropped: port zero */
		break;
	case IPPROTO_ICMP:
		if (f->family != 4)
			return false;
		break;
	case IPPROTO_ICMPV6:
		if (f->family != 6)
			return false;
		break;
	default:
		return false;
	}
	if (f->family == 4) {
		uint8_t bcast[4];
		memcpy(bcast, c->lan4, 4);
		bcast[3] = 255;
		return !dp_ip4_is_group(f->dst) && memcmp(f->dst, bcast, 4) &&
		       !dp_prefix_has(4, c->lan4, c->lan4_plen, f->dst) &&
		       !(f->dst[0] == 169 && f->dst[1] == 254) && memcmp(f->dst, c->wan4, 4);
	}
	return !dp_ip6_is_multicast(f->dst) && !dp_ip6_is_link_local(f->dst) &&
	       !dp_prefix_has(6, c->lan6, c->lan6_plen, f->dst);
}

/* How a case's packet is dressed (see the top of the file). */
struct shape {
	unsigned tags;    /* 802.1Q/802.1ad tags in front */
	bool vlan_id;     /* one of them has a VLAN id (else all VID 0) */
	unsigned ext;     /* IPv6: extension headers before the transport */
	bool spoofed;     /* the source is outside the LAN's prefix */
	bool prime;       /* the reverse tuple first, from both sides */
};

/* The kinds of extension header walked (policy/pktlimits.h), the
 * fragment aside; each one 8 bytes here (AH's length 0 means 8 too). */
static const uint8_t ext_kinds[] = { 0, 43, 60, 51, 135, 139, 140, 253, 254 };

/* The device's packet: Ethernet to the gateway's LAN port, IP from the LAN
 * prefix (or from outside it), a TCP SYN, a UDP datagram or an echo
 * request with id sport, dressed as sh says. */
static struct rte_mbuf *frame(const struct dp_config *c, const uint8_t mac[6],
			      const struct pol_facts *f, uint16_t host, uint16_t sport,
			      const struct shape *sh)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	assert_non_null(m);
	unsigned ext = f->family == 6 ? sh->ext : 0;
	unsigned l3 = (f->family == 4 ? 20 : 40) + 8 * ext;
	unsigned l4 = f->proto == IPPROTO_TCP ? 20 : 8;
	unsigned tags = 4 * sh->tags;
	uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(14 + tags + l3 + l4 + 6));
	assert_non_null(p);
	memset(p, 0, 14 + tags + l3 + l4 + 6);
	memcpy(p, port_mac[DP_ROLE_LAN], 6);
	memcpy(p + 6, mac, 6);
	for (unsigned i = 0; i < sh->tags; i++) {
		/* An S-tag outside a C-tag; the VLAN id on the innermost. */
		dp_put16(p + 12 + 4 * i, i + 1 < sh->tags ? DP_ETHERTYPE_QINQ : DP_ETHERTYPE_VLAN);
		uint16_t tci = (uint16_t)(i % 8) << 13; /* a priority, VID 0 */
		if (sh->vlan_id && i + 1 == sh->tags)
			tci |= (uint16_t)(1 + host % 4094);
		dp_put16(p + 14 + 4 * i, tci);
	}
	uint8_t *ip = p + 14 + tags, *t = ip + l3;
	if (f->family == 4) {
		dp_put16(ip - 2, 0x0800);
		ip[0] = 0x45;
		dp_put16(ip + 2, (uint16_t)(l3 + l4 + 6));
		ip[8] = 64;
		ip[9] = f->proto;
		memcpy(ip + 12, c->lan4, 3);
		ip[15] = (uint8_t)(2 + host % 250);
		if (sh->spoofed)
			ip[12] ^= 0x40; /* another /2 than the LAN's */
		memcpy(ip + 16, f->dst, 4);
		dp_put16(ip + 10, dp_csum(ip, 20));
	} else {
		dp_put16(ip - 2, 0x86dd);
		ip[0] = 0x60;
		dp_put16(ip + 4, (uint16_t)(8 * ext + l4 + 6));
		ip[6] = ext ? ext_kinds[host % RTE_DIM(ext_kinds)] : f->proto;
		ip[7] = 64;
		memcpy(ip + 8, c->lan6, 8);
		dp_put16(ip + 22, (uint16_t)(2 + host));
		if (sh->spoofed)
			ip[8] ^= 0x20;
		memcpy(ip + 24, f->dst, 16);
		for (unsigned i = 0; i < ext; i++)
			ip[40 + 8 * i] = i + 1 < ext ? ext_kinds[(host + i + 1) % RTE_DIM(ext_kinds)] :
						      f->proto;
	}
	switch (f->proto) {
	case IPPROTO_TCP:
		dp_put16(t, sport);
		dp_put16(t + 2, f->dport);
		t[12] = 5 << 4;
		t[13] = DP_TCP_SYN;
		break;
	case IPPROTO_UDP:
		dp_put16(t, sport);
		dp_put16(t + 2, f->dport);
		dp_put16(t + 4, (uint16_t)(l4 + 6));
		break;
	case IPPROTO_ICMP:
		t[0] = 8; /* echo request */
		dp_put16(t + 4, sport);
		break;
	case IPPROTO_ICMPV6:
		t[0] = 128;
		dp_put16(t + 4, sport);
		break;
	default:
		break;
	}
	return m;
}

/* The reply a flow's first packet would get, before it was sent: from
 * the LAN port with the device's MAC (a device priming the tuple with a
 * spoofed source), or from the WAN port to the gateway (IPv4) or the
 * device (IPv6). */
static struct rte_mbuf *reverse(const struct dp_config *c, const uint8_t mac[6],
				const struct pol_facts *f, uint16_t host, uint16_t sport,
				enum dp_role from)
{
	struct pol_facts r = *f;
	struct rte_mbuf *m = frame(c, mac, f, host, sport, &(struct shape){ 0 });
	uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *), *ip = p + 14;
	(void)r;
	if (from == DP_ROLE_WAN) {
		static const uint8_t wan_hop[6] = { 0x02, 0, 0, 0, 0, 0xfe };
		memcpy(p, port_mac[DP_ROLE_WAN], 6);
		memcpy(p + 6, wan_hop, 6);
	}
	unsigned alen = f->family == 4 ? 4 : 16, so = f->family == 4 ? 12 : 8;
	uint8_t dev[16];
	memcpy(dev, ip + so, alen);
	memcpy(ip + so, ip + so + alen, alen); /* from the destination */
	if (from == DP_ROLE_WAN && f->family == 4)
		memcpy(ip + so + alen, c->wan4, 4); /* to the NAT address */
	else
		memcpy(ip + so + alen, dev, alen);
	unsigned l3 = f->family == 4 ? 20 : 40;
	uint8_t *t = ip + l3;
	if (f->proto == IPPROTO_TCP || f->proto == IPPROTO_UDP) {
		dp_put16(t, f->dport);
		dp_put16(t + 2, sport);
		if (f->proto == IPPROTO_TCP)
			t[13] = DP_TCP_SYN | DP_TCP_ACK;
	} else {
		t[0] = f->proto == IPPROTO_ICMP ? 0 : 129; /* echo reply */
	}
	if (f->family == 4) {
		dp_put16(ip + 10, 0);
		dp_put16(ip + 10, dp_csum(ip, 20));
	}
	return m;
}

struct spread {
	unsigned direct, flows, skipped, defaults;
	unsigned action[3];
	unsigned multi_domain;           /* flows whose destination is in 2+ domain sets */
	unsigned tagged, vlan_dropped, stacked_dropped;
	unsigned ext, ext_dropped, spoofed, primed;
};

static uint64_t ms_now(void)
{
	return rte_get_timer_cycles() / (rte_get_timer_hz() / 1000);
}

/* The destination's domain sets, as gwd's DNS would have sent them. */
static void set_domains(struct dp_domains *d, const struct pol_facts *f)
{
	struct dp_domain_entry e = { .family = f->family, .ttl_s = 300, .sets = f->domain_sets };
	memcpy(e.addr, f->dst, f->family == 4 ? 4 : 16);
	uint64_t changed;
	assert_int_equal(dp_domains_apply(d, &e, 1, ms_now(), &changed), 0);
}

static void check_one(struct dp_worker *w, struct dp_domains *dom, struct dp_classify *c,
		      const struct dp_config *cfg, struct rp_rng *r, uint16_t k, const char *text,
		      const struct rp_model *model,
		      struct spread *sp)
{
	const struct pol_ir *ir = dp_classify_ir(c);
	struct pol_facts f;
	uint8_t mac[6];
	rp_packet(r, ir, mac, &f);
	/* Schedules by the model's plain table of the week, not by
	 * pol_schedule_active, which the classifier's mask comes from too. */
	struct pol_verdict want;
	if (!rp_reference(ir, model, &f, &want))
		fail_msg("%s\nwhen %u/%u: the evaluator and the schedules as written disagree "
			 "(rule %u by the schedules as written)", text, f.when.wday, f.when.minute,
			 want.rule);
	dp_classify_set_when(c, f.when);
	set_domains(dom, &f);

	/* The classifier itself, on every case. */
	struct dp_classify_in ci = { .family = f.family, .proto = f.proto, .dport = f.dport,
				     .domain_sets = f.domain_sets };
	memcpy(ci.mac, mac, 6);
	memcpy(ci.dst, f.dst, 16);
	struct dp_verdict got;
	dp_classify_flow(c, &ci, &got);
	char a[INET6_ADDRSTRLEN];
	inet_ntop(f.family == 4 ? AF_INET : AF_INET6, f.dst, a, sizeof(a));
	if (got.action != want.action || got.rule != want.rule || got.log != want.log ||
	    got.rate_bps != want.rate_bps || got.device != f.device)
		fail_msg("%s\nmac %02x:%02x:%02x:%02x:%02x:%02x dst %s proto %u dport %u domains "
			 "%#llx when %u/%u: classifier rule %u action %u log %u rate %llu device "
			 "%u, evaluator rule %u action %u log %u rate %llu device %u",
			 text, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], a, f.proto, f.dport,
			 (unsigned long long)f.domain_sets, f.when.wday, f.when.minute, got.rule,
			 got.action, got.log, (unsigned long long)got.rate_bps, got.device,
			 want.rule, want.action, want.log, (unsigned long long)want.rate_bps,
			 f.device);
	sp->direct++;

	/* Its shape: a quarter tagged, some IPv6 with extension headers, a
	 * few spoofed, a few primed. */
	struct shape sh = { 0 };
	uint32_t roll = rp_below(r, 100);
	if (roll < 25) {
		sh.tags = 1 + rp_below(r, GW_PKT_MAX_VLAN + 1); /* one past the limit too */
		sh.vlan_id = rp_below(r, 4) == 0;
	} else if (roll < 45 && f.family == 6) {
		sh.ext = 1 + rp_below(r, GW_PKT_MAX_IP6_EXT + 1);
	} else if (roll < 55) {
		sh.spoofed = true;
	} else if (roll < 70) {
		sh.prime = true;
	}

	/* The pipeline, on a frame. */
	const struct dp_port_stats *s = &w->stats[DP_ROLE_LAN];
	struct dp_port_stats s0 = *s, ws0 = w->stats[DP_ROLE_WAN];
	uint16_t sport = (uint16_t)(1024 + k);
	struct dp_flow_key key = { .sport = sport, .proto = f.proto, .family = f.family,
				   .role = DP_ROLE_LAN };
	key.dport = f.proto == IPPROTO_TCP || f.proto == IPPROTO_UDP ? f.dport : sport;
	if (f.family == 4) {
		memcpy(key.src, cfg->lan4, 3);
		key.src[3] = (uint8_t)(2 + k % 250);
	} else {
		memcpy(key.src, cfg->lan6, 8);
		dp_put16(key.src + 14, (uint16_t)(2 + k));
	}
	memcpy(key.dst, f.dst, 16);
	unsigned d;
	if (sh.prime && !martian_dst(&f)) {
		struct dp_flow_stats fs0, fs1;
		dp_flow_stats(w->flows, &fs0);
		struct rte_mbuf *rm = reverse(cfg, mac, &f, k, sport, DP_ROLE_LAN);
		struct dp_pkt rp;
		bool parses = dp_parse(rte_pktmbuf_mtod(rm, const uint8_t *),
				       rte_pktmbuf_data_len(rm), &rp) == 0;
		dp_pipeline(w, DP_ROLE_LAN, rm, NOW_MS);
		dp_pipeline(w, DP_ROLE_WAN, reverse(cfg, mac, &f, k, sport, DP_ROLE_WAN), NOW_MS);
		dp_worker_flush(w);
		dp_flow_stats(w->flows, &fs1);
		if (fs1.created != fs0.created || s->forwarded != s0.forwarded ||
		    w->stats[DP_ROLE_WAN].forwarded != ws0.forwarded)
			fail_msg("%s\ndst %s proto %u dport %u: a primed reverse tuple opened a "
				 "flow or was forwarded", text, a, f.proto, f.dport);
		if (parses && opens_flow(cfg, &f) &&
		    s->drop[DP_DROP_LAN_SPOOFED] == s0.drop[DP_DROP_LAN_SPOOFED])
			fail_msg("%s\ndst %s: the LAN's primed reverse packet was not dropped as "
				 "lan_spoofed", text, a);
		sp->primed++;
		s0 = *s;
	}
	struct rte_mbuf *m = frame(cfg, mac, &f, k, sport, &sh);
	struct dp_pkt pk;
	int pr = dp_parse(rte_pktmbuf_mtod(m, const uint8_t *), rte_pktmbuf_data_len(m), &pk);
	dp_pipeline(w, DP_ROLE_LAN, m, NOW_MS);
	dp_worker_flush(w);
	uint32_t idx = dp_flow_lookup(w->flows, &key, &d);
	if (martian_dst(&f)) {
		sp->skipped++;
		return;
	}
	/* The shapes that must not be classified at all, whatever their
	 * destination: the parser's drop (past the tags or extension
	 * headers walked, whatever is inside; or the packet inside is
	 * broken), else the pipeline's. */
	enum dp_drop must = DP_DROP_COUNT;
	if (sh.tags > GW_PKT_MAX_VLAN)
		assert_string_equal(dp_drop_name(dp_parse_reason(pr)), "vlan_stacked");
	if (sh.ext > GW_PKT_MAX_IP6_EXT)
		assert_string_equal(dp_drop_name(dp_parse_reason(pr)), "ip6_ext");
	if (sh.tags > GW_PKT_MAX_VLAN || sh.vlan_id || sh.ext > GW_PKT_MAX_IP6_EXT || sh.spoofed)
		must = pr ? dp_parse_reason(pr) : sh.vlan_id ? DP_DROP_VLAN : DP_DROP_LAN_SPOOFED;
	if (must != DP_DROP_COUNT) {
		if (idx != DP_FLOW_NONE || s->drop[must] != s0.drop[must] + 1 ||
		    s->forwarded != s0.forwarded || s->punted != s0.punted)
			fail_msg("%s\ndst %s proto %u dport %u, %u tags (VLAN id %d), %u extension "
				 "headers, spoofed %d: want one %s drop and no flow, got %s flow, "
				 "%lu drops, %lu forwarded, %lu punted", text, a, f.proto, f.dport,
				 sh.tags, sh.vlan_id, sh.ext, sh.spoofed, dp_drop_name(must),
				 idx == DP_FLOW_NONE ? "no" : "a", s->drop[must] - s0.drop[must],
				 s->forwarded - s0.forwarded, s->punted - s0.punted);
		sp->vlan_dropped += must == DP_DROP_VLAN;
		sp->stacked_dropped += must == DP_DROP_VLAN_STACKED;
		sp->ext_dropped += must == DP_DROP_IP6_EXT;
		sp->spoofed += must == DP_DROP_LAN_SPOOFED;
		return;
	}
	if (!opens_flow(cfg, &f)) {
		if (idx != DP_FLOW_NONE)
			fail_msg("%s\ndst %s proto %u dport %u opened a flow", text, a, f.proto,
				 f.dport);
		sp->skipped++;
		return;
	}
	if (idx == DP_FLOW_NONE || d != 0)
		fail_msg("%s\ndst %s proto %u dport %u (%u tags, %u extension headers): no flow "
			 "(forwarded %lu)", text, a, f.proto, f.dport, sh.tags, sh.ext,
			 s->forwarded - s0.forwarded);
	const struct dp_flow *fl = dp_flow_get(w->flows, idx);
	if (fl->action != want.action || fl->rule != want.rule ||
	    fl->generation != dp_classify_generation(c))
		fail_msg("%s\nmac %02x:%02x:%02x:%02x:%02x:%02x dst %s proto %u dport %u domains "
			 "%#llx when %u/%u (%u tags, %u extension headers): flow rule %u action "
			 "%u, evaluator rule %u action %u",
			 text, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], a, f.proto, f.dport,
			 (unsigned long long)f.domain_sets, f.when.wday, f.when.minute, sh.tags,
			 sh.ext, fl->rule, fl->action, want.rule, want.action);
	switch (want.action) {
	case POL_ALLOW:
		assert_int_equal(s->forwarded - s0.forwarded, 1);
		break;
	case POL_BLOCK:
		assert_int_equal(s->drop[DP_DROP_POLICY_BLOCK] - s0.drop[DP_DROP_POLICY_BLOCK], 1);
		break;
	case POL_REJECT:
		assert_int_equal(s->drop[DP_DROP_POLICY_REJECT] - s0.drop[DP_DROP_POLICY_REJECT], 1);
		break;
	default:
		fail_msg("action %u", want.action);
	}
	sp->flows++;
	sp->action[want.action]++;
	sp->defaults += want.rule >= POL_RULE_DEFAULT_NEW;
	sp->multi_domain += __builtin_popcountll(f.domain_sets) >= 2;
	sp->tagged += sh.tags > 0;
	sp->ext += sh.ext > 0;
}

static void run_random(struct rp_rng *r, const struct rp_shape *shape, unsigned policies,
		       unsigned packets, struct dp_domains *dom, struct spread *sp)
{
	struct dp_config cfg = config();
	for (unsigned i = 0; i < policies; i++) {
		struct rp_model model;
		char *text = rp_policy_model(r, shape, &model);
		struct pol_ir *ir = rp_load(text);
		assert_non_null(ir);
		assert_int_equal(ir->nrules, model.nrules);
		struct dp_classify *c = NULL;
		int rc = dp_classify_new(ir, 7 + i, &c);
		if (rc)
			fail_msg("dp_classify_new: %d for\n%s", rc, text);
		struct dp_worker w = { .cfg = &cfg, .pool = pool, .policy = &c, .domains = dom };
		memcpy(w.port_mac, port_mac, sizeof(port_mac));
		assert_int_equal(dp_worker_init(&w), 0);
		for (unsigned k = 0; k < packets; k++)
			check_one(&w, dom, c, &cfg, r, (uint16_t)k, text, &model, sp);
		dp_worker_fini(&w);
		dp_classify_free(c);
		rp_model_free(&model);
		free(text);
	}
}

static void random_policies(void **state)
{
	(void)state;
	struct rp_rng r = { seed() };
	struct spread sp = { 0 };
	struct dp_domains *dom;
	assert_int_equal(dp_domains_new("diff_domains", 65536, 0, NULL, &dom), 0);
	for (unsigned size = 0; size < 8; size++) {
		struct rp_shape shape = { .rules = 1 + size % 4 * 10, .devices = 1 + size % 4 * 3,
					  .lists = size % 4 * 2, .narrow = size >= 4 };
		run_random(&r, &shape, 20, 120, dom, &sp);
	}
	struct rp_shape big = { .rules = 1000, .devices = 50, .lists = 20 };
	run_random(&r, &big, 2, 1200, dom, &sp);
	/* As many rules as the eBPF maps hold. */
	struct rp_shape full = { .rules = 4096, .devices = 200, .lists = 80, .narrow = true };
	run_random(&r, &full, 1, 1200, dom, &sp);
	/* Wider than the eBPF maps: the fast path builds its tables for it. */
	struct rp_shape wide = { .rules = 10000, .devices = 200, .lists = 80, .narrow = true };
	run_random(&r, &wide, 1, 1200, dom, &sp);
	dp_domains_free(dom);
	print_message("%u cases through the classifier; %u first packets through the pipeline "
		      "(allow %u, block %u, reject %u; %u by a default; %u to 2+ domain sets); "
		      "%u not flow openers\n",
		      sp.direct, sp.flows, sp.action[POL_ALLOW], sp.action[POL_BLOCK],
		      sp.action[POL_REJECT], sp.defaults, sp.multi_domain, sp.skipped);
	print_message("shapes: %u flows behind priority tags, %u behind extension headers, "
		      "%u primed; dropped: %u VLAN ids, %u past the tags walked, %u past the "
		      "extension headers walked, %u spoofed\n", sp.tagged, sp.ext, sp.primed,
		      sp.vlan_dropped, sp.stacked_dropped, sp.ext_dropped, sp.spoofed);
	assert_true(sp.flows >= 10000);
	assert_true(sp.multi_domain > 100);
	assert_true(sp.tagged > 500 && sp.ext > 200 && sp.primed > 1000);
	assert_true(sp.vlan_dropped > 200 && sp.stacked_dropped > 200 && sp.ext_dropped > 20 &&
		    sp.spoofed > 500);
	assert_true(sp.action[POL_ALLOW] > sp.flows / 20);
	assert_true(sp.action[POL_BLOCK] > sp.flows / 20);
	assert_true(sp.action[POL_REJECT] > sp.flows / 50);
	assert_true(sp.defaults > sp.flows / 20);
	assert_true(sp.defaults < sp.flows - sp.flows / 5);
}

/* A domain entry lives for its TTL (at least DP_DOMAIN_TTL_MIN s), on
 * the fast path's own clock: a new flow to the address sees its domain
 * set while it lives, and not once it has expired. */
static const char ttl_policy[] = "device host mac 02:00:00:00:00:0a\n"
				 "list streaming domains { video.example }\n"
				 "rule no-streaming block any to list streaming\n"
				 "default allow\n"
				 "default new allow\n";

/* A new UDP flow from the host to dst: its verdict's action. */
static uint8_t new_flow_action(struct dp_worker *w, const struct dp_config *cfg,
			       const uint8_t dst[4], uint16_t sport)
{
	static const uint8_t host_mac[6] = { 2, 0, 0, 0, 0, 0x0a };
	struct pol_facts f = { .family = 4, .proto = IPPROTO_UDP, .dport = 443 };
	memcpy(f.dst, dst, 4);
	dp_pipeline(w, DP_ROLE_LAN, frame(cfg, host_mac, &f, 10, sport, &(struct shape){ 0 }),
		    NOW_MS);
	dp_worker_flush(w);
	struct dp_flow_key key = { .sport = sport, .dport = 443, .proto = IPPROTO_UDP,
				   .family = 4, .role = DP_ROLE_LAN };
	memcpy(key.src, cfg->lan4, 3);
	key.src[3] = 12;
	memcpy(key.dst, dst, 4);
	unsigned d;
	uint32_t idx = dp_flow_lookup(w->flows, &key, &d);
	assert_int_not_equal(idx, DP_FLOW_NONE);
	return dp_flow_get(w->flows, idx)->action;
}

static void domain_ttl(void **state)
{
	(void)state;
	struct dp_config cfg = config();
	struct pol_ir *ir = rp_load(ttl_policy);
	assert_non_null(ir);
	struct dp_classify *c = NULL;
	assert_int_equal(dp_classify_new(ir, 1, &c), 0);
	struct dp_domains *dom;
	assert_int_equal(dp_domains_new("ttl_domains", 1024, 0, NULL, &dom), 0);
	struct dp_worker w = { .cfg = &cfg, .pool = pool, .policy = &c, .domains = dom };
	memcpy(w.port_mac, port_mac, sizeof(port_mac));
	assert_int_equal(dp_worker_init(&w), 0);
	static const uint8_t video[4] = { 198, 51, 100, 50 };
	/* A TTL of 1 s counts as the least, DP_DOMAIN_TTL_MIN (5 s). */
	struct dp_domain_entry e = { .family = 4, .ttl_s = 1, .sets = 1 };
	memcpy(e.addr, video, 4);
	uint64_t changed, t0 = ms_now();
	assert_int_equal(dp_domains_apply(dom, &e, 1, t0, &changed), 0);
	assert_int_equal(new_flow_action(&w, &cfg, video, 2000), POL_BLOCK);
	usleep(2000 * 1000);
	assert_true(ms_now() - t0 < DP_DOMAIN_TTL_MIN * 1000); /* (else: too slow to tell) */
	assert_int_equal(new_flow_action(&w, &cfg, video, 2001), POL_BLOCK);
	while (ms_now() - t0 < DP_DOMAIN_TTL_MIN * 1000 + 300)
		usleep(50 * 1000);
	assert_int_equal(new_flow_action(&w, &cfg, video, 2002), POL_ALLOW);
	print_message("a domain entry's TTL waited out: blocked at 0 and 2 s, allowed after %u s\n",
		      DP_DOMAIN_TTL_MIN);
	dp_worker_fini(&w);
	dp_domains_free(dom);
	dp_classify_free(c);
}

int main(void)
{
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "--file-prefix=gwdp-diff-%d", (int)getpid());
	char *eal[] = { "test_dp_diff", "--no-huge", "-m", "256", "--no-pci", "-l", "0",
			"--log-level", "lib.eal:error", "--vdev", "net_null0", "--vdev",
			"net_null1", prefix, NULL };
	if (rte_eal_init(14, eal) < 0)
		return gwtest_cannot_run("EAL cannot start here");
	int r = 1;
	pool = rte_pktmbuf_pool_create("diff_mbufs", 4095, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	if (!pool) {
		fprintf(stderr, "mbuf pool: %s\n", rte_strerror(rte_errno));
		goto out;
	}
	for (uint16_t port = 0; port < DP_ROLE_COUNT; port++) {
		int rc = dp_port_start(port, 1, pool, port_mac[port]);
		if (rc < 0) {
			fprintf(stderr, "port %u: %s\n", port, strerror(-rc));
			goto out;
		}
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(random_policies),
		cmocka_unit_test(domain_ttl),
	};
	r = cmocka_run_group_tests(tests, NULL, NULL);
out:
	for (uint16_t port = 0; port < DP_ROLE_COUNT; port++)
		dp_port_stop(port);
	rte_mempool_free(pool);
	rte_eal_cleanup();
	gwtest_remove_dpdk_runtime(prefix + strlen("--file-prefix="));
	return r;
}
