/* SPDX-License-Identifier: MIT */
/* The internals of one compilation, shared by its passes. */
#ifndef GW_POLICY_UNIT_H
#define GW_POLICY_UNIT_H

#include "ast.h"
#include "diag.h"

struct pol_unit {
	struct pol_arena *arena;
	struct pol_diags diags;
	struct ast ast;
	unsigned flags;
	const char *main_dir;  /* folder of the main file, for resolving paths */
	size_t source_bytes;   /* of every file read (parse.c's bound) */
	void *image;           /* malloc'd; NULL until compiled */
	size_t image_size;
};

/* parse.c: the main file and everything it includes into u->ast. */
void pol_parse(struct pol_unit *u, const char *path, const char *text, size_t len);
/* sema.c: names, meaning, warnings. */
void pol_sema(struct pol_unit *u);
/* shadow.c: warnings for rules that can never match (after sema, on a
 * policy without errors). */
void pol_check_shadowed(struct pol_unit *u);
/* sema.c: the LAN's prefixes (the policy's `lan`, or the private ranges). */
const struct ast_prefix *pol_lan_prefixes(const struct ast *ast, size_t *n);
/* compile.c: the image; 0 or -errno. */
int pol_emit(struct pol_unit *u);

/* Parsing helpers shared with sema/print/tests. */
int pol_parse_prefix(const char *s, size_t n, struct ast_prefix *ret, bool *ret_hostbits);
int pol_parse_domain(const char *s, size_t n, char *out, size_t *ret_len, bool *ret_wild,
		     const char **ret_why);

#endif
