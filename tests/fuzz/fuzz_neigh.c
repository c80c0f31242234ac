/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: rtnetlink neighbour datagrams (control/neigh.c) into
 * the identity registry (control/identity.c), as gwd reads the kernel's
 * neighbour tables of the LAN ports.  Input: one datagram.  Promises
 * checked:
 *   - every entry handed on has family 4 or 6, a usable address (no
 *     multicast, unspecified or loopback), and a unicast MAC unless it
 *     says the address is gone;
 *   - the same bytes give the same entries;
 *   - the registry takes every entry, and its file reads back the same.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity.h"
#include "neigh.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct got {
	struct gwd_neigh v[64];
	size_t n;
};

static void collect(const struct gwd_neigh *n, void *arg)
{
	struct got *g = arg;
	static const uint8_t zero[16];
	if (n->family != 4 && n->family != 6)
		abort();
	if (n->family == 4 && (n->addr[0] == 0 || n->addr[0] == 127 || n->addr[0] >= 224))
		abort();
	if (n->family == 6 && (n->addr[0] == 0xff || !memcmp(n->addr, zero, 16)))
		abort();
	if (n->has_mac && ((n->mac[0] & 1) || !memcmp(n->mac, zero, 6)))
		abort();
	if (!n->gone && !n->has_mac)
		abort();
	if (g->n < 64)
		g->v[g->n++] = *n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* 4-byte aligned, of its own size, as a datagram is read. */
	uint32_t *buf = malloc(size + 4);
	struct got a = { .n = 0 }, b = { .n = 0 };
	bool da, db;
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	int r = gwd_neigh_parse(buf, size, collect, &a, &da);
	int r2 = gwd_neigh_parse(buf, size, collect, &b, &db);
	if (r != r2 || da != db || a.n != b.n || memcmp(a.v, b.v, a.n * sizeof(a.v[0])))
		abort();
	struct gwd_identity *id;
	if (gwd_identity_new(&id) < 0)
		abort();
	for (size_t i = 0; i < a.n; i++) {
		unsigned ch;
		if (gwd_identity_neigh(id, &a.v[i], 1, 1795750000000LL + (int64_t)i, &ch) < 0)
			abort();
	}
	gwd_identity_neigh_sweep(id, (uint32_t)size);
	json_t *j = gwd_identity_to_json(id);
	struct gwd_identity *again;
	char err[256];
	if (!j || gwd_identity_new(&again) < 0 || gwd_identity_from_json(again, j, err, sizeof(err)) < 0)
		abort();
	json_t *j2 = gwd_identity_to_json(again);
	if (!json_equal(j, j2))
		abort();
	json_decref(j);
	json_decref(j2);
	gwd_identity_free(again);
	gwd_identity_free(id);
	free(buf);
	return 0;
}
