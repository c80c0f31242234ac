/* SPDX-License-Identifier: MIT */
/* The policy lexer: words, strings, braces, commas and newlines, each with
 * its span.  Keywords are words; the parser gives them meaning by position. */
#ifndef GW_POLICY_LEX_H
#define GW_POLICY_LEX_H

#include "diag.h"

enum tok_kind {
	T_EOF,
	T_NL,
	T_WORD,   /* letters, digits and _ . : / * + - */
	T_STRING, /* "..." with \" and \\ ; value in tok.str */
	T_LBRACE,
	T_RBRACE,
	T_COMMA,
};

struct tok {
	enum tok_kind kind;
	const char *p; /* in the source */
	uint32_t len;
	const char *str; /* T_STRING: decoded value (arena) */
	struct pol_span span;
};

struct lexer {
	struct pol_diags *d;
	const char *cur, *end, *line_start;
	uint32_t file, line;
};

void lex_init(struct lexer *lx, struct pol_diags *d, uint32_t file,
	      const char *text, size_t len);
/* Errors (bad characters, unterminated strings) are reported and skipped. */
void lex_next(struct lexer *lx, struct tok *ret);
const char *tok_kind_name(enum tok_kind k);

#endif
