/* SPDX-License-Identifier: MIT */
/*
 * The recursive-descent parser: policy text (and the files it includes or
 * names as lists) into the AST.  It checks form only; names and meaning are
 * sema.c's.  On an error it reports, skips to the end of the statement and
 * goes on, so one run shows every mistake.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lex.h"
#include "names.h"
#include "unit.h"

#define MAX_INCLUDE_DEPTH 16
/* Every file of one compilation together (each is at most POL_MAX_FILE). */
#define MAX_SOURCE_BYTES (256u << 20)

struct parser {
	struct pol_unit *u;
	struct pol_diags *d;
	struct ast *ast;
	struct lexer lx;
	struct tok tok;       /* the current token */
	const char *dir_rel;  /* of the current file, relative to the main file */
	const char *fs_dir;   /* of the current file, for opening relative paths */
	const char *stack[MAX_INCLUDE_DEPTH + 1]; /* real paths being parsed */
	int depth;
};

static void parse_file(struct parser *p, uint32_t file, const char *text, size_t len);

static void next(struct parser *p)
{
	lex_next(&p->lx, &p->tok);
}

static bool is_kw(const struct tok *t, const char *kw)
{
	return t->kind == T_WORD && strlen(kw) == t->len && memcmp(t->p, kw, t->len) == 0;
}

static char *tok_text(struct parser *p, const struct tok *t)
{
	char *s = pol_arena_strndup(p->u->arena, t->p, t->len);
	if (!s)
		p->d->oom = true;
	return s ? s : "";
}

/* A short printable form of a token for messages. */
static const char *tok_desc(struct parser *p, const struct tok *t)
{
	if (t->kind == T_WORD || t->kind == T_STRING)
		return pol_arena_printf(p->u->arena, "'%.*s'",
					(int)(t->len > 40 ? 40 : t->len), t->p);
	return tok_kind_name(t->kind);
}

/* Skip to the end of the statement: the next newline outside braces. */
static void recover(struct parser *p)
{
	int depth = 0;
	for (;;) {
		if (p->tok.kind == T_EOF)
			return;
		if (p->tok.kind == T_NL && depth <= 0)
			return;
		if (p->tok.kind == T_LBRACE)
			depth++;
		else if (p->tok.kind == T_RBRACE)
			depth--;
		next(p);
	}
}

static bool at_end(const struct parser *p)
{
	return p->tok.kind == T_NL || p->tok.kind == T_EOF;
}

static void *push(struct parser *p, struct pol_vec *v, size_t size)
{
	void *slot = pol_vec_push(p->u->arena, v, size);
	if (!slot)
		p->d->oom = true;
	return slot;
}

/* ---- words ---------------------------------------------------------- */

static bool valid_name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* A name at the current token; reports and returns false if there is none. */
static bool take_name(struct parser *p, const char *what, struct ast_name *ret)
{
	const struct tok *t = &p->tok;
	if (t->kind != T_WORD) {
		pol_error(p->d, t->span, NULL, "expected %s name, found %s", what,
			  tok_desc(p, t));
		return false;
	}
	if (t->len > POL_MAX_NAME) {
		pol_error(p->d, t->span, NULL, "%s name is longer than %d characters",
			  what, POL_MAX_NAME);
		next(p);
		return false;
	}
	for (uint32_t i = 0; i < t->len; i++) {
		unsigned char c = (unsigned char)t->p[i];
		if (!valid_name_char(c) || (i == 0 && (c == '-' || c == '_'))) {
			pol_error(p->d, t->span,
				  "names start with a letter or digit and use letters, digits, '-' and '_'",
				  "invalid %s name %s", what, tok_desc(p, t));
			next(p);
			return false;
		}
	}
	static const char *const reserved[] = { "any", "new", "device", "person", "group" };
	bool subject = !strcmp(what, "device") || !strcmp(what, "person") || !strcmp(what, "group");
	for (size_t i = 0; subject && i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		if (is_kw(t, reserved[i])) {
			pol_error(p->d, t->span, "any, new, device, person and group start a rule's subject",
				  "'%s' cannot be a %s name", reserved[i], what);
			next(p);
			return false;
		}
	}
	ret->s = tok_text(p, t);
	ret->span = t->span;
	next(p);
	return true;
}

/* After an item, a comma continues the list (a newline may follow it). */
static bool take_comma(struct parser *p)
{
	if (p->tok.kind != T_COMMA)
		return false;
	next(p);
	while (p->tok.kind == T_NL)
		next(p);
	return true;
}

/* The candidate nearest to a word token, or NULL. */
static const char *near_word(const struct tok *t, const char *const *cands, size_t n)
{
	char w[32];
	if (t->kind != T_WORD || t->len >= sizeof(w))
		return NULL;
	memcpy(w, t->p, t->len);
	w[t->len] = '\0';
	return pol_did_you_mean(w, cands, n);
}

/* ---- values --------------------------------------------------------- */

/* 0; -EINVAL for a bad address; -ERANGE for a bad length.  Host bits are
 * cleared and reported through ret_hostbits. */
int pol_parse_prefix(const char *s, size_t n, struct ast_prefix *ret, bool *ret_hostbits)
{
	char buf[64];
	const char *slash = memchr(s, '/', n);
	size_t alen = slash ? (size_t)(slash - s) : n;
	if (alen == 0 || alen >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	uint8_t addr[16] = { 0 };
	int family;
	if (inet_pton(AF_INET, buf, addr) == 1)
		family = 4;
	else if (inet_pton(AF_INET6, buf, addr) == 1)
		family = 6;
	else
		return -EINVAL;
	unsigned max = family == 4 ? 32 : 128, plen = max;
	if (slash) {
		const char *q = slash + 1, *end = s + n;
		if (q == end || end - q > 3)
			return -ERANGE;
		plen = 0;
		for (; q < end; q++) {
			if (*q < '0' || *q > '9')
				return -ERANGE;
			plen = plen * 10 + (unsigned)(*q - '0');
		}
		if (plen > max)
			return -ERANGE;
	}
	bool host = false;
	for (unsigned bit = plen; bit < max; bit++) {
		uint8_t m = (uint8_t)(0x80u >> (bit % 8));
		if (addr[bit / 8] & m) {
			host = true;
			addr[bit / 8] &= (uint8_t)~m;
		}
	}
	memcpy(ret->addr, addr, 16);
	ret->plen = (uint8_t)plen;
	ret->family = (uint8_t)family;
	if (ret_hostbits)
		*ret_hostbits = host;
	return 0;
}

/* Writes the lower-case name without "*." and a trailing dot into out
 * (at least n + 1 bytes). */
static int parse_domain(const char *s, size_t n, size_t min_labels, char *out,
			size_t *ret_len, bool *ret_wild, const char **ret_why)
{
	bool wild = false;
	if (n >= 2 && s[0] == '*' && s[1] == '.') {
		wild = true;
		s += 2;
		n -= 2;
	}
	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0) {
		*ret_why = "it is empty";
		return -EINVAL;
	}
	if (n > 253) {
		*ret_why = "it is longer than 253 characters";
		return -EINVAL;
	}
	size_t label = 0, labels = 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (label == 0) {
				*ret_why = "it has an empty label";
				return -EINVAL;
			}
			label = 0;
			labels++;
			out[i] = '.';
			continue;
		}
		if (c == '*') {
			*ret_why = "'*' may only be the whole first label, as in '*.example.com'";
			return -EINVAL;
		}
		if (!valid_name_char(c)) {
			*ret_why = "a label holds only letters, digits, '-' and '_'";
			return -EINVAL;
		}
		if (++label > 63) {
			*ret_why = "a label is longer than 63 characters";
			return -EINVAL;
		}
		out[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	if (label == 0) {
		*ret_why = "it has an empty label";
		return -EINVAL;
	}
	if (labels < min_labels) {
		*ret_why = "a domain needs at least two labels, as in 'example.com'";
		return -EINVAL;
	}
	out[n] = '\0';
	*ret_len = n;
	*ret_wild = wild;
	return 0;
}

