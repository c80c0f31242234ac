/* SPDX-License-Identifier: MIT */
/*
 * From a loaded policy (struct pol_ir) to the eBPF engine image (compile.h):
 * one rule bitmap per equivalence class of each packet field, deduplicated,
 * and the lookup tables that map a field's value to its class.  Reads only
 * the IR; allocates only the image and its own scratch.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"

/* ---------------------------------------------------------------- bitmaps */

/* A bitmap is a row of `words` u64 (GWBPF_WORDS for the eBPF maps; more
 * for a wider build, gwbpf_image_build_max).  Scratch rows come from
 * calloc in the builder that needs them. */
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

static int build_subjects(const struct pol_ir *ir, struct bmtab *t, struct gwbpf_image *img)
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
	img->policy.subj_new = (uint16_t)r;
	img->macs = calloc(ir->nmacs ? ir->nmacs : 1, sizeof(*img->macs));
	r = -ENOMEM;
	if (!img->macs)
		goto out;
	/* ir->macs is sorted by MAC and unique: the image keeps that order. */
	for (uint32_t m = 0; m < ir->nmacs; m++) {
		uint32_t d = ir->macs[m].device;
		r = bmtab_intern(t, &dev[(size_t)d * W]);
		if (r < 0)
			goto out;
		struct gwbpf_mac_entry *e = &img->macs[m];
		memcpy(e->key.mac, ir->macs[m].mac, 6);
		e->val.device = d;
		e->val.subject = (uint16_t)r;
	}
	img->nmacs = ir->nmacs;
	r = 0;
out:
	free(dev);
	free(isnew);
	return r;
}

