/* SPDX-License-Identifier: MIT */
/*
 * The classifier's programs through the kernel: the loader fills the maps,
 * and crafted packets run through bpf_prog_test_run_opts (no interface,
 * nothing attached, nothing pinned; every map goes away with its fds).
 * Every parse path and action (the RST and ICMP answers byte by byte), the
 * flow cache, replies, generation and schedule flips, domain sets with
 * expiry, flow events, rates, TC egress, counters; every Ethernet frame of
 * the tcpdump corpus (with --corpus DIR, on its own); then the XDP program against the reference
 * evaluator on random policies and packets.
 *
 * Needs root and BPF: exits 77 (skipped) where BPF is not permitted.
 * GW_SEED=n replays a seed.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include "loader.h"
#include "pcapread.h"
#include "randpol.h"

/* ---------------------------------------------------------------- packets */

enum v6ext { EXT_NONE, EXT_HOP_DST, EXT_FRAG_FIRST, EXT_FRAG_LATER };

struct spec {
	uint8_t mac[6];
	int vlans;        /* 0, 1 (802.1Q) or 2 (802.1ad + 802.1Q) */
	uint8_t family;   /* 4, 6, or 0: ARP */
	uint8_t proto;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	enum v6ext ext;
	int v4_options;   /* 32-bit words of IPv4 options */
	int v4_later_fragment;
	size_t cut;       /* bytes cut off the end */
	uint8_t tcp_flags; /* 0: SYN */
	uint32_t seq, ack;
	size_t payload;   /* bytes after the transport header */
	int icmp_type;    /* 0: an echo request */
};

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

#define FRAME_MAX 2048

/* The frame for s in b (FRAME_MAX bytes). */
static size_t build(const struct spec *s, uint8_t *b)
{
	size_t n = 0;
	assert_true(s->payload <= 1500);
	memset(b, 0, FRAME_MAX);
	memcpy(b, "\x02\xaa\xaa\xaa\xaa\xaa", 6); /* to the gateway */
	memcpy(b + 6, s->mac, 6);
	n = 12;
	if (s->vlans == 2) {
		put16(b + n, 0x88a8);
		put16(b + n + 2, 100);
		n += 4;
	}
	if (s->vlans >= 1) {
		put16(b + n, 0x8100);
		put16(b + n + 2, 7);
		n += 4;
	}
	if (s->family == 0) {
		put16(b + n, 0x0806);
		n += 2;
		memset(b + n, 0, 28);
		return n + 28;
	}
	uint8_t proto = s->proto;
	size_t l3 = n + 2;
	if (s->family == 4) {
		put16(b + n, 0x0800);
		n += 2;
		uint8_t *ip = b + n;
		ip[0] = (uint8_t)(0x40 | (5 + s->v4_options));
		ip[8] = 64;
		ip[9] = proto;
		if (s->v4_later_fragment)
			put16(ip + 6, 0x2000 | 185); /* MF, offset 1480 */
		memcpy(ip + 12, s->src, 4);
		memcpy(ip + 16, s->dst, 4);
		n += 20 + 4 * (size_t)s->v4_options;
	} else {
		put16(b + n, 0x86dd);
		n += 2;
		uint8_t *ip = b + n;
		ip[0] = 0x60;
		ip[7] = 64;
		memcpy(ip + 8, s->src, 16);
		memcpy(ip + 24, s->dst, 16);
		uint8_t *next = ip + 6;
		n += 40;
		if (s->ext == EXT_HOP_DST) {
			*next = 0; /* hop-by-hop, 8 bytes */
			next = b + n;
			b[n + 1] = 0;
			n += 8;
			*next = 60; /* destination options, 16 bytes */
			next = b + n;
			b[n + 1] = 1;
			n += 16;
		} else if (s->ext == EXT_FRAG_FIRST || s->ext == EXT_FRAG_LATER) {
			*next = 44;
			next = b + n;
			put16(b + n + 2, s->ext == EXT_FRAG_LATER ? (185 << 3) : 1);
			n += 8;
		}
		*next = proto;
	}
	uint8_t *l4 = b + n;
	if (proto == IPPROTO_TCP) {
		put16(l4, s->sport);
		put16(l4 + 2, s->dport);
		put32(l4 + 4, s->seq);
		put32(l4 + 8, s->ack);
		l4[12] = 0x50;
		l4[13] = s->tcp_flags ? s->tcp_flags : TCP_SYN;
		n += 20;
	} else if (proto == IPPROTO_UDP) {
		put16(l4, s->sport);
		put16(l4 + 2, s->dport);
		put16(l4 + 4, (uint16_t)(8 + s->payload));
		n += 8;
	} else {
		/* An echo request, or whatever the protocol makes of it. */
		l4[0] = (uint8_t)(s->icmp_type ? s->icmp_type
				  : s->family == 6 && proto == IPPROTO_ICMPV6 ? 128 : 8);
		n += 8;
	}
	for (size_t i = 0; i < s->payload; i++)
		b[n++] = (uint8_t)(0xa0 + i);
	if (s->family == 4)
		put16(b + l3 + 2, (uint16_t)(n - l3));
	else
		put16(b + l3 + 4, (uint16_t)(n - l3 - 40));
	return n - s->cut;
}

static struct gwbpf_flow_key flow_key(const struct spec *s)
{
	struct gwbpf_flow_key k = { .family = s->family, .proto = s->proto };
	int later = s->v4_later_fragment || s->ext == EXT_FRAG_LATER;
	if (!later && (s->proto == IPPROTO_TCP || s->proto == IPPROTO_UDP)) {
		k.sport = htons(s->sport);
		k.dport = htons(s->dport);
	}
	memcpy(k.src, s->src, s->family == 4 ? 4 : 16);
	memcpy(k.dst, s->dst, s->family == 4 ? 4 : 16);
	return k;
}

static void addr(struct spec *s, const char *src, const char *dst)
{
	memset(s->src, 0, 16);
	memset(s->dst, 0, 16);
	if (inet_pton(AF_INET, dst, s->dst) == 1) {
		s->family = 4;
		assert_int_equal(inet_pton(AF_INET, src, s->src), 1);
	} else {
		s->family = 6;
		assert_int_equal(inet_pton(AF_INET6, dst, s->dst), 1);
		assert_int_equal(inet_pton(AF_INET6, src, s->src), 1);
	}
}

/* ---------------------------------------------------------------- harness */

struct ctx {
	struct gwbpf *g;
	struct pol_ir *ir;
	struct pol_tables *img;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	if (!c || gwbpf_new(&c->g) < 0) {
		free(c);
		return -1;
	}
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	pol_tables_free(c->img);
	pol_ir_free(c->ir);
	gwbpf_free(c->g);
	free(c);
	return 0;
}

static const struct pol_when noon_wed = { 2, 720 };

/* Compile, stage and commit a policy; the previous one is freed. */
static void apply(struct ctx *c, const char *text, struct pol_when when)
{
	pol_tables_free(c->img);
	pol_ir_free(c->ir);
	c->img = NULL;
	c->ir = rp_load(text);
	assert_non_null(c->ir);
	assert_int_equal(gwbpf_tables_build(c->ir, &c->img), 0);
	struct gwbpf_bitmap active;
	gwbpf_active_mask(c->ir, when, &active);
	assert_int_equal(gwbpf_stage(c->g, c->img, &active), 0);
	assert_int_equal(gwbpf_commit(c->g), 0);
}

static uint32_t run_ex(struct gwbpf *g, const struct spec *s, uint32_t repeat, uint32_t *ns)
{
	uint8_t buf[FRAME_MAX];
	size_t len = build(s, buf);
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = buf, .data_size_in = (uint32_t)len,
		    .repeat = repeat);
	int r = bpf_prog_test_run_opts(gwbpf_prog_fd(g), &o);
	if (r < 0)
		fail_msg("test_run: %s", strerror(errno));
	if (ns)
		*ns = o.duration;
	return o.retval;
}

static uint32_t run(struct gwbpf *g, const struct spec *s)
{
	return run_ex(g, s, 1, NULL);
}

static uint64_t counter(struct gwbpf *g, enum gwbpf_counter which)
{
	uint64_t v[GWBPF_CNT_COUNT];
	assert_int_equal(gwbpf_counters(g, v), 0);
	return v[which];
}

/* The flow the program cached for s; fails if there is none. */
static struct gwbpf_flow flow_of(struct gwbpf *g, const struct spec *s)
{
	struct gwbpf_flow_key k = flow_key(s);
	struct gwbpf_flow f;
	if (gwbpf_flow_get(g, &k, &f) < 0)
		fail_msg("no flow cached");
	return f;
}

static void forget_flow(struct gwbpf *g, const struct spec *s)
{
	struct gwbpf_flow_key k = flow_key(s);
	assert_int_equal(gwbpf_flow_delete(g, &k), 0);
}

/* The answer to s from its destination, sent with MAC mac: the reverse
 * tuple. */
static struct spec reply_to(const struct spec *s, const uint8_t mac[6])
{
	struct spec r = *s;
	memcpy(r.src, s->dst, 16);
	memcpy(r.dst, s->src, 16);
	r.sport = s->dport;
	r.dport = s->sport;
	memcpy(r.mac, mac, 6);
	return r;
}