static bool looks_like_address(const char *s, size_t n)
{
	if (memchr(s, '/', n) || memchr(s, ':', n))
		return true;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '.'))
			return false;
	return true;
}

static bool prefix_at(struct parser *p, const struct tok *t, struct ast_prefix *ret)
{
	bool host = false;
	int r = pol_parse_prefix(t->p, t->len, ret, &host);
	if (r == -ERANGE) {
		pol_error(p->d, t->span, "IPv4 lengths are 0-32, IPv6 lengths 0-128",
			  "invalid prefix length in %s", tok_desc(p, t));
		return false;
	}
	if (r < 0) {
		pol_error(p->d, t->span, NULL, "invalid address %s", tok_desc(p, t));
		return false;
	}
	ret->span = t->span;
	if (host) {
		char abuf[INET6_ADDRSTRLEN];
		inet_ntop(ret->family == 4 ? AF_INET : AF_INET6, ret->addr, abuf, sizeof(abuf));
		pol_warning(p->d, t->span,
			    pol_arena_printf(p->u->arena, "write %s/%u", abuf, ret->plen),
			    "%s has host bits set; they are ignored", tok_desc(p, t));
	}
	return true;
}

static bool domain_at(struct parser *p, const char *s, size_t n, struct pol_span span,
		      struct ast_domain *ret)
{
	char *out = pol_arena_alloc_raw(p->u->arena, n + 1);
	const char *why = NULL;
	size_t len;
	bool wild;
	if (!out) {
		p->d->oom = true;
		return false;
	}
	if (pol_parse_domain(s, n, out, &len, &wild, &why) < 0) {
		pol_error(p->d, span, NULL, "invalid domain '%.*s': %s",
			  (int)(n > 60 ? 60 : n), s, why);
		return false;
	}
	ret->name = out;
	ret->len = (uint32_t)len;
	ret->wildcard = wild;
	return true;
}

/* One DAYSPEC word: mon, mon-fri, fri-mon, daily, weekdays, weekends. */
static bool days_at(struct parser *p, const struct tok *t, uint8_t *mask)
{
	if (is_kw(t, "daily")) {
		*mask |= 0x7f;
		return true;
	}
	if (is_kw(t, "weekdays")) {
		*mask |= 0x1f;
		return true;
	}
	if (is_kw(t, "weekends")) {
		*mask |= 0x60;
		return true;
	}
	const char *dash = memchr(t->p, '-', t->len);
	int a = pol_day_by_name(t->p, dash ? (size_t)(dash - t->p) : t->len);
	int b = dash ? pol_day_by_name(dash + 1, (size_t)(t->p + t->len - dash - 1)) : a;
	if (a < 0 || b < 0) {
		const char *cands[] = { pol_day_name(0), pol_day_name(1), pol_day_name(2),
					pol_day_name(3), pol_day_name(4), pol_day_name(5),
					pol_day_name(6), "daily", "weekdays", "weekends" };
		const char *best = dash ? NULL : near_word(t, cands, 10);
		pol_error(p->d, t->span,
			  best ? pol_hint_did_you_mean(p->d, best)
			       : "days are mon tue wed thu fri sat sun, ranges like mon-fri, daily, weekdays, weekends",
			  "invalid day %s", tok_desc(p, t));
		return false;
	}
	for (int i = a;; i = (i + 1) % 7) {
		*mask |= (uint8_t)(1u << i);
		if (i == b)
			break;
	}
	return true;
}

/* HH:MM, 00:00..24:00; -1 if invalid. */
static int parse_time(const char *s, size_t n)
{
	if (n < 4 || n > 5 || s[n - 3] != ':')
		return -1;
	int h = 0;
	for (size_t i = 0; i < n - 3; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		h = h * 10 + (s[i] - '0');
	}
	if (s[n - 2] < '0' || s[n - 2] > '9' || s[n - 1] < '0' || s[n - 1] > '9')
		return -1;
	int m = (s[n - 2] - '0') * 10 + (s[n - 1] - '0');
	if (h > 24 || m > 59 || (h == 24 && m != 0))
		return -1;
	return h * 60 + m;
}

static bool window_at(struct parser *p, struct ast_window *w)
{
	struct pol_span start = p->tok.span;
	uint8_t days = 0;
	bool ok = true;
	for (;;) {
		if (p->tok.kind != T_WORD) {
			pol_error(p->d, p->tok.span, "a window reads like 'mon-fri 21:00-07:00'",
				  "expected days, found %s", tok_desc(p, &p->tok));
			return false;
		}
		if (p->tok.p[0] >= '0' && p->tok.p[0] <= '9')
			break;
		ok = days_at(p, &p->tok, &days) && ok;
		next(p);
		if (p->tok.kind == T_COMMA)
			next(p);
	}
	const struct tok *t = &p->tok;
	if (days == 0 && ok) {
		pol_error(p->d, t->span, "a window reads like 'mon-fri 21:00-07:00'",
			  "expected days before the time");
		ok = false;
	}
	const char *dash = memchr(t->p, '-', t->len);
	int a = dash ? parse_time(t->p, (size_t)(dash - t->p)) : -1;
	int b = dash ? parse_time(dash + 1, (size_t)(t->p + t->len - dash - 1)) : -1;
	if (a < 0 || b < 0) {
		pol_error(p->d, t->span, "times are HH:MM from 00:00 to 24:00, as in 21:00-07:00",
			  "invalid time range %s", tok_desc(p, t));
		next(p);
		return false;
	}
	if (a == 1440) {
		pol_error(p->d, t->span, "a window starts at 23:59 at the latest",
			  "a window cannot start at 24:00");
		next(p);
		return false;
	}
	if (a == b) {
		pol_error(p->d, t->span, "for a whole day write 00:00-24:00",
			  "window %s is empty: it starts when it ends", tok_desc(p, t));
		next(p);
		return false;
	}
	w->days = days;
	w->start = (uint16_t)a;
	w->end = (uint16_t)(b == 0 ? 1440 : b);
	w->span = start;
	if (t->span.line == start.line)
		w->span.len = t->span.col + t->span.len - start.col;
	next(p);
	return ok;
}

static bool port_at(struct parser *p, const struct tok *t, struct ast_ports *ret)
{
	const char *dash = memchr(t->p, '-', t->len);
	size_t la = dash ? (size_t)(dash - t->p) : t->len;
	long v[2] = { -1, -1 };
	const char *parts[2] = { t->p, dash ? dash + 1 : NULL };
	size_t lens[2] = { la, dash ? (size_t)(t->p + t->len - dash - 1) : 0 };
	for (int k = 0; k < (dash ? 2 : 1); k++) {
		if (lens[k] == 0 || lens[k] > 5)
			goto bad;
		long x = 0;
		for (size_t i = 0; i < lens[k]; i++) {
			if (parts[k][i] < '0' || parts[k][i] > '9')
				goto bad;
			x = x * 10 + (parts[k][i] - '0');
		}
		if (x < 1 || x > 65535)
			goto bad;
		v[k] = x;
	}
	if (!dash)
		v[1] = v[0];
	if (v[1] < v[0]) {
		pol_error(p->d, t->span,
			  pol_arena_printf(p->u->arena, "write %ld-%ld", v[1], v[0]),
			  "port range %s is reversed", tok_desc(p, t));
		return false;
	}
	ret->lo = (uint16_t)v[0];
	ret->hi = (uint16_t)v[1];
	ret->span = t->span;
	return true;
bad:
	pol_error(p->d, t->span, "ports are 1-65535; a range reads like 8000-8999",
		  "invalid port %s", tok_desc(p, t));
	return false;
}

