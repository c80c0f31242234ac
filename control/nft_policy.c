/* SPDX-License-Identifier: MIT */
/*
 * A compiled policy as nftables objects (nft_policy.h).  Pure translation
 * into batches, plus the reads that find a build's objects again.  Names
 * only the hook chain policy_fwd, the policy's drop counters and objects
 * with a build's prefix p<id>_.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/if_arp.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tuple_common.h>
#include <linux/netfilter/nf_tables.h>

#include "eval.h"
#include "names.h"
#include "nft_guard.h"
#include "nft_match.h"
#include "nft_policy.h"

#define N GWD_NFT_NAME_MAX

/* --- small containers ------------------------------------------------------ */

struct vec32 {
	uint32_t *v;
	size_t n, cap;
};

static int push32(struct vec32 *x, uint32_t v)
{
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 8;
		uint32_t *p = realloc(x->v, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		x->v = p;
		x->cap = cap;
	}
	x->v[x->n++] = v;
	return 0;
}

/* Content -> number, for sets shared by every rule that needs the same. */
struct dedup_slot {
	uint64_t h;
	uint8_t *key; /* NULL: free slot */
	size_t n;
	uint32_t val;
};
struct dedup {
	struct dedup_slot *v;
	size_t cap, n;
};

static uint64_t hash(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

static void dedup_free(struct dedup *d)
{
	for (size_t i = 0; i < d->cap; i++)
		free(d->v[i].key);
	free(d->v);
}

static int dedup_grow(struct dedup *d)
{
	size_t cap = d->cap ? d->cap * 2 : 64;
	struct dedup_slot *v = calloc(cap, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < d->cap; i++) {
		if (!d->v[i].key)
			continue;
		size_t at = d->v[i].h & (cap - 1);
		while (v[at].key)
			at = (at + 1) & (cap - 1);
		v[at] = d->v[i];
	}
	free(d->v);
	d->v = v;
	d->cap = cap;
	return 0;
}

/* The number of key (a new one is val, then *ret_new). */
static int dedup_get(struct dedup *d, const void *key, size_t n, uint32_t val, uint32_t *ret,
		     bool *ret_new)
{
	if ((d->n + 1) * 2 > d->cap && dedup_grow(d) < 0)
		return -ENOMEM;
	uint64_t h = hash(key, n);
	size_t at = h & (d->cap - 1);
	for (; d->v[at].key; at = (at + 1) & (d->cap - 1)) {
		if (d->v[at].h == h && d->v[at].n == n && !memcmp(d->v[at].key, key, n)) {
			*ret = d->v[at].val;
			*ret_new = false;
			return 0;
		}
	}
	uint8_t *k = malloc(n ? n : 1);
	if (!k)
		return -ENOMEM;
	memcpy(k, key, n);
	d->v[at] = (struct dedup_slot){ h, k, n, val };
	d->n++;
	*ret = val;
	*ret_new = true;
	return 0;
}

/* --- the plan of one rule ---------------------------------------------------- */

enum port_kind { PORT_NONE, PORT_ONE, PORT_RANGE, PORT_SET };

/* One way a rule's destination can match: a family (0: either) and, for
 * 4 or 6, a set to look the destination up in (dst < 0: any address of
 * that family). */
struct alt {
	uint8_t fam;
	bool dom;      /* a domain set: dst is its number s */
	int32_t dst;   /* a prefix set number, or the domain set */
};

struct plan {
	bool skip;            /* can never match: nothing emitted */
	uint8_t l4mask;       /* POL_PROTO_* this rule takes, 0: any */
	uint8_t port;         /* enum port_kind */
	uint16_t plo, phi;
	uint32_t pset;
	struct alt *alts;
	unsigned nalts;
	uint32_t slot;        /* rate slot, 0: none */
};

struct ctx {
	struct gwd_nft_batch *b;
	const struct pol_ir *ir;
	uint32_t id, gen, epoch;
	uint16_t group;
	char pfx[24];
	struct gwd_nft_ranges lan[2], wan[2]; /* [0] IPv4, [1] IPv6 */
	struct dedup dsts, ports;
	uint32_t ndst, nport;
	uint8_t l4sets;       /* bit m: the set l4_<m> exists */
	uint64_t domused;
	struct plan *plans;
	struct vec32 lany, lnew, *ld, *lp, *lg;
	struct gwd_nft_policy_stats *st;
	int err;
};

static void name(const struct ctx *c, char *out, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void name(const struct ctx *c, char *out, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(out, N, "%s", c->pfx);
	va_start(ap, fmt);
	vsnprintf(out + n, N - (size_t)n, fmt, ap);
	va_end(ap);
}

static void add_set(struct ctx *c, struct gwd_nft_set *s)
{
	c->st->sets++;
	c->st->elements += (uint32_t)gwd_nft_set_count(s);
	gwd_nft_add_set(c->b, s);
}

static void add_rule(struct ctx *c, struct gwd_nft_rule *r)
{
	c->st->rules++;
	gwd_nft_add_rule(c->b, r);
}

/* The prefixes of prefix set `set` into the per-family ranges. */
static void add_prefixes(const struct pol_ir *ir, uint32_t set, struct gwd_nft_ranges r[2])
{
	const struct pol_set *s = &ir->prefix_sets[set];
	for (uint32_t i = 0; i < s->count; i++) {
		const struct pol_prefix *p = &ir->prefixes[s->first + i];
		gwd_nft_ranges_add_prefix(&r[p->family == 4 ? 0 : 1], p->addr, p->plen);
	}
}

static void add_ranges(struct gwd_nft_ranges *to, const struct gwd_nft_ranges *from)
{
	for (size_t i = 0; i < from->n; i++)
		gwd_nft_ranges_add(to, from->v[i].lo, from->v[i].hi);
}

/* The set number of ranges r (family f), created when new. */
static int dst_set(struct ctx *c, struct gwd_nft_ranges *r, uint8_t f, uint32_t *ret)
{
	if (r->oom)
		return -ENOMEM;
	gwd_nft_ranges_merge(r);
	size_t klen = 1 + r->n * 2 * r->width;
	uint8_t *key = malloc(klen);
	if (!key)
		return -ENOMEM;
	key[0] = f;
	for (size_t i = 0; i < r->n; i++) {
		memcpy(key + 1 + i * 2 * r->width, r->v[i].lo, r->width);
		memcpy(key + 1 + i * 2 * r->width + r->width, r->v[i].hi, r->width);
	}
	bool added;
	int e = dedup_get(&c->dsts, key, klen, c->ndst, ret, &added);
	free(key);
	if (e < 0)
		return e;
	if (!added)
		return 0;
	c->ndst++;
	char n[N];
	name(c, n, "dst%" PRIu32 "_%u", *ret, f);
	struct gwd_nft_set *s = gwd_nft_set_new(n, NFT_SET_INTERVAL, f == 4 ? GWD_NFT_TYPE_IPADDR :
						GWD_NFT_TYPE_IP6ADDR, r->width);
	if ((e = gwd_nft_ranges_elems(r, s)) < 0) {
		gwd_nft_set_free(s);
		return e;
	}
	add_set(c, s);
	return 0;
}

static int add_alt(struct plan *p, uint8_t fam, bool dom, int32_t dst)
{
	struct alt *a = realloc(p->alts, (p->nalts + 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	p->alts = a;
	a[p->nalts++] = (struct alt){ fam, dom, dst };
	return 0;
}

static int plan_dst(struct ctx *c, const struct pol_rule *r, struct plan *p)
{
	const struct pol_ir *ir = c->ir;
	bool any = r->dst_count == 0;
	for (uint32_t k = 0; k < r->dst_count; k++)
		if (ir->dsts[r->dst_first + k].kind == POL_DST_ANY)
			any = true;
	if (any)
		return add_alt(p, 0, false, -1);
	struct gwd_nft_ranges g[2];
	gwd_nft_ranges_init(&g[0], 4);
	gwd_nft_ranges_init(&g[1], 16);
	int e = 0;
	for (uint32_t k = 0; k < r->dst_count && e == 0; k++) {
		const struct pol_dst *d = &ir->dsts[r->dst_first + k];
		switch (d->kind) {
		case POL_DST_LAN:
			add_ranges(&g[0], &c->lan[0]);
			add_ranges(&g[1], &c->lan[1]);
			break;
		case POL_DST_INTERNET:
			add_ranges(&g[0], &c->wan[0]);
			add_ranges(&g[1], &c->wan[1]);
			break;
		case POL_DST_PREFIXES:
			add_prefixes(ir, d->index, g);
			break;
		case POL_DST_DOMAINS:
			if ((e = add_alt(p, 4, true, (int32_t)d->index)) == 0)
				e = add_alt(p, 6, true, (int32_t)d->index);
			break;
		}
	}
	bool full4 = e == 0 && gwd_nft_ranges_full(&g[0]);
	bool full6 = e == 0 && gwd_nft_ranges_full(&g[1]);
	if (e == 0 && full4 && full6) {
		e = add_alt(p, 0, false, -1);
	} else {
		for (unsigned f = 0; f < 2 && e == 0; f++) {
			uint8_t fam = f ? 6 : 4;
			if (g[f].oom) {
				e = -ENOMEM;
			} else if (f ? full6 : full4) {
				e = add_alt(p, fam, false, -1);
			} else if (g[f].n) {
				uint32_t k;
				if ((e = dst_set(c, &g[f], fam, &k)) == 0)
					e = add_alt(p, fam, false, (int32_t)k);
			}
		}
	}
	gwd_nft_ranges_free(&g[0]);
	gwd_nft_ranges_free(&g[1]);
	return e;
}

static int plan_ports(struct ctx *c, const struct pol_rule *r, struct plan *p)
{
	if (!r->port_count)
		return 0;
	struct gwd_nft_ranges g;
	gwd_nft_ranges_init(&g, 2);
	for (uint32_t k = 0; k < r->port_count; k++)
		gwd_nft_ranges_add16(&g, c->ir->ports[r->port_first + k].lo,
				     c->ir->ports[r->port_first + k].hi);
	gwd_nft_ranges_merge(&g);
	int e = 0;
	if (g.oom) {
		e = -ENOMEM;
	} else if (g.n == 1) {
		p->plo = (uint16_t)(g.v[0].lo[0] << 8 | g.v[0].lo[1]);
		p->phi = (uint16_t)(g.v[0].hi[0] << 8 | g.v[0].hi[1]);
		p->port = p->plo == p->phi ? PORT_ONE : PORT_RANGE;
	} else {
		size_t klen = g.n * 4;
		uint8_t *key = malloc(klen);
		bool added;
		if (!key) {
			e = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < g.n; i++) {
			memcpy(key + i * 4, g.v[i].lo, 2);
			memcpy(key + i * 4 + 2, g.v[i].hi, 2);
		}
		e = dedup_get(&c->ports, key, klen, c->nport, &p->pset, &added);
		free(key);
		if (e < 0 || !added)
			goto set;
		c->nport++;
		char n[N];
		name(c, n, "port%" PRIu32, p->pset);
		struct gwd_nft_set *s = gwd_nft_set_new(n, NFT_SET_INTERVAL, GWD_NFT_TYPE_SERVICE, 2);
		if ((e = gwd_nft_ranges_elems(&g, s)) < 0) {
			gwd_nft_set_free(s);
			goto out;
		}
		add_set(c, s);
set:
		p->port = PORT_SET;
	}
out:
	gwd_nft_ranges_free(&g);
	return e;
}

/* The l4proto values of POL_PROTO_* mask m. */
static unsigned l4_values(uint8_t m, uint8_t out[4])
{
	unsigned n = 0;
	if (m & POL_PROTO_TCP)
		out[n++] = IPPROTO_TCP;
	if (m & POL_PROTO_UDP)
		out[n++] = IPPROTO_UDP;
	if (m & POL_PROTO_ICMP) {
		out[n++] = IPPROTO_ICMP;
		out[n++] = IPPROTO_ICMPV6;
	}
	return n;
}

static int plan_rule(struct ctx *c, uint32_t j, uint32_t *nrated)
{
	const struct pol_rule *r = &c->ir->rules[j];
	struct plan *p = &c->plans[j];
	/* Every rated rule takes a slot, in rule order, even one that can
	 * never match: state_elems numbers them the same way. */
	if (r->action == POL_ALLOW && (r->flags & POL_RULE_RATE) && r->rate_bps) {
		if (*nrated == GWD_NFT_MAX_RATED)
			return -E2BIG;
		p->slot = ++*nrated;
	}
	/* The evaluator: ports match TCP and UDP only. */
	if (r->port_count) {
		p->l4mask = (uint8_t)((r->protos ? r->protos : POL_PROTO_TCP | POL_PROTO_UDP) &
				      (POL_PROTO_TCP | POL_PROTO_UDP));
		if (!p->l4mask) {
			p->skip = true;
			return 0;
		}
	} else {
		p->l4mask = r->protos;
	}
	uint8_t v[4];
	if (l4_values(p->l4mask, v) > 1 && !(c->l4sets >> p->l4mask & 1)) {
		char n[N];
		name(c, n, "l4_%u", p->l4mask);
		struct gwd_nft_set *s = gwd_nft_set_new(n, 0, GWD_NFT_TYPE_INET_PROTO, 1);
		unsigned nv = l4_values(p->l4mask, v);
		for (unsigned i = 0; i < nv; i++)
			gwd_nft_elem(s, &v[i], 0, 0);
		add_set(c, s);
		c->l4sets |= (uint8_t)(1u << p->l4mask);
	}
	int e = plan_ports(c, r, p);
	if (e == 0)
		e = plan_dst(c, r, p);
	if (e < 0)
		return e;
	if (!p->nalts)
		p->skip = true;
	return 0;
}

/* --- rules --------------------------------------------------------------------- */

static void ct_mark_set(struct gwd_nft_rule *r, uint32_t v)
{
	gwd_nft_e_imm_data(r, NFT_REG_1, &v, 4);
	gwd_nft_e_ct_set(r, NFT_CT_MARK, NFT_REG_1);
}

/* ct mark & mask, into REG_1. */
static void ct_mark_masked(struct gwd_nft_rule *r, uint32_t mask)
{
	uint32_t zero = 0;
	gwd_nft_e_ct(r, NFT_CT_MARK, -1, NFT_REG_1);
	gwd_nft_e_bitwise(r, NFT_REG_1, NFT_REG_1, 4, &mask, &zero);
}

/* Rule j's nft rules in list chain `chain`: one per destination way. */
static void list_rule(struct ctx *c, const char *chain, uint32_t j)
{
	const struct pol_rule *pr = &c->ir->rules[j];
	const struct plan *p = &c->plans[j];
	for (unsigned a = 0; a < p->nalts; a++) {
		const struct alt *alt = &p->alts[a];
		struct gwd_nft_rule *r = gwd_nft_rule_new(c->b, chain, NULL);
		char n[N];
		uint8_t v[4];
		unsigned nv = l4_values(p->l4mask, v);
		if (nv == 1) {
			gwd_nft_m_l4proto(r, v[0]);
		} else if (nv > 1) {
			name(c, n, "l4_%u", p->l4mask);
			gwd_nft_m_l4proto_in(r, n);
		}
		if (p->port == PORT_ONE) {
			gwd_nft_m_th16(r, 2, p->plo);
		} else if (p->port == PORT_RANGE) {
			gwd_nft_m_th16_range(r, 2, p->plo, p->phi);
		} else if (p->port == PORT_SET) {
			name(c, n, "port%" PRIu32, p->pset);
			gwd_nft_m_th16_in(r, 2, n);
		}
		if (alt->fam) {
			gwd_nft_m_nfproto(r, alt->fam == 4 ? NFPROTO_IPV4 : NFPROTO_IPV6);
			if (alt->dst >= 0) {
				if (alt->dom)
					name(c, n, "dom%" PRId32 "_%u", alt->dst, alt->fam);
				else
					name(c, n, "dst%" PRId32 "_%u", alt->dst, alt->fam);
				gwd_nft_e_payload(r, NFT_PAYLOAD_NETWORK_HEADER,
						  alt->fam == 4 ? 16 : 24, alt->fam == 4 ? 4 : 16,
						  NFT_REG_1);
				gwd_nft_e_lookup(r, NFT_REG_1, n, GWD_NFT_SET_ONLY, false);
			}
		}
		/* Only a rule earlier than the best one found so far. */
		uint32_t be = htonl(j);
		gwd_nft_e_ct(r, NFT_CT_MARK, -1, NFT_REG_1);
		gwd_nft_e_byteorder_hton(r, NFT_REG_1, 4, 4);
		gwd_nft_e_cmp(r, NFT_REG_1, NFT_CMP_GT, &be, 4);
		if (pr->flags & POL_RULE_DURING) {
			name(c, n, "active");
			gwd_nft_e_imm_data(r, NFT_REG_1, &j, 4);
			gwd_nft_e_lookup(r, NFT_REG_1, n, GWD_NFT_SET_ONLY, false);
		}
		ct_mark_set(r, j);
		gwd_nft_e_verdict(r, NFT_RETURN, NULL);
		add_rule(c, r);
	}
}

static void list_chain(struct ctx *c, const struct vec32 *l, const char *chain)
{
	for (size_t i = 0; i < l->n; i++)
		list_rule(c, chain, l->v[i]);
}

/* Jumps to the lists, then the action of the rule that won. */
static void decide_chain(struct ctx *c, const char *chain, uint32_t start, const char **lists,
			 unsigned nlists)
{
	char n[N];
	struct gwd_nft_rule *r = gwd_nft_rule_new(c->b, chain, NULL);
	ct_mark_set(r, start);
	add_rule(c, r);
	for (unsigned i = 0; i < nlists; i++) {
		r = gwd_nft_rule_new(c->b, chain, NULL);
		gwd_nft_e_verdict(r, NFT_JUMP, lists[i]);
		add_rule(c, r);
	}
	r = gwd_nft_rule_new(c->b, chain, NULL);
	name(c, n, "act");
	gwd_nft_e_ct(r, NFT_CT_MARK, -1, NFT_REG_1);
	gwd_nft_e_lookup(r, NFT_REG_1, n, NFT_REG_VERDICT, false);
	add_rule(c, r);
	/* act has every rule and both defaults: never reached. */
	r = gwd_nft_rule_new(c->b, chain, NULL);
	gwd_nft_e_counter_ref(r, GWD_NFT_DROP_POLICY_INVALID);
	gwd_nft_e_verdict(r, NF_DROP, NULL);
	add_rule(c, r);
}

static void reject_rules(struct ctx *c, const char *chain)
{
	struct gwd_nft_rule *r = gwd_nft_rule_new(c->b, chain, NULL);
	gwd_nft_m_l4proto(r, IPPROTO_TCP);
	gwd_nft_e_reject(r, NFT_REJECT_TCP_RST, 0);
	add_rule(c, r);
	r = gwd_nft_rule_new(c->b, chain, NULL);
	gwd_nft_e_reject(r, NFT_REJECT_ICMPX_UNREACH, NFT_REJECT_ICMPX_ADMIN_PROHIBITED);
	add_rule(c, r);
}

/* ct mark = the epoch's final mark of slot, from the map `final`. */
static void final_mark(struct ctx *c, struct gwd_nft_rule *r, uint32_t slot)
{
	char n[N];
	name(c, n, "final");
	gwd_nft_e_imm_data(r, NFT_REG_1, &slot, 4);
	gwd_nft_e_lookup(r, NFT_REG_1, n, NFT_REG_1, false);
	gwd_nft_e_ct_set(r, NFT_CT_MARK, NFT_REG_1);
}

static void generic_actions(struct ctx *c)
{
	char n[N], cnt[N];
	name(c, cnt, "cnt");
	for (unsigned k = 0; k < POL_ACTION_COUNT; k++) {
		name(c, n, "%s", pol_action_name(k));
		struct gwd_nft_rule *r = gwd_nft_rule_new(c->b, n, NULL);
		gwd_nft_e_ct(r, NFT_CT_MARK, -1, NFT_REG_1);
		gwd_nft_e_counter_map(r, NFT_REG_1, cnt);
		add_rule(c, r);
		if (k == 0) {
			r = gwd_nft_rule_new(c->b, n, NULL);
			final_mark(c, r, 0);
			gwd_nft_e_verdict(r, NF_ACCEPT, NULL);
			add_rule(c, r);
			r = gwd_nft_rule_new(c->b, n, NULL);
			gwd_nft_e_verdict(r, NF_ACCEPT, NULL);
			add_rule(c, r);
		} else if (k == 1) {
			r = gwd_nft_rule_new(c->b, n, NULL);
			gwd_nft_e_verdict(r, NF_DROP, NULL);
			add_rule(c, r);
		} else {
			reject_rules(c, n);
		}
	}
}

static const char *action_name(uint8_t a)
{
	return a == POL_ALLOW ? "allow" : a == POL_BLOCK ? "block" : "reject";
}

/* Rule j's own action chain a<j>: its counter, its log, its meter. */
static void own_action(struct ctx *c, uint32_t j)
{
	const struct pol_rule *pr = &c->ir->rules[j];
	const struct plan *p = &c->plans[j];
	char n[N], cn[N];
	name(c, n, "a%" PRIu32, j);
	name(c, cn, "c%" PRIu32, j);
	struct gwd_nft_rule *r = gwd_nft_rule_new(c->b, n, NULL);
	gwd_nft_e_counter_ref(r, cn);
	if (pr->flags & POL_RULE_LOG) {
		char prefix[128];
		/* gwd reads these back from nflog (engine_nft.c). */
		snprintf(prefix, sizeof(prefix), "gw gen=%" PRIu32 " rule=%" PRIu32 " action=%s ",
			 c->gen, j, action_name(pr->action));
		gwd_nft_e_log(r, c->group, prefix);
	}
	if (pr->action == POL_ALLOW) {
		final_mark(c, r, p->slot);
		if (p->slot) {
			char rt[N];
			name(c, rt, "rt%" PRIu32 "u", p->slot);
			gwd_nft_e_verdict(r, NFT_JUMP, rt);
		} else {
			gwd_nft_e_verdict(r, NF_ACCEPT, NULL);
		}
		add_rule(c, r);
		r = gwd_nft_rule_new(c->b, n, NULL);
		gwd_nft_e_verdict(r, NF_ACCEPT, NULL);
		add_rule(c, r);
	} else if (pr->action == POL_BLOCK) {
		gwd_nft_e_verdict(r, NF_DROP, NULL);
		add_rule(c, r);
	} else {
		add_rule(c, r);
		reject_rules(c, n);
	}
}

/* A meter chain: over the rate for the device (the flow's original
 * source) -> drop; else accept. */
static void meter_chain(struct ctx *c, uint32_t slot, uint64_t bps, bool up)
{
	char n[N], s4[N], s6[N];
	const char d = up ? 'u' : 'd';
	name(c, n, "rt%" PRIu32 "%c", slot, d);
	name(c, s4, "m%" PRIu32 "%c4", slot, d);
	name(c, s6, "m%" PRIu32 "%c6", slot, d);
	uint64_t bytes = bps / 8 ? bps / 8 : 1;
	/* A fifth of a second at the rate, at least two full frames. */
	uint64_t burst = bytes / 5 > 3028 ? bytes / 5 : 3028;
	if (burst > UINT32_MAX)
		burst = UINT32_MAX;
	for (unsigned f = 0; f < 2; f++) {
		struct gwd_nft_set *s = gwd_nft_set_new(f ? s6 : s4, NFT_SET_TIMEOUT | NFT_SET_EVAL,
							f ? GWD_NFT_TYPE_IP6ADDR : GWD_NFT_TYPE_IPADDR,
							f ? 16 : 4);
		gwd_nft_set_timeout(s, 60000);
		gwd_nft_set_size(s, 65535);
		add_set(c, s);
	}
	for (unsigned f = 0; f < 2; f++) {
		struct gwd_nft_rule *r = gwd_nft_rule_new(c->b, n, NULL);
		gwd_nft_m_nfproto(r, f ? NFPROTO_IPV6 : NFPROTO_IPV4);
		gwd_nft_e_ct(r, f ? NFT_CT_SRC_IP6 : NFT_CT_SRC_IP, IP_CT_DIR_ORIGINAL, NFT_REG_1);
		gwd_nft_e_meter_over(r, NFT_REG_1, f ? s6 : s4, bytes, (uint32_t)burst);
		gwd_nft_e_counter_ref(r, GWD_NFT_DROP_RATE);
		gwd_nft_e_verdict(r, NF_DROP, NULL);
		add_rule(c, r);
	}
	struct gwd_nft_rule *r = gwd_nft_rule_new(c->b, n, NULL);
	gwd_nft_e_verdict(r, NF_ACCEPT, NULL);
	add_rule(c, r);
}

/* The schedule state: sets active, epoch0, epoch and the map final. */
static void state_elems(struct gwd_nft_batch *b, const char *pfx, const struct pol_ir *ir,
			uint32_t epoch, const uint64_t *mask, bool flush)
{
	char n[N];
	uint32_t bits = GWD_NFT_EPOCH_BITS(epoch);
	snprintf(n, sizeof(n), "%sactive", pfx);
	if (flush)
		gwd_nft_flush_set(b, n);
	struct gwd_nft_set *s = gwd_nft_set_new(n, 0, GWD_NFT_TYPE_MARK, 4);
	for (uint32_t j = 0; j < ir->nrules; j++)
		if ((ir->rules[j].flags & POL_RULE_DURING) && (mask[j / 64] >> (j % 64) & 1))
			gwd_nft_elem(s, &j, 0, 0);
	gwd_nft_add_elems(b, s);
	const char *one[] = { "epoch0", "epoch" };
	for (unsigned i = 0; i < 2; i++) {
		snprintf(n, sizeof(n), "%s%s", pfx, one[i]);
		if (flush)
			gwd_nft_flush_set(b, n);
		s = gwd_nft_set_new(n, 0, GWD_NFT_TYPE_MARK, 4);
		gwd_nft_elem(s, &bits, 0, 0);
		gwd_nft_add_elems(b, s);
	}
	snprintf(n, sizeof(n), "%sfinal", pfx);
	if (flush)
		gwd_nft_flush_set(b, n);
	s = gwd_nft_set_new(n, 0, GWD_NFT_TYPE_MARK, 4);
	gwd_nft_set_map(s, GWD_NFT_TYPE_MARK, 4);
	uint32_t slot = 0;
	gwd_nft_elem_data(s, &slot, &bits);
	for (uint32_t j = 0; j < ir->nrules; j++) {
		const struct pol_rule *r = &ir->rules[j];
		if (r->action == POL_ALLOW && (r->flags & POL_RULE_RATE) && r->rate_bps) {
			/* Slots in rule order, as plan_rule gives them. */
			uint32_t v = bits | ++slot;
			if (slot > GWD_NFT_MAX_RATED)
				break;
			gwd_nft_elem_data(s, &slot, &v);
		}
	}
	gwd_nft_add_elems(b, s);
}

uint64_t gwd_nft_policy_domsets(const struct pol_ir *ir)
{
	uint64_t m = 0;
	for (uint32_t i = 0; i < ir->ndsts; i++)
		if (ir->dsts[i].kind == POL_DST_DOMAINS)
			m |= 1ull << ir->dsts[i].index;
	return m;
}

/* Device d's chain signature: its own list, its owner's, its groups'. */
struct sig {
	uint32_t dev, owner;
	uint64_t groups;
};

static int emit(struct ctx *c, const uint64_t *mask)
{
	const struct pol_ir *ir = c->ir;
	struct gwd_nft_batch *b = c->b;
	char n[N], m[N];
	int e = 0;
	struct dedup sigs = { 0 };
	uint32_t *devchain = calloc(ir->ndevices ? ir->ndevices : 1, sizeof(*devchain));
	uint32_t nsig = 0;
	if (!devchain)
		return -ENOMEM;

	/* Maps and sets whose elements come after the chains. */
	name(c, n, "dev");
	struct gwd_nft_set *dev = gwd_nft_set_new(n, NFT_SET_MAP, GWD_NFT_TYPE_ETHERADDR, 6);
	gwd_nft_set_map(dev, NFT_DATA_VERDICT, 0);
	add_set(c, dev);
	name(c, n, "act");
	struct gwd_nft_set *s = gwd_nft_set_new(n, 0, GWD_NFT_TYPE_MARK, 4);
	gwd_nft_set_map(s, NFT_DATA_VERDICT, 0);
	add_set(c, s);
	name(c, n, "cnt");
	s = gwd_nft_set_new(n, 0, GWD_NFT_TYPE_MARK, 4);
	gwd_nft_set_objmap(s, NFT_OBJECT_COUNTER);
	add_set(c, s);
	name(c, n, "final");
	s = gwd_nft_set_new(n, 0, GWD_NFT_TYPE_MARK, 4);
	gwd_nft_set_map(s, GWD_NFT_TYPE_MARK, 4);
	add_set(c, s);
	const char *marksets[] = { "active", "epoch0", "epoch" };
	for (unsigned i = 0; i < 3; i++) {
		name(c, n, "%s", marksets[i]);
		add_set(c, gwd_nft_set_new(n, 0, GWD_NFT_TYPE_MARK, 4));
	}
	const char *rates[] = { "rup", "rdown" };
	for (unsigned i = 0; i < 2; i++) {
		name(c, n, "%s", rates[i]);
		s = gwd_nft_set_new(n, 0, GWD_NFT_TYPE_MARK, 4);
		gwd_nft_set_map(s, NFT_DATA_VERDICT, 0);
		add_set(c, s);
	}
	for (unsigned d = 0; d < 64; d++) {
		if (!(c->domused >> d & 1))
			continue;
		for (unsigned f = 0; f < 2; f++) {
			name(c, n, "dom%u_%u", d, f ? 6 : 4);
			add_set(c, gwd_nft_set_new(n, NFT_SET_TIMEOUT,
						   f ? GWD_NFT_TYPE_IP6ADDR : GWD_NFT_TYPE_IPADDR,
						   f ? 16 : 4));
		}
	}

	/* Counters: one per rule and per default. */
	for (uint32_t j = 0; j < ir->nrules; j++) {
		name(c, n, "c%" PRIu32, j);
		gwd_nft_add_counter(b, n);
		c->st->counters++;
	}
	name(c, n, "cdef");
	gwd_nft_add_counter(b, n);
	name(c, n, "cnew");
	gwd_nft_add_counter(b, n);
	c->st->counters += 2;

	/* Chains. */
	const char *fixed[] = { "main", "reply", "new", pol_action_name(POL_ALLOW),
				pol_action_name(POL_BLOCK), pol_action_name(POL_REJECT) };
	for (unsigned i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		name(c, n, "%s", fixed[i]);
		gwd_nft_add_chain(b, n, NULL);
		c->st->chains++;
	}
	if (c->lany.n) {
		name(c, n, "lany");
		gwd_nft_add_chain(b, n, NULL);
		c->st->chains++;
	}
	if (c->lnew.n) {
		name(c, n, "lnew");
		gwd_nft_add_chain(b, n, NULL);
		c->st->chains++;
	}
	for (uint32_t i = 0; i < ir->ndevices; i++)
		if (c->ld[i].n) {
			name(c, n, "ld%" PRIu32, i);
			gwd_nft_add_chain(b, n, NULL);
			c->st->chains++;
		}
	for (uint32_t i = 0; i < ir->npersons; i++)
		if (c->lp[i].n) {
			name(c, n, "lp%" PRIu32, i);
			gwd_nft_add_chain(b, n, NULL);
			c->st->chains++;
		}
	for (uint32_t i = 0; i < ir->ngroups; i++)
		if (c->lg[i].n) {
			name(c, n, "lg%" PRIu32, i);
			gwd_nft_add_chain(b, n, NULL);
			c->st->chains++;
		}
	for (uint32_t d = 0; d < ir->ndevices && e == 0; d++) {
		const struct pol_device *dv = &ir->devices[d];
		struct sig sg;
		memset(&sg, 0, sizeof(sg));
		sg.dev = sg.owner = POL_NONE;
		if (c->ld[d].n)
			sg.dev = d;
		if (dv->owner != POL_NONE && c->lp[dv->owner].n)
			sg.owner = dv->owner;
		for (uint32_t g = 0; g < ir->ngroups; g++)
			if ((dv->groups >> g & 1) && c->lg[g].n)
				sg.groups |= 1ull << g;
		bool added;
		e = dedup_get(&sigs, &sg, sizeof(sg), nsig, &devchain[d], &added);
		if (e < 0 || !added)
			continue;
		nsig++;
		name(c, n, "d%" PRIu32, devchain[d]);
		gwd_nft_add_chain(b, n, NULL);
		c->st->chains++;
		const char *lists[2 + POL_MAX_GROUPS + 1];
		char names[2 + POL_MAX_GROUPS + 1][N];
		unsigned nl = 0;
		if (c->lany.n)
			name(c, names[nl++], "lany");
		if (sg.dev != POL_NONE)
			name(c, names[nl++], "ld%" PRIu32, sg.dev);
		if (sg.owner != POL_NONE)
			name(c, names[nl++], "lp%" PRIu32, sg.owner);
		for (uint32_t g = 0; g < ir->ngroups; g++)
			if (sg.groups >> g & 1)
				name(c, names[nl++], "lg%" PRIu32, g);
		for (unsigned i = 0; i < nl; i++)
			lists[i] = names[i];
		decide_chain(c, n, POL_RULE_DEFAULT, lists, nl);
	}
	if (e < 0)
		goto out;
	for (uint32_t j = 0; j < ir->nrules; j++) {
		const struct plan *p = &c->plans[j];
		if (p->skip || !((ir->rules[j].flags & POL_RULE_LOG) || p->slot))
			continue;
		name(c, n, "a%" PRIu32, j);
		gwd_nft_add_chain(b, n, NULL);
		c->st->chains++;
		if (p->slot) {
			name(c, n, "rt%" PRIu32 "u", p->slot);
			gwd_nft_add_chain(b, n, NULL);
			name(c, n, "rt%" PRIu32 "d", p->slot);
			gwd_nft_add_chain(b, n, NULL);
			c->st->chains += 2;
		}
	}

	/* Elements that name chains and counters. */
	name(c, n, "dev");
	dev = gwd_nft_set_new(n, NFT_SET_MAP, GWD_NFT_TYPE_ETHERADDR, 6);
	gwd_nft_set_map(dev, NFT_DATA_VERDICT, 0);
	for (uint32_t i = 0; i < ir->nmacs; i++) {
		name(c, m, "d%" PRIu32, devchain[ir->macs[i].device]);
		gwd_nft_elem_verdict(dev, ir->macs[i].mac, NFT_JUMP, m);
	}
	c->st->elements += (uint32_t)gwd_nft_set_count(dev);
	gwd_nft_add_elems(b, dev);
	name(c, n, "act");
	struct gwd_nft_set *act = gwd_nft_set_new(n, 0, GWD_NFT_TYPE_MARK, 4);
	gwd_nft_set_map(act, NFT_DATA_VERDICT, 0);
	name(c, n, "cnt");
	struct gwd_nft_set *cnt = gwd_nft_set_new(n, 0, GWD_NFT_TYPE_MARK, 4);
	gwd_nft_set_objmap(cnt, NFT_OBJECT_COUNTER);
	for (uint32_t j = 0; j < ir->nrules; j++) {
		const struct pol_rule *r = &ir->rules[j];
		const struct plan *p = &c->plans[j];
		if (p->skip)
			continue;
		if ((r->flags & POL_RULE_LOG) || p->slot)
			name(c, m, "a%" PRIu32, j);
		else
			name(c, m, "%s", action_name(r->action));
		gwd_nft_elem_verdict(act, &j, NFT_JUMP, m);
		name(c, m, "c%" PRIu32, j);
		gwd_nft_elem_obj(cnt, &j, m);
	}
	const uint32_t defs[2] = { POL_RULE_DEFAULT, POL_RULE_DEFAULT_NEW };
	const uint8_t defa[2] = { ir->meta->default_action, ir->meta->default_new };
	for (unsigned i = 0; i < 2; i++) {
		name(c, m, "%s", action_name(defa[i]));
		gwd_nft_elem_verdict(act, &defs[i], NFT_JUMP, m);
		name(c, m, i ? "cnew" : "cdef");
		gwd_nft_elem_obj(cnt, &defs[i], m);
	}
	c->st->elements += (uint32_t)(gwd_nft_set_count(act) + gwd_nft_set_count(cnt));
	gwd_nft_add_elems(b, act);
	gwd_nft_add_elems(b, cnt);
	for (unsigned i = 0; i < 2; i++) {
		name(c, n, "%s", rates[i]);
		s = gwd_nft_set_new(n, 0, GWD_NFT_TYPE_MARK, 4);
		gwd_nft_set_map(s, NFT_DATA_VERDICT, 0);
		for (uint32_t j = 0; j < ir->nrules; j++) {
			uint32_t slot = c->plans[j].slot;
			if (!slot || c->plans[j].skip)
				continue;
			name(c, m, "rt%" PRIu32 "%c", slot, i ? 'd' : 'u');
			gwd_nft_elem_verdict(s, &slot, NFT_JUMP, m);
		}
		gwd_nft_add_elems(b, s);
	}
	state_elems(b, c->pfx, ir, c->epoch, mask, false);

	/* Rules: the lists, the deciding chains, the actions. */
	if (c->lany.n) {
		name(c, n, "lany");
		list_chain(c, &c->lany, n);
	}
	if (c->lnew.n) {
		name(c, n, "lnew");
		list_chain(c, &c->lnew, n);
	}
	for (uint32_t i = 0; i < ir->ndevices; i++)
		if (c->ld[i].n) {
			name(c, n, "ld%" PRIu32, i);
			list_chain(c, &c->ld[i], n);
		}
	for (uint32_t i = 0; i < ir->npersons; i++)
		if (c->lp[i].n) {
			name(c, n, "lp%" PRIu32, i);
			list_chain(c, &c->lp[i], n);
		}
	for (uint32_t i = 0; i < ir->ngroups; i++)
		if (c->lg[i].n) {
			name(c, n, "lg%" PRIu32, i);
			list_chain(c, &c->lg[i], n);
		}
	{
		char ln[N];
		const char *lists[1];
		unsigned nl = 0;
		if (c->lnew.n) {
			name(c, ln, "lnew");
			lists[nl++] = ln;
		}
		name(c, n, "new");
		decide_chain(c, n, POL_RULE_DEFAULT_NEW, lists, nl);
	}
	generic_actions(c);
	for (uint32_t j = 0; j < ir->nrules; j++) {
		const struct plan *p = &c->plans[j];
		if (p->skip || !((ir->rules[j].flags & POL_RULE_LOG) || p->slot))
			continue;
		own_action(c, j);
		if (p->slot) {
			meter_chain(c, p->slot, ir->rules[j].rate_bps, true);
			meter_chain(c, p->slot, ir->rules[j].rate_bps, false);
		}
	}

	/* main and reply. */
	char e0[N], ep[N], rup[N], rdown[N], nw[N];
	name(c, e0, "epoch0");
	name(c, ep, "epoch");
	name(c, rup, "rup");
	name(c, rdown, "rdown");
	name(c, nw, "new");
	for (unsigned reply = 0; reply < 2; reply++) {
		name(c, n, "%s", reply ? "reply" : "main");
		struct gwd_nft_rule *r = gwd_nft_rule_new(b, n, NULL);
		gwd_nft_e_ct(r, NFT_CT_MARK, -1, NFT_REG_1);
		gwd_nft_e_lookup(r, NFT_REG_1, e0, GWD_NFT_SET_ONLY, false);
		gwd_nft_e_verdict(r, NF_ACCEPT, NULL);
		add_rule(c, r);
		r = gwd_nft_rule_new(b, n, NULL);
		ct_mark_masked(r, GWD_NFT_EPOCH_MASK);
		gwd_nft_e_lookup(r, NFT_REG_1, ep, GWD_NFT_SET_ONLY, false);
		ct_mark_masked(r, GWD_NFT_SLOT_MASK);
		gwd_nft_e_lookup(r, NFT_REG_1, reply ? rdown : rup, NFT_REG_VERDICT, false);
		add_rule(c, r);
		if (reply) {
			/* Decided before this epoch: its next packet the other
			 * way decides it again. */
			r = gwd_nft_rule_new(b, n, NULL);
			gwd_nft_e_verdict(r, NF_ACCEPT, NULL);
			add_rule(c, r);
			continue;
		}
		r = gwd_nft_rule_new(b, n, NULL);
		gwd_nft_e_meta(r, NFT_META_IIFTYPE, NFT_REG_1);
		uint16_t ether = ARPHRD_ETHER;
		gwd_nft_e_cmp(r, NFT_REG_1, NFT_CMP_EQ, &ether, 2);
		gwd_nft_e_payload(r, NFT_PAYLOAD_LL_HEADER, 6, 6, NFT_REG_1);
		name(c, m, "dev");
		gwd_nft_e_lookup(r, NFT_REG_1, m, NFT_REG_VERDICT, false);
		add_rule(c, r);
		r = gwd_nft_rule_new(b, n, NULL);
		gwd_nft_e_verdict(r, NFT_GOTO, nw);
		add_rule(c, r);
	}
out:
	dedup_free(&sigs);
	free(devchain);
	return e;
}

int gwd_nft_policy_build(struct gwd_nft_batch *b, const struct pol_ir *ir, uint32_t gen,
			 uint32_t id, uint32_t epoch, const uint64_t *mask, uint16_t nflog_group,
			 struct gwd_nft_policy_stats *st, char *err, size_t errlen)
{
	struct ctx c = { .b = b, .ir = ir, .id = id, .gen = gen, .epoch = epoch,
			 .group = nflog_group, .st = st };
	memset(st, 0, sizeof(*st));
	snprintf(c.pfx, sizeof(c.pfx), "p%" PRIu32 "_", id);
	/* Every domain set a rule names, also of a rule that can never
	 * match: the engine feeds them all (gwd_nft_policy_domsets). */
	c.domused = gwd_nft_policy_domsets(ir);
	int e = 0;
	uint32_t nrated = 0;
	for (unsigned f = 0; f < 2; f++) {
		gwd_nft_ranges_init(&c.lan[f], f ? 16 : 4);
	}
	add_prefixes(ir, ir->meta->lan_set, c.lan);
	gwd_nft_ranges_complement(&c.lan[0], &c.wan[0]);
	gwd_nft_ranges_complement(&c.lan[1], &c.wan[1]);
	c.plans = calloc(ir->nrules ? ir->nrules : 1, sizeof(*c.plans));
	c.ld = calloc(ir->ndevices ? ir->ndevices : 1, sizeof(*c.ld));
	c.lp = calloc(ir->npersons ? ir->npersons : 1, sizeof(*c.lp));
	c.lg = calloc(ir->ngroups ? ir->ngroups : 1, sizeof(*c.lg));
	if (!c.plans || !c.ld || !c.lp || !c.lg || c.lan[0].oom || c.lan[1].oom ||
	    c.wan[0].oom || c.wan[1].oom) {
		e = -ENOMEM;
		goto out;
	}
	for (uint32_t j = 0; j < ir->nrules && e == 0; j++) {
		e = plan_rule(&c, j, &nrated);
		if (e < 0 || c.plans[j].skip)
			continue;
		const struct pol_rule *r = &ir->rules[j];
		switch (r->subject_kind) {
		case POL_SUBJ_ANY: e = push32(&c.lany, j); break;
		case POL_SUBJ_NEW: e = push32(&c.lnew, j); break;
		default:
			for (uint32_t k = 0; k < r->subj_count && e == 0; k++) {
				uint32_t x = ir->subjects[r->subj_first + k].index;
				struct vec32 *l = r->subject_kind == POL_SUBJ_DEVICE ? &c.ld[x] :
						  r->subject_kind == POL_SUBJ_PERSON ? &c.lp[x] : &c.lg[x];
				/* A subject named twice in one rule: once is enough. */
				if (!l->n || l->v[l->n - 1] != j)
					e = push32(l, j);
			}
			break;
		}
	}
	if (e == -E2BIG) {
		snprintf(err, errlen, "more than %u rules with a rate: the nft engine's meters hold "
			 "%u", GWD_NFT_MAX_RATED, GWD_NFT_MAX_RATED);
		goto out;
	}
	if (e == 0)
		e = emit(&c, mask);
	if (e < 0)
		snprintf(err, errlen, "building the nftables objects: %s", strerror(-e));
out:
	for (uint32_t j = 0; c.plans && j < ir->nrules; j++)
		free(c.plans[j].alts);
	free(c.plans);
	for (uint32_t i = 0; c.ld && i < ir->ndevices; i++)
		free(c.ld[i].v);
	for (uint32_t i = 0; c.lp && i < ir->npersons; i++)
		free(c.lp[i].v);
	for (uint32_t i = 0; c.lg && i < ir->ngroups; i++)
		free(c.lg[i].v);
	free(c.ld);
	free(c.lp);
	free(c.lg);
	free(c.lany.v);
	free(c.lnew.v);
	dedup_free(&c.dsts);
	dedup_free(&c.ports);
	for (unsigned f = 0; f < 2; f++) {
		gwd_nft_ranges_free(&c.lan[f]);
		gwd_nft_ranges_free(&c.wan[f]);
	}
	return e;
}

void gwd_nft_policy_active(struct gwd_nft_batch *b, const struct pol_ir *ir, uint32_t id,
			   uint32_t epoch, const uint64_t *mask)
{
	char pfx[24];
	snprintf(pfx, sizeof(pfx), "p%" PRIu32 "_", id);
	state_elems(b, pfx, ir, epoch, mask, true);
}

void gwd_nft_policy_hook(struct gwd_nft_batch *b, uint32_t id, const char *comment)
{
	static const struct gwd_nft_hook fwd = { "filter", NF_INET_FORWARD, 0, NF_ACCEPT };
	gwd_nft_add_counter(b, GWD_NFT_DROP_POLICY_INVALID);
	gwd_nft_add_counter(b, GWD_NFT_DROP_RATE);
	gwd_nft_add_chain(b, GWD_NFT_POLICY_CHAIN, &fwd);
	gwd_nft_flush_chain(b, GWD_NFT_POLICY_CHAIN);
	/* What conntrack cannot follow is never decided: dropped, both ways. */
	struct gwd_nft_rule *r = gwd_nft_rule_new(b, GWD_NFT_POLICY_CHAIN, comment);
	gwd_nft_m_iif_in(r, GWD_NFT_SET_NFT);
	gwd_nft_m_ct_state(r, GWD_CT_INVALID | GWD_CT_UNTRACKED);
	gwd_nft_e_counter_ref(r, GWD_NFT_DROP_POLICY_INVALID);
	gwd_nft_e_verdict(r, NF_DROP, NULL);
	gwd_nft_add_rule(b, r);
	if (!id)
		return;
	char n[N];
	for (unsigned reply = 0; reply < 2; reply++) {
		r = gwd_nft_rule_new(b, GWD_NFT_POLICY_CHAIN, NULL);
		if (reply)
			gwd_nft_m_oif_in(r, GWD_NFT_SET_NFT);
		else
			gwd_nft_m_iif_in(r, GWD_NFT_SET_NFT);
		gwd_nft_e_ct(r, NFT_CT_DIRECTION, -1, NFT_REG_1);
		gwd_nft_e_cmp_u8(r, NFT_REG_1, NFT_CMP_EQ,
				 reply ? IP_CT_DIR_REPLY : IP_CT_DIR_ORIGINAL);
		snprintf(n, sizeof(n), "p%" PRIu32 "_%s", id, reply ? "reply" : "main");
		gwd_nft_e_verdict(r, NFT_JUMP, n);
		gwd_nft_add_rule(b, r);
	}
}

struct first_comment {
	char *out;
	size_t len;
	bool found;
};

static int take_comment(const char *comment, void *arg)
{
	struct first_comment *f = arg;
	if (!f->found && comment[0]) {
		snprintf(f->out, f->len, "%s", comment);
		f->found = true;
	}
	return 0;
}

int gwd_nft_policy_record(struct gwd_nft *n, char *out, size_t outlen)
{
	struct first_comment f = { out, outlen, false };
	out[0] = '\0';
	int r = gwd_nft_each_rule_comment(n, GWD_NFT_POLICY_CHAIN, take_comment, &f);
	return r == -ENOENT ? 0 : r;
}

void gwd_nft_policy_domset_name(uint32_t id, unsigned s, uint8_t family, char out[N])
{
	snprintf(out, N, "p%" PRIu32 "_dom%u_%u", id, s, family == 4 ? 4 : 6);
}

struct gwd_nft_set *gwd_nft_policy_domset(uint32_t id, unsigned s, uint8_t family)
{
	char n[N];
	gwd_nft_policy_domset_name(id, s, family, n);
	return gwd_nft_set_new(n, NFT_SET_TIMEOUT, family == 4 ? GWD_NFT_TYPE_IPADDR :
			       GWD_NFT_TYPE_IP6ADDR, family == 4 ? 4 : 16);
}

/* The build id of name "p<id>_<rest>", 0 when it is not one. */
static uint32_t build_of(const char *name, const char **rest)
{
	if (name[0] != 'p' || name[1] < '1' || name[1] > '9')
		return 0;
	uint64_t id = 0;
	const char *p = name + 1;
	for (; *p >= '0' && *p <= '9'; p++) {
		id = id * 10 + (uint64_t)(*p - '0');
		if (id > UINT32_MAX)
			return 0;
	}
	if (*p != '_')
		return 0;
	if (rest)
		*rest = p + 1;
	return (uint32_t)id;
}

struct ids {
	uint32_t *v;
	size_t max, n;
};

static int take_build(const char *name, bool base, void *arg)
{
	struct ids *x = arg;
	const char *rest;
	uint32_t id = build_of(name, &rest);
	if (id && !strcmp(rest, "main") && x->n < x->max)
		x->v[x->n++] = id;
	return 0;
}

int gwd_nft_policy_builds(struct gwd_nft *n, uint32_t *ids, size_t max, size_t *ret_n)
{
	struct ids x = { ids, max, 0 };
	int r = gwd_nft_each_chain(n, take_build, &x);
	if (r < 0)
		return r;
	*ret_n = x.n;
	return 0;
}

struct names {
	uint32_t id;
	char (*v)[N];
	size_t n, cap;
	int err;
};

static void take(struct names *x, const char *name)
{
	if (build_of(name, NULL) != x->id || x->err)
		return;
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 64;
		char(*v)[N] = realloc(x->v, cap * N);
		if (!v) {
			x->err = -ENOMEM;
			return;
		}
		x->v = v;
		x->cap = cap;
	}
	snprintf(x->v[x->n++], N, "%s", name);
}

static int take_chain(const char *name, bool base, void *arg)
{
	take(arg, name);
	return 0;
}

static int take_set(const char *name, void *arg)
{
	take(arg, name);
	return 0;
}

static int take_counter(const char *name, uint64_t pkts, uint64_t bytes, void *arg)
{
	take(arg, name);
	return 0;
}

int gwd_nft_policy_drop(struct gwd_nft *n, struct gwd_nft_batch *b, uint32_t id)
{
	struct names ch = { .id = id }, sets = { .id = id }, ctr = { .id = id };
	int r = gwd_nft_each_chain(n, take_chain, &ch);
	if (r == 0)
		r = gwd_nft_each_set(n, take_set, &sets);
	if (r == 0)
		r = gwd_nft_each_counter(n, take_counter, &ctr);
	if (r == 0)
		r = ch.err ? ch.err : sets.err ? sets.err : ctr.err;
	if (r == 0) {
		/* Rules first (they hold sets, chains and counters), then the
		 * maps (their elements hold chains and counters), then the
		 * chains and counters themselves: one transaction. */
		for (size_t i = 0; i < ch.n; i++)
			gwd_nft_flush_chain(b, ch.v[i]);
		for (size_t i = 0; i < sets.n; i++)
			gwd_nft_del_set(b, sets.v[i]);
		for (size_t i = 0; i < ch.n; i++)
			gwd_nft_del_chain(b, ch.v[i]);
		for (size_t i = 0; i < ctr.n; i++)
			gwd_nft_del_counter(b, ctr.v[i]);
	}
	free(ch.v);
	free(sets.v);
	free(ctr.v);
	return r;
}

struct rule_counters {
	uint32_t id;
	int (*fn)(uint32_t rule, uint64_t pkts, uint64_t bytes, void *arg);
	void *arg;
};

static int each_rule_counter(const char *name, uint64_t pkts, uint64_t bytes, void *arg)
{
	struct rule_counters *x = arg;
	const char *rest;
	if (build_of(name, &rest) != x->id || rest[0] != 'c')
		return 0;
	if (!strcmp(rest, "cdef"))
		return x->fn(POL_RULE_DEFAULT, pkts, bytes, x->arg);
	if (!strcmp(rest, "cnew"))
		return x->fn(POL_RULE_DEFAULT_NEW, pkts, bytes, x->arg);
	char *end;
	unsigned long j = strtoul(rest + 1, &end, 10);
	if (*end || end == rest + 1 || j >= POL_RULE_DEFAULT_NEW)
		return 0;
	return x->fn((uint32_t)j, pkts, bytes, x->arg);
}

int gwd_nft_policy_counters(struct gwd_nft *n, uint32_t id,
			    int (*fn)(uint32_t rule, uint64_t pkts, uint64_t bytes, void *arg),
			    void *arg)
{
	struct rule_counters x = { id, fn, arg };
	return gwd_nft_each_counter(n, each_rule_counter, &x);
}
