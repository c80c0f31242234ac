/* SPDX-License-Identifier: MIT */
/*
 * Per-worker rate meters (see meter.h): an rte_hash from the key to a slot
 * of an array of srTCM meters with their profiles.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_hash.h>
#include <rte_jhash.h>
#include <rte_malloc.h>
#include <rte_meter.h>

#include "tables.h"
#include "meter.h"

struct slot {
	struct rte_meter_srtcm m;
	struct rte_meter_srtcm_profile p;
	uint64_t rate_bps; /* what p was made for */
	uint64_t last_ms;
	struct dp_meter_key key;
};

struct dp_meters {
	struct rte_hash *h;
	struct slot *slots;
	uint32_t capacity, used, scan;
	uint64_t unmetered;
};

int dp_meters_new(const char *name, uint32_t capacity, int socket, struct dp_meters **ret)
{
	struct dp_meters *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	struct rte_hash_parameters hp = {
		.name = name,
		.entries = capacity,
		.key_len = sizeof(struct dp_meter_key),
		.hash_func = rte_jhash,
		.socket_id = socket,
		.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE,
	};
	m->capacity = capacity;
	m->h = rte_hash_create(&hp);
	m->slots = rte_zmalloc_socket("dp_meter_slots", (capacity + 1) * sizeof(*m->slots),
				      RTE_CACHE_LINE_SIZE, socket);
	if (!m->h || !m->slots) {
		dp_meters_free(m);
		return -ENOMEM;
	}
	*ret = m;
	return 0;
}

void dp_meters_free(struct dp_meters *m)
{
	if (!m)
		return;
	rte_hash_free(m->h);
	rte_free(m->slots);
	free(m);
}

uint64_t dp_meters_unmetered(const struct dp_meters *m)
{
	return m->unmetered;
}

/* Makes room by dropping meters idle for DP_METER_IDLE_MS (a scan of at
 * most the whole table, resumed where the last one stopped). */
static bool recycle(struct dp_meters *m, uint64_t now_ms)
{
	for (uint32_t seen = 0; seen <= m->capacity; seen++) {
		struct slot *s = &m->slots[m->scan];
		m->scan = m->scan >= m->capacity ? 0 : m->scan + 1;
		if (!s->rate_bps || now_ms - s->last_ms < DP_METER_IDLE_MS)
			continue;
		if (rte_hash_del_key(m->h, &s->key) >= 0)
			m->used--;
		s->rate_bps = 0;
		return true;
	}
	return false;
}

static int configure(struct slot *s, uint64_t rate_bps)
{
	uint64_t bytes_per_s = rate_bps / 8 ? rate_bps / 8 : 1;
	uint64_t burst = bytes_per_s * POL_TABLES_RATE_BURST_MS / 1000;
	if (burst < POL_TABLES_RATE_BURST_MIN)
		burst = POL_TABLES_RATE_BURST_MIN;
	struct rte_meter_srtcm_params params = { .cir = bytes_per_s, .cbs = burst, .ebs = 0 };
	int r = rte_meter_srtcm_profile_config(&s->p, &params);
	if (r == 0)
		r = rte_meter_srtcm_config(&s->m, &s->p);
	if (r == 0)
		s->rate_bps = rate_bps;
	return r;
}

bool dp_meters_pass(struct dp_meters *m, const struct dp_meter_key *k, uint64_t rate_bps,
		    uint32_t len, uint64_t tsc, uint64_t now_ms)
{
	if (rate_bps / 8 > 10000000000ull) /* 80 Gbit/s: beyond, no limit bites (as eBPF) */
		return true;
	int32_t pos = rte_hash_lookup(m->h, k);
	if (pos < 0) {
		if (m->used == m->capacity && !recycle(m, now_ms)) {
			m->unmetered++;
			return true;
		}
		pos = rte_hash_add_key(m->h, k);
		if (pos < 0) {
			m->unmetered++;
			return true;
		}
		m->used++;
		m->slots[pos].rate_bps = 0;
		m->slots[pos].key = *k;
	}
	struct slot *s = &m->slots[pos];
	if (s->rate_bps != rate_bps && configure(s, rate_bps) < 0) {
		m->unmetered++;
		return true;
	}
	s->last_ms = now_ms;
	return rte_meter_srtcm_color_blind_check(&s->m, &s->p, tsc, len) == RTE_COLOR_GREEN;
}
