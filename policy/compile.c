/* SPDX-License-Identifier: MIT */
/*
 * The last pass: a checked AST into the image of ir.h, and the unit's public
 * entry points.  The image depends only on the policy's meaning in source
 * order (lists are sorted and merged here), so printing and parsing again
 * gives the same bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "doh.h"
#include "image.h"
#include "unit.h"

struct buf {
	uint8_t *p;
	size_t n, cap;
	bool oom;
};

static void *buf_push(struct buf *b, size_t size)
{
	if (b->n + size > b->cap) {
		size_t ncap = b->cap ? b->cap : 256;
		while (ncap < b->n + size)
			ncap *= 2;
		uint8_t *np = realloc(b->p, ncap);
		if (!np) {
			b->oom = true;
			return NULL;
		}
		b->p = np;
		b->cap = ncap;
	}
	void *slot = b->p + b->n;
	memset(slot, 0, size);
	b->n += size;
	return slot;
}

struct emit {
	struct pol_unit *u;
	struct buf sec[POL_SEC_COUNT];
	uint32_t doh_set; /* prefix set "dns:doh" of `dns enforce` */
};

#define COUNT(e, s) ((uint32_t)((e)->sec[s].n / pol_section_entsize[s]))
#define PUSH(e, s, type) ((type *)buf_push(&(e)->sec[s], sizeof(type)))

static uint32_t str_add(struct emit *e, const char *s)
{
	size_t len = strlen(s);
	uint32_t off = (uint32_t)e->sec[POL_SEC_STRINGS].n;
	char *p = buf_push(&e->sec[POL_SEC_STRINGS], len + 1);
	if (!p)
		return 0;
	memcpy(p, s, len + 1);
	return off;
}

/* Sorting a million names is most of a big compile, and names in block
 * lists share long prefixes ("analytics...", "telemetry..."), so they are
 * sorted by MSD radix: time linear in the bytes looked at, not n log n
 * string compares.  The order is strcmp's (bytes as unsigned), then plain
 * names before wildcards of the same name. */
static int cmp_domain_at(const struct ast_domain *x, const struct ast_domain *y, size_t depth)
{
	int c = strcmp(x->name + depth, y->name + depth);
	return c ? c : (int)x->wildcard - (int)y->wildcard;
}

static void radix_sort(const struct ast_domain **a, size_t n, size_t depth,
		       const struct ast_domain **tmp)
{
	if (n < 32) {
		for (size_t i = 1; i < n; i++) {
			const struct ast_domain *v = a[i];
			size_t j = i;
			for (; j > 0 && cmp_domain_at(a[j - 1], v, depth) > 0; j--)
				a[j] = a[j - 1];
			a[j] = v;
		}
		return;
	}
	/* Bucket 0: names that end here (all equal); 1 + byte otherwise. */
	uint32_t count[257] = { 0 }, pos[257];
	for (size_t i = 0; i < n; i++)
		count[depth < a[i]->len ? (uint8_t)a[i]->name[depth] + 1 : 0]++;
	uint32_t sum = 0;
	for (int b = 0; b < 257; b++) {
		pos[b] = sum;
		sum += count[b];
	}
	for (size_t i = 0; i < n; i++)
		tmp[pos[depth < a[i]->len ? (uint8_t)a[i]->name[depth] + 1 : 0]++] = a[i];
	memcpy(a, tmp, n * sizeof(*a));
	/* Equal names: plain ones first, then wildcards. */
	size_t k = 0;
	for (size_t i = 0; i < count[0]; i++)
		if (!a[i]->wildcard)
			tmp[k++] = a[i];
	for (size_t i = 0; i < count[0]; i++)
		if (a[i]->wildcard)
			tmp[k++] = a[i];
	memcpy(a, tmp, count[0] * sizeof(*a));
	size_t at = count[0];
	for (int b = 1; b < 257; b++) {
		if (count[b] > 1)
			radix_sort(a + at, count[b], depth + 1, tmp);
		at += count[b];
	}
}