static uint32_t rule_named(const struct pol_ir *ir, const char *name)
{
	for (uint32_t i = 0; i < ir->nrules; i++)
		if (!strcmp(pol_ir_str(ir, ir->rules[i].name), name))
			return i;
	fail_msg("no rule %s", name);
	return POL_NONE;
}

/* What the program returns for s decided with `action`: a reject answers
 * (XDP_TX) anything but a RST, an ICMP error or a later fragment. */
static uint32_t want_xdp(const struct spec *s, uint8_t action)
{
	if (action == POL_ALLOW)
		return XDP_PASS;
	if (action == POL_BLOCK || s->v4_later_fragment || s->ext == EXT_FRAG_LATER)
		return XDP_DROP;
	if (s->proto == IPPROTO_TCP)
		return s->tcp_flags & TCP_RST ? XDP_DROP : XDP_TX;
	int t = s->icmp_type;
	if (s->family == 4 && s->proto == IPPROTO_ICMP)
		return t == 3 || t == 4 || t == 5 || t == 11 || t == 12 ? XDP_DROP : XDP_TX;
	if (s->family == 6 && s->proto == IPPROTO_ICMPV6)
		return t && t < 128 ? XDP_DROP : XDP_TX;
	return XDP_TX;
}

/* Run a packet, and check the verdict and the cached rule against the
 * evaluator on the facts the packet carries. */
static uint32_t expect(struct ctx *c, const struct spec *s, const char *rule, struct pol_when when)
{
	struct pol_facts f = { .device = pol_device_by_mac(c->ir, s->mac), .family = s->family,
			       .proto = s->proto, .when = when };
	int later = s->v4_later_fragment || s->ext == EXT_FRAG_LATER;
	if (!later && (s->proto == IPPROTO_TCP || s->proto == IPPROTO_UDP))
		f.dport = s->dport;
	memcpy(f.dst, s->dst, 16);
	struct pol_verdict want;
	pol_eval(c->ir, &f, &want, NULL);
	uint32_t ret = run(c->g, s);
	assert_int_equal(ret, want_xdp(s, want.action));
	struct gwbpf_flow fl = flow_of(c->g, s);
	assert_int_equal(fl.rule, want.rule);
	assert_int_equal(fl.action, want.action);
	if (rule)
		assert_int_equal(fl.rule, !strcmp(rule, "default") ? POL_RULE_DEFAULT
					  : !strcmp(rule, "default new") ? POL_RULE_DEFAULT_NEW
					  : rule_named(c->ir, rule));
	return ret;
}

static const uint8_t mac_a[6] = { 2, 0, 0, 0, 0, 1 }, mac_x[6] = { 0x12, 0, 0, 0, 0, 9 };

static const char *parse_policy =
	"device a mac 02:00:00:00:00:01\n"
	"rule web allow device a to internet proto tcp port 443\n"
	"rule dns-block block device a proto udp port 53\n"
	"rule pings reject device a proto icmp\n"
	"rule frag allow device a proto tcp\n"
	"rule rest allow any to 2001:db8::/32, 198.51.100.0/24\n"
	"rule stranger allow new proto udp\n"
	"default block\n";

/* ---------------------------------------------------------------- tests */

static void no_policy_passes(void **state)
{
	struct ctx *c = *state;
	struct spec s = { .proto = IPPROTO_TCP, .sport = 1000, .dport = 443 };
	memcpy(s.mac, mac_a, 6);
	addr(&s, "10.0.0.2", "8.8.8.8");
	assert_int_equal(run(c->g, &s), XDP_PASS);
	assert_int_equal(counter(c->g, GWBPF_CNT_NO_POLICY), 1);
	assert_int_equal(gwbpf_commit(c->g), -EINVAL);
}

static void parse_paths(void **state)
{
	struct ctx *c = *state;
	apply(c, parse_policy, noon_wed);
	struct spec s = { .proto = IPPROTO_TCP, .sport = 40000, .dport = 443 };
	memcpy(s.mac, mac_a, 6);

	addr(&s, "10.0.0.2", "8.8.8.8");
	assert_int_equal(expect(c, &s, "web", noon_wed), XDP_PASS);
	s.vlans = 1;
	s.sport++;
	assert_int_equal(expect(c, &s, "web", noon_wed), XDP_PASS);
	s.vlans = 2;
	s.sport++;
	assert_int_equal(expect(c, &s, "web", noon_wed), XDP_PASS);
	s.v4_options = 3;
	s.sport++;
	assert_int_equal(expect(c, &s, "web", noon_wed), XDP_PASS);
	s.v4_options = 0;
	s.vlans = 0;

	/* A later IPv4 fragment has no ports: port rules cannot match it. */
	uint64_t frags = counter(c->g, GWBPF_CNT_FRAGMENT);
	s.v4_later_fragment = 1;
	assert_int_equal(expect(c, &s, "frag", noon_wed), XDP_PASS);
	assert_int_equal(counter(c->g, GWBPF_CNT_FRAGMENT), frags + 1);
	s.v4_later_fragment = 0;

	addr(&s, "fd00::2", "2606:4700::1");
	s.sport = 41000;
	assert_int_equal(expect(c, &s, "web", noon_wed), XDP_PASS);
	s.ext = EXT_HOP_DST;
	s.sport++;
	assert_int_equal(expect(c, &s, "web", noon_wed), XDP_PASS);
	s.ext = EXT_FRAG_FIRST;
	s.sport++;
	assert_int_equal(expect(c, &s, "web", noon_wed), XDP_PASS);
	s.ext = EXT_FRAG_LATER;
	assert_int_equal(expect(c, &s, "frag", noon_wed), XDP_PASS);
	assert_int_equal(counter(c->g, GWBPF_CNT_FRAGMENT), frags + 2);
	s.ext = EXT_NONE;

	s.proto = IPPROTO_UDP;
	s.dport = 53;
	assert_int_equal(expect(c, &s, "dns-block", noon_wed), XDP_DROP);
	addr(&s, "10.0.0.2", "8.8.4.4");
	s.vlans = 1;
	assert_int_equal(expect(c, &s, "dns-block", noon_wed), XDP_DROP);
	s.vlans = 0;

	uint64_t rejects = counter(c->g, GWBPF_CNT_REJECT);
	s.proto = IPPROTO_ICMP;
	assert_int_equal(expect(c, &s, "pings", noon_wed), XDP_TX);
	addr(&s, "fd00::2", "2606:4700::1");
	s.proto = IPPROTO_ICMPV6;
	assert_int_equal(expect(c, &s, "pings", noon_wed), XDP_TX);
	assert_int_equal(counter(c->g, GWBPF_CNT_REJECT), rejects + 2);

	s.proto = 47; /* GRE */
	addr(&s, "fd00::2", "2001:db8::7");
	assert_int_equal(expect(c, &s, "rest", noon_wed), XDP_PASS);
	addr(&s, "10.0.0.2", "203.0.113.1");
	assert_int_equal(expect(c, &s, "default", noon_wed), XDP_DROP);

	memcpy(s.mac, mac_x, 6);
	s.proto = IPPROTO_UDP;
	assert_int_equal(expect(c, &s, "stranger", noon_wed), XDP_PASS);
	s.proto = IPPROTO_TCP;
	assert_int_equal(expect(c, &s, "default new", noon_wed), XDP_DROP);
	assert_int_equal(flow_of(c->g, &s).device, POL_NONE);
	memcpy(s.mac, mac_a, 6);
	s.sport = 5;
	expect(c, &s, NULL, noon_wed);
	assert_int_equal(flow_of(c->g, &s).device, 0);
}

static void not_governed(void **state)
{
	struct ctx *c = *state;
	apply(c, "rule all block any\ndefault block\n", noon_wed);
	struct spec s = { .proto = IPPROTO_UDP, .sport = 68, .dport = 67 };
	memcpy(s.mac, mac_a, 6);
	uint64_t local = counter(c->g, GWBPF_CNT_LOCAL);

	s.family = 0; /* ARP */
	assert_int_equal(run(c->g, &s), XDP_PASS);
	assert_int_equal(counter(c->g, GWBPF_CNT_NOT_IP), 1);
	addr(&s, "0.0.0.0", "255.255.255.255");
	assert_int_equal(run(c->g, &s), XDP_PASS);
	addr(&s, "10.0.0.2", "224.0.0.251");
	assert_int_equal(run(c->g, &s), XDP_PASS);
	addr(&s, "fe80::2", "ff02::1:2");
	assert_int_equal(run(c->g, &s), XDP_PASS);
	addr(&s, "fe80::2", "fe80::1");
	assert_int_equal(run(c->g, &s), XDP_PASS);
	assert_int_equal(counter(c->g, GWBPF_CNT_LOCAL), local + 4);

	/* The gateway's own address, once the loader says so. */
	addr(&s, "10.0.0.2", "10.0.0.1");
	s.dport = 53;
	assert_int_equal(run(c->g, &s), XDP_DROP);
	/* gw_local is for flows to come: the cached one stays as it was. */
	assert_int_equal(gwbpf_local_add(c->g, 4, s.dst), 0);
	assert_int_equal(run(c->g, &s), XDP_DROP);
	forget_flow(c->g, &s);
	assert_int_equal(run(c->g, &s), XDP_PASS);
	assert_int_equal(counter(c->g, GWBPF_CNT_LOCAL), local + 5);
	assert_int_equal(gwbpf_local_add(c->g, 5, s.dst), -EINVAL);
}

