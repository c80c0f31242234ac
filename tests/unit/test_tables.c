/* SPDX-License-Identifier: MIT */
/*
 * The policy's bit-vector tables (policy/tables.c), walked by
 * pol_tables_classify(), against the reference evaluator: hand-picked
 * cases, then random policies and packets, at the eBPF maps' limits
 * (4096 rules, 8192 bitmaps) and at the fast path's (16384 rules, 65535
 * bitmaps).  GW_SEED=n replays a seed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "randpol.h"
#include "tables.h"

/* The eBPF maps' limits (ebpf/gw_bpf_abi.h), and the fast path's
 * (dataplane/classify.h): the two ways the engines build their tables. */
#define BPF_RULES   4096u
#define BPF_BITMAPS 8192u
#define DP_RULES    16384u

static int build(const struct pol_ir *ir, struct pol_tables **ret)
{
	return pol_tables_build(ir, BPF_RULES, BPF_BITMAPS, ret);
}

static struct pol_ir *load_ok(const char *text)
{
	struct pol_ir *ir = rp_load(text);
	assert_non_null(ir);
	return ir;
}

static uint64_t seed(void)
{
	const char *s = getenv("GW_SEED");
	return s ? strtoull(s, NULL, 0) : 0x6077u;
}

static void to_packet(const struct pol_facts *f, const uint8_t mac[6], struct pol_tables_packet *p)
{
	*p = (struct pol_tables_packet){ .family = f->family, .proto = f->proto, .dport = f->dport,
				    .domain_sets = f->domain_sets };
	memcpy(p->src_mac, mac, 6);
	memcpy(p->dst, f->dst, 16);
}

/* One case: the tables' verdict must be the evaluator's, rule and all.
 * With a model (a random policy), schedules are the model's plain table,
 * not pol_schedule_active, which the engines' mask comes from too. */
static uint32_t check_case(const struct pol_ir *ir, const struct pol_tables *img,
			   const struct pol_facts *f, const uint8_t mac[6], const char *text,
			   const struct rp_model *model)
{
	struct pol_verdict want;
	struct pol_tables_verdict got;
	uint64_t *active = calloc(img->words, sizeof(*active));
	struct pol_tables_packet p;
	assert_non_null(active);
	if (!model)
		pol_eval(ir, f, &want, NULL);
	else if (!rp_reference(ir, model, f, &want))
		fail_msg("%s\nwhen %u/%u: the evaluator and the schedules as written disagree "
			 "(rule %u by the schedules as written)", text, f->when.wday, f->when.minute,
			 want.rule);
	pol_active_rules(ir, f->when, active);
	to_packet(f, mac, &p);
	pol_tables_classify(img, active, &p, &got);
	free(active);
	if (got.rule != want.rule || got.action != want.action ||
	    got.rate_bps != want.rate_bps || !!(got.flags & POL_TABLES_RULE_LOG) != want.log ||
	    got.device != f->device) {
		char a[INET6_ADDRSTRLEN];
		inet_ntop(f->family == 4 ? AF_INET : AF_INET6, f->dst, a, sizeof(a));
		fail_msg("%s\nmac %02x:%02x:%02x:%02x:%02x:%02x dev %u dst %s proto %u dport %u "
			 "domains %#llx when %u/%u: tables rule %u action %u rate %llu, "
			 "evaluator rule %u action %u rate %llu",
			 text, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], f->device, a,
			 f->proto, f->dport, (unsigned long long)f->domain_sets, f->when.wday,
			 f->when.minute, got.rule, got.action, (unsigned long long)got.rate_bps,
			 want.rule, want.action, (unsigned long long)want.rate_bps);
	}
	return want.rule;
}

static struct pol_facts facts(const struct pol_ir *ir, const uint8_t mac[6], const char *dst,
			      uint8_t proto, uint16_t port)
{
	struct pol_facts f = { .proto = proto, .dport = port, .when = { 2, 720 } };
	f.device = pol_device_by_mac(ir, mac);
	if (inet_pton(AF_INET, dst, f.dst) == 1) {
		f.family = 4;
	} else {
		assert_int_equal(inet_pton(AF_INET6, dst, f.dst), 1);
		f.family = 6;
	}
	return f;
}

static const uint8_t tab[6] = { 2, 0, 0, 0, 0, 1 }, cam[6] = { 2, 0, 0, 0, 0, 3 },
		     stranger[6] = { 0x10, 0, 0, 0, 0, 9 };

