/* SPDX-License-Identifier: MIT */
/* The punt path's policers (see punt.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "punt.h"

#define BURST_S_DIV 10 /* a burst is a tenth of a second's worth */
#define BURST_MIN 16
/* Cells a source has (punt.h): two, at places its hash's low and high
 * bits give. */
#define SOURCE_WAYS 2u

/* ARP, ND and DHCP are small and few a device; a LAN's services (DNS
 * above all) and the kernel path's downloads (kernel ports' replies,
 * the gateway's own connections) are real traffic and get room for it. */
const struct dp_punt_rate dp_punt_default[DP_PUNT_COUNT] = {
	[DP_PUNT_ARP] = { .pps = 1000, .src_pps = 50 },
	[DP_PUNT_ND] = { .pps = 1000, .src_pps = 50 },
	[DP_PUNT_DHCP] = { .pps = 500, .src_pps = 25 },
	[DP_PUNT_ICMP] = { .pps = 1000, .src_pps = 100 },
	[DP_PUNT_GATEWAY] = { .pps = 20000, .src_pps = 5000 },
	[DP_PUNT_KERNEL] = { .pps = 200000, .src_pps = 50000 },
	[DP_PUNT_MULTICAST] = { .pps = 1000, .src_pps = 100 },
};

/* A cell: the theoretical arrival time of the next packet (GCRA), in
 * clock cycles; a packet may pass while it is no later than now + tau. */
struct limit {
	uint64_t t;   /* cycles per packet (0: the rate is 0, nothing passes) */
	uint64_t tau; /* the burst's worth of cycles */
};

struct dp_police {
	/* src: one of a source's two cells, each half its share */
	struct limit cls[DP_PUNT_COUNT], src[DP_PUNT_COUNT];
	/* Cells, each on its own: classes on cache lines of their own (all
	 * workers hit them), sources packed. */
	struct {
		uint64_t tat;
		uint8_t pad[56];
	} cls_cell[DP_PUNT_ROLES][DP_PUNT_COUNT];
	uint64_t src_cell[DP_PUNT_ROLES][DP_PUNT_COUNT][DP_PUNT_SOURCE_CELLS];
};

/* The limit of pps and its burst, split evenly over cells cells: each
 * cell gets 1/cells of the rate and of the burst (rounded up), so a
 * sender that has them all to itself gets the whole of both. */
static struct limit limit_of(uint32_t pps, uint64_t hz, unsigned cells)
{
	struct limit l = { 0, 0 };
	if (!pps)
		return l;
	uint64_t burst = pps / BURST_S_DIV < BURST_MIN ? BURST_MIN : pps / BURST_S_DIV;
	burst = (burst + cells - 1) / cells;
	l.t = hz * cells / pps ? hz * cells / pps : 1;
	l.tau = l.t * burst;
	return l;
}

int dp_police_new(const struct dp_punt_rate rates[DP_PUNT_COUNT], uint64_t hz,
		  struct dp_police **ret)
{
	if (!hz)
		return -EINVAL;
	/* aligned_alloc wants a size that is a multiple of the alignment
	 * (C11 7.22.3.1; ASan refuses any other). */
	struct dp_police *p = aligned_alloc(64, (sizeof(*p) + 63) & ~(size_t)63);
	if (!p)
		return -ENOMEM;
	memset(p, 0, sizeof(*p));
	for (int i = 0; i < DP_PUNT_COUNT; i++) {
		p->cls[i] = limit_of(rates[i].pps, hz, 1);
		p->src[i] = limit_of(rates[i].src_pps, hz, SOURCE_WAYS);
	}
	*ret = p;
	return 0;
}

void dp_police_free(struct dp_police *p)
{
	free(p);
}

/* One GCRA step on a shared cell: takes a packet's tokens if the cell
 * has them. */
static bool take(uint64_t *cell, const struct limit *l, uint64_t now)
{
	if (!l->t)
		return false;
	uint64_t old = __atomic_load_n(cell, __ATOMIC_RELAXED);
	for (;;) {
		uint64_t tat = old > now ? old : now;
		if (tat - now > l->tau)
			return false;
		if (__atomic_compare_exchange_n(cell, &old, tat + l->t, false, __ATOMIC_RELAXED,
						__ATOMIC_RELAXED))
			return true;
	}
}

enum dp_drop dp_police_check(struct dp_police *p, unsigned role, enum dp_punt why, uint32_t source,
			     uint64_t now)
{
	if (role >= DP_PUNT_ROLES || (unsigned)why >= DP_PUNT_COUNT)
		return DP_DROP_PUNT_LIMIT;
	/* The source's two cells; of them the one with more tokens left
	 * (the earlier arrival time) first. */
	uint64_t *cells = p->src_cell[role][why];
	unsigned a = source % DP_PUNT_SOURCE_CELLS, b = (source >> 10) % DP_PUNT_SOURCE_CELLS;
	if (b == a)
		b = (a + 1) % DP_PUNT_SOURCE_CELLS;
	if (__atomic_load_n(&cells[b], __ATOMIC_RELAXED) < __atomic_load_n(&cells[a], __ATOMIC_RELAXED)) {
		unsigned t = a;
		a = b;
		b = t;
	}
	if (!take(&cells[a], &p->src[why], now) && !take(&cells[b], &p->src[why], now))
		return DP_DROP_PUNT_SOURCE_LIMIT;
	if (!take(&p->cls_cell[role][why].tat, &p->cls[why], now))
		return DP_DROP_PUNT_LIMIT;
	return DP_DROP_COUNT;
}

static bool number(const char *s, const char *end, uint32_t *ret)
{
	uint64_t v = 0;
	if (s == end || end - s > 9)
		return false;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*ret = (uint32_t)v;
	return true;
}

int dp_punt_rate_parse(const char *s, struct dp_punt_rate rates[DP_PUNT_COUNT], char *err,
		       size_t errlen)
{
	const char *eq = strchr(s, '='), *slash = eq ? strchr(eq, '/') : NULL;
	if (!eq || !slash) {
		snprintf(err, errlen, "'%s': want CLASS=PPS/SOURCE_PPS", s);
		return -EINVAL;
	}
	int cls = -1;
	for (int i = 0; i < DP_PUNT_COUNT; i++) {
		const char *n = dp_punt_name((enum dp_punt)i);
		if (strlen(n) == (size_t)(eq - s) && !memcmp(n, s, (size_t)(eq - s)))
			cls = i;
	}
	if (cls < 0) {
		snprintf(err, errlen, "'%.*s' is not a punt class (arp, nd, dhcp, icmp, gateway, "
			 "kernel, multicast)", (int)(eq - s), s);
		return -EINVAL;
	}
	struct dp_punt_rate r;
	if (!number(eq + 1, slash, &r.pps) || !number(slash + 1, slash + strlen(slash), &r.src_pps) ||
	    r.src_pps > r.pps) {
		snprintf(err, errlen, "'%s': rates are packets a second (0-999999999), the "
			 "source's no more than the class's", s);
		return -EINVAL;
	}
	rates[cls] = r;
	return 0;
}
