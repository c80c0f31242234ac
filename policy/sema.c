/* SPDX-License-Identifier: MIT */
/*
 * Meaning: resolve every name, check what the grammar cannot (duplicates,
 * limits, combinations), number the sets the compiler will emit, and warn
 * about what is legal but surely not meant: rules that can never match,
 * definitions nobody uses, overlapping schedule windows.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "image.h"
#include "names.h"
#include "unit.h"

/* ---- a name table: open addressing over a kind's vector -------------- */

struct names {
	uint32_t *slots; /* index + 1; 0 empty */
	size_t mask;
	const struct pol_vec *v;
	size_t stride; /* each element starts with a struct ast_name */
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static const struct ast_name *name_at(const struct names *t, size_t i)
{
	return (const struct ast_name *)((const char *)t->v->items + i * t->stride);
}

static bool names_init(struct pol_unit *u, struct names *t, const struct pol_vec *v,
		       size_t stride)
{
	size_t cap = 16;
	while (cap < v->n * 2)
		cap *= 2;
	t->slots = pol_arena_alloc(u->arena, cap * sizeof(uint32_t));
	t->mask = cap - 1;
	t->v = v;
	t->stride = stride;
	if (!t->slots)
		u->diags.oom = true;
	return t->slots != NULL;
}

static uint32_t names_find(const struct names *t, const char *s)
{
	for (size_t h = hash_str(s) & t->mask;; h = (h + 1) & t->mask) {
		uint32_t e = t->slots[h];
		if (!e)
			return POL_NONE;
		if (strcmp(name_at(t, e - 1)->s, s) == 0)
			return e - 1;
	}
}

/* Insert element i; reports a duplicate and returns false. */
static bool names_add(struct pol_unit *u, struct names *t, size_t i, const char *kind)
{
	const struct ast_name *n = name_at(t, i);
	for (size_t h = hash_str(n->s) & t->mask;; h = (h + 1) & t->mask) {
		uint32_t e = t->slots[h];
		if (!e) {
			t->slots[h] = (uint32_t)i + 1;
			return true;
		}
		const struct ast_name *o = name_at(t, e - 1);
		if (strcmp(o->s, n->s) == 0) {
			struct pol_diag *g = pol_error(&u->diags, n->span, NULL,
						       "duplicate %s '%s'", kind, n->s);
			pol_diag_note(&u->diags, g, o->span, "first defined here");
			return false;
		}
	}
}

static const char *const kind_names[6] = { "person", "group", "device", "list", "schedule", "rule" };

/* Look a reference up in table k of all; report it unknown with the
 * nearest name, or with the kind it really is. */
static uint32_t resolve(struct pol_unit *u, const struct names *all, int k,
			const struct ast_name *ref)
{
	const struct names *t = &all[k];
	const char *kind = kind_names[k];
	uint32_t i = names_find(t, ref->s);
	if (i != POL_NONE)
		return i;
	for (int o = 0; o < 5; o++) {
		if (o == k || names_find(&all[o], ref->s) == POL_NONE)
			continue;
		pol_error(&u->diags, ref->span, NULL, "'%s' is a %s, not a %s", ref->s,
			  kind_names[o], kind);
		return POL_NONE;
	}
	const char *best = NULL;
	if (t->v->n <= 4096) {
		const char **cands = malloc(t->v->n * sizeof(*cands) + 1);
		if (cands) {
			for (size_t c = 0; c < t->v->n; c++)
				cands[c] = name_at(t, c)->s;
			best = pol_did_you_mean(ref->s, cands, t->v->n);
			free(cands);
		}
	}
	const char *hint = best ? pol_hint_did_you_mean(&u->diags, best)
		: t->v->n == 0 ? pol_arena_printf(u->arena, "the policy defines no %s", kind)
		: NULL;
	pol_error(&u->diags, ref->span, hint, "unknown %s '%s'", kind, ref->s);
	return POL_NONE;
}

/* ---- checks ------------------------------------------------------------ */

static void check_timezone(struct pol_unit *u)
{
	const struct ast_name *tz = &u->ast.timezone;
	if (!tz->s)
		return;
	const char *s = tz->s;
	bool ok = pol_timezone_name_ok(s);
	if (ok) {
		const char *dir = getenv("TZDIR");
		char path[256];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", dir && dir[0] ? dir : "/usr/share/zoneinfo", s);
		ok = stat(path, &st) == 0 && S_ISREG(st.st_mode);
	}
	if (!ok)
		pol_error(&u->diags, tz->span,
			  "time zones are IANA names such as \"Europe/London\" or \"America/New_York\"",
			  "unknown time zone '%s'", s);
}

struct mac_ref {
	const struct ast_mac *m;
	uint32_t device;
};

static int cmp_mac_ref(const void *a, const void *b)
{
	const struct mac_ref *x = a, *y = b;
	int c = memcmp(x->m->mac, y->m->mac, 6);
	if (c)
		return c;
	/* Stable: first written first. */
	if (x->m->span.file != y->m->span.file)
		return x->m->span.file < y->m->span.file ? -1 : 1;
	if (x->m->span.line != y->m->span.line)
		return x->m->span.line < y->m->span.line ? -1 : 1;
	return x->m->span.col < y->m->span.col ? -1 : x->m->span.col > y->m->span.col;
}

static void check_macs(struct pol_unit *u)
{
	struct ast *ast = &u->ast;
	size_t n = 0;
	for (size_t i = 0; i < ast->devices.n; i++)
		n += VEC_AT(ast->devices, struct ast_device, i)->macs.n;
	struct mac_ref *refs = malloc((n + 1) * sizeof(*refs));
	if (!refs) {
		u->diags.oom = true;
		return;
	}
	size_t k = 0;
	for (size_t i = 0; i < ast->devices.n; i++) {
		struct ast_device *dv = VEC_AT(ast->devices, struct ast_device, i);
		for (size_t j = 0; j < dv->macs.n; j++)
			refs[k++] = (struct mac_ref){ VEC_AT(dv->macs, struct ast_mac, j), (uint32_t)i };
	}
	qsort(refs, n, sizeof(*refs), cmp_mac_ref);
	for (size_t i = 1; i < n; i++) {
		if (memcmp(refs[i].m->mac, refs[i - 1].m->mac, 6))
			continue;
		char buf[POL_MAC_TEXT];
		pol_mac_format(refs[i].m->mac, buf);
		const struct ast_device *first = VEC_AT(ast->devices, struct ast_device, refs[i - 1].device);
		struct pol_diag *g;
		if (refs[i].device == refs[i - 1].device)
			g = pol_error(&u->diags, refs[i].m->span, NULL,
				      "MAC address %s is listed twice for device '%s'", buf,
				      first->name.s);
		else
			g = pol_error(&u->diags, refs[i].m->span,
				      "a MAC address identifies one device",
				      "MAC address %s already belongs to device '%s'", buf,
				      first->name.s);
		pol_diag_note(&u->diags, g, refs[i - 1].m->span, "first given here");
	}
	free(refs);
}

/* Week minutes [a, b) of each day piece of a window, b may pass 10080. */
static bool windows_overlap(const struct ast_window *x, const struct ast_window *y)
{
	for (int dx = 0; dx < 7; dx++) {
		if (!(x->days & (1u << dx)))
			continue;
		int xa = dx * 1440 + x->start;
		int xb = dx * 1440 + (x->end > x->start ? x->end : x->end + 1440);
		for (int dy = 0; dy < 7; dy++) {
			if (!(y->days & (1u << dy)))
				continue;
			int ya = dy * 1440 + y->start;
			int yb = dy * 1440 + (y->end > y->start ? y->end : y->end + 1440);
			/* Compare on the circle of a week: shift by -1, 0, +1 weeks. */
			for (int s = -10080; s <= 10080; s += 10080)
				if (xa < yb + s && ya + s < xb)
					return true;
		}
	}
	return false;
}

static void check_schedules(struct pol_unit *u)
{
	struct ast *ast = &u->ast;
	for (size_t i = 0; i < ast->schedules.n; i++) {
		struct ast_schedule *s = VEC_AT(ast->schedules, struct ast_schedule, i);
		for (size_t a = 0; a < s->windows.n; a++)
			for (size_t b = a + 1; b < s->windows.n; b++) {
				const struct ast_window *x = VEC_AT(s->windows, struct ast_window, a);
				const struct ast_window *y = VEC_AT(s->windows, struct ast_window, b);
				if (!windows_overlap(x, y))
					continue;
				struct pol_diag *g = pol_warning(&u->diags, y->span,
								 "overlapping windows are merged; write each time once",
								 "windows of schedule '%s' overlap",
								 s->name.s);
				pol_diag_note(&u->diags, g, x->span, "the window it overlaps");
			}
	}
	if (ast->schedules.n && !ast->timezone.s) {
		const struct ast_schedule *s = VEC_AT(ast->schedules, struct ast_schedule, 0);
		pol_warning(&u->diags, s->name.span, "set it once, e.g. timezone \"Europe/London\"",
			    "schedules are in UTC: the policy sets no timezone");
	}
}

/* ---- subjects as device sets, for the shadow analysis ----------------- */

struct rule_info {
	uint32_t *devs; /* sorted device indices (DEVICE/PERSON/GROUP) */
	uint32_t ndevs;
	uint8_t protos; /* effective */
};

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static bool subset_u32(const uint32_t *a, uint32_t na, const uint32_t *b, uint32_t nb)
{
	uint32_t j = 0;
	for (uint32_t i = 0; i < na; i++) {
		while (j < nb && b[j] < a[i])
			j++;
		if (j == nb || b[j] != a[i])
			return false;
	}
	return true;
}

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

static const struct ast_prefix *lan_prefixes(const struct ast *ast, size_t *n);

static bool dst_covers(const struct ast *ast, const struct ast_dst *e, const struct ast_dst *r,
		       const struct ast_rule *er, const struct ast_rule *rr)
{
	size_t nlan;
	const struct ast_prefix *lan = lan_prefixes(ast, &nlan);
	switch (e->kind) {
	case AD_ANY:
		return true;
	case AD_LAN:
		if (r->kind == AD_LAN)
			return true;
		if (r->kind == AD_PREFIX)
			for (size_t i = 0; i < nlan; i++)
				if (prefix_contains(&lan[i], &r->prefix))
					return true;
		return false;
	case AD_INTERNET:
		if (r->kind == AD_INTERNET)
			return true;
		if (r->kind == AD_PREFIX) {
			for (size_t i = 0; i < nlan; i++)
				if (prefixes_overlap(&lan[i], &r->prefix))
					return false;
			return true;
		}
		return false;
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
	(void)er;
	(void)rr;
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

/* Does earlier rule e match every flow that r would match? */
static bool covers(const struct ast *ast, const struct ast_rule *e, const struct rule_info *ei,
		   const struct ast_rule *r, const struct rule_info *ri)
{
	if (e->during.s && (!r->during.s || e->sched_idx != r->sched_idx))
		return false;
	if (e->subject_kind == POL_SUBJ_NEW || r->subject_kind == POL_SUBJ_NEW) {
		if (e->subject_kind != r->subject_kind)
			return false;
	} else if (e->subject_kind != POL_SUBJ_ANY) {
		if (r->subject_kind == POL_SUBJ_ANY || ri->ndevs == 0 ||
		    !subset_u32(ri->devs, ri->ndevs, ei->devs, ei->ndevs))
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
			in = dst_covers(ast, VEC_AT(e->dsts, struct ast_dst, j), rd, e, r);
		if (!in)
			return false;
	}
	return true;
}

/* Earlier rules indexed by the devices they name, so each rule is compared
 * with the few that could cover it, not with every earlier rule. */
struct bucket {
	uint32_t *rules;
	uint32_t n, cap;
};

static bool bucket_add(struct bucket *b, uint32_t rule)
{
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

static void check_shadowed(struct pol_unit *u, struct rule_info *info)
{
	struct ast *ast = &u->ast;
	size_t nd = ast->devices.n;
	struct bucket *by_dev = calloc(nd + 2, sizeof(*by_dev));
	struct bucket *any = by_dev ? &by_dev[nd] : NULL, *newb = by_dev ? &by_dev[nd + 1] : NULL;
	if (!by_dev) {
		u->diags.oom = true;
		return;
	}
	for (size_t i = 0; i < ast->rules.n; i++) {
		struct ast_rule *r = VEC_AT(ast->rules, struct ast_rule, i);
		struct rule_info *ri = &info[i];
		struct bucket *cand[2] = { r->subject_kind == POL_SUBJ_NEW ? newb : any, NULL };
		if (r->subject_kind >= POL_SUBJ_DEVICE && ri->ndevs)
			cand[1] = &by_dev[ri->devs[0]];
		uint32_t shadow = POL_NONE;
		for (int c = 0; c < 2; c++)
			for (uint32_t k = 0; cand[c] && k < cand[c]->n; k++) {
				uint32_t e = cand[c]->rules[k];
				if (covers(ast, VEC_AT(ast->rules, struct ast_rule, e), &info[e], r, ri)) {
					if (e < shadow)
						shadow = e;
					break;
				}
			}
		if (shadow != POL_NONE) {
			const struct ast_rule *e = VEC_AT(ast->rules, struct ast_rule, shadow);
			struct pol_diag *g = pol_warning(&u->diags, r->name.span,
							 "move it above the rule that matches first, or remove it",
							 "rule '%s' can never match", r->name.s);
			pol_diag_note(&u->diags, g, e->name.span,
				      pol_arena_printf(u->arena, "rule '%s' matches everything it would",
						       e->name.s));
		}
		bool ok = true;
		if (r->subject_kind == POL_SUBJ_ANY)
			ok = bucket_add(any, (uint32_t)i);
		else if (r->subject_kind == POL_SUBJ_NEW)
			ok = bucket_add(newb, (uint32_t)i);
		else
			for (uint32_t k = 0; k < ri->ndevs && ok; k++)
				ok = bucket_add(&by_dev[ri->devs[k]], (uint32_t)i);
		if (!ok) {
			u->diags.oom = true;
			break;
		}
	}
	for (size_t i = 0; i < nd + 2; i++)
		free(by_dev[i].rules);
	free(by_dev);
}

static const struct ast_prefix default_lan[5] = {
	{ .addr = { 10 }, .plen = 8, .family = 4 },
	{ .addr = { 172, 16 }, .plen = 12, .family = 4 },
	{ .addr = { 192, 168 }, .plen = 16, .family = 4 },
	{ .addr = { 0xfc }, .plen = 7, .family = 6 },
	{ .addr = { 0xfe, 0x80 }, .plen = 10, .family = 6 },
};

static const struct ast_prefix *lan_prefixes(const struct ast *ast, size_t *n)
{
	if (ast->lan_set) {
		*n = ast->lan.n;
		return ast->lan.items;
	}
	*n = 5;
	return default_lan;
}

const struct ast_prefix *pol_lan_prefixes(const struct ast *ast, size_t *n);
const struct ast_prefix *pol_lan_prefixes(const struct ast *ast, size_t *n)
{
	return lan_prefixes(ast, n);
}

/* ---- the pass ---------------------------------------------------------- */

static void resolve_rules(struct pol_unit *u, const struct names *nt, struct rule_info *info)
{
	struct ast *ast = &u->ast;

	for (size_t i = 0; i < ast->rules.n; i++) {
		struct ast_rule *r = VEC_AT(ast->rules, struct ast_rule, i);
		struct rule_info *ri = &info[i];
		r->sched_idx = POL_NONE;
		if (r->subjects.n) {
			r->subj_idx = pol_arena_alloc(u->arena, r->subjects.n * sizeof(uint32_t));
			if (!r->subj_idx) {
				u->diags.oom = true;
				return;
			}
		}
		int st = r->subject_kind == POL_SUBJ_DEVICE ? 2
		       : r->subject_kind == POL_SUBJ_PERSON ? 0 : 1;
		for (size_t k = 0; k < r->subjects.n; k++) {
			const struct ast_name *n = VEC_AT(r->subjects, struct ast_name, k);
			r->subj_idx[k] = resolve(u, nt, st, n);
			if (r->subj_idx[k] == POL_NONE)
				continue;
			if (r->subject_kind == POL_SUBJ_PERSON)
				VEC_AT(ast->persons, struct ast_person, r->subj_idx[k])->used = true;
			else if (r->subject_kind == POL_SUBJ_GROUP)
				VEC_AT(ast->groups, struct ast_group, r->subj_idx[k])->used = true;
		}
		for (size_t k = 0; k < r->dsts.n; k++) {
			struct ast_dst *d = VEC_AT(r->dsts, struct ast_dst, k);
			if (d->kind == AD_LIST) {
				uint32_t li = resolve(u, nt, 3, &d->list);
				if (li != POL_NONE)
					VEC_AT(ast->lists, struct ast_list, li)->used = true;
			}
		}
		if (r->during.s) {
			r->sched_idx = resolve(u, nt, 4, &r->during);
			if (r->sched_idx != POL_NONE)
				VEC_AT(ast->schedules, struct ast_schedule, r->sched_idx)->used = true;
		}
		if (r->rate_bps && r->action != POL_ALLOW)
			pol_error(&u->diags, r->rate_span, "a rate limits what is allowed; drop it or use allow",
				  "rate applies only to allow rules");
		if (r->ports.n && r->protos && !(r->protos & (POL_PROTO_TCP | POL_PROTO_UDP)))
			pol_error(&u->diags, r->port_span, "ports belong to tcp and udp",
				  "port given for a rule that matches only icmp");
		else if (r->ports.n && (r->protos & POL_PROTO_ICMP))
			pol_error(&u->diags, r->proto_span, "write a separate rule for icmp",
				  "icmp has no ports: it cannot be combined with port");
		ri->protos = r->protos ? r->protos
			   : r->ports.n ? (uint8_t)(POL_PROTO_TCP | POL_PROTO_UDP) : 0;
	}
}

/* Device sets per rule subject (only when there were no errors). */
static bool expand_subjects(struct pol_unit *u, struct rule_info *info)
{
	struct ast *ast = &u->ast;
	size_t nd = ast->devices.n;
	for (size_t i = 0; i < ast->rules.n; i++) {
		struct ast_rule *r = VEC_AT(ast->rules, struct ast_rule, i);
		struct rule_info *ri = &info[i];
		if (r->subject_kind < POL_SUBJ_DEVICE)
			continue;
		uint32_t *devs;
		uint32_t n = 0;
		if (r->subject_kind == POL_SUBJ_DEVICE) {
			devs = pol_arena_alloc(u->arena, (r->subjects.n + 1) * sizeof(uint32_t));
			if (!devs)
				return false;
			for (size_t k = 0; k < r->subjects.n; k++)
				devs[n++] = r->subj_idx[k];
		} else {
			uint64_t gmask = 0;
			for (size_t k = 0; k < r->subjects.n; k++)
				if (r->subject_kind == POL_SUBJ_GROUP)
					gmask |= 1ull << r->subj_idx[k];
			devs = pol_arena_alloc(u->arena, (nd + 1) * sizeof(uint32_t));
			if (!devs)
				return false;
			for (size_t d = 0; d < nd; d++) {
				const struct ast_device *dv = VEC_AT(ast->devices, struct ast_device, d);
				bool in = r->subject_kind == POL_SUBJ_GROUP && (dv->group_mask & gmask);
				for (size_t k = 0; !in && r->subject_kind == POL_SUBJ_PERSON &&
						   k < r->subjects.n; k++)
					in = dv->owner_idx == r->subj_idx[k];
				if (in)
					devs[n++] = (uint32_t)d;
			}
		}
		qsort(devs, n, sizeof(*devs), cmp_u32);
		uint32_t m = 0;
		for (uint32_t k = 0; k < n; k++)
			if (!m || devs[m - 1] != devs[k])
				devs[m++] = devs[k];
		ri->devs = devs;
		ri->ndevs = m;
	}
	return true;
}

/* Number the sets in statement order: prefix set 0 is the LAN. */
static void number_sets(struct pol_unit *u)
{
	struct ast *ast = &u->ast;
	uint32_t nd = 0, np = 1;
	for (size_t s = 0; s < ast->stmts.n; s++) {
		const struct ast_stmt *st = VEC_AT(ast->stmts, struct ast_stmt, s);
		struct pol_span at;
		bool domains = false, prefixes = false;
		if (st->kind == AS_LIST) {
			struct ast_list *l = VEC_AT(ast->lists, struct ast_list, st->index);
			at = l->name.span;
			if (l->domains) {
				l->set = nd;
				domains = true;
			} else {
				l->set = np++;
			}
		} else if (st->kind == AS_RULE) {
			struct ast_rule *r = VEC_AT(ast->rules, struct ast_rule, st->index);
			at = r->name.span;
			r->domain_set = r->prefix_set = POL_NONE;
			for (size_t k = 0; k < r->dsts.n; k++) {
				const struct ast_dst *d = VEC_AT(r->dsts, struct ast_dst, k);
				domains |= d->kind == AD_DOMAIN;
				prefixes |= d->kind == AD_PREFIX;
			}
			if (domains)
				r->domain_set = nd;
			if (prefixes)
				r->prefix_set = np++;
		}
		if (domains && nd++ == POL_MAX_DOMAIN_SETS)
			pol_error(&u->diags, at,
				  "each domains list and each rule with domains of its own uses one; merge some lists",
				  "too many domain sets: at most %d", POL_MAX_DOMAIN_SETS);
	}
	ast->ndomain_sets = nd;
	ast->nprefix_sets = np;
}

static void warn_unused(struct pol_unit *u)
{
	struct ast *ast = &u->ast;
	/* In statement order, so the warnings read top to bottom. */
	for (size_t s = 0; s < ast->stmts.n; s++) {
		const struct ast_stmt *st = VEC_AT(ast->stmts, struct ast_stmt, s);
		const struct ast_name *n = NULL;
		const char *kind = NULL;
		switch (st->kind) {
		case AS_PERSON: {
			const struct ast_person *x = VEC_AT(ast->persons, struct ast_person, st->index);
			if (!x->used)
				n = &x->name, kind = "person";
			break;
		}
		case AS_GROUP: {
			const struct ast_group *x = VEC_AT(ast->groups, struct ast_group, st->index);
			if (!x->used)
				n = &x->name, kind = "group";
			break;
		}
		case AS_LIST: {
			const struct ast_list *x = VEC_AT(ast->lists, struct ast_list, st->index);
			if (!x->used)
				n = &x->name, kind = "list";
			break;
		}
		case AS_SCHEDULE: {
			const struct ast_schedule *x = VEC_AT(ast->schedules, struct ast_schedule, st->index);
			if (!x->used)
				n = &x->name, kind = "schedule";
			break;
		}
		default:
			break;
		}
		if (n)
			pol_warning(&u->diags, n->span, NULL, "%s '%s' is never used", kind, n->s);
	}
}

void pol_sema(struct pol_unit *u)
{
	struct ast *ast = &u->ast;
	struct names nt[6];
	if (!names_init(u, &nt[0], &ast->persons, sizeof(struct ast_person)) ||
	    !names_init(u, &nt[1], &ast->groups, sizeof(struct ast_group)) ||
	    !names_init(u, &nt[2], &ast->devices, sizeof(struct ast_device)) ||
	    !names_init(u, &nt[3], &ast->lists, sizeof(struct ast_list)) ||
	    !names_init(u, &nt[4], &ast->schedules, sizeof(struct ast_schedule)) ||
	    !names_init(u, &nt[5], &ast->rules, sizeof(struct ast_rule)))
		return;

	/* Definitions in statement order, so "first defined here" is right. */
	for (size_t s = 0; s < ast->stmts.n; s++) {
		const struct ast_stmt *st = VEC_AT(ast->stmts, struct ast_stmt, s);
		int k = st->kind == AS_PERSON ? 0 : st->kind == AS_GROUP ? 1
		      : st->kind == AS_DEVICE ? 2 : st->kind == AS_LIST ? 3
		      : st->kind == AS_SCHEDULE ? 4 : st->kind == AS_RULE ? 5 : -1;
		if (k < 0)
			continue;
		if (!names_add(u, &nt[k], st->index, kind_names[k]))
			continue;
		if (k == 1 && st->index == POL_MAX_GROUPS)
			pol_error(&u->diags, VEC_AT(ast->groups, struct ast_group, st->index)->name.span,
				  "groups are a bit set in every engine; merge some",
				  "too many groups: at most %d", POL_MAX_GROUPS);
	}

	check_timezone(u);
	if (ast->default_action < 0) {
		pol_error(&u->diags, (struct pol_span){ 0, 0, 0, 0 },
			  "end the policy with 'default allow' or 'default block'",
			  "no default action: the policy must say what happens when no rule matches");
	}

	for (size_t i = 0; i < ast->devices.n; i++) {
		struct ast_device *dv = VEC_AT(ast->devices, struct ast_device, i);
		dv->owner_idx = POL_NONE;
		if (dv->owner.s) {
			dv->owner_idx = resolve(u, nt, 0, &dv->owner);
			if (dv->owner_idx != POL_NONE)
				VEC_AT(ast->persons, struct ast_person, dv->owner_idx)->used = true;
		}
		for (size_t k = 0; k < dv->groups.n; k++) {
			const struct ast_name *g = VEC_AT(dv->groups, struct ast_name, k);
			uint32_t gi = resolve(u, nt, 1, g);
			if (gi == POL_NONE || gi >= POL_MAX_GROUPS)
				continue;
			VEC_AT(ast->groups, struct ast_group, gi)->used = true;
			dv->group_mask |= 1ull << gi;
		}
	}
	check_macs(u);
	check_schedules(u);
	number_sets(u);

	struct rule_info *info = calloc(ast->rules.n + 1, sizeof(*info));
	if (!info) {
		u->diags.oom = true;
		return;
	}
	resolve_rules(u, nt, info);
	/* Warnings about a policy with errors would be noise (a duplicate
	 * definition would also show as unused). */
	if (u->diags.errors == 0 && !u->diags.oom) {
		warn_unused(u);
		if (expand_subjects(u, info))
			check_shadowed(u, info);
		else
			u->diags.oom = true;
	}
	free(info);
}