/* One domain set from n domains: sorted, duplicates merged. */
static void emit_domain_set(struct emit *e, const char *name, const struct ast_domain **doms,
			    size_t n)
{
	const struct ast_domain **tmp = malloc((n + 1) * sizeof(*tmp));
	struct pol_set *set = PUSH(e, POL_SEC_DOMAIN_SETS, struct pol_set);
	if (!tmp || !set) {
		free(tmp);
		e->sec[POL_SEC_DOMAINS].oom = true;
		return;
	}
	radix_sort(doms, n, 0, tmp);
	free(tmp);
	uint32_t first = COUNT(e, POL_SEC_DOMAINS), count = 0;
	uint32_t nameoff = str_add(e, name);
	for (size_t i = 0; i < n; i++) {
		if (i && cmp_domain_at(doms[i - 1], doms[i], 0) == 0)
			continue;
		struct pol_domain *d = PUSH(e, POL_SEC_DOMAINS, struct pol_domain);
		if (!d)
			break;
		d->name = str_add(e, doms[i]->name);
		d->flags = doms[i]->wildcard ? POL_DOMAIN_WILDCARD : 0;
		count++;
	}
	/* The set may have moved when the table grew. */
	set = (struct pol_set *)e->sec[POL_SEC_DOMAIN_SETS].p + COUNT(e, POL_SEC_DOMAIN_SETS) - 1;
	*set = (struct pol_set){ nameoff, first, count, 0 };
}

static void emit_prefix_set(struct emit *e, const char *name, const struct ast_prefix *const *px,
			    size_t n)
{
	uint32_t first = COUNT(e, POL_SEC_PREFIXES);
	for (size_t i = 0; i < n; i++) {
		struct pol_prefix *p = PUSH(e, POL_SEC_PREFIXES, struct pol_prefix);
		if (!p)
			return;
		memcpy(p->addr, px[i]->addr, 16);
		p->plen = px[i]->plen;
		p->family = px[i]->family;
	}
	struct pol_set *set = PUSH(e, POL_SEC_PREFIX_SETS, struct pol_set);
	if (set)
		*set = (struct pol_set){ str_add(e, name), first, (uint32_t)n, 0 };
}


/* The addresses of policy/doh.txt, after every set of the policy's own so
 * that sema's set indices stay. */
static void emit_doh_set(struct emit *e)
{
	struct ast_prefix *px = malloc((pol_doh_naddrs + 1) * sizeof(*px));
	const struct ast_prefix **pp = malloc((pol_doh_naddrs + 1) * sizeof(*pp));
	if (!px || !pp) {
		e->sec[POL_SEC_PREFIXES].oom = true;
		goto out;
	}
	for (size_t i = 0; i < pol_doh_naddrs; i++) {
		px[i] = (struct ast_prefix){ .family = pol_doh_addrs[i].family,
					     .plen = pol_doh_addrs[i].family == 4 ? 32 : 128 };
		memcpy(px[i].addr, pol_doh_addrs[i].addr, 16);
		pp[i] = &px[i];
	}
	e->doh_set = COUNT(e, POL_SEC_PREFIX_SETS);
	emit_prefix_set(e, "dns:doh", pp, pol_doh_naddrs);
out:
	free(px);
	free(pp);
}

