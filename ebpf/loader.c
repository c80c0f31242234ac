/* SPDX-License-Identifier: MIT */
/*
 * The loader (loader.h): the skeleton's program and maps, and the slot
 * protocol of gw_bpf_abi.h.  Touches only the maps it created; attaches
 * nothing and pins nothing.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "classify.skel.h"
#include "loader.h"

struct gwbpf {
	struct classify_bpf *skel;
	int grace_fd, grace_inner_fd;
	uint64_t epoch;   /* what gw_epoch holds */
	bool staged;
	uint32_t staged_slot;
	int ncpus;
	struct ring_buffer *events;
	gwbpf_event_fn event_fn; /* of the drain under way */
	void *event_arg;
	int nevents;
};

static int on_event(void *ctx, void *data, size_t size)
{
	struct gwbpf *g = ctx;
	struct gwbpf_event e;
	/* The ring is shared memory: copy, and check the size first. */
	if (size < sizeof(e))
		return 0;
	memcpy(&e, data, sizeof(e));
	g->nevents++;
	return g->event_fn(&e, g->event_arg);
}

int gwbpf_events_drain(struct gwbpf *g, gwbpf_event_fn fn, void *arg)
{
	g->event_fn = fn;
	g->event_arg = arg;
	g->nevents = 0;
	int r = ring_buffer__consume(g->events);
	g->event_fn = NULL;
	return r < 0 ? r : g->nevents;
}

int gwbpf_events_fd(const struct gwbpf *g)
{
	return ring_buffer__epoll_fd(g->events);
}

int gwbpf_map_fd(const struct gwbpf *g, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(g->skel->obj, name);
	return m ? bpf_map__fd(m) : -ENOENT;
}

int gwbpf_prog_fd(const struct gwbpf *g)
{
	return bpf_program__fd(g->skel->progs.gw_classify);
}

int gwbpf_egress_prog_fd(const struct gwbpf *g)
{
	return bpf_program__fd(g->skel->progs.gw_egress);
}

uint64_t gwbpf_epoch(const struct gwbpf *g)
{
	return g->epoch;
}

int gwbpf_new(struct gwbpf **ret)
{
	struct gwbpf *g = calloc(1, sizeof(*g));
	int r = -ENOMEM;
	if (!g)
		return r;
	g->grace_fd = g->grace_inner_fd = -1;
	g->ncpus = libbpf_num_possible_cpus();
	if (g->ncpus <= 0) {
		r = g->ncpus ? g->ncpus : -EINVAL;
		goto fail;
	}
	g->skel = classify_bpf__open_and_load();
	if (!g->skel) {
		r = -errno;
		goto fail;
	}
	/* Updating a map-in-map returns only after an RCU grace period
	 * (maybe_wait_bpf_programs() in kernel/bpf/syscall.c): that is how
	 * userspace knows no program run still reads what it overwrites. */
	g->grace_inner_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "gw_grace_in", 4, 4, 1, NULL);
	if (g->grace_inner_fd < 0) {
		r = -errno;
		goto fail;
	}
	LIBBPF_OPTS(bpf_map_create_opts, o, .inner_map_fd = g->grace_inner_fd);
	g->grace_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "gw_grace", 4, 4, 1, &o);
	if (g->grace_fd < 0) {
		r = -errno;
		goto fail;
	}
	g->events = ring_buffer__new(bpf_map__fd(g->skel->maps.gw_events), on_event, g, NULL);
	if (!g->events) {
		r = -errno;
		goto fail;
	}
	uint32_t k = 0;
	if (bpf_map_lookup_elem(bpf_map__fd(g->skel->maps.gw_epoch), &k, &g->epoch) < 0) {
		r = -errno;
		goto fail;
	}
	*ret = g;
	return 0;
fail:
	gwbpf_free(g);
	return r;
}

void gwbpf_free(struct gwbpf *g)
{
	if (!g)
		return;
	ring_buffer__free(g->events);
	if (g->grace_fd >= 0)
		close(g->grace_fd);
	if (g->grace_inner_fd >= 0)
		close(g->grace_inner_fd);
	classify_bpf__destroy(g->skel);
	free(g);
}

static int grace(struct gwbpf *g)
{
	uint32_t k = 0;
	uint32_t v = (uint32_t)g->grace_inner_fd;
	return bpf_map_update_elem(g->grace_fd, &k, &v, BPF_ANY) < 0 ? -errno : 0;
}

/* Delete every key of a hash or LPM map whose slot byte (at `off` in the
 * key) is `slot`.  Keys are collected first: deleting while walking would
 * restart the walk. */