/* PACKETS, PASS and FLOW_HIT are derived from the rule counters and the
 * other reasons (gw_bpf_abi.h): exact for every kind of packet, and they
 * do not go back when a generation's slot is cleared for a later one. */
static void derived_counters(void **state)
{
	struct ctx *c = *state;
	const char *text = "device a mac 02:00:00:00:00:01\n"
			   "rule dns block device a proto udp port 53\n"
			   "rule web allow device a proto tcp\n"
			   "default block\n";
	apply(c, text, noon_wed);
	struct spec s = { .proto = IPPROTO_TCP, .sport = 40000, .dport = 443 };
	memcpy(s.mac, mac_a, 6);
	addr(&s, "10.0.0.2", "93.184.216.34");
	struct spec dns = { .proto = IPPROTO_UDP, .sport = 5353, .dport = 53 };
	memcpy(dns.mac, mac_a, 6);
	addr(&dns, "10.0.0.2", "9.9.9.9");
	struct spec arp = { .family = 0 };
	memcpy(arp.mac, mac_a, 6);
	struct spec reply = reply_to(&s, mac_x);
	/* From a device the policy does not know: the new-device default,
	 * whose counter is the last of the slot's (and of the map's, in
	 * slot 1). */
	struct spec stranger = { .proto = IPPROTO_UDP, .sport = 7000, .dport = 9999 };
	memcpy(stranger.mac, mac_x, 6);
	addr(&stranger, "10.0.0.9", "9.9.9.9");

	uint64_t pass = 0, drop = 0, hits = 0, packets = 0;
	for (int gen = 0; gen < 4; gen++) {
		/* Each round: 1 new + 4 hits allowed, 1 new + 2 hits dropped,
		 * an allowed reply, an ARP frame, a stranger's packet dropped. */
		for (int i = 0; i < 5; i++)
			assert_int_equal(run(c->g, &s), XDP_PASS);
		for (int i = 0; i < 3; i++)
			assert_int_equal(run(c->g, &dns), XDP_DROP);
		assert_int_equal(run(c->g, &reply), XDP_PASS);
		assert_int_equal(run(c->g, &arp), XDP_PASS);
		assert_int_equal(run(c->g, &stranger), XDP_DROP);
		/* From the second round on, each flow's first packet finds it
		 * of an older generation: decided again (not new); the rest are
		 * hits, 4 + 2 a round either way. */
		pass += 6;
		drop += 4;
		hits += 6;
		packets += 11;
		assert_int_equal(counter(c->g, GWBPF_CNT_PACKETS), packets);
		assert_int_equal(counter(c->g, GWBPF_CNT_PASS), pass);
		assert_int_equal(counter(c->g, GWBPF_CNT_DROP), drop);
		assert_int_equal(counter(c->g, GWBPF_CNT_FLOW_HIT), hits);
		assert_int_equal(counter(c->g, GWBPF_CNT_FLOW_REPLY), (uint64_t)gen + 1);
		assert_int_equal(counter(c->g, GWBPF_CNT_NOT_IP), (uint64_t)gen + 1);
		/* A new generation: the other slot now, and from the third on
		 * a slot whose counters are cleared (and retired) first. */
		apply(c, text, noon_wed);
	}
	assert_int_equal(counter(c->g, GWBPF_CNT_FLOW_RECLASS), 9);
	assert_int_equal(counter(c->g, GWBPF_CNT_FLOW_NEW), 3);
}

static void truncated(void **state)
{
	struct ctx *c = *state;
	apply(c, "default allow\n", noon_wed);
	struct spec s = { .proto = IPPROTO_TCP, .sport = 1, .dport = 2 };
	memcpy(s.mac, mac_a, 6);
	addr(&s, "10.0.0.2", "8.8.8.8");
	s.cut = 20 + 19; /* the IPv4 header is one byte short */
	assert_int_equal(run(c->g, &s), XDP_DROP);
	s.cut = 17; /* three bytes of TCP: no destination port */
	assert_int_equal(run(c->g, &s), XDP_DROP);
	s.vlans = 1;
	s.cut = 20 + 20 + 2; /* the tag without the type it encapsulates */
	assert_int_equal(run(c->g, &s), XDP_DROP);
	s.vlans = 0;
	addr(&s, "fd00::2", "2001:db8::1");
	s.ext = EXT_HOP_DST;
	s.cut = 20 + 10; /* inside the destination options */
	assert_int_equal(run(c->g, &s), XDP_DROP);
	assert_int_equal(counter(c->g, GWBPF_CNT_TRUNCATED), 4);
	s.cut = 16; /* the ports are there */
	assert_int_equal(run(c->g, &s), XDP_PASS);
}

