/* SPDX-License-Identifier: MIT */
/*
 * A compiled policy as nftables objects (nft_policy.h).  Pure translation
 * into batches, plus the reads that find a build's objects again.  Names
 * only the chain fwd_policy (and an older gwd's hook chain policy_fwd), the
 * live epoch's set, the policy's drop counters and objects with a build's
 * prefix p<id>_.
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
/* The key types of the concatenations, for `nft list`. */
#define KEY_DST  GWD_NFT_TYPE_CONCAT2(GWD_NFT_TYPE_MARK, GWD_NFT_TYPE_IP6ADDR)
#define KEY_PORT GWD_NFT_TYPE_CONCAT2(GWD_NFT_TYPE_MARK, GWD_NFT_TYPE_SERVICE)

/* --- small containers ------------------------------------------------------ */

struct vec32 {
	uint32_t *v;
	size_t n, cap;
	/* As a rule list: `after` another list in some device chain (its
	 * rules must beat the best rule found so far); `inl` written into its
	 * device chain (its rules decide at once instead of returning). */
	bool after, inl;
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
enum dst_kind { DST_NONE, DST_RANGE, DST_SET };

/*
 * Destinations are matched on one 16-byte key for both families, which
 * p<id>_main writes into the flow's ct label once: an IPv6 destination as
 * it is, an IPv4 one as ffff:ffff:ffff:ffff:ffff:ffff:a.b.c.d (inside
 * ff00::/8, where no forwarded IPv6 destination is, since those are
 * multicast; IPv6 ranges leave that block out).  So a rule's addresses,
 * of either family, are one check.
 *
 * A rule's destination: any (no check), or its static addresses (one range
 * checked in the rule, or several, as elements "rule . range" of the set
 * dst) and the domain sets it names (a bitmask, checked against the map
 * dom of learned addresses): one nft rule for each of the two.  A
 * condition of several ranges (destinations, ports) is numbered by its
 * content, so rules with the same one share its elements ("number .
 * range" in the interval concatenations dst and port).
 */
struct plan {
	bool skip;            /* can never match: nothing emitted */
	bool any;
	uint8_t l4mask;       /* POL_PROTO_* this rule takes, 0: any */
	uint8_t port;         /* enum port_kind */
	uint16_t plo, phi;
	uint8_t dst;          /* enum dst_kind */
	uint8_t lo[16], hi[16];
	uint32_t dset, pset;  /* the numbers of DST_SET and PORT_SET conditions */
	uint64_t dommask;
	uint32_t slot;        /* rate slot, 0: none */
};

/* IPv4 addresses in the key space. */
static const uint8_t V4_BLOCK[12] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};

void gwd_nft_policy_key(uint8_t family, const uint8_t *addr, uint8_t key[16])
{
	if (family == 4) {
		memcpy(key, V4_BLOCK, 12);
		memcpy(key + 12, addr, 4);
	} else {
		memcpy(key, addr, 16);
	}
}