/* NUMBER[.FRACTION]UNIT in bits per second. */
static bool rate_at(struct parser *p, const struct tok *t, uint64_t *ret)
{
	static const struct { const char *unit; uint64_t mult; } units[] = {
		{ "bit", 1 }, { "kbit", 1000 }, { "mbit", 1000000 }, { "gbit", 1000000000 },
	};
	size_t i = 0;
	uint64_t whole = 0, frac = 0, fdiv = 1;
	bool digits = false;
	while (i < t->len && t->p[i] >= '0' && t->p[i] <= '9') {
		if (whole > 100000000000ull)
			goto bad;
		whole = whole * 10 + (uint64_t)(t->p[i++] - '0');
		digits = true;
	}
	if (i < t->len && t->p[i] == '.') {
		i++;
		while (i < t->len && t->p[i] >= '0' && t->p[i] <= '9') {
			if (fdiv >= 1000000000)
				goto bad;
			frac = frac * 10 + (uint64_t)(t->p[i++] - '0');
			fdiv *= 10;
			digits = true;
		}
	}
	if (!digits)
		goto bad;
	for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
		if (t->len - i == strlen(units[k].unit) &&
		    memcmp(t->p + i, units[k].unit, t->len - i) == 0) {
			uint64_t m = units[k].mult;
			if (whole > UINT64_MAX / 10 / m)
				goto bad;
			if ((frac * m) % fdiv) {
				pol_error(p->d, t->span, "use a smaller unit",
					  "rate %s is not a whole number of bits per second",
					  tok_desc(p, t));
				return false;
			}
			uint64_t v = whole * m + frac * m / fdiv;
			if (v == 0) {
				pol_error(p->d, t->span, "to stop traffic, use block",
					  "rate must be above zero");
				return false;
			}
			*ret = v;
			return true;
		}
	}
bad:
	pol_error(p->d, t->span, "a rate reads like 2mbit; units are bit, kbit, mbit, gbit (per second)",
		  "invalid rate %s", tok_desc(p, t));
	return false;
}

static int action_at(struct parser *p, const struct tok *t)
{
	for (int i = 0; i < POL_ACTION_COUNT; i++)
		if (is_kw(t, pol_action_name((unsigned)i)))
			return i;
	static const struct { const char *word, *means; } synonyms[] = {
		{ "deny", "block" }, { "drop", "block" }, { "accept", "allow" },
		{ "pass", "allow" }, { "permit", "allow" },
	};
	const char *hint = "actions are allow, block and reject";
	for (size_t i = 0; i < sizeof(synonyms) / sizeof(synonyms[0]); i++)
		if (is_kw(t, synonyms[i].word))
			hint = pol_hint_did_you_mean(p->d, synonyms[i].means);
	const char *names[] = { pol_action_name(POL_ALLOW), pol_action_name(POL_BLOCK),
				pol_action_name(POL_REJECT) };
	const char *best = hint[0] == 'a' ? near_word(t, names, 3) : NULL;
	if (best)
		hint = pol_hint_did_you_mean(p->d, best);
	if (is_kw(t, "any") || is_kw(t, "new") || is_kw(t, "device") || is_kw(t, "person") ||
	    is_kw(t, "group"))
		pol_error(p->d, t->span, "a rule reads: rule NAME allow|block|reject SUBJECT ...",
			  "expected an action before the subject, found %s", tok_desc(p, t));
	else if (t->kind == T_WORD)
		pol_error(p->d, t->span, hint, "unknown action %s", tok_desc(p, t));
	else
		pol_error(p->d, t->span, hint, "expected an action, found %s", tok_desc(p, t));
	return -1;
}

/* ---- files ---------------------------------------------------------- */

static const char *join_dir(struct parser *p, const char *dir, const char *path)
{
	if (path[0] == '/' || !dir[0])
		return path;
	return pol_arena_printf(p->u->arena, "%s%s", dir, path);
}

static const char *dir_of(struct parser *p, const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return "";
	return pol_arena_strndup(p->u->arena, path, (size_t)(slash - path) + 1);
}

/* Why read_file failed, for a diagnostic. */
static const char *read_error(int r, char *buf, size_t size)
{
	switch (r) {
	case -EINVAL: return "not a regular file";
	case -EFBIG:
		snprintf(buf, size, "larger than %u MiB", POL_MAX_FILE >> 20);
		return buf;
	case -E2BIG:
		snprintf(buf, size, "the policy's files together are larger than %u MiB",
			 MAX_SOURCE_BYTES >> 20);
		return buf;
	default: return strerror(-r);
	}
}

/* Read a whole regular file into the arena; -errno (-EINVAL: not a
 * regular file; -EFBIG: over POL_MAX_FILE; -E2BIG: over MAX_SOURCE_BYTES
 * with the files read before).  A FIFO or a device is refused before it
 * is opened, and opened without blocking in case it became one since, so
 * no path makes the compiler wait. */