static void emit_sets(struct emit *e)
{
	struct ast *ast = &e->u->ast;
	size_t nlan;
	const struct ast_prefix *lan = pol_lan_prefixes(ast, &nlan);
	const struct ast_prefix **lp = malloc((nlan + 1) * sizeof(*lp));
	if (!lp) {
		e->sec[0].oom = true;
		return;
	}
	for (size_t i = 0; i < nlan; i++)
		lp[i] = &lan[i];
	emit_prefix_set(e, "lan", lp, nlan);
	free(lp);

	for (size_t s = 0; s < ast->stmts.n; s++) {
		const struct ast_stmt *st = VEC_AT(ast->stmts, struct ast_stmt, s);
		const void **items = NULL;
		if (st->kind == AS_LIST) {
			struct ast_list *l = VEC_AT(ast->lists, struct ast_list, st->index);
			size_t isz = l->domains ? sizeof(struct ast_domain) : sizeof(struct ast_prefix);
			items = malloc((l->items.n + 1) * sizeof(*items));
			if (!items)
				break;
			for (size_t i = 0; i < l->items.n; i++)
				items[i] = (const uint8_t *)l->items.items + i * isz;
			if (l->domains)
				emit_domain_set(e, l->name.s, (const struct ast_domain **)items, l->items.n);
			else
				emit_prefix_set(e, l->name.s, (const struct ast_prefix *const *)items,
						l->items.n);
		} else if (st->kind == AS_RULE) {
			struct ast_rule *r = VEC_AT(ast->rules, struct ast_rule, st->index);
			if (r->domain_set == POL_NONE && r->prefix_set == POL_NONE)
				continue;
			items = malloc((r->dsts.n + 1) * sizeof(*items));
			if (!items)
				break;
			char *name = pol_arena_printf(e->u->arena, "rule:%s", r->name.s);
			size_t n = 0;
			for (size_t i = 0; i < r->dsts.n; i++) {
				struct ast_dst *d = VEC_AT(r->dsts, struct ast_dst, i);
				if (d->kind == AD_DOMAIN)
					items[n++] = &d->domain;
			}
			if (n)
				emit_domain_set(e, name, (const struct ast_domain **)items, n);
			n = 0;
			for (size_t i = 0; i < r->dsts.n; i++) {
				struct ast_dst *d = VEC_AT(r->dsts, struct ast_dst, i);
				if (d->kind == AD_PREFIX)
					items[n++] = &d->prefix;
			}
			if (n)
				emit_prefix_set(e, name, (const struct ast_prefix *const *)items, n);
		}
		free(items);
	}
	if (ast->dns_enforce)
		emit_doh_set(e);
	if (ast->dns_private.n) {
		/* The last domain set, flagged: sema counted it after the others. */
		const struct ast_domain **doms = malloc(ast->dns_private.n * sizeof(*doms));
		if (!doms) {
			e->sec[POL_SEC_DOMAINS].oom = true;
			return;
		}
		for (size_t i = 0; i < ast->dns_private.n; i++)
			doms[i] = VEC_AT(ast->dns_private, struct ast_domain, i);
		emit_domain_set(e, "dns:private", doms, ast->dns_private.n);
		free(doms);
		struct buf *b = &e->sec[POL_SEC_DOMAIN_SETS];
		if (!b->oom)
			((struct pol_set *)b->p)[COUNT(e, POL_SEC_DOMAIN_SETS) - 1].flags =
				POL_SET_DNS_PRIVATE;
	}
}

static int cmp_mac(const void *a, const void *b)
{
	return memcmp(((const struct pol_mac *)a)->mac, ((const struct pol_mac *)b)->mac, 6);
}

static void emit_identity(struct emit *e)
{
	struct ast *ast = &e->u->ast;
	for (size_t i = 0; i < ast->persons.n; i++) {
		struct pol_person *p = PUSH(e, POL_SEC_PERSONS, struct pol_person);
		if (p)
			p->name = str_add(e, VEC_AT(ast->persons, struct ast_person, i)->name.s);
	}
	for (size_t i = 0; i < ast->groups.n; i++) {
		struct pol_group *g = PUSH(e, POL_SEC_GROUPS, struct pol_group);
		if (g)
			g->name = str_add(e, VEC_AT(ast->groups, struct ast_group, i)->name.s);
	}
	for (size_t i = 0; i < ast->devices.n; i++) {
		const struct ast_device *dv = VEC_AT(ast->devices, struct ast_device, i);
		struct pol_device *d = PUSH(e, POL_SEC_DEVICES, struct pol_device);
		if (!d)
			return;
		d->name = str_add(e, dv->name.s);
		d->owner = dv->owner_idx;
		d->groups = dv->group_mask;
		if (dv->has_addr4) {
			memcpy(d->addr4, dv->addr4, 4);
			d->flags |= POL_DEVICE_ADDR4;
		}
		for (size_t k = 0; k < dv->macs.n; k++) {
			struct pol_mac *m = PUSH(e, POL_SEC_MACS, struct pol_mac);
			if (!m)
				return;
			memcpy(m->mac, VEC_AT(dv->macs, struct ast_mac, k)->mac, 6);
			m->device = (uint32_t)i;
		}
	}
	struct buf *macs = &e->sec[POL_SEC_MACS];
	if (macs->n)
		qsort(macs->p, macs->n / sizeof(struct pol_mac), sizeof(struct pol_mac), cmp_mac);
	for (size_t i = 0; i < ast->schedules.n; i++) {
		const struct ast_schedule *s = VEC_AT(ast->schedules, struct ast_schedule, i);
		uint32_t first = COUNT(e, POL_SEC_WINDOWS);
		for (size_t k = 0; k < s->windows.n; k++) {
			const struct ast_window *w = VEC_AT(s->windows, struct ast_window, k);
			struct pol_window *pw = PUSH(e, POL_SEC_WINDOWS, struct pol_window);
			if (!pw)
				return;
			pw->days = w->days;
			pw->start_min = w->start;
			pw->end_min = w->end;
		}
		struct pol_set *set = PUSH(e, POL_SEC_SCHEDULES, struct pol_set);
		if (set)
			*set = (struct pol_set){ str_add(e, s->name.s), first,
						 (uint32_t)s->windows.n, 0 };
	}
}

