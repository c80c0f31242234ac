/* SPDX-License-Identifier: MIT */
/* One arena per compilation: every AST node, name and list item of a
 * compilation is freed at once with the unit (STYLE.md). */
#ifndef GW_POLICY_ARENA_H
#define GW_POLICY_ARENA_H

#include <stdbool.h>
#include <stddef.h>

struct pol_arena;

struct pol_arena *pol_arena_new(void);
void pol_arena_free(struct pol_arena *a);
/* Zeroed, 8-byte aligned; NULL only when memory is exhausted. */
void *pol_arena_alloc(struct pol_arena *a, size_t size);
/* The same, not zeroed: for what the caller fills at once. */
void *pol_arena_alloc_raw(struct pol_arena *a, size_t size);
char *pol_arena_strndup(struct pol_arena *a, const char *s, size_t n);
char *pol_arena_printf(struct pol_arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A growable array whose storage comes from the arena (old storage is left
 * to the arena on growth: at most twice the final size is used). */
struct pol_vec {
	void *items;
	size_t n, cap;
};
/* Room for at least n items without growing; false when out of memory. */
bool pol_vec_reserve(struct pol_arena *a, struct pol_vec *v, size_t n, size_t size);
/* Returns a pointer to a new zeroed slot of `size` bytes, or NULL. */
void *pol_vec_push(struct pol_arena *a, struct pol_vec *v, size_t size);
#define VEC_AT(v, type, i) (&((type *)(v).items)[i])

#endif
