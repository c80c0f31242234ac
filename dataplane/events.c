/* SPDX-License-Identifier: MIT */
/*
 * The flow event queue (see events.h): an rte_ring of 104-byte elements
 * (rte_ring_elem), enqueued by any worker, dequeued by the agent alone.
 */
#include <errno.h>
#include <stdlib.h>

#include <rte_errno.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "events.h"

struct dp_events {
	struct rte_ring *ring;
	uint64_t lost;      /* atomic: any producer adds */
	uint64_t lost_told; /* the consumer's: what it reported */
};

int dp_events_new(const char *name, int socket, struct dp_events **ret)
{
	struct dp_events *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->ring = rte_ring_create_elem(name, sizeof(struct dp_flow_event), DP_EVENT_RING,
				       socket, RING_F_SC_DEQ | RING_F_EXACT_SZ);
	if (!q->ring) {
		int r = -rte_errno;
		free(q);
		return r ? r : -ENOMEM;
	}
	*ret = q;
	return 0;
}

void dp_events_free(struct dp_events *q)
{
	if (!q)
		return;
	rte_ring_free(q->ring);
	free(q);
}

void dp_events_put(struct dp_events *q, const struct dp_flow_event *ev)
{
	if (rte_ring_mp_enqueue_elem(q->ring, (void *)ev, sizeof(*ev)) != 0)
		__atomic_fetch_add(&q->lost, 1, __ATOMIC_RELAXED);
}

unsigned dp_events_take(struct dp_events *q, struct dp_flow_event *out, unsigned max,
			uint32_t *ret_lost)
{
	unsigned n = rte_ring_sc_dequeue_burst_elem(q->ring, out, sizeof(*out), max, NULL);
	uint64_t lost = __atomic_load_n(&q->lost, __ATOMIC_RELAXED);
	uint64_t d = lost - q->lost_told;
	q->lost_told = lost;
	*ret_lost = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
	return n;
}
