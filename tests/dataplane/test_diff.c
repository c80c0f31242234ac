/* SPDX-License-Identifier: MIT */
/*
 * Differential test of the fast path's classification: random policies
 * (tests/ebpf/randpol.c, through the real compiler) and random first
 * packets, each built as a frame in an mbuf and run through dp_pipeline
 * from the LAN port of a worker on a real EAL (--no-huge, its own
 * --file-prefix, two net_null ports).  For every packet that opens a flow,
 * the flow's cached verdict and rule must be the reference evaluator's,
 * and the packet must end as that verdict says (forwarded, or dropped
 * under the policy's reason).  Every case, opener or not, is also asked of
 * dp_classify_flow directly (log, rate and device too).  Domain-set bits
 * are 0: the dataplane has no domain table yet.  GW_SEED=n replays a seed.
 * Skips (77) where EAL cannot start.
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
#include "lcore.h"
#include "parse.h"
#include "port.h"
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

/* The device's packet: Ethernet to the gateway's LAN port, IP from the LAN
 * prefix, a TCP SYN, a UDP datagram or an echo request with id sport. */
static struct rte_mbuf *frame(const struct dp_config *c, const uint8_t mac[6],
			      const struct pol_facts *f, uint16_t host, uint16_t sport)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	assert_non_null(m);
	unsigned l3 = f->family == 4 ? 20 : 40;
	unsigned l4 = f->proto == IPPROTO_TCP ? 20 : 8;
	uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(14 + l3 + l4 + 6));
	assert_non_null(p);
	memset(p, 0, 14 + l3 + l4 + 6);
	memcpy(p, port_mac[DP_ROLE_LAN], 6);
	memcpy(p + 6, mac, 6);
	uint8_t *ip = p + 14, *t = ip + l3;
	if (f->family == 4) {
		dp_put16(p + 12, 0x0800);
		ip[0] = 0x45;
		dp_put16(ip + 2, (uint16_t)(l3 + l4 + 6));
		ip[8] = 64;
		ip[9] = f->proto;
		memcpy(ip + 12, c->lan4, 3);
		ip[15] = (uint8_t)(2 + host % 250);
		memcpy(ip + 16, f->dst, 4);
		dp_put16(ip + 10, dp_csum(ip, 20));
	} else {
		dp_put16(p + 12, 0x86dd);
		ip[0] = 0x60;
		dp_put16(ip + 4, (uint16_t)(l4 + 6));
		ip[6] = f->proto;
		ip[7] = 64;
		memcpy(ip + 8, c->lan6, 8);
		dp_put16(ip + 22, (uint16_t)(2 + host));
		memcpy(ip + 24, f->dst, 16);
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

struct spread {
	unsigned direct, flows, skipped, defaults;
	unsigned action[3];
};

static void check_one(struct dp_worker *w, struct dp_classify *c, const struct dp_config *cfg,
		      struct rp_rng *r, uint16_t k, const char *text, struct spread *sp)
{
	const struct pol_ir *ir = dp_classify_ir(c);
	struct pol_facts f;
	uint8_t mac[6];
	rp_packet(r, ir, mac, &f);
	f.domain_sets = 0;
	struct pol_verdict want;
	pol_eval(ir, &f, &want, NULL);
	dp_classify_set_when(c, f.when);

	/* The classifier itself, on every case. */
	struct dp_classify_in ci = { .family = f.family, .proto = f.proto, .dport = f.dport };
	memcpy(ci.mac, mac, 6);
	memcpy(ci.dst, f.dst, 16);
	struct dp_verdict got;
	dp_classify_flow(c, &ci, &got);
	char a[INET6_ADDRSTRLEN];
	inet_ntop(f.family == 4 ? AF_INET : AF_INET6, f.dst, a, sizeof(a));
	if (got.action != want.action || got.rule != want.rule || got.log != want.log ||
	    got.rate_bps != want.rate_bps || got.device != f.device)
		fail_msg("%s\nmac %02x:%02x:%02x:%02x:%02x:%02x dst %s proto %u dport %u when "
			 "%u/%u: classifier rule %u action %u log %u rate %llu device %u, "
			 "evaluator rule %u action %u log %u rate %llu device %u",
			 text, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], a, f.proto, f.dport,
			 f.when.wday, f.when.minute, got.rule, got.action, got.log,
			 (unsigned long long)got.rate_bps, got.device, want.rule, want.action,
			 want.log, (unsigned long long)want.rate_bps, f.device);
	sp->direct++;

	/* The pipeline, on a frame. */
	const struct dp_port_stats *s = &w->stats[DP_ROLE_LAN];
	uint64_t fwd = s->forwarded, blk = s->drop[DP_DROP_POLICY_BLOCK],
		 rej = s->drop[DP_DROP_POLICY_REJECT];
	uint16_t sport = (uint16_t)(1024 + k);
	dp_pipeline(w, DP_ROLE_LAN, frame(cfg, mac, &f, k, sport), NOW_MS);
	dp_worker_flush(w);

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
	uint32_t idx = dp_flow_lookup(w->flows, &key, &d);
	if (martian_dst(&f)) {
		sp->skipped++;
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
		fail_msg("%s\ndst %s proto %u dport %u: no flow (forwarded %lu)", text, a,
			 f.proto, f.dport, s->forwarded - fwd);
	const struct dp_flow *fl = dp_flow_get(w->flows, idx);
	if (fl->action != want.action || fl->rule != want.rule ||
	    fl->generation != dp_classify_generation(c))
		fail_msg("%s\nmac %02x:%02x:%02x:%02x:%02x:%02x dst %s proto %u dport %u when "
			 "%u/%u: flow rule %u action %u, evaluator rule %u action %u",
			 text, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], a, f.proto, f.dport,
			 f.when.wday, f.when.minute, fl->rule, fl->action, want.rule, want.action);
	switch (want.action) {
	case POL_ALLOW:
		assert_int_equal(s->forwarded - fwd, 1);
		break;
	case POL_BLOCK:
		assert_int_equal(s->drop[DP_DROP_POLICY_BLOCK] - blk, 1);
		break;
	case POL_REJECT:
		assert_int_equal(s->drop[DP_DROP_POLICY_REJECT] - rej, 1);
		break;
	default:
		fail_msg("action %u", want.action);
	}
	sp->flows++;
	sp->action[want.action]++;
	sp->defaults += want.rule >= POL_RULE_DEFAULT_NEW;
}

