/* SPDX-License-Identifier: MIT */
/*
 * The never-matching-rule check (sema's last step, on a policy without
 * errors): rule r can never match when an earlier rule e matches every
 * flow r would (covers()); r then gets a warning naming e, the first such
 * rule.
 *
 * Comparing each rule with every earlier one is quadratic: a household
 * list of 10 000 rules on one device took seconds.  So earlier rules are
 * indexed twice, and each rule is compared only with the smaller of two
 * candidate lists, each a superset of the rules that can cover it:
 *   by subject: e can cover r only if e names every device of r, so e
 *     names r's first device d: e is in the bucket of `any`, of d, of d's
 *     owner or of one of d's groups (or of `new`, for a `new` rule);
 *   by destination: e covers r's first destination x: e has any
 *     destination, or its own destination is x's list, x's domain or a
 *     `*.` domain above it, a prefix containing x (every length), or
 *     lan/internet when x is inside / outside the LAN.
 * Both lists stay short unless many rules share both r's device and r's
 * destination and still differ (in ports, protocols or schedule).  For
 * that case the work is bounded: past SHADOW_BUDGET steps (a step is one
 * pair of destinations, port ranges or device words compared) the check
 * stops with one warning at the rule it reached, so no policy within the
 * limits (ir.h) makes the compiler spend more than a fraction of a second
 * here.  Device sets are bitsets over the policy's devices.
 */
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#define SHADOW_BUDGET (1u << 26)

struct rule_info {
	uint64_t *devs;  /* DEVICE/PERSON/GROUP rules: bitset over devices */
	uint32_t ndevs;  /* devices in devs */
	uint32_t first;  /* the lowest of them */
	uint8_t protos;  /* effective: ports alone mean tcp and udp */
};

/* A list of earlier rules, in rule order. */
struct bucket {
	uint32_t *rules;
	uint32_t n, cap;
};

static bool bucket_add(struct bucket *b, uint32_t rule)
{
	if (b->n && b->rules[b->n - 1] == rule)
		return true; /* a rule that names the same key twice */
	if (b->n == b->cap) {
		uint32_t ncap = b->cap ? b->cap * 2 : 4;
		uint32_t *n = realloc(b->rules, ncap * sizeof(*n));
		if (!n)
			return false;
		b->rules = n;
		b->cap = ncap;
	}
	b->rules[b->n++] = rule;
	return true;
}

/* ---- destination keys: a hash of byte strings to buckets -------------- */

#define KEY_MAX 260 /* kind byte, then a name (<= 253) or a prefix */

struct slot {
	uint64_t hash;
	char *key; /* NULL: empty */
	uint32_t len;
	struct bucket b;
};

struct keymap {
	struct slot *slots;
	size_t mask, used;
};

static uint64_t hash_bytes(const void *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ ((const uint8_t *)p)[i]) * 1099511628211ull;
	return h ^ (h >> 29);
}

static struct slot *keymap_find(const struct keymap *m, const void *key, size_t len,
				uint64_t h)
{
	for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
		struct slot *s = &m->slots[i];
		if (!s->key || (s->hash == h && s->len == len && !memcmp(s->key, key, len)))
			return s;
	}
}

static bool keymap_grow(struct keymap *m)
{
	size_t cap = m->slots ? (m->mask + 1) * 2 : 64;
	struct slot *old = m->slots, *n = calloc(cap, sizeof(*n));
	size_t oldcap = old ? m->mask + 1 : 0;
	if (!n)
		return false;
	m->slots = n;
	m->mask = cap - 1;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].key)
			*keymap_find(m, old[i].key, old[i].len, old[i].hash) = old[i];
	free(old);
	return true;
}

static bool keymap_add(struct keymap *m, const void *key, size_t len, uint32_t rule)
{
	if ((m->used + 1) * 2 > (m->slots ? m->mask + 1 : 0) && !keymap_grow(m))
		return false;
	uint64_t h = hash_bytes(key, len);
	struct slot *s = keymap_find(m, key, len, h);
	if (!s->key) {
		s->key = malloc(len);
		if (!s->key)
			return false;
		memcpy(s->key, key, len);
		s->len = (uint32_t)len;
		s->hash = h;
		m->used++;
	}
	return bucket_add(&s->b, rule);
}

static const struct bucket *keymap_get(const struct keymap *m, const void *key, size_t len)
{
	if (!m->slots)
		return NULL;
	struct slot *s = keymap_find(m, key, len, hash_bytes(key, len));
	return s->key ? &s->b : NULL;
}

