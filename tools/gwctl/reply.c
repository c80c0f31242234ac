/* SPDX-License-Identifier: MIT */
/*
 * gwctl's side of gwd's replies: one call (libgwclient) with its failure
 * on stderr, an error reply printed with its diagnostics (the source line
 * and a caret when the file is readable here, as `policy check` shows
 * them), a reply as JSON for --json.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "gwctl.h"

json_t *gwctl_call(const char *sock, json_t *req)
{
	char err[512];
	json_t *reply = NULL;
	if (gwc_call(sock, req, &reply, err, sizeof(err)) < 0) {
		fprintf(stderr, "gwctl: %s\n", err);
		return NULL;
	}
	return reply;
}

/* The files diagnostics name, each read once with its line starts: a
 * reply may carry hundreds of warnings into one file. */
struct src_file {
	char *path;
	char *text; /* NULL: not readable here */
	size_t size;
	size_t *starts; /* starts[i]: offset of line i + 1 */
	size_t nlines;
};
#define SRC_CACHE 8
static struct src_file src_cache[SRC_CACHE];
static unsigned src_next; /* the slot to replace when all are taken */

static void src_load(struct src_file *s, const char *path)
{
	*s = (struct src_file){ .path = strdup(path) };
	FILE *f = s->path ? fopen(path, "r") : NULL;
	if (!f)
		return;
	char *text = NULL;
	size_t size = 0, cap = 0;
	for (;;) {
		if (cap - size < 65536) {
			char *t = cap < ((size_t)1 << 30) ? realloc(text, cap * 2 + 65536) : NULL;
			if (!t)
				goto fail;
			text = t;
			cap = cap * 2 + 65536;
		}
		size_t n = fread(text + size, 1, cap - size, f);
		size += n;
		if (n == 0)
			break;
	}
	if (ferror(f))
		goto fail;
	size_t nl = 1;
	for (size_t i = 0; i < size; i++)
		nl += text[i] == '\n';
	s->starts = malloc(nl * sizeof(*s->starts));
	if (!s->starts)
		goto fail;
	s->starts[s->nlines++] = 0;
	for (size_t i = 0; i < size; i++)
		if (text[i] == '\n')
			s->starts[s->nlines++] = i + 1;
	s->text = text;
	s->size = size;
	fclose(f);
	return;
fail:
	free(text);
	fclose(f);
}

static const struct src_file *src_get(const char *path)
{
	for (unsigned i = 0; i < SRC_CACHE; i++)
		if (src_cache[i].path && !strcmp(src_cache[i].path, path))
			return &src_cache[i];
	struct src_file *s = &src_cache[src_next];
	src_next = (src_next + 1) % SRC_CACHE;
	free(s->path);
	free(s->text);
	free(s->starts);
	src_load(s, path);
	return s;
}

/* The source line and a caret under the span, as pol_unit_render_diags
 * shows them, when the file is readable here; one write. */
static void show_source(const char *file, unsigned line, unsigned col, unsigned len)
{
	const struct src_file *s = file && line ? src_get(file) : NULL;
	if (!s || !s->text || line > s->nlines)
		return;
	const char *text = s->text + s->starts[line - 1];
	size_t n = (line < s->nlines ? s->starts[line] - 1 : s->size) - s->starts[line - 1];
	if (n > 4095)
		n = 4095; /* as the line buffer of the compiler's own rendering */
	char *out = NULL;
	size_t outlen = 0;
	FILE *o = open_memstream(&out, &outlen);
	if (!o)
		return;
	fprintf(o, "    %.*s\n    ", (int)n, text);
	for (unsigned i = 1; i < col && i - 1 < n; i++)
		fputc(text[i - 1] == '\t' ? '\t' : ' ', o);
	fputc('^', o);
	for (unsigned i = 1; i < len; i++)
		fputc('~', o);
	fputc('\n', o);
	if (fclose(o) == 0)
		fwrite(out, 1, outlen, stderr);
	free(out);
}

/* gwd names the file by the absolute path gwctl sent; diagnostics show
 * it as the user wrote it. */
static const char *sent_path, *user_path;

void gwctl_diag_paths(const char *sent, const char *user)
{
	sent_path = sent;
	user_path = user;
}

void gwctl_print_diag(json_t *g)
{
	const char *file = json_string_value(json_object_get(g, "file"));
	if (file && sent_path && !strcmp(file, sent_path))
		file = user_path;
	unsigned line = (unsigned)json_integer_value(json_object_get(g, "line"));
	unsigned col = (unsigned)json_integer_value(json_object_get(g, "col"));
	unsigned len = (unsigned)json_integer_value(json_object_get(g, "len"));
	const char *sev = json_string_value(json_object_get(g, "severity"));
	const char *msg = json_string_value(json_object_get(g, "message"));
	const char *hint = json_string_value(json_object_get(g, "hint"));
	if (file && line)
		fprintf(stderr, "%s:%u:%u: ", file, line, col);
	else if (file)
		fprintf(stderr, "%s: ", file);
	fprintf(stderr, "%s: %s\n", sev ? sev : "error", msg ? msg : "?");
	show_source(file, line, col, len);
	if (hint)
		fprintf(stderr, "hint: %s\n", hint);
	json_t *note = json_object_get(g, "note");
	if (note) {
		const char *nf = json_string_value(json_object_get(note, "file"));
		unsigned nl = (unsigned)json_integer_value(json_object_get(note, "line"));
		unsigned nc = (unsigned)json_integer_value(json_object_get(note, "col"));
		fprintf(stderr, "%s:%u:%u: note: %s\n", nf ? nf : "?", nl, nc,
			json_string_value(json_object_get(note, "message")));
	}
}

/* 0 for an ok reply; otherwise prints gwd's error and returns 1. */
int gwctl_check_reply(json_t *reply, const char *what)
{
	if (!reply)
		return 1;
	if (json_is_true(json_object_get(reply, "ok")))
		return 0;
	json_t *e = json_object_get(reply, "error");
	json_t *diags = json_object_get(e, "diagnostics");
	size_t i;
	json_t *g;
	json_array_foreach(diags, i, g)
		gwctl_print_diag(g);
	fprintf(stderr, "gwctl %s: %s (%s)\n", what,
		json_string_value(json_object_get(e, "message")) ?: "refused",
		json_string_value(json_object_get(e, "code")) ?: "?");
	return 1;
}

void gwctl_print_json_reply(json_t *reply)
{
	json_object_del(reply, "v");
	json_object_del(reply, "id");
	json_object_del(reply, "ok");
	char *s = json_dumps(reply, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (s)
		puts(s);
	free(s);
}

