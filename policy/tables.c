/* SPDX-License-Identifier: MIT */
/*
 * From a loaded policy (struct pol_ir) to its bit-vector tables (tables.h):
 * one rule bitmap per equivalence class of each packet field, deduplicated,
 * and the lookup tables that map a field's value to its class.  Reads only
 * the IR; allocates only the tables and its own scratch.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tables.h"

_Static_assert(POL_TABLES_ALLOW == POL_ALLOW && POL_TABLES_BLOCK == POL_BLOCK &&
	       POL_TABLES_REJECT == POL_REJECT, "actions are enum pol_action");
_Static_assert(POL_TABLES_RULE_DEFAULT == POL_RULE_DEFAULT &&
	       POL_TABLES_RULE_DEFAULT_NEW == POL_RULE_DEFAULT_NEW, "default rules are eval.h's");
_Static_assert(POL_TABLES_RULE_LOG == POL_RULE_LOG && POL_TABLES_RULE_RATE == POL_RULE_RATE,
	       "rule flags are the IR's");

/* ---------------------------------------------------------------- bitmaps */

/* A bitmap is a row of `words` u64 (struct pol_tables).  Scratch rows come
 * from calloc in the builder that needs them. */
static inline void bm_set(uint64_t *b, uint32_t r)
{
	b[r / 64] |= 1ull << (r % 64);
}

static inline void bm_or(uint64_t *d, const uint64_t *s, unsigned words)
{
	for (unsigned i = 0; i < words; i++)
		d[i] |= s[i];
}

/* The image's bitmap table, with a hash index so equal bitmaps get one
 * index. */
struct bmtab {
	uint64_t *v;     /* n rows of words */
	unsigned words;
	uint32_t n, cap, max;
	uint32_t *slots; /* index + 1; 0 = empty */
	uint32_t nslots; /* power of two, > 2 * max */
};

static uint64_t bm_hash(const uint64_t *b, unsigned words)
{
	uint64_t h = 0x9e3779b97f4a7c15ull;
	for (unsigned i = 0; i < words; i++) {
		h ^= b[i];
		h *= 0xff51afd7ed558ccdull;
		h ^= h >> 33;
	}
	return h;
}

static int bmtab_init(struct bmtab *t, unsigned words, uint32_t max)
{
	uint32_t nslots = 4;
	while (nslots < 4 * max)
		nslots *= 2;
	*t = (struct bmtab){ .nslots = nslots, .words = words, .max = max };
	t->slots = calloc(t->nslots, sizeof(*t->slots));
	t->cap = 256;
	t->v = malloc((size_t)t->cap * words * sizeof(*t->v));
	return t->slots && t->v ? 0 : -ENOMEM;
}

static uint64_t *bmtab_row(const struct bmtab *t, uint32_t i)
{
	return t->v + (size_t)i * t->words;
}

static int bmtab_push(struct bmtab *t, const uint64_t *b)
{
	if (t->n == t->max)
		return -E2BIG;
	if (t->n == t->cap) {
		uint64_t *v = realloc(t->v, (size_t)2 * t->cap * t->words * sizeof(*v));
		if (!v)
			return -ENOMEM;
		t->v = v;
		t->cap *= 2;
	}
	memcpy(bmtab_row(t, t->n), b, t->words * sizeof(*b));
	return (int)t->n++;
}

/* The index of a bitmap equal to b, added if new; or -E2BIG/-ENOMEM. */
static int bmtab_intern(struct bmtab *t, const uint64_t *b)
{
	uint32_t mask = t->nslots - 1;
	for (uint32_t h = (uint32_t)bm_hash(b, t->words) & mask;; h = (h + 1) & mask) {
		if (!t->slots[h]) {
			int r = bmtab_push(t, b);
			if (r >= 0)
				t->slots[h] = (uint32_t)r + 1;
			return r;
		}
		if (!memcmp(bmtab_row(t, t->slots[h] - 1), b, t->words * sizeof(*b)))
			return (int)t->slots[h] - 1;
	}
}

/* A fixed index: stored at the next position even if equal to another,
 * and findable by later interns. */
