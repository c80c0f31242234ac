/* SPDX-License-Identifier: MIT */
/*
 * The runtime device table (see devices.h).  A table is built whole and
 * never written after it is published.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices.h"
#include "ir.h"

struct binding {
	uint64_t mac;    /* byte 0 highest: sorted as the bytes are */
	uint32_t device; /* POL_NONE while building: an unbind */
	uint32_t order;  /* while building: later entries win */
};

struct dp_devtab {
	uint32_t n;
	struct binding v[]; /* sorted by mac, unique */
};

static uint64_t mac_value(const uint8_t mac[6])
{
	uint64_t v = 0;
	for (int i = 0; i < 6; i++)
		v = v << 8 | mac[i];
	return v;
}

uint32_t dp_devtab_find(const struct dp_devtab *t, const uint8_t mac[6])
{
	if (!t)
		return POL_NONE;
	uint64_t v = mac_value(mac);
	uint32_t lo = 0, hi = t->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (t->v[mid].mac == v)
			return t->v[mid].device;
		if (t->v[mid].mac < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return POL_NONE;
}

uint32_t dp_devtab_count(const struct dp_devtab *t)
{
	return t ? t->n : 0;
}

void dp_devtab_at(const struct dp_devtab *t, uint32_t i, uint8_t ret_mac[6], uint32_t *ret_dev)
{
	for (int k = 0; k < 6; k++)
		ret_mac[k] = (uint8_t)(t->v[i].mac >> (8 * (5 - k)));
	*ret_dev = t->v[i].device;
}

static int by_mac_order(const void *a, const void *b)
{
	const struct binding *x = a, *y = b;
	if (x->mac != y->mac)
		return x->mac < y->mac ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

int dp_devtab_apply(const struct dp_devtab *old, const struct dp_device_entry *v, uint32_t n,
		    uint32_t ndevices, uint32_t capacity, struct dp_devtab **ret, char *err,
		    size_t errlen)
{
	for (uint32_t i = 0; i < n; i++) {
		if (v[i].op == DP_DEVICE_BIND && v[i].device >= ndevices) {
			snprintf(err, errlen,
				 "device_set entry %u: device %u, the running image has %u devices", i,
				 v[i].device, ndevices);
			return -ENODEV;
		}
	}
	/* The old bindings first, then the request's entries in order; a
	 * stable order per MAC keeps the last word for each. */
	uint32_t nold = dp_devtab_count(old), total = nold + n;
	struct binding *all = malloc((total ? total : 1) * sizeof(*all));
	if (!all) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < nold; i++)
		all[i] = (struct binding){ old->v[i].mac, old->v[i].device, i };
	for (uint32_t i = 0; i < n; i++)
		all[nold + i] = (struct binding){
			mac_value(v[i].mac), v[i].op == DP_DEVICE_BIND ? v[i].device : POL_NONE,
			nold + i
		};
	qsort(all, total, sizeof(*all), by_mac_order);
	uint32_t kept = 0;
	for (uint32_t i = 0; i < total; i++) {
		if (i + 1 < total && all[i + 1].mac == all[i].mac)
			continue; /* a later word for this MAC */
		if (all[i].device != POL_NONE)
			all[kept++] = all[i];
	}
	if (kept > capacity) {
		free(all);
		snprintf(err, errlen, "the device table holds %u bindings; this request leaves %u",
			 capacity, kept);
		return -ENOSPC;
	}
	struct dp_devtab *t = NULL;
	if (kept) {
		t = malloc(sizeof(*t) + kept * sizeof(t->v[0]));
		if (!t) {
			free(all);
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		t->n = kept;
		for (uint32_t i = 0; i < kept; i++)
			t->v[i] = (struct binding){ all[i].mac, all[i].device, 0 };
	}
	free(all);
	*ret = t;
	return 0;
}

void dp_devtab_free(struct dp_devtab *t)
{
	free(t);
}
