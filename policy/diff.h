/* SPDX-License-Identifier: MIT */
/*
 * What changes between two compiled policies (`gwctl policy diff`).
 *
 * Both sides are loaded images (struct pol_ir), so a diff sees exactly
 * what the engines would run, list files included; and the running
 * generation of gwd, whose files may have changed since, is compared as
 * it was compiled.  Things are matched by name, never by index:
 *   settings   zone, timezone, lan (the lan prefixes)
 *   defaults   default, default new
 *   persons, groups   added or removed
 *   devices    macs, owner, groups
 *   lists      kind, items (counts added and removed)
 *   schedules  windows
 *   rules      action, subject, destination, protocols, ports, schedule,
 *              rate, log, position
 * A rule's position changes only when its order relative to the rules
 * both sides have changes (a longest increasing run keeps the most in
 * place), so one inserted rule does not move every rule after it.
 *
 * Entries come in this order: settings, defaults, persons, groups,
 * devices, lists, schedules, rules; within a kind, removed ones in the old
 * order then the others in the new order.
 */
#ifndef GW_POLICY_DIFF_H
#define GW_POLICY_DIFF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "image.h"

enum pol_diff_kind {
	POL_DIFF_SETTING,
	POL_DIFF_DEFAULT,
	POL_DIFF_PERSON,
	POL_DIFF_GROUP,
	POL_DIFF_DEVICE,
	POL_DIFF_LIST,
	POL_DIFF_SCHEDULE,
	POL_DIFF_RULE,
};

enum pol_diff_op {
	POL_DIFF_ADDED,
	POL_DIFF_REMOVED,
	POL_DIFF_CHANGED,
};

/* One changed property.  Sets (macs, groups, items, windows) also count
 * what was added and removed; from/to are then the sizes, or the members
 * when they are few. */
struct pol_diff_field {
	const char *field; /* static: "action", "items", ... */
	char *from, *to;
	uint32_t added, removed;
	int is_set;
};

struct pol_diff_entry {
	enum pol_diff_kind kind;
	enum pol_diff_op op;
	char *name;
	uint32_t position; /* rules added: their place, from 1 */
	struct pol_diff_field *fields;
	size_t nfields;
};

struct pol_diff;

/* 0 and *ret, or -ENOMEM. */
int pol_diff_new(const struct pol_ir *from, const struct pol_ir *to, struct pol_diff **ret);
void pol_diff_free(struct pol_diff *d);
size_t pol_diff_count(const struct pol_diff *d);
const struct pol_diff_entry *pol_diff_entry(const struct pol_diff *d, size_t i);

const char *pol_diff_kind_name(enum pol_diff_kind k); /* "rule", "device", ... */
const char *pol_diff_op_name(enum pol_diff_op o);     /* "added", ... */

/* The text form, one "+ KIND NAME", "- KIND NAME" or "~ KIND NAME" line
 * per entry ("~ NAME" for settings and defaults: "~ default new") and an
 * indented "FIELD: FROM -> TO" line per field, with "(+A -R)" after a
 * set; nothing when there is no difference. */
int pol_diff_print(const struct pol_diff *d, FILE *out);

#endif