static void flows_and_generations(void **state)
{
	struct ctx *c = *state;
	apply(c, "device a mac 02:00:00:00:00:01\n"
		 "schedule night daily 22:00-06:00\n"
		 "rule bedtime block device a during night\n"
		 "rule web allow device a proto tcp\n"
		 "default block\n", noon_wed);
	struct spec s = { .proto = IPPROTO_TCP, .sport = 50000, .dport = 443 };
	memcpy(s.mac, mac_a, 6);
	addr(&s, "10.0.0.2", "93.184.216.34");
	uint32_t web = rule_named(c->ir, "web");

	assert_int_equal(run(c->g, &s), XDP_PASS);
	assert_int_equal(counter(c->g, GWBPF_CNT_FLOW_NEW), 1);
	assert_int_equal(run(c->g, &s), XDP_PASS);
	assert_int_equal(counter(c->g, GWBPF_CNT_FLOW_HIT), 1);
	struct gwbpf_flow f = flow_of(c->g, &s);
	assert_int_equal(f.rule, web);
	assert_int_equal(f.packets, 2);
	assert_int_equal(f.epoch, (uint32_t)gwbpf_epoch(c->g));

	/* The reply, from another host on the LAN side: the flow's verdict;
	 * counted on its way down (gw_egress), not here. */
	struct spec reply = reply_to(&s, mac_x);
	assert_int_equal(run(c->g, &reply), XDP_PASS);
	assert_int_equal(counter(c->g, GWBPF_CNT_FLOW_REPLY), 1);
	assert_int_equal(flow_of(c->g, &s).packets, 2);
	assert_int_equal(flow_of(c->g, &s).packets_down, 0);

	struct gwbpf_rule_stats st;
	uint32_t slot = gwbpf_epoch(c->g) & GWBPF_EPOCH_SLOT ? 1 : 0;
	assert_int_equal(gwbpf_rule_stats(c->g, slot, web, &st), 0);
	assert_int_equal(st.packets, 2);

	/* A schedule boundary: the open flow is decided again. */
	struct gwbpf_bitmap active;
	struct pol_when late = { 2, 23 * 60 };
	gwbpf_active_mask(c->ir, late, &active);
	assert_int_equal(gwbpf_set_active(c->g, &active), 0);
	assert_int_equal(run(c->g, &s), XDP_DROP);
	assert_int_equal(counter(c->g, GWBPF_CNT_FLOW_RECLASS), 1);
	assert_int_equal(flow_of(c->g, &s).rule, rule_named(c->ir, "bedtime"));
	assert_int_equal(run(c->g, &reply), XDP_DROP);
	/* The flow's later packets count to the rule that decides it now
	 * (the flow keeps its rule's counter index). */
	assert_int_equal(run(c->g, &s), XDP_DROP);
	assert_int_equal(gwbpf_rule_stats(c->g, slot, rule_named(c->ir, "bedtime"), &st), 0);
	assert_int_equal(st.packets, 2);
	assert_int_equal(gwbpf_rule_stats(c->g, slot, web, &st), 0);
	assert_int_equal(st.packets, 2);
	gwbpf_active_mask(c->ir, noon_wed, &active);
	assert_int_equal(gwbpf_set_active(c->g, &active), 0);
	assert_int_equal(run(c->g, &s), XDP_PASS);
	assert_int_equal(counter(c->g, GWBPF_CNT_FLOW_RECLASS), 2);
	assert_int_equal(run(c->g, &s), XDP_PASS);
	assert_int_equal(gwbpf_rule_stats(c->g, slot, web, &st), 0);
	assert_int_equal(st.packets, 4);

	/* A new generation in the other slot; staging alone changes nothing. */
	uint64_t before = gwbpf_epoch(c->g);
	struct pol_ir *ir2 = rp_load("device a mac 02:00:00:00:00:01\n"
				     "rule cut reject device a to 93.184.216.0/24\n"
				     "default allow\n");
	struct pol_tables *img2 = NULL;
	assert_non_null(ir2);
	assert_int_equal(gwbpf_tables_build(ir2, &img2), 0);
	gwbpf_active_mask(ir2, noon_wed, &active);
	assert_int_equal(gwbpf_stage(c->g, img2, &active), 0);
	assert_int_equal(run(c->g, &s), XDP_PASS);
	assert_int_equal(gwbpf_epoch(c->g), before);
	assert_int_equal(gwbpf_commit(c->g), 0);
	assert_int_not_equal(gwbpf_epoch(c->g) & GWBPF_EPOCH_SLOT, before & GWBPF_EPOCH_SLOT);
	assert_int_equal(run(c->g, &s), XDP_TX);
	f = flow_of(c->g, &s);
	assert_int_equal(f.rule, 0);
	assert_int_equal(f.action, POL_TABLES_REJECT);
	assert_int_equal(counter(c->g, GWBPF_CNT_FLOW_RECLASS), 3);
	assert_int_equal(gwbpf_commit(c->g), -EINVAL);

	/* And back to a third generation in the first slot, whose MACs and
	 * prefixes from the first generation are gone. */
	gwbpf_active_mask(c->ir, noon_wed, &active);
	assert_int_equal(gwbpf_stage(c->g, c->img, &active), 0);
	assert_int_equal(gwbpf_commit(c->g), 0);
	assert_int_equal(run(c->g, &s), XDP_PASS);
	assert_int_equal(flow_of(c->g, &s).rule, web);
	pol_tables_free(img2);
	pol_ir_free(ir2);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void domain_sets(void **state)
{
	struct ctx *c = *state;
	apply(c, "list ads domains { ads.example }\n"
		 "rule no-ads block new to list ads, tracker.example\n"
		 "default allow\n", noon_wed);
	struct spec s = { .proto = IPPROTO_TCP, .sport = 1234, .dport = 443 };
	memcpy(s.mac, mac_x, 6);
	addr(&s, "10.0.0.9", "192.0.2.80");
	assert_int_equal(run(c->g, &s), XDP_PASS);
	forget_flow(c->g, &s);

	assert_int_equal(gwbpf_domain_set(c->g, false, 4, s.dst, 1, now_ns() + 60000000000ull), 0);
	assert_int_equal(run(c->g, &s), XDP_DROP);
	forget_flow(c->g, &s);
	assert_int_equal(gwbpf_domain_set(c->g, false, 4, s.dst, 2, now_ns() + 60000000000ull), 0);
	assert_int_equal(run(c->g, &s), XDP_DROP);
	forget_flow(c->g, &s);
	/* Expired: as if absent. */
	assert_int_equal(gwbpf_domain_set(c->g, false, 4, s.dst, 1, now_ns() - 1), 0);
	assert_int_equal(run(c->g, &s), XDP_PASS);
	forget_flow(c->g, &s);
	assert_int_equal(gwbpf_domain_set(c->g, false, 4, s.dst, 1, UINT64_MAX), 0);
	assert_int_equal(run(c->g, &s), XDP_DROP);
	forget_flow(c->g, &s);
	assert_int_equal(gwbpf_domain_set(c->g, false, 4, s.dst, 0, 0), 0);
	assert_int_equal(run(c->g, &s), XDP_PASS);
	forget_flow(c->g, &s);
	/* The staged slot's entries are the staged policy's. */
	assert_int_equal(gwbpf_domain_set(c->g, true, 4, s.dst, 1, UINT64_MAX), -EINVAL);
	struct gwbpf_bitmap active;
	gwbpf_active_mask(c->ir, noon_wed, &active);
	assert_int_equal(gwbpf_stage(c->g, c->img, &active), 0);
	assert_int_equal(gwbpf_domain_set(c->g, true, 4, s.dst, 1, UINT64_MAX), 0);
	assert_int_equal(run(c->g, &s), XDP_PASS);
	forget_flow(c->g, &s);
	assert_int_equal(gwbpf_commit(c->g), 0);
	assert_int_equal(run(c->g, &s), XDP_DROP);
}

/* RFC 1071 sum of len bytes, folded, not complemented: 0xffff over a
 * region that holds its own correct checksum. */
static uint16_t csum(const uint8_t *p, size_t len, uint32_t s)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		s += get16(p + i);
	if (len & 1)
		s += (uint32_t)p[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* The pseudo-header sum of an answer in out (IP header at l3). */
static uint32_t pseudo(const uint8_t *ip, int family, uint8_t proto, uint32_t len)
{
	uint8_t ph[40] = { 0 };
	size_t n;
	if (family == 4) {
		memcpy(ph, ip + 12, 8);
		ph[9] = proto;
		put16(ph + 10, (uint16_t)len);
		n = 12;
	} else {
		memcpy(ph, ip + 8, 32);
		put32(ph + 32, len);
		ph[39] = proto;
		n = 40;
	}
	uint32_t s = 0;
	for (size_t i = 0; i < n; i += 2)
		s += get16(ph + i);
	return s;
}

/* Run s, which must be answered; out gets the answer, *l3 its IP offset. */
static size_t answer(struct gwbpf *g, const struct spec *s, uint8_t *out, size_t *l3)
{
	uint8_t in[FRAME_MAX];
	size_t len = build(s, in);
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = (uint32_t)len,
		    .data_out = out, .data_size_out = FRAME_MAX, .repeat = 1);
	assert_int_equal(bpf_prog_test_run_opts(gwbpf_prog_fd(g), &o), 0);
	assert_int_equal(o.retval, XDP_TX);
	/* The frame goes back: the addresses turned round, the tags kept. */
	assert_memory_equal(out, in + 6, 6);
	assert_memory_equal(out + 6, in, 6);
	*l3 = 14 + 4 * (size_t)s->vlans;
	assert_memory_equal(out + 12, in + 12, *l3 - 12);
	const uint8_t *ip = out + *l3;
	if (s->family == 4) {
		assert_int_equal(ip[0], 0x45);
		assert_int_equal(get16(ip + 2), o.data_size_out - *l3);
		assert_int_equal(csum(ip, 20, 0), 0xffff);
		assert_memory_equal(ip + 12, s->dst, 4);
		assert_memory_equal(ip + 16, s->src, 4);
	} else {
		assert_int_equal(ip[0] >> 4, 6);
		assert_int_equal(get16(ip + 4), o.data_size_out - *l3 - 40);
		assert_memory_equal(ip + 8, s->dst, 16);
		assert_memory_equal(ip + 24, s->src, 16);
	}
	return o.data_size_out;
}

static void reject_answers(void **state)
{
	struct ctx *c = *state;
	apply(c, "rule no reject new\ndefault allow\n", noon_wed);
	uint8_t out[FRAME_MAX];
	size_t l3, n;

	/* A SYN: RST|ACK acknowledging it, from where it was going. */
	struct spec s = { .proto = IPPROTO_TCP, .sport = 40001, .dport = 443, .seq = 1000 };
	memcpy(s.mac, mac_x, 6);
	addr(&s, "10.0.0.2", "198.51.100.7");
	n = answer(c->g, &s, out, &l3);
	assert_int_equal(n, l3 + 40);
	uint8_t *t = out + l3 + 20;
	assert_int_equal(out[l3 + 9], IPPROTO_TCP);
	assert_int_equal(get16(t), 443);
	assert_int_equal(get16(t + 2), 40001);
	assert_int_equal(get32(t + 4), 0);
	assert_int_equal(get32(t + 8), 1001);
	assert_int_equal(t[13], TCP_RST | TCP_ACK);
	assert_int_equal(csum(t, 20, pseudo(out + l3, 4, IPPROTO_TCP, 20)), 0xffff);

	/* Data with an ACK, over IPv6 with extension headers and two tags:
	 * a bare RST at the acknowledged sequence. */
	s = (struct spec){ .proto = IPPROTO_TCP, .sport = 40002, .dport = 80, .seq = 7,
			   .ack = 5000, .tcp_flags = TCP_ACK, .payload = 100,
			   .ext = EXT_HOP_DST, .vlans = 2 };
	memcpy(s.mac, mac_x, 6);
	addr(&s, "fd00::2", "2001:db8::80");
	n = answer(c->g, &s, out, &l3);
	assert_int_equal(n, l3 + 60);
	t = out + l3 + 40;
	assert_int_equal(out[l3 + 6], IPPROTO_TCP);
	assert_int_equal(get32(t + 4), 5000);
	assert_int_equal(t[13], TCP_RST);
	assert_int_equal(csum(t, 20, pseudo(out + l3, 6, IPPROTO_TCP, 20)), 0xffff);

	/* A FIN with data and no ACK: acknowledged past both. */
	s = (struct spec){ .proto = IPPROTO_TCP, .sport = 40003, .dport = 80, .seq = 70,
			   .tcp_flags = TCP_FIN, .payload = 10 };
	memcpy(s.mac, mac_x, 6);
	addr(&s, "10.0.0.2", "198.51.100.7");
	n = answer(c->g, &s, out, &l3);
	assert_int_equal(get32(out + l3 + 20 + 8), 70 + 10 + 1);

	/* UDP over IPv4 with options, tagged: port unreachable quoting the
	 * IP header and 8 bytes. */
	s = (struct spec){ .proto = IPPROTO_UDP, .sport = 5353, .dport = 53, .payload = 30,
			   .v4_options = 1, .vlans = 1 };
	memcpy(s.mac, mac_x, 6);
	addr(&s, "10.0.0.2", "198.51.100.53");
	uint8_t in[FRAME_MAX];
	build(&s, in);
	n = answer(c->g, &s, out, &l3);
	assert_int_equal(n, l3 + 20 + 8 + 24 + 8);
	uint8_t *ic = out + l3 + 20;
	assert_int_equal(out[l3 + 9], IPPROTO_ICMP);
	assert_int_equal(ic[0], 3);
	assert_int_equal(ic[1], 3);
	assert_memory_equal(ic + 8, in + l3, 24 + 8);
	assert_int_equal(csum(ic, n - l3 - 20, 0), 0xffff);

	/* UDP over IPv6: ICMPv6 port unreachable, with its pseudo-header. */
	s = (struct spec){ .proto = IPPROTO_UDP, .sport = 5353, .dport = 53, .payload = 3 };
	memcpy(s.mac, mac_x, 6);
	addr(&s, "fd00::2", "2001:db8::53");
	build(&s, in);
	n = answer(c->g, &s, out, &l3);
	assert_int_equal(n, l3 + 40 + 8 + 40 + 8);
	ic = out + l3 + 40;
	assert_int_equal(out[l3 + 6], IPPROTO_ICMPV6);
	assert_int_equal(ic[0], 1);
	assert_int_equal(ic[1], 4);
	assert_memory_equal(ic + 8, in + l3, 48);
	assert_int_equal(csum(ic, n - l3 - 40, pseudo(out + l3, 6, IPPROTO_ICMPV6,
						       (uint32_t)(n - l3 - 40))), 0xffff);

	/* Short of 8 bytes after the header: the header alone is quoted. */
	s = (struct spec){ .proto = 253, .cut = 8 };
	memcpy(s.mac, mac_x, 6);
	addr(&s, "10.0.0.2", "198.51.100.53");
	n = answer(c->g, &s, out, &l3);
	assert_int_equal(n, l3 + 20 + 8 + 20);

	/* No answer to an answer, nor to a later fragment. */
	uint64_t none = counter(c->g, GWBPF_CNT_REJECT_DROP);
	s = (struct spec){ .proto = IPPROTO_TCP, .sport = 1, .dport = 2, .tcp_flags = TCP_RST };
	memcpy(s.mac, mac_x, 6);
	addr(&s, "10.0.0.2", "198.51.100.7");
	assert_int_equal(run(c->g, &s), XDP_DROP);
	s = (struct spec){ .proto = IPPROTO_ICMP, .icmp_type = 3 };
	memcpy(s.mac, mac_x, 6);
	addr(&s, "10.0.0.2", "198.51.100.7");
	assert_int_equal(run(c->g, &s), XDP_DROP);
	s.icmp_type = 11;
	assert_int_equal(run(c->g, &s), XDP_DROP);
	s = (struct spec){ .proto = IPPROTO_ICMPV6, .icmp_type = 1 };
	memcpy(s.mac, mac_x, 6);
	addr(&s, "fd00::2", "2001:db8::53");
	assert_int_equal(run(c->g, &s), XDP_DROP);
	s = (struct spec){ .proto = IPPROTO_UDP, .sport = 9, .dport = 9, .v4_later_fragment = 1 };
	memcpy(s.mac, mac_x, 6);
	addr(&s, "10.0.0.2", "198.51.100.9");
	assert_int_equal(run(c->g, &s), XDP_DROP);
	assert_int_equal(counter(c->g, GWBPF_CNT_REJECT_DROP), none + 5);
}

struct evlog {
	struct gwbpf_event ev[8];
	int n;
};

static int collect(const struct gwbpf_event *e, void *arg)
{
	struct evlog *l = arg;
	if (l->n == 8)
		return -ENOSPC;
	l->ev[l->n++] = *e;
	return 0;
}

static void events(void **state)
{
	struct ctx *c = *state;
	apply(c, "device a mac 02:00:00:00:00:01\n"
		 "rule web allow device a proto tcp log\n"
		 "default block\n", noon_wed);
	struct evlog l = { .n = 0 };
	assert_true(gwbpf_events_fd(c->g) >= 0);
	assert_int_equal(gwbpf_events_drain(c->g, collect, &l), 0);

	struct spec s = { .proto = IPPROTO_TCP, .sport = 4000, .dport = 80 };
	memcpy(s.mac, mac_a, 6);
	addr(&s, "10.0.0.2", "198.51.100.1");
	struct gwbpf_flow_key k = flow_key(&s);
	assert_int_equal(run(c->g, &s), XDP_PASS);
	s.tcp_flags = TCP_ACK;
	assert_int_equal(run(c->g, &s), XDP_PASS);
	s.tcp_flags = TCP_ACK | TCP_FIN;
	assert_int_equal(run(c->g, &s), XDP_PASS);
	assert_int_equal(run(c->g, &s), XDP_PASS); /* a second FIN ends nothing */
	assert_int_equal(gwbpf_events_drain(c->g, collect, &l), 2);
	assert_int_equal(l.ev[0].kind, GWBPF_EV_NEW);
	assert_int_equal(l.ev[0].rule, 0);
	assert_int_equal(l.ev[0].flags & POL_TABLES_RULE_LOG, POL_TABLES_RULE_LOG);
	assert_int_equal(l.ev[0].device, 0);
	assert_int_equal(l.ev[0].epoch, (uint32_t)gwbpf_epoch(c->g));
	assert_memory_equal(l.ev[0].mac, mac_a, 6);
	assert_memory_equal(&l.ev[0].key, &k, sizeof(k));
	assert_int_equal(l.ev[1].kind, GWBPF_EV_END);
	assert_int_equal(l.ev[1].packets, 3);
	assert_memory_equal(&l.ev[1].key, &k, sizeof(k));

	/* A new epoch decides again; a RST from the far side ends the flow,
	 * under the key of the side that opened it. */
	s.tcp_flags = 0;
	s.sport = 4001;
	k = flow_key(&s);
	assert_int_equal(run(c->g, &s), XDP_PASS);
	struct gwbpf_bitmap active;
	gwbpf_active_mask(c->ir, noon_wed, &active);
	assert_int_equal(gwbpf_set_active(c->g, &active), 0);
	s.tcp_flags = TCP_ACK;
	assert_int_equal(run(c->g, &s), XDP_PASS);
	struct spec reply = reply_to(&s, mac_x);
	reply.tcp_flags = TCP_RST;
	assert_int_equal(run(c->g, &reply), XDP_PASS);
	l.n = 0;
	assert_int_equal(gwbpf_events_drain(c->g, collect, &l), 3);
	assert_int_equal(l.ev[0].kind, GWBPF_EV_NEW);
	assert_int_equal(l.ev[1].kind, GWBPF_EV_DECIDED);
	assert_int_equal(l.ev[1].epoch, (uint32_t)gwbpf_epoch(c->g));
	assert_int_equal(l.ev[2].kind, GWBPF_EV_END);
	assert_memory_equal(&l.ev[2].key, &k, sizeof(k));
	assert_memory_equal(l.ev[2].mac, mac_x, 6);
	assert_int_equal(counter(c->g, GWBPF_CNT_EVENT_LOST), 0);

	/* A callback's error stops the drain and comes back. */
	for (int i = 0; i < 10; i++) {
		s.sport = (uint16_t)(5000 + i);
		s.tcp_flags = 0;
		run(c->g, &s);
	}
	l.n = 0;
	assert_int_equal(gwbpf_events_drain(c->g, collect, &l), -ENOSPC);
	assert_int_equal(l.n, 8);
	assert_int_equal(gwbpf_events_drain(c->g, collect, &(struct evlog){ .n = 0 }), 1);
}

/* 80 kbit/s is 10,000 bytes a second, in buckets of 3000 bytes (the
 * minimum): three 1000-byte frames pass at once, the fourth does not. */
static void rate_limits(void **state)
{
	struct ctx *c = *state;
	apply(c, "device a mac 02:00:00:00:00:01, 02:00:00:00:00:02\n"
		 "device b mac 02:00:00:00:00:03\n"
		 "rule slow allow any to internet rate 80kbit\n"
		 "rule slow-new allow new rate 80kbit\n"
		 "default allow\n", noon_wed);
	struct spec s = { .proto = IPPROTO_UDP, .sport = 3000, .dport = 443,
			  .payload = 1000 - 14 - 20 - 8 };
	uint8_t frame[FRAME_MAX];
	memcpy(s.mac, mac_a, 6);
	addr(&s, "10.0.0.2", "198.51.100.1");
	assert_int_equal(build(&s, frame), 1000);
	for (int i = 0; i < 3; i++)
		assert_int_equal(run(c->g, &s), XDP_PASS);
	assert_int_equal(run(c->g, &s), XDP_DROP);
	assert_int_equal(counter(c->g, GWBPF_CNT_RATE_DROP), 1);
	assert_int_equal(flow_of(c->g, &s).action, POL_TABLES_ALLOW);
	/* Another connection of the same device, from its other MAC: the
	 * same bucket. */
	s.mac[5] = 2;
	s.sport = 3001;
	assert_int_equal(run(c->g, &s), XDP_DROP);
	/* Another device: its own bucket; and no rate where no rate rule
	 * decides. */
	s.mac[5] = 3;
	s.sport = 3002;
	assert_int_equal(run(c->g, &s), XDP_PASS);
	addr(&s, "10.0.0.2", "10.0.0.3");
	s.mac[5] = 1;
	for (int i = 0; i < 5; i++)
		assert_int_equal(run(c->g, &s), XDP_PASS);
	/* New devices: one bucket per MAC. */
	addr(&s, "10.0.0.9", "198.51.100.1");
	memcpy(s.mac, mac_x, 6);
	for (int i = 0; i < 3; i++)
		assert_int_equal(run(c->g, &s), XDP_PASS);
	assert_int_equal(run(c->g, &s), XDP_DROP);
	s.mac[5]++;
	assert_int_equal(run(c->g, &s), XDP_PASS);
	s.mac[5]--;
	/* 200 ms refill 2000 bytes: two frames, not four. */
	usleep(200000);
	unsigned passed = 0;
	for (int i = 0; i < 4; i++)
		passed += run(c->g, &s) == XDP_PASS;
	assert_in_range(passed, 2, 3);
	assert_int_equal(counter(c->g, GWBPF_CNT_RATE_DROP), 3 + 4 - passed);
}

/* The reply to s, as it goes out to the device: addresses and ports
 * turned round (build_down() turns the MACs). */
static struct spec downstream(const struct spec *s)
{
	struct spec d = *s;
	memcpy(d.src, s->dst, 16);
	memcpy(d.dst, s->src, 16);
	d.sport = s->dport;
	d.dport = s->sport;
	d.tcp_flags = TCP_ACK;
	return d;
}

static size_t build_down(const struct spec *d, uint8_t *b)
{
	/* build() writes the gateway as destination and d->mac as source;
	 * downstream frames go the other way. */
	size_t n = build(d, b);
	uint8_t t[6];
	memcpy(t, b, 6);
	memcpy(b, b + 6, 6);
	memcpy(b + 6, t, 6);
	return n;
}

/* The TC egress program on s's downstream frame: TC_ACT_*. */
static uint32_t run_down(struct gwbpf *g, const struct spec *s)
{
	uint8_t buf[FRAME_MAX];
	struct spec d = downstream(s);
	size_t len = build_down(&d, buf);
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = buf, .data_size_in = (uint32_t)len,
		    .repeat = 1);
	if (bpf_prog_test_run_opts(gwbpf_egress_prog_fd(g), &o) < 0)
		fail_msg("test_run: %s", strerror(errno));
	return o.retval;
}

