/* SPDX-License-Identifier: MIT */
/* Random policies and packets (see randpol.h). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "policy.h"
#include "randpol.h"

#define MAX_DOMAIN_SETS 60

struct buf {
	char *p;
	size_t len, cap;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			abort();
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		b->cap = 2 * b->cap + (size_t)n + 1;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
}

/* Prefixes cluster around a few anchors so that they nest and overlap. */
static void rand_prefix(struct rp_rng *r, struct buf *b)
{
	static const char *const v4[] = { "10.0.0.0", "10.1.2.0", "192.168.1.0",
					  "203.0.113.0", "198.51.100.128", "0.0.0.0" };
	static const char *const v6[] = { "fd00::", "fd00:1:2::", "2001:db8::",
					  "2001:db8:4a00::", "fe80::", "::" };
	char text[INET6_ADDRSTRLEN];
	uint8_t a[16];
	if (rp_below(r, 2) == 0) {
		inet_pton(AF_INET, v4[rp_below(r, 6)], a);
		unsigned plen = rp_below(r, 8) == 0 ? rp_below(r, 33) : 8 + rp_below(r, 25);
		/* A few random bits past the anchor; host bits beyond plen give
		 * a warning and are cleared. */
		a[2 + rp_below(r, 2)] ^= (uint8_t)(1u << rp_below(r, 8));
		if (rp_below(r, 2))
			a[3] = (uint8_t)rp_below(r, 256);
		inet_ntop(AF_INET, a, text, sizeof(text));
		put(b, "%s/%u", text, plen);
	} else {
		inet_pton(AF_INET6, v6[rp_below(r, 6)], a);
		unsigned plen = rp_below(r, 8) == 0 ? rp_below(r, 129) : 16 + rp_below(r, 113);
		a[4 + rp_below(r, 12)] ^= (uint8_t)(1u << rp_below(r, 8));
		if (rp_below(r, 2))
			a[15] = (uint8_t)rp_below(r, 256);
		inet_ntop(AF_INET6, a, text, sizeof(text));
		if (rp_below(r, 6) == 0)
			put(b, "%s", text); /* a single address */
		else
			put(b, "%s/%u", text, plen);
	}
}

static void rand_domain(struct rp_rng *r, struct buf *b)
{
	put(b, "%sd%u.example", rp_below(r, 3) == 0 ? "*." : "", rp_below(r, 20));
}

static unsigned rand_port(struct rp_rng *r)
{
	static const unsigned pool[] = { 1, 22, 53, 80, 443, 1000, 1024, 8000, 8080, 65535 };
	return rp_below(r, 3) ? pool[rp_below(r, 10)] : 1 + rp_below(r, 65535);
}


static void week_mark(uint8_t *week, unsigned days, unsigned start, unsigned end)
{
	for (unsigned d = 0; d < 7; d++) {
		if (!(days >> d & 1))
			continue;
		unsigned from = d * 1440 + start, to = d * 1440 + (end > start ? end : end + 1440);
		for (unsigned m = from; m < to; m++) {
			unsigned at = m % RP_WEEK_MINUTES;
			week[at / 8] |= (uint8_t)(1u << (at % 8));
		}
	}
}

char *rp_policy(struct rp_rng *r, const struct rp_shape *s)
{
	return rp_policy_model(r, s, NULL);
}

void rp_model_free(struct rp_model *m)
{
	if (m)
		free(m->rule_schedule);
}

bool rp_model_rule_active(const struct rp_model *m, uint32_t rule, struct pol_when w)
{
	if (rule >= m->nrules || m->rule_schedule[rule] < 0)
		return true;
	unsigned at = w.wday * 1440u + w.minute;
	return m->week[m->rule_schedule[rule]][at / 8] >> (at % 8) & 1;
}

void rp_eval(const struct pol_ir *ir, const struct rp_model *m, const struct pol_facts *f,
	     struct pol_verdict *ret)
{
	for (uint32_t i = 0; i < ir->nrules; i++) {
		enum pol_miss miss = pol_rule_match(ir, i, f);
		if (miss != POL_MATCH && miss != POL_MISS_SCHEDULE)
			continue;
		if (!rp_model_rule_active(m, i, f->when))
			continue;
		const struct pol_rule *rule = &ir->rules[i];
		*ret = (struct pol_verdict){
			.action = rule->action,
			.log = rule->flags & POL_RULE_LOG,
			.rule = i,
			.rate_bps = rule->flags & POL_RULE_RATE ? rule->rate_bps : 0,
		};
		return;
	}
	bool isnew = f->device == POL_NONE;
	*ret = (struct pol_verdict){
		.action = isnew ? ir->meta->default_new : ir->meta->default_action,
		.rule = isnew ? POL_RULE_DEFAULT_NEW : POL_RULE_DEFAULT,
	};
}