static int bmtab_fixed(struct bmtab *t, const uint64_t *b)
{
	int r = bmtab_push(t, b);
	if (r < 0)
		return r;
	uint32_t mask = t->nslots - 1;
	for (uint32_t h = (uint32_t)bm_hash(b, t->words) & mask;; h = (h + 1) & mask) {
		if (!t->slots[h]) {
			t->slots[h] = (uint32_t)r + 1;
			return r;
		}
		if (!memcmp(bmtab_row(t, t->slots[h] - 1), b, t->words * sizeof(*b)))
			return r;
	}
}

/* ---------------------------------------------------------------- fields */

static bool rule_any_dst(const struct pol_ir *ir, const struct pol_rule *r)
{
	if (r->dst_count == 0)
		return true;
	for (uint32_t k = 0; k < r->dst_count; k++)
		if (ir->dsts[r->dst_first + k].kind == POL_DST_ANY)
			return true;
	return false;
}

static int build_subjects(const struct pol_ir *ir, struct bmtab *t, struct pol_tables *tb)
{
	const unsigned W = t->words;
	uint64_t *dev = calloc((size_t)(ir->ndevices ? ir->ndevices : 1) * W, sizeof(*dev));
	uint64_t *isnew = calloc(W, sizeof(*isnew));
	int r = -ENOMEM;
	if (!dev || !isnew)
		goto out;
	for (uint32_t i = 0; i < ir->nrules; i++) {
		const struct pol_rule *ru = &ir->rules[i];
		switch (ru->subject_kind) {
		case POL_SUBJ_NEW:
			bm_set(isnew, i);
			break;
		case POL_SUBJ_ANY:
			for (uint32_t d = 0; d < ir->ndevices; d++)
				bm_set(&dev[(size_t)d * W], i);
			break;
		case POL_SUBJ_DEVICE:
			for (uint32_t k = 0; k < ru->subj_count; k++)
				bm_set(&dev[(size_t)ir->subjects[ru->subj_first + k].index * W], i);
			break;
		case POL_SUBJ_PERSON:
		case POL_SUBJ_GROUP:
			for (uint32_t k = 0; k < ru->subj_count; k++) {
				uint32_t x = ir->subjects[ru->subj_first + k].index;
				for (uint32_t d = 0; d < ir->ndevices; d++) {
					const struct pol_device *pd = &ir->devices[d];
					if (ru->subject_kind == POL_SUBJ_PERSON ? pd->owner == x
										: (pd->groups >> x & 1))
						bm_set(&dev[(size_t)d * W], i);
				}
			}
			break;
		}
	}
	r = bmtab_intern(t, isnew);
	if (r < 0)
		goto out;
	tb->head.subj_new = (uint16_t)r;
	tb->macs = calloc(ir->nmacs ? ir->nmacs : 1, sizeof(*tb->macs));
	r = -ENOMEM;
	if (!tb->macs)
		goto out;
	/* ir->macs is sorted by MAC and unique: the tables keep that order. */
	for (uint32_t m = 0; m < ir->nmacs; m++) {
		uint32_t d = ir->macs[m].device;
		r = bmtab_intern(t, &dev[(size_t)d * W]);
		if (r < 0)
			goto out;
		struct pol_tables_mac *e = &tb->macs[m];
		memcpy(e->mac, ir->macs[m].mac, 6);
		e->device = d;
		e->subject = (uint16_t)r;
	}
	tb->nmacs = ir->nmacs;
	r = 0;
out:
	free(dev);
	free(isnew);
	return r;
}

