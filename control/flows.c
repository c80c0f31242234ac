/* SPDX-License-Identifier: MIT */
/*
 * The flow collector (flows.h).  Two fixed pools allocated once at
 * gwd_flows_new(), so the memory bound is a property of the caps and not
 * of the traffic:
 *   - flows: max_flows entries, a chained hash over the flow key, one LRU
 *     list over all flows (most recently updated at the head) and, per
 *     device, a list of that device's flows in the same order;
 *   - devices: max_devices entries, a chained hash over the MAC, one LRU
 *     list (most recently seen at the head).
 * Links are u32 indices into the pools (NIL: none), never pointers.
 *
 * A flow is attached to its device entry (flow->dev).  Evicting a device
 * detaches its flows; a detached flow attaches again, to a new entry for
 * its MAC, on its next event.  So a device's flows_live is the number of
 * flows attached to it, and no flow ever points at a reused entry.
 *
 * Counters: an event carries a flow's totals so far.  The growth since the
 * flow's previous event is added to the device; a counter that went down
 * means the engine started the flow over (an engine restart reuses the
 * key), and then the event's whole value is growth.  The growth is
 * "blocked" when the event's action is block or reject.
 *
 * The hash is keyed with a random seed, so LAN devices cannot choose flow
 * keys that all land in one chain.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "flows.h"
#include "ir.h"

#define NIL UINT32_MAX

struct flow_key {
	uint8_t engine, family, proto, pad;
	uint16_t sport, dport;
	uint8_t src[16], dst[16];
};

struct flow {
	struct flow_key key;
	struct gwd_flow_info info;
	uint32_t hnext;           /* hash chain, or the free list */
	uint32_t prev, next;      /* the LRU over all flows */
	uint32_t dprev, dnext;    /* the device's flows */
	uint32_t dev;             /* device entry, or NIL (detached) */
	bool used;
};

struct device {
	struct gwd_device_totals t;
	uint32_t hnext;
	uint32_t prev, next;      /* the LRU over devices */
	uint32_t flows;           /* head of its flow list (most recent first) */
	bool used;
};

struct gwd_flows {
	uint32_t max_flows, max_devices;
	uint32_t fmask, dmask;    /* buckets - 1 (a power of two) */
	uint64_t seed[2];
	struct flow *f;
	uint32_t *fbuckets;
	uint32_t fhead, ftail, ffree, nflows;
	struct device *d;
	uint32_t *dbuckets;
	uint32_t dhead, dtail, dfree, ndevices;
	gwd_flows_watch_fn watch;
	void *watch_arg;
};

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v;
	h *= 0x9e3779b97f4a7c15ull;
	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 29);
}

static uint64_t hash_bytes(const struct gwd_flows *f, const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = f->seed[0];
	while (n >= 8) {
		uint64_t v;
		memcpy(&v, b, 8);
		h = mix(h, v);
		b += 8;
		n -= 8;
	}
	uint64_t v = f->seed[1];
	memcpy(&v, b, n);
	return mix(h, v ^ n);
}

static uint32_t buckets_for(uint32_t n)
{
	uint32_t b = 1;
	while (b < n && b < (1u << 31))
		b <<= 1;
	return b;
}

int gwd_flows_new(uint32_t max_flows, uint32_t max_devices, struct gwd_flows **ret)
{
	if (!max_flows || !max_devices || max_flows == NIL || max_devices == NIL)
		return -EINVAL;
	struct gwd_flows *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->max_flows = max_flows;
	f->max_devices = max_devices;
	f->fmask = buckets_for(max_flows) - 1;
	f->dmask = buckets_for(max_devices) - 1;
	/* calloc: the kernel maps the zero pages lazily, so the cap costs
	 * nothing until traffic fills it. */
	f->f = calloc(max_flows, sizeof(*f->f));
	f->d = calloc(max_devices, sizeof(*f->d));
	f->fbuckets = malloc(((size_t)f->fmask + 1) * sizeof(uint32_t));
	f->dbuckets = malloc(((size_t)f->dmask + 1) * sizeof(uint32_t));
	if (!f->f || !f->d || !f->fbuckets || !f->dbuckets) {
		gwd_flows_free(f);
		return -ENOMEM;
	}
	memset(f->fbuckets, 0xff, ((size_t)f->fmask + 1) * sizeof(uint32_t));
	memset(f->dbuckets, 0xff, ((size_t)f->dmask + 1) * sizeof(uint32_t));
	for (uint32_t i = 0; i < max_flows; i++)
		f->f[i].hnext = i + 1 < max_flows ? i + 1 : NIL;
	for (uint32_t i = 0; i < max_devices; i++)
		f->d[i].hnext = i + 1 < max_devices ? i + 1 : NIL;
	f->ffree = 0;
	f->dfree = 0;
	f->fhead = f->ftail = f->dhead = f->dtail = NIL;
	if (getrandom(f->seed, sizeof(f->seed), GRND_NONBLOCK) != sizeof(f->seed)) {
		/* Early boot without entropy: the clock is a weaker seed, but
		 * the collector must not fail for it. */
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		f->seed[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)ts.tv_sec;
		f->seed[1] = (uint64_t)(uintptr_t)f;
	}
	*ret = f;
	return 0;
}