bool rp_reference(const struct pol_ir *ir, const struct rp_model *m, const struct pol_facts *f,
		  struct pol_verdict *ret)
{
	struct pol_verdict oracle;
	rp_eval(ir, m, f, ret);
	pol_eval(ir, f, &oracle, NULL);
	return oracle.action == ret->action && oracle.rule == ret->rule &&
	       oracle.log == ret->log && oracle.rate_bps == ret->rate_bps;
}

char *rp_policy_model(struct rp_rng *r, const struct rp_shape *s, struct rp_model *model)
{
	struct buf b = { malloc(4096), 0, 4096 };
	if (!b.p)
		abort();
	unsigned npersons = 1 + rp_below(r, 4), ngroups = 1 + rp_below(r, 6);
	unsigned nsched = 1 + rp_below(r, 3), domsets = 0;
	unsigned nlists = s->lists, ndev = s->devices;
	bool *listdom = calloc(nlists + 1, sizeof(*listdom));
	if (!listdom)
		abort();
	if (model) {
		*model = (struct rp_model){ .nrules = s->rules, .nschedules = nsched,
					    .rule_schedule = malloc((s->rules + 1) * sizeof(int)) };
		if (!model->rule_schedule)
			abort();
		for (unsigned i = 0; i < s->rules; i++)
			model->rule_schedule[i] = -1;
	}

	if (rp_below(r, 3) == 0) {
		put(&b, "lan ");
		unsigned n = 1 + rp_below(r, 3);
		for (unsigned i = 0; i < n; i++) {
			put(&b, i ? ", " : "");
			rand_prefix(r, &b);
		}
		put(&b, "\n");
	}
	for (unsigned i = 0; i < npersons; i++)
		put(&b, "person p%u\n", i);
	for (unsigned i = 0; i < ngroups; i++)
		put(&b, "group g%u\n", i);
	for (unsigned i = 0; i < ndev; i++) {
		put(&b, "device d%u mac 02:%02x:%02x:00:00:01", i, i >> 8 & 0xff, i & 0xff);
		if (rp_below(r, 3) == 0)
			put(&b, ", 02:%02x:%02x:00:00:02", i >> 8 & 0xff, i & 0xff);
		if (rp_below(r, 2))
			put(&b, " owner p%u", rp_below(r, npersons));
		if (rp_below(r, 3)) {
			unsigned g = rp_below(r, ngroups), n = 1 + rp_below(r, 2);
			put(&b, " group g%u", g);
			if (n > 1 && (g + 1) % ngroups != g)
				put(&b, ", g%u", (g + 1) % ngroups);
		}
		put(&b, "\n");
	}
	for (unsigned i = 0; i < nlists; i++) {
		listdom[i] = domsets < MAX_DOMAIN_SETS && rp_below(r, 2);
		unsigned n = 1 + rp_below(r, 4);
		put(&b, "list L%u %s { ", i, listdom[i] ? "domains" : "prefixes");
		domsets += listdom[i];
		for (unsigned k = 0; k < n; k++) {
			put(&b, k ? ", " : "");
			if (listdom[i])
				rand_domain(r, &b);
			else
				rand_prefix(r, &b);
		}
		put(&b, " }\n");
	}
	for (unsigned i = 0; i < nsched; i++) {
		unsigned n = 1 + rp_below(r, 2);
		put(&b, "schedule s%u {\n", i);
		for (unsigned w = 0; w < n; w++) {
			unsigned d = rp_below(r, 7), dn = 1 + rp_below(r, 3);
			unsigned start = rp_below(r, 24 * 4) * 15, end;
			do
				end = (1 + rp_below(r, 24 * 4)) * 15;
			while (end == start);
			put(&b, "\t");
			unsigned daybits = 0;
			for (unsigned k = 0; k < dn; k++) {
				put(&b, "%s%s", k ? "," : "", pol_day_name((d + 2 * k) % 7));
				daybits |= 1u << ((d + 2 * k) % 7);
			}
			put(&b, " %02u:%02u-%02u:%02u\n", start / 60, start % 60, end / 60, end % 60);
			if (model)
				week_mark(model->week[i], daybits, start, end);
		}
		put(&b, "}\n");
	}
	for (unsigned i = 0; i < s->rules; i++) {
		unsigned act = rp_below(r, 3);
		put(&b, "rule r%u %s ", i, pol_action_name(act));
		switch (rp_below(r, ndev ? 6 : 4)) {
		case 0: put(&b, "any"); break;
		case 1: put(&b, "new"); break;
		case 2: put(&b, "person p%u", rp_below(r, npersons)); break;
		case 3:
		{
			unsigned g = rp_below(r, ngroups);
			put(&b, "group g%u", g);
			if (ngroups > 1 && rp_below(r, 3) == 0)
				put(&b, ", g%u", (g + 1 + rp_below(r, ngroups - 1)) % ngroups);
			break;
		}
		default: {
			unsigned d = rp_below(r, ndev), n = 1 + rp_below(r, 3);
			put(&b, "device d%u", d);
			for (unsigned k = 1; k < n && k < ndev; k++)
				put(&b, ", d%u", (d + k) % ndev);
			break;
		}
		}
		if (s->narrow || rp_below(r, 4)) {
			unsigned n = 1 + rp_below(r, 3);
			bool direct_domain = false;
			put(&b, " to ");
			for (unsigned k = 0; k < n; k++) {
				put(&b, k ? ", " : "");
				switch (s->narrow ? 3 + rp_below(r, 5) : rp_below(r, 8)) {
				case 0: put(&b, "internet"); break;
				case 1: put(&b, "lan"); break;
				case 2:
					if (rp_below(r, 4) == 0) {
						put(&b, "any");
						break;
					}
					__attribute__((fallthrough));
				case 3:
				case 4:
					if (nlists) {
						put(&b, "list L%u", rp_below(r, nlists));
						break;
					}
					__attribute__((fallthrough));
				case 5:
					if (direct_domain || domsets < MAX_DOMAIN_SETS) {
						if (!direct_domain)
							domsets++;
						direct_domain = true;
						rand_domain(r, &b);
						break;
					}
					__attribute__((fallthrough));
				default:
					rand_prefix(r, &b);
					break;
				}
			}
		}
		bool icmp = false;
		if (rp_below(r, 2)) {
			static const char *const protos[] = { "tcp", "udp", "icmp" };
			unsigned m = 1 + rp_below(r, 7), k = 0;
			put(&b, " proto ");
			for (unsigned p = 0; p < 3; p++)
				if (m >> p & 1)
					put(&b, "%s%s", k++ ? ", " : "", protos[p]);
			icmp = m & 4;
		}
		if (!icmp && (s->narrow || rp_below(r, 2))) {
			unsigned n = 1 + rp_below(r, 3);
			put(&b, " port ");
			for (unsigned k = 0; k < n; k++) {
				unsigned lo = rand_port(r), hi = rand_port(r);
				if (lo > hi) {
					unsigned t = lo;
					lo = hi;
					hi = t;
				}
				if (lo == hi || rp_below(r, 2))
					put(&b, "%s%u", k ? ", " : "", lo);
				else
					put(&b, "%s%u-%u", k ? ", " : "", lo, hi);
			}
		}
		if (rp_below(r, 3) == 0) {
			unsigned sch = rp_below(r, nsched);
			put(&b, " during s%u", sch);
			if (model)
				model->rule_schedule[i] = (int)sch;
		}
		if (act == 0 && rp_below(r, 4) == 0)
			put(&b, " rate %ukbit", 1 + rp_below(r, 100000));
		if (rp_below(r, 4) == 0)
			put(&b, " log");
		put(&b, "\n");
	}
	put(&b, "default %s\n", pol_action_name(rp_below(r, 3)));
	if (rp_below(r, 2))
		put(&b, "default new %s\n", pol_action_name(rp_below(r, 3)));
	free(listdom);
	return b.p;
}

