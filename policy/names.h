/* SPDX-License-Identifier: MIT */
/*
 * The policy language's vocabulary, written once: the action and day names
 * as the language spells them, and MAC addresses as every part of gw reads
 * and prints them.  The parser, the printer, the diff, gwctl, gwd's API and
 * the tests all use these, so a name cannot drift between them.
 */
#ifndef GW_POLICY_NAMES_H
#define GW_POLICY_NAMES_H

#include <stddef.h>
#include <stdint.h>

/* "allow", "block", "reject" (enum pol_action), "?" for anything else. */
const char *pol_action_name(unsigned action);
/* The action spelled s[0..n) (exact, lower case), or -1. */
int pol_action_by_name(const char *s, size_t n);

/* "mon" .. "sun" for 0 (Monday) .. 6, "?" for anything else. */
const char *pol_day_name(unsigned wday);
/* The day spelled s[0..n) ("mon" .. "sun"), 0 Monday .. 6 Sunday, or -1. */
int pol_day_by_name(const char *s, size_t n);

/* A MAC as text: six pairs of hex digits (either case) separated by all
 * ':' or all '-', exactly n = 17 characters.  0, or -EINVAL. */
int pol_mac_parse(const char *s, size_t n, uint8_t ret[6]);

/* "02:00:00:00:00:0a": lower case, ':' separated, NUL-terminated. */
#define POL_MAC_TEXT 18
/* Writes mac as text into out (POL_MAC_TEXT bytes) and returns out. */
char *pol_mac_format(const uint8_t mac[6], char out[POL_MAC_TEXT]);

#endif