static const char *home =
	"person ann\nperson bob\ngroup kids\ngroup iot\n"
	"device tab mac 02:00:00:00:00:01 owner bob group kids\n"
	"device lap mac 02:00:00:00:00:02 owner ann\n"
	"device cam mac 02:00:00:00:00:03 group iot\n"
	"list vendor prefixes { 203.0.113.0/24, 2001:db8::/32 }\n"
	"list inner prefixes { 203.0.113.128/25, 10.1.0.0/16 }\n"
	"list ads domains { ads.example, *.track.example }\n"
	"rule no-ads block any to list ads\n"
	"rule cam-inner reject device cam to list inner\n"
	"rule cam-cloud allow device cam to list vendor proto tcp port 443\n"
	"rule cam-else reject device cam\n"
	"rule kids-web allow group kids to internet port 80, 443, 8000-8999\n"
	"rule kids-rest block group kids\n"
	"rule bob-dns allow person bob to lan proto udp port 53\n"
	"rule ping allow any proto icmp\n"
	"rule newbie allow new to internet rate 1mbit log\n"
	"default allow\ndefault new block\n";

/* The classes behind each field, and a few verdicts by hand. */
static void hand_picked(void **state)
{
	struct pol_ir *ir = load_ok(home);
	struct pol_tables *img = NULL;
	assert_int_equal(build(ir, &img), 0);
	assert_int_equal(img->head.nrules, ir->nrules);
	assert_int_equal(img->nmacs, 3);
	/* Rows of whole cache lines, as wide as the rules need. */
	assert_int_equal(img->words, 8);
	/* no-ads names a domain set. */
	assert_true(img->head.flags & POL_TABLES_F_DOMAINS);
	/* 8000-8999 is one class inside, its edges are not. */
	assert_int_equal(img->ports[8000], img->ports[8999]);
	assert_int_not_equal(img->ports[7999], img->ports[8000]);
	assert_int_not_equal(img->ports[9000], img->ports[8999]);
	assert_int_equal(img->ports[0], img->ports[65535]);

	struct pol_facts f;
	f = facts(ir, cam, "203.0.113.9", IPPROTO_TCP, 443);
	check_case(ir, img, &f, cam, home, NULL);
	struct pol_verdict v;
	pol_eval(ir, &f, &v, NULL);
	assert_string_equal(pol_ir_str(ir, ir->rules[v.rule].name), "cam-cloud");
	/* The nested prefix decides for the inner half of vendor. */
	f = facts(ir, cam, "203.0.113.200", IPPROTO_TCP, 443);
	pol_eval(ir, &f, &v, NULL);
	assert_string_equal(pol_ir_str(ir, ir->rules[v.rule].name), "cam-inner");
	check_case(ir, img, &f, cam, home, NULL);
	f = facts(ir, tab, "198.51.100.1", IPPROTO_TCP, 8999);
	check_case(ir, img, &f, tab, home, NULL);
	f.dport = 9000;
	check_case(ir, img, &f, tab, home, NULL);
	f = facts(ir, tab, "10.1.2.3", IPPROTO_UDP, 53);
	check_case(ir, img, &f, tab, home, NULL);
	f.domain_sets = 1;
	check_case(ir, img, &f, tab, home, NULL);
	f = facts(ir, stranger, "2001:db8::1", IPPROTO_ICMPV6, 0);
	check_case(ir, img, &f, stranger, home, NULL);
	f = facts(ir, stranger, "8.8.8.8", IPPROTO_UDP, 53);
	struct pol_tables_verdict got;
	uint64_t all[BPF_RULES / 64];
	struct pol_tables_packet p;
	memset(all, 0xff, sizeof(all));
	to_packet(&f, stranger, &p);
	pol_tables_classify(img, all, &p, &got);
	assert_int_equal(got.action, POL_TABLES_ALLOW);
	assert_int_equal(got.rate_bps, 1000000);
	assert_true(got.flags & POL_TABLES_RULE_LOG);
	assert_int_equal(got.device, POL_NONE);
	pol_tables_free(img);
	pol_ir_free(ir);

	/* Without a domain rule, the flag says the domain table need not be
	 * looked at. */
	ir = load_ok("rule a block any port 25\ndefault allow\n");
	assert_int_equal(build(ir, &img), 0);
	assert_false(img->head.flags & POL_TABLES_F_DOMAINS);
	pol_tables_free(img);
	/* Limits the tables cannot honour. */
	assert_int_equal(pol_tables_build(ir, BPF_RULES, 70, &img), -EINVAL);
	assert_int_equal(pol_tables_build(ir, BPF_RULES, POL_TABLES_MAX_BITMAPS + 1, &img),
			 -EINVAL);
	assert_int_equal(pol_tables_build(ir, 0, BPF_BITMAPS, &img), -E2BIG);
	pol_ir_free(ir);
}

