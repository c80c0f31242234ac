/* SPDX-License-Identifier: MIT */
/* The gwd.conf parser (config.h).  Pure apart from gwd_config_load's read. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

void gwd_config_defaults(struct gwd_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->state_dir, sizeof(c->state_dir), "/var/lib/gw");
	snprintf(c->socket, sizeof(c->socket), "/run/gw/gwd.sock");
}

struct errs {
	char *buf;
	size_t size, used;
	unsigned count;
};

static void __attribute__((format(printf, 4, 5)))
add_err(struct errs *e, const char *name, unsigned line, const char *fmt, ...)
{
	e->count++;
	if (!e->buf || e->used + 1 >= e->size)
		return;
	int n = snprintf(e->buf + e->used, e->size - e->used, "%s%s:%u: error: ",
			 e->used ? "\n" : "", name, line);
	if (n < 0 || (size_t)n >= e->size - e->used) {
		e->used = e->size - 1;
		return;
	}
	e->used += (size_t)n;
	va_list ap;
	va_start(ap, fmt);
	n = vsnprintf(e->buf + e->used, e->size - e->used, fmt, ap);
	va_end(ap);
	e->used = n < 0 || (size_t)n >= e->size - e->used ? e->size - 1 : e->used + (size_t)n;
}

static const char *const keys[] = { "state_dir", "socket", "policy" };

static char *field(struct gwd_config *c, size_t k)
{
	return k == 0 ? c->state_dir : k == 1 ? c->socket : c->policy;
}

static bool space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

int gwd_config_parse(const char *name, const char *text, size_t len, struct gwd_config *c,
		     char *err, size_t errlen)
{
	struct gwd_config out = *c;
	struct errs e = { .buf = err, .size = errlen };
	bool seen[3] = { false };
	if (err && errlen)
		err[0] = '\0';
	unsigned lineno = 0;
	for (size_t at = 0; at < len;) {
		const char *line = text + at;
		const char *nl = memchr(line, '\n', len - at);
		size_t n = nl ? (size_t)(nl - line) : len - at;
		at += n + 1;
		lineno++;
		if (memchr(line, '\0', n)) {
			add_err(&e, name, lineno, "a NUL byte in the line");
			continue;
		}
		const char *hash = memchr(line, '#', n);
		if (hash)
			n = (size_t)(hash - line);
		while (n && space(line[n - 1]))
			n--;
		while (n && space(*line)) {
			line++;
			n--;
		}
		if (!n)
			continue;
		const char *eq = memchr(line, '=', n);
		if (!eq) {
			add_err(&e, name, lineno, "expected 'key = value'");
			continue;
		}
		size_t klen = (size_t)(eq - line);
		while (klen && space(line[klen - 1]))
			klen--;
		const char *val = eq + 1;
		size_t vlen = n - (size_t)(val - line);
		while (vlen && space(*val)) {
			val++;
			vlen--;
		}
		size_t k;
		for (k = 0; k < 3; k++)
			if (strlen(keys[k]) == klen && !memcmp(keys[k], line, klen))
				break;
		if (k == 3) {
			add_err(&e, name, lineno,
				"unknown key '%.*s' (the keys are state_dir, socket, policy)",
				(int)(klen > 64 ? 64 : klen), line);
			continue;
		}
		if (seen[k]) {
			add_err(&e, name, lineno, "'%s' is set twice", keys[k]);
			continue;
		}
		seen[k] = true;
		if (!vlen) {
			add_err(&e, name, lineno, "'%s' needs a value", keys[k]);
			continue;
		}
		if (val[0] != '/') {
			add_err(&e, name, lineno, "'%s' must be an absolute path", keys[k]);
			continue;
		}
		if (vlen >= GWD_PATH_MAX) {
			add_err(&e, name, lineno, "'%s' is longer than %d bytes", keys[k],
				GWD_PATH_MAX - 1);
			continue;
		}
		memcpy(field(&out, k), val, vlen);
		field(&out, k)[vlen] = '\0';
	}
	if (e.count)
		return -EINVAL;
	*c = out;
	return 0;
}

int gwd_config_load(const char *path, struct gwd_config *c, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		int r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
		return r;
	}
	char *text = NULL;
	size_t len = 0, cap = 0;
	int r = 0;
	for (;;) {
		if (len + 4096 > cap) {
			if (cap >= (1u << 20)) {
				snprintf(err, errlen, "%s: larger than 1 MiB", path);
				r = -EFBIG;
				goto out;
			}
			cap = cap ? cap * 2 : 8192;
			char *t = realloc(text, cap);
			if (!t) {
				r = -ENOMEM;
				snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
				goto out;
			}
			text = t;
		}
		size_t got = fread(text + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		r = -EIO;
		snprintf(err, errlen, "%s: read error", path);
		goto out;
	}
	r = gwd_config_parse(path, text ? text : "", len, c, err, errlen);
out:
	free(text);
	fclose(f);
	return r;
}