static int read_file(struct parser *p, const char *path, const char **ret, size_t *ret_len)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = 0;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > POL_MAX_FILE) {
		r = -EFBIG;
		goto out;
	}
	if (p->u->source_bytes + (size_t)st.st_size > MAX_SOURCE_BYTES) {
		r = -E2BIG;
		goto out;
	}
	size_t cap = (size_t)st.st_size + 1, n = 0;
	char *buf = pol_arena_alloc_raw(p->u->arena, cap);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	/* A file that grew since fstat is read up to its size then. */
	while (n < cap - 1) {
		ssize_t got = read(fd, buf + n, cap - 1 - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = -errno;
			goto out;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	buf[n] = '\0';
	p->u->source_bytes += n;
	*ret = buf;
	*ret_len = n;
out:
	close(fd);
	return r;
}

static void parse_include(struct parser *p)
{
	struct tok kw = p->tok;
	next(p);
	if (p->tok.kind != T_STRING) {
		pol_error(p->d, p->tok.span, "write include \"devices.gw\"",
			  "expected a file name in quotes after include, found %s",
			  tok_desc(p, &p->tok));
		return;
	}
	struct tok name = p->tok;
	next(p);
	if (!at_end(p))
		return;
	if (p->u->flags & POL_F_NO_FILES) {
		pol_error(p->d, kw.span, NULL, "include is not allowed in a policy given without its files");
		return;
	}
	if (!name.str[0]) {
		pol_error(p->d, name.span, NULL, "empty file name");
		return;
	}
	if (p->depth >= MAX_INCLUDE_DEPTH) {
		pol_error(p->d, name.span, NULL, "includes nested more than %d deep",
			  MAX_INCLUDE_DEPTH);
		return;
	}
	const char *path = join_dir(p, p->fs_dir, name.str);
	char real[PATH_MAX];
	if (!realpath(path, real)) {
		pol_error(p->d, name.span, NULL, "cannot include '%s': %s", path, strerror(errno));
		return;
	}
	for (int i = 0; i <= p->depth; i++) {
		if (p->stack[i] && strcmp(p->stack[i], real) == 0) {
			pol_error(p->d, name.span, NULL,
				  "include cycle: '%s' is already being read", path);
			return;
		}
	}
	const char *text;
	size_t len;
	int r = read_file(p, path, &text, &len);
	if (r < 0) {
		char why[80];
		pol_error(p->d, name.span, NULL, "cannot include '%s': %s", path,
			  read_error(r, why, sizeof(why)));
		return;
	}
	struct parser sub = *p;
	sub.dir_rel = pol_arena_printf(p->u->arena, "%s%s", name.str[0] == '/' ? "" : p->dir_rel,
				       dir_of(p, name.str));
	if (name.str[0] == '/')
		sub.dir_rel = dir_of(p, name.str);
	sub.fs_dir = dir_of(p, path);
	sub.depth = p->depth + 1;
	sub.stack[sub.depth] = pol_arena_strndup(p->u->arena, real, strlen(real));
	uint32_t file = pol_diags_add_source(p->d, path, sub.dir_rel, text, len);
	parse_file(&sub, file, text, len);
}

/* "a/./b/../c" as "a/c"; leading ".." that cannot fold stay. */
static const char *normalize_path(struct parser *p, const char *path)
{
	size_t n = strlen(path);
	char *out = pol_arena_alloc(p->u->arena, n + 2);
	if (!out)
		return path;
	size_t o = 0, kept = 0; /* kept: components that a ".." may remove */
	bool abs = path[0] == '/';
	if (abs)
		out[o++] = '/';
	for (const char *c = path; *c;) {
		const char *e = strchr(c, '/');
		size_t len = e ? (size_t)(e - c) : strlen(c);
		if (len == 0 || (len == 1 && c[0] == '.')) {
			/* skip */
		} else if (len == 2 && c[0] == '.' && c[1] == '.' && kept) {
			o--; /* the slash after the last component */
			while (o > (abs ? 1u : 0u) && out[o - 1] != '/')
				o--;
			kept--;
		} else {
			memcpy(out + o, c, len);
			o += len;
			out[o++] = '/';
			if (!(len == 2 && c[0] == '.' && c[1] == '.'))
				kept++;
		}
		c += len + (e ? 1 : 0);
		if (!e)
			break;
	}
	if (o > (abs ? 1u : 0u))
		o--; /* the trailing slash */
	out[o] = '\0';
	return out;
}

/* A list file: one item per line, '#' comments, blank lines. */
static void read_list_file(struct parser *p, struct ast_list *l, const struct tok *name)
{
	if (p->u->flags & POL_F_NO_FILES) {
		pol_error(p->d, name->span, NULL,
			  "list files are not allowed in a policy given without its files");
		return;
	}
	if (!name->str[0]) {
		pol_error(p->d, name->span, NULL, "empty file name");
		return;
	}
	const char *path = join_dir(p, p->fs_dir, name->str);
	const char *text;
	size_t len;
	int r = read_file(p, path, &text, &len);
	if (r < 0) {
		char why[80];
		pol_error(p->d, name->span, NULL, "cannot read list file '%s': %s", path,
			  read_error(r, why, sizeof(why)));
		return;
	}
	l->file = normalize_path(p, name->str[0] == '/' ? name->str
			     : pol_arena_printf(p->u->arena, "%s%s", p->dir_rel, name->str));
	uint32_t file = pol_diags_add_source(p->d, path, p->dir_rel, text, len);
	const char *s = text, *end = text + len;
	/* A list may hold millions of lines: size it once, not by doubling. */
	size_t lines = 1;
	for (const char *nl = s; (nl = memchr(nl, '\n', (size_t)(end - nl))); nl++)
		lines++;
	if (!pol_vec_reserve(p->u->arena, &l->items, lines,
			     l->domains ? sizeof(struct ast_domain) : sizeof(struct ast_prefix))) {
		p->d->oom = true;
		return;
	}
	for (uint32_t line = 1; s < end; line++) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *e = nl ? nl : end;
		const char *lstart = s;
		const char *hash = memchr(s, '#', (size_t)(e - s));
		const char *ie = hash ? hash : e;
		while (s < ie && (*s == ' ' || *s == '\t'))
			s++;
		while (ie > s && (ie[-1] == ' ' || ie[-1] == '\t' || ie[-1] == '\r'))
			ie--;
		if (s < ie) {
			struct pol_span sp = { file, line, (uint32_t)(s - lstart) + 1,
					       (uint32_t)(ie - s) };
			const char *sp_in = s;
			while (sp_in < ie && *sp_in != ' ' && *sp_in != '\t')
				sp_in++;
			if (sp_in != ie) {
				pol_error(p->d, sp, "a list file holds one item per line",
					  "expected one item, found several");
			} else if (l->domains) {
				struct ast_domain dm;
				if (domain_at(p, s, (size_t)(ie - s), sp, &dm)) {
					struct ast_domain *slot = push(p, &l->items, sizeof(dm));
					if (slot)
						*slot = dm;
				}
			} else {
				struct tok t = { .kind = T_WORD, .p = s, .len = sp.len, .span = sp };
				struct ast_prefix px;
				if (prefix_at(p, &t, &px)) {
					struct ast_prefix *slot = push(p, &l->items, sizeof(px));
					if (slot)
						*slot = px;
				}
			}
			if (p->d->capped || p->d->oom)
				return;
		}
		s = nl ? nl + 1 : end;
	}
}

int pol_parse_domain(const char *s, size_t n, char *out, size_t *ret_len, bool *ret_wild,
		     const char **ret_why)
{
	return parse_domain(s, n, 2, out, ret_len, ret_wild, ret_why);
}

/* ---- statements ----------------------------------------------------- */

static bool list_item(struct parser *p, struct ast_list *l)
{
	const struct tok *t = &p->tok;
	if (t->kind != T_WORD) {
		pol_error(p->d, t->span, NULL, "expected a %s, found %s",
			  l->domains ? "domain" : "prefix", tok_desc(p, t));
		return false;
	}
	bool ok;
	if (l->domains) {
		struct ast_domain dm;
		if (t->len > 3 && memmem(t->p, t->len, "://", 3)) {
			pol_error(p->d, t->span, "write the domain alone, as in youtube.com",
				  "%s is a web address; a domains list holds domains", tok_desc(p, t));
			ok = false;
		} else if (looks_like_address(t->p, t->len) && memchr(t->p, '.', t->len) &&
		    (memchr(t->p, '/', t->len) || memchr(t->p, ':', t->len) ||
		     (t->p[t->len - 1] >= '0' && t->p[t->len - 1] <= '9'))) {
			pol_error(p->d, t->span, "put addresses in a 'prefixes' list",
				  "%s is an address, not a domain", tok_desc(p, t));
			ok = false;
		} else if ((ok = domain_at(p, t->p, t->len, t->span, &dm))) {
			struct ast_domain *slot = push(p, &l->items, sizeof(dm));
			if (slot)
				*slot = dm;
		}
	} else {
		struct ast_prefix px;
		if (!looks_like_address(t->p, t->len)) {
			pol_error(p->d, t->span, "put domains in a 'domains' list",
				  "%s is not an address or prefix", tok_desc(p, t));
			ok = false;
		} else if ((ok = prefix_at(p, t, &px))) {
			struct ast_prefix *slot = push(p, &l->items, sizeof(px));
			if (slot)
				*slot = px;
		}
	}
	next(p);
	return ok;
}