struct pol_ir *rp_load(const char *text)
{
	struct pol_unit *u = NULL;
	struct pol_ir *ir = NULL;
	const void *img;
	size_t size;
	char err[256] = "";
	if (pol_compile("random.gw", text, strlen(text), POL_F_NO_FILES, &u) < 0)
		return NULL;
	if (pol_unit_errors(u)) {
		pol_unit_render_diags(u, stderr);
		fprintf(stderr, "--- the policy:\n%s", text);
	} else if (pol_unit_image(u, &img, &size) < 0 ||
		   pol_image_load(img, size, &ir, err, sizeof(err)) < 0) {
		fprintf(stderr, "image does not load: %s\n", err);
		ir = NULL;
	}
	pol_unit_free(u);
	return ir;
}

static void rand_addr(struct rp_rng *r, const struct pol_ir *ir, struct pol_facts *f)
{
	memset(f->dst, 0, sizeof(f->dst));
	if (ir->nprefixes && rp_below(r, 4)) {
		const struct pol_prefix *p = &ir->prefixes[rp_below(r, ir->nprefixes)];
		unsigned bits = p->family == 4 ? 32 : 128;
		f->family = p->family;
		memcpy(f->dst, p->addr, bits / 8);
		switch (rp_below(r, 4)) {
		case 0: /* the network address itself */
			break;
		case 1: /* just outside: flip the last bit of the prefix */
			if (p->plen)
				f->dst[(p->plen - 1) / 8] ^= (uint8_t)(0x80u >> ((p->plen - 1) % 8));
			break;
		default: /* random host bits */
			for (unsigned i = p->plen; i < bits; i++)
				if (rp_below(r, 2))
					f->dst[i / 8] |= (uint8_t)(0x80u >> (i % 8));
			break;
		}
		return;
	}
	f->family = rp_below(r, 2) ? 4 : 6;
	uint64_t x = rp_next(r), y = rp_next(r);
	memcpy(f->dst, &x, 8);
	if (f->family == 6)
		memcpy(f->dst + 8, &y, 8);
	else
		memset(f->dst + 4, 0, 12);
}