static void egress(void **state)
{
	struct ctx *c = *state;
	apply(c, "device a mac 02:00:00:00:00:01\n"
		 "list slow prefixes { 203.0.113.0/24 }\n"
		 "rule slow allow device a to list slow rate 80kbit\n"
		 "rule web allow device a proto tcp\n"
		 "default block\n", noon_wed);
	struct spec s = { .proto = IPPROTO_TCP, .sport = 6000, .dport = 443 };
	memcpy(s.mac, mac_a, 6);
	addr(&s, "10.0.0.2", "198.51.100.1");

	/* Nothing to the device belongs to a flow yet: it passes. */
	assert_int_equal(run_down(c->g, &s), TC_ACT_OK);
	assert_int_equal(counter(c->g, GWBPF_CNT_EGRESS_NO_FLOW), 1);
	assert_int_equal(run(c->g, &s), XDP_PASS);
	assert_int_equal(run_down(c->g, &s), TC_ACT_OK);
	assert_int_equal(run_down(c->g, &s), TC_ACT_OK);
	struct gwbpf_flow f = flow_of(c->g, &s);
	assert_int_equal(f.packets, 1);
	assert_int_equal(f.packets_down, 2);
	uint8_t b[FRAME_MAX];
	struct spec d = downstream(&s);
	assert_int_equal(f.bytes_down, 2 * build_down(&d, b));
	assert_int_equal(counter(c->g, GWBPF_CNT_EGRESS), 3);
	struct gwbpf_device_stats ds;
	assert_int_equal(gwbpf_device_stats(c->g, mac_a, &ds), 0);
	assert_int_equal(ds.packets_up, 1);
	assert_int_equal(ds.bytes_up, build(&s, b));
	assert_int_equal(ds.packets_down, 2);
	assert_int_equal(ds.bytes_down, f.bytes_down);
	assert_int_equal(gwbpf_device_stats(c->g, mac_x, &ds), -ENOENT);

	/* A new generation cuts the flow downstream too, at its next packet
	 * either way. */
	struct pol_ir *ir2 = rp_load("device a mac 02:00:00:00:00:01\n"
				     "rule cut block device a to 198.51.100.0/24\n"
				     "default allow\n");
	struct pol_tables *img2 = NULL;
	struct gwbpf_bitmap active;
	assert_non_null(ir2);
	assert_int_equal(gwbpf_tables_build(ir2, &img2), 0);
	gwbpf_active_mask(ir2, noon_wed, &active);
	assert_int_equal(gwbpf_stage(c->g, img2, &active), 0);
	assert_int_equal(gwbpf_commit(c->g), 0);
	struct evlog l = { .n = 0 };
	gwbpf_events_drain(c->g, collect, &l);
	l.n = 0;
	assert_int_equal(run_down(c->g, &s), TC_ACT_SHOT);
	assert_int_equal(counter(c->g, GWBPF_CNT_EGRESS_DROP), 1);
	f = flow_of(c->g, &s);
	assert_int_equal(f.rule, 0);
	assert_int_equal(f.action, POL_TABLES_BLOCK);
	assert_int_equal(f.epoch, (uint32_t)gwbpf_epoch(c->g));
	assert_int_equal(gwbpf_events_drain(c->g, collect, &l), 1);
	assert_int_equal(l.ev[0].kind, GWBPF_EV_DECIDED);
	assert_memory_equal(l.ev[0].mac, mac_a, 6);
	assert_int_equal(run(c->g, &s), XDP_DROP);
	pol_tables_free(img2);
	pol_ir_free(ir2);

	/* Rates bite each way on their own: three 1000-byte frames per
	 * bucket. */
	gwbpf_active_mask(c->ir, noon_wed, &active);
	assert_int_equal(gwbpf_stage(c->g, c->img, &active), 0);
	assert_int_equal(gwbpf_commit(c->g), 0);
	s = (struct spec){ .proto = IPPROTO_UDP, .sport = 6001, .dport = 443,
			   .payload = 1000 - 14 - 20 - 8 };
	memcpy(s.mac, mac_a, 6);
	addr(&s, "10.0.0.2", "203.0.113.5");
	assert_int_equal(run(c->g, &s), XDP_PASS);
	for (int i = 0; i < 3; i++)
		assert_int_equal(run_down(c->g, &s), TC_ACT_OK);
	assert_int_equal(run_down(c->g, &s), TC_ACT_SHOT);
	assert_int_equal(run(c->g, &s), XDP_PASS);
	assert_int_equal(run(c->g, &s), XDP_PASS);
	assert_int_equal(run(c->g, &s), XDP_DROP);
}