static void keymap_free(struct keymap *m)
{
	for (size_t i = 0; m->slots && i <= m->mask; i++) {
		free(m->slots[i].key);
		free(m->slots[i].b.rules);
	}
	free(m->slots);
}

/* Keys: 'L' lan, 'I' internet, 'S' + list name, 'D' + domain, 'W' + the
 * domain of a `*.` item, 'P' + family, length and the masked address. */
static size_t key_name(char *k, char kind, const char *s, size_t n)
{
	k[0] = kind;
	memcpy(k + 1, s, n);
	return n + 1;
}

static size_t key_prefix(char *k, uint8_t family, uint8_t plen, const uint8_t addr[16])
{
	k[0] = 'P';
	k[1] = (char)family;
	k[2] = (char)plen;
	memset(k + 3, 0, 16);
	memcpy(k + 3, addr, plen / 8);
	if (plen % 8)
		k[3 + plen / 8] = (char)(addr[plen / 8] & (uint8_t)(0xff00u >> (plen % 8)));
	return 19;
}

/* ---- covering ----------------------------------------------------------- */

static bool prefix_contains(const struct ast_prefix *outer, const struct ast_prefix *inner)
{
	if (outer->family != inner->family || outer->plen > inner->plen)
		return false;
	for (unsigned bit = 0; bit < outer->plen; bit++) {
		uint8_t m = (uint8_t)(0x80u >> (bit % 8));
		if ((outer->addr[bit / 8] ^ inner->addr[bit / 8]) & m)
			return false;
	}
	return true;
}

static bool prefixes_overlap(const struct ast_prefix *a, const struct ast_prefix *b)
{
	return prefix_contains(a, b) || prefix_contains(b, a);
}

struct shadow {
	struct pol_unit *u;
	const struct ast *ast;
	struct rule_info *info;
	const struct ast_prefix *lan;
	size_t nlan;
	size_t words;    /* of a device bitset */
	uint64_t budget; /* steps left */
	/* the indexes */
	struct bucket any, newb, wild;
	struct bucket *by_dev, *by_person, *by_group;
	struct keymap dsts;
};

static bool in_lan(const struct shadow *sh, const struct ast_prefix *p)
{
	for (size_t i = 0; i < sh->nlan; i++)
		if (prefix_contains(&sh->lan[i], p))
			return true;
	return false;
}

static bool overlaps_lan(const struct shadow *sh, const struct ast_prefix *p)
{
	for (size_t i = 0; i < sh->nlan; i++)
		if (prefixes_overlap(&sh->lan[i], p))
			return true;
	return false;
}

static bool dst_covers(const struct shadow *sh, const struct ast_dst *e, const struct ast_dst *r)
{
	switch (e->kind) {
	case AD_ANY:
		return true;
	case AD_LAN:
		return r->kind == AD_LAN || (r->kind == AD_PREFIX && in_lan(sh, &r->prefix));
	case AD_INTERNET:
		return r->kind == AD_INTERNET ||
		       (r->kind == AD_PREFIX && !overlaps_lan(sh, &r->prefix));
	case AD_LIST:
		return r->kind == AD_LIST && !strcmp(e->list.s, r->list.s);
	case AD_DOMAIN:
		if (r->kind != AD_DOMAIN)
			return false;
		if (e->domain.wildcard) {
			/* *.x covers *.x, *.a.x and a.x */
			size_t el = e->domain.len, rl = r->domain.len;
			if (r->domain.wildcard && rl == el && !strcmp(e->domain.name, r->domain.name))
				return true;
			return rl > el && r->domain.name[rl - el - 1] == '.' &&
			       !strcmp(r->domain.name + rl - el, e->domain.name);
		}
		return !r->domain.wildcard && !strcmp(e->domain.name, r->domain.name);
	case AD_PREFIX:
		return r->kind == AD_PREFIX && prefix_contains(&e->prefix, &r->prefix);
	}
	return false;
}

static bool has_any_dst(const struct ast_rule *r)
{
	if (r->dsts.n == 0)
		return true;
	for (size_t i = 0; i < r->dsts.n; i++)
		if (VEC_AT(r->dsts, struct ast_dst, i)->kind == AD_ANY)
			return true;
	return false;
}

static uint64_t cost(const struct shadow *sh, const struct ast_rule *e, const struct ast_rule *r)
{
	return 1 + sh->words + (uint64_t)e->dsts.n * r->dsts.n +
	       (uint64_t)e->ports.n * r->ports.n;
}