/* '{' item {sep item} '}' where sep is ',' or newlines. */
static bool block(struct parser *p, bool (*item)(struct parser *, void *), void *arg,
		  const char *what)
{
	struct pol_span open = p->tok.span;
	next(p);
	size_t n = 0;
	bool ok = true;
	for (;;) {
		while (p->tok.kind == T_NL || p->tok.kind == T_COMMA)
			next(p);
		if (p->tok.kind == T_RBRACE) {
			next(p);
			break;
		}
		if (p->tok.kind == T_EOF) {
			pol_error(p->d, open, "close it with '}'", "unclosed '{'");
			return false;
		}
		if (p->tok.kind == T_LBRACE) {
			pol_error(p->d, p->tok.span, NULL, "unexpected '{' inside a block");
			return false;
		}
		if (!item(p, arg)) {
			ok = false;
			/* Skip the rest of this item's line within the block. */
			while (p->tok.kind != T_NL && p->tok.kind != T_COMMA &&
			       p->tok.kind != T_RBRACE && p->tok.kind != T_EOF)
				next(p);
		}
		n++;
	}
	if (n == 0) {
		pol_error(p->d, open, NULL, "empty %s", what);
		return false;
	}
	return ok;
}

static bool list_item_cb(struct parser *p, void *arg)
{
	return list_item(p, arg);
}

static void parse_list(struct parser *p)
{
	next(p);
	struct ast_list *l = push(p, &p->ast->lists, sizeof(*l));
	if (!l || !take_name(p, "list", &l->name)) {
		if (l)
			p->ast->lists.n--;
		return;
	}
	if (is_kw(&p->tok, "domains")) {
		l->domains = true;
	} else if (!is_kw(&p->tok, "prefixes")) {
		const char *cands[] = { "domains", "prefixes" };
		const char *best = near_word(&p->tok, cands, 2);
		pol_error(p->d, p->tok.span,
			  best ? pol_hint_did_you_mean(p->d, best)
			       : "a list holds 'domains' or 'prefixes'",
			  "expected 'domains' or 'prefixes' after the list name, found %s",
			  tok_desc(p, &p->tok));
		p->ast->lists.n--;
		return;
	}
	next(p);
	bool ok;
	if (p->tok.kind == T_LBRACE) {
		ok = block(p, list_item_cb, l, "list");
	} else if (is_kw(&p->tok, "file")) {
		next(p);
		if (p->tok.kind != T_STRING) {
			pol_error(p->d, p->tok.span, "write file \"trackers.txt\"",
				  "expected a file name in quotes, found %s", tok_desc(p, &p->tok));
			ok = false;
		} else {
			struct tok name = p->tok;
			l->file_span = name.span;
			next(p);
			unsigned before = p->d->errors;
			read_list_file(p, l, &name);
			ok = p->d->errors == before;
			if (ok && l->items.n == 0)
				pol_warning(p->d, name.span, NULL, "list file '%s' is empty",
					    name.str);
		}
	} else {
		pol_error(p->d, p->tok.span, "write { item, item } or file \"name.txt\"",
			  "expected '{' or file after '%s', found %s",
			  l->domains ? "domains" : "prefixes", tok_desc(p, &p->tok));
		ok = false;
	}
	if (!ok) {
		p->ast->lists.n--;
		return;
	}
	struct ast_stmt *st = push(p, &p->ast->stmts, sizeof(*st));
	if (st)
		*st = (struct ast_stmt){ AS_LIST, (uint32_t)(p->ast->lists.n - 1) };
}

static bool window_cb(struct parser *p, void *arg)
{
	struct ast_schedule *s = arg;
	struct ast_window w;
	if (!window_at(p, &w))
		return false;
	struct ast_window *slot = push(p, &s->windows, sizeof(w));
	if (slot)
		*slot = w;
	return true;
}

static void parse_schedule(struct parser *p)
{
	next(p);
	struct ast_schedule *s = push(p, &p->ast->schedules, sizeof(*s));
	if (!s)
		return;
	bool ok = take_name(p, "schedule", &s->name);
	if (ok) {
		if (p->tok.kind == T_LBRACE)
			ok = block(p, window_cb, s, "schedule");
		else if (at_end(p)) {
			pol_error(p->d, p->tok.span, "a window reads like 'mon-fri 21:00-07:00'",
				  "expected a time window or '{' after the schedule name");
			ok = false;
		} else
			ok = window_cb(p, s);
	}
	if (!ok) {
		p->ast->schedules.n--;
		return;
	}
	struct ast_stmt *st = push(p, &p->ast->stmts, sizeof(*st));
	if (st)
		*st = (struct ast_stmt){ AS_SCHEDULE, (uint32_t)(p->ast->schedules.n - 1) };
}

static bool name_list(struct parser *p, struct pol_vec *v, const char *what)
{
	do {
		struct ast_name n;
		if (!take_name(p, what, &n))
			return false;
		struct ast_name *slot = push(p, v, sizeof(n));
		if (slot)
			*slot = n;
	} while (take_comma(p));
	return true;
}

/* Like name_list, but a subject keyword after a comma means the rule mixes
 * kinds of subject, which it cannot. */
static bool subject_names(struct parser *p, struct pol_vec *v, const char *what)
{
	do {
		if (is_kw(&p->tok, "device") || is_kw(&p->tok, "person") ||
		    is_kw(&p->tok, "group") || is_kw(&p->tok, "any") || is_kw(&p->tok, "new")) {
			pol_error(p->d, p->tok.span,
				  "a rule names one kind of subject; write a second rule for the other kind",
				  "a rule for a %s cannot also name a %s", what,
				  pol_arena_strndup(p->u->arena, p->tok.p, p->tok.len));
			return false;
		}
		struct ast_name n;
		if (!take_name(p, what, &n))
			return false;
		struct ast_name *slot = push(p, v, sizeof(n));
		if (slot)
			*slot = n;
	} while (take_comma(p));
	return true;
}

/* Remember where a clause was first given; report a second one. */
static bool once(struct parser *p, struct pol_span *seen, const char *clause,
		 const char *in)
{
	if (seen->line) {
		/* Clauses that take a list: both halves go into one. */
		static const char *const lists[] = { "mac", "group", "to", "proto", "port" };
		bool list = false;
		for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
			list = list || !strcmp(clause, lists[i]);
		struct pol_diag *g = pol_error(p->d, p->tok.span,
					       list ? "give it once, with a list" : "give it once",
					       "'%s' given twice in %s", clause, in);
		pol_diag_note(p->d, g, *seen, "first given here");
		return false;
	}
	*seen = p->tok.span;
	return true;
}

/* `address IPV4` of a device: one IPv4 host address, no length.  The
 * sema checks where it lies (check_device_addrs). */
static bool device_addr_at(struct parser *p, struct ast_device *dv)
{
	const struct tok *t = &p->tok;
	char buf[INET6_ADDRSTRLEN];
	uint8_t a6[16];
	if (t->kind != T_WORD || t->len == 0 || t->len >= sizeof(buf)) {
		pol_error(p->d, t->span, "write address 192.168.1.30",
			  "expected an IPv4 address, found %s", tok_desc(p, t));
		return false;
	}
	memcpy(buf, t->p, t->len);
	buf[t->len] = '\0';
	if (memchr(t->p, '/', t->len)) {
		pol_error(p->d, t->span, "a device's address is one address, as in 192.168.1.30",
			  "%s is a prefix, not an address", tok_desc(p, t));
		return false;
	}
	if (inet_pton(AF_INET6, buf, a6) == 1) {
		pol_error(p->d, t->span,
			  "devices choose their IPv6 addresses themselves (SLAAC); give an IPv4 address",
			  "a fixed address is IPv4 only, found %s", tok_desc(p, t));
		return false;
	}
	if (inet_pton(AF_INET, buf, dv->addr4) != 1) {
		pol_error(p->d, t->span, "an IPv4 address is four numbers 0-255, as in 192.168.1.30",
			  "invalid address %s", tok_desc(p, t));
		return false;
	}
	dv->has_addr4 = true;
	dv->addr4_span = t->span;
	next(p);
	return true;
}

