/* SPDX-License-Identifier: MIT */
/*
 * The difference of two compiled policies (diff.h).  Everything is turned
 * into text first (a rule's destination, a list's items) and compared as
 * text: the canonical forms are unique, so equal text is equal meaning,
 * and the text is what a person reads in the report anyway.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "diff.h"
#include "names.h"

#define SHOW_MAX 8     /* a set with more members shows its size */
#define TEXT_MAX 160   /* longer values are cut with "..." */

struct pol_diff {
	struct pol_diff_entry *e;
	size_t n, cap;
	bool oom;
};


const char *pol_diff_kind_name(enum pol_diff_kind k)
{
	static const char *const n[] = { "setting", "default", "person", "group",
					  "device", "list", "schedule", "rule" };
	return k <= POL_DIFF_RULE ? n[k] : "?";
}

const char *pol_diff_op_name(enum pol_diff_op o)
{
	static const char *const n[] = { "added", "removed", "changed" };
	return o <= POL_DIFF_CHANGED ? n[o] : "?";
}

/* ---- text --------------------------------------------------------------- */

/* A growing string; on failure it stays NULL and the diff is marked. */
struct buf {
	char *s;
	size_t n, cap;
	bool oom;
};

static void __attribute__((format(printf, 2, 3))) bprintf(struct buf *b, const char *fmt, ...)
{
	if (b->oom)
		return;
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (k < 0 || b->n + (size_t)k + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (k >= 0 && b->n + (size_t)k + 1 > cap)
			cap *= 2;
		char *s = k < 0 ? NULL : realloc(b->s, cap);
		if (!s) {
			b->oom = true;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
	va_end(ap);
	b->n += (size_t)k;
}

/* The string (malloc'd, "" if empty), or NULL without memory. */
static char *bdone(struct buf *b)
{
	if (b->oom) {
		free(b->s);
		return NULL;
	}
	return b->s ? b->s : strdup("");
}

/* A list of strings: one set's members. */
struct strs {
	char **v;
	size_t n, cap;
	bool oom;
};

static void spush(struct strs *s, char *str)
{
	if (!str) {
		s->oom = true;
		return;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		char **v = realloc(s->v, cap * sizeof(*v));
		if (!v) {
			free(str);
			s->oom = true;
			return;
		}
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = str;
}

static void sfree(struct strs *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static char *dupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *dupf(const char *fmt, ...)
{
	char *s;
	va_list ap;
	va_start(ap, fmt);
	int k = vasprintf(&s, fmt, ap);
	va_end(ap);
	return k < 0 ? NULL : s;
}

static char *prefix_str(const struct pol_prefix *p)
{
	char a[INET6_ADDRSTRLEN];
	inet_ntop(p->family == 4 ? AF_INET : AF_INET6, p->addr, a, sizeof(a));
	if (p->plen == (p->family == 4 ? 32 : 128))
		return strdup(a);
	return dupf("%s/%u", a, p->plen);
}

static char *domain_str(const struct pol_ir *ir, const struct pol_domain *d)
{
	return dupf("%s%s", d->flags & POL_DOMAIN_WILDCARD ? "*." : "", pol_ir_str(ir, d->name));
}

static char *window_str(const struct pol_window *w)
{
	struct buf b = { 0 };
	if (w->days == 0x7f) {
		bprintf(&b, "daily");
	} else {
		bool first = true;
		for (int i = 0; i < 7;) {
			if (!(w->days >> i & 1)) {
				i++;
				continue;
			}
			int j = i;
			while (j + 1 < 7 && (w->days >> (j + 1) & 1))
				j++;
			bprintf(&b, "%s%s", first ? "" : ",", pol_day_name((unsigned)i));
			if (j > i)
				bprintf(&b, "%s%s", j == i + 1 ? "," : "-", pol_day_name((unsigned)j));
			first = false;
			i = j + 1;
		}
	}
	bprintf(&b, " %02u:%02u-%02u:%02u", w->start_min / 60, w->start_min % 60,
		w->end_min / 60, w->end_min % 60);
	return bdone(&b);
}

static char *mac_str(const uint8_t *m)
{
	char text[POL_MAC_TEXT];
	return strdup(pol_mac_format(m, text));
}

static char *rate_str(uint64_t bps)
{
	static const struct { const char *unit; uint64_t mult; } u[] = {
		{ "gbit", 1000000000 }, { "mbit", 1000000 }, { "kbit", 1000 },
	};
	for (size_t i = 0; i < 3; i++)
		if (bps >= u[i].mult && bps % u[i].mult == 0)
			return dupf("%" PRIu64 "%s", bps / u[i].mult, u[i].unit);
	return dupf("%" PRIu64 "bit", bps);
}

/* Members of a domain or prefix set, in the image's order. */
static void set_items(const struct pol_ir *ir, bool domains, uint32_t set, struct strs *out)
{
	const struct pol_set *s = domains ? &ir->domain_sets[set] : &ir->prefix_sets[set];
	for (uint32_t i = 0; i < s->count; i++)
		spush(out, domains ? domain_str(ir, &ir->domains[s->first + i])
				   : prefix_str(&ir->prefixes[s->first + i]));
}

static char *join(const struct strs *s, const char *sep)
{
	struct buf b = { 0 };
	for (size_t i = 0; i < s->n; i++)
		bprintf(&b, "%s%s", i ? sep : "", s->v[i]);
	return bdone(&b);
}

/* ---- entries ------------------------------------------------------------ */

static struct pol_diff_entry *entry(struct pol_diff *d, enum pol_diff_kind kind,
				    enum pol_diff_op op, const char *name)
{
	if (d->oom)
		return NULL;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct pol_diff_entry *e = realloc(d->e, cap * sizeof(*e));
		if (!e) {
			d->oom = true;
			return NULL;
		}
		d->e = e;
		d->cap = cap;
	}
	struct pol_diff_entry *e = &d->e[d->n];
	memset(e, 0, sizeof(*e));
	e->name = strdup(name);
	if (!e->name) {
		d->oom = true;
		return NULL;
	}
	e->kind = kind;
	e->op = op;
	d->n++;
	return e;
}

static char *cut(char *s)
{
	if (s && strlen(s) > TEXT_MAX)
		strcpy(s + TEXT_MAX - 3, "...");
	return s;
}

/* Adds a field to *e (made on first use, so an entry exists only when
 * something changed).  Takes from and to. */
static void field(struct pol_diff *d, struct pol_diff_entry **e, enum pol_diff_kind kind,
		  const char *name, const char *fname, char *from, char *to, bool is_set,
		  uint32_t added, uint32_t removed)
{
	if (!*e)
		*e = entry(d, kind, POL_DIFF_CHANGED, name);
	struct pol_diff_entry *en = *e;
	struct pol_diff_field *f = NULL;
	if (en && from && to) {
		f = realloc(en->fields, (en->nfields + 1) * sizeof(*f));
		if (f)
			en->fields = f;
	}
	if (!f) {
		d->oom = true;
		free(from);
		free(to);
		return;
	}
	f = &en->fields[en->nfields++];
	*f = (struct pol_diff_field){ .field = fname, .from = cut(from), .to = cut(to),
				      .added = added, .removed = removed, .is_set = is_set };
}

/* Compare two scalar texts; both are taken. */
static void cmp_text(struct pol_diff *d, struct pol_diff_entry **e, enum pol_diff_kind kind,
		     const char *name, const char *fname, char *from, char *to)
{
	if (!from || !to) {
		d->oom = true;
		free(from);
		free(to);
		return;
	}
	if (!strcmp(from, to)) {
		free(from);
		free(to);
		return;
	}
	field(d, e, kind, name, fname, from, to, false, 0, 0);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Compare two sets of members (taken and freed); `unit` names them in
 * the summary when they are many. */
static void cmp_set(struct pol_diff *d, struct pol_diff_entry **e, enum pol_diff_kind kind,
		    const char *name, const char *fname, const char *unit, struct strs *a,
		    struct strs *b)
{
	if (a->oom || b->oom) {
		d->oom = true;
		goto out;
	}
	char **sa = malloc((a->n + 1) * sizeof(*sa)), **sb = malloc((b->n + 1) * sizeof(*sb));
	if (!sa || !sb) {
		free(sa);
		free(sb);
		d->oom = true;
		goto out;
	}
	if (a->n)
		memcpy(sa, a->v, a->n * sizeof(*sa));
	if (b->n)
		memcpy(sb, b->v, b->n * sizeof(*sb));
	qsort(sa, a->n, sizeof(*sa), cmp_str);
	qsort(sb, b->n, sizeof(*sb), cmp_str);
	uint32_t added = 0, removed = 0;
	size_t i = 0, j = 0;
	while (i < a->n || j < b->n) {
		int c = i == a->n ? 1 : j == b->n ? -1 : strcmp(sa[i], sb[j]);
		if (c < 0) {
			removed++;
			i++;
		} else if (c > 0) {
			added++;
			j++;
		} else {
			i++;
			j++;
		}
	}
	free(sa);
	free(sb);
	if (added || removed) {
		bool few = a->n <= SHOW_MAX && b->n <= SHOW_MAX;
		char *from = few ? (a->n ? join(a, ", ") : strdup("none"))
				 : dupf("%zu %s", a->n, unit);
		char *to = few ? (b->n ? join(b, ", ") : strdup("none"))
			       : dupf("%zu %s", b->n, unit);
		if (from && to)
			field(d, e, kind, name, fname, from, to, true, added, removed);
		else {
			free(from);
			free(to);
			d->oom = true;
		}
	}
out:
	sfree(a);
	sfree(b);
}

/* ---- names -------------------------------------------------------------- */

/* Names of one table (persons, rules, ...), sorted for lookups: each
 * entry's first member is its name's string offset. */
struct name_ent {
	const char *s;
	uint32_t i;
};

struct names {
	struct name_ent *e;
	uint32_t n;
};

static int cmp_name_ent(const void *x, const void *y)
{
	const struct name_ent *a = x, *b = y;
	int c = strcmp(a->s, b->s);
	return c ? c : (a->i > b->i) - (a->i < b->i);
}

static int names_of(struct names *x, const struct pol_ir *ir, const void *base, uint32_t n,
		    size_t size)
{
	x->n = n;
	x->e = malloc(((size_t)n + 1) * sizeof(*x->e));
	if (!x->e)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t off;
		memcpy(&off, (const uint8_t *)base + (size_t)i * size, sizeof(off));
		x->e[i] = (struct name_ent){ pol_ir_str(ir, off), i };
	}
	qsort(x->e, n, sizeof(*x->e), cmp_name_ent);
	return 0;
}

/* The first entry with that name, or POL_NONE. */
static uint32_t find(const struct names *x, const char *name)
{
	size_t lo = 0, hi = x->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (strcmp(x->e[mid].s, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < x->n && !strcmp(x->e[lo].s, name) ? x->e[lo].i : POL_NONE;
}

/* Both sides' names of one table; false (and the diff marked) without
 * memory. */
static bool names_both(struct pol_diff *d, struct names *xa, struct names *xb,
		       const struct pol_ir *a, const void *ta, uint32_t na, const struct pol_ir *b,
		       const void *tb, uint32_t nb, size_t size)
{
	xa->e = xb->e = NULL;
	if (names_of(xa, a, ta, na, size) < 0 || names_of(xb, b, tb, nb, size) < 0) {
		free(xa->e);
		free(xb->e);
		xa->e = xb->e = NULL;
		d->oom = true;
		return false;
	}
	return true;
}

static const char *name_at(const struct pol_ir *ir, const void *base, uint32_t i, size_t size)
{
	uint32_t off;
	memcpy(&off, (const uint8_t *)base + (size_t)i * size, sizeof(off));
	return pol_ir_str(ir, off);
}

/* Added and removed names of one table (persons, groups). */
static void names_diff(struct pol_diff *d, enum pol_diff_kind kind, const struct pol_ir *a,
		       const void *ta, uint32_t na, const struct pol_ir *b, const void *tb,
		       uint32_t nb, size_t size)
{
	struct names xa, xb;
	if (!names_both(d, &xa, &xb, a, ta, na, b, tb, nb, size))
		return;
	for (uint32_t i = 0; i < na; i++) {
		const char *n = name_at(a, ta, i, size);
		if (find(&xb, n) == POL_NONE)
			entry(d, kind, POL_DIFF_REMOVED, n);
	}
	for (uint32_t i = 0; i < nb; i++) {
		const char *n = name_at(b, tb, i, size);
		if (find(&xa, n) == POL_NONE)
			entry(d, kind, POL_DIFF_ADDED, n);
	}
	free(xa.e);
	free(xb.e);
}

/* ---- settings and defaults ---------------------------------------------- */

static void settings(struct pol_diff *d, const struct pol_ir *a, const struct pol_ir *b)
{
	struct pol_diff_entry *e = NULL;
	cmp_text(d, &e, POL_DIFF_SETTING, "zone", "zone", strdup(pol_ir_str(a, a->meta->zone)),
		 strdup(pol_ir_str(b, b->meta->zone)));
	e = NULL;
	cmp_text(d, &e, POL_DIFF_SETTING, "timezone", "timezone",
		 strdup(pol_ir_str(a, a->meta->timezone)),
		 strdup(pol_ir_str(b, b->meta->timezone)));
	e = NULL;
	struct strs sa = { 0 }, sb = { 0 };
	set_items(a, false, a->meta->lan_set, &sa);
	set_items(b, false, b->meta->lan_set, &sb);
	cmp_set(d, &e, POL_DIFF_SETTING, "lan", "prefixes", "prefixes", &sa, &sb);
	e = NULL;
	cmp_text(d, &e, POL_DIFF_DEFAULT, "default", "action",
		 strdup(pol_action_name(a->meta->default_action)),
		 strdup(pol_action_name(b->meta->default_action)));
	e = NULL;
	cmp_text(d, &e, POL_DIFF_DEFAULT, "default new", "action",
		 strdup(pol_action_name(a->meta->default_new)),
		 strdup(pol_action_name(b->meta->default_new)));
}

/* ---- devices ------------------------------------------------------------ */

static void device_props(const struct pol_ir *ir, uint32_t dev, struct strs *macs,
			 struct strs *groups, char **owner)
{
	for (uint32_t m = 0; m < ir->nmacs; m++)
		if (ir->macs[m].device == dev)
			spush(macs, mac_str(ir->macs[m].mac));
	for (uint32_t g = 0; g < ir->ngroups && g < POL_MAX_GROUPS; g++)
		if (ir->devices[dev].groups >> g & 1)
			spush(groups, strdup(pol_ir_str(ir, ir->groups[g].name)));
	uint32_t o = ir->devices[dev].owner;
	*owner = strdup(o == POL_NONE ? "none" : pol_ir_str(ir, ir->persons[o].name));
}

/* A device's fixed address as text ("none" without one); NULL without memory. */
static char *device_addr(const struct pol_ir *ir, uint32_t dev)
{
	char text[INET_ADDRSTRLEN];
	if (!(ir->devices[dev].flags & POL_DEVICE_ADDR4))
		return strdup("none");
	inet_ntop(AF_INET, ir->devices[dev].addr4, text, sizeof(text));
	return strdup(text);
}

static void devices(struct pol_diff *d, const struct pol_ir *a, const struct pol_ir *b)
{
	struct names xa, xb;
	if (!names_both(d, &xa, &xb, a, a->devices, a->ndevices, b, b->devices, b->ndevices,
			sizeof(struct pol_device)))
		return;
	for (uint32_t i = 0; i < a->ndevices; i++) {
		const char *n = pol_ir_str(a, a->devices[i].name);
		if (find(&xb, n) == POL_NONE)
			entry(d, POL_DIFF_DEVICE, POL_DIFF_REMOVED, n);
	}
	for (uint32_t j = 0; j < b->ndevices; j++) {
		const char *n = pol_ir_str(b, b->devices[j].name);
		uint32_t i = find(&xa, n);
		if (i == POL_NONE) {
			entry(d, POL_DIFF_DEVICE, POL_DIFF_ADDED, n);
			continue;
		}
		struct pol_diff_entry *e = NULL;
		struct strs ma = { 0 }, mb = { 0 }, ga = { 0 }, gb = { 0 };
		char *oa, *ob;
		device_props(a, i, &ma, &ga, &oa);
		device_props(b, j, &mb, &gb, &ob);
		cmp_set(d, &e, POL_DIFF_DEVICE, n, "macs", "macs", &ma, &mb);
		cmp_text(d, &e, POL_DIFF_DEVICE, n, "address", device_addr(a, i), device_addr(b, j));
		cmp_text(d, &e, POL_DIFF_DEVICE, n, "owner", oa, ob);
		cmp_set(d, &e, POL_DIFF_DEVICE, n, "groups", "groups", &ga, &gb);
	}
	free(xa.e);
	free(xb.e);
}

/* ---- lists -------------------------------------------------------------- */

/* A named list: a domain set or a prefix set that is not the LAN and not
 * a rule's inline items. */
struct list_ref {
	bool domains;
	uint32_t set;
};

static bool find_list(const struct pol_ir *ir, const char *name, struct list_ref *ret)
{
	for (uint32_t s = 0; s < ir->ndomain_sets; s++)
		if (!strcmp(pol_ir_str(ir, ir->domain_sets[s].name), name)) {
			*ret = (struct list_ref){ true, s };
			return true;
		}
	for (uint32_t s = 0; s < ir->nprefix_sets; s++)
		if (s != ir->meta->lan_set &&
		    !strcmp(pol_ir_str(ir, ir->prefix_sets[s].name), name)) {
			*ret = (struct list_ref){ false, s };
			return true;
		}
	return false;
}

static bool is_list(const struct pol_ir *ir, bool domains, uint32_t s)
{
	const struct pol_set *set = domains ? &ir->domain_sets[s] : &ir->prefix_sets[s];
	if (!domains && s == ir->meta->lan_set)
		return false;
	return strncmp(pol_ir_str(ir, set->name), "rule:", 5) != 0;
}

static void lists(struct pol_diff *d, const struct pol_ir *a, const struct pol_ir *b)
{
	for (int pass = 0; pass < 2; pass++) {
		/* pass 0: removed (walking a); pass 1: added and changed (b). */
		const struct pol_ir *x = pass ? b : a, *y = pass ? a : b;
		for (int dom = 1; dom >= 0; dom--) {
			uint32_t n = dom ? x->ndomain_sets : x->nprefix_sets;
			for (uint32_t s = 0; s < n; s++) {
				if (!is_list(x, dom, s))
					continue;
				const char *name = pol_ir_str(
					x, dom ? x->domain_sets[s].name : x->prefix_sets[s].name);
				struct list_ref other;
				if (!find_list(y, name, &other)) {
					entry(d, POL_DIFF_LIST,
					      pass ? POL_DIFF_ADDED : POL_DIFF_REMOVED, name);
					continue;
				}
				if (!pass)
					continue;
				struct pol_diff_entry *e = NULL;
				cmp_text(d, &e, POL_DIFF_LIST, name, "kind",
					 strdup(other.domains ? "domains" : "prefixes"),
					 strdup(dom ? "domains" : "prefixes"));
				struct strs sa = { 0 }, sb = { 0 };
				set_items(a, other.domains, other.set, &sa);
				set_items(b, dom, s, &sb);
				cmp_set(d, &e, POL_DIFF_LIST, name, "items", "items", &sa, &sb);
			}
		}
	}
}

/* ---- schedules ---------------------------------------------------------- */

static void windows(const struct pol_ir *ir, uint32_t s, struct strs *out)
{
	const struct pol_set *set = &ir->schedules[s];
	for (uint32_t i = 0; i < set->count; i++)
		spush(out, window_str(&ir->windows[set->first + i]));
}

static void schedules(struct pol_diff *d, const struct pol_ir *a, const struct pol_ir *b)
{
	struct names xa, xb;
	if (!names_both(d, &xa, &xb, a, a->schedules, a->nschedules, b, b->schedules,
			b->nschedules, sizeof(struct pol_set)))
		return;
	for (uint32_t i = 0; i < a->nschedules; i++) {
		const char *n = pol_ir_str(a, a->schedules[i].name);
		if (find(&xb, n) == POL_NONE)
			entry(d, POL_DIFF_SCHEDULE, POL_DIFF_REMOVED, n);
	}
	for (uint32_t j = 0; j < b->nschedules; j++) {
		const char *n = pol_ir_str(b, b->schedules[j].name);
		uint32_t i = find(&xa, n);
		if (i == POL_NONE) {
			entry(d, POL_DIFF_SCHEDULE, POL_DIFF_ADDED, n);
			continue;
		}
		struct pol_diff_entry *e = NULL;
		struct strs wa = { 0 }, wb = { 0 };
		windows(a, i, &wa);
		windows(b, j, &wb);
		cmp_set(d, &e, POL_DIFF_SCHEDULE, n, "windows", "windows", &wa, &wb);
	}
	free(xa.e);
	free(xb.e);
}

/* ---- rules -------------------------------------------------------------- */

static char *subject_str(const struct pol_ir *ir, const struct pol_rule *r)
{
	static const char *const kinds[] = { "any", "new", "device", "person", "group" };
	struct buf b = { 0 };
	bprintf(&b, "%s", kinds[r->subject_kind]);
	for (uint32_t i = 0; i < r->subj_count; i++) {
		uint32_t x = ir->subjects[r->subj_first + i].index;
		uint32_t off = r->subject_kind == POL_SUBJ_DEVICE   ? ir->devices[x].name
			       : r->subject_kind == POL_SUBJ_PERSON ? ir->persons[x].name
								    : ir->groups[x].name;
		bprintf(&b, "%s%s", i ? ", " : " ", pol_ir_str(ir, off));
	}
	return bdone(&b);
}

static char *dst_str(const struct pol_ir *ir, const struct pol_rule *r)
{
	if (!r->dst_count)
		return strdup("any");
	struct buf b = { 0 };
	for (uint32_t i = 0; i < r->dst_count; i++) {
		const struct pol_dst *dst = &ir->dsts[r->dst_first + i];
		if (i)
			bprintf(&b, ", ");
		bool dom = dst->kind == POL_DST_DOMAINS;
		switch (dst->kind) {
		case POL_DST_ANY: bprintf(&b, "any"); break;
		case POL_DST_LAN: bprintf(&b, "lan"); break;
		case POL_DST_INTERNET: bprintf(&b, "internet"); break;
		case POL_DST_PREFIXES:
		case POL_DST_DOMAINS: {
			const struct pol_set *s = dom ? &ir->domain_sets[dst->index]
						      : &ir->prefix_sets[dst->index];
			const char *name = pol_ir_str(ir, s->name);
			if (strncmp(name, "rule:", 5)) {
				bprintf(&b, "list %s", name);
				break;
			}
			/* The rule's own items: they are the rule's to compare. */
			struct strs items = { 0 };
			set_items(ir, dom, dst->index, &items);
			char *j = join(&items, ", ");
			if (j)
				bprintf(&b, "%s", j);
			else
				b.oom = true;
			free(j);
			sfree(&items);
			break;
		}
		}
	}
	return bdone(&b);
}

static char *protos_str(uint8_t p)
{
	if (!p)
		return strdup("any");
	return dupf("%s%s%s%s%s", p & POL_PROTO_TCP ? "tcp" : "",
		    (p & POL_PROTO_TCP) && (p & (POL_PROTO_UDP | POL_PROTO_ICMP)) ? ", " : "",
		    p & POL_PROTO_UDP ? "udp" : "",
		    (p & POL_PROTO_UDP) && (p & POL_PROTO_ICMP) ? ", " : "",
		    p & POL_PROTO_ICMP ? "icmp" : "");
}

static char *ports_str(const struct pol_ir *ir, const struct pol_rule *r)
{
	if (!r->port_count)
		return strdup("any");
	struct buf b = { 0 };
	for (uint32_t i = 0; i < r->port_count; i++) {
		const struct pol_port_range *p = &ir->ports[r->port_first + i];
		bprintf(&b, "%s%u", i ? ", " : "", p->lo);
		if (p->hi != p->lo)
			bprintf(&b, "-%u", p->hi);
	}
	return bdone(&b);
}

static char *schedule_str(const struct pol_ir *ir, const struct pol_rule *r)
{
	if (!(r->flags & POL_RULE_DURING) || r->schedule == POL_NONE)
		return strdup("always");
	return strdup(pol_ir_str(ir, ir->schedules[r->schedule].name));
}

/* Marks keep[i] for the common rules that stay in place: a longest
 * increasing run of their new positions, in the old order. */
static int in_place(const uint32_t *newpos, size_t n, bool *keep)
{
	uint32_t *tail = malloc((n + 1) * sizeof(*tail)), *prev = malloc((n + 1) * sizeof(*prev));
	if (!tail || !prev) {
		free(tail);
		free(prev);
		return -ENOMEM;
	}
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		size_t lo = 0, hi = len;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (newpos[tail[mid]] < newpos[i])
				lo = mid + 1;
			else
				hi = mid;
		}
		prev[i] = lo ? tail[lo - 1] : UINT32_MAX;
		tail[lo] = (uint32_t)i;
		if (lo == len)
			len++;
	}
	memset(keep, 0, n * sizeof(*keep));
	for (uint32_t i = len ? tail[len - 1] : UINT32_MAX; i != UINT32_MAX; i = prev[i])
		keep[i] = true;
	free(tail);
	free(prev);
	return 0;
}

static void rules(struct pol_diff *d, const struct pol_ir *a, const struct pol_ir *b)
{
	struct names xb = { 0 };
	/* The common rules in the old order, and where each went. */
	uint32_t *newpos = malloc((a->nrules + 1) * sizeof(*newpos));
	uint32_t *oldidx = malloc((a->nrules + 1) * sizeof(*oldidx));
	bool *keep = malloc((a->nrules + 1) * sizeof(*keep));
	bool *moved = calloc(b->nrules + 1, sizeof(*moved));
	if (!newpos || !oldidx || !keep || !moved ||
	    names_of(&xb, b, b->rules, b->nrules, sizeof(struct pol_rule)) < 0) {
		d->oom = true;
		goto out;
	}
	size_t nc = 0;
	for (uint32_t i = 0; i < a->nrules; i++) {
		const char *n = pol_ir_str(a, a->rules[i].name);
		uint32_t j = find(&xb, n);
		if (j == POL_NONE) {
			entry(d, POL_DIFF_RULE, POL_DIFF_REMOVED, n);
			continue;
		}
		newpos[nc] = j;
		oldidx[nc++] = i;
	}
	if (in_place(newpos, nc, keep) < 0) {
		d->oom = true;
		goto out;
	}
	uint32_t *from_old = calloc(b->nrules + 1, sizeof(*from_old));
	if (!from_old) {
		d->oom = true;
		goto out;
	}
	for (size_t k = 0; k < b->nrules; k++)
		from_old[k] = POL_NONE;
	for (size_t k = 0; k < nc; k++) {
		from_old[newpos[k]] = oldidx[k];
		moved[newpos[k]] = !keep[k];
	}
	for (uint32_t j = 0; j < b->nrules; j++) {
		const struct pol_rule *rb = &b->rules[j];
		const char *n = pol_ir_str(b, rb->name);
		uint32_t i = from_old[j];
		if (i == POL_NONE) {
			struct pol_diff_entry *e = entry(d, POL_DIFF_RULE, POL_DIFF_ADDED, n);
			if (e)
				e->position = j + 1;
			continue;
		}
		const struct pol_rule *ra = &a->rules[i];
		struct pol_diff_entry *e = NULL;
		cmp_text(d, &e, POL_DIFF_RULE, n, "action", strdup(pol_action_name(ra->action)),
			 strdup(pol_action_name(rb->action)));
		cmp_text(d, &e, POL_DIFF_RULE, n, "subject", subject_str(a, ra),
			 subject_str(b, rb));
		cmp_text(d, &e, POL_DIFF_RULE, n, "destination", dst_str(a, ra), dst_str(b, rb));
		cmp_text(d, &e, POL_DIFF_RULE, n, "protocols", protos_str(ra->protos),
			 protos_str(rb->protos));
		cmp_text(d, &e, POL_DIFF_RULE, n, "ports", ports_str(a, ra), ports_str(b, rb));
		cmp_text(d, &e, POL_DIFF_RULE, n, "schedule", schedule_str(a, ra),
			 schedule_str(b, rb));
		cmp_text(d, &e, POL_DIFF_RULE, n, "rate",
			 ra->flags & POL_RULE_RATE ? rate_str(ra->rate_bps) : strdup("none"),
			 rb->flags & POL_RULE_RATE ? rate_str(rb->rate_bps) : strdup("none"));
		cmp_text(d, &e, POL_DIFF_RULE, n, "log",
			 strdup(ra->flags & POL_RULE_LOG ? "yes" : "no"),
			 strdup(rb->flags & POL_RULE_LOG ? "yes" : "no"));
		if (moved[j])
			field(d, &e, POL_DIFF_RULE, n, "position", dupf("%u", i + 1),
			      dupf("%u", j + 1), false, 0, 0);
	}
	free(from_old);
out:
	free(xb.e);
	free(newpos);
	free(oldidx);
	free(keep);
	free(moved);
}

/* ---- the whole ---------------------------------------------------------- */

int pol_diff_new(const struct pol_ir *a, const struct pol_ir *b, struct pol_diff **ret)
{
	struct pol_diff *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	settings(d, a, b);
	names_diff(d, POL_DIFF_PERSON, a, a->persons, a->npersons, b, b->persons, b->npersons,
		   sizeof(struct pol_person));
	names_diff(d, POL_DIFF_GROUP, a, a->groups, a->ngroups, b, b->groups, b->ngroups,
		   sizeof(struct pol_group));
	devices(d, a, b);
	lists(d, a, b);
	schedules(d, a, b);
	rules(d, a, b);
	if (d->oom) {
		pol_diff_free(d);
		return -ENOMEM;
	}
	*ret = d;
	return 0;
}

void pol_diff_free(struct pol_diff *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++) {
		for (size_t j = 0; j < d->e[i].nfields; j++) {
			free(d->e[i].fields[j].from);
			free(d->e[i].fields[j].to);
		}
		free(d->e[i].fields);
		free(d->e[i].name);
	}
	free(d->e);
	free(d);
}

size_t pol_diff_count(const struct pol_diff *d)
{
	return d->n;
}

const struct pol_diff_entry *pol_diff_entry(const struct pol_diff *d, size_t i)
{
	return i < d->n ? &d->e[i] : NULL;
}

int pol_diff_print(const struct pol_diff *d, FILE *out)
{
	static const char marks[] = { '+', '-', '~' };
	for (size_t i = 0; i < d->n; i++) {
		const struct pol_diff_entry *e = &d->e[i];
		/* Settings and defaults are one of a kind: their name says it. */
		if (e->kind == POL_DIFF_SETTING || e->kind == POL_DIFF_DEFAULT)
			fprintf(out, "%c %s", marks[e->op], e->name);
		else
			fprintf(out, "%c %s %s", marks[e->op], pol_diff_kind_name(e->kind),
				e->name);
		if (e->op == POL_DIFF_ADDED && e->kind == POL_DIFF_RULE)
			fprintf(out, " (at %u)", e->position);
		fputc('\n', out);
		for (size_t j = 0; j < e->nfields; j++) {
			const struct pol_diff_field *f = &e->fields[j];
			fprintf(out, "    %s: %s -> %s", f->field, f->from, f->to);
			if (f->is_set)
				fprintf(out, " (+%u -%u)", f->added, f->removed);
			fputc('\n', out);
		}
	}
	return ferror(out) ? -EIO : 0;
}
