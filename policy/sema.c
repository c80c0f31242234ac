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

#include "doh.h"
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
	/* Once errors are capped nobody sees the hint: skip its search. */
	if (t->v->n <= 4096 && !u->diags.capped) {
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

static uint32_t be32_of(const uint8_t a[4])
{
	return (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
}

static const struct ast_prefix *lan_prefixes(const struct ast *ast, size_t *n);

struct addr_ref {
	uint32_t addr; /* host order */
	uint32_t device;
};

static int cmp_addr_ref(const void *a, const void *b)
{
	const struct addr_ref *x = a, *y = b;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return x->device < y->device ? -1 : x->device > y->device;
}

/*
 * Devices' fixed addresses (`address`): unicast, inside an IPv4 prefix of
 * the LAN and not its network or broadcast address, one device each.
 */
static void check_device_addrs(struct pol_unit *u)
{
	struct ast *ast = &u->ast;
	size_t nlan, n = 0;
	const struct ast_prefix *lan = lan_prefixes(ast, &nlan);
	struct addr_ref *refs = malloc((ast->devices.n + 1) * sizeof(*refs));
	if (!refs) {
		u->diags.oom = true;
		return;
	}
	for (size_t i = 0; i < ast->devices.n; i++) {
		const struct ast_device *dv = VEC_AT(ast->devices, struct ast_device, i);
		if (!dv->has_addr4)
			continue;
		char text[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, dv->addr4, text, sizeof(text));
		uint32_t a = be32_of(dv->addr4);
		if (a >> 24 == 0 || a >> 24 == 127 || a >> 29 == 7) {
			pol_error(&u->diags, dv->addr4_span,
				  "a device's address is a unicast address of the LAN, as in 192.168.1.30",
				  "%s is not a host's address (%s)", text,
				  a >> 24 == 0 ? "0.0.0.0/8: this network" :
				  a >> 24 == 127 ? "127.0.0.0/8: loopback" :
				  a >> 28 == 14 ? "224.0.0.0/4: multicast" : "240.0.0.0/4: reserved");
			continue;
		}
		const struct ast_prefix *in = NULL;
		for (size_t k = 0; k < nlan && !in; k++) {
			if (lan[k].family != 4)
				continue;
			uint32_t mask = lan[k].plen ? ~0u << (32 - lan[k].plen) : 0;
			if ((a & mask) == (be32_of(lan[k].addr) & mask))
				in = &lan[k];
		}
		if (!in) {
			struct pol_diag *g = pol_error(&u->diags, dv->addr4_span,
				ast->lan_set ? "give an address inside the lan statement's prefixes, or add its prefix there"
					     : "give a private address (10/8, 172.16/12, 192.168/16)",
				"address %s of device '%s' is outside the LAN", text, dv->name.s);
			if (ast->lan_set)
				pol_diag_note(&u->diags, g, ast->lan_span, "the LAN is set here");
			continue;
		}
		uint32_t host = in->plen ? ~(~0u << (32 - in->plen)) : ~0u;
		if (in->plen <= 30 && ((a & host) == 0 || (a & host) == host)) {
			char pt[INET_ADDRSTRLEN];
			inet_ntop(AF_INET, in->addr, pt, sizeof(pt));
			pol_error(&u->diags, dv->addr4_span, "give a host's address inside the prefix",
				  "%s is the %s address of the LAN prefix %s/%u", text,
				  (a & host) == 0 ? "network" : "broadcast", pt, in->plen);
			continue;
		}
		refs[n++] = (struct addr_ref){ a, (uint32_t)i };
	}
	qsort(refs, n, sizeof(*refs), cmp_addr_ref);
	for (size_t i = 1; i < n; i++) {
		if (refs[i].addr != refs[i - 1].addr)
			continue;
		const struct ast_device *first = VEC_AT(ast->devices, struct ast_device, refs[i - 1].device);
		const struct ast_device *dv = VEC_AT(ast->devices, struct ast_device, refs[i].device);
		char text[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, dv->addr4, text, sizeof(text));
		struct pol_diag *g = pol_error(&u->diags, dv->addr4_span,
					       "a fixed address belongs to one device",
					       "address %s already belongs to device '%s'", text,
					       first->name.s);
		pol_diag_note(&u->diags, g, first->addr4_span, "first given here");
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
		if (s->windows.n > POL_MAX_SCHEDULE_WINDOWS)
			continue; /* check_limits said so; pairs would take long */
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

const struct ast_prefix *pol_lan_prefixes(const struct ast *ast, size_t *n)
{
	return lan_prefixes(ast, n);
}

/* ---- limits (ir.h's POL_MAX_*) ------------------------------------------ */

#define LIMIT_HINT "the most a policy may hold: docs/policy.md, Limits"

/* Adds n items of `what` at span; reports the first time the total passes
 * max, and only then. */
static void count(struct pol_unit *u, size_t *total, size_t n, size_t max, const char *what,
		  struct pol_span span)
{
	if (*total <= max && *total + n > max)
		pol_error(&u->diags, span, LIMIT_HINT, "too many %s: at most %zu", what, max);
	*total += n;
}

static void check_limits(struct pol_unit *u)
{
	struct ast *ast = &u->ast;
	size_t n;
#define COUNT_VEC(vec, type, max, what)                                                    \
	n = 0;                                                                             \
	for (size_t i = 0; i < ast->vec.n; i++)                                            \
		count(u, &n, 1, max, what, VEC_AT(ast->vec, type, i)->name.span);
	COUNT_VEC(rules, struct ast_rule, POL_MAX_RULES, "rules")
	if (ast->dns_enforce)
		count(u, &n, POL_DNS_ENFORCE_RULES, POL_MAX_RULES, "rules (dns enforce makes 4)",
		      ast->dns_enforce_span);
	COUNT_VEC(devices, struct ast_device, POL_MAX_DEVICES, "devices")
	COUNT_VEC(persons, struct ast_person, POL_MAX_PERSONS, "persons")
	COUNT_VEC(lists, struct ast_list, POL_MAX_LISTS, "lists")
	COUNT_VEC(schedules, struct ast_schedule, POL_MAX_SCHEDULES, "schedules")
#undef COUNT_VEC
	n = 0;
	for (size_t i = 0; i < ast->devices.n; i++) {
		const struct ast_device *dv = VEC_AT(ast->devices, struct ast_device, i);
		for (size_t k = 0; k < dv->macs.n; k++)
			count(u, &n, 1, POL_MAX_MACS, "MAC addresses",
			      VEC_AT(dv->macs, struct ast_mac, k)->span);
	}
	size_t windows = 0;
	for (size_t i = 0; i < ast->schedules.n; i++) {
		const struct ast_schedule *s = VEC_AT(ast->schedules, struct ast_schedule, i);
		n = 0;
		for (size_t k = 0; k < s->windows.n; k++) {
			struct pol_span sp = VEC_AT(s->windows, struct ast_window, k)->span;
			count(u, &n, 1, POL_MAX_SCHEDULE_WINDOWS, "windows in one schedule", sp);
			count(u, &windows, 1, POL_MAX_WINDOWS, "windows", sp);
		}
	}
	/* Domains and prefixes: every list's and every rule's own, and the LAN's. */
	size_t domains = 0, prefixes = ast->lan_set ? 0 : 5;
	if (ast->lan_set) {
		n = 0;
		count(u, &n, ast->lan.n, POL_MAX_LAN_PREFIXES, "LAN prefixes", ast->lan_span);
		count(u, &prefixes, ast->lan.n, POL_MAX_PREFIXES, "prefixes", ast->lan_span);
	}
	for (size_t i = 0; i < ast->lists.n; i++) {
		const struct ast_list *l = VEC_AT(ast->lists, struct ast_list, i);
		if (l->domains)
			count(u, &domains, l->items.n, POL_MAX_DOMAINS, "domains", l->name.span);
		else
			count(u, &prefixes, l->items.n, POL_MAX_PREFIXES, "prefixes", l->name.span);
	}
	n = 0;
	count(u, &n, ast->dns_private.n, POL_MAX_DNS_PRIVATE, "names in dns private",
	      ast->dns_private_span);
	count(u, &domains, ast->dns_private.n, POL_MAX_DOMAINS, "domains", ast->dns_private_span);
	if (ast->dns_enforce)
		count(u, &prefixes, pol_doh_naddrs, POL_MAX_PREFIXES, "prefixes (dns enforce's DoH list)",
		      ast->dns_enforce_span);
	size_t subjects = 0, dsts = 0, ports = 0;
	for (size_t i = 0; i < ast->rules.n; i++) {
		const struct ast_rule *r = VEC_AT(ast->rules, struct ast_rule, i);
		for (size_t k = 0; k < r->dsts.n; k++) {
			const struct ast_dst *d = VEC_AT(r->dsts, struct ast_dst, k);
			if (d->kind == AD_DOMAIN)
				count(u, &domains, 1, POL_MAX_DOMAINS, "domains", d->span);
			else if (d->kind == AD_PREFIX)
				count(u, &prefixes, 1, POL_MAX_PREFIXES, "prefixes", d->span);
		}
		count(u, &subjects, r->subjects.n, POL_MAX_RULE_ITEMS, "subjects in rules",
		      r->subject_span);
		count(u, &dsts, r->dsts.n, POL_MAX_RULE_ITEMS, "destinations in rules",
		      r->name.span);
		count(u, &ports, r->ports.n, POL_MAX_RULE_ITEMS, "port ranges in rules",
		      r->port_span);
	}
}

/* ---- the pass ---------------------------------------------------------- */

static void resolve_rules(struct pol_unit *u, const struct names *nt)
{
	struct ast *ast = &u->ast;

	for (size_t i = 0; i < ast->rules.n; i++) {
		struct ast_rule *r = VEC_AT(ast->rules, struct ast_rule, i);
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
	}
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
	/* `dns private` is one more domain set, the last (compile.c). */
	if (ast->dns_private.n && nd++ == POL_MAX_DOMAIN_SETS)
		pol_error(&u->diags, ast->dns_private_span,
			  "each domains list and each rule with domains of its own uses one; merge some lists",
			  "too many domain sets: at most %d (dns private uses one)", POL_MAX_DOMAIN_SETS);
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

	check_limits(u);
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
	check_device_addrs(u);
	check_schedules(u);
	number_sets(u);

	resolve_rules(u, nt);
	/* Warnings about a policy with errors would be noise (a duplicate
	 * definition would also show as unused). */
	if (u->diags.errors == 0 && !u->diags.oom) {
		warn_unused(u);
		pol_check_shadowed(u);
	}
}