void rp_packet(struct rp_rng *r, const struct pol_ir *ir, uint8_t mac[6], struct pol_facts *f)
{
	memset(f, 0, sizeof(*f));
	if (ir->nmacs && rp_below(r, 4)) {
		memcpy(mac, ir->macs[rp_below(r, ir->nmacs)].mac, 6);
	} else {
		do {
			uint64_t x = rp_next(r);
			memcpy(mac, &x, 6);
			mac[0] &= 0xfe; /* unicast */
		} while (pol_device_by_mac(ir, mac) != POL_NONE);
	}
	f->device = pol_device_by_mac(ir, mac);
	rand_addr(r, ir, f);

	static const uint8_t others[] = { 47, 50, 132, 253 };
	unsigned pk = rp_below(r, 20);
	if (pk < 7)
		f->proto = IPPROTO_TCP;
	else if (pk < 13)
		f->proto = IPPROTO_UDP;
	else if (pk < 16)
		f->proto = f->family == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
	else if (pk < 17) /* the other family's ICMP number */
		f->proto = f->family == 4 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
	else
		f->proto = others[rp_below(r, 4)];
	if (f->proto == IPPROTO_TCP || f->proto == IPPROTO_UDP) {
		if (ir->nports && rp_below(r, 3)) {
			const struct pol_port_range *p = &ir->ports[rp_below(r, ir->nports)];
			int v[] = { p->lo, p->hi, p->lo - 1, p->hi + 1 };
			int port = v[rp_below(r, 4)];
			f->dport = (uint16_t)(port < 0 ? 0 : port > 65535 ? 65535 : port);
		} else {
			f->dport = (uint16_t)rp_below(r, 65536);
		}
	}
	if (ir->ndomain_sets && rp_below(r, 2)) {
		f->domain_sets = 1ull << rp_below(r, ir->ndomain_sets);
		if (rp_below(r, 3) == 0)
			f->domain_sets |= 1ull << rp_below(r, ir->ndomain_sets);
	}
	f->when.wday = (uint8_t)rp_below(r, 7);
	if (ir->nwindows && rp_below(r, 2)) {
		const struct pol_window *w = &ir->windows[rp_below(r, ir->nwindows)];
		int v[] = { w->start_min, w->start_min - 1, w->end_min, w->end_min - 1 };
		int m = v[rp_below(r, 4)];
		f->when.minute = (uint16_t)(m < 0 ? 0 : m > 1439 ? 1439 : m);
	} else {
		f->when.minute = (uint16_t)rp_below(r, 1440);
	}
}