void gwd_flows_free(struct gwd_flows *f)
{
	if (!f)
		return;
	free(f->f);
	free(f->d);
	free(f->fbuckets);
	free(f->dbuckets);
	free(f);
}

size_t gwd_flows_memory(const struct gwd_flows *f)
{
	return sizeof(*f) + (size_t)f->max_flows * sizeof(struct flow) +
	       (size_t)f->max_devices * sizeof(struct device) +
	       ((size_t)f->fmask + 1 + (size_t)f->dmask + 1) * sizeof(uint32_t);
}

/* ---- devices ------------------------------------------------------------ */

static uint32_t dev_bucket(const struct gwd_flows *f, const uint8_t mac[6])
{
	return (uint32_t)hash_bytes(f, mac, 6) & f->dmask;
}

static uint32_t dev_find(const struct gwd_flows *f, const uint8_t mac[6])
{
	for (uint32_t i = f->dbuckets[dev_bucket(f, mac)]; i != NIL; i = f->d[i].hnext)
		if (!memcmp(f->d[i].t.mac, mac, 6))
			return i;
	return NIL;
}

static void dev_lru_unlink(struct gwd_flows *f, uint32_t i)
{
	struct device *d = &f->d[i];
	if (d->prev != NIL)
		f->d[d->prev].next = d->next;
	else
		f->dhead = d->next;
	if (d->next != NIL)
		f->d[d->next].prev = d->prev;
	else
		f->dtail = d->prev;
}

static void dev_lru_push(struct gwd_flows *f, uint32_t i)
{
	struct device *d = &f->d[i];
	d->prev = NIL;
	d->next = f->dhead;
	if (f->dhead != NIL)
		f->d[f->dhead].prev = i;
	else
		f->dtail = i;
	f->dhead = i;
}

static void dev_evict(struct gwd_flows *f, uint32_t i)
{
	struct device *d = &f->d[i];
	/* Its flows stay live, detached until their next event. */
	for (uint32_t fl = d->flows; fl != NIL;) {
		uint32_t next = f->f[fl].dnext;
		f->f[fl].dev = NIL;
		f->f[fl].dprev = f->f[fl].dnext = NIL;
		fl = next;
	}
	uint32_t *p = &f->dbuckets[dev_bucket(f, d->t.mac)];
	while (*p != i)
		p = &f->d[*p].hnext;
	*p = d->hnext;
	dev_lru_unlink(f, i);
	d->used = false;
	d->hnext = f->dfree;
	f->dfree = i;
	f->ndevices--;
}

static uint32_t dev_get(struct gwd_flows *f, const uint8_t mac[6], uint64_t now)
{
	uint32_t i = dev_find(f, mac);
	if (i != NIL) {
		dev_lru_unlink(f, i);
		dev_lru_push(f, i);
		return i;
	}
	if (f->dfree == NIL)
		dev_evict(f, f->dtail);
	i = f->dfree;
	struct device *d = &f->d[i];
	f->dfree = d->hnext;
	memset(d, 0, sizeof(*d));
	memcpy(d->t.mac, mac, 6);
	d->t.first_ms = d->t.last_ms = now;
	d->flows = NIL;
	d->used = true;
	uint32_t b = dev_bucket(f, mac);
	d->hnext = f->dbuckets[b];
	f->dbuckets[b] = i;
	dev_lru_push(f, i);
	f->ndevices++;
	return i;
}

/* ---- flows -------------------------------------------------------------- */

static void key_of(const struct gwd_flow_ev *ev, struct flow_key *k)
{
	memset(k, 0, sizeof(*k));
	k->engine = ev->engine;
	k->family = ev->family;
	k->proto = ev->proto;
	k->sport = ev->sport;
	k->dport = ev->dport;
	/* IPv4 lives in [0..3]; whatever follows is not part of the key. */
	size_t n = ev->family == 4 ? 4 : 16;
	memcpy(k->src, ev->src, n);
	memcpy(k->dst, ev->dst, n);
}