/* Does earlier rule e match every flow that r would match? */
static bool covers(const struct shadow *sh, const struct ast_rule *e, const struct rule_info *ei,
		   const struct ast_rule *r, const struct rule_info *ri)
{
	if (e->during.s && (!r->during.s || e->sched_idx != r->sched_idx))
		return false;
	if (e->subject_kind == POL_SUBJ_NEW || r->subject_kind == POL_SUBJ_NEW) {
		if (e->subject_kind != r->subject_kind)
			return false;
	} else if (e->subject_kind != POL_SUBJ_ANY) {
		if (r->subject_kind == POL_SUBJ_ANY || ri->ndevs == 0)
			return false;
		for (size_t w = 0; w < sh->words; w++)
			if (ri->devs[w] & ~ei->devs[w])
				return false;
	}
	if (ei->protos && (!ri->protos || (ri->protos & ~ei->protos)))
		return false;
	if (e->ports.n) {
		if (!r->ports.n)
			return false;
		for (size_t i = 0; i < r->ports.n; i++) {
			const struct ast_ports *rp = VEC_AT(r->ports, struct ast_ports, i);
			bool in = false;
			for (size_t j = 0; j < e->ports.n && !in; j++) {
				const struct ast_ports *ep = VEC_AT(e->ports, struct ast_ports, j);
				in = ep->lo <= rp->lo && rp->hi <= ep->hi;
			}
			if (!in)
				return false;
		}
	}
	if (has_any_dst(e))
		return true;
	if (has_any_dst(r))
		return false;
	for (size_t i = 0; i < r->dsts.n; i++) {
		const struct ast_dst *rd = VEC_AT(r->dsts, struct ast_dst, i);
		bool in = false;
		for (size_t j = 0; j < e->dsts.n && !in; j++)
			in = dst_covers(sh, VEC_AT(e->dsts, struct ast_dst, j), rd);
		if (!in)
			return false;
	}
	return true;
}

/* ---- rules' device sets ------------------------------------------------ */

static bool device_sets(struct shadow *sh)
{
	const struct ast *ast = sh->ast;
	size_t nd = ast->devices.n, w = sh->words;
	/* Each group's and each person's devices, once. */
	uint64_t *groups = calloc((size_t)POL_MAX_GROUPS * w + 1, sizeof(uint64_t));
	uint64_t *persons = calloc(ast->persons.n * w + 1, sizeof(uint64_t));
	bool ok = groups && persons;
	for (size_t d = 0; ok && d < nd; d++) {
		const struct ast_device *dv = VEC_AT(ast->devices, struct ast_device, d);
		for (unsigned g = 0; g < POL_MAX_GROUPS; g++)
			if (dv->group_mask >> g & 1)
				groups[g * w + d / 64] |= 1ull << (d % 64);
		if (dv->owner_idx != POL_NONE)
			persons[dv->owner_idx * w + d / 64] |= 1ull << (d % 64);
	}
	for (size_t i = 0; ok && i < ast->rules.n; i++) {
		const struct ast_rule *r = VEC_AT(ast->rules, struct ast_rule, i);
		struct rule_info *ri = &sh->info[i];
		ri->protos = r->protos ? r->protos
			   : r->ports.n ? (uint8_t)(POL_PROTO_TCP | POL_PROTO_UDP) : 0;
		if (r->subject_kind < POL_SUBJ_DEVICE)
			continue;
		ri->devs = pol_arena_alloc(sh->u->arena, w * sizeof(uint64_t) + 1);
		if (!ri->devs) {
			ok = false;
			break;
		}
		for (size_t k = 0; k < r->subjects.n; k++) {
			uint32_t x = r->subj_idx[k];
			if (r->subject_kind == POL_SUBJ_DEVICE)
				ri->devs[x / 64] |= 1ull << (x % 64);
			else
				for (size_t j = 0; j < w; j++)
					ri->devs[j] |= (r->subject_kind == POL_SUBJ_GROUP ? groups
										: persons)[x * w + j];
		}
		ri->first = POL_NONE;
		for (size_t j = 0; j < w; j++) {
			ri->ndevs += (uint32_t)__builtin_popcountll(ri->devs[j]);
			if (ri->first == POL_NONE && ri->devs[j])
				ri->first = (uint32_t)(j * 64) + (uint32_t)__builtin_ctzll(ri->devs[j]);
		}
	}
	free(groups);
	free(persons);
	return ok;
}

/* ---- the indexes --------------------------------------------------------- */

