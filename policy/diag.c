/* SPDX-License-Identifier: MIT */
/* Collecting and rendering located diagnostics (see diag.h). */
#include <stdarg.h>
#include <string.h>

#include "diag.h"

uint32_t pol_diags_add_source(struct pol_diags *d, const char *name,
			      const char *dir_rel, const char *text, size_t len)
{
	struct pol_source *s = pol_vec_push(d->arena, &d->sources, sizeof(*s));
	if (!s) {
		d->oom = true;
		return 0;
	}
	s->name = name;
	s->dir_rel = dir_rel;
	s->text = text;
	s->len = len;
	return (uint32_t)(d->sources.n - 1);
}

const struct pol_source *pol_diags_source(const struct pol_diags *d, uint32_t file)
{
	return file < d->sources.n ? VEC_AT(d->sources, struct pol_source, file) : NULL;
}

static struct pol_loc loc_of(const struct pol_diags *d, struct pol_span at)
{
	const struct pol_source *s = pol_diags_source(d, at.file);
	return (struct pol_loc){ s ? s->name : NULL, at.line, at.col, at.len };
}

static struct pol_diag *add(struct pol_diags *d, enum pol_severity sev,
			    struct pol_span at, const char *hint,
			    const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));
static struct pol_diag *add(struct pol_diags *d, enum pol_severity sev,
			    struct pol_span at, const char *hint,
			    const char *fmt, va_list ap)
{
	if (sev == POL_SEV_ERROR) {
		if (d->errors >= POL_MAX_ERRORS) {
			d->errors++;
			d->capped = true;
			return NULL;
		}
		d->errors++;
	} else {
		d->warnings++;
	}
	struct pol_diag *g = pol_vec_push(d->arena, &d->list, sizeof(*g));
	char buf[512];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	char *msg = g ? pol_arena_strndup(d->arena, buf, strlen(buf)) : NULL;
	if (!msg) {
		d->oom = true;
		return NULL;
	}
	g->severity = sev;
	g->loc = loc_of(d, at);
	g->span_file = at.file;
	g->message = msg;
	g->hint = hint;
	return g;
}

struct pol_diag *pol_error(struct pol_diags *d, struct pol_span at, const char *hint,
			   const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	struct pol_diag *g = add(d, POL_SEV_ERROR, at, hint, fmt, ap);
	va_end(ap);
	return g;
}

struct pol_diag *pol_warning(struct pol_diags *d, struct pol_span at, const char *hint,
			     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	struct pol_diag *g = add(d, POL_SEV_WARNING, at, hint, fmt, ap);
	va_end(ap);
	return g;
}

void pol_diag_note(struct pol_diags *d, struct pol_diag *diag, struct pol_span at,
		   const char *msg)
{
	if (!diag)
		return;
	diag->note = loc_of(d, at);
	diag->note_file = at.file;
	diag->note_msg = msg;
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return 99;
	size_t row[65];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			size_t best = diag + cost;
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

const char *pol_did_you_mean(const char *word, const char *const *cands, size_t n)
{
	size_t len = strlen(word);
	size_t limit = len <= 3 ? 1 : len <= 6 ? 2 : 3;
	const char *best = NULL;
	size_t bestd = limit + 1;
	for (size_t i = 0; i < n; i++) {
		size_t dist = edit_distance(word, cands[i]);
		if (dist < bestd && dist > 0) {
			bestd = dist;
			best = cands[i];
		}
	}
	return best;
}

const char *pol_hint_did_you_mean(struct pol_diags *d, const char *best)
{
	return best ? pol_arena_printf(d->arena, "did you mean '%s'?", best) : NULL;
}

/* The source line `line` of file, without its newline. */
static const char *line_of(const struct pol_source *s, uint32_t line, size_t *ret_len)
{
	const char *p = s->text, *end = s->text + s->len;
	for (uint32_t l = 1; l < line && p < end; l++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			return NULL;
		p = nl + 1;
	}
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	*ret_len = (size_t)((nl ? nl : end) - p);
	return p;
}

static void render_excerpt(const struct pol_diags *d, FILE *out, uint32_t file,
			   const struct pol_loc *loc)
{
	const struct pol_source *s = pol_diags_source(d, file);
	size_t n;
	const char *l = s && loc->line ? line_of(s, loc->line, &n) : NULL;
	if (!l)
		return;
	fputs("    ", out);
	/* Tabs become one space so the caret lines up. */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)l[i];
		fputc(c == '\t' ? ' ' : c < 0x20 || c == 0x7f ? '?' : c, out);
	}
	fputs("\n    ", out);
	/* One space per character, not per byte: skip UTF-8 continuations. */
	for (uint32_t i = 1; i < loc->col && i - 1 < n; i++)
		if (((unsigned char)l[i - 1] & 0xc0) != 0x80)
			fputc(' ', out);
	fputc('^', out);
	uint32_t len = loc->len;
	if (loc->col - 1 + (size_t)len > n)
		len = n >= loc->col ? (uint32_t)(n - loc->col + 1) : 1;
	for (uint32_t i = 1; i < len; i++)
		fputc('~', out);
	fputc('\n', out);
}

static void render_loc(FILE *out, const struct pol_loc *loc)
{
	if (loc->line)
		fprintf(out, "%s:%u:%u: ", loc->file, loc->line, loc->col);
	else
		fprintf(out, "%s: ", loc->file);
}

void pol_diags_render(const struct pol_diags *d, FILE *out)
{
	for (size_t i = 0; i < d->list.n; i++) {
		const struct pol_diag *g = VEC_AT(d->list, struct pol_diag, i);
		render_loc(out, &g->loc);
		fprintf(out, "%s: %s\n",
			g->severity == POL_SEV_ERROR ? "error" : "warning", g->message);
		render_excerpt(d, out, g->span_file, &g->loc);
		if (g->hint)
			fprintf(out, "hint: %s\n", g->hint);
		if (g->note_msg) {
			render_loc(out, &g->note);
			fprintf(out, "note: %s\n", g->note_msg);
			render_excerpt(d, out, g->note_file, &g->note);
		}
	}
	if (d->capped)
		fprintf(out, "too many errors (%u); stopped after %d\n", d->errors,
			POL_MAX_ERRORS);
}