static void parse_device(struct parser *p)
{
	next(p);
	struct ast_device *dv = push(p, &p->ast->devices, sizeof(*dv));
	if (!dv)
		return;
	bool ok = take_name(p, "device", &dv->name);
	struct pol_span mac_seen = { 0 }, owner_seen = { 0 }, group_seen = { 0 }, addr_seen = { 0 };
	while (ok && !at_end(p)) {
		if (is_kw(&p->tok, "mac")) {
			ok = once(p, &mac_seen, "mac", "a device");
			next(p);
			do {
				const struct tok *t = &p->tok;
				struct ast_mac m = { .span = t->span };
				if (t->kind != T_WORD || pol_mac_parse(t->p, t->len, m.mac) < 0) {
					pol_error(p->d, t->span,
						  "a MAC address is six hex pairs, as in 02:1a:2b:3c:4d:5e",
						  "invalid MAC address %s", tok_desc(p, t));
					ok = false;
					break;
				}
				if (m.mac[0] & 1) {
					pol_error(p->d, t->span,
						  "a device sends from its own unicast address (first byte even)",
						  "%s is a multicast or broadcast address", tok_desc(p, t));
					ok = false;
					break;
				}
				struct ast_mac *slot = push(p, &dv->macs, sizeof(m));
				if (slot)
					*slot = m;
				next(p);
			} while (ok && take_comma(p));
		} else if (is_kw(&p->tok, "address")) {
			ok = once(p, &addr_seen, "address", "a device");
			next(p);
			ok = ok && device_addr_at(p, dv);
		} else if (is_kw(&p->tok, "owner")) {
			ok = once(p, &owner_seen, "owner", "a device");
			next(p);
			ok = ok && take_name(p, "person", &dv->owner);
		} else if (is_kw(&p->tok, "group")) {
			ok = once(p, &group_seen, "group", "a device");
			next(p);
			ok = ok && name_list(p, &dv->groups, "group");
		} else {
			const char *cands[] = { "mac", "address", "owner", "group" };
			const char *best = near_word(&p->tok, cands, 4);
			pol_error(p->d, p->tok.span,
				  best ? pol_hint_did_you_mean(p->d, best)
				       : "a device has: mac ADDR[, ADDR] [address IPV4] [owner PERSON] [group NAME[, NAME]]",
				  "unexpected %s in device '%s'", tok_desc(p, &p->tok),
				  dv->name.s);
			ok = false;
		}
	}
	if (ok && dv->macs.n == 0) {
		pol_error(p->d, dv->name.span, "write device NAME mac 02:1a:2b:3c:4d:5e",
			  "device '%s' has no MAC address", dv->name.s);
		ok = false;
	}
	if (!ok) {
		p->ast->devices.n--;
		return;
	}
	struct ast_stmt *st = push(p, &p->ast->stmts, sizeof(*st));
	if (st)
		*st = (struct ast_stmt){ AS_DEVICE, (uint32_t)(p->ast->devices.n - 1) };
}

static bool dst_at(struct parser *p, struct ast_rule *r)
{
	const struct tok *t = &p->tok;
	struct ast_dst d = { .span = t->span };
	if (t->kind != T_WORD) {
		pol_error(p->d, t->span,
			  "a destination is internet, lan, any, list NAME, a domain or an address",
			  "expected a destination, found %s", tok_desc(p, t));
		return false;
	}
	if (is_kw(t, "internet")) {
		d.kind = AD_INTERNET;
	} else if (is_kw(t, "lan")) {
		d.kind = AD_LAN;
	} else if (is_kw(t, "any")) {
		d.kind = AD_ANY;
	} else if (is_kw(t, "list")) {
		d.kind = AD_LIST;
		next(p);
		if (!take_name(p, "list", &d.list))
			return false;
		d.span.len = d.list.span.col + d.list.span.len - d.span.col;
		goto add;
	} else if (t->len > 3 && memmem(t->p, t->len, "://", 3)) {
		pol_error(p->d, t->span, "write the domain alone, as in youtube.com",
			  "%s is a web address; a destination is a domain", tok_desc(p, t));
		next(p);
		return false;
	} else if (pol_mac_parse(t->p, t->len, (uint8_t[6]){ 0 }) == 0) {
		pol_error(p->d, t->span, "to match traffic between devices, use lan or an address",
			  "%s is a MAC address; a destination is an address, a domain or a list",
			  tok_desc(p, t));
		next(p);
		return false;
	} else if (looks_like_address(t->p, t->len)) {
		d.kind = AD_PREFIX;
		if (!prefix_at(p, t, &d.prefix)) {
			next(p);
			return false;
		}
	} else {
		d.kind = AD_DOMAIN;
		if (!memchr(t->p, '.', t->len)) {
			const char *cands[] = { "internet", "lan", "any", "list" };
			const char *best = near_word(t, cands, 4);
			pol_error(p->d, t->span,
				  best ? pol_hint_did_you_mean(p->d, best)
				       : "a destination is internet, lan, any, list NAME, a domain or an address",
				  "unknown destination %s", tok_desc(p, t));
			next(p);
			return false;
		}
		if (!domain_at(p, t->p, t->len, t->span, &d.domain)) {
			next(p);
			return false;
		}
	}
	next(p);
add:;
	struct ast_dst *slot = push(p, &r->dsts, sizeof(d));
	if (slot)
		*slot = d;
	return true;
}

static bool proto_at(struct parser *p, uint8_t *mask)
{
	static const char *const names[] = { "tcp", "udp", "icmp" };
	const struct tok *t = &p->tok;
	for (int i = 0; i < 3; i++) {
		if (is_kw(t, names[i])) {
			*mask |= (uint8_t)(1u << i);
			next(p);
			return true;
		}
	}
	const char *best = is_kw(t, "icmpv6") || is_kw(t, "ipv6-icmp") ? "icmp"
								  : near_word(t, names, 3);
	pol_error(p->d, t->span,
		  best ? pol_hint_did_you_mean(p->d, best) : "protocols are tcp, udp and icmp",
		  "unknown protocol %s", tok_desc(p, t));
	return false;
}

static const char *const rule_clauses[] = { "to", "proto", "port", "during", "rate", "log" };