static void too_many_rules(void **state)
{
	size_t cap = 64 * (BPF_RULES + 2);
	char *text = malloc(cap);
	size_t len = 0;
	assert_non_null(text);
	for (unsigned i = 0; i <= BPF_RULES; i++)
		len += (size_t)snprintf(text + len, cap - len, "rule r%u block new port %u\n", i,
					1 + i);
	snprintf(text + len, cap - len, "default allow\n");
	struct pol_ir *ir = load_ok(text);
	struct pol_tables *img = NULL;
	assert_int_equal(build(ir, &img), -E2BIG);
	assert_null(img);
	/* The fast path's tables take it: 4097 rules in 72 words. */
	assert_int_equal(pol_tables_build(ir, DP_RULES, POL_TABLES_MAX_BITMAPS, &img), 0);
	assert_int_equal(img->words, 72);
	struct pol_facts f = facts(ir, stranger, "192.0.2.1", IPPROTO_UDP, BPF_RULES + 1);
	assert_int_equal(check_case(ir, img, &f, stranger, "4097 port rules", NULL), BPF_RULES);
	pol_tables_free(img);
	pol_ir_free(ir);
	free(text);
}

/* Sliding port windows: every port from 1 to 8192 is a class of its own,
 * more than a slot holds. */
static void too_many_classes(void **state)
{
	size_t cap = 64 * (BPF_RULES + 2);
	char *text = malloc(cap);
	size_t len = 0;
	assert_non_null(text);
	for (unsigned i = 0; i < BPF_RULES; i++)
		len += (size_t)snprintf(text + len, cap - len, "rule r%u block new port %u-%u\n",
					i, 1 + i, 1 + i + BPF_RULES);
	snprintf(text + len, cap - len, "default allow\n");
	struct pol_ir *ir = load_ok(text);
	struct pol_tables *img = NULL;
	assert_int_equal(build(ir, &img), -E2BIG);
	assert_null(img);
	/* Within what a u16 bitmap index names. */
	assert_int_equal(pol_tables_build(ir, DP_RULES, POL_TABLES_MAX_BITMAPS, &img), 0);
	assert_true(img->head.nbitmaps > BPF_BITMAPS);
	for (unsigned port = 1; port <= 2 * BPF_RULES + 2; port += 7) {
		struct pol_facts f = facts(ir, stranger, "192.0.2.1", IPPROTO_TCP, (uint16_t)port);
		check_case(ir, img, &f, stranger, "sliding port windows", NULL);
	}
	pol_tables_free(img);
	pol_ir_free(ir);
	free(text);
}

/* 4096 rules, each on its own port: the last rule is reachable, and a
 * packet for it is decided by bit 4095. */
static void last_of_4096(void **state)
{
	size_t cap = 64 * (BPF_RULES + 2);
	char *text = malloc(cap);
	size_t len = 0;
	assert_non_null(text);
	for (unsigned i = 0; i < BPF_RULES; i++)
		len += (size_t)snprintf(text + len, cap - len, "rule r%u %s new port %u\n", i,
					i % 2 ? "allow" : "reject", 1 + i);
	snprintf(text + len, cap - len, "default block\n");
	struct pol_ir *ir = load_ok(text);
	struct pol_tables *img = NULL;
	assert_int_equal(build(ir, &img), 0);
	for (unsigned port = 1; port <= BPF_RULES + 1; port++) {
		struct pol_facts f = facts(ir, stranger, "192.0.2.1", IPPROTO_UDP, (uint16_t)port);
		check_case(ir, img, &f, stranger, "4096 port rules", NULL);
	}
	struct pol_tables_packet p = { .family = 4, .proto = IPPROTO_TCP, .dport = 4096 };
	memcpy(p.src_mac, stranger, 6);
	uint64_t all[BPF_RULES / 64];
	struct pol_tables_verdict got;
	memset(all, 0xff, sizeof(all));
	pol_tables_classify(img, all, &p, &got);
	assert_int_equal(got.rule, 4095);
	pol_tables_free(img);
	pol_ir_free(ir);
	free(text);
}