static bool index_rule(struct shadow *sh, uint32_t i)
{
	const struct ast_rule *r = VEC_AT(sh->ast->rules, struct ast_rule, i);
	bool ok = true;
	switch (r->subject_kind) {
	case POL_SUBJ_ANY: ok = bucket_add(&sh->any, i); break;
	case POL_SUBJ_NEW: ok = bucket_add(&sh->newb, i); break;
	default:
		for (size_t k = 0; ok && k < r->subjects.n; k++) {
			uint32_t x = r->subj_idx[k];
			struct bucket *b = r->subject_kind == POL_SUBJ_DEVICE ? &sh->by_dev[x]
					 : r->subject_kind == POL_SUBJ_PERSON ? &sh->by_person[x]
					 : &sh->by_group[x];
			ok = bucket_add(b, i);
		}
	}
	if (!ok)
		return false;
	if (has_any_dst(r))
		return bucket_add(&sh->wild, i);
	char k[KEY_MAX];
	for (size_t j = 0; ok && j < r->dsts.n; j++) {
		const struct ast_dst *d = VEC_AT(r->dsts, struct ast_dst, j);
		size_t n = 0;
		switch (d->kind) {
		case AD_LAN: n = key_name(k, 'L', "", 0); break;
		case AD_INTERNET: n = key_name(k, 'I', "", 0); break;
		case AD_LIST: n = key_name(k, 'S', d->list.s, strlen(d->list.s)); break;
		case AD_DOMAIN:
			n = key_name(k, d->domain.wildcard ? 'W' : 'D', d->domain.name,
				     d->domain.len);
			break;
		case AD_PREFIX:
			n = key_prefix(k, d->prefix.family, d->prefix.plen, d->prefix.addr);
			break;
		case AD_ANY: break;
		}
		ok = keymap_add(&sh->dsts, k, n, i);
	}
	return ok;
}

/* The candidate lists of one side, at most 66 of them. */
struct cands {
	const struct bucket *b[POL_MAX_GROUPS + 3];
	size_t n;
	uint64_t total;
};

static void cand_add(struct cands *c, const struct bucket *b)
{
	if (b && b->n && c->n < sizeof(c->b) / sizeof(c->b[0])) {
		c->b[c->n++] = b;
		c->total += b->n;
	}
}

static void by_subject(const struct shadow *sh, const struct ast_rule *r,
		       const struct rule_info *ri, struct cands *c)
{
	if (r->subject_kind == POL_SUBJ_NEW) {
		cand_add(c, &sh->newb);
		return;
	}
	cand_add(c, &sh->any);
	if (r->subject_kind < POL_SUBJ_DEVICE || !ri->ndevs)
		return;
	const struct ast_device *dv = VEC_AT(sh->ast->devices, struct ast_device, ri->first);
	cand_add(c, &sh->by_dev[ri->first]);
	if (dv->owner_idx != POL_NONE)
		cand_add(c, &sh->by_person[dv->owner_idx]);
	for (unsigned g = 0; g < POL_MAX_GROUPS; g++)
		if (dv->group_mask >> g & 1)
			cand_add(c, &sh->by_group[g]);
}

/* Prefix keys: one per length up to x's, so the lookups outnumber the
 * lists; only non-empty buckets count. */
static void by_destination(const struct shadow *sh, const struct ast_rule *r,
			   struct cands *c)
{
	cand_add(c, &sh->wild);
	if (has_any_dst(r))
		return;
	const struct ast_dst *d = VEC_AT(r->dsts, struct ast_dst, 0);
	char k[KEY_MAX];
	switch (d->kind) {
	case AD_LAN: cand_add(c, keymap_get(&sh->dsts, k, key_name(k, 'L', "", 0))); break;
	case AD_INTERNET: cand_add(c, keymap_get(&sh->dsts, k, key_name(k, 'I', "", 0))); break;
	case AD_LIST:
		cand_add(c, keymap_get(&sh->dsts, k, key_name(k, 'S', d->list.s,
							       strlen(d->list.s))));
		break;
	case AD_DOMAIN: {
		const char *name = d->domain.name;
		if (!d->domain.wildcard)
			cand_add(c, keymap_get(&sh->dsts, k, key_name(k, 'D', name,
								       d->domain.len)));
		/* *.x covers *.x itself, and a.x / *.a.x below it. */
		if (d->domain.wildcard)
			cand_add(c, keymap_get(&sh->dsts, k, key_name(k, 'W', name,
								       d->domain.len)));
		for (const char *dot = strchr(name, '.'); dot; dot = strchr(dot + 1, '.'))
			cand_add(c, keymap_get(&sh->dsts, k,
					       key_name(k, 'W', dot + 1, strlen(dot + 1))));
		break;
	}
	case AD_PREFIX:
		for (unsigned len = 0; len <= d->prefix.plen; len++)
			cand_add(c, keymap_get(&sh->dsts, k, key_prefix(k, d->prefix.family, len,
									d->prefix.addr)));
		if (in_lan(sh, &d->prefix))
			cand_add(c, keymap_get(&sh->dsts, k, key_name(k, 'L', "", 0)));
		if (!overlaps_lan(sh, &d->prefix))
			cand_add(c, keymap_get(&sh->dsts, k, key_name(k, 'I', "", 0)));
		break;
	case AD_ANY: break;
	}
}

