/* SPDX-License-Identifier: MIT */
/*
 * The canonical printer: a checked policy back to text, includes flattened,
 * every value in one normal form.  Parsing its output compiles to the same
 * image byte for byte (tests/unit/test_roundtrip.c holds it to that).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "names.h"
#include "unit.h"


static void print_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

static void print_prefix(FILE *out, const struct ast_prefix *p)
{
	char buf[INET6_ADDRSTRLEN];
	inet_ntop(p->family == 4 ? AF_INET : AF_INET6, p->addr, buf, sizeof(buf));
	fputs(buf, out);
	if (p->plen != (p->family == 4 ? 32 : 128))
		fprintf(out, "/%u", p->plen);
}

static void print_domain(FILE *out, const struct ast_domain *d)
{
	fprintf(out, "%s%s", d->wildcard ? "*." : "", d->name);
}

static void print_days(FILE *out, uint8_t mask)
{
	if (mask == 0x7f) {
		fputs("daily", out);
		return;
	}
	bool first = true;
	for (int i = 0; i < 7;) {
		if (!(mask >> i & 1)) {
			i++;
			continue;
		}
		int j = i;
		while (j + 1 < 7 && (mask >> (j + 1) & 1))
			j++;
		if (!first)
			fputc(',', out);
		first = false;
		if (j - i >= 2)
			fprintf(out, "%s-%s", pol_day_name(i), pol_day_name(j));
		else if (j == i + 1)
			fprintf(out, "%s,%s", pol_day_name(i), pol_day_name(j));
		else
			fputs(pol_day_name(i), out);
		i = j + 1;
	}
}

static void print_window(FILE *out, const struct ast_window *w)
{
	print_days(out, w->days);
	fprintf(out, " %02u:%02u-%02u:%02u", w->start / 60, w->start % 60, w->end / 60,
		w->end % 60);
}

static void print_rate(FILE *out, uint64_t bps)
{
	static const struct { const char *unit; uint64_t mult; } units[] = {
		{ "gbit", 1000000000 }, { "mbit", 1000000 }, { "kbit", 1000 }, { "bit", 1 },
	};
	for (size_t i = 0; i < 4; i++) {
		if (bps % units[i].mult == 0) {
			fprintf(out, "%" PRIu64 "%s", bps / units[i].mult, units[i].unit);
			return;
		}
	}
}

static void print_names(FILE *out, const struct pol_vec *v)
{
	for (size_t i = 0; i < v->n; i++)
		fprintf(out, "%s%s", i ? ", " : "", VEC_AT(*v, struct ast_name, i)->s);
}

static void print_rule(FILE *out, const struct ast_rule *r)
{
	fprintf(out, "rule %s %s ", r->name.s, pol_action_name(r->action));
	switch (r->subject_kind) {
	case POL_SUBJ_ANY: fputs("any", out); break;
	case POL_SUBJ_NEW: fputs("new", out); break;
	default:
		fputs(r->subject_kind == POL_SUBJ_DEVICE ? "device "
		      : r->subject_kind == POL_SUBJ_PERSON ? "person " : "group ", out);
		print_names(out, &r->subjects);
	}
	for (size_t i = 0; i < r->dsts.n; i++) {
		const struct ast_dst *d = VEC_AT(r->dsts, struct ast_dst, i);
		fputs(i ? ", " : " to ", out);
		switch (d->kind) {
		case AD_ANY: fputs("any", out); break;
		case AD_LAN: fputs("lan", out); break;
		case AD_INTERNET: fputs("internet", out); break;
		case AD_LIST: fprintf(out, "list %s", d->list.s); break;
		case AD_DOMAIN: print_domain(out, &d->domain); break;
		case AD_PREFIX: print_prefix(out, &d->prefix); break;
		}
	}
	if (r->protos) {
		static const char *const protos[] = { "tcp", "udp", "icmp" };
		bool first = true;
		fputs(" proto ", out);
		for (int i = 0; i < 3; i++)
			if (r->protos >> i & 1) {
				fprintf(out, "%s%s", first ? "" : ", ", protos[i]);
				first = false;
			}
	}
	for (size_t i = 0; i < r->ports.n; i++) {
		const struct ast_ports *p = VEC_AT(r->ports, struct ast_ports, i);
		fputs(i ? ", " : " port ", out);
		if (p->lo == p->hi)
			fprintf(out, "%u", p->lo);
		else
			fprintf(out, "%u-%u", p->lo, p->hi);
	}
	if (r->during.s)
		fprintf(out, " during %s", r->during.s);
	if (r->rate_bps) {
		fputs(" rate ", out);
		print_rate(out, r->rate_bps);
	}
	if (r->log)
		fputs(" log", out);
	fputc('\n', out);
}

static void print_stmt(FILE *out, const struct ast *ast, const struct ast_stmt *st)
{
	switch (st->kind) {
	case AS_ZONE:
		fprintf(out, "zone %s\n", ast->zone.s);
		break;
	case AS_DNS_ENFORCE:
		fputs("dns enforce\n", out);
		break;
	case AS_DNS_PRIVATE:
		fputs("dns private ", out);
		for (size_t i = 0; i < ast->dns_private.n; i++)
			fprintf(out, "%s%s", i ? ", " : "",
				VEC_AT(ast->dns_private, struct ast_domain, i)->name);
		fputc('\n', out);
		break;
	case AS_TIMEZONE:
		fputs("timezone ", out);
		print_string(out, ast->timezone.s);
		fputc('\n', out);
		break;
	case AS_LAN:
		fputs("lan ", out);
		for (size_t i = 0; i < ast->lan.n; i++) {
			if (i)
				fputs(", ", out);
			print_prefix(out, VEC_AT(ast->lan, struct ast_prefix, i));
		}
		fputc('\n', out);
		break;
	case AS_PERSON:
		fprintf(out, "person %s\n", VEC_AT(ast->persons, struct ast_person, st->index)->name.s);
		break;
	case AS_GROUP:
		fprintf(out, "group %s\n", VEC_AT(ast->groups, struct ast_group, st->index)->name.s);
		break;
	case AS_DEVICE: {
		const struct ast_device *d = VEC_AT(ast->devices, struct ast_device, st->index);
		fprintf(out, "device %s mac ", d->name.s);
		for (size_t i = 0; i < d->macs.n; i++) {
			char text[POL_MAC_TEXT];
			fprintf(out, "%s%s", i ? ", " : "",
				pol_mac_format(VEC_AT(d->macs, struct ast_mac, i)->mac, text));
		}
		if (d->has_addr4) {
			char text[INET_ADDRSTRLEN];
			inet_ntop(AF_INET, d->addr4, text, sizeof(text));
			fprintf(out, " address %s", text);
		}
		if (d->owner.s)
			fprintf(out, " owner %s", d->owner.s);
		if (d->groups.n) {
			fputs(" group ", out);
			print_names(out, &d->groups);
		}
		fputc('\n', out);
		break;
	}
	case AS_LIST: {
		const struct ast_list *l = VEC_AT(ast->lists, struct ast_list, st->index);
		fprintf(out, "list %s %s ", l->name.s, l->domains ? "domains" : "prefixes");
		if (l->file) {
			fputs("file ", out);
			print_string(out, l->file);
			fputc('\n', out);
			break;
		}
		fputs("{\n", out);
		for (size_t i = 0; i < l->items.n; i++) {
			fputc('\t', out);
			if (l->domains)
				print_domain(out, VEC_AT(l->items, struct ast_domain, i));
			else
				print_prefix(out, VEC_AT(l->items, struct ast_prefix, i));
			fputc('\n', out);
		}
		fputs("}\n", out);
		break;
	}
	case AS_SCHEDULE: {
		const struct ast_schedule *s = VEC_AT(ast->schedules, struct ast_schedule, st->index);
		fprintf(out, "schedule %s ", s->name.s);
		if (s->windows.n == 1) {
			print_window(out, VEC_AT(s->windows, struct ast_window, 0));
			fputc('\n', out);
			break;
		}
		fputs("{\n", out);
		for (size_t i = 0; i < s->windows.n; i++) {
			fputc('\t', out);
			print_window(out, VEC_AT(s->windows, struct ast_window, i));
			fputc('\n', out);
		}
		fputs("}\n", out);
		break;
	}
	case AS_RULE:
		print_rule(out, VEC_AT(ast->rules, struct ast_rule, st->index));
		break;
	case AS_DEFAULT:
		fprintf(out, "default %s\n", pol_action_name(ast->default_action));
		break;
	case AS_DEFAULT_NEW:
		fprintf(out, "default new %s\n", pol_action_name(ast->default_new));
		break;
	}
}

int pol_unit_print(const struct pol_unit *u, FILE *out)
{
	if (u->diags.errors || !u->image)
		return -EINVAL;
	const struct ast *ast = &u->ast;
	for (size_t i = 0; i < ast->stmts.n; i++) {
		const struct ast_stmt *st = VEC_AT(ast->stmts, struct ast_stmt, i);
		/* A blank line between runs of different statements. */
		if (i) {
			const struct ast_stmt *prev = VEC_AT(ast->stmts, struct ast_stmt, i - 1);
			bool setting = st->kind <= AS_DNS_PRIVATE && prev->kind <= AS_DNS_PRIVATE;
			bool defaults = st->kind >= AS_DEFAULT && prev->kind >= AS_DEFAULT;
			if (st->kind != prev->kind && !setting && !defaults)
				fputc('\n', out);
		}
		print_stmt(out, ast, st);
	}
	return ferror(out) ? -EIO : 0;
}