/* Device totals come from the flows: live ones, and those expired into
 * gw_device_stats; an idle flow goes, a busy one stays. */
static void expiry(void **state)
{
	struct ctx *c = *state;
	apply(c, parse_policy, noon_wed);
	struct spec s = { .proto = IPPROTO_TCP, .sport = 5000, .dport = 443, .tcp_flags = TCP_ACK };
	struct spec t = s;
	uint8_t b[FRAME_MAX];
	memcpy(s.mac, mac_a, 6);
	memcpy(t.mac, mac_a, 6);
	addr(&s, "10.0.0.2", "8.8.8.8");
	addr(&t, "10.0.0.2", "8.8.4.4");
	size_t len = build(&s, b);
	for (int i = 0; i < 3; i++)
		assert_int_equal(run(c->g, &s), XDP_PASS);
	assert_int_equal(run(c->g, &t), XDP_PASS);
	assert_int_equal(run_down(c->g, &s), TC_ACT_OK);
	struct gwbpf_device_stats ds;
	assert_int_equal(gwbpf_device_stats(c->g, mac_a, &ds), 0);
	assert_int_equal(ds.packets_up, 4);
	assert_int_equal(ds.bytes_up, 4 * len);
	assert_int_equal(ds.packets_down, 1);

	struct gwbpf_flow f = flow_of(c->g, &s);
	uint64_t last = 0;
	assert_int_equal(gwbpf_flow_last_ns(c->g, &f, &last), 0);
	uint64_t now = now_ns();
	assert_true(last <= now + 20000000ull && last + 1000000000ull > now);

	uint32_t n = 99;
	assert_int_equal(gwbpf_flows_expire(c->g, 3600000000000ull, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(gwbpf_flows_expire(c->g, 0, &n), 0);
	assert_int_equal(n, 2);
	struct gwbpf_flow_key k = flow_key(&s);
	assert_int_equal(gwbpf_flow_get(c->g, &k, &f), -ENOENT);
	struct gwbpf_device_stats after;
	assert_int_equal(gwbpf_device_stats(c->g, mac_a, &after), 0);
	assert_memory_equal(&ds, &after, sizeof(ds));

	/* The device's next packet is a new flow; its totals add up. */
	assert_int_equal(run(c->g, &s), XDP_PASS);
	assert_int_equal(gwbpf_device_stats(c->g, mac_a, &after), 0);
	assert_int_equal(after.packets_up, 5);
	assert_int_equal(after.bytes_up, 5 * len);
	assert_int_equal(gwbpf_device_stats(c->g, mac_x, &after), -ENOENT);
}

/* A cached flow's cost, per packet; printed, not asserted (a benchmark
 * needs a quiet machine). */
/* The flow table's sets (gw_bpf_abi.h, gw_flows): GWBPF_FLOW_WAYS + 1 flows
 * whose tuples fall in one set.  The last one evicts the least recent, and
 * the replies of the others are still found (a tuple and its reverse share
 * a set). */
static void flow_sets(void **state)
{
	struct ctx *c = *state;
	apply(c, "device a mac 02:00:00:00:00:01\n"
		 "rule web allow device a proto tcp\n"
		 "default block\n", noon_wed);
	uint32_t k = 0;
	uint64_t seed = 0;
	__u64 tag, rtag, t2, r2;
	assert_int_equal(bpf_map_lookup_elem(gwbpf_map_fd(c->g, GWBPF_MAP_FLOW_SEED), &k, &seed), 0);
	assert_true(seed != 0);

	struct spec s[GWBPF_FLOW_WAYS + 1];
	struct spec base = { .proto = IPPROTO_TCP, .sport = 1024, .dport = 443,
			     .tcp_flags = TCP_ACK };
	memcpy(base.mac, mac_a, 6);
	addr(&base, "10.0.0.2", "93.184.216.34");
	struct gwbpf_flow_key bk = flow_key(&base);
	uint32_t set = gwbpf_flow_hash(&bk, seed, &tag, &rtag);
	int n = 0;
	for (uint32_t i = 0; i < (1u << 22) && n < GWBPF_FLOW_WAYS + 1; i++) {
		struct spec t = base;
		t.sport = (uint16_t)(1024 + i % 60000);
		t.dst[3] = (uint8_t)(i / 60000);
		struct gwbpf_flow_key tk = flow_key(&t);
		if (gwbpf_flow_hash(&tk, seed, &t2, &r2) != set)
			continue;
		/* Its reverse tuple: the same set, the tags swapped. */
		struct gwbpf_flow_key rk = tk;
		memcpy(rk.src, tk.dst, 16);
		memcpy(rk.dst, tk.src, 16);
		rk.sport = tk.dport;
		rk.dport = tk.sport;
		__u64 t3, r3;
		assert_int_equal(gwbpf_flow_hash(&rk, seed, &t3, &r3), set);
		assert_true(t3 == r2 && r3 == t2);
		s[n++] = t;
	}
	assert_int_equal(n, GWBPF_FLOW_WAYS + 1);

	for (int i = 0; i < GWBPF_FLOW_WAYS; i++)
		assert_int_equal(run(c->g, &s[i]), XDP_PASS);
	assert_int_equal(counter(c->g, GWBPF_CNT_FLOW_NEW), GWBPF_FLOW_WAYS);
	assert_int_equal(counter(c->g, GWBPF_CNT_FLOW_EVICT), 0);
	for (int i = 0; i < GWBPF_FLOW_WAYS; i++) {
		struct spec reply = reply_to(&s[i], mac_x);
		assert_int_equal(run(c->g, &reply), XDP_PASS);
	}
	assert_int_equal(counter(c->g, GWBPF_CNT_FLOW_REPLY), GWBPF_FLOW_WAYS);

	/* Packets within one jiffy leave every flow as recent as the next:
	 * make the second the least recent, through the table's own mmap. */
	struct gwbpf_flow_set *sets = mmap(NULL, (size_t)GWBPF_FLOW_SETS * sizeof(*sets),
					   PROT_READ | PROT_WRITE, MAP_SHARED,
					   gwbpf_map_fd(c->g, GWBPF_MAP_FLOWS), 0);
	assert_true(sets != MAP_FAILED);
	int aged = 0;
	struct gwbpf_flow_key k1 = flow_key(&s[1]);
	for (int w = 0; w < GWBPF_FLOW_WAYS; w++) {
		assert_true(sets[set].ver[w] & GWBPF_FLOW_VALID);
		if (!memcmp(&sets[set].way[w].key, &k1, sizeof(k1))) {
			sets[set].way[w].flow.last_jiffies -= 1000;
			aged++;
		}
	}
	assert_int_equal(aged, 1);
	munmap(sets, (size_t)GWBPF_FLOW_SETS * sizeof(*sets));

	/* One more: the set is full, the least recent flow goes. */
	assert_int_equal(run(c->g, &s[GWBPF_FLOW_WAYS]), XDP_PASS);
	assert_int_equal(counter(c->g, GWBPF_CNT_FLOW_EVICT), 1);
	struct gwbpf_flow f;
	for (int i = 0; i <= GWBPF_FLOW_WAYS; i++) {
		struct gwbpf_flow_key fk = flow_key(&s[i]);
		assert_int_equal(gwbpf_flow_get(c->g, &fk, &f), i == 1 ? -ENOENT : 0);
	}
	f = flow_of(c->g, &s[GWBPF_FLOW_WAYS]);
	assert_int_equal(f.packets, 1);
	/* Its next packet is a hit. */
	assert_int_equal(run(c->g, &s[GWBPF_FLOW_WAYS]), XDP_PASS);
	assert_int_equal(counter(c->g, GWBPF_CNT_FLOW_HIT), 1);
	assert_int_equal(counter(c->g, GWBPF_CNT_FLOW_UNCACHED), 0);
}

static void established_cost(void **state)
{
	struct ctx *c = *state;
	apply(c, parse_policy, noon_wed);
	struct spec s = { .proto = IPPROTO_TCP, .sport = 777, .dport = 443 };
	memcpy(s.mac, mac_a, 6);
	addr(&s, "10.0.0.2", "8.8.8.8");
	uint32_t ns = 0;
	assert_int_equal(run_ex(c->g, &s, 100000, &ns), XDP_PASS);
	assert_int_equal(flow_of(c->g, &s).packets, 100000);
	print_message("established flow: %u ns per packet\n", ns);
}

/* ---------------------------------------------------------------- corpus */

static const char *corpus_dir;

struct corpus_run {
	struct gwbpf *g;
	unsigned frames, bad;
};

static void corpus_frame(const uint8_t *frame, size_t len, void *arg)
{
	struct corpus_run *cr = arg;
	/* bpf_prog_test_run wants a whole Ethernet header and at most about a
	 * page; the headers the program reads are at the front. */
	if (len < 14)
		return;
	if (len > 3000)
		len = 3000;
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = (uint32_t)len,
		    .repeat = 1);
	if (bpf_prog_test_run_opts(gwbpf_prog_fd(cr->g), &o) < 0 ||
	    (o.retval != XDP_PASS && o.retval != XDP_DROP && o.retval != XDP_TX))
		cr->bad++;
	cr->frames++;
}

/* Every Ethernet capture of the tcpdump corpus: each frame gets a verdict,
 * and every packet ends in exactly one terminal counter. */
static void corpus(void **state)
{
	struct ctx *c = *state;
	DIR *d = opendir(corpus_dir);
	assert_non_null(d); /* main() made sure it is there */
	apply(c, "device a mac 00:00:5e:00:53:01\n"
		 "list ads domains { ads.example }\n"
		 "rule no-ads block any to list ads\n"
		 "rule web allow any to internet proto tcp port 80, 443\n"
		 "rule dns allow any proto udp port 53\n"
		 "rule lan-ping reject any to lan proto icmp\n"
		 "rule lan-ping-new reject new to lan proto icmp\n"
		 "rule strangers allow new to internet\n"
		 "default block\n", noon_wed);
	struct corpus_run cr = { .g = c->g };
	unsigned files = 0, ether = 0, unreadable = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (!(n > 5 && !strcmp(e->d_name + n - 5, ".pcap")) &&
		    !(n > 7 && !strcmp(e->d_name + n - 7, ".pcapng")))
			continue;
		char path[4096], err[512];
		snprintf(path, sizeof(path), "%s/%s", corpus_dir, e->d_name);
		files++;
		int r = pcap_each_ether(path, corpus_frame, &cr, err, sizeof(err));
		ether += r == 1;
		unreadable += r < 0;
	}
	closedir(d);
	uint64_t v[GWBPF_CNT_COUNT];
	assert_int_equal(gwbpf_counters(c->g, v), 0);
	uint64_t ends = v[GWBPF_CNT_PASS] + v[GWBPF_CNT_DROP] + v[GWBPF_CNT_REJECT] +
			v[GWBPF_CNT_REJECT_DROP] +
			v[GWBPF_CNT_NOT_IP] + v[GWBPF_CNT_TRUNCATED] + v[GWBPF_CNT_LOCAL] +
			v[GWBPF_CNT_NO_POLICY] + v[GWBPF_CNT_MAP_MISS];
	print_message("corpus: %u files (%u Ethernet, %u unreadable), %u frames: %llu passed, "
		      "%llu dropped, %llu rejected, %llu not IP, %llu truncated, %llu local\n",
		      files, ether, unreadable, cr.frames, (unsigned long long)v[GWBPF_CNT_PASS],
		      (unsigned long long)v[GWBPF_CNT_DROP], (unsigned long long)v[GWBPF_CNT_REJECT],
		      (unsigned long long)v[GWBPF_CNT_NOT_IP],
		      (unsigned long long)v[GWBPF_CNT_TRUNCATED],
		      (unsigned long long)v[GWBPF_CNT_LOCAL]);
	assert_int_equal(cr.bad, 0);
	assert_true(cr.frames > 1000);
	assert_int_equal(v[GWBPF_CNT_PACKETS], cr.frames);
	assert_int_equal(ends, cr.frames);
	assert_int_equal(v[GWBPF_CNT_MAP_MISS], 0);
	assert_true(v[GWBPF_CNT_PASS] && v[GWBPF_CNT_DROP] && v[GWBPF_CNT_REJECT]);
}