/*
 * `dns enforce` (docs/dns.md, "Bypass defence"): rules before the
 * policy's own, for declared and new devices alike, so that no rule and no
 * default lets a device around the household's DNS:
 *   dns:enforce      block tcp, udp port 53, 853 to any (DNS, DoT, DoQ)
 *   dns:doh          block tcp, udp port 443 to the DoH list (DoH, DoH3)
 * and the same two for new devices (dns:enforce-new, dns:doh-new).  Every
 * engine enforces them as rules.  What a device asks gw itself never meets
 * a rule (docs/policy.md, "What a rule is about").
 */
static void emit_enforce_rule(struct emit *e, const char *name, uint8_t subject,
			      const uint16_t *ports, size_t nports, uint32_t prefix_set)
{
	struct pol_rule pr = {
		.name = str_add(e, name),
		.action = POL_BLOCK,
		.subject_kind = subject,
		.protos = POL_PROTO_TCP | POL_PROTO_UDP,
		.subj_first = COUNT(e, POL_SEC_SUBJECTS),
		.dst_first = COUNT(e, POL_SEC_DSTS),
		.port_first = COUNT(e, POL_SEC_PORTS),
		.port_count = (uint32_t)nports,
		.schedule = POL_NONE,
	};
	if (prefix_set != POL_NONE) {
		struct pol_dst *d = PUSH(e, POL_SEC_DSTS, struct pol_dst);
		if (d)
			*d = (struct pol_dst){ .kind = POL_DST_PREFIXES, .index = prefix_set };
		pr.dst_count = 1;
	}
	for (size_t k = 0; k < nports; k++) {
		struct pol_port_range *slot = PUSH(e, POL_SEC_PORTS, struct pol_port_range);
		if (slot)
			*slot = (struct pol_port_range){ ports[k], ports[k] };
	}
	struct pol_rule *slot = PUSH(e, POL_SEC_RULES, struct pol_rule);
	if (slot)
		*slot = pr;
}

static void emit_enforce_rules(struct emit *e)
{
	static const uint16_t dns_ports[] = { 53, 853 }, doh_ports[] = { 443 };
	emit_enforce_rule(e, "dns:enforce", POL_SUBJ_ANY, dns_ports, 2, POL_NONE);
	emit_enforce_rule(e, "dns:doh", POL_SUBJ_ANY, doh_ports, 1, e->doh_set);
	emit_enforce_rule(e, "dns:enforce-new", POL_SUBJ_NEW, dns_ports, 2, POL_NONE);
	emit_enforce_rule(e, "dns:doh-new", POL_SUBJ_NEW, doh_ports, 1, e->doh_set);
}