struct ctx {
	struct gwd_nft_batch *b;
	const struct pol_ir *ir;
	uint32_t id, gen, epoch;
	uint16_t group;
	char pfx[24];
	struct gwd_nft_ranges lan[2], wan[2]; /* [0] IPv4, [1] IPv6 */
	struct gwd_nft_set *dstel, *portel; /* elements "condition . range" */
	struct dedup dsts, ports;             /* condition -> its number */
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

/* The number of the condition with ranges r: 0 and *ret_new when it is
 * new (then its elements are to be added), -errno. */
static int condition(struct dedup *d, uint32_t *count, const struct gwd_nft_ranges *r,
		     uint32_t *ret, bool *ret_new)
{
	size_t klen = r->n * 2 * r->width;
	uint8_t *key = malloc(klen ? klen : 1);
	if (!key)
		return -ENOMEM;
	for (size_t i = 0; i < r->n; i++) {
		memcpy(key + i * 2 * r->width, r->v[i].lo, r->width);
		memcpy(key + i * 2 * r->width + r->width, r->v[i].hi, r->width);
	}
	int e = dedup_get(d, key, klen, *count, ret, ret_new);
	free(key);
	if (e == 0 && *ret_new)
		++*count;
	return e;
}

/* The key "number . value" of a concatenation (each field padded to 4). */
static void concat_key(uint8_t *key, uint32_t j, const uint8_t *v, unsigned len)
{
	/* Numbers first fields are big-endian: `nft list` shows them so. */
	uint32_t be = htonl(j);
	memcpy(key, &be, 4);
	memset(key + 4, 0, (len + 3) / 4 * 4);
	memcpy(key + 4, v, len);
}

/* The unified key ranges of per-family ranges g into u. */
static void unify(struct gwd_nft_ranges g[2], struct gwd_nft_ranges *u)
{
	gwd_nft_ranges_merge(&g[0]);
	gwd_nft_ranges_merge(&g[1]);
	for (size_t i = 0; i < g[0].n; i++) {
		uint8_t lo[16], hi[16];
		gwd_nft_policy_key(4, g[0].v[i].lo, lo);
		gwd_nft_policy_key(4, g[0].v[i].hi, hi);
		gwd_nft_ranges_add(u, lo, hi);
	}
	/* IPv6 without the block IPv4 lives in. */
	uint8_t blo[16], bhi[16];
	memcpy(blo, V4_BLOCK, 12);
	memset(blo + 12, 0, 4);
	memcpy(bhi, V4_BLOCK, 12);
	memset(bhi + 12, 0xff, 4);
	for (size_t i = 0; i < g[1].n; i++) {
		const struct gwd_nft_range *x = &g[1].v[i];
		if (memcmp(x->hi, blo, 16) < 0 || memcmp(x->lo, bhi, 16) > 0) {
			gwd_nft_ranges_add(u, x->lo, x->hi);
			continue;
		}
		if (memcmp(x->lo, blo, 16) < 0) {
			uint8_t e[16];
			memcpy(e, blo, 16);
			for (int k = 15; k >= 0 && e[k]-- == 0; k--)
				;
			gwd_nft_ranges_add(u, x->lo, e);
		}
		if (memcmp(x->hi, bhi, 16) > 0) {
			uint8_t s[16];
			memcpy(s, bhi, 16);
			for (int k = 15; k >= 0 && ++s[k] == 0; k--)
				;
			gwd_nft_ranges_add(u, s, x->hi);
		}
	}
	gwd_nft_ranges_merge(u);
}

static int plan_dst(struct ctx *c, uint32_t j, const struct pol_rule *r, struct plan *p)
{
	const struct pol_ir *ir = c->ir;
	p->any = r->dst_count == 0;
	for (uint32_t k = 0; k < r->dst_count; k++)
		if (ir->dsts[r->dst_first + k].kind == POL_DST_ANY)
			p->any = true;
	if (p->any)
		return 0;
	struct gwd_nft_ranges g[2], u;
	gwd_nft_ranges_init(&g[0], 4);
	gwd_nft_ranges_init(&g[1], 16);
	gwd_nft_ranges_init(&u, 16);
	int e = 0;
	for (uint32_t k = 0; k < r->dst_count; k++) {
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
			p->dommask |= 1ull << d->index;
			break;
		}
	}
	if (gwd_nft_ranges_full(&g[0]) && gwd_nft_ranges_full(&g[1])) {
		/* Every address of both families: the domains add nothing. */
		p->any = true;
		p->dommask = 0;
		goto out;
	}
	unify(g, &u);
	if (g[0].oom || g[1].oom || u.oom) {
		e = -ENOMEM;
	} else if (u.n == 1) {
		p->dst = DST_RANGE;
		memcpy(p->lo, u.v[0].lo, 16);
		memcpy(p->hi, u.v[0].hi, 16);
	} else if (u.n > 1) {
		bool added;
		p->dst = DST_SET;
		e = condition(&c->dsts, &c->ndst, &u, &p->dset, &added);
		for (size_t i = 0; added && i < u.n && e == 0; i++) {
			uint8_t lo[20], hi[20];
			concat_key(lo, p->dset, u.v[i].lo, 16);
			concat_key(hi, p->dset, u.v[i].hi, 16);
			e = gwd_nft_elem_range(c->dstel, lo, hi);
		}
	}
out:
	gwd_nft_ranges_free(&g[0]);
	gwd_nft_ranges_free(&g[1]);
	gwd_nft_ranges_free(&u);
	return e;
}

static int plan_ports(struct ctx *c, uint32_t j, const struct pol_rule *r, struct plan *p)
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
		bool added;
		p->port = PORT_SET;
		e = condition(&c->ports, &c->nport, &g, &p->pset, &added);
		for (size_t i = 0; added && i < g.n && e == 0; i++) {
			uint8_t lo[8], hi[8];
			concat_key(lo, p->pset, g.v[i].lo, 2);
			concat_key(hi, p->pset, g.v[i].hi, 2);
			e = gwd_nft_elem_range(c->portel, lo, hi);
		}
	}
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
	int e = plan_ports(c, j, r, p);
	if (e == 0)
		e = plan_dst(c, j, r, p);
	if (e < 0)
		return e;
	if (!p->any && !p->dommask && p->dst == DST_NONE)
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

