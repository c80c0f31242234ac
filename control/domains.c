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
	/* The reverse index, address -> the entry of that address that
	 * expires last (gwd_domains_name_of): open addressing, slots hold an
	 * entry's position + 1 (0: empty).  Kept up to date as entries are
	 * added or renewed; rebuilt at the next lookup after entries moved
	 * (pruned, evicted). */
	uint32_t *rev;
	size_t rev_slots; /* a power of two, at least twice cap */
	bool rev_stale;
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
	free(t->rev);
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
	if (k != t->n)
		t->rev_stale = true;
	t->n = k;
}

size_t gwd_domains_live(struct gwd_domains *t, uint64_t now_s)
{
	prune(t, now_s);
	return t->n;
}

/* ---- the reverse index -------------------------------------------------- */

static size_t rev_hash(uint8_t family, const uint8_t addr[16], size_t slots)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ family;
	for (int i = 0; i < 16; i++)
		h = (h ^ addr[i]) * 0x100000001b3ull;
	return (size_t)(h ^ h >> 29) & (slots - 1);
}

/* The slot of (family, addr): the one holding it, or the empty one where
 * it would go. */
static size_t rev_slot(const struct gwd_domains *t, uint8_t family, const uint8_t addr[16])
{
	size_t i = rev_hash(family, addr, t->rev_slots);
	while (t->rev[i]) {
		const struct entry *e = &t->v[t->rev[i] - 1];
		if (e->family == family && !memcmp(e->addr, addr, 16))
			return i;
		i = (i + 1) & (t->rev_slots - 1);
	}
	return i;
}

/* Entry pos joins the index (it is added or its expiry moved). */
static void rev_note(struct gwd_domains *t, size_t pos)
{
	if (t->rev_stale || !t->rev)
		return;
	const struct entry *e = &t->v[pos];
	size_t i = rev_slot(t, e->family, e->addr);
	if (!t->rev[i] || t->v[t->rev[i] - 1].expires_s <= e->expires_s)
		t->rev[i] = (uint32_t)pos + 1;
}

static int rev_build(struct gwd_domains *t)
{
	size_t slots = 16;
	while (slots < 2 * t->cap)
		slots *= 2;
	if (slots != t->rev_slots) {
		uint32_t *r = malloc(slots * sizeof(*r));
		if (!r)
			return -ENOMEM;
		free(t->rev);
		t->rev = r;
		t->rev_slots = slots;
	}
	memset(t->rev, 0, t->rev_slots * sizeof(*t->rev));
	t->rev_stale = false;
	for (size_t i = 0; i < t->n; i++)
		rev_note(t, i);
	return 0;
}

const char *gwd_domains_name_of(struct gwd_domains *t, uint8_t family, const uint8_t *addr,
				uint64_t now_s)
{
	uint8_t a[16] = { 0 };
	if ((family != 4 && family != 6) || !t->n)
		return NULL;
	memcpy(a, addr, family == 4 ? 4 : 16);
	if ((t->rev_stale || !t->rev || t->rev_slots < 2 * t->cap) && rev_build(t) < 0)
		return NULL;
	size_t i = rev_slot(t, family, a);
	if (!t->rev[i])
		return NULL;
	const struct entry *e = &t->v[t->rev[i] - 1];
	return e->expires_s > now_s ? e->name : NULL;
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
			rev_note(t, i);
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
		t->rev_stale = true;
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
		t->rev_stale = true; /* the index grows with cap */
	}
	struct entry *e = &t->v[t->n++];
	memset(e, 0, sizeof(*e));
	memcpy(e->name, key, strlen(key) + 1);
	e->family = family;
	memcpy(e->addr, a, 16);
	e->expires_s = exp;
	rev_note(t, t->n - 1);
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

/* name is key or a subdomain of it (both normalised). */
static bool is_under(const char *name, const char *key)
{
	size_t n = strlen(name), k = strlen(key);
	if (n < k || strcmp(name + n - k, key))
		return false;
	return n == k || name[n - k - 1] == '.';
}

static int by_name(const void *x, const void *y)
{
	const struct gwd_domain_pair *a = x, *b = y;
	int c = strcmp(a->name, b->name);
	if (c)
		return c;
	if (a->family != b->family)
		return a->family - b->family;
	return memcmp(a->addr, b->addr, 16);
}

int gwd_domains_pairs(struct gwd_domains *t, uint64_t now_s, const char *under,
		      struct gwd_domain_pair **ret, size_t *ret_n)
{
	char key[254];
	if (under && !norm(under, key))
		return -EINVAL;
	prune(t, now_s);
	*ret = NULL;
	*ret_n = 0;
	size_t n = 0;
	for (size_t i = 0; i < t->n; i++)
		n += !under || is_under(t->v[i].name, key);
	if (!n)
		return 0;
	struct gwd_domain_pair *v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	size_t k = 0;
	for (size_t i = 0; i < t->n; i++) {
		const struct entry *e = &t->v[i];
		if (under && !is_under(e->name, key))
			continue;
		memcpy(v[k].name, e->name, sizeof(v[k].name));
		v[k].family = e->family;
		memcpy(v[k].addr, e->addr, 16);
		v[k].ttl_s = (uint32_t)(e->expires_s - now_s);
		k++;
	}
	qsort(v, k, sizeof(*v), by_name);
	*ret = v;
	*ret_n = k;
	return 0;
}