/* The first earlier rule that covers rule i, or POL_NONE; false when the
 * budget ran out. */
static bool first_cover(struct shadow *sh, uint32_t i, uint32_t *ret)
{
	const struct ast_rule *r = VEC_AT(sh->ast->rules, struct ast_rule, i);
	const struct rule_info *ri = &sh->info[i];
	struct cands s = { 0 }, d = { 0 };
	by_subject(sh, r, ri, &s);
	by_destination(sh, r, &d);
	const struct cands *c = s.total <= d.total ? &s : &d;
	uint32_t best = POL_NONE;
	for (size_t l = 0; l < c->n; l++) {
		const struct bucket *b = c->b[l];
		/* In rule order: the first that covers is this list's answer. */
		for (uint32_t k = 0; k < b->n && b->rules[k] < best; k++) {
			const struct ast_rule *e = VEC_AT(sh->ast->rules, struct ast_rule, b->rules[k]);
			uint64_t steps = cost(sh, e, r);
			if (steps > sh->budget)
				return false;
			sh->budget -= steps;
			if (covers(sh, e, &sh->info[b->rules[k]], r, ri)) {
				best = b->rules[k];
				break;
			}
		}
	}
	*ret = best;
	return true;
}

void pol_check_shadowed(struct pol_unit *u)
{
	const struct ast *ast = &u->ast;
	struct shadow sh = {
		.u = u, .ast = ast, .budget = SHADOW_BUDGET,
		.words = (ast->devices.n + 63) / 64,
	};
	sh.lan = pol_lan_prefixes(ast, &sh.nlan);
	sh.info = calloc(ast->rules.n + 1, sizeof(*sh.info));
	sh.by_dev = calloc(ast->devices.n + 1, sizeof(struct bucket));
	sh.by_person = calloc(ast->persons.n + 1, sizeof(struct bucket));
	sh.by_group = calloc(POL_MAX_GROUPS, sizeof(struct bucket));
	bool ok = sh.info && sh.by_dev && sh.by_person && sh.by_group && device_sets(&sh);
	for (uint32_t i = 0; ok && i < ast->rules.n; i++) {
		const struct ast_rule *r = VEC_AT(ast->rules, struct ast_rule, i);
		uint32_t e;
		if (!first_cover(&sh, i, &e)) {
			pol_warning(&u->diags, r->name.span,
				    "the check compares rules that share a device and a destination; "
				    "rules from here on may still never match",
				    "the check for rules that can never match stopped at rule '%s' "
				    "after %u steps", r->name.s, SHADOW_BUDGET);
			break;
		}
		if (e != POL_NONE) {
			const struct ast_rule *er = VEC_AT(ast->rules, struct ast_rule, e);
			struct pol_diag *g = pol_warning(&u->diags, r->name.span,
							 "move it above the rule that matches first, or remove it",
							 "rule '%s' can never match", r->name.s);
			pol_diag_note(&u->diags, g, er->name.span,
				      pol_arena_printf(u->arena, "rule '%s' matches everything it would",
						       er->name.s));
		}
		ok = index_rule(&sh, i);
	}
	if (!ok)
		u->diags.oom = true;
	for (size_t i = 0; sh.by_dev && i < ast->devices.n; i++)
		free(sh.by_dev[i].rules);
	for (size_t i = 0; sh.by_person && i < ast->persons.n; i++)
		free(sh.by_person[i].rules);
	for (size_t i = 0; sh.by_group && i < POL_MAX_GROUPS; i++)
		free(sh.by_group[i].rules);
	free(sh.any.rules);
	free(sh.newb.rules);
	free(sh.wild.rules);
	keymap_free(&sh.dsts);
	free(sh.by_dev);
	free(sh.by_person);
	free(sh.by_group);
	free(sh.info);
}