static int build_protos_domains(const struct pol_ir *ir, struct bmtab *t)
{
	const unsigned W = t->words;
	uint64_t *b = calloc((size_t)POL_TABLES_BM_FIRST_FREE * W, sizeof(*b));
	int r = 0;
	if (!b)
		return -ENOMEM;
	for (uint32_t i = 0; i < ir->nrules; i++) {
		const struct pol_rule *ru = &ir->rules[i];
		bool all = ru->protos == 0, noports = ru->port_count == 0;
		if (all || ru->protos & POL_PROTO_TCP)
			bm_set(&b[POL_TABLES_BM_TCP * W], i);
		if (all || ru->protos & POL_PROTO_UDP)
			bm_set(&b[POL_TABLES_BM_UDP * W], i);
		/* Only TCP and UDP have ports: a rule that lists ports never
		 * matches anything else. */
		if ((all || ru->protos & POL_PROTO_ICMP) && noports)
			bm_set(&b[POL_TABLES_BM_ICMP * W], i);
		if (all && noports)
			bm_set(&b[POL_TABLES_BM_OTHER * W], i);
		for (uint32_t k = 0; k < ru->dst_count; k++) {
			const struct pol_dst *d = &ir->dsts[ru->dst_first + k];
			if (d->kind == POL_DST_DOMAINS && d->index < 64)
				bm_set(&b[(POL_TABLES_BM_DOMAIN0 + d->index) * W], i);
		}
	}
	for (unsigned i = 0; i < POL_TABLES_BM_FIRST_FREE && r >= 0; i++)
		r = bmtab_fixed(t, &b[(size_t)i * W]);
	free(b);
	return r < 0 ? r : 0;
}

struct port_event {
	uint32_t at;   /* first port of the interval the event opens, 0..65536 */
	uint32_t rule;
	int delta;     /* +1 a range starts at `at`, -1 a range ended before it */
};

static int cmp_event(const void *a, const void *b)
{
	const struct port_event *x = a, *y = b;
	return x->at < y->at ? -1 : x->at > y->at;
}

/* Cut 0..65535 at every range boundary and sweep: the running bitmap holds
 * the rules with a range covering the current interval (a count per rule,
 * since one rule's ranges may overlap). */
static int build_ports(const struct pol_ir *ir, struct bmtab *t, struct pol_tables *tb)
{
	const unsigned W = t->words;
	uint64_t *noports = calloc(W, sizeof(*noports)), *cur = calloc(W, sizeof(*cur));
	size_t nev = 0;
	struct port_event *ev = malloc((2 * (size_t)ir->nports + 1) * sizeof(*ev));
	uint32_t *cnt = calloc(ir->nrules ? ir->nrules : 1, sizeof(*cnt));
	int r = -ENOMEM;
	tb->ports = malloc(POL_TABLES_PORTS * sizeof(*tb->ports));
	if (!ev || !cnt || !tb->ports || !noports || !cur)
		goto out;
	for (uint32_t i = 0; i < ir->nrules; i++) {
		const struct pol_rule *ru = &ir->rules[i];
		if (ru->port_count == 0)
			bm_set(noports, i);
		for (uint32_t k = 0; k < ru->port_count; k++) {
			const struct pol_port_range *p = &ir->ports[ru->port_first + k];
			ev[nev++] = (struct port_event){ p->lo, i, +1 };
			ev[nev++] = (struct port_event){ (uint32_t)p->hi + 1, i, -1 };
		}
	}
	qsort(ev, nev, sizeof(*ev), cmp_event);
	memcpy(cur, noports, W * sizeof(*cur));
	size_t e = 0;
	uint32_t port = 0;
	while (port < POL_TABLES_PORTS) {
		for (; e < nev && ev[e].at == port; e++) {
			uint32_t ru = ev[e].rule;
			cnt[ru] = (uint32_t)((int)cnt[ru] + ev[e].delta);
			/* A rule with ports is never in noports. */
			if (cnt[ru])
				cur[ru / 64] |= 1ull << (ru % 64);
			else
				cur[ru / 64] &= ~(1ull << (ru % 64));
		}
		uint32_t next = e < nev ? ev[e].at : POL_TABLES_PORTS;
		if (next > POL_TABLES_PORTS)
			next = POL_TABLES_PORTS;
		r = bmtab_intern(t, cur);
		if (r < 0)
			goto out;
		for (; port < next; port++)
			tb->ports[port] = (uint16_t)r;
	}
	r = 0;
out:
	free(ev);
	free(cnt);
	free(noports);
	free(cur);
	return r;
}

