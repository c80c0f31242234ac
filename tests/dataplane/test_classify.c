/* SPDX-License-Identifier: MIT */
/*
 * The fast path's classifier (classify.c alone, no DPDK) against the
 * reference evaluator on large policies whose deciding rules lie anywhere
 * in thousands: the shape of the dataplane bench's policies (rules that
 * each name a device, a protocol, a port and their own /32, a few wide
 * rules among them, and a last rule that takes everything else to
 * 198.18.0.0/15), with domain-set rules scattered in.  The classifier
 * reads only the 64-rule words every field's summary has, and of the
 * summary's words only those every field's top mask has; a word skipped
 * that holds the deciding rule, or a domain set's bits missed on a word,
 * gives another rule than the evaluator's.  Sizes on both sides of one
 * summary word (4 096 rules) and at the classifier's limit; each packet is
 * aimed at one rule (its device, protocol, port and /32, or only some of
 * them), the last rule's range, or nowhere, from a declared device or a
 * new one, with or without domain sets.  GW_SEED=n replays a seed.
 */
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "classify.h"
#include "eval.h"
#include "image.h"
#include "policy.h"
#include "gwtest.h"
#include "randpol.h"

#define DEVICES 40
#define LISTS 3

static struct rp_rng rng;

static uint64_t rnd(void)
{
	return rp_next(&rng);
}

/* What a generated rule names (dev: -1 any; dst: 0 its /32 203.a.b.c,
 * 1 198.18.0.0/15, 2 list s<list>; port 0: none). */
struct grule {
	int dev;
	int dst;
	unsigned list;
	uint8_t proto;
	uint16_t port;
	uint8_t a[4];
};

struct text {
	char *s;
	size_t n, cap;
};

static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char line[256];
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(line));
	if (t->n + (size_t)n + 1 > t->cap) {
		t->cap = (t->cap + (size_t)n + 1) * 2;
		t->s = realloc(t->s, t->cap);
		assert_non_null(t->s);
	}
	memcpy(t->s + t->n, line, (size_t)n + 1);
	t->n += (size_t)n;
}

/* nrules rules, the last "allow any to 198.18.0.0/15". */
static char *policy(unsigned nrules, struct grule *g)
{
	static const char *const action[] = { "allow", "block", "reject" };
	struct text t = { 0 };
	for (unsigned d = 0; d < DEVICES; d++)
		put(&t, "device d%u mac 02:20:00:00:%02x:%02x\n", d, d >> 8, d & 255);
	for (unsigned l = 0; l < LISTS; l++)
		put(&t, "list s%u domains { s%u.example }\n", l, l);
	for (unsigned i = 0; i + 1 < nrules; i++) {
		struct grule *r = &g[i];
		unsigned k = (unsigned)(rnd() % 1000);
		*r = (struct grule){ .dev = (int)(rnd() % DEVICES) };
		const char *act = action[rnd() % 3];
		if (k < 3) {
			/* Wide: a device's whole range of servers. */
			r->dst = 1;
			put(&t, "rule r%u %s device d%d to 198.18.0.0/15\n", i, act, r->dev);
		} else if (k < 30) {
			r->dst = 2;
			r->list = (unsigned)(rnd() % LISTS);
			r->dev = k < 10 ? -1 : r->dev;
			if (r->dev < 0)
				put(&t, "rule r%u %s any to list s%u\n", i, act, r->list);
			else
				put(&t, "rule r%u %s device d%d to list s%u\n", i, act, r->dev,
				    r->list);
		} else {
			r->proto = rnd() % 2 ? IPPROTO_TCP : IPPROTO_UDP;
			r->port = (uint16_t)(1 + rnd() % 20);
			/* Each its own /32, but for one in ten that shares an
			 * earlier rule's. */
			uint32_t a = i >= 10 && k % 10 == 0 ? (uint32_t)(rnd() % i) : i;
			if (a != i && g[a].dst == 0)
				memcpy(r->a, g[a].a, 4);
			else
				memcpy(r->a, (uint8_t[4]){ 203, (uint8_t)(i >> 16),
							  (uint8_t)(i >> 8), (uint8_t)i }, 4);
			put(&t, "rule r%u %s device d%d to %u.%u.%u.%u/32 proto %s port %u\n", i,
			    act, r->dev, r->a[0], r->a[1], r->a[2], r->a[3],
			    r->proto == IPPROTO_TCP ? "tcp" : "udp", r->port);
		}
	}
	g[nrules - 1] = (struct grule){ .dev = -1, .dst = 1 };
	put(&t, "rule last allow any to 198.18.0.0/15\n");
	put(&t, "default allow\ndefault new block\n");
	return t.s;
}

static struct dp_classify *load(const char *text)
{
	struct pol_ir *ir = gwtest_policy_ir("big.gw", text);
	if (!ir)
		fail_msg("the generated policy does not compile");
	struct dp_classify *c = NULL;
	assert_int_equal(dp_classify_new(ir, 1, &c), 0);
	return c;
}