static uint32_t flow_bucket(const struct gwd_flows *f, const struct flow_key *k)
{
	return (uint32_t)hash_bytes(f, k, sizeof(*k)) & f->fmask;
}

static void flow_lru_unlink(struct gwd_flows *f, uint32_t i)
{
	struct flow *fl = &f->f[i];
	if (fl->prev != NIL)
		f->f[fl->prev].next = fl->next;
	else
		f->fhead = fl->next;
	if (fl->next != NIL)
		f->f[fl->next].prev = fl->prev;
	else
		f->ftail = fl->prev;
}

static void flow_lru_push(struct gwd_flows *f, uint32_t i)
{
	struct flow *fl = &f->f[i];
	fl->prev = NIL;
	fl->next = f->fhead;
	if (f->fhead != NIL)
		f->f[f->fhead].prev = i;
	else
		f->ftail = i;
	f->fhead = i;
}

static void flow_detach(struct gwd_flows *f, uint32_t i)
{
	struct flow *fl = &f->f[i];
	if (fl->dev == NIL)
		return;
	struct device *d = &f->d[fl->dev];
	if (fl->dprev != NIL)
		f->f[fl->dprev].dnext = fl->dnext;
	else
		d->flows = fl->dnext;
	if (fl->dnext != NIL)
		f->f[fl->dnext].dprev = fl->dprev;
	d->t.flows_live--;
	fl->dev = fl->dprev = fl->dnext = NIL;
}

static void flow_attach(struct gwd_flows *f, uint32_t i, uint32_t dev)
{
	struct flow *fl = &f->f[i];
	struct device *d = &f->d[dev];
	fl->dev = dev;
	fl->dprev = NIL;
	fl->dnext = d->flows;
	if (d->flows != NIL)
		f->f[d->flows].dprev = i;
	d->flows = i;
	d->t.flows_live++;
}

static void flow_remove(struct gwd_flows *f, uint32_t i)
{
	struct flow *fl = &f->f[i];
	flow_detach(f, i);
	uint32_t *p = &f->fbuckets[flow_bucket(f, &fl->key)];
	while (*p != i)
		p = &f->f[*p].hnext;
	*p = fl->hnext;
	flow_lru_unlink(f, i);
	fl->used = false;
	fl->hnext = f->ffree;
	f->ffree = i;
	f->nflows--;
}

static uint32_t flow_find(const struct gwd_flows *f, const struct flow_key *k)
{
	for (uint32_t i = f->fbuckets[flow_bucket(f, k)]; i != NIL; i = f->f[i].hnext)
		if (!memcmp(&f->f[i].key, k, sizeof(*k)))
			return i;
	return NIL;
}

static uint32_t flow_create(struct gwd_flows *f, const struct flow_key *k, uint64_t now)
{
	if (f->ffree == NIL) {
		/* Its totals are already its device's. */
		const struct flow *old = &f->f[f->ftail];
		if (f->watch) {
			struct gwd_flow_note n = { .ev = &old->info.last, .first_ms = old->info.first_ms,
						   .end = true, .evicted = true };
			f->watch(&n, f->watch_arg);
		}
		flow_remove(f, f->ftail);
	}
	uint32_t i = f->ffree;
	struct flow *fl = &f->f[i];
	f->ffree = fl->hnext;
	memset(fl, 0, sizeof(*fl));
	fl->key = *k;
	fl->info.first_ms = now;
	fl->dev = fl->dprev = fl->dnext = NIL;
	fl->used = true;
	uint32_t b = flow_bucket(f, k);
	fl->hnext = f->fbuckets[b];
	f->fbuckets[b] = i;
	flow_lru_push(f, i);
	f->nflows++;
	return i;
}

static uint64_t grew(uint64_t now, uint64_t before)
{
	return now >= before ? now - before : now;
}

