/* SPDX-License-Identifier: MIT */
/*
 * How gwctl and gwtop write what gwd reports: sizes in decimal units,
 * ages in two units at most, aligned columns as `ip` and `ps` print them,
 * and the number fields of a reply read without fuss.
 */
#ifndef GW_TOOLS_TABLE_H
#define GW_TOOLS_TABLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* 1.2 MB: decimal units, as network people count bytes. */
void gwc_fmt_size(char *buf, size_t n, uint64_t v);
/* 3m12s, 2h05m, 4d03h: two units at most. */
void gwc_fmt_age(char *buf, size_t n, uint64_t ms);

/* An object's integer field; 0 when missing, not an integer or negative. */
uint64_t gwc_jnum(json_t *o, const char *key);

/* A decimal count in 1..max (no sign, nothing after it). */
int gwc_parse_count(const char *s, uint32_t max, uint32_t *ret);

/* Aligned columns: a header row, then rows; each cell is copied (NULL
 * shows as "-").  Zero-initialise, set ncols and right[], add rows, then
 * print, which frees the rows. */
#define GWC_TABLE_COLS 12
struct gwc_table {
	size_t ncols, nrows, cap;
	char *(*rows)[GWC_TABLE_COLS];
	bool right[GWC_TABLE_COLS]; /* numbers align right */
};

void gwc_table_row(struct gwc_table *t, const char *const *cells);
void gwc_table_print(struct gwc_table *t, FILE *out);

#endif