/* One prefix of one prefix set. */
struct pfx_ref {
	uint8_t family, plen;
	uint8_t addr[16];
	uint32_t set;
};

static int cmp_pfx(const void *a, const void *b)
{
	const struct pfx_ref *x = a, *y = b;
	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	int c = memcmp(x->addr, y->addr, 16);
	if (c)
		return c;
	if (x->plen != y->plen)
		return x->plen < y->plen ? -1 : 1;
	return x->set < y->set ? -1 : x->set > y->set;
}

static bool covers(const struct pfx_ref *outer, const struct pfx_ref *inner)
{
	if (outer->family != inner->family || outer->plen > inner->plen)
		return false;
	unsigned full = outer->plen / 8, rest = outer->plen % 8;
	if (memcmp(outer->addr, inner->addr, full))
		return false;
	return !rest || !((outer->addr[full] ^ inner->addr[full]) & (uint8_t)(0xff00u >> rest));
}

/*
 * Address classes.  The prefixes containing an address form a chain, so
 * the set of rules an address matches is decided by its longest matching
 * prefix among all the policy's prefixes.  Sorted by (family, address,
 * length), every prefix comes after all the prefixes that contain it, and
 * a stack of the current chain carries what the ancestors contribute.
 */
struct chain {
	struct pfx_ref p;
	bool lan;
	uint64_t *acc; /* rules naming a set that covers p (a row of accs) */
};

static int build_addrs(const struct pol_ir *ir, struct bmtab *t, struct pol_tables *tb)
{
	const unsigned W = t->words;
	/* anyd, land, inetd, b, then 130 chain accumulators. */
	uint64_t *rows = calloc((size_t)(4 + 130) * W, sizeof(*rows));
	uint64_t *anyd = rows, *land = rows + W, *inetd = rows + 2 * W, *b = rows + 3 * W;
	uint64_t *setrules = calloc((size_t)(ir->nprefix_sets ? ir->nprefix_sets : 1) * W,
				    sizeof(*setrules));
	struct pfx_ref *refs = malloc((ir->nprefixes ? ir->nprefixes : 1) * sizeof(*refs));
	struct chain *stack = malloc(130 * sizeof(*stack));
	int r = -ENOMEM;
	if (!rows || !setrules || !refs || !stack)
		goto out;
	for (unsigned i = 0; i < 130; i++)
		stack[i].acc = rows + (size_t)(4 + i) * W;
	tb->prefixes = malloc((ir->nprefixes ? ir->nprefixes : 1) * sizeof(*tb->prefixes));
	if (!tb->prefixes)
		goto out;

	for (uint32_t i = 0; i < ir->nrules; i++) {
		const struct pol_rule *ru = &ir->rules[i];
		if (rule_any_dst(ir, ru)) {
			bm_set(anyd, i);
			continue;
		}
		for (uint32_t k = 0; k < ru->dst_count; k++) {
			const struct pol_dst *d = &ir->dsts[ru->dst_first + k];
			if (d->kind == POL_DST_LAN)
				bm_set(land, i);
			else if (d->kind == POL_DST_INTERNET)
				bm_set(inetd, i);
			else if (d->kind == POL_DST_PREFIXES)
				bm_set(&setrules[(size_t)d->index * W], i);
		}
	}

	/* Outside every prefix: not in the LAN, in no set. */
	memcpy(b, anyd, W * sizeof(*b));
	bm_or(b, inetd, W);
	r = bmtab_intern(t, b);
	if (r < 0)
		goto out;
	tb->head.addr_miss = (uint16_t)r;

	uint32_t n = 0;
	for (uint32_t s = 0; s < ir->nprefix_sets; s++) {
		const struct pol_set *set = &ir->prefix_sets[s];
		for (uint32_t k = 0; k < set->count; k++) {
			const struct pol_prefix *p = &ir->prefixes[set->first + k];
			refs[n] = (struct pfx_ref){ .family = p->family, .plen = p->plen, .set = s };
			memcpy(refs[n].addr, p->addr, 16);
			n++;
		}
	}
	qsort(refs, n, sizeof(*refs), cmp_pfx);

	uint32_t depth = 0, out = 0;
	for (uint32_t i = 0; i < n;) {
		/* All refs of one prefix are adjacent. */
		uint32_t j = i;
		while (depth && !covers(&stack[depth - 1].p, &refs[i]))
			depth--;
		struct chain *c = &stack[depth];
		c->p = refs[i];
		c->lan = depth ? stack[depth - 1].lan : false;
		if (depth)
			memcpy(c->acc, stack[depth - 1].acc, W * sizeof(*c->acc));
		else
			memset(c->acc, 0, W * sizeof(*c->acc));
		for (; j < n && refs[j].family == refs[i].family && refs[j].plen == refs[i].plen &&
		       !memcmp(refs[j].addr, refs[i].addr, 16); j++) {
			if (refs[j].set == ir->meta->lan_set)
				c->lan = true;
			bm_or(c->acc, &setrules[(size_t)refs[j].set * W], W);
		}
		depth++;
		memcpy(b, anyd, W * sizeof(*b));
		bm_or(b, c->lan ? land : inetd, W);
		bm_or(b, c->acc, W);
		r = bmtab_intern(t, b);
		if (r < 0)
			goto out;
		struct pol_tables_prefix *e = &tb->prefixes[out++];
		*e = (struct pol_tables_prefix){ .family = c->p.family, .plen = c->p.plen,
						  .bitmap = (uint16_t)r };
		memcpy(e->addr, c->p.addr, 16);
		i = j;
	}
	tb->nprefixes = out;
	r = 0;
out:
	free(rows);
	free(setrules);
	free(refs);
	free(stack);
	return r;
}

