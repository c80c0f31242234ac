/* SPDX-License-Identifier: MIT */
/* The learned-name table (domains.h).  Linear in its size per change,
 * which at gwd's cap (tens of thousands) is well under a millisecond. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "domains.h"
#include "eval.h"

struct entry {
	char name[254];
	uint8_t family;
	uint8_t addr[16];
	uint64_t expires_s;
};

struct gwd_domains {
	struct entry *v;
	size_t n, cap, max;
};

bool gwd_domain_name_ok(const char *s)
{
	size_t n = strlen(s), label = 0;
	if (!n || n > 254 || (n == 254 && s[n - 1] != '.'))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '.') {
			if (!label)
				return false;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || c == '-' || c == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return true;
}

int gwd_domains_new(uint32_t max, struct gwd_domains **ret)
{
	if (!max)
		return -EINVAL;
	struct gwd_domains *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->max = max;
	*ret = t;
	return 0;
}

void gwd_domains_free(struct gwd_domains *t)
{
	if (!t)
		return;
	free(t->v);
	free(t);
}

size_t gwd_domains_count(const struct gwd_domains *t)
{
	return t->n;
}

static void prune(struct gwd_domains *t, uint64_t now_s)
{
	size_t k = 0;
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].expires_s > now_s)
			t->v[k++] = t->v[i];
	t->n = k;
}

/* name without its trailing dot, in lower case: how the table keys it. */
static bool norm(const char *name, char out[254])
{
	size_t n = strlen(name);
	if (n && name[n - 1] == '.')
		n--;
	if (!n || n > 253)
		return false;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
	out[n] = '\0';
	return true;
}

int gwd_domains_learn(struct gwd_domains *t, const char *name, uint8_t family,
		      const uint8_t addr[16], uint32_t ttl_s, uint64_t now_s)
{
	char key[254];
	if ((family != 4 && family != 6) || !ttl_s || !norm(name, key))
		return -EINVAL;
	uint8_t a[16] = { 0 };
	memcpy(a, addr, family == 4 ? 4 : 16);
	uint64_t exp = now_s + ttl_s;
	for (size_t i = 0; i < t->n; i++) {
		struct entry *e = &t->v[i];
		if (e->family == family && !memcmp(e->addr, a, 16) && !strcmp(e->name, key)) {
			e->expires_s = exp;
			return 0;
		}
	}
	prune(t, now_s);
	if (t->n == t->max) {
		size_t first = 0;
		for (size_t i = 1; i < t->n; i++)
			if (t->v[i].expires_s < t->v[first].expires_s)
				first = i;
		t->v[first] = t->v[--t->n];
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		if (cap > t->max)
			cap = t->max;
		struct entry *v = realloc(t->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	struct entry *e = &t->v[t->n++];
	memset(e, 0, sizeof(*e));
	memcpy(e->name, key, strlen(key) + 1);
	e->family = family;
	memcpy(e->addr, a, 16);
	e->expires_s = exp;
	return 0;
}

static int by_addr(const void *x, const void *y)
{
	const struct gwd_domain_entry *a = x, *b = y;
	if (a->family != b->family)
		return a->family - b->family;
	return memcmp(a->addr, b->addr, 16);
}

int gwd_domains_entries(struct gwd_domains *t, const struct pol_ir *ir, uint64_t now_s,
			const char *only, struct gwd_domain_entry **ret, size_t *ret_n)
{
	char key[254];
	if (only && !norm(only, key))
		return -EINVAL;
	prune(t, now_s);
	*ret = NULL;
	*ret_n = 0;
	if (!t->n)
		return 0;
	struct gwd_domain_entry *v = calloc(t->n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	size_t n = 0;
	for (size_t i = 0; i < t->n; i++) {
		const struct entry *e = &t->v[i];
		if (only) {
			/* Every name of an address counts, so first find
			 * whether `only` has this address at all. */
			bool has = false;
			for (size_t j = 0; j < t->n && !has; j++)
				has = t->v[j].family == e->family &&
				      !memcmp(t->v[j].addr, e->addr, 16) && !strcmp(t->v[j].name, key);
			if (!has)
				continue;
		}
		v[n].family = e->family;
		memcpy(v[n].addr, e->addr, 16);
		v[n].sets = ir ? pol_domain_sets_of(ir, e->name) : 0;
		v[n].ttl_s = (uint32_t)(e->expires_s - now_s);
		n++;
	}
	qsort(v, n, sizeof(*v), by_addr);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (k && !by_addr(&v[k - 1], &v[i])) {
			v[k - 1].sets |= v[i].sets;
			if (v[i].ttl_s > v[k - 1].ttl_s)
				v[k - 1].ttl_s = v[i].ttl_s;
		} else {
			v[k++] = v[i];
		}
	}
	if (!k) {
		free(v);
		return 0;
	}
	*ret = v;
	*ret_n = k;
	return 0;
}
