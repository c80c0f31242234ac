/* SPDX-License-Identifier: MIT */
/*
 * gwd's flow collector: what every engine saw, in one live table.
 *
 * Engines report flow events (the dataplane's EVENTS, the eBPF ring
 * buffer) as struct gwd_flow_ev; the collector keeps
 *   - live flows, keyed by (engine, family, proto, src, dst, sport, dport),
 *     with their latest counters, verdict and rule; at most max_flows (the
 *     least recently updated goes first when full, its totals kept);
 *   - per-device totals, keyed by the device's MAC: packets and bytes both
 *     ways, split by verdict (allowed / blocked), which survive the end of
 *     the flow; at most max_devices MACs (the least recently seen goes).
 * Memory is bounded: gwd_flows_memory() is the most it will ever hold,
 * and the cap is stated in docs/api.md.
 *
 * Counters in events are a flow's totals so far (not increments): the
 * collector adds to the device totals only what grew since the previous
 * event of that flow, so repeated COUNTERS events never count twice.
 *
 * No I/O, no event loop: gwd's engines feed it, the API reads it.
 */
#ifndef GW_CONTROL_FLOWS_H
#define GW_CONTROL_FLOWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum gwd_flow_kind {
	GWD_FLOW_NEW = 1,      /* first decision */
	GWD_FLOW_UPDATE = 2,   /* counters, or decided again (new generation) */
	GWD_FLOW_END = 3,      /* final counters; the flow leaves the live table */
};

enum gwd_flow_engine {
	GWD_ENGINE_DATAPLANE = 0,
	GWD_ENGINE_EBPF = 1,
	GWD_ENGINE_NFT = 2,
};

struct gwd_flow_ev {
	uint8_t kind;    /* enum gwd_flow_kind */
	uint8_t engine;  /* enum gwd_flow_engine */
	uint8_t family;  /* 4 or 6 */
	uint8_t proto;   /* IPPROTO_* */
	uint8_t action;  /* enum pol_action (policy/ir.h) */
	uint8_t log;     /* the deciding rule logs */
	uint8_t mac[6];  /* the LAN device's MAC */
	uint8_t src[16], dst[16]; /* as the device's opening packet had them; IPv4 in [0..3] */
	uint16_t sport, dport;
	uint32_t rule;       /* deciding rule index, or POL_RULE_DEFAULT* */
	uint32_t generation; /* gwd's generation that decided */
	uint64_t pkts[2], bytes[2]; /* totals so far; [0]: from the device */
	uint64_t time_ms;    /* CLOCK_REALTIME */
};

struct gwd_flows;

/* -ENOMEM, -EINVAL (a zero cap). */
int gwd_flows_new(uint32_t max_flows, uint32_t max_devices, struct gwd_flows **ret);
void gwd_flows_free(struct gwd_flows *f);
/* The most bytes the collector can hold with its caps. */
size_t gwd_flows_memory(const struct gwd_flows *f);

void gwd_flows_feed(struct gwd_flows *f, const struct gwd_flow_ev *ev);

/* A live flow as the API shows it. */
struct gwd_flow_info {
	struct gwd_flow_ev last; /* the latest event's fields (kind: NEW or UPDATE) */
	uint64_t first_ms;       /* when the collector first heard of it */
};

/*
 * What one event did, for whoever watches the collector (gwd's live
 * events and metrics): told after the event is counted, once per event,
 * and once more for a flow pushed out of a full table.
 */
struct gwd_flow_note {
	const struct gwd_flow_ev *ev;   /* the event (evicted: the flow's last one) */
	const struct gwd_flow_ev *prev; /* the flow's previous event; NULL at its start */
	uint64_t first_ms;              /* when the collector first heard of the flow */
	uint64_t pkts[2], bytes[2];     /* what the event added to its device's totals */
	bool start;    /* the flow's first event (or NEW: the engine started it over) */
	bool decided;  /* not the start, and the verdict, rule or generation differ
			* from the previous event's (a new generation decides every
			* live flow again, most often the same way) */
	bool end;      /* the flow left the table: END, or evicted */
	bool evicted;  /* pushed out of the full table, not ended by its engine */
	bool new_mac;  /* the device's MAC got an entry now (first seen, or seen
			* again after its entry was pushed out) */
};
typedef void (*gwd_flows_watch_fn)(const struct gwd_flow_note *n, void *arg);
/* One watcher (NULL: none); it must not feed the collector. */
void gwd_flows_watch(struct gwd_flows *f, gwd_flows_watch_fn fn, void *arg);
/* Live flows and devices (MACs) in the tables now. */
uint32_t gwd_flows_live(const struct gwd_flows *f);
uint32_t gwd_flows_ndevices(const struct gwd_flows *f);

struct gwd_device_totals {
	uint8_t mac[6];
	uint64_t pkts[2], bytes[2];          /* all verdicts; [0]: from the device */
	uint64_t blocked_pkts, blocked_bytes; /* of those, decided block or reject */
	uint32_t flows_live;                 /* live flows now */
	uint64_t flows_total;                /* flows ever seen */
	uint64_t blocked_flows;              /* of those, decided block or reject (a
						live flow decided again so counts again) */
	uint64_t first_ms, last_ms;
	/* The device's addresses as its latest flows had them (the source of
	 * a flow it opened): the newest IPv4 and the newest IPv6 address, at
	 * addr4_ms / addr6_ms (0: none seen). */
	uint8_t addr4[4], addr6[16];
	uint64_t addr4_ms, addr6_ms;
};

/* Calls fn for each live flow, most recently updated first; mac NULL for
 * every device, else only that device's.  Stops after limit (0: no limit)
 * or when fn returns nonzero.  Returns how many fn saw. */
typedef int (*gwd_flows_fn)(const struct gwd_flow_info *fi, void *arg);
size_t gwd_flows_each(const struct gwd_flows *f, const uint8_t *mac, size_t limit,
		      gwd_flows_fn fn, void *arg);

/* Device totals: 0 and *ret, or -ENOENT. */
int gwd_flows_device(const struct gwd_flows *f, const uint8_t mac[6],
		     struct gwd_device_totals *ret);
typedef int (*gwd_devices_fn)(const struct gwd_device_totals *d, void *arg);
size_t gwd_flows_devices(const struct gwd_flows *f, gwd_devices_fn fn, void *arg);

#endif
