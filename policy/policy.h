/* SPDX-License-Identifier: MIT */
/*
 * libgwpolicy: the household's policy files in, one compiled image out.
 *
 *   struct pol_unit *u;
 *   pol_compile("home.gw", NULL, 0, 0, &u);      lex, parse, sema, compile
 *   if (pol_unit_errors(u) == 0)
 *           pol_unit_image(u, &data, &size);       the IR image (ir.h)
 *   pol_unit_render_diags(u, stderr);
 *   pol_unit_free(u);
 *
 * A unit owns everything of one compilation (one arena).  It never writes
 * anywhere but where it is asked to, never exits, never logs.
 */
#ifndef GW_POLICY_POLICY_H
#define GW_POLICY_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum pol_severity {
	POL_SEV_ERROR,
	POL_SEV_WARNING,
};

struct pol_loc {
	const char *file; /* NULL: no location */
	uint32_t line, col, len;
};

struct pol_diag {
	enum pol_severity severity;
	struct pol_loc loc;
	const char *message;
	const char *hint;     /* NULL or "did you mean 'kids'?" and the like */
	struct pol_loc note;  /* a second place, e.g. the first definition */
	const char *note_msg; /* what the second place is, NULL if none */
	uint32_t span_file, note_file; /* internal: indices of the sources */
};

/* Refuse `include` and list `file`s: for text from a socket or a fuzzer. */
#define POL_F_NO_FILES 0x1u

struct pol_unit;

/*
 * Compile the policy at `path`; if `text` is not NULL it is the file's
 * content (len bytes) and path only names it.  Returns 0 when a unit was
 * made (errors in the policy are in the unit), -ENOMEM otherwise.
 */
int pol_compile(const char *path, const char *text, size_t len, unsigned flags,
		struct pol_unit **ret);
void pol_unit_free(struct pol_unit *u);

unsigned pol_unit_errors(const struct pol_unit *u);
unsigned pol_unit_warnings(const struct pol_unit *u);
size_t pol_unit_ndiags(const struct pol_unit *u);
const struct pol_diag *pol_unit_diag(const struct pol_unit *u, size_t i);
/* The text form: file:line:col: severity: message, source line, caret, hint. */
void pol_unit_render_diags(const struct pol_unit *u, FILE *out);

/* The image of a unit without errors (-EINVAL otherwise).  Owned by the unit. */
int pol_unit_image(const struct pol_unit *u, const void **ret_data, size_t *ret_size);

/* The canonical form of a unit without errors. */
int pol_unit_print(const struct pol_unit *u, FILE *out);

/* Where rule `rule` (an index in the image) was written. */
int pol_unit_rule_loc(const struct pol_unit *u, uint32_t rule, struct pol_loc *ret);
/* Where device `device` (an index in the image) was written: its name. */
int pol_unit_device_loc(const struct pol_unit *u, uint32_t device, struct pol_loc *ret);
/* The files the unit read, the main file first (includes and list files
 * as the diagnostics name them); NULL past the last. */
const char *pol_unit_file(const struct pol_unit *u, size_t i);

#endif