/* ---------------------------------------------------------------- tables */

int pol_tables_build(const struct pol_ir *ir, uint32_t max_rules, uint32_t max_bitmaps,
		     struct pol_tables **ret)
{
	struct pol_tables *tb = NULL;
	struct bmtab t = { 0 };
	int r = -EINVAL;
	/* The fixed bitmaps, and a subject, port and address class at least. */
	if (max_bitmaps < POL_TABLES_BM_FIRST_FREE + 3 || max_bitmaps > POL_TABLES_MAX_BITMAPS)
		goto fail;
	r = -E2BIG;
	if (ir->nrules > max_rules || ir->ndomain_sets > 64)
		goto fail;
	r = -ENOMEM;
	tb = calloc(1, sizeof(*tb));
	/* Rows of whole cache lines, as wide as the rules. */
	unsigned words = ((ir->nrules + 63) / 64 + 7) / 8 * 8;
	if (!words)
		words = 8;
	if (!tb || bmtab_init(&t, words, max_bitmaps) < 0)
		goto fail;
	tb->words = words;
	tb->head.nrules = ir->nrules;
	tb->head.default_action = ir->meta->default_action;
	tb->head.default_new = ir->meta->default_new;
	tb->rules = calloc(ir->nrules ? ir->nrules : 1, sizeof(*tb->rules));
	if (!tb->rules)
		goto fail;
	for (uint32_t i = 0; i < ir->nrules; i++) {
		const struct pol_rule *ru = &ir->rules[i];
		tb->rules[i] = (struct pol_tables_rule){
			.action = ru->action,
			.flags = (uint8_t)(ru->flags & (POL_RULE_LOG | POL_RULE_RATE)),
			.rate_bps = ru->flags & POL_RULE_RATE ? ru->rate_bps : 0,
		};
		if (ru->flags & POL_RULE_RATE)
			tb->head.flags |= POL_TABLES_F_RATES;
		for (uint32_t k = 0; k < ru->dst_count; k++) {
			const struct pol_dst *d = &ir->dsts[ru->dst_first + k];
			if (d->kind == POL_DST_DOMAINS && d->index < 64)
				tb->head.flags |= POL_TABLES_F_DOMAINS;
		}
	}
	if ((r = build_protos_domains(ir, &t)) < 0 || (r = build_subjects(ir, &t, tb)) < 0 ||
	    (r = build_ports(ir, &t, tb)) < 0 || (r = build_addrs(ir, &t, tb)) < 0)
		goto fail;
	tb->head.nbitmaps = (uint16_t)t.n;
	tb->bitmaps = t.v;
	free(t.slots);
	*ret = tb;
	return 0;
fail:
	free(t.v);
	free(t.slots);
	pol_tables_free(tb);
	return r;
}

