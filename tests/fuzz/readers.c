/* SPDX-License-Identifier: MIT */
/*
 * Every reader of a loaded image, run on one by the fuzz targets (see
 * readers.h).  The work per image is bounded (a few dozen evaluations, a few
 * entries per set) so the fuzzers keep their speed; the choice of facts is a
 * fixed function of the image, so a crash reproduces from its input alone.
 * Touches nothing but the image it is given.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"
#include "readers.h"

#define NFACTS       48 /* evaluations per image */
#define PER_SET      4  /* entries looked up per prefix or domain set */
#define MAX_MACS     256
#define MAX_DEVICES  64
#define MAX_SETS     64

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static const struct pol_when whens[] = {
	{ 0, 0 }, { 0, 1439 }, { 2, 420 }, { 3, 720 },
	{ 4, 1260 }, { 5, 30 }, { 6, 0 }, { 6, 1439 },
};
#define NWHENS (sizeof(whens) / sizeof(whens[0]))

static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6, 47 };

/* xorshift64: the facts depend only on the image. */
static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static volatile size_t sink; /* keeps the reads of touch_names */

static size_t str_touch(const struct pol_ir *ir, uint32_t off)
{
	return strlen(pol_ir_str(ir, off));
}

/* Every name a reader might print, read to its NUL. */
static void touch_names(const struct pol_ir *ir)
{
	size_t n = str_touch(ir, ir->meta->zone) + str_touch(ir, ir->meta->timezone);
	for (uint32_t i = 0; i < ir->npersons; i++)
		n += str_touch(ir, ir->persons[i].name);
	for (uint32_t i = 0; i < ir->ngroups; i++)
		n += str_touch(ir, ir->groups[i].name);
	for (uint32_t i = 0; i < ir->nprefix_sets; i++)
		n += str_touch(ir, ir->prefix_sets[i].name);
	for (uint32_t i = 0; i < ir->ndomain_sets; i++)
		n += str_touch(ir, ir->domain_sets[i].name);
	for (uint32_t i = 0; i < ir->nschedules; i++)
		n += str_touch(ir, ir->schedules[i].name);
	for (uint32_t i = 0; i < ir->nrules; i++)
		n += str_touch(ir, ir->rules[i].name);
	sink = n;
}

static void read_devices(const struct pol_ir *ir, bool compiled)
{
	for (uint32_t i = 0; i < ir->nmacs && i < MAX_MACS; i++)
		CHECK(pol_device_by_mac(ir, ir->macs[i].mac) == ir->macs[i].device);
	static const uint8_t odd[][6] = {
		{ 0, 0, 0, 0, 0, 0 }, { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, { 2, 0, 0, 0, 0, 1 },
	};
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		uint32_t d = pol_device_by_mac(ir, odd[i]);
		CHECK(d == POL_NONE || d < ir->ndevices);
	}
	for (uint32_t i = 0; i < ir->ndevices && i < MAX_DEVICES; i++) {
		const char *name = pol_ir_str(ir, ir->devices[i].name);
		uint32_t d = pol_device_by_name(ir, name);
		CHECK(d < ir->ndevices && !strcmp(pol_ir_str(ir, ir->devices[d].name), name));
		CHECK(!compiled || d == i);
	}
	CHECK(pol_device_by_name(ir, "no such device, spaces are not in names") == POL_NONE);
}

static void read_prefixes(const struct pol_ir *ir)
{
	/* A prefix holds its own address whatever its host bits are. */
	for (uint32_t s = 0; s < ir->nprefix_sets && s < MAX_SETS; s++) {
		const struct pol_set *set = &ir->prefix_sets[s];
		for (uint32_t k = 0; k < set->count && k < PER_SET; k++) {
			const struct pol_prefix *p = &ir->prefixes[set->first + k];
			CHECK(pol_prefix_set_has(ir, s, p->family, p->addr));
		}
		static const uint8_t zero[16];
		(void)pol_prefix_set_has(ir, s, 4, zero);
		(void)pol_prefix_set_has(ir, s, 6, zero);
	}
}