/* ---------------------------------------------------------------- differential */

static uint64_t seed(void)
{
	const char *s = getenv("GW_SEED");
	return s ? strtoull(s, NULL, 0) : 0xb9f;
}

/* What the program leaves to the gateway's own protections (is_local() in
 * classify.bpf.c, less gw_local, which this test leaves empty). */
static int governed(uint8_t family, const uint8_t *d)
{
	if (family == 4)
		return (d[0] & 0xf0) != 0xe0 && !(d[0] == 255 && d[1] == 255 && d[2] == 255 &&
						  d[3] == 255);
	return d[0] != 0xff && !(d[0] == 0xfe && (d[1] & 0xc0) == 0x80);
}

struct diffstat {
	unsigned cases, dropped, answered, defaults, rated;
	uint64_t ns;
};

static void diff_policy(struct ctx *c, struct rp_rng *r, const struct rp_shape *shape,
			unsigned groups, unsigned per_group, struct diffstat *ds)
{
	char *text = rp_policy(r, shape);
	pol_tables_free(c->img);
	pol_ir_free(c->ir);
	c->img = NULL;
	c->ir = rp_load(text);
	assert_non_null(c->ir);
	assert_int_equal(gwbpf_tables_build(c->ir, &c->img), 0);
	struct gwbpf_bitmap active;
	for (unsigned gi = 0; gi < groups; gi++) {
		struct pol_facts f;
		uint8_t mac[6];
		rp_packet(r, c->ir, mac, &f);
		struct pol_when when = f.when;
		gwbpf_active_mask(c->ir, when, &active);
		if (gi == 0) {
			assert_int_equal(gwbpf_stage(c->g, c->img, &active), 0);
			assert_int_equal(gwbpf_commit(c->g), 0);
		} else {
			assert_int_equal(gwbpf_set_active(c->g, &active), 0);
		}
		for (unsigned k = 0; k < per_group; k++) {
			do
				rp_packet(r, c->ir, mac, &f);
			while (!governed(f.family, f.dst));
			f.when = when;
			struct spec s = { .family = f.family, .proto = f.proto, .dport = f.dport,
					  .sport = (uint16_t)(1 + rp_below(r, 65535)) };
			memcpy(s.mac, mac, 6);
			memcpy(s.dst, f.dst, 16);
			uint64_t x = rp_next(r);
			memcpy(s.src, &x, 8);
			if (f.family == 4)
				memset(s.src + 4, 0, 12);
			/* Every way of carrying the same facts decides the same. */
			s.vlans = (int)rp_below(r, 3);
			if (f.family == 4)
				s.v4_options = (int)rp_below(r, 3);
			else
				s.ext = (enum v6ext)rp_below(r, 3); /* none, options, first fragment */
			if (f.domain_sets)
				assert_int_equal(gwbpf_domain_set(c->g, false, f.family, f.dst,
								  f.domain_sets, UINT64_MAX), 0);
			struct pol_verdict want;
			pol_eval(c->ir, &f, &want, NULL);
			uint32_t ns = 0;
			uint32_t got = run_ex(c->g, &s, 1, &ns);
			struct gwbpf_flow fl = flow_of(c->g, &s);
			if (got != want_xdp(&s, want.action) ||
			    fl.rule != want.rule || fl.action != want.action ||
			    fl.device != f.device) {
				char a[INET6_ADDRSTRLEN];
				inet_ntop(f.family == 4 ? AF_INET : AF_INET6, f.dst, a, sizeof(a));
				fail_msg("%s\nmac %02x:%02x:%02x:%02x:%02x:%02x dst %s proto %u "
					 "dport %u domains %#llx when %u/%u: program %u rule %u "
					 "action %u device %u, evaluator rule %u action %u",
					 text, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], a,
					 f.proto, f.dport, (unsigned long long)f.domain_sets,
					 when.wday, when.minute, got, fl.rule, fl.action, fl.device,
					 want.rule, want.action);
			}
			forget_flow(c->g, &s);
			if (fl.flags & POL_TABLES_RULE_RATE) {
				/* Many cases share a device and a rule: each
				 * starts from a full bucket. */
				struct gwbpf_rate_key rk = {
					.rule = fl.rule, .device = fl.device,
					.slot = gwbpf_epoch(c->g) & GWBPF_EPOCH_SLOT ? 1 : 0,
					.dir = GWBPF_DIR_UP,
				};
				if (fl.device == POL_NONE)
					memcpy(rk.mac, mac, 6);
				assert_int_equal(bpf_map_delete_elem(
					gwbpf_map_fd(c->g, GWBPF_MAP_RATES), &rk), 0);
				ds->rated++;
			}
			if (f.domain_sets)
				assert_int_equal(gwbpf_domain_set(c->g, false, f.family, f.dst, 0, 0),
						 0);
			ds->cases++;
			ds->dropped += got == XDP_DROP;
			ds->answered += got == XDP_TX;
			ds->defaults += want.rule >= POL_RULE_DEFAULT_NEW;
			ds->ns += ns;
		}
	}
	free(text);
}