/* What the random cases covered: the test is only as good as its spread. */
struct spread {
	unsigned cases, defaults, high; /* high: decided by a rule >= 2048 */
};

/* max_rules: BPF_RULES (with BPF_BITMAPS) or DP_RULES (with as many
 * bitmaps as can be named), as each engine builds them. */
static void run_random(struct rp_rng *r, const struct rp_shape *shape, unsigned policies,
		       unsigned packets, uint32_t max_rules, struct spread *sp)
{
	uint32_t max_bitmaps = max_rules == BPF_RULES ? BPF_BITMAPS : POL_TABLES_MAX_BITMAPS;
	for (unsigned i = 0; i < policies; i++) {
		struct rp_model model;
		char *text = rp_policy_model(r, shape, &model);
		struct pol_ir *ir = load_ok(text);
		assert_int_equal(ir->nrules, model.nrules);
		struct pol_tables *img = NULL;
		int rc = pol_tables_build(ir, max_rules, max_bitmaps, &img);
		if (rc)
			fail_msg("image build: %d for\n%s", rc, text);
		for (unsigned k = 0; k < packets; k++) {
			struct pol_facts f;
			uint8_t mac[6];
			rp_packet(r, ir, mac, &f);
			uint32_t rule = check_case(ir, img, &f, mac, text, &model);
			sp->cases++;
			sp->defaults += rule >= POL_TABLES_RULE_DEFAULT_NEW;
			sp->high += rule < POL_TABLES_RULE_DEFAULT_NEW && rule >= 2048;
		}
		pol_tables_free(img);
		pol_ir_free(ir);
		rp_model_free(&model);
		free(text);
	}
}

static void random_small(void **state)
{
	struct rp_rng r = { seed() };
	struct spread sp = { 0 };
	for (unsigned size = 0; size < 8; size++) {
		struct rp_shape shape = { .rules = 1 + size % 4 * 10, .devices = 1 + size % 4 * 3,
					  .lists = size % 4 * 2, .narrow = size >= 4 };
		run_random(&r, &shape, 100, 40, size % 2 ? DP_RULES : BPF_RULES, &sp);
	}
	print_message("random small policies: %u cases, %u by a default\n", sp.cases,
		      sp.defaults);
	assert_true(sp.cases >= 20000);
	assert_true(sp.defaults > sp.cases / 10);
}

static void random_4096(void **state)
{
	struct rp_rng r = { seed() ^ 0x4096 };
	struct rp_shape wide = { .rules = BPF_RULES, .devices = 200, .lists = 80 };
	struct rp_shape narrow = { .rules = BPF_RULES, .devices = 200, .lists = 80,
				   .narrow = true };
	struct spread sp = { 0 };
	run_random(&r, &wide, 2, 2000, BPF_RULES, &sp);
	run_random(&r, &narrow, 3, 2000, BPF_RULES, &sp);
	print_message("4096-rule policies: %u cases, %u by a default, %u by rules >= 2048\n",
		      sp.cases, sp.defaults, sp.high);
	assert_true(sp.defaults > 100);
	assert_true(sp.high > 100);
}

/* Wider than the eBPF maps: the fast path's tables. */
static void random_10000(void **state)
{
	struct rp_rng r = { seed() ^ 0x10000 };
	struct rp_shape narrow = { .rules = 10000, .devices = 200, .lists = 80, .narrow = true };
	struct spread sp = { 0 };
	run_random(&r, &narrow, 1, 3000, DP_RULES, &sp);
	print_message("10000-rule policy: %u cases, %u by a default, %u by rules >= 2048\n",
		      sp.cases, sp.defaults, sp.high);
	assert_true(sp.defaults > 100);
	assert_true(sp.high > 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hand_picked),
		cmocka_unit_test(too_many_rules),
		cmocka_unit_test(too_many_classes),
		cmocka_unit_test(last_of_4096),
		cmocka_unit_test(random_small),
		cmocka_unit_test(random_4096),
		cmocka_unit_test(random_10000),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