void pol_tables_free(struct pol_tables *tb)
{
	if (!tb)
		return;
	free(tb->bitmaps);
	free(tb->rules);
	free(tb->macs);
	free(tb->ports);
	free(tb->prefixes);
	free(tb);
}

/* ---------------------------------------------------------------- classify */

static bool prefix_has(const struct pol_tables_prefix *p, uint8_t family, const uint8_t a[16])
{
	if (p->family != family)
		return false;
	unsigned full = p->plen / 8, rest = p->plen % 8;
	if (memcmp(p->addr, a, full))
		return false;
	return !rest || !((p->addr[full] ^ a[full]) & (uint8_t)(0xff00u >> rest));
}

uint16_t pol_tables_addr_class(const struct pol_tables *tb, uint8_t family, const uint8_t addr[16])
{
	int best = -1;
	uint16_t cls = tb->head.addr_miss;
	for (uint32_t i = 0; i < tb->nprefixes; i++) {
		const struct pol_tables_prefix *p = &tb->prefixes[i];
		if (p->plen > best && prefix_has(p, family, addr)) {
			best = p->plen;
			cls = p->bitmap;
		}
	}
	return cls;
}

const struct pol_tables_mac *pol_tables_mac(const struct pol_tables *tb, const uint8_t mac[6])
{
	uint32_t lo = 0, hi = tb->nmacs;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = memcmp(tb->macs[mid].mac, mac, 6);
		if (c == 0)
			return &tb->macs[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void pol_tables_classify(const struct pol_tables *tb, const uint64_t *active,
			 const struct pol_tables_packet *p, struct pol_tables_verdict *ret)
{
	const struct pol_tables_header *h = &tb->head;
	const struct pol_tables_mac *mv = pol_tables_mac(tb, p->src_mac);
	const uint64_t *subj = pol_tables_row(tb, mv ? mv->subject : h->subj_new);
	const uint64_t *proto, *port = NULL;
	switch (p->proto) {
	case IPPROTO_TCP:
		proto = pol_tables_row(tb, POL_TABLES_BM_TCP);
		port = pol_tables_row(tb, tb->ports[p->dport]);
		break;
	case IPPROTO_UDP:
		proto = pol_tables_row(tb, POL_TABLES_BM_UDP);
		port = pol_tables_row(tb, tb->ports[p->dport]);
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		proto = pol_tables_row(tb, POL_TABLES_BM_ICMP);
		break;
	default:
		proto = pol_tables_row(tb, POL_TABLES_BM_OTHER);
		break;
	}
	const uint64_t *addr = pol_tables_row(tb, pol_tables_addr_class(tb, p->family, p->dst));

	*ret = (struct pol_tables_verdict){
		.device = mv ? mv->device : POL_NONE,
		.rule = mv ? POL_TABLES_RULE_DEFAULT : POL_TABLES_RULE_DEFAULT_NEW,
		.action = mv ? h->default_action : h->default_new,
	};
	for (unsigned w = 0; w < tb->words; w++) {
		uint64_t dst = addr[w];
		for (unsigned s = 0; s < 64; s++)
			if (p->domain_sets >> s & 1)
				dst |= pol_tables_row(tb, POL_TABLES_BM_DOMAIN0 + s)[w];
		uint64_t m = subj[w] & proto[w] & dst & active[w];
		if (port)
			m &= port[w];
		if (!m)
			continue;
		uint32_t rule = w * 64 + (uint32_t)__builtin_ctzll(m);
		const struct pol_tables_rule *ru = &tb->rules[rule];
		ret->rule = rule;
		ret->action = ru->action;
		ret->flags = ru->flags;
		ret->rate_bps = ru->rate_bps;
		return;
	}
}