static void differential(void **state)
{
	struct ctx *c = *state;
	struct rp_rng r = { seed() };
	struct diffstat ds = { 0 };
	for (unsigned i = 0; i < 80; i++) {
		struct rp_shape shape = { .rules = 1 + i % 4 * 10, .devices = 1 + i % 4 * 3,
					  .lists = i % 4 * 2, .narrow = i % 8 >= 4 };
		diff_policy(c, &r, &shape, 4, 30, &ds);
	}
	struct rp_shape big = { .rules = GWBPF_MAX_RULES, .devices = 200, .lists = 80 };
	struct rp_shape bign = big;
	bign.narrow = true;
	unsigned small = ds.cases;
	diff_policy(c, &r, &big, 2, 500, &ds);
	diff_policy(c, &r, &bign, 2, 500, &ds);
	print_message("differential through the program: %u cases (%u at 4096 rules), "
		      "%u dropped, %u answered, %u by a default, %u rate-limited; "
		      "%llu ns per new flow on average\n",
		      ds.cases, ds.cases - small, ds.dropped, ds.answered, ds.defaults, ds.rated,
		      (unsigned long long)(ds.ns / ds.cases));
	assert_true(ds.cases >= 10000);
	assert_true(ds.dropped > ds.cases / 10 && ds.answered > ds.cases / 10);
	assert_true(ds.dropped + ds.answered < ds.cases - ds.cases / 10);
	assert_true(ds.defaults > ds.cases / 20);
	assert_true(ds.rated > ds.cases / 200);
}

/* test_ebpf_prog            every test but the corpus
 * test_ebpf_prog --corpus D  the tcpdump corpus in D only (77 if D is missing) */
int main(int argc, char **argv)
{
	bool corpus_only = argc == 3 && !strcmp(argv[1], "--corpus");
	if (argc != 1 && !corpus_only) {
		fprintf(stderr, "usage: %s [--corpus DIR]\n", argv[0]);
		return 2;
	}
	corpus_dir = corpus_only ? argv[2] : NULL;
	if (corpus_only) {
		DIR *d = opendir(corpus_dir);
		if (!d) {
			fprintf(stderr, "skipped: no corpus at %s\n", corpus_dir);
			return 77;
		}
		closedir(d);
	}
	if (geteuid() != 0) {
		fprintf(stderr, "skipped: BPF needs root\n");
		return 77;
	}
	/* Skipped only where no BPF program loads at all: once a trivial
	 * one does, the verifier refusing the classifier is a failure. */
	struct bpf_insn probe[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int pfd = bpf_prog_load(BPF_PROG_TYPE_XDP, "gw_probe", "GPL", probe, 2, NULL);
	if (pfd < 0) {
		fprintf(stderr, "skipped: BPF is not permitted here (%s)\n", strerror(errno));
		return 77;
	}
	close(pfd);
	struct gwbpf *g = NULL;
	int r = gwbpf_new(&g);
	if (r < 0) {
		fprintf(stderr, "cannot load the classifier: %s\n", strerror(-r));
		return 1;
	}
	gwbpf_free(g);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(no_policy_passes, setup, teardown),
		cmocka_unit_test_setup_teardown(parse_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(not_governed, setup, teardown),
		cmocka_unit_test_setup_teardown(derived_counters, setup, teardown),
		cmocka_unit_test_setup_teardown(truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(flows_and_generations, setup, teardown),
		cmocka_unit_test_setup_teardown(domain_sets, setup, teardown),
		cmocka_unit_test_setup_teardown(reject_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(events, setup, teardown),
		cmocka_unit_test_setup_teardown(rate_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(egress, setup, teardown),
		cmocka_unit_test_setup_teardown(expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(flow_sets, setup, teardown),
		cmocka_unit_test_setup_teardown(established_cost, setup, teardown),
		cmocka_unit_test_setup_teardown(differential, setup, teardown),
	};
	const struct CMUnitTest corpus_tests[] = {
		cmocka_unit_test_setup_teardown(corpus, setup, teardown),
	};
	if (corpus_only)
		return cmocka_run_group_tests(corpus_tests, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
