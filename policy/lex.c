/* SPDX-License-Identifier: MIT */
/* The policy lexer (see lex.h). */
#include <string.h>

#include "lex.h"

void lex_init(struct lexer *lx, struct pol_diags *d, uint32_t file,
	      const char *text, size_t len)
{
	lx->d = d;
	lx->cur = lx->line_start = text;
	lx->end = text + len;
	lx->file = file;
	lx->line = 1;
}

static int is_word(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' ||
	       c == '/' || c == '*' || c == '+' || c == '-';
}

static struct pol_span span_at(const struct lexer *lx, const char *p, size_t len)
{
	return (struct pol_span){ lx->file, lx->line,
				  (uint32_t)(p - lx->line_start) + 1, (uint32_t)len };
}

const char *tok_kind_name(enum tok_kind k)
{
	switch (k) {
	case T_EOF: return "end of file";
	case T_NL: return "end of line";
	case T_WORD: return "word";
	case T_STRING: return "string";
	case T_LBRACE: return "'{'";
	case T_RBRACE: return "'}'";
	case T_COMMA: return "','";
	}
	return "?";
}

static void lex_string(struct lexer *lx, struct tok *t)
{
	const char *start = lx->cur++;
	char quote = *start;
	if (quote == '\'') {
		/* Report once, then read it as the string it was meant to be. */
		const char *close = memchr(lx->cur, '\'', (size_t)(lx->end - lx->cur));
		const char *nl = memchr(lx->cur, '\n', (size_t)(lx->end - lx->cur));
		size_t len = close && (!nl || close < nl) ? (size_t)(close - start) + 1 : 1;
		pol_error(lx->d, span_at(lx, start, len), "write \"...\"",
			  "strings take double quotes, not single quotes");
	}
	char buf[4096];
	size_t n = 0;
	for (;;) {
		if (lx->cur >= lx->end || *lx->cur == '\n') {
			if (quote == '"')
				pol_error(lx->d, span_at(lx, start, 1),
					  "close it with '\"' on the same line",
					  "unterminated string");
			break;
		}
		char c = *lx->cur++;
		if (c == quote)
			break;
		if (c == '\\' && lx->cur < lx->end && (*lx->cur == '"' || *lx->cur == '\\'))
			c = *lx->cur++;
		if (n < sizeof(buf) - 1)
			buf[n++] = c;
	}
	t->kind = T_STRING;
	t->p = start;
	t->len = (uint32_t)(lx->cur - start);
	t->span = span_at(lx, start, t->len);
	t->str = pol_arena_strndup(lx->d->arena, buf, n);
	if (!t->str)
		lx->d->oom = true;
}

void lex_next(struct lexer *lx, struct tok *t)
{
	memset(t, 0, sizeof(*t));
	for (;;) {
		while (lx->cur < lx->end && (*lx->cur == ' ' || *lx->cur == '\t' ||
					     *lx->cur == '\r'))
			lx->cur++;
		if (lx->cur < lx->end && *lx->cur == '#')
			while (lx->cur < lx->end && *lx->cur != '\n')
				lx->cur++;
		if (lx->cur >= lx->end) {
			t->kind = T_EOF;
			t->p = lx->cur;
			t->span = span_at(lx, lx->cur, 1);
			return;
		}
		unsigned char c = (unsigned char)*lx->cur;
		const char *start = lx->cur;
		if (c == '\n') {
			t->kind = T_NL;
			t->p = start;
			t->len = 1;
			t->span = span_at(lx, start, 1);
			lx->cur++;
			lx->line++;
			lx->line_start = lx->cur;
			return;
		}
		if (c == '"' || c == '\'') {
			lex_string(lx, t);
			return;
		}
		if (c == '{' || c == '}' || c == ',') {
			t->kind = c == '{' ? T_LBRACE : c == '}' ? T_RBRACE : T_COMMA;
			t->p = start;
			t->len = 1;
			t->span = span_at(lx, start, 1);
			lx->cur++;
			return;
		}
		if (is_word(c)) {
			while (lx->cur < lx->end && is_word((unsigned char)*lx->cur))
				lx->cur++;
			t->kind = T_WORD;
			t->p = start;
			t->len = (uint32_t)(lx->cur - start);
			t->span = span_at(lx, start, t->len);
			return;
		}
		/* One error for a run of bad bytes, then go on. */
		while (lx->cur < lx->end) {
			unsigned char b = (unsigned char)*lx->cur;
			if (is_word(b) || b == ' ' || b == '\t' || b == '\n' || b == '"' || b == '\'' ||
			    b == '{' || b == '}' || b == ',' || b == '#' || b == '\r')
				break;
			lx->cur++;
		}
		if (c >= 0x21 && c < 0x7f)
			pol_error(lx->d, span_at(lx, start, (size_t)(lx->cur - start)),
				  c == ';' ? "statements end at the end of the line" : NULL,
				  "unexpected character '%c'", c);
		else
			pol_error(lx->d, span_at(lx, start, (size_t)(lx->cur - start)), NULL,
				  "unexpected byte 0x%02x", c);
	}
}