static bool rule_clause(struct parser *p, struct ast_rule *r, struct pol_span seen[6])
{
	const struct tok *t = &p->tok;
	int c = -1;
	for (int i = 0; i < 6; i++)
		if (is_kw(t, rule_clauses[i]))
			c = i;
	if (c < 0) {
		const char *best = near_word(t, rule_clauses, 6);
		const char *hint = best ? pol_hint_did_you_mean(p->d, best)
				  : "after the subject come: to, proto, port, during, rate, log";
		if (t->kind == T_WORD && memchr(t->p, ':', t->len) && memchr(t->p, '-', t->len) &&
		    t->p[0] >= '0' && t->p[0] <= '9')
			hint = "put the window in a schedule (schedule NAME mon-fri 21:00-07:00) "
			       "and write: during NAME";
		else if (t->kind == T_WORD && t->p[0] >= '0' && t->p[0] <= '9')
			hint = "separate the items of a list with ',', as in port 80, 443";
		else if (is_kw(t, "device") || is_kw(t, "person") || is_kw(t, "group"))
			hint = "a rule names one kind of subject; write a second rule for the other kind";
		pol_error(p->d, t->span, hint, "unexpected %s in rule '%s'", tok_desc(p, t),
			  r->name.s);
		return false;
	}
	if (!once(p, &seen[c], rule_clauses[c], "a rule"))
		return false;
	next(p);
	if (c != 5 && at_end(p)) {
		pol_error(p->d, p->tok.span, NULL, "expected a value after '%s'", rule_clauses[c]);
		return false;
	}
	switch (c) {
	case 0:
		do {
			if (!dst_at(p, r))
				return false;
		} while (take_comma(p));
		return true;
	case 1:
		r->proto_span = p->tok.span;
		do {
			if (!proto_at(p, &r->protos))
				return false;
		} while (take_comma(p));
		return true;
	case 2:
		r->port_span = p->tok.span;
		do {
			struct ast_ports pr;
			if (p->tok.kind != T_WORD || !port_at(p, &p->tok, &pr)) {
				if (p->tok.kind != T_WORD)
					pol_error(p->d, p->tok.span, NULL, "expected a port, found %s",
						  tok_desc(p, &p->tok));
				return false;
			}
			struct ast_ports *slot = push(p, &r->ports, sizeof(pr));
			if (slot)
				*slot = pr;
			next(p);
		} while (take_comma(p));
		return true;
	case 3:
		return take_name(p, "schedule", &r->during);
	case 4:
		r->rate_span = p->tok.span;
		if (p->tok.kind != T_WORD || !rate_at(p, &p->tok, &r->rate_bps)) {
			if (p->tok.kind != T_WORD)
				pol_error(p->d, p->tok.span, NULL, "expected a rate, found %s",
					  tok_desc(p, &p->tok));
			return false;
		}
		next(p);
		return true;
	case 5:
		r->log = true;
		return true;
	}
	return false;
}

static void parse_rule(struct parser *p)
{
	next(p);
	struct ast_rule *r = push(p, &p->ast->rules, sizeof(*r));
	if (!r)
		return;
	bool ok = take_name(p, "rule", &r->name);
	if (ok) {
		r->action_span = p->tok.span;
		int a = action_at(p, &p->tok);
		ok = a >= 0;
		r->action = (uint8_t)(a < 0 ? 0 : a);
	}
	if (ok) {
		next(p);
		const struct tok *t = &p->tok;
		r->subject_span = t->span;
		if (is_kw(t, "any")) {
			r->subject_kind = POL_SUBJ_ANY;
			next(p);
		} else if (is_kw(t, "new")) {
			r->subject_kind = POL_SUBJ_NEW;
			next(p);
		} else if (is_kw(t, "device") || is_kw(t, "person") || is_kw(t, "group")) {
			r->subject_kind = t->p[0] == 'd' ? POL_SUBJ_DEVICE
					  : t->p[0] == 'p' ? POL_SUBJ_PERSON : POL_SUBJ_GROUP;
			char what[8];
			snprintf(what, sizeof(what), "%.*s", (int)t->len, t->p);
			next(p);
			if (at_end(p)) {
				pol_error(p->d, p->tok.span, NULL, "expected a %s name after '%s'",
					  what, what);
				ok = false;
			} else {
				ok = subject_names(p, &r->subjects, what);
			}
		} else {
			const char *cands[] = { "any", "new", "device", "person", "group" };
			const char *best = near_word(t, cands, 5);
			pol_error(p->d, t->span,
				  best ? pol_hint_did_you_mean(p->d, best)
				       : "a subject is any, new, device NAME, person NAME or group NAME",
				  "expected who the rule is for, found %s", tok_desc(p, t));
			ok = false;
		}
	}
	struct pol_span seen[6] = { 0 };
	while (ok && !at_end(p))
		ok = rule_clause(p, r, seen);
	if (!ok) {
		p->ast->rules.n--;
		return;
	}
	struct ast_stmt *st = push(p, &p->ast->stmts, sizeof(*st));
	if (st)
		*st = (struct ast_stmt){ AS_RULE, (uint32_t)(p->ast->rules.n - 1) };
}

static void add_stmt(struct parser *p, enum ast_stmt_kind k, uint32_t index)
{
	struct ast_stmt *st = push(p, &p->ast->stmts, sizeof(*st));
	if (st)
		*st = (struct ast_stmt){ k, index };
}

/* A setting that may be given once: report the second with the first. */
static bool setting_once(struct parser *p, bool given, struct pol_span first,
			 struct pol_span at, const char *what)
{
	if (!given)
		return true;
	struct pol_diag *g = pol_error(p->d, at, NULL, "'%s' given twice", what);
	pol_diag_note(p->d, g, first, "first given here");
	return false;
}

/* dns private NAME, ...: the names (and the names under them) whose
 * upstream answers may point inside the home. */
static void parse_dns_private(struct parser *p, struct pol_span kw)
{
	struct ast *ast = p->ast;
	struct pol_vec v = { 0 };
	if (!setting_once(p, ast->dns_private.n > 0, ast->dns_private_span, kw, "dns private"))
		return;
	next(p);
	if (at_end(p)) {
		pol_error(p->d, p->tok.span, "write dns private nas.example.com, plex.direct",
			  "expected names after dns private");
		return;
	}
	do {
		const struct tok *t = &p->tok;
		char *out = t->kind == T_WORD ? pol_arena_alloc(p->u->arena, t->len + 1) : NULL;
		const char *why = "not a domain name";
		size_t len = 0;
		bool wild = false;
		if (t->kind == T_WORD && !out)
			return;
		if (!out || parse_domain(t->p, t->len, 2, out, &len, &wild, &why) < 0 || wild) {
			pol_error(p->d, t->span,
				  wild ? "a name stands for the names under it too: drop the *." : NULL,
				  "invalid name %s after dns private: %s", tok_desc(p, t),
				  wild ? "no wildcards here" : why);
			if (t->kind == T_WORD)
				next(p);
			return;
		}
		struct ast_domain *slot = push(p, &v, sizeof(*slot));
		if (slot)
			*slot = (struct ast_domain){ out, (uint32_t)len, false };
		next(p);
	} while (take_comma(p));
	ast->dns_private = v;
	ast->dns_private_span = kw;
	add_stmt(p, AS_DNS_PRIVATE, 0);
}

