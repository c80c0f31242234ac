/* SPDX-License-Identifier: MIT */
/*
 * The runtime device table: source MAC -> device index of the running
 * image, as DEVICE_SET (proto.h) writes it.  It overrides the image's own
 * MAC table for the MACs it holds (classify.c asks it first).
 *
 * One table is immutable: a DEVICE_SET builds a new one from the running
 * table and the request (dp_devtab_apply), the agent publishes it with one
 * pointer swap on the policy generation it belongs to
 * (dp_classify_swap_bindings), and frees the old one once every worker has
 * passed a quiescent point (RCU, as for policy generations).  Workers
 * search it lock-free: a sorted array of MACs as integers, binary search;
 * a home has a few dozen bindings, and without any the pointer is NULL.
 * No DPDK here (plain malloc), so the unit tests run it as it is.
 */
#ifndef GW_DATAPLANE_DEVICES_H
#define GW_DATAPLANE_DEVICES_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct dp_devtab;

/* The device a table binds mac to, or POL_NONE (no binding). */
uint32_t dp_devtab_find(const struct dp_devtab *t, const uint8_t mac[6]);
/* Bindings in t (0 for NULL). */
uint32_t dp_devtab_count(const struct dp_devtab *t);
/* Binding i (< count) of t: its MAC and device, in MAC order. */
void dp_devtab_at(const struct dp_devtab *t, uint32_t i, uint8_t ret_mac[6], uint32_t *ret_dev);

/* A new table: old (NULL: none) with n checked entries (proto.c) applied
 * in order, the last one for a MAC winning.  Every bind must name a device
 * below ndevices (-ENODEV, the entry named in err); more than capacity
 * bindings after it is -ENOSPC; -ENOMEM.  On error *ret is untouched and
 * nothing changed; *ret is NULL when no binding is left. */
int dp_devtab_apply(const struct dp_devtab *old, const struct dp_device_entry *v, uint32_t n,
		    uint32_t ndevices, uint32_t capacity, struct dp_devtab **ret, char *err,
		    size_t errlen);
void dp_devtab_free(struct dp_devtab *t);

#endif