/* The ways a rule's destination can match: any, its static addresses,
 * each of its domain sets (WAY_DOM + s); one nft rule each.  (A domain
 * set is a plain set "s . key": a map looked up from thousands of rules
 * costs the kernel time quadratic in them at every load.) */
enum way { WAY_ANY, WAY_STATIC, WAY_DOM, WAY_COUNT = WAY_DOM + 64 };

static bool has_way(const struct plan *p, unsigned w)
{
	if (w == WAY_ANY)
		return p->any;
	if (w == WAY_STATIC)
		return !p->any && p->dst != DST_NONE;
	return !p->any && (p->dommask >> (w - WAY_DOM) & 1);
}

/* The destination check of way w, on the key in the ct label. */
static void dst_check(struct ctx *c, struct gwd_nft_rule *r, uint32_t j, const struct plan *p,
		      unsigned w)
{
	char n[N];
	if (w >= WAY_DOM) {
		uint32_t set = w - WAY_DOM;
		name(c, n, "dom");
		uint32_t be = htonl(set);
		gwd_nft_e_imm_data(r, NFT_REG32_00, &be, 4);
		gwd_nft_e_ct(r, NFT_CT_LABELS, -1, NFT_REG32_01);
		gwd_nft_e_lookup(r, NFT_REG32_00, n, GWD_NFT_SET_ONLY, false);
	} else if (w == WAY_STATIC && p->dst == DST_RANGE) {
		gwd_nft_e_ct(r, NFT_CT_LABELS, -1, NFT_REG_1);
		gwd_nft_e_range(r, NFT_REG_1, p->lo, p->hi, 16);
	} else if (w == WAY_STATIC) {
		name(c, n, "dst");
		uint32_t be = htonl(p->dset);
		gwd_nft_e_imm_data(r, NFT_REG32_00, &be, 4);
		gwd_nft_e_ct(r, NFT_CT_LABELS, -1, NFT_REG32_01);
		gwd_nft_e_lookup(r, NFT_REG32_00, n, GWD_NFT_SET_ONLY, false);
	}
}

/* Protocol and port in one comparison: meta l4proto into REG32_00 (a
 * byte, zero-padded), the destination port into REG32_01 (two bytes,
 * zero-padded), compared as 8 bytes (a range with the protocol fixed is
 * the port range of that protocol). */
static void proto_port(struct gwd_nft_rule *r, uint8_t proto, uint16_t lo, uint16_t hi)
{
	uint8_t a[8] = { proto, 0, 0, 0, (uint8_t)(lo >> 8), (uint8_t)lo, 0, 0 };
	uint8_t z[8] = { proto, 0, 0, 0, (uint8_t)(hi >> 8), (uint8_t)hi, 0, 0 };
	gwd_nft_e_meta(r, NFT_META_L4PROTO, NFT_REG32_00);
	gwd_nft_e_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_01);
	if (lo == hi)
		gwd_nft_e_cmp(r, NFT_REG32_00, NFT_CMP_EQ, a, 8);
	else
		gwd_nft_e_range(r, NFT_REG32_00, a, z, 8);
}

/* Rule j's nft rules in list l (chain `chain`): one per destination way.
 * Each sets ct mark to j when it matches; then returns to the device
 * chain, or, in a list written into its device chain, goes to decide. */