static int clear_slot(int fd, size_t ksize, size_t off, uint32_t slot)
{
	size_t n = 0, cap = 1024;
	uint8_t *keys = malloc(cap * ksize), *prev = NULL, cur[64], last[64];
	int r = 0;
	if (!keys)
		return -ENOMEM;
	while (bpf_map_get_next_key(fd, prev, cur) == 0) {
		if (cur[off] == slot) {
			if (n == cap) {
				uint8_t *k = realloc(keys, 2 * cap * ksize);
				if (!k) {
					r = -ENOMEM;
					goto out;
				}
				keys = k;
				cap *= 2;
			}
			memcpy(keys + n * ksize, cur, ksize);
			n++;
		}
		memcpy(last, cur, ksize);
		prev = last;
	}
	for (size_t i = 0; i < n; i++)
		if (bpf_map_delete_elem(fd, keys + i * ksize) < 0 && errno != ENOENT) {
			r = -errno;
			goto out;
		}
out:
	free(keys);
	return r;
}

/* values[i] goes to index first + i of an array map. */
static int fill_array(int fd, uint32_t first, const void *values, uint32_t n)
{
	uint32_t *keys = malloc((n ? n : 1) * sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		keys[i] = first + i;
	uint32_t count = n;
	int r = n ? bpf_map_update_batch(fd, keys, values, &count, NULL) : 0;
	r = r < 0 ? -errno : count == n ? 0 : -EIO;
	free(keys);
	return r;
}

static int write_epoch(struct gwbpf *g, uint64_t e)
{
	uint32_t k = 0;
	if (bpf_map_update_elem(bpf_map__fd(g->skel->maps.gw_epoch), &k, &e, BPF_ANY) < 0)
		return -errno;
	g->epoch = e;
	return 0;
}

static uint64_t next_number(uint64_t e)
{
	return (e + 1) & GWBPF_EPOCH_NUMBER;
}

int gwbpf_stage(struct gwbpf *g, const struct gwbpf_image *img,
		const struct gwbpf_bitmap *active)
{
	struct classify_bpf *s = g->skel;
	uint32_t slot = g->epoch & GWBPF_EPOCH_SLOT ? 0 : 1, k;
	int r;
	if (img->policy.nrules > GWBPF_MAX_RULES || img->policy.nbitmaps > GWBPF_MAX_BITMAPS)
		return -E2BIG;
	g->staged = false;
	if ((r = grace(g)) < 0)
		return r;
	if ((r = clear_slot(bpf_map__fd(s->maps.gw_macs), sizeof(struct gwbpf_mac_key),
			    offsetof(struct gwbpf_mac_key, slot), slot)) < 0 ||
	    (r = clear_slot(bpf_map__fd(s->maps.gw_prefixes), sizeof(struct gwbpf_lpm_key),
			    offsetof(struct gwbpf_lpm_key, slot), slot)) < 0 ||
	    (r = clear_slot(bpf_map__fd(s->maps.gw_domains), sizeof(struct gwbpf_addr_key),
			    offsetof(struct gwbpf_addr_key, slot), slot)) < 0 ||
	    (r = clear_slot(bpf_map__fd(s->maps.gw_rates), sizeof(struct gwbpf_rate_key),
			    offsetof(struct gwbpf_rate_key, slot), slot)) < 0)
		return r;

	if ((r = fill_array(bpf_map__fd(s->maps.gw_bitmaps), slot * GWBPF_MAX_BITMAPS,
			    img->bitmaps, img->policy.nbitmaps)) < 0 ||
	    (r = fill_array(bpf_map__fd(s->maps.gw_rules), slot * GWBPF_MAX_RULES, img->rules,
			    img->policy.nrules)) < 0 ||
	    (r = fill_array(bpf_map__fd(s->maps.gw_ports), slot * GWBPF_PORTS_PER_SLOT, img->ports,
			    GWBPF_PORTS_PER_SLOT)) < 0 ||
	    (r = fill_array(bpf_map__fd(s->maps.gw_active), slot * 2, active, 1)) < 0)
		return r;
	for (uint32_t i = 0; i < img->nmacs; i++) {
		struct gwbpf_mac_key mk = img->macs[i].key;
		mk.slot = (uint8_t)slot;
		if (bpf_map_update_elem(bpf_map__fd(s->maps.gw_macs), &mk, &img->macs[i].val,
					BPF_ANY) < 0)
			return -errno;
	}
	for (uint32_t i = 0; i < img->nprefixes; i++) {
		const struct gwbpf_prefix_entry *p = &img->prefixes[i];
		struct gwbpf_lpm_key lk = { .prefixlen = GWBPF_LPM_HEAD + p->plen,
					    .slot = (uint8_t)slot, .family = p->family };
		uint32_t v = p->bitmap;
		memcpy(lk.addr, p->addr, 16);
		if (bpf_map_update_elem(bpf_map__fd(s->maps.gw_prefixes), &lk, &v, BPF_ANY) < 0)
			return -errno;
	}
	k = slot;
	if (bpf_map_update_elem(bpf_map__fd(s->maps.gw_policy), &k, &img->policy, BPF_ANY) < 0)
		return -errno;
	g->staged = true;
	g->staged_slot = slot;
	return 0;
}

int gwbpf_commit(struct gwbpf *g)
{
	if (!g->staged)
		return -EINVAL;
	uint64_t e = next_number(g->epoch) | GWBPF_EPOCH_VALID |
		     (g->staged_slot ? GWBPF_EPOCH_SLOT : 0);
	int r = write_epoch(g, e);
	if (r == 0)
		g->staged = false;
	return r;
}

int gwbpf_set_active(struct gwbpf *g, const struct gwbpf_bitmap *active)
{
	if (!(g->epoch & GWBPF_EPOCH_VALID))
		return -EINVAL;
	uint32_t slot = g->epoch & GWBPF_EPOCH_SLOT ? 1 : 0;
	uint32_t buf = g->epoch & GWBPF_EPOCH_ACTIVE ? 0 : 1;
	int r = grace(g);
	if (r < 0 ||
	    (r = fill_array(bpf_map__fd(g->skel->maps.gw_active), slot * 2 + buf, active, 1)) < 0)
		return r;
	uint64_t e = next_number(g->epoch) | (g->epoch & (GWBPF_EPOCH_VALID | GWBPF_EPOCH_SLOT)) |
		     (buf ? GWBPF_EPOCH_ACTIVE : 0);
	return write_epoch(g, e);
}

int gwbpf_domain_set(struct gwbpf *g, bool staged, uint8_t family, const uint8_t addr[16],
		     uint64_t sets, uint64_t expires_ns)
{
	if (staged && !g->staged)
		return -EINVAL;
	if (family != 4 && family != 6)
		return -EINVAL;
	struct gwbpf_addr_key k = {
		.slot = (uint8_t)(staged ? g->staged_slot : (g->epoch & GWBPF_EPOCH_SLOT ? 1 : 0)),
		.family = family,
	};
	memcpy(k.addr, addr, family == 4 ? 4 : 16);
	int fd = bpf_map__fd(g->skel->maps.gw_domains);
	if (!sets)
		return bpf_map_delete_elem(fd, &k) < 0 && errno != ENOENT ? -errno : 0;
	struct gwbpf_domain_val v = { .sets = sets, .expires_ns = expires_ns };
	return bpf_map_update_elem(fd, &k, &v, BPF_ANY) < 0 ? -errno : 0;
}

int gwbpf_local_add(struct gwbpf *g, uint8_t family, const uint8_t addr[16])
{
	if (family != 4 && family != 6)
		return -EINVAL;
	struct gwbpf_addr_key k = { .family = family };
	uint32_t one = 1;
	memcpy(k.addr, addr, family == 4 ? 4 : 16);
	return bpf_map_update_elem(bpf_map__fd(g->skel->maps.gw_local), &k, &one, BPF_ANY) < 0
		       ? -errno : 0;
}

int gwbpf_counters(const struct gwbpf *g, uint64_t ret[GWBPF_CNT_COUNT])
{
	uint64_t *v = calloc((size_t)g->ncpus, sizeof(*v));
	int r = 0;
	if (!v)
		return -ENOMEM;
	for (uint32_t i = 0; i < GWBPF_CNT_COUNT; i++) {
		if (bpf_map_lookup_elem(bpf_map__fd(g->skel->maps.gw_counters), &i, v) < 0) {
			r = -errno;
			break;
		}
		ret[i] = 0;
		for (int c = 0; c < g->ncpus; c++)
			ret[i] += v[c];
	}
	free(v);
	return r;
}

int gwbpf_rule_stats(const struct gwbpf *g, uint32_t slot, uint32_t index,
		     struct gwbpf_rule_stats *ret)
{
	if (slot >= GWBPF_SLOTS || index >= GWBPF_RULE_STATS)
		return -EINVAL;
	struct gwbpf_rule_stats *v = calloc((size_t)g->ncpus, sizeof(*v));
	uint32_t k = slot * GWBPF_RULE_STATS + index;
	int r = 0;
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(g->skel->maps.gw_rule_stats), &k, v) < 0) {
		r = -errno;
	} else {
		*ret = (struct gwbpf_rule_stats){ 0 };
		for (int c = 0; c < g->ncpus; c++) {
			ret->packets += v[c].packets;
			ret->bytes += v[c].bytes;
		}
	}
	free(v);
	return r;
}

int gwbpf_device_stats(const struct gwbpf *g, const uint8_t mac[6],
		       struct gwbpf_device_stats *ret)
{
	struct gwbpf_device_stats *v = calloc((size_t)g->ncpus, sizeof(*v));
	struct gwbpf_device_key k = { .pad = { 0 } };
	int r = 0;
	if (!v)
		return -ENOMEM;
	memcpy(k.mac, mac, 6);
	if (bpf_map_lookup_elem(bpf_map__fd(g->skel->maps.gw_device_stats), &k, v) < 0) {
		r = -errno;
	} else {
		*ret = (struct gwbpf_device_stats){ 0 };
		for (int c = 0; c < g->ncpus; c++) {
			ret->packets_up += v[c].packets_up;
			ret->bytes_up += v[c].bytes_up;
			ret->packets_down += v[c].packets_down;
			ret->bytes_down += v[c].bytes_down;
		}
	}
	free(v);
	return r;
}
