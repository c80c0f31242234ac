/* SPDX-License-Identifier: MIT */
/* Formatting of gwd's figures (table.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

void gwc_fmt_size(char *buf, size_t n, uint64_t v)
{
	static const char *const units[] = { "kB", "MB", "GB", "TB", "PB" };
	if (v < 1000) {
		snprintf(buf, n, "%llu B", (unsigned long long)v);
		return;
	}
	double x = (double)v;
	int u = -1;
	while (x >= 999.95 && u < 4) {
		x /= 1000;
		u++;
	}
	snprintf(buf, n, x < 10 ? "%.1f %s" : "%.0f %s", x, units[u]);
}

void gwc_fmt_age(char *buf, size_t n, uint64_t ms)
{
	uint64_t s = ms / 1000;
	if (s < 60)
		snprintf(buf, n, "%llus", (unsigned long long)s);
	else if (s < 3600)
		snprintf(buf, n, "%llum%02llus", (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60));
	else if (s < 86400)
		snprintf(buf, n, "%lluh%02llum", (unsigned long long)(s / 3600),
			 (unsigned long long)(s % 3600 / 60));
	else
		snprintf(buf, n, "%llud%02lluh", (unsigned long long)(s / 86400),
			 (unsigned long long)(s % 86400 / 3600));
}

uint64_t gwc_jnum(json_t *o, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(o, key));
	return v > 0 ? (uint64_t)v : 0;
}

int gwc_parse_count(const char *s, uint32_t max, uint32_t *ret)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || end == s || s[0] == '-' || v == 0 || v > max)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

void gwc_table_row(struct gwc_table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 32;
		void *r = realloc(t->rows, cap * sizeof(*t->rows));
		if (!r)
			return;
		t->rows = r;
		t->cap = cap;
	}
	for (size_t c = 0; c < t->ncols; c++)
		t->rows[t->nrows][c] = strdup(cells[c] ? cells[c] : "-");
	t->nrows++;
}

void gwc_table_print(struct gwc_table *t, FILE *out)
{
	size_t w[GWC_TABLE_COLS] = { 0 };
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++)
			if (t->rows[r][c] && strlen(t->rows[r][c]) > w[c])
				w[c] = strlen(t->rows[r][c]);
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *cell = t->rows[r][c] ? t->rows[r][c] : "?";
			bool last = c + 1 == t->ncols;
			if (t->right[c])
				fprintf(out, "%*s", (int)w[c], cell);
			else
				fprintf(out, "%-*s", last ? 0 : (int)w[c], cell);
			if (!last)
				fputs("  ", out);
		}
		fputc('\n', out);
	}
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++)
			free(t->rows[r][c]);
	free(t->rows);
	t->rows = NULL;
	t->nrows = t->cap = 0;
}