static int build_protos_domains(const struct pol_ir *ir, struct bmtab *t)
{
	const unsigned W = t->words;
	uint64_t *b = calloc((size_t)GWBPF_BM_FIRST_FREE * W, sizeof(*b));
	int r = 0;
	if (!b)
		return -ENOMEM;
	for (uint32_t i = 0; i < ir->nrules; i++) {
		const struct pol_rule *ru = &ir->rules[i];
		bool all = ru->protos == 0, noports = ru->port_count == 0;
		if (all || ru->protos & POL_PROTO_TCP)
			bm_set(&b[GWBPF_BM_TCP * W], i);
		if (all || ru->protos & POL_PROTO_UDP)
			bm_set(&b[GWBPF_BM_UDP * W], i);
		/* Only TCP and UDP have ports: a rule that lists ports never
		 * matches anything else. */
		if ((all || ru->protos & POL_PROTO_ICMP) && noports)
			bm_set(&b[GWBPF_BM_ICMP * W], i);
		if (all && noports)
			bm_set(&b[GWBPF_BM_OTHER * W], i);
		for (uint32_t k = 0; k < ru->dst_count; k++) {
			const struct pol_dst *d = &ir->dsts[ru->dst_first + k];
			if (d->kind == POL_DST_DOMAINS && d->index < 64)
				bm_set(&b[(GWBPF_BM_DOMAIN0 + d->index) * W], i);
		}
	}
	for (unsigned i = 0; i < GWBPF_BM_FIRST_FREE && r >= 0; i++)
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
static int build_ports(const struct pol_ir *ir, struct bmtab *t, struct gwbpf_image *img)
{
	const unsigned W = t->words;
	uint64_t *noports = calloc(W, sizeof(*noports)), *cur = calloc(W, sizeof(*cur));
	size_t nev = 0;
	struct port_event *ev = malloc((2 * (size_t)ir->nports + 1) * sizeof(*ev));
	uint32_t *cnt = calloc(ir->nrules ? ir->nrules : 1, sizeof(*cnt));
	int r = -ENOMEM;
	img->ports = malloc(GWBPF_PORTS_PER_SLOT * sizeof(*img->ports));
	if (!ev || !cnt || !img->ports || !noports || !cur)
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
	while (port < GWBPF_PORTS_PER_SLOT) {
		for (; e < nev && ev[e].at == port; e++) {
			uint32_t ru = ev[e].rule;
			cnt[ru] = (uint32_t)((int)cnt[ru] + ev[e].delta);
			/* A rule with ports is never in noports. */
			if (cnt[ru])
				cur[ru / 64] |= 1ull << (ru % 64);
			else
				cur[ru / 64] &= ~(1ull << (ru % 64));
		}
		uint32_t next = e < nev ? ev[e].at : GWBPF_PORTS_PER_SLOT;
		if (next > GWBPF_PORTS_PER_SLOT)
			next = GWBPF_PORTS_PER_SLOT;
		r = bmtab_intern(t, cur);
		if (r < 0)
			goto out;
		for (; port < next; port++)
			img->ports[port] = (uint16_t)r;
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

static int build_addrs(const struct pol_ir *ir, struct bmtab *t, struct gwbpf_image *img)
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
	img->prefixes = malloc((ir->nprefixes ? ir->nprefixes : 1) * sizeof(*img->prefixes));
	if (!img->prefixes)
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
	img->policy.addr_miss = (uint16_t)r;

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
		struct gwbpf_prefix_entry *e = &img->prefixes[out++];
		*e = (struct gwbpf_prefix_entry){ .family = c->p.family, .plen = c->p.plen,
						  .bitmap = (uint16_t)r };
		memcpy(e->addr, c->p.addr, 16);
		i = j;
	}
	img->nprefixes = out;
	r = 0;
out:
	free(rows);
	free(setrules);
	free(refs);
	free(stack);
	return r;
}

/* ---------------------------------------------------------------- image */

int gwbpf_image_build_max(const struct pol_ir *ir, uint32_t max_rules,
			  struct gwbpf_image **ret)
{
	struct gwbpf_image *img = NULL;
	struct bmtab t = { 0 };
	int r = -EINVAL;
	if (max_rules < GWBPF_MAX_RULES || max_rules > GWBPF_MAX_RULES_WIDE || max_rules % 64)
		goto fail;
	r = -E2BIG;
	if (ir->nrules > max_rules || ir->ndomain_sets > 64)
		goto fail;
	r = -ENOMEM;
	img = calloc(1, sizeof(*img));
	/* The eBPF maps' width and bitmap count, or as wide as needed for a
	 * larger maximum, up to what a u16 bitmap index can name. */
	unsigned words = GWBPF_WORDS;
	uint32_t maxbm = GWBPF_MAX_BITMAPS;
	if (max_rules > GWBPF_MAX_RULES) {
		words = ((ir->nrules + 63) / 64 + 7) / 8 * 8;
		if (words < GWBPF_WORDS)
			words = GWBPF_WORDS;
		maxbm = UINT16_MAX;
	}
	if (!img || bmtab_init(&t, words, maxbm) < 0)
		goto fail;
	img->words = words;
	img->policy.nrules = ir->nrules;
	img->policy.default_action = ir->meta->default_action;
	img->policy.default_new = ir->meta->default_new;
	img->rules = calloc(ir->nrules ? ir->nrules : 1, sizeof(*img->rules));
	if (!img->rules)
		goto fail;
	for (uint32_t i = 0; i < ir->nrules; i++) {
		const struct pol_rule *ru = &ir->rules[i];
		img->rules[i] = (struct gwbpf_rule){
			.action = ru->action,
			.flags = (uint8_t)((ru->flags & POL_RULE_LOG ? GWBPF_RULE_LOG : 0) |
					   (ru->flags & POL_RULE_RATE ? GWBPF_RULE_RATE : 0)),
			.rate_bps = ru->flags & POL_RULE_RATE ? ru->rate_bps : 0,
		};
	}
	if ((r = build_protos_domains(ir, &t)) < 0 || (r = build_subjects(ir, &t, img)) < 0 ||
	    (r = build_ports(ir, &t, img)) < 0 || (r = build_addrs(ir, &t, img)) < 0)
		goto fail;
	img->policy.nbitmaps = (uint16_t)t.n;
	img->bitmap_words = t.v;
	free(t.slots);
	*ret = img;
	return 0;
fail:
	free(t.v);
	free(t.slots);
	gwbpf_image_free(img);
	return r;
}

int gwbpf_image_build(const struct pol_ir *ir, struct gwbpf_image **ret)
{
	return gwbpf_image_build_max(ir, GWBPF_MAX_RULES, ret);
}

void gwbpf_image_free(struct gwbpf_image *img)
{
	if (!img)
		return;
	free(img->bitmap_words);
	free(img->rules);
	free(img->macs);
	free(img->ports);
	free(img->prefixes);
	free(img);
}

void gwbpf_active_mask(const struct pol_ir *ir, struct pol_when when, struct gwbpf_bitmap *ret)
{
	uint64_t w[GWBPF_WORDS] = { 0 };
	/* pol_active_rules writes (nrules + 63) / 64 words: at most 64 here. */
	if (ir->nrules <= GWBPF_MAX_RULES)
		pol_active_rules(ir, when, w);
	for (unsigned i = 0; i < GWBPF_WORDS; i++)
		ret->w[i] = w[i];
}

/* ---------------------------------------------------------------- classify */

static bool prefix_has(const struct gwbpf_prefix_entry *p, uint8_t family, const uint8_t a[16])
{
	if (p->family != family)
		return false;
	unsigned full = p->plen / 8, rest = p->plen % 8;
	if (memcmp(p->addr, a, full))
		return false;
	return !rest || !((p->addr[full] ^ a[full]) & (uint8_t)(0xff00u >> rest));
}

uint16_t gwbpf_addr_class(const struct gwbpf_image *img, uint8_t family, const uint8_t addr[16])
{
	int best = -1;
	uint16_t cls = img->policy.addr_miss;
	for (uint32_t i = 0; i < img->nprefixes; i++) {
		const struct gwbpf_prefix_entry *p = &img->prefixes[i];
		if (p->plen > best && prefix_has(p, family, addr)) {
			best = p->plen;
			cls = p->bitmap;
		}
	}
	return cls;
}

const struct gwbpf_mac_val *gwbpf_image_mac(const struct gwbpf_image *img, const uint8_t mac[6])
{
	uint32_t lo = 0, hi = img->nmacs;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = memcmp(img->macs[mid].key.mac, mac, 6);
		if (c == 0)
			return &img->macs[mid].val;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void gwbpf_classify(const struct gwbpf_image *img, const struct gwbpf_bitmap *active,
		    const struct gwbpf_packet *p, struct gwbpf_verdict *ret)
{
	const struct gwbpf_policy *pol = &img->policy;
	const struct gwbpf_mac_val *mv = gwbpf_image_mac(img, p->src_mac);
	const struct gwbpf_bitmap *subj = &img->bitmaps[mv ? mv->subject : pol->subj_new];
	const struct gwbpf_bitmap *proto, *port = NULL;
	switch (p->proto) {
	case IPPROTO_TCP:
		proto = &img->bitmaps[GWBPF_BM_TCP];
		port = &img->bitmaps[img->ports[p->dport]];
		break;
	case IPPROTO_UDP:
		proto = &img->bitmaps[GWBPF_BM_UDP];
		port = &img->bitmaps[img->ports[p->dport]];
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		proto = &img->bitmaps[GWBPF_BM_ICMP];
		break;
	default:
		proto = &img->bitmaps[GWBPF_BM_OTHER];
		break;
	}
	struct gwbpf_bitmap dst = img->bitmaps[gwbpf_addr_class(img, p->family, p->dst)];
	for (unsigned s = 0; s < 64; s++)
		if (p->domain_sets >> s & 1)
			bm_or((uint64_t *)dst.w, (const uint64_t *)img->bitmaps[GWBPF_BM_DOMAIN0 + s].w,
			      GWBPF_WORDS);

	*ret = (struct gwbpf_verdict){
		.device = mv ? mv->device : POL_NONE,
		.rule = mv ? GWBPF_RULE_DEFAULT : GWBPF_RULE_DEFAULT_NEW,
		.action = mv ? pol->default_action : pol->default_new,
	};
	for (unsigned w = 0; w < GWBPF_WORDS; w++) {
		uint64_t m = subj->w[w] & proto->w[w] & dst.w[w] & active->w[w];
		if (port)
			m &= port->w[w];
		if (!m)
			continue;
		uint32_t rule = w * 64 + (uint32_t)__builtin_ctzll(m);
		const struct gwbpf_rule *ru = &img->rules[rule];
		ret->rule = rule;
		ret->action = ru->action;
		ret->flags = ru->flags;
		ret->rate_bps = ru->rate_bps;
		return;
	}
}