void gwd_flows_feed(struct gwd_flows *f, const struct gwd_flow_ev *ev)
{
	if (ev->kind < GWD_FLOW_NEW || ev->kind > GWD_FLOW_END ||
	    (ev->family != 4 && ev->family != 6))
		return;
	struct flow_key k;
	key_of(ev, &k);
	uint64_t now = ev->time_ms;
	uint32_t i = flow_find(f, &k);
	bool fresh = i == NIL;
	if (fresh)
		i = flow_create(f, &k, now);
	struct flow *fl = &f->f[i];
	/* NEW for a key still live: the engine started the flow over. */
	const struct gwd_flow_ev *prev = fresh || ev->kind == GWD_FLOW_NEW ? NULL : &fl->info.last;
	if (!fresh && ev->kind == GWD_FLOW_NEW)
		fl->info.first_ms = now;
	uint32_t dev_before = dev_find(f, ev->mac);
	uint32_t dev = dev_get(f, ev->mac, now);
	struct gwd_flow_note note = {
		.ev = ev, .prev = prev, .first_ms = fl->info.first_ms, .start = !prev,
		.end = ev->kind == GWD_FLOW_END, .new_mac = dev_before == NIL,
	};
	/* To the head of its device's list: most recent first there too. */
	flow_detach(f, i);
	flow_attach(f, i, dev);
	struct gwd_device_totals *t = &f->d[dev].t;
	bool blocked = ev->action == POL_BLOCK || ev->action == POL_REJECT;
	if (fresh || ev->kind == GWD_FLOW_NEW)
		t->flows_total++;
	/* A flow newly blocked: at its start, or decided again from allow. */
	if (blocked && (!prev || (prev->action != POL_BLOCK && prev->action != POL_REJECT)))
		t->blocked_flows++;
	if (ev->family == 4 && now >= t->addr4_ms) {
		memcpy(t->addr4, ev->src, 4);
		t->addr4_ms = now ? now : 1;
	} else if (ev->family == 6 && now >= t->addr6_ms) {
		memcpy(t->addr6, ev->src, 16);
		t->addr6_ms = now ? now : 1;
	}
	for (int dir = 0; dir < 2; dir++) {
		uint64_t dp = grew(ev->pkts[dir], prev ? prev->pkts[dir] : 0);
		uint64_t db = grew(ev->bytes[dir], prev ? prev->bytes[dir] : 0);
		note.pkts[dir] = dp;
		note.bytes[dir] = db;
		t->pkts[dir] += dp;
		t->bytes[dir] += db;
		if (blocked) {
			t->blocked_pkts += dp;
			t->blocked_bytes += db;
		}
	}
	if (now > t->last_ms)
		t->last_ms = now;
	note.decided = prev && (prev->action != ev->action || prev->rule != ev->rule ||
				prev->generation != ev->generation);
	if (f->watch)
		f->watch(&note, f->watch_arg);
	if (ev->kind == GWD_FLOW_END) {
		flow_remove(f, i);
		return;
	}
	fl->info.last = *ev;
	flow_lru_unlink(f, i);
	flow_lru_push(f, i);
}

void gwd_flows_watch(struct gwd_flows *f, gwd_flows_watch_fn fn, void *arg)
{
	f->watch = fn;
	f->watch_arg = arg;
}

uint32_t gwd_flows_live(const struct gwd_flows *f)
{
	return f->nflows;
}

uint32_t gwd_flows_ndevices(const struct gwd_flows *f)
{
	return f->ndevices;
}

size_t gwd_flows_each(const struct gwd_flows *f, const uint8_t *mac, size_t limit,
		      gwd_flows_fn fn, void *arg)
{
	size_t n = 0;
	uint32_t dev = mac ? dev_find(f, mac) : NIL;
	/* A device's own list when it has an entry; otherwise its flows, if
	 * any, are detached ones, found on the global list. */
	bool own = dev != NIL;
	uint32_t i = own ? f->d[dev].flows : f->fhead;
	while (i != NIL && (!limit || n < limit)) {
		const struct flow *fl = &f->f[i];
		i = own ? fl->dnext : fl->next;
		if (mac && !own && memcmp(fl->info.last.mac, mac, 6))
			continue;
		n++;
		if (fn(&fl->info, arg))
			break;
	}
	return n;
}

int gwd_flows_device(const struct gwd_flows *f, const uint8_t mac[6],
		     struct gwd_device_totals *ret)
{
	uint32_t i = dev_find(f, mac);
	if (i == NIL)
		return -ENOENT;
	*ret = f->d[i].t;
	return 0;
}

size_t gwd_flows_devices(const struct gwd_flows *f, gwd_devices_fn fn, void *arg)
{
	size_t n = 0;
	for (uint32_t i = f->dhead; i != NIL; i = f->d[i].next) {
		n++;
		if (fn(&f->d[i].t, arg))
			break;
	}
	return n;
}