struct tally {
	unsigned cases, late, last, defaults, domains;
};

static void run(unsigned nrules, unsigned packets, struct tally *tl)
{
	struct grule *g = calloc(nrules, sizeof(*g));
	assert_non_null(g);
	char *text = policy(nrules, g);
	struct dp_classify *c = load(text);
	const struct pol_ir *ir = dp_classify_ir(c);
	assert_int_equal(ir->nrules, nrules);
	for (unsigned k = 0; k < packets; k++) {
		const struct grule *r = &g[rnd() % nrules];
		struct pol_facts f = { .family = 4, .proto = IPPROTO_TCP, .dport = 443 };
		unsigned aim = (unsigned)(rnd() % 10);
		int dev = (int)(rnd() % DEVICES);
		if (r->dst == 0 && aim < 7) {
			/* At that rule: all it names, or its /32 with another
			 * device, protocol or port. */
			memcpy(f.dst, r->a, 4);
			f.proto = r->proto;
			f.dport = r->port;
			dev = r->dev;
			if (aim == 4)
				dev = (int)(rnd() % DEVICES);
			else if (aim == 5)
				f.proto = f.proto == IPPROTO_TCP ? IPPROTO_UDP : IPPROTO_TCP;
			else if (aim == 6)
				f.dport = (uint16_t)(1 + rnd() % 20);
		} else {
			/* The last rule's range, or elsewhere on the internet. */
			uint32_t a = aim < 8 ? 0xc6120000u | (uint32_t)(rnd() % 0x20000) :
					      0x0b000000u | (uint32_t)(rnd() % 0x1000000);
			f.dst[0] = (uint8_t)(a >> 24);
			f.dst[1] = (uint8_t)(a >> 16);
			f.dst[2] = (uint8_t)(a >> 8);
			f.dst[3] = (uint8_t)a;
			static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP,
							  IPPROTO_GRE };
			f.proto = protos[rnd() % 4];
			f.dport = f.proto == IPPROTO_TCP || f.proto == IPPROTO_UDP ?
					  (uint16_t)(1 + rnd() % 20) : 0;
		}
		if (dev < 0 || rnd() % 10 == 0)
			dev = -1; /* a new device */
		if (rnd() % 4 == 0)
			f.domain_sets = rnd() & ((1u << LISTS) - 1);
		uint8_t mac[6] = { 2, 0x20, 0, 0, 0, 0 };
		if (dev >= 0) {
			mac[4] = (uint8_t)(dev >> 8);
			mac[5] = (uint8_t)dev;
		} else {
			mac[1] = 0x21;
			mac[5] = (uint8_t)rnd();
		}
		f.device = pol_device_by_mac(ir, mac);
		struct pol_verdict want;
		pol_eval(ir, &f, &want, NULL);
		struct dp_classify_in in = { .family = 4, .proto = f.proto, .dport = f.dport,
					     .domain_sets = f.domain_sets };
		memcpy(in.mac, mac, 6);
		memcpy(in.dst, f.dst, 16);
		struct dp_verdict got;
		dp_classify_flow(c, &in, &got);
		if (got.rule != want.rule || got.action != want.action || got.device != f.device)
			fail_msg("%u rules: device %d to %u.%u.%u.%u proto %u port %u domain sets "
				 "%#llx: classifier rule %u action %u device %u, evaluator rule %u "
				 "action %u device %u", nrules, dev, f.dst[0], f.dst[1], f.dst[2],
				 f.dst[3], f.proto, f.dport, (unsigned long long)f.domain_sets,
				 got.rule, got.action, got.device, want.rule, want.action,
				 f.device);
		tl->cases++;
		tl->late += want.rule < nrules && want.rule >= 4096;
		tl->last += want.rule == nrules - 1;
		tl->defaults += want.rule >= POL_RULE_DEFAULT_NEW;
		tl->domains += f.domain_sets != 0 && want.rule < nrules && g[want.rule].dst == 2;
	}
	dp_classify_free(c);
	free(text);
	free(g);
}

static void big_policies(void **state)
{
	(void)state;
	const char *s = getenv("GW_SEED");
	rng.s = s ? strtoull(s, NULL, 0) : 0xc1a55u;
	struct tally tl = { 0 };
	/* One summary word, two (just past it), three, and the limit. */
	static const unsigned sizes[] = { 300, 4100, 10000, DP_CLASSIFY_MAX_RULES };
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		run(sizes[i], 4000, &tl);
	print_message("%u cases: %u decided past rule 4096, %u by the last rule, %u by a "
		      "default, %u by a domain-set rule\n", tl.cases, tl.late, tl.last,
		      tl.defaults, tl.domains);
	/* The packets reach every part of the rules. */
	assert_true(tl.late > tl.cases / 12);
	assert_true(tl.last > tl.cases / 25);
	assert_true(tl.defaults > tl.cases / 50);
	assert_true(tl.domains > tl.cases / 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(big_policies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