/* The sets `name` is in; a compiled image's names are canonical, so a
 * different spelling of the same name must give the same sets. */
static uint64_t sets_of(const struct pol_ir *ir, const char *name, bool compiled)
{
	uint64_t sets = pol_domain_sets_of(ir, name);
	size_t n = strlen(name);
	if (!compiled || n + 2 > 256)
		return sets;
	char alt[256];
	for (size_t i = 0; i < n; i++)
		alt[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
	alt[n] = '.';
	alt[n + 1] = '\0';
	CHECK(pol_domain_sets_of(ir, alt) == sets);
	return sets;
}

/* Returns some domain sets a real name is in, for the facts. */
static uint64_t read_domains(const struct pol_ir *ir, bool compiled)
{
	uint64_t seen = 0;
	for (uint32_t s = 0; s < ir->ndomain_sets && s < MAX_SETS; s++) {
		const struct pol_set *set = &ir->domain_sets[s];
		for (uint32_t k = 0; k < set->count && k < PER_SET; k++) {
			const struct pol_domain *d = &ir->domains[set->first + k];
			const char *name = pol_ir_str(ir, d->name);
			char buf[300];
			if (d->flags & POL_DOMAIN_WILDCARD)
				snprintf(buf, sizeof(buf), "x.%s", name);
			else
				snprintf(buf, sizeof(buf), "%s", name);
			uint64_t sets = sets_of(ir, buf, compiled);
			/* A name is in its set, except in `dns private`'s, which is
			 * never a destination (ir.h): never reported, compiled or not. */
			if (set->flags & POL_SET_DNS_PRIVATE)
				CHECK(!(sets >> s & 1));
			else
				CHECK(!compiled || (sets >> s & 1));
			seen |= sets;
		}
	}
	static const char *const odd[] = {
		"", ".", "..", "a..b", "example.com", "WWW.EXAMPLE.COM.", "*.example.com",
		"a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z",
	};
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
		(void)pol_domain_sets_of(ir, odd[i]);
	char lng[400];
	memset(lng, 'a', sizeof(lng) - 1);
	lng[sizeof(lng) - 1] = '\0';
	lng[100] = '.';
	CHECK(pol_domain_sets_of(ir, lng) == 0);
	lng[255] = '\0'; /* 255 chars: the longest name the lookup takes */
	(void)pol_domain_sets_of(ir, lng);
	return seen;
}

static void read_schedules(const struct pol_ir *ir, uint64_t *mask)
{
	/* The loader lets only a plain zone name through (no path), so the C
	 * library looks it up under its zoneinfo folder, or falls back to UTC. */
	struct pol_when now;
	if (pol_when_at(ir, 1700000000, &now) == 0)
		CHECK(now.wday <= 6 && now.minute < 1440);
	for (size_t w = 0; w < NWHENS; w++) {
		for (uint32_t s = 0; s < ir->nschedules && s < MAX_SETS; s++)
			(void)pol_schedule_active(ir, s, whens[w]);
		pol_active_rules(ir, whens[w], mask);
		for (uint32_t i = 0; i < ir->nrules; i++) {
			const struct pol_rule *r = &ir->rules[i];
			bool active = !(r->flags & POL_RULE_DURING) ||
				      pol_schedule_active(ir, r->schedule, whens[w]);
			CHECK(!(mask[i / 64] >> (i % 64) & 1) == !active);
		}
	}
}

/* One evaluation, held to what eval.h promises of the verdict and trace. */
static void check_eval(const struct pol_ir *ir, const struct pol_facts *f, uint8_t *trace)
{
	struct pol_verdict v, again;
	pol_eval(ir, f, &v, trace);
	pol_eval(ir, f, &again, NULL);
	CHECK(v.action == again.action && v.log == again.log && v.rule == again.rule &&
	      v.rate_bps == again.rate_bps);
	CHECK(v.action < POL_ACTION_COUNT);
	uint32_t upto = v.rule < ir->nrules ? v.rule : ir->nrules;
	for (uint32_t i = 0; i < upto; i++) {
		CHECK(trace[i] != POL_MATCH && trace[i] == pol_rule_match(ir, i, f));
		CHECK(pol_miss_name((enum pol_miss)trace[i]) != NULL);
	}
	if (v.rule < ir->nrules) {
		const struct pol_rule *r = &ir->rules[v.rule];
		CHECK(pol_rule_match(ir, v.rule, f) == POL_MATCH);
		CHECK(v.action == r->action && v.log == !!(r->flags & POL_RULE_LOG));
		CHECK(v.rate_bps == (r->flags & POL_RULE_RATE ? r->rate_bps : 0));
	} else if (f->device == POL_NONE) {
		CHECK(v.rule == POL_RULE_DEFAULT_NEW && v.action == ir->meta->default_new);
	} else {
		CHECK(v.rule == POL_RULE_DEFAULT && v.action == ir->meta->default_action);
	}
}

static void eval_facts(const struct pol_ir *ir, uint64_t domain_hint, uint8_t *trace)
{
	/* Addresses: fixed ones inside and outside the usual LAN, and the
	 * image's own prefixes. */
	struct { uint8_t family, addr[16]; } dsts[12] = {
		{ 4, { 10, 1, 2, 3 } },
		{ 4, { 8, 8, 8, 8 } },
		{ 4, { 192, 168, 1, 20 } },
		{ 6, { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 } },
		{ 6, { 0xfe, 0x80, [15] = 1 } },
	};
	size_t ndsts = 5;
	for (uint32_t i = 0; i < ir->nprefixes && ndsts < 12; i += 1 + ir->nprefixes / 4) {
		const struct pol_prefix *p = &ir->prefixes[i];
		dsts[ndsts].family = p->family;
		memcpy(dsts[ndsts].addr, p->addr, 16);
		ndsts++;
		if (ndsts < 12) {
			dsts[ndsts] = dsts[ndsts - 1];
			dsts[ndsts].addr[p->family == 4 ? 3 : 15] ^= 0xff;
			ndsts++;
		}
	}
	uint16_t ports[6] = { 0, 53, 443, 65535, 80, 8080 };
	if (ir->nports) {
		ports[4] = ir->ports[0].lo;
		ports[5] = ir->ports[ir->nports - 1].hi;
	}
	uint32_t devs[4] = { POL_NONE, 0, ir->ndevices / 2, ir->ndevices - 1 };
	size_t ndevs = ir->ndevices ? 4 : 1;
	uint64_t doms[4] = { 0, ~0ull, domain_hint, 1 };

	uint64_t seed = 0x9e3779b97f4a7c15ull ^ ir->size ^ ((uint64_t)ir->nrules << 32);
	for (int i = 0; i < NFACTS; i++) {
		size_t d = (size_t)(next_rand(&seed) % ndsts);
		struct pol_facts f = {
			.device = devs[next_rand(&seed) % ndevs],
			.family = dsts[d].family,
			.proto = protos[next_rand(&seed) % sizeof(protos)],
			.dport = ports[next_rand(&seed) % 6],
			.domain_sets = doms[next_rand(&seed) % 4],
			.when = whens[next_rand(&seed) % NWHENS],
		};
		memcpy(f.dst, dsts[d].addr, 16);
		check_eval(ir, &f, trace);
	}
}

void fuzz_read_ir(const struct pol_ir *ir, bool compiled)
{
	uint8_t *trace = malloc(ir->nrules + 1);
	uint64_t *mask = calloc((ir->nrules + 63) / 64 + 1, sizeof(*mask));
	if (!trace || !mask)
		goto out;
	touch_names(ir);
	read_devices(ir, compiled);
	read_prefixes(ir);
	uint64_t hint = read_domains(ir, compiled);
	read_schedules(ir, mask);
	eval_facts(ir, hint, trace);
out:
	free(mask);
	free(trace);
}