static void run_random(struct rp_rng *r, const struct rp_shape *shape, unsigned policies,
		       unsigned packets, struct spread *sp)
{
	struct dp_config cfg = config();
	for (unsigned i = 0; i < policies; i++) {
		char *text = rp_policy(r, shape);
		struct pol_ir *ir = rp_load(text);
		assert_non_null(ir);
		struct dp_classify *c = NULL;
		int rc = dp_classify_new(ir, 7 + i, &c);
		if (rc)
			fail_msg("dp_classify_new: %d for\n%s", rc, text);
		struct dp_worker w = { .cfg = &cfg, .pool = pool, .policy = &c };
		memcpy(w.port_mac, port_mac, sizeof(port_mac));
		assert_int_equal(dp_worker_init(&w), 0);
		for (unsigned k = 0; k < packets; k++)
			check_one(&w, c, &cfg, r, (uint16_t)k, text, sp);
		dp_worker_fini(&w);
		dp_classify_free(c);
		free(text);
	}
}

static void random_policies(void **state)
{
	(void)state;
	struct rp_rng r = { seed() };
	struct spread sp = { 0 };
	for (unsigned size = 0; size < 8; size++) {
		struct rp_shape shape = { .rules = 1 + size % 4 * 10, .devices = 1 + size % 4 * 3,
					  .lists = size % 4 * 2, .narrow = size >= 4 };
		run_random(&r, &shape, 20, 100, &sp);
	}
	struct rp_shape big = { .rules = 1000, .devices = 50, .lists = 20 };
	run_random(&r, &big, 2, 1000, &sp);
	/* As many rules as the eBPF maps hold. */
	struct rp_shape full = { .rules = 4096, .devices = 200, .lists = 80, .narrow = true };
	run_random(&r, &full, 1, 1000, &sp);
	/* Wider than the eBPF maps: the fast path builds its tables for it. */
	struct rp_shape wide = { .rules = 10000, .devices = 200, .lists = 80, .narrow = true };
	run_random(&r, &wide, 1, 1000, &sp);
	print_message("%u cases through the classifier; %u first packets through the pipeline "
		      "(allow %u, block %u, reject %u; %u by a default); %u not flow openers\n",
		      sp.direct, sp.flows, sp.action[POL_ALLOW], sp.action[POL_BLOCK],
		      sp.action[POL_REJECT], sp.defaults, sp.skipped);
	assert_true(sp.flows >= 10000);
	assert_true(sp.action[POL_ALLOW] > sp.flows / 20);
	assert_true(sp.action[POL_BLOCK] > sp.flows / 20);
	assert_true(sp.action[POL_REJECT] > sp.flows / 50);
	assert_true(sp.defaults > sp.flows / 20);
	assert_true(sp.defaults < sp.flows - sp.flows / 5);
}

int main(void)
{
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "--file-prefix=gwdp-diff-%d", (int)getpid());
	char *eal[] = { "test_dp_diff", "--no-huge", "-m", "256", "--no-pci", "-l", "0",
			"--log-level", "lib.eal:error", "--vdev", "net_null0", "--vdev",
			"net_null1", prefix, NULL };
	if (rte_eal_init(14, eal) < 0) {
		fprintf(stderr, "EAL cannot start here; skipping\n");
		return 77;
	}
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
	};
	r = cmocka_run_group_tests(tests, NULL, NULL);
out:
	for (uint16_t port = 0; port < DP_ROLE_COUNT; port++)
		dp_port_stop(port);
	rte_mempool_free(pool);
	rte_eal_cleanup();
	char cmd[160];
	/* EAL leaves its runtime folder behind. */
	snprintf(cmd, sizeof(cmd), "rm -rf -- '/var/run/dpdk/gwdp-diff-%d'", (int)getpid());
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove the EAL runtime folder\n");
	return r;
}