static void parse_simple(struct parser *p, enum ast_stmt_kind kind)
{
	struct ast *ast = p->ast;
	struct tok kw = p->tok;
	next(p);
	switch (kind) {
	case AS_PERSON:
	case AS_GROUP: {
		struct pol_vec *v = kind == AS_PERSON ? &ast->persons : &ast->groups;
		struct ast_name n;
		if (!take_name(p, kind == AS_PERSON ? "person" : "group", &n))
			return;
		/* struct ast_person and ast_group both start with the name */
		struct ast_person *slot = push(p, v, sizeof(struct ast_person));
		if (!slot)
			return;
		slot->name = n;
		add_stmt(p, kind, (uint32_t)(v->n - 1));
		return;
	}
	case AS_ZONE: {
		if (!setting_once(p, ast->zone.s != NULL, ast->zone.span, kw.span, "zone"))
			return;
		const struct tok *t = &p->tok;
		if (t->kind != T_WORD) {
			pol_error(p->d, t->span, "write zone home.arpa",
				  "expected a domain after zone, found %s", tok_desc(p, t));
			return;
		}
		char *out = pol_arena_alloc(p->u->arena, t->len + 1);
		const char *why = NULL;
		size_t len;
		bool wild = false;
		if (!out)
			return;
		/* A zone may be a single label, such as "home". */
		if (parse_domain(t->p, t->len, 1, out, &len, &wild, &why) < 0 || wild) {
			pol_error(p->d, t->span, NULL, "invalid zone %s: %s", tok_desc(p, t),
				  wild ? "a zone cannot be a wildcard" : why);
			next(p);
			return;
		}
		ast->zone.s = out;
		ast->zone.span = kw.span;
		next(p);
		add_stmt(p, kind, 0);
		return;
	}
	case AS_TIMEZONE: {
		if (!setting_once(p, ast->timezone.s != NULL, ast->timezone_kw, kw.span, "timezone"))
			return;
		if (p->tok.kind != T_STRING) {
			pol_error(p->d, p->tok.span, "write timezone \"Europe/London\"",
				  "expected a time zone name in quotes, found %s",
				  tok_desc(p, &p->tok));
			return;
		}
		ast->timezone.s = p->tok.str;
		ast->timezone.span = p->tok.span;
		ast->timezone_kw = kw.span;
		next(p);
		add_stmt(p, kind, 0);
		return;
	}
	case AS_LAN: {
		if (!setting_once(p, ast->lan_set, ast->lan_span, kw.span, "lan"))
			return;
		struct pol_vec v = { 0 };
		if (at_end(p)) {
			pol_error(p->d, p->tok.span, "write lan 192.168.1.0/24, fd00::/8",
				  "expected the home's prefixes after lan");
			return;
		}
		do {
			struct ast_prefix px;
			if (p->tok.kind != T_WORD || !looks_like_address(p->tok.p, p->tok.len)) {
				pol_error(p->d, p->tok.span, NULL, "expected a prefix, found %s",
					  tok_desc(p, &p->tok));
				return;
			}
			if (!prefix_at(p, &p->tok, &px))
				return;
			struct ast_prefix *slot = push(p, &v, sizeof(px));
			if (slot)
				*slot = px;
			next(p);
		} while (take_comma(p));
		ast->lan = v;
		ast->lan_set = true;
		ast->lan_span = kw.span;
		add_stmt(p, kind, 0);
		return;
	}
	case AS_DEFAULT: {
		bool isnew = is_kw(&p->tok, "new");
		if (isnew)
			next(p);
		int *slot = isnew ? &ast->default_new : &ast->default_action;
		struct pol_span *span = isnew ? &ast->default_new_span : &ast->default_span;
		if (!setting_once(p, *slot >= 0, *span, kw.span, isnew ? "default new" : "default"))
			return;
		int a = action_at(p, &p->tok);
		if (a < 0)
			return;
		*slot = a;
		*span = kw.span;
		next(p);
		add_stmt(p, isnew ? AS_DEFAULT_NEW : AS_DEFAULT, 0);
		return;
	}
	case AS_DNS_ENFORCE: {
		/* dns SETTING: `enforce`, or `private` and names. */
		if (is_kw(&p->tok, "private")) {
			parse_dns_private(p, kw.span);
			return;
		}
		if (!is_kw(&p->tok, "enforce")) {
			pol_error(p->d, p->tok.span, "write dns enforce, or dns private NAME, ...",
				  "expected a DNS setting after dns, found %s",
				  tok_desc(p, &p->tok));
			if (p->tok.kind == T_WORD)
				next(p);
			return;
		}
		if (!setting_once(p, ast->dns_enforce, ast->dns_enforce_span, kw.span,
				  "dns enforce"))
			return;
		next(p);
		ast->dns_enforce = true;
		ast->dns_enforce_span = kw.span;
		add_stmt(p, kind, 0);
		return;
	}
	default:
		return;
	}
}

static const char *const statements[] = {
	"zone", "timezone", "lan", "include", "person", "group", "device", "list",
	"schedule", "rule", "default", "dns",
};

static void parse_statement(struct parser *p)
{
	const struct tok *t = &p->tok;
	unsigned before = p->d->errors;
	if (is_kw(t, "rule"))
		parse_rule(p);
	else if (is_kw(t, "device"))
		parse_device(p);
	else if (is_kw(t, "list"))
		parse_list(p);
	else if (is_kw(t, "schedule"))
		parse_schedule(p);
	else if (is_kw(t, "include"))
		parse_include(p);
	else if (is_kw(t, "person"))
		parse_simple(p, AS_PERSON);
	else if (is_kw(t, "group"))
		parse_simple(p, AS_GROUP);
	else if (is_kw(t, "zone"))
		parse_simple(p, AS_ZONE);
	else if (is_kw(t, "timezone"))
		parse_simple(p, AS_TIMEZONE);
	else if (is_kw(t, "lan"))
		parse_simple(p, AS_LAN);
	else if (is_kw(t, "default"))
		parse_simple(p, AS_DEFAULT);
	else if (is_kw(t, "dns"))
		parse_simple(p, AS_DNS_ENFORCE);
	else {
		const char *best = near_word(t, statements, sizeof(statements) / sizeof(statements[0]));
		if (is_kw(t, "allow") || is_kw(t, "block") || is_kw(t, "reject"))
			pol_error(p->d, t->span, "a rule starts with its name: rule NAME block ...",
				  "unknown statement %s", tok_desc(p, t));
		else if (t->kind == T_WORD)
			pol_error(p->d, t->span,
				  best ? pol_hint_did_you_mean(p->d, best)
				       : "statements are zone, timezone, lan, include, person, group, device, list, schedule, rule, default, dns",
				  "unknown statement %s", tok_desc(p, t));
		else
			pol_error(p->d, t->span, NULL, "expected a statement, found %s",
				  tok_desc(p, t));
		recover(p);
		return;
	}
	if (!at_end(p)) {
		/* Leftovers of a statement that failed were reported already. */
		if (p->d->errors == before)
			pol_error(p->d, p->tok.span, "one statement per line",
				  "unexpected %s after the end of the statement",
				  tok_desc(p, &p->tok));
		recover(p);
	}
}

static void parse_file(struct parser *p, uint32_t file, const char *text, size_t len)
{
	lex_init(&p->lx, p->d, file, text, len);
	next(p);
	for (;;) {
		while (p->tok.kind == T_NL)
			next(p);
		if (p->tok.kind == T_EOF || p->d->oom)
			return;
		parse_statement(p);
	}
}

void pol_parse(struct pol_unit *u, const char *path, const char *text, size_t len)
{
	struct parser p = { .u = u, .d = &u->diags, .ast = &u->ast, .dir_rel = "" };
	p.fs_dir = dir_of(&p, path);
	u->main_dir = p.fs_dir;
	if (!text) {
		int r = read_file(&p, path, &text, &len);
		if (r < 0) {
			char why[80];
			uint32_t f = pol_diags_add_source(p.d, path, "", "", 0);
			pol_error(p.d, (struct pol_span){ f, 0, 0, 0 }, NULL, "cannot read: %s",
				  read_error(r, why, sizeof(why)));
			return;
		}
	}
	char real[PATH_MAX];
	if (!(u->flags & POL_F_NO_FILES) && realpath(path, real))
		p.stack[0] = pol_arena_strndup(u->arena, real, strlen(real));
	uint32_t file = pol_diags_add_source(p.d, path, "", text, len);
	parse_file(&p, file, text, len);
}