static void emit_rules(struct emit *e)
{
	struct ast *ast = &e->u->ast;
	if (ast->dns_enforce)
		emit_enforce_rules(e);
	for (size_t i = 0; i < ast->rules.n; i++) {
		const struct ast_rule *r = VEC_AT(ast->rules, struct ast_rule, i);
		struct pol_rule pr = {
			.name = str_add(e, r->name.s),
			.action = r->action,
			.subject_kind = r->subject_kind,
			.protos = r->protos ? r->protos
				: r->ports.n ? (uint8_t)(POL_PROTO_TCP | POL_PROTO_UDP) : 0,
			.flags = (uint8_t)((r->log ? POL_RULE_LOG : 0) |
					   (r->rate_bps ? POL_RULE_RATE : 0) |
					   (r->during.s ? POL_RULE_DURING : 0)),
			.subj_first = COUNT(e, POL_SEC_SUBJECTS),
			.subj_count = (uint32_t)r->subjects.n,
			.dst_first = COUNT(e, POL_SEC_DSTS),
			.port_first = COUNT(e, POL_SEC_PORTS),
			.port_count = (uint32_t)r->ports.n,
			.schedule = r->during.s ? r->sched_idx : POL_NONE,
			.rate_bps = r->rate_bps,
		};
		for (size_t k = 0; k < r->subjects.n; k++) {
			struct pol_subject *s = PUSH(e, POL_SEC_SUBJECTS, struct pol_subject);
			if (s)
				s->index = r->subj_idx[k];
		}
		bool domains_done = false, prefixes_done = false;
		for (size_t k = 0; k < r->dsts.n; k++) {
			const struct ast_dst *d = VEC_AT(r->dsts, struct ast_dst, k);
			struct pol_dst pd = { 0 };
			switch (d->kind) {
			case AD_ANY: pd.kind = POL_DST_ANY; break;
			case AD_LAN: pd.kind = POL_DST_LAN; break;
			case AD_INTERNET: pd.kind = POL_DST_INTERNET; break;
			case AD_LIST: {
				/* Lists were resolved by name in sema. */
				const struct ast_list *l = NULL;
				for (size_t li = 0; li < ast->lists.n && !l; li++) {
					const struct ast_list *c = VEC_AT(ast->lists, struct ast_list, li);
					if (!strcmp(c->name.s, d->list.s))
						l = c;
				}
				if (!l)
					continue;
				pd.kind = l->domains ? POL_DST_DOMAINS : POL_DST_PREFIXES;
				pd.index = l->set;
				break;
			}
			case AD_DOMAIN:
				if (domains_done)
					continue;
				domains_done = true;
				pd.kind = POL_DST_DOMAINS;
				pd.index = r->domain_set;
				break;
			case AD_PREFIX:
				if (prefixes_done)
					continue;
				prefixes_done = true;
				pd.kind = POL_DST_PREFIXES;
				pd.index = r->prefix_set;
				break;
			}
			struct pol_dst *slot = PUSH(e, POL_SEC_DSTS, struct pol_dst);
			if (slot)
				*slot = pd;
		}
		pr.dst_count = COUNT(e, POL_SEC_DSTS) - pr.dst_first;
		for (size_t k = 0; k < r->ports.n; k++) {
			const struct ast_ports *p = VEC_AT(r->ports, struct ast_ports, k);
			struct pol_port_range *slot = PUSH(e, POL_SEC_PORTS, struct pol_port_range);
			if (slot)
				*slot = (struct pol_port_range){ p->lo, p->hi };
		}
		struct pol_rule *slot = PUSH(e, POL_SEC_RULES, struct pol_rule);
		if (slot)
			*slot = pr;
	}
}

static int assemble(struct emit *e)
{
	struct pol_image_header h = { .magic = POL_IMAGE_MAGIC, .version = POL_IMAGE_VERSION,
				      .nsections = POL_SEC_COUNT };
	size_t off = sizeof(h);
	for (int s = 0; s < POL_SEC_COUNT; s++) {
		off = (off + 7) & ~(size_t)7;
		h.sections[s].offset = (uint32_t)off;
		h.sections[s].count = (uint32_t)(e->sec[s].n / pol_section_entsize[s]);
		h.sections[s].entsize = pol_section_entsize[s];
		off += e->sec[s].n;
	}
	off = (off + 7) & ~(size_t)7;
	if (off > UINT32_MAX)
		return -E2BIG;
	uint8_t *img = calloc(1, off);
	if (!img)
		return -ENOMEM;
	h.size = (uint32_t)off;
	for (int s = 0; s < POL_SEC_COUNT; s++) {
		if (!e->sec[s].n)
			continue;
		uint8_t *at = img + h.sections[s].offset;
		memcpy(at, e->sec[s].p, e->sec[s].n);
		pol_section_swap((enum pol_section_id)s, at, h.sections[s].count, 0);
	}
	/* The checksum is taken with its own field zero, then stored. */
	struct pol_image_header le = h;
	pol_header_swap(&le, 0);
	memcpy(img, &le, sizeof(le));
	h.checksum = pol_crc32(img, off, 0);
	le = h;
	pol_header_swap(&le, 0);
	memcpy(img, &le, sizeof(le));
	e->u->image = img;
	e->u->image_size = off;
	return 0;
}

int pol_emit(struct pol_unit *u)
{
	struct emit e = { .u = u };
	int r = 0;
	str_add(&e, "");
	struct ast *ast = &u->ast;
	struct pol_meta *m = PUSH(&e, POL_SEC_META, struct pol_meta);
	if (m) {
		uint32_t zone = str_add(&e, ast->zone.s ? ast->zone.s : POL_DEFAULT_ZONE);
		uint32_t tz = str_add(&e, ast->timezone.s ? ast->timezone.s : POL_DEFAULT_TZ);
		m = (struct pol_meta *)e.sec[POL_SEC_META].p;
		m->zone = zone;
		m->timezone = tz;
		m->default_action = (uint8_t)ast->default_action;
		m->default_new = (uint8_t)(ast->default_new >= 0 ? ast->default_new
								 : ast->default_action);
		m->lan_set = 0;
		m->dns = ast->dns_enforce ? POL_META_DNS_ENFORCE : 0;
	}
	emit_identity(&e);
	emit_sets(&e);
	emit_rules(&e);
	for (int s = 0; s < POL_SEC_COUNT; s++)
		if (e.sec[s].oom)
			r = -ENOMEM;
	if (r == 0)
		r = assemble(&e);
	for (int s = 0; s < POL_SEC_COUNT; s++)
		free(e.sec[s].p);
	return r;
}