static void list_rule(struct ctx *c, const char *chain, const struct vec32 *l, uint32_t j)
{
	const struct pol_rule *pr = &c->ir->rules[j];
	const struct plan *p = &c->plans[j];
	for (unsigned w = 0; w < WAY_COUNT; w++) {
		if (!has_way(p, w))
			continue;
		struct gwd_nft_rule *r = gwd_nft_rule_new(c->b, chain, NULL);
		char n[N];
		uint8_t v[4];
		unsigned nv = l4_values(p->l4mask, v);
		bool ported = nv == 1 && (p->port == PORT_ONE || p->port == PORT_RANGE);
		if (ported) {
			proto_port(r, v[0], p->plo, p->phi);
		} else if (nv == 1) {
			gwd_nft_m_l4proto(r, v[0]);
		} else if (nv > 1) {
			name(c, n, "l4_%u", p->l4mask);
			gwd_nft_m_l4proto_in(r, n);
		}
		if (ported) {
			/* done with the protocol */
		} else if (p->port == PORT_ONE) {
			gwd_nft_m_th16(r, 2, p->plo);
		} else if (p->port == PORT_RANGE) {
			gwd_nft_m_th16_range(r, 2, p->plo, p->phi);
		} else if (p->port == PORT_SET) {
			name(c, n, "port");
			uint32_t be = htonl(p->pset);
			gwd_nft_e_imm_data(r, NFT_REG32_00, &be, 4);
			gwd_nft_e_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_01);
			gwd_nft_e_lookup(r, NFT_REG32_00, n, GWD_NFT_SET_ONLY, false);
		}
		dst_check(c, r, j, p, w);
		if (l->after) {
			/* Only a rule earlier than the best one found so far
			 * (a list first in every chain that jumps to it starts
			 * from the default, later than every rule). */
			uint32_t be = htonl(j);
			gwd_nft_e_ct(r, NFT_CT_MARK, -1, NFT_REG_1);
			gwd_nft_e_byteorder_hton(r, NFT_REG_1, 4, 4);
			gwd_nft_e_cmp(r, NFT_REG_1, NFT_CMP_GT, &be, 4);
		}
		if (pr->flags & POL_RULE_DURING) {
			name(c, n, "active");
			gwd_nft_e_imm_data(r, NFT_REG_1, &j, 4);
			gwd_nft_e_lookup(r, NFT_REG_1, n, GWD_NFT_SET_ONLY, false);
		}
		ct_mark_set(r, j);
		if (l->inl) {
			name(c, n, "decide");
			gwd_nft_e_verdict(r, NFT_GOTO, n);
		} else {
			gwd_nft_e_verdict(r, NFT_RETURN, NULL);
		}
		add_rule(c, r);
	}
}

static void list_chain(struct ctx *c, const struct vec32 *l, const char *chain)
{
	for (size_t i = 0; i < l->n; i++)
		list_rule(c, chain, l, l->v[i]);
}

/* A device's chain: the default, jumps to its lists, the rules of the
 * list written into it (inl, NULL: none; always its last list), then the
 * action of the rule that won (in decide, the one chain that looks act
 * up: each chain binding a verdict map makes the kernel walk all its
 * elements). */
static void decide_chain(struct ctx *c, const char *chain, uint32_t start, const char **lists,
			 unsigned nlists, const struct vec32 *inl)
{
	char n[N];
	struct gwd_nft_rule *r;
	if (nlists || !inl) {
		r = gwd_nft_rule_new(c->b, chain, NULL);
		ct_mark_set(r, start);
		if (nlists)
			gwd_nft_e_verdict(r, NFT_JUMP, lists[0]);
		add_rule(c, r);
	}
	for (unsigned i = 1; i < nlists; i++) {
		r = gwd_nft_rule_new(c->b, chain, NULL);
		gwd_nft_e_verdict(r, NFT_JUMP, lists[i]);
		add_rule(c, r);
	}
	if (inl)
		list_chain(c, inl, chain);
	r = gwd_nft_rule_new(c->b, chain, NULL);
	/* Without lists before the written-in one, the default is set only
	 * when no rule of it matched. */
	if (inl && !nlists)
		ct_mark_set(r, start);
	name(c, n, "decide");
	gwd_nft_e_verdict(r, NFT_GOTO, n);
	add_rule(c, r);
}

