/* SPDX-License-Identifier: MIT */
/* Located diagnostics for the policy compiler: the sources they point into,
 * the list of errors/warnings/notes, and their rendering as text. */
#ifndef GW_POLICY_DIAG_H
#define GW_POLICY_DIAG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "arena.h"
#include "policy.h"

#define POL_MAX_ERRORS 20

/* A span inside one source: file is an index into the unit's sources. */
struct pol_span {
	uint32_t file;
	uint32_t line, col, len; /* 1-based line and column (bytes) */
};

struct pol_source {
	const char *name;    /* as shown in diagnostics */
	const char *dir_rel; /* its folder relative to the main file's ("" or "x/") */
	const char *text;
	size_t len;
};

struct pol_diags {
	struct pol_arena *arena;
	struct pol_vec sources; /* struct pol_source */
	struct pol_vec list;    /* struct pol_diag */
	unsigned errors, warnings;
	bool capped;            /* POL_MAX_ERRORS reached: later errors dropped */
	bool oom;
};

uint32_t pol_diags_add_source(struct pol_diags *d, const char *name,
			      const char *dir_rel, const char *text, size_t len);
const struct pol_source *pol_diags_source(const struct pol_diags *d, uint32_t file);

/* Record a diagnostic.  hint may be NULL.  Returns the new diagnostic so a
 * note can be attached with pol_diag_note(), or NULL if dropped. */
struct pol_diag *pol_error(struct pol_diags *d, struct pol_span at, const char *hint,
			   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
struct pol_diag *pol_warning(struct pol_diags *d, struct pol_span at, const char *hint,
			     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void pol_diag_note(struct pol_diags *d, struct pol_diag *diag, struct pol_span at,
		   const char *msg);

/* The closest candidate within a small edit distance, or NULL. */
const char *pol_did_you_mean(const char *word, const char *const *cands, size_t n);
/* "did you mean 'x'?" in the arena, or NULL when best is NULL. */
const char *pol_hint_did_you_mean(struct pol_diags *d, const char *best);

void pol_diags_render(const struct pol_diags *d, FILE *out);

#endif