/* ---- the unit ------------------------------------------------------------ */

int pol_compile(const char *path, const char *text, size_t len, unsigned flags,
		struct pol_unit **ret)
{
	struct pol_unit *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->arena = pol_arena_new();
	if (!u->arena) {
		free(u);
		return -ENOMEM;
	}
	u->flags = flags;
	u->diags.arena = u->arena;
	u->ast.default_action = -1;
	u->ast.default_new = -1;
	pol_parse(u, path, text, len);
	/* Meaning is checked only on a well-formed policy: names in a
	 * statement that failed to parse would show as false "unknown" errors. */
	if (u->diags.errors == 0 && !u->diags.oom)
		pol_sema(u);
	if (u->diags.errors == 0 && !u->diags.oom) {
		int r = pol_emit(u);
		if (r == -ENOMEM)
			u->diags.oom = true;
		else if (r < 0)
			pol_error(&u->diags, (struct pol_span){ 0 }, NULL,
				  "the compiled policy is too large for an image");
	}
	if (u->diags.oom) {
		pol_unit_free(u);
		return -ENOMEM;
	}
	*ret = u;
	return 0;
}

void pol_unit_free(struct pol_unit *u)
{
	if (!u)
		return;
	free(u->image);
	pol_arena_free(u->arena);
	free(u);
}

unsigned pol_unit_errors(const struct pol_unit *u)
{
	return u->diags.errors;
}

unsigned pol_unit_warnings(const struct pol_unit *u)
{
	return u->diags.warnings;
}

size_t pol_unit_ndiags(const struct pol_unit *u)
{
	return u->diags.list.n;
}

const struct pol_diag *pol_unit_diag(const struct pol_unit *u, size_t i)
{
	return i < u->diags.list.n ? VEC_AT(u->diags.list, struct pol_diag, i) : NULL;
}

void pol_unit_render_diags(const struct pol_unit *u, FILE *out)
{
	pol_diags_render(&u->diags, out);
}

int pol_unit_image(const struct pol_unit *u, const void **ret_data, size_t *ret_size)
{
	if (u->diags.errors || !u->image)
		return -EINVAL;
	*ret_data = u->image;
	*ret_size = u->image_size;
	return 0;
}

int pol_unit_device_loc(const struct pol_unit *u, uint32_t device, struct pol_loc *ret)
{
	if (device >= u->ast.devices.n)
		return -ENOENT;
	const struct ast_device *d = VEC_AT(u->ast.devices, struct ast_device, device);
	const struct pol_source *s = pol_diags_source(&u->diags, d->name.span.file);
	*ret = (struct pol_loc){ s ? s->name : NULL, d->name.span.line, d->name.span.col,
				 d->name.span.len };
	return 0;
}

const char *pol_unit_file(const struct pol_unit *u, size_t i)
{
	const struct pol_source *s = i < u->diags.sources.n ? pol_diags_source(&u->diags, (uint32_t)i)
							    : NULL;
	return s ? s->name : NULL;
}

int pol_unit_rule_loc(const struct pol_unit *u, uint32_t rule, struct pol_loc *ret)
{
	/* The rules of `dns enforce` come first and stand where it stands. */
	uint32_t implicit = u->ast.dns_enforce ? POL_DNS_ENFORCE_RULES : 0;
	struct pol_span sp;
	if (rule < implicit) {
		sp = u->ast.dns_enforce_span;
	} else {
		if (rule - implicit >= u->ast.rules.n)
			return -ENOENT;
		sp = VEC_AT(u->ast.rules, struct ast_rule, rule - implicit)->name.span;
	}
	const struct pol_source *s = pol_diags_source(&u->diags, sp.file);
	*ret = (struct pol_loc){ s ? s->name : NULL, sp.line, sp.col, sp.len };
	return 0;
}