static void decide(struct ctx *c)
{
	char n[N], a[N];
	name(c, n, "decide");
	name(c, a, "act");
	struct gwd_nft_rule *r = gwd_nft_rule_new(c->b, n, NULL);
	gwd_nft_e_ct(r, NFT_CT_MARK, -1, NFT_REG_1);
	gwd_nft_e_lookup(r, NFT_REG_1, a, NFT_REG_VERDICT, false);
	add_rule(c, r);
	/* act has every rule and both defaults: never reached. */
	r = gwd_nft_rule_new(c->b, n, NULL);
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

/* The actions of rules without log or rate; each rule is counted by its
 * element of act. */
static void generic_actions(struct ctx *c)
{
	char n[N];
	for (unsigned k = 0; k < POL_ACTION_COUNT; k++) {
		name(c, n, "%s", pol_action_name(k));
		struct gwd_nft_rule *r;
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

/* Rule j's own action chain a<j>: its log, its meter. */
static void own_action(struct ctx *c, uint32_t j)
{
	const struct pol_rule *pr = &c->ir->rules[j];
	const struct plan *p = &c->plans[j];
	char n[N];
	name(c, n, "a%" PRIu32, j);
	struct gwd_nft_rule *r = gwd_nft_rule_new(c->b, n, NULL);
	if (pr->flags & POL_RULE_LOG) {
		char prefix[128];
		/* gwd reads these back from nflog (engine_nft.c). */
		snprintf(prefix, sizeof(prefix), "gw gen=%" PRIu32 " rule=%" PRIu32 " action=%s ",
			 c->gen, j, pol_action_name(pr->action));
		gwd_nft_e_log(r, c->group, prefix);
	}
	char g[N];
	if (pr->action == POL_ALLOW && p->slot) {
		char rt[N];
		final_mark(c, r, p->slot);
		name(c, rt, "rt%" PRIu32 "u", p->slot);
		gwd_nft_e_verdict(r, NFT_JUMP, rt);
		add_rule(c, r);
		r = gwd_nft_rule_new(c->b, n, NULL);
		gwd_nft_e_verdict(r, NF_ACCEPT, NULL);
		add_rule(c, r);
	} else {
		/* Logged: then as every rule of its action. */
		name(c, g, "%s", pol_action_name(pr->action));
		gwd_nft_e_verdict(r, NFT_GOTO, g);
		add_rule(c, r);
	}
}

/* The meter sets, shared by every rated rule: one element per (rate
 * slot, device address), made by the rule's own meter chain with its
 * rate, gone after a minute without traffic. */
static void meter_sets(struct ctx *c)
{
	static const uint8_t f4[] = { 4, 4 }, f6[] = { 4, 16 };
	const char *names[] = { "mu4", "mu6", "md4", "md6" };
	for (unsigned i = 0; i < 4; i++) {
		char n[N];
		bool v6 = i & 1;
		name(c, n, "%s", names[i]);
		struct gwd_nft_set *s = gwd_nft_set_new(n, NFT_SET_TIMEOUT | NFT_SET_EVAL,
							v6 ? GWD_NFT_TYPE_CONCAT2(GWD_NFT_TYPE_MARK, GWD_NFT_TYPE_IP6ADDR) :
							     GWD_NFT_TYPE_CONCAT2(GWD_NFT_TYPE_MARK, GWD_NFT_TYPE_IPADDR),
							v6 ? 20 : 8);
		gwd_nft_set_concat(s, v6 ? f6 : f4, 2);
		gwd_nft_set_timeout(s, 60000);
		gwd_nft_set_size(s, 65535);
		add_set(c, s);
	}
}

/* A meter chain: over the rate for the device (the flow's original
 * source) -> drop; else accept. */
static void meter_chain(struct ctx *c, uint32_t slot, uint64_t bps, bool up)
{
	char n[N], s4[N], s6[N];
	const char d = up ? 'u' : 'd';
	name(c, n, "rt%" PRIu32 "%c", slot, d);
	name(c, s4, "m%c4", d);
	name(c, s6, "m%c6", d);
	uint64_t bytes = bps / 8 ? bps / 8 : 1;
	/* nft's bucket holds a second at the rate plus the burst: a second
	 * is burst enough (two full frames at the least). */
	uint64_t burst = bytes >= 3028 ? 0 : 3028;
	for (unsigned f = 0; f < 2; f++) {
		struct gwd_nft_rule *r = gwd_nft_rule_new(c->b, n, NULL);
		gwd_nft_m_nfproto(r, f ? NFPROTO_IPV6 : NFPROTO_IPV4);
		uint32_t be = htonl(slot);
		gwd_nft_e_imm_data(r, NFT_REG32_00, &be, 4);
		gwd_nft_e_ct(r, f ? NFT_CT_SRC_IP6 : NFT_CT_SRC_IP, IP_CT_DIR_ORIGINAL, NFT_REG32_01);
		gwd_nft_e_meter_over(r, NFT_REG32_00, f ? s6 : s4, bytes, (uint32_t)burst);
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

	/* The drops the build counts (also made by the hook: here too, so a
	 * build loads into a table the guard has just put back). */
	gwd_nft_add_counter(b, GWD_NFT_DROP_POLICY_INVALID);
	gwd_nft_add_counter(b, GWD_NFT_DROP_RATE);
	/* Maps and sets whose elements come after the chains. */
	name(c, n, "dev");
	struct gwd_nft_set *dev = gwd_nft_set_new(n, NFT_SET_MAP, GWD_NFT_TYPE_ETHERADDR, 6);
	gwd_nft_set_map(dev, NFT_DATA_VERDICT, 0);
	add_set(c, dev);
	/* act counts, per element, the flows each rule decided. */
	name(c, n, "act");
	struct gwd_nft_set *s = gwd_nft_set_new(n, 0, GWD_NFT_TYPE_MARK, 4);
	gwd_nft_set_map(s, NFT_DATA_VERDICT, 0);
	gwd_nft_set_counters(s);
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
	/* Learned addresses -> the domain sets they are in (a bitmask). */
	add_set(c, gwd_nft_policy_domset(c->id));
	/* "rule . range" of destinations and ports, filled while planning. */
	static const uint8_t fd[] = { 4, 16 }, fp[] = { 4, 2 };
	name(c, n, "dst");
	s = gwd_nft_set_new(n, NFT_SET_INTERVAL, KEY_DST, 20);
	gwd_nft_set_concat(s, fd, 2);
	add_set(c, s);
	c->st->elements += (uint32_t)gwd_nft_set_count(c->dstel);
	gwd_nft_add_elems(b, c->dstel);
	c->dstel = NULL;
	name(c, n, "port");
	s = gwd_nft_set_new(n, NFT_SET_INTERVAL, KEY_PORT, 8);
	gwd_nft_set_concat(s, fp, 2);
	add_set(c, s);
	c->st->elements += (uint32_t)gwd_nft_set_count(c->portel);
	gwd_nft_add_elems(b, c->portel);
	c->portel = NULL;
	/* The meters' sets only for a rule that has a meter chain (a set
	 * sized for its elements costs the kernel its table at once). */
	for (uint32_t j = 0; j < ir->nrules; j++)
		if (c->plans[j].slot && !c->plans[j].skip) {
			meter_sets(c);
			break;
		}

	/* Chains. */
	const char *fixed[] = { "main", "reply", "new", "decide", pol_action_name(POL_ALLOW),
				pol_action_name(POL_BLOCK), pol_action_name(POL_REJECT) };
	for (unsigned i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		name(c, n, "%s", fixed[i]);
		gwd_nft_add_chain(b, n, NULL);
		c->st->chains++;
	}
	/* Device chains: one per signature (the lists a device is in).  A
	 * device's own list, when it is the last of its chain, is written
	 * into that chain (no other chain has it); a list after another one
	 * in some chain checks the best rule found so far. */
	struct sig *sigv = calloc(ir->ndevices ? ir->ndevices : 1, sizeof(*sigv));
	if (!sigv) {
		e = -ENOMEM;
		goto out;
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
		sigv[nsig++] = sg;
		bool before = c->lany.n > 0;
		if (sg.dev != POL_NONE) {
			c->ld[d].after = before;
			c->ld[d].inl = sg.owner == POL_NONE && !sg.groups;
			before = true;
		}
		if (sg.owner != POL_NONE) {
			c->lp[sg.owner].after |= before;
			before = true;
		}
		for (uint32_t g = 0; g < ir->ngroups; g++)
			if (sg.groups >> g & 1) {
				c->lg[g].after |= before;
				before = true;
			}
	}
	c->lnew.inl = true;
	if (e < 0)
		goto out_sigs;
	if (c->lany.n) {
		name(c, n, "lany");
		gwd_nft_add_chain(b, n, NULL);
		c->st->chains++;
	}
	for (uint32_t i = 0; i < ir->ndevices; i++)
		if (c->ld[i].n && !c->ld[i].inl) {
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
	for (uint32_t k = 0; k < nsig; k++) {
		const struct sig *sg = &sigv[k];
		name(c, n, "d%" PRIu32, k);
		gwd_nft_add_chain(b, n, NULL);
		c->st->chains++;
		const char *lists[2 + POL_MAX_GROUPS + 1];
		char names[2 + POL_MAX_GROUPS + 1][N];
		unsigned nl = 0;
		const struct vec32 *inl = NULL;
		if (c->lany.n)
			name(c, names[nl++], "lany");
		if (sg->dev != POL_NONE && c->ld[sg->dev].inl)
			inl = &c->ld[sg->dev];
		else if (sg->dev != POL_NONE)
			name(c, names[nl++], "ld%" PRIu32, sg->dev);
		if (sg->owner != POL_NONE)
			name(c, names[nl++], "lp%" PRIu32, sg->owner);
		for (uint32_t g = 0; g < ir->ngroups; g++)
			if (sg->groups >> g & 1)
				name(c, names[nl++], "lg%" PRIu32, g);
		for (unsigned i = 0; i < nl; i++)
			lists[i] = names[i];
		decide_chain(c, n, POL_RULE_DEFAULT, lists, nl, inl);
	}
out_sigs:
	free(sigv);
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
	for (uint32_t j = 0; j < ir->nrules; j++) {
		const struct pol_rule *r = &ir->rules[j];
		const struct plan *p = &c->plans[j];
		if (p->skip)
			continue;
		if ((r->flags & POL_RULE_LOG) || p->slot)
			name(c, m, "a%" PRIu32, j);
		else
			name(c, m, "%s", pol_action_name(r->action));
		gwd_nft_elem_verdict(act, &j, NFT_JUMP, m);
	}
	const uint32_t defs[2] = { POL_RULE_DEFAULT, POL_RULE_DEFAULT_NEW };
	const uint8_t defa[2] = { ir->meta->default_action, ir->meta->default_new };
	for (unsigned i = 0; i < 2; i++) {
		name(c, m, "%s", pol_action_name(defa[i]));
		gwd_nft_elem_verdict(act, &defs[i], NFT_JUMP, m);
	}
	c->st->elements += (uint32_t)gwd_nft_set_count(act);
	gwd_nft_add_elems(b, act);
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
	for (uint32_t i = 0; i < ir->ndevices; i++)
		if (c->ld[i].n && !c->ld[i].inl) {
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
	name(c, n, "new");
	decide_chain(c, n, POL_RULE_DEFAULT_NEW, NULL, 0, &c->lnew);
	generic_actions(c);
	decide(c);
	for (uint32_t j = 0; j < ir->nrules; j++) {
		const struct plan *p = &c->plans[j];
		if (p->skip || !((ir->rules[j].flags & POL_RULE_LOG) || p->slot))
			continue;
		own_action(c, j);
		if (p->slot && !p->skip) {
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
		/* The destination's key into the ct label (a flow's
		 * destination never changes: an earlier write wrote the same). */
		r = gwd_nft_rule_new(b, n, NULL);
		gwd_nft_m_nfproto(r, NFPROTO_IPV4);
		gwd_nft_e_imm_data(r, NFT_REG32_00, V4_BLOCK, 12);
		gwd_nft_e_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 16, 4, NFT_REG32_03);
		gwd_nft_e_ct_set(r, NFT_CT_LABELS, NFT_REG_1);
		add_rule(c, r);
		r = gwd_nft_rule_new(b, n, NULL);
		gwd_nft_m_nfproto(r, NFPROTO_IPV6);
		gwd_nft_e_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 24, 16, NFT_REG_1);
		gwd_nft_e_ct_set(r, NFT_CT_LABELS, NFT_REG_1);
		add_rule(c, r);
		/* A flow conntrack made before labels were on has none: it is
		 * not decided on a destination it does not show (fail closed). */
		r = gwd_nft_rule_new(b, n, NULL);
		static const uint8_t zero16[16];
		gwd_nft_e_ct(r, NFT_CT_LABELS, -1, NFT_REG_1);
		gwd_nft_e_cmp(r, NFT_REG_1, NFT_CMP_EQ, zero16, 16);
		gwd_nft_e_counter_ref(r, GWD_NFT_DROP_POLICY_INVALID);
		gwd_nft_e_verdict(r, NF_DROP, NULL);
		add_rule(c, r);
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
	static const uint8_t fd[] = { 4, 16 }, fp[] = { 4, 2 };
	{
		char n[N];
		name(&c, n, "dst");
		c.dstel = gwd_nft_set_new(n, NFT_SET_INTERVAL, KEY_DST, 20);
		gwd_nft_set_concat(c.dstel, fd, 2);
		name(&c, n, "port");
		c.portel = gwd_nft_set_new(n, NFT_SET_INTERVAL, KEY_PORT, 8);
		gwd_nft_set_concat(c.portel, fp, 2);
	}
	c.plans = calloc(ir->nrules ? ir->nrules : 1, sizeof(*c.plans));
	c.ld = calloc(ir->ndevices ? ir->ndevices : 1, sizeof(*c.ld));
	c.lp = calloc(ir->npersons ? ir->npersons : 1, sizeof(*c.lp));
	c.lg = calloc(ir->ngroups ? ir->ngroups : 1, sizeof(*c.lg));
	if (!c.plans || !c.ld || !c.lp || !c.lg || !c.dstel || !c.portel ||
	    c.lan[0].oom || c.lan[1].oom ||
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
	dedup_free(&c.dsts);
	dedup_free(&c.ports);
	gwd_nft_set_free(c.dstel);
	gwd_nft_set_free(c.portel);
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

void gwd_nft_policy_hook(struct gwd_nft_batch *b, uint32_t id, uint32_t epoch,
			 const char *comment)
{
	gwd_nft_add_counter(b, GWD_NFT_DROP_POLICY_INVALID);
	gwd_nft_add_counter(b, GWD_NFT_DROP_RATE);
	/* The live epoch's mark of a flow allowed without a rate: one lookup
	 * lets every later packet of it through, both ways. */
	gwd_nft_add_set(b, gwd_nft_set_new(GWD_NFT_LIVE_SET, 0, GWD_NFT_TYPE_MARK, 4));
	gwd_nft_flush_set(b, GWD_NFT_LIVE_SET);
	if (id) {
		struct gwd_nft_set *live = gwd_nft_set_new(GWD_NFT_LIVE_SET, 0, GWD_NFT_TYPE_MARK, 4);
		uint32_t bits = GWD_NFT_EPOCH_BITS(epoch);
		gwd_nft_elem(live, &bits, 0, 0);
		gwd_nft_add_elems(b, live);
	}
	/* An older gwd's hook chain (forward, priority filter) goes: the
	 * guard's forward chain goes to this one now. */
	gwd_nft_add_chain(b, GWD_NFT_LEGACY_CHAIN, NULL);
	gwd_nft_flush_chain(b, GWD_NFT_LEGACY_CHAIN);
	gwd_nft_del_chain(b, GWD_NFT_LEGACY_CHAIN);
	gwd_nft_add_chain(b, GWD_NFT_POLICY_CHAIN, NULL);
	gwd_nft_flush_chain(b, GWD_NFT_POLICY_CHAIN);
	struct gwd_nft_rule *r = gwd_nft_rule_new(b, GWD_NFT_POLICY_CHAIN, comment);
	gwd_nft_e_ct(r, NFT_CT_MARK, -1, NFT_REG_1);
	gwd_nft_e_lookup(r, NFT_REG_1, GWD_NFT_LIVE_SET, GWD_NFT_SET_ONLY, false);
	gwd_nft_e_verdict(r, NF_ACCEPT, NULL);
	gwd_nft_add_rule(b, r);
	/* What conntrack cannot follow is never decided: dropped, both ways. */
	r = gwd_nft_rule_new(b, GWD_NFT_POLICY_CHAIN, NULL);
	gwd_nft_m_ct_state(r, GWD_CT_INVALID | GWD_CT_UNTRACKED); /* one read fails a valid one */
	gwd_nft_m_iif_in(r, GWD_NFT_SET_NFT);
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
	/* An older gwd's table: its hook chain holds the record (adopted;
	 * the next commit puts the record where it goes now). */
	if ((r == -ENOENT || (r == 0 && !f.found)) &&
	    (r = gwd_nft_each_rule_comment(n, GWD_NFT_LEGACY_CHAIN, take_comment, &f)) == -ENOENT)
		return 0;
	return r == -ENOENT ? 0 : r;
}

static int is_legacy(const char *name, bool base, void *arg)
{
	if (!strcmp(name, GWD_NFT_LEGACY_CHAIN))
		*(bool *)arg = true;
	return 0;
}

int gwd_nft_policy_legacy(struct gwd_nft *n, bool *ret)
{
	*ret = false;
	int r = gwd_nft_each_chain(n, is_legacy, ret);
	return r < 0 ? r : 0;
}

struct gwd_nft_set *gwd_nft_policy_domset(uint32_t id)
{
	char n[N];
	snprintf(n, sizeof(n), "p%" PRIu32 "_dom", id);
	return gwd_nft_set_new(n, NFT_SET_TIMEOUT, KEY_DST, 20);
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
	int (*fn)(uint32_t rule, uint64_t pkts, uint64_t bytes, void *arg);
	void *arg;
};

static int each_act(const uint8_t *key, uint32_t len, uint64_t pkts, uint64_t bytes, void *arg)
{
	struct rule_counters *x = arg;
	uint32_t j;
	if (len != 4)
		return 0;
	memcpy(&j, key, 4);
	return x->fn(j, pkts, bytes, x->arg);
}

int gwd_nft_policy_counters(struct gwd_nft *n, uint32_t id,
			    int (*fn)(uint32_t rule, uint64_t pkts, uint64_t bytes, void *arg),
			    void *arg)
{
	char set[N];
	struct rule_counters x = { fn, arg };
	snprintf(set, sizeof(set), "p%" PRIu32 "_act", id);
	return gwd_nft_each_elem_counter(n, set, each_act, &x);
}
