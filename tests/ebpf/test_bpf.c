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
#include <net/if.h>
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
#include "gwtest.h"
#include "pktlimits.h"
#include "randpol.h"

/* ---------------------------------------------------------------- packets */

enum v6ext { EXT_NONE, EXT_HOP_DST, EXT_FRAG_FIRST, EXT_FRAG_LATER };

#define CHAIN_MAX 12

struct spec {
	uint8_t mac[6];
	int vlans;        /* tags: the outermost 802.1ad when there are two or more */
	int vid0;         /* every tag a priority tag (VID 0) */
	uint8_t family;   /* 4, 6, or 0: ARP */
	uint8_t proto;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	enum v6ext ext;
	/* IPv6 extension headers before `ext`'s: next-header values, AH (51)
	 * 24 bytes long, the others 8 */
	uint8_t chain[CHAIN_MAX];
	int nchain;
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
	for (int i = 0; i < s->vlans; i++) {
		put16(b + n, i == 0 && s->vlans >= 2 ? 0x88a8 : 0x8100);
		put16(b + n + 2, s->vid0 ? 0 : (uint16_t)(100 + i));
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
		for (int i = 0; i < s->nchain; i++) {
			*next = s->chain[i];
			next = b + n;
			if (s->chain[i] == 51) {
				b[n + 1] = 4; /* (4 + 2) * 4 bytes */
				n += 24;
			} else {
				b[n + 1] = 0;
				n += 8;
			}
		}
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

/* bpf_prog_test_run's packets come in on the loopback interface (XDP's
 * ingress_ifindex): the port whose sources (gw_src) are the LAN the tests
 * send from, unless a test says otherwise. */
static int lo_ifindex;
static const struct gwbpf_src_prefix lan_prefixes[] = {
	{ .family = 4, .plen = 8, .addr = { 10 } },
	{ .family = 6, .plen = 8, .addr = { 0xfd } },
	{ .family = 6, .plen = 10, .addr = { 0xfe, 0x80 } },
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	if (!c || gwbpf_new(&c->g) < 0 ||
	    gwbpf_port_prefixes(c->g, lo_ifindex, lan_prefixes, 3) < 0) {
		if (c)
			gwbpf_free(c->g);
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

/* --tc: every case runs gw_classify_tc (the classifier at TC ingress)
 * instead of gw_classify, its verdicts read as XDP's (docs/ebpf.md, "Two
 * hooks"): TC_ACT_OK is XDP_PASS, TC_ACT_SHOT XDP_DROP, and the answer's
 * redirect to the port's egress XDP_TX (nothing is forwarded here:
 * gw_fwd_ifs is empty). */
static bool tc_hook;

static int classify_run(struct gwbpf *g, struct bpf_test_run_opts *o)
{
	if (!tc_hook)
		return bpf_prog_test_run_opts(gwbpf_prog_fd(g), o);
	int r = bpf_prog_test_run_opts(gwbpf_classify_tc_prog_fd(g), o);
	if (r == 0)
		o->retval = o->retval == TC_ACT_OK	   ? XDP_PASS
			    : o->retval == TC_ACT_SHOT	   ? XDP_DROP
			    : o->retval == TC_ACT_REDIRECT ? XDP_TX
							   : 1000 + o->retval;
	return r;
}

static uint32_t run_ex(struct gwbpf *g, const struct spec *s, uint32_t repeat, uint32_t *ns)
{
	uint8_t buf[FRAME_MAX];
	size_t len = build(s, buf);
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = buf, .data_size_in = (uint32_t)len,
		    .repeat = repeat);
	int r = classify_run(g, &o);
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

/* The IP headers of s (options, extension headers) in bytes. */
static size_t ip_headers(const struct spec *s)
{
	if (s->family == 4)
		return 20 + 4 * (size_t)s->v4_options;
	size_t n = 40;
	for (int i = 0; i < s->nchain; i++)
		n += s->chain[i] == 51 ? 24 : 8;
	return n + (s->ext == EXT_HOP_DST ? 24 : s->ext == EXT_NONE ? 0 : 8);
}

/* What the program returns for s decided with `action`: a reject answers
 * (XDP_TX) anything but a RST, an ICMP error or a later fragment, when the
 * answer fits: the transport header within 120 bytes past the Ethernet
 * header and GW_PKT_MAX_VLAN tags, and an ICMP error quotes at most 120
 * bytes of IP headers. */
static uint32_t want_xdp(const struct spec *s, uint8_t action)
{
	if (action == POL_ALLOW)
		return XDP_PASS;
	if (action == POL_BLOCK || s->v4_later_fragment || s->ext == EXT_FRAG_LATER)
		return XDP_DROP;
	size_t l2 = 14 + 4 * (size_t)s->vlans, hl = ip_headers(s);
	if (l2 + hl > 14 + 4 * GW_PKT_MAX_VLAN + 120)
		return XDP_DROP;
	if (s->proto == IPPROTO_TCP)
		return s->tcp_flags & TCP_RST ? XDP_DROP : XDP_TX;
	if (hl > 120) /* the ICMP error quotes them all */
		return XDP_DROP;
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
	/* To another host of the LAN, which answers. */
	addr(&s, "10.0.0.2", "10.0.1.34");
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
	/* Every reason has a name for the logs and the tools. */
	for (int i = 0; i < GWBPF_CNT_COUNT; i++)
		assert_string_not_equal(gwbpf_counter_name((enum gwbpf_counter)i), "?");
}

static void truncated(void **state)
{
	struct ctx *c = *state;
	apply(c, "default allow\n", noon_wed);
	struct spec s = { .proto = IPPROTO_TCP, .sport = 1, .dport = 2 };
	memcpy(s.mac, mac_a, 6);
	addr(&s, "10.0.0.2", "8.8.8.8");
	/* --tc: bpf_prog_test_run refuses an skb of one byte past the
	 * Ethernet header, and a tag cut short never reaches TC ingress (the
	 * stack's VLAN untagging drops it first): those two run in XDP only. */
	s.cut = 20 + 19; /* the IPv4 header is one byte short */
	if (!tc_hook)
		assert_int_equal(run(c->g, &s), XDP_DROP);
	s.cut = 17; /* three bytes of TCP: no destination port */
	assert_int_equal(run(c->g, &s), XDP_DROP);
	s.vlans = 1;
	s.cut = 20 + 20 + 2; /* the tag without the type it encapsulates */
	if (!tc_hook)
		assert_int_equal(run(c->g, &s), XDP_DROP);
	s.vlans = 0;
	addr(&s, "fd00::2", "2001:db8::1");
	s.ext = EXT_HOP_DST;
	s.cut = 20 + 10; /* inside the destination options */
	assert_int_equal(run(c->g, &s), XDP_DROP);
	assert_int_equal(counter(c->g, GWBPF_CNT_TRUNCATED), tc_hook ? 2 : 4);
	s.cut = 16; /* the ports are there */
	assert_int_equal(run(c->g, &s), XDP_PASS);
}

/* Fail closed (issue 13): what the parser does not walk to its transport
 * header within policy/pktlimits.h is dropped and counted, never passed as
 * "not IP" (the kernel would route a frame behind a priority tag) nor
 * classified without its ports (a port rule would miss it).  Before,
 * three tags passed as not IP, and a seventh extension header or a
 * mobility header made a TCP packet to port 22 "other": allowed. */
static void fail_closed(void **state)
{
	struct ctx *c = *state;
	apply(c, "device a mac 02:00:00:00:00:01\n"
		 "rule no-ssh block device a proto tcp port 22\n"
		 "default allow\n", noon_wed);
	struct spec s = { .proto = IPPROTO_TCP, .sport = 40000, .dport = 22 };
	memcpy(s.mac, mac_a, 6);
	addr(&s, "10.0.0.2", "198.51.100.7");

	/* As many tags as walked, priority tags or not: the policy decides. */
	for (int vid0 = 0; vid0 < 2; vid0++) {
		s.vid0 = vid0;
		s.vlans = GW_PKT_MAX_VLAN;
		s.sport++;
		assert_int_equal(expect(c, &s, "no-ssh", noon_wed), XDP_DROP);
		s.sport++;
		s.dport = 443;
		assert_int_equal(expect(c, &s, "default", noon_wed), XDP_PASS);
		s.dport = 22;
	}
	/* One more, whatever it carries, ARP included: dropped, no flow. */
	uint64_t deep = counter(c->g, GWBPF_CNT_VLAN_DEEP), nflows = counter(c->g, GWBPF_CNT_FLOW_NEW);
	for (int vid0 = 0; vid0 < 2; vid0++) {
		s.vid0 = vid0;
		s.vlans = GW_PKT_MAX_VLAN + 1;
		s.dport = 443;
		assert_int_equal(run(c->g, &s), XDP_DROP);
		struct spec arp = s;
		arp.family = 0;
		assert_int_equal(run(c->g, &arp), XDP_DROP);
	}
	assert_int_equal(counter(c->g, GWBPF_CNT_VLAN_DEEP), deep + 4);
	assert_int_equal(counter(c->g, GWBPF_CNT_FLOW_NEW), nflows);
	s.vlans = 0;
	s.vid0 = 0;

	/* IPv6: every extension header of pktlimits.h is walked, as many as
	 * GW_PKT_MAX_IP6_EXT of them; the rule sees the port behind them. */
	static const uint8_t kinds[] = { 0, 43, 60, 51, 135, 139, 140, 253, 254 };
	addr(&s, "fd00::2", "2001:db8::7");
	s.dport = 22;
	for (unsigned k = 0; k < sizeof(kinds); k++) {
		s.nchain = 1;
		s.chain[0] = kinds[k];
		s.sport++;
		assert_int_equal(expect(c, &s, "no-ssh", noon_wed), XDP_DROP);
	}
	s.nchain = GW_PKT_MAX_IP6_EXT;
	for (int i = 0; i < s.nchain; i++)
		s.chain[i] = kinds[i % sizeof(kinds)];
	s.sport++;
	assert_int_equal(expect(c, &s, "no-ssh", noon_wed), XDP_DROP);
	s.dport = 443;
	s.sport++;
	assert_int_equal(expect(c, &s, "default", noon_wed), XDP_PASS);
	/* With a fragment header last, still within the limit. */
	s.nchain = GW_PKT_MAX_IP6_EXT - 1;
	s.ext = EXT_FRAG_FIRST;
	s.dport = 22;
	s.sport++;
	assert_int_equal(expect(c, &s, "no-ssh", noon_wed), XDP_DROP);
	/* One more: dropped, whatever the port, and no flow. */
	deep = counter(c->g, GWBPF_CNT_IP6_DEEP);
	nflows = counter(c->g, GWBPF_CNT_FLOW_NEW);
	s.ext = EXT_NONE;
	s.nchain = GW_PKT_MAX_IP6_EXT + 1;
	s.chain[GW_PKT_MAX_IP6_EXT] = 60;
	assert_int_equal(run(c->g, &s), XDP_DROP);
	s.dport = 443;
	assert_int_equal(run(c->g, &s), XDP_DROP);
	s.nchain = GW_PKT_MAX_IP6_EXT;
	s.ext = EXT_HOP_DST; /* two more */
	assert_int_equal(run(c->g, &s), XDP_DROP);
	assert_int_equal(counter(c->g, GWBPF_CNT_IP6_DEEP), deep + 3);
	assert_int_equal(counter(c->g, GWBPF_CNT_FLOW_NEW), nflows);
	/* A later fragment's walk ends at its fragment header: what follows
	 * is payload, classified with port 0 (as an IPv4 later fragment). */
	s.nchain = GW_PKT_MAX_IP6_EXT - 1;
	s.ext = EXT_FRAG_LATER;
	assert_int_equal(expect(c, &s, "default", noon_wed), XDP_PASS);
}

/* Anti-spoofing (issue 13): a packet from a source outside its port's
 * prefixes (gw_src) is dropped and counted before it can open, or answer,
 * a flow.  Before, anything passed. */
static void spoofed_sources(void **state)
{
	struct ctx *c = *state;
	apply(c, "device a mac 02:00:00:00:00:01\n"
		 "rule web allow any proto tcp\n"
		 "default block\n", noon_wed);
	struct spec s = { .proto = IPPROTO_TCP, .sport = 40000, .dport = 443 };
	memcpy(s.mac, mac_a, 6);
	uint64_t spoofed = counter(c->g, GWBPF_CNT_SPOOFED);
	addr(&s, "198.51.100.7", "10.0.0.2");
	assert_int_equal(run(c->g, &s), XDP_DROP);
	addr(&s, "11.0.0.2", "198.51.100.7");
	assert_int_equal(run(c->g, &s), XDP_DROP);
	addr(&s, "2001:db8::1", "2001:db8::2");
	assert_int_equal(run(c->g, &s), XDP_DROP);
	addr(&s, "fc00::1", "2001:db8::2");
	assert_int_equal(run(c->g, &s), XDP_DROP);
	assert_int_equal(counter(c->g, GWBPF_CNT_SPOOFED), spoofed + 4);
	struct gwbpf_flow_key k = flow_key(&s);
	struct gwbpf_flow f;
	assert_int_equal(gwbpf_flow_get(c->g, &k, &f), -ENOENT);
	/* The port's own sources, link-local ones too, and what the policy
	 * does not govern (DHCP from 0.0.0.0, to the gateway's addresses). */
	addr(&s, "10.255.0.2", "198.51.100.7");
	assert_int_equal(expect(c, &s, "web", noon_wed), XDP_PASS);
	addr(&s, "fe80::2", "2001:db8::2");
	assert_int_equal(expect(c, &s, "web", noon_wed), XDP_PASS);
	struct spec dhcp = { .proto = IPPROTO_UDP, .sport = 68, .dport = 67 };
	memcpy(dhcp.mac, mac_a, 6);
	addr(&dhcp, "0.0.0.0", "255.255.255.255");
	assert_int_equal(run(c->g, &dhcp), XDP_PASS);
	assert_int_equal(counter(c->g, GWBPF_CNT_SPOOFED), spoofed + 4);

	/* The port's prefixes replaced: 10/8 is no longer its. */
	const struct gwbpf_src_prefix other = { .family = 4, .plen = 24, .addr = { 192, 168, 7 } };
	assert_int_equal(gwbpf_port_prefixes(c->g, lo_ifindex, &other, 1), 0);
	addr(&s, "10.0.0.2", "198.51.100.8");
	assert_int_equal(run(c->g, &s), XDP_DROP);
	addr(&s, "fd00::2", "2001:db8::2"); /* no IPv6 prefix at all: none passes */
	assert_int_equal(run(c->g, &s), XDP_DROP);
	addr(&s, "192.168.7.200", "198.51.100.8");
	assert_int_equal(expect(c, &s, "web", noon_wed), XDP_PASS);
	assert_int_equal(counter(c->g, GWBPF_CNT_SPOOFED), spoofed + 6);
	const struct gwbpf_src_prefix bad[] = { { .family = 4, .plen = 33 },
						{ .family = 5, .plen = 8 } };
	assert_int_equal(gwbpf_port_prefixes(c->g, lo_ifindex, &bad[0], 1), -EINVAL);
	assert_int_equal(gwbpf_port_prefixes(c->g, lo_ifindex, &bad[1], 1), -EINVAL);
	assert_int_equal(gwbpf_port_prefixes(c->g, 0, lan_prefixes, 3), -EINVAL);
	assert_int_equal(gwbpf_port_prefixes(c->g, lo_ifindex, lan_prefixes, 3), 0);
}

/* A device cannot prime a flow so that its real connection to a blocked
 * server counts as a reply (issue 13).  Before, a packet "from" the server
 * to the device made a flow, and the device's own connection, its reverse
 * tuple, passed as that flow's reply. */
static void primed_replies(void **state)
{
	struct ctx *c = *state;
	apply(c, "device a mac 02:00:00:00:00:01\n"
		 "device nas mac 02:00:00:00:00:05\n"
		 "rule no-nas block device a to 10.0.9.9, fd00::9\n"
		 "rule no-site block device a to 198.51.100.0/24\n"
		 "default allow\n", noon_wed);
	const uint8_t mac_nas[6] = { 2, 0, 0, 0, 0, 5 };
	struct spec real = { .proto = IPPROTO_TCP, .sport = 5555, .dport = 443 };
	memcpy(real.mac, mac_a, 6);

	/* The server is outside the port's prefixes: the primer is spoofed. */
	addr(&real, "10.0.0.2", "198.51.100.7");
	struct spec primer = reply_to(&real, mac_a);
	uint64_t spoofed = counter(c->g, GWBPF_CNT_SPOOFED);
	assert_int_equal(run(c->g, &primer), XDP_DROP);
	assert_int_equal(counter(c->g, GWBPF_CNT_SPOOFED), spoofed + 1);
	assert_int_equal(expect(c, &real, "no-site", noon_wed), XDP_DROP);

	/* A server on the LAN: the primer's source is the port's, so it
	 * makes a flow; but a device never answers a flow it opened.  (One
	 * that forges another device's MAC and address on its own segment is
	 * beyond what a router can tell, as with conntrack: docs/gwd.md.) */
	real.dport = 445;
	const char *lan[][2] = { { "10.0.0.2", "10.0.9.9" }, { "fd00::2", "fd00::9" } };
	for (int i = 0; i < 2; i++) {
		addr(&real, lan[i][0], lan[i][1]);
		real.sport = (uint16_t)(6000 + i);
		primer = reply_to(&real, mac_a);
		assert_int_equal(expect(c, &primer, "default", noon_wed), XDP_PASS);
		uint64_t replies = counter(c->g, GWBPF_CNT_FLOW_REPLY);
		assert_int_equal(expect(c, &real, "no-nas", noon_wed), XDP_DROP);
		assert_int_equal(counter(c->g, GWBPF_CNT_FLOW_REPLY), replies);
		/* The device's connection has its own flow now: the next
		 * packet is a hit on it, not a reply either. */
		real.tcp_flags = TCP_ACK;
		assert_int_equal(run(c->g, &real), XDP_DROP);
		real.tcp_flags = 0;
	}

	/* What the NAS opens to the device, the device answers: a reply
	 * from another device (MAC) follows the opener's verdict. */
	struct spec nas = { .proto = IPPROTO_TCP, .sport = 40001, .dport = 22 };
	memcpy(nas.mac, mac_nas, 6);
	addr(&nas, "10.0.9.9", "10.0.0.2");
	assert_int_equal(expect(c, &nas, "default", noon_wed), XDP_PASS);
	struct spec answer = reply_to(&nas, mac_a);
	uint64_t replies = counter(c->g, GWBPF_CNT_FLOW_REPLY);
	answer.tcp_flags = TCP_SYN | TCP_ACK;
	assert_int_equal(run(c->g, &answer), XDP_PASS);
	assert_int_equal(counter(c->g, GWBPF_CNT_FLOW_REPLY), replies + 1);
	struct gwbpf_flow_key k = flow_key(&answer);
	struct gwbpf_flow f;
	assert_int_equal(gwbpf_flow_get(c->g, &k, &f), -ENOENT);
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
	addr(&s, "10.0.0.2", "10.0.1.34");
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
				     "rule cut reject device a to 10.0.1.0/24\n"
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

/* Wall-clock seconds, and a sleep until wall-clock second t plus ms. */
static int64_t wall_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

static void sleep_until(int64_t t, long ms)
{
	for (;;) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		int64_t left = (t - (int64_t)ts.tv_sec) * 1000 + ms - ts.tv_nsec / 1000000;
		if (left <= 0)
			return;
		usleep((useconds_t)(left > 100 ? 100 : left) * 1000);
	}
}

static const char *timeline_policy =
	"device a mac 02:00:00:00:00:01\n"
	"schedule night daily 22:00-06:00\n"
	"schedule play daily 16:00-18:00\n"
	"rule bedtime block device a proto tcp port 443 during night\n"
	"rule games allow device a proto udp port 3074 during play\n"
	"rule web allow device a proto tcp\n"
	"default block\n";

/* The restrictive mask (control/schedules.c): scheduled block or reject
 * rules on, scheduled allow rules off, the others on. */
static void closed_mask(const struct pol_ir *ir, struct gwbpf_bitmap *m)
{
	memset(m, 0, sizeof(*m));
	for (uint32_t r = 0; r < ir->nrules; r++)
		if (!(ir->rules[r].flags & POL_RULE_DURING) || ir->rules[r].action != POL_ALLOW)
			m->w[r / 64] |= 1ull << (r % 64);
}

/* The timeline (gw_bpf_abi.h, "Schedules"): the program switches masks at
 * each boundary with no userspace write, a flow cached under one entry is
 * decided again under the next, and past the end the closed mask holds. */
static void schedule_timeline(void **state)
{
	struct ctx *c = *state;
	apply(c, timeline_policy, noon_wed);
	struct spec web = { .proto = IPPROTO_TCP, .sport = 50000, .dport = 443 };
	struct spec game = { .proto = IPPROTO_UDP, .sport = 50001, .dport = 3074 };
	memcpy(web.mac, mac_a, 6);
	memcpy(game.mac, mac_a, 6);
	addr(&web, "10.0.0.2", "10.0.1.34");
	addr(&game, "10.0.0.2", "10.0.1.35");
	struct pol_when play = { 2, 17 * 60 };

	static struct gwbpf_schedule sc;
	int64_t now = wall_s();
	sc.n = 2;
	gwbpf_active_mask(c->ir, noon_wed, &sc.active[0]);
	sc.start_s[0] = now;
	gwbpf_active_mask(c->ir, play, &sc.active[1]);
	sc.start_s[1] = now + 2;
	sc.end_s = now + 4;
	closed_mask(c->ir, &sc.closed);
	assert_int_equal(gwbpf_set_timeline(c->g, &sc), 1);
	uint32_t number = (uint32_t)gwbpf_epoch(c->g);
	assert_int_equal(number % GWBPF_TIMELINE, 0);
	/* The same again: nothing written, the flows stay decided. */
	assert_int_equal(gwbpf_set_timeline(c->g, &sc), 0);
	assert_int_equal((uint32_t)gwbpf_epoch(c->g), number);

	/* Entry 0: no games. */
	assert_int_equal(run(c->g, &web), XDP_PASS);
	assert_int_equal(run(c->g, &game), XDP_DROP);
	assert_int_equal(flow_of(c->g, &web).epoch, number);
	assert_int_equal(flow_of(c->g, &game).rule, POL_RULE_DEFAULT);
	uint64_t reclass = counter(c->g, GWBPF_CNT_FLOW_RECLASS);

	/* Entry 1, with no write from here: games on; both cached flows are
	 * decided again under it. */
	sleep_until(now + 2, 100);
	assert_int_equal(run(c->g, &game), XDP_PASS);
	assert_int_equal(run(c->g, &web), XDP_PASS);
	assert_int_equal(counter(c->g, GWBPF_CNT_FLOW_RECLASS), reclass + 2);
	assert_int_equal(flow_of(c->g, &game).rule, rule_named(c->ir, "games"));
	assert_int_equal(flow_of(c->g, &game).epoch, number + 1);
	assert_int_equal(run(c->g, &game), XDP_PASS);
	assert_int_equal(counter(c->g, GWBPF_CNT_FLOW_RECLASS), reclass + 2);

	/* Past the end: closed.  Bedtime's block is on, games' allow off. */
	sleep_until(now + 4, 100);
	assert_int_equal(run(c->g, &web), XDP_DROP);
	assert_int_equal(flow_of(c->g, &web).rule, rule_named(c->ir, "bedtime"));
	assert_int_equal(run(c->g, &game), XDP_DROP);
	assert_int_equal(flow_of(c->g, &game).rule, POL_RULE_DEFAULT);
	assert_int_equal(flow_of(c->g, &game).epoch, number + 2);

	/* Bad timelines are refused; a moved boundary is written. */
	sc.start_s[1] = now - 1;
	assert_int_equal(gwbpf_set_timeline(c->g, &sc), -EINVAL);
	now = wall_s();
	sc.start_s[0] = now;
	sc.start_s[1] = now + 60;
	sc.end_s = now + 30;
	assert_int_equal(gwbpf_set_timeline(c->g, &sc), -EINVAL);
	sc.end_s = now + 120;
	assert_int_equal(gwbpf_set_timeline(c->g, &sc), 1);
	assert_int_equal(run(c->g, &game), XDP_DROP);
	sc.start_s[1] = now + 1;
	assert_int_equal(gwbpf_set_timeline(c->g, &sc), 1);
	sleep_until(now + 1, 100);
	assert_int_equal(run(c->g, &game), XDP_PASS);

	/* Staged with a generation: live at its commit, in one epoch. */
	struct gwbpf_bitmap act;
	gwbpf_active_mask(c->ir, noon_wed, &act);
	assert_int_equal(gwbpf_stage_timeline(c->g, &sc), -EINVAL);
	assert_int_equal(gwbpf_stage(c->g, c->img, &act), 0);
	now = wall_s();
	sc.start_s[0] = now;
	sc.start_s[1] = now + 2;
	sc.end_s = now + 100;
	assert_int_equal(gwbpf_stage_timeline(c->g, &sc), 0);
	assert_int_equal(run(c->g, &game), XDP_PASS);
	uint64_t before = gwbpf_epoch(c->g);
	assert_int_equal(gwbpf_commit(c->g), 0);
	assert_int_equal((uint32_t)gwbpf_epoch(c->g), (uint32_t)before + GWBPF_TIMELINE);
	assert_int_equal(run(c->g, &game), XDP_DROP);
	assert_int_equal(gwbpf_set_timeline(c->g, &sc), 0);
	sleep_until(now + 2, 100);
	assert_int_equal(run(c->g, &game), XDP_PASS);
}

/* gwbpf_timeline_build: the boundaries of the next 24 hours, minute-exact,
 * in the policy's time zone (UTC here), each with the full mask. */
static void schedule_build(void **state)
{
	struct ctx *c = *state;
	apply(c, timeline_policy, noon_wed);
	static struct gwbpf_schedule sc;
	struct gwbpf_bitmap first, closed, want;
	/* Wednesday 2026-12-02 12:00:30 UTC. */
	const int64_t noon = 1796212800 + 30;
	struct pol_when w;
	assert_int_equal(pol_when_at(c->ir, (time_t)noon, &w), 0);
	assert_int_equal(w.wday, noon_wed.wday);
	assert_int_equal(w.minute, noon_wed.minute);
	gwbpf_active_mask(c->ir, w, &first);
	closed_mask(c->ir, &closed);
	assert_int_equal(gwbpf_timeline_build(c->ir, noon, 86400, &first, &closed, &sc), 0);
	/* now; 16:00 games on; 18:00 off; 22:00 bedtime on; 06:00 off. */
	static const int64_t at[] = { 0, 4 * 3600, 6 * 3600, 10 * 3600, 18 * 3600 };
	static const int mins[] = { 720, 960, 1080, 1320, 360 };
	assert_int_equal(sc.n, 5);
	assert_int_equal(sc.start_s[0], noon);
	for (uint32_t i = 1; i < sc.n; i++) {
		assert_int_equal(sc.start_s[i], noon - 30 + at[i]);
		struct pol_when wi = { i == 4 ? 3 : 2, mins[i] };
		gwbpf_active_mask(c->ir, wi, &want);
		assert_memory_equal(&sc.active[i], &want, sizeof(want));
	}
	assert_int_equal(sc.end_s, noon - 30 + 86400);
	assert_memory_equal(&sc.closed, &closed, sizeof(closed));
	/* A short horizon: fewer boundaries. */
	assert_int_equal(gwbpf_timeline_build(c->ir, noon, 5 * 3600, &first, &closed, &sc), 0);
	assert_int_equal(sc.n, 2);
	assert_int_equal(sc.end_s, noon - 30 + 5 * 3600);
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
	assert_int_equal(classify_run(g, &o), 0);
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
	addr(&s, "10.0.0.2", "10.0.1.1");
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
	addr(&base, "10.0.0.2", "10.1.0.0");
	struct gwbpf_flow_key bk = flow_key(&base);
	const uint32_t bits = gwbpf_flow_set_bits(gwbpf_flows(c->g));
	const size_t sets_bytes = (size_t)gwbpf_flows(c->g) / GWBPF_FLOW_WAYS *
				  sizeof(struct gwbpf_flow_set);
	uint32_t set = gwbpf_flow_hash(&bk, seed, bits, &tag, &rtag);
	int n = 0;
	for (uint32_t i = 0; i < (1u << 22) && n < GWBPF_FLOW_WAYS + 1; i++) {
		struct spec t = base;
		t.sport = (uint16_t)(1024 + i % 60000);
		t.dst[3] = (uint8_t)(i / 60000);
		struct gwbpf_flow_key tk = flow_key(&t);
		if (gwbpf_flow_hash(&tk, seed, bits, &t2, &r2) != set)
			continue;
		/* Its reverse tuple: the same set, the tags swapped. */
		struct gwbpf_flow_key rk = tk;
		memcpy(rk.src, tk.dst, 16);
		memcpy(rk.dst, tk.src, 16);
		rk.sport = tk.dport;
		rk.dport = tk.sport;
		__u64 t3, r3;
		assert_int_equal(gwbpf_flow_hash(&rk, seed, bits, &t3, &r3), set);
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
	struct gwbpf_flow_set *sets = mmap(NULL, sets_bytes,
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
	munmap(sets, sets_bytes);

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
	unsigned refused; /* --tc: frames the kernel's skb test_run refuses */
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
	int r = classify_run(cr->g, &o);
	/* An skb's test_run refuses some short frames outright (EINVAL
	 * before the program runs: 3 of the corpus's 7 232 here); XDP's
	 * takes them all.  Counted, and bounded below. */
	if (r == -EINVAL && tc_hook) {
		cr->refused++;
		return;
	}
	if (r < 0 || (o.retval != XDP_PASS && o.retval != XDP_DROP && o.retval != XDP_TX))
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
	/* The captures come from every network there is: a port that takes
	 * any source, so their packets reach the policy (anti-spoofing has its
	 * own tests). */
	const struct gwbpf_src_prefix any[] = { { .family = 4 }, { .family = 6 } };
	assert_int_equal(gwbpf_port_prefixes(c->g, lo_ifindex, any, 2), 0);
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
			v[GWBPF_CNT_REJECT_DROP] + v[GWBPF_CNT_NOT_IP] + v[GWBPF_CNT_TRUNCATED] +
			v[GWBPF_CNT_VLAN_DEEP] + v[GWBPF_CNT_IP6_DEEP] + v[GWBPF_CNT_LOCAL] +
			v[GWBPF_CNT_NO_POLICY] + v[GWBPF_CNT_SPOOFED] + v[GWBPF_CNT_MAP_MISS] +
			v[GWBPF_CNT_RATE_DROP];
	print_message("corpus: %u files (%u Ethernet, %u unreadable), %u frames: %llu passed, "
		      "%llu dropped, %llu rejected, %llu not IP, %llu truncated, %llu past the "
		      "tags, %llu past the extension headers, %llu local\n",
		      files, ether, unreadable, cr.frames, (unsigned long long)v[GWBPF_CNT_PASS],
		      (unsigned long long)v[GWBPF_CNT_DROP], (unsigned long long)v[GWBPF_CNT_REJECT],
		      (unsigned long long)v[GWBPF_CNT_NOT_IP],
		      (unsigned long long)v[GWBPF_CNT_TRUNCATED],
		      (unsigned long long)v[GWBPF_CNT_VLAN_DEEP],
		      (unsigned long long)v[GWBPF_CNT_IP6_DEEP],
		      (unsigned long long)v[GWBPF_CNT_LOCAL]);
	if (tc_hook)
		print_message("corpus: %u frames refused by the skb test_run\n", cr.refused);
	assert_int_equal(cr.bad, 0);
	assert_true(cr.refused * 100 <= cr.frames);
	assert_true(cr.frames > 1000);
	assert_int_equal(v[GWBPF_CNT_PACKETS], cr.frames);
	assert_int_equal(ends, cr.frames);
	assert_int_equal(v[GWBPF_CNT_MAP_MISS], 0);
	assert_int_equal(v[GWBPF_CNT_SPOOFED], 0);
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
	/* The shapes the parser and the flow table must not be fooled by. */
	unsigned vlan_deep, ip6_deep, spoofed, primed, primers_spoofed, answers;
	uint64_t ns;
};

/* The port's sources in the tests (lan_prefixes, less link-local). */
static bool in_lan(uint8_t family, const uint8_t *a)
{
	return family == 4 ? a[0] == 10 : a[0] == 0xfd;
}

/* A random address of the port (spoof: outside its prefixes). */
static void random_src(struct rp_rng *r, uint8_t family, bool spoof, uint8_t *a)
{
	uint64_t x = rp_next(r), y = rp_next(r);
	memset(a, 0, 16);
	memcpy(a, &x, 8);
	if (family == 6)
		memcpy(a + 8, &y, 8);
	else
		memset(a + 4, 0, 12);
	a[0] = family == 4 ? 10 : 0xfd;
	if (spoof) {
		/* Anything else but link-local (which the port accepts),
		 * multicast and IPv4's 0/8 and 224/3 (not routed). */
		static const uint8_t v4[] = { 11, 100, 172, 192, 198, 203, 9, 1 };
		static const uint8_t v6[] = { 0x20, 0x26, 0xfc, 0x3f, 0x24 };
		a[0] = family == 4 ? v4[rp_below(r, sizeof(v4))] : v6[rp_below(r, sizeof(v6))];
	}
}

/* The reference fate of a frame before any policy: what the parser cannot
 * walk within policy/pktlimits.h, and a source outside the port's, are
 * dropped (GWBPF_CNT_*), else 0: the policy decides. */
static int ref_fate(const struct spec *s)
{
	if (s->vlans > GW_PKT_MAX_VLAN)
		return GWBPF_CNT_VLAN_DEEP;
	if (s->family == 6) {
		int n = s->nchain + (s->ext == EXT_HOP_DST ? 2 : s->ext == EXT_NONE ? 0 : 1);
		/* A later fragment's header ends the walk. */
		int walked = s->ext == EXT_FRAG_LATER ? s->nchain + 1 : n;
		if (walked > GW_PKT_MAX_IP6_EXT)
			return GWBPF_CNT_IP6_DEEP;
	}
	if (!in_lan(s->family, s->src) && !(s->family == 6 && s->src[0] == 0xfe &&
					     (s->src[1] & 0xc0) == 0x80))
		return GWBPF_CNT_SPOOFED;
	return 0;
}

/* The evaluator's facts for what s carries. */
static struct pol_facts facts_of(const struct pol_ir *ir, const struct spec *s,
				 struct pol_when when, uint64_t domain_sets)
{
	struct pol_facts f = { .device = pol_device_by_mac(ir, s->mac), .family = s->family,
			       .proto = s->proto, .when = when, .domain_sets = domain_sets };
	int later = s->v4_later_fragment || s->ext == EXT_FRAG_LATER;
	if (!later && (s->proto == IPPROTO_TCP || s->proto == IPPROTO_UDP))
		f.dport = s->dport;
	memcpy(f.dst, s->dst, 16);
	return f;
}

/* Forget s's flow, if cached, and the rate bucket it may have drawn on:
 * many cases share a device and a rule, each starts afresh. */
static void forget_case(struct ctx *c, const struct spec *s)
{
	struct gwbpf_flow_key k = flow_key(s);
	struct gwbpf_flow fl;
	if (gwbpf_flow_get(c->g, &k, &fl) < 0)
		return;
	assert_int_equal(gwbpf_flow_delete(c->g, &k), 0);
	if (fl.flags & POL_TABLES_RULE_RATE) {
		struct gwbpf_rate_key rk = {
			.rule = fl.rule, .device = fl.device,
			.slot = gwbpf_epoch(c->g) & GWBPF_EPOCH_SLOT ? 1 : 0,
			.dir = GWBPF_DIR_UP,
		};
		if (fl.device == POL_NONE)
			memcpy(rk.mac, s->mac, 6);
		bpf_map_delete_elem(gwbpf_map_fd(c->g, GWBPF_MAP_RATES), &rk);
	}
}

static void diff_fail(const char *text, const char *what, const struct spec *s,
		      const struct pol_facts *f, uint32_t got, const struct gwbpf_flow *fl,
		      uint32_t want_ret, const struct pol_verdict *want)
{
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	inet_ntop(s->family == 4 ? AF_INET : AF_INET6, s->src, a, sizeof(a));
	inet_ntop(s->family == 4 ? AF_INET : AF_INET6, s->dst, b, sizeof(b));
	fail_msg("%s\n%s: mac %02x:%02x:%02x:%02x:%02x:%02x %s -> %s proto %u sport %u dport %u "
		 "vlans %d%s chain %d ext %d domains %#llx when %u/%u: program %u rule %u "
		 "action %u device %u, want %u rule %u action %u",
		 text, what, s->mac[0], s->mac[1], s->mac[2], s->mac[3], s->mac[4], s->mac[5], a,
		 b, s->proto, s->sport, s->dport, s->vlans, s->vid0 ? " (VID 0)" : "",
		 s->nchain, (int)s->ext, (unsigned long long)f->domain_sets, f->when.wday,
		 f->when.minute, got, fl ? fl->rule : 0, fl ? fl->action : 0,
		 fl ? fl->device : 0, want_ret, want->rule, want->action);
}

/* A reason the program counts itself (not a derived one), summed over
 * the CPUs straight from gw_counters: cheaper than gwbpf_counters(). */
static uint64_t raw_counter(struct gwbpf *g, enum gwbpf_counter which)
{
	static struct gwbpf_counters *v;
	static int ncpus;
	if (!v) {
		ncpus = libbpf_num_possible_cpus();
		assert_true(ncpus > 0);
		v = calloc((size_t)ncpus, sizeof(*v));
		assert_non_null(v);
	}
	uint32_t k = 0;
	assert_int_equal(bpf_map_lookup_elem(gwbpf_map_fd(g, GWBPF_MAP_COUNTERS), &k, v), 0);
	uint64_t n = 0;
	for (int i = 0; i < ncpus; i++)
		n += v[i].n[which];
	return n;
}

/* The verdict the program must give, schedules by the model's plain table
 * of the week (not by pol_schedule_active, which the mask comes from). */
static void reference(struct ctx *c, const struct rp_model *model, const char *text,
		      const struct pol_facts *f, struct pol_verdict *ret)
{
	if (!rp_reference(c->ir, model, f, ret))
		fail_msg("%s\nwhen %u/%u: the evaluator and the schedules as written disagree",
			 text, f->when.wday, f->when.minute);
}

/* One packet against the reference: its fate before the policy, else the
 * reference verdict, cached as its own flow. */
static uint32_t diff_run(struct ctx *c, const struct rp_model *model, const char *text,
			 const char *what, const struct spec *s, const struct pol_facts *f,
			 struct diffstat *ds)
{
	int fate = ref_fate(s);
	uint64_t before = fate ? raw_counter(c->g, (enum gwbpf_counter)fate) : 0;
	struct pol_verdict want = { .action = POL_BLOCK };
	if (!fate)
		reference(c, model, text, f, &want);
	uint32_t want_ret = fate ? XDP_DROP : want_xdp(s, want.action);
	uint32_t ns = 0, got = run_ex(c->g, s, 1, &ns);
	struct gwbpf_flow_key k = flow_key(s);
	struct gwbpf_flow fl;
	bool cached = gwbpf_flow_get(c->g, &k, &fl) == 0;
	if (fate) {
		if (got != XDP_DROP || cached ||
		    raw_counter(c->g, (enum gwbpf_counter)fate) != before + 1)
			diff_fail(text, what, s, f, got, cached ? &fl : NULL, want_ret, &want);
		ds->vlan_deep += fate == GWBPF_CNT_VLAN_DEEP;
		ds->ip6_deep += fate == GWBPF_CNT_IP6_DEEP;
		ds->spoofed += fate == GWBPF_CNT_SPOOFED;
		return got;
	}
	if (got != want_ret || !cached || fl.rule != want.rule || fl.action != want.action ||
	    fl.device != f->device)
		diff_fail(text, what, s, f, got, cached ? &fl : NULL, want_ret, &want);
	ds->rated += !!(fl.flags & POL_TABLES_RULE_RATE);
	ds->defaults += want.rule >= POL_RULE_DEFAULT_NEW;
	ds->ns += ns;
	return got;
}

enum shape { SHAPE_PLAIN, SHAPE_DEEP, SHAPE_SPOOFED, SHAPE_PRIMED, SHAPE_ANSWER };

static void diff_policy(struct ctx *c, struct rp_rng *r, const struct rp_shape *shape,
			unsigned groups, unsigned per_group, struct diffstat *ds)
{
	static const uint8_t exts[] = { 0, 43, 60, 51, 135, 139, 140, 253, 254 };
	struct rp_model model;
	char *text = rp_policy_model(r, shape, &model);
	pol_tables_free(c->img);
	pol_ir_free(c->ir);
	c->img = NULL;
	c->ir = rp_load(text);
	assert_non_null(c->ir);
	assert_int_equal(c->ir->nrules, model.nrules);
	assert_int_equal(c->ir->nrules, model.nrules);
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
			/* An IPv6 next header that pktlimits.h walks as an
			 * extension header (253, 254) is no transport: the
			 * chains below carry those. */
			if (f.family == 6 && GW_PKT_IP6_IS_EXT(f.proto))
				f.proto = 59; /* no next header */
			/* Most cases plain; the rest in the shapes a device could
			 * use to get past its policy. */
			uint32_t pick = rp_below(r, 20);
			enum shape sh = pick < 12 ? SHAPE_PLAIN : pick < 14 ? SHAPE_DEEP
					: pick < 16 ? SHAPE_SPOOFED : pick < 18 ? SHAPE_PRIMED
					: SHAPE_ANSWER;
			struct spec s = { .family = f.family, .proto = f.proto, .dport = f.dport,
					  .sport = (uint16_t)(1 + rp_below(r, 65535)) };
			memcpy(s.mac, mac, 6);
			if (sh == SHAPE_PRIMED && rp_below(r, 2)) {
				/* Aimed at a host of the port's own LAN: the primer's
				 * source then passes anti-spoofing. */
				random_src(r, f.family, false, f.dst);
				f.domain_sets = 0;
			}
			memcpy(s.dst, f.dst, 16);
			random_src(r, f.family, sh == SHAPE_SPOOFED, s.src);
			/* Every way of carrying the same facts decides the same,
			 * within the parser's limits. */
			s.vlans = (int)rp_below(r, GW_PKT_MAX_VLAN + 1);
			s.vid0 = (int)rp_below(r, 2);
			if (f.family == 4) {
				s.v4_options = (int)rp_below(r, 3);
			} else {
				s.ext = (enum v6ext)rp_below(r, 3); /* none, options, first fragment */
				int room = GW_PKT_MAX_IP6_EXT - (s.ext == EXT_HOP_DST ? 2 : s.ext ? 1 : 0);
				s.nchain = (int)rp_below(r, (uint32_t)room + 1);
			}
			if (sh == SHAPE_DEEP) {
				/* Past the limits, or right at them. */
				if (f.family == 6 && rp_below(r, 2)) {
					s.ext = EXT_NONE;
					s.nchain = GW_PKT_MAX_IP6_EXT - 1 + (int)rp_below(r, 4);
				} else {
					s.vlans = GW_PKT_MAX_VLAN + (int)rp_below(r, 3);
				}
			}
			for (int i = 0; i < s.nchain; i++)
				s.chain[i] = exts[rp_below(r, sizeof(exts))];
			if (f.domain_sets)
				assert_int_equal(gwbpf_domain_set(c->g, false, f.family, f.dst,
								  f.domain_sets, UINT64_MAX), 0);
			struct spec other = reply_to(&s, mac);
			if (sh == SHAPE_PRIMED) {
				/* The device first sends the reverse tuple, as if from
				 * the server: a flow of its own (or spoofed, dropped),
				 * never one its real connection answers. */
				other.vlans = 0;
				other.nchain = 0;
				other.ext = EXT_NONE;
				other.v4_options = 0;
				struct pol_facts pf = facts_of(c->ir, &other, when, 0);
				ds->primers_spoofed += ref_fate(&other) == GWBPF_CNT_SPOOFED;
				diff_run(c, &model, text, "primer", &other, &pf, ds);
				ds->primed++;
			}
			if (sh == SHAPE_ANSWER && ref_fate(&s) == 0) {
				/* Another device of the port opened the connection:
				 * this packet answers it, with its verdict. */
				memcpy(other.mac, mac_x, 6);
				other.mac[5] = (uint8_t)(1 + rp_below(r, 200));
				if (!memcmp(other.mac, mac, 6))
					other.mac[4] ^= 1;
				random_src(r, f.family, false, other.src);
				memcpy(s.dst, other.src, 16);
				other.vlans = 0;
				other.nchain = 0;
				other.ext = EXT_NONE;
				other.v4_options = 0;
				other.tcp_flags = 0;
				struct pol_facts of = facts_of(c->ir, &other, when, 0);
				struct pol_verdict ov;
				reference(c, &model, text, &of, &ov);
				diff_run(c, &model, text, "opener", &other, &of, ds);
				uint64_t replies = raw_counter(c->g, GWBPF_CNT_FLOW_REPLY);
				s.tcp_flags = TCP_SYN | TCP_ACK;
				uint32_t got = run(c->g, &s);
				struct gwbpf_flow_key sk = flow_key(&s);
				struct gwbpf_flow sf;
				if (got != want_xdp(&s, ov.action) ||
				    raw_counter(c->g, GWBPF_CNT_FLOW_REPLY) != replies + 1 ||
				    gwbpf_flow_get(c->g, &sk, &sf) == 0)
					diff_fail(text, "answer", &s, &f, got, NULL,
						  want_xdp(&s, ov.action), &ov);
				ds->answers++;
				forget_case(c, &other);
			} else {
				uint32_t got = diff_run(c, &model, text, "case", &s, &f, ds);
				if (!ref_fate(&s)) {
					ds->cases++;
					ds->dropped += got == XDP_DROP;
					ds->answered += got == XDP_TX;
				}
				if (sh == SHAPE_PRIMED)
					forget_case(c, &other);
			}
			forget_case(c, &s);
			if (f.domain_sets)
				assert_int_equal(gwbpf_domain_set(c->g, false, f.family, f.dst, 0, 0),
						 0);
		}
	}
	rp_model_free(&model);
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
		diff_policy(c, &r, &shape, 4, 40, &ds);
	}
	struct rp_shape big = { .rules = GWBPF_MAX_RULES, .devices = 200, .lists = 80 };
	struct rp_shape bign = big;
	bign.narrow = true;
	unsigned small = ds.cases;
	diff_policy(c, &r, &big, 2, 650, &ds);
	diff_policy(c, &r, &bign, 2, 650, &ds);
	print_message("differential through the program: %u cases (%u at 4096 rules), "
		      "%u dropped, %u answered, %u by a default, %u rate-limited; "
		      "%llu ns per new flow on average; shapes: %u past the tags, %u past the "
		      "extension headers, %u spoofed, %u primed (%u primers spoofed), "
		      "%u answers\n",
		      ds.cases, ds.cases - small, ds.dropped, ds.answered, ds.defaults, ds.rated,
		      (unsigned long long)(ds.ns / ds.cases), ds.vlan_deep, ds.ip6_deep,
		      ds.spoofed, ds.primed, ds.primers_spoofed, ds.answers);
	assert_true(ds.cases >= 10000);
	assert_true(ds.dropped > ds.cases / 10 && ds.answered > ds.cases / 10);
	assert_true(ds.dropped + ds.answered < ds.cases - ds.cases / 10);
	assert_true(ds.defaults > ds.cases / 20);
	assert_true(ds.rated > ds.cases / 200);
	assert_true(ds.vlan_deep > 200 && ds.ip6_deep > 100 && ds.spoofed > 500);
	assert_true(ds.primed > 500 && ds.primed - ds.primers_spoofed > 200 && ds.answers > 500);
}

/* test_ebpf_prog            every test but the corpus
 * test_ebpf_prog --corpus D  the tcpdump corpus in D only (77 if D is missing) */
int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "--tc")) {
		tc_hook = true;
		argv[1] = argv[0];
		argc--;
		argv++;
	}
	bool corpus_only = argc == 3 && !strcmp(argv[1], "--corpus");
	if (argc != 1 && !corpus_only) {
		fprintf(stderr, "usage: %s [--tc] [--corpus DIR]\n", argv[0]);
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
	if (geteuid() != 0)
		return gwtest_cannot_run("BPF needs root");
	/* Skipped only where no BPF program loads at all: once a trivial
	 * one does, the verifier refusing the classifier is a failure. */
	struct bpf_insn probe[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int pfd = bpf_prog_load(BPF_PROG_TYPE_XDP, "gw_probe", "GPL", probe, 2, NULL);
	if (pfd < 0)
		return gwtest_cannot_run("BPF is not permitted here (%s)", strerror(errno));
	close(pfd);
	struct gwbpf *g = NULL;
	int r = gwbpf_new(&g);
	if (r < 0) {
		fprintf(stderr, "cannot load the classifier: %s\n", strerror(-r));
		return 1;
	}
	lo_ifindex = (int)if_nametoindex("lo");
	gwbpf_free(g);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(no_policy_passes, setup, teardown),
		cmocka_unit_test_setup_teardown(parse_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(not_governed, setup, teardown),
		cmocka_unit_test_setup_teardown(derived_counters, setup, teardown),
		cmocka_unit_test_setup_teardown(truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(fail_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(spoofed_sources, setup, teardown),
		cmocka_unit_test_setup_teardown(primed_replies, setup, teardown),
		cmocka_unit_test_setup_teardown(flows_and_generations, setup, teardown),
		cmocka_unit_test_setup_teardown(schedule_timeline, setup, teardown),
		cmocka_unit_test_setup_teardown(schedule_build, setup, teardown),
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
