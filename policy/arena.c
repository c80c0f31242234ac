/* SPDX-License-Identifier: MIT */
/* Bump allocator in large blocks; see arena.h. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

struct block {
	struct block *next;
	size_t used, size;
	_Alignas(16) unsigned char data[];
};

struct pol_arena {
	struct block *head;
};

#define BLOCK_SIZE (1u << 20)

struct pol_arena *pol_arena_new(void)
{
	return calloc(1, sizeof(struct pol_arena));
}

void pol_arena_free(struct pol_arena *a)
{
	if (!a)
		return;
	for (struct block *b = a->head, *next; b; b = next) {
		next = b->next;
		free(b);
	}
	free(a);
}

void *pol_arena_alloc(struct pol_arena *a, size_t size)
{
	void *p = pol_arena_alloc_raw(a, size);
	if (p)
		memset(p, 0, size);
	return p;
}

void *pol_arena_alloc_raw(struct pol_arena *a, size_t size)
{
	size = (size + 7) & ~(size_t)7;
	struct block *b = a->head;
	if (!b || b->size - b->used < size) {
		size_t bsize = size > BLOCK_SIZE / 4 ? size : BLOCK_SIZE;
		struct block *nb = malloc(sizeof(*nb) + bsize);
		if (!nb)
			return NULL;
		nb->used = 0;
		nb->size = bsize;
		if (b && bsize != BLOCK_SIZE) {
			/* A big allocation gets its own block behind the
			 * current one, so the current one stays in use. */
			nb->next = b->next;
			b->next = nb;
			b = nb;
		} else {
			nb->next = b;
			a->head = b = nb;
		}
	}
	void *p = b->data + b->used;
	b->used += size;
	return p;
}

char *pol_arena_strndup(struct pol_arena *a, const char *s, size_t n)
{
	char *p = pol_arena_alloc_raw(a, n + 1);
	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *pol_arena_printf(struct pol_arena *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	char *p = pol_arena_alloc(a, (size_t)n + 1);
	if (!p)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

bool pol_vec_reserve(struct pol_arena *a, struct pol_vec *v, size_t n, size_t size)
{
	if (n <= v->cap)
		return true;
	if (n > SIZE_MAX / size)
		return false;
	void *items = pol_arena_alloc_raw(a, n * size);
	if (!items)
		return false;
	if (v->n)
		memcpy(items, v->items, v->n * size);
	v->items = items;
	v->cap = n;
	return true;
}

void *pol_vec_push(struct pol_arena *a, struct pol_vec *v, size_t size)
{
	if (v->n == v->cap) {
		size_t ncap = v->cap ? v->cap * 2 : 8;
		if (ncap > SIZE_MAX / size)
			return NULL;
		void *n = pol_arena_alloc_raw(a, ncap * size);
		if (!n)
			return NULL;
		if (v->n)
			memcpy(n, v->items, v->n * size);
		v->items = n;
		v->cap = ncap;
	}
	void *slot = (unsigned char *)v->items + v->n * size;
	v->n++;
	memset(slot, 0, size);
	return slot;
}
