/* SPDX-License-Identifier: MIT */
/*
 * gwtop's model: what gwd reported, made into rows a person can read.  No
 * curses and no socket here (ui.c draws it, fetch.c feeds it), so the unit
 * tests drive it with the same JSON gwd sends.
 *
 * Devices come from the devices reply each tick, keyed by name (a device
 * of the policy) or MAC (a new one).  A device's rates are the growth of
 * its byte totals over the last TOP_RATE_WINDOW_MS of ticks (the engines
 * report a flow's counters about every 2 s, so one tick's growth would
 * jump between nothing and twice the rate); until the history spans
 * TOP_RATE_MIN_MS a rate is not known (shown "-", null in batch mode)
 * rather than a false 0; totals that went down (a restarted gwd) start
 * the history again.  "Blocked in the last minute"
 * is the growth of its blocked_flows over the last 60 s of snapshots
 * (since gwtop started, when that is less).  A device's flows (its flows
 * reply) get rates the same way, keyed by their 5-tuple and engine.
 * Blocks come from the flow.blocked events: the latest TOP_BLOCKS.
 */
#ifndef GW_TOOLS_GWTOP_MODEL_H
#define GW_TOOLS_GWTOP_MODEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOP_RATE_WINDOW_MS 5000
#define TOP_RATE_MIN_MS 2000   /* less history than the engines' reporting period: not known */
#define TOP_SAMPLES 8          /* per device or flow: the rate window's ticks */
#define TOP_BLOCK_SNAPS 8      /* per device: blocked_flows, one per >= 10 s */
#define TOP_BLOCKS 64
#define TOP_NAME 64

struct top_sample {
	uint64_t t_ms;         /* gwtop's monotonic clock */
	uint64_t out, in;      /* bytes so far */
};

struct top_dev {
	char key[TOP_NAME];    /* name, or "mac:" and the MAC for a new device */
	char name[TOP_NAME];   /* "" for a new device */
	char owner[TOP_NAME];
	char mac[18];          /* the first MAC */
	unsigned nmacs;
	char addr4[16], addr6[46];
	bool is_new;
	uint64_t bytes_out, bytes_in, pkts_out, pkts_in;
	uint64_t blocked_flows, flows_live, flows_total;
	double up_bps, down_bps; /* -1: not known yet */
	uint64_t blocked_1m;
	struct top_sample s[TOP_SAMPLES];
	unsigned ns, s_next;
	struct { uint64_t t_ms, blocked; } b[TOP_BLOCK_SNAPS];
	unsigned nb, b_next;
	uint64_t tick;         /* the tick that last saw it */
};

struct top_flow {
	char key[160];
	char device[TOP_NAME];  /* the device's name, else its MAC */
	char proto[16];
	char src[46], dst[46];
	unsigned sport, dport;
	int family;
	char domain[256];
	char verdict[8];
	char rule[TOP_NAME];
	char engine[12];
	uint64_t bytes_out, bytes_in, pkts_out, pkts_in, age_ms, idle_ms;
	double up_bps, down_bps;
	struct top_sample s[TOP_SAMPLES];
	unsigned ns, s_next;
	uint64_t tick;
};

struct top_block {
	uint64_t time_ms;      /* CLOCK_REALTIME, as gwd stamped it */
	char device[TOP_NAME];
	char peer[256];        /* domain, else address */
	char dst[46];
	unsigned dport;
	char proto[16];
	char verdict[8];
	char rule[TOP_NAME];
	char engine[12];
};

struct top_engine {
	char name[16];
	char state[128];
	uint64_t generation;
};

struct top_status {
	bool known;
	uint64_t generation;
	char hash[80];
	bool pending;
	uint64_t pending_gen, pending_prev;
	int64_t seconds_left;
	uint64_t fetched_ms;   /* when seconds_left was read (monotonic) */
	struct top_engine engines[8];
	unsigned nengines;
};

enum top_dev_sort { TOP_SORT_RATE, TOP_SORT_NAME, TOP_SORT_OWNER, TOP_SORT_UP, TOP_SORT_DOWN,
		    TOP_SORT_FLOWS, TOP_SORT_BLOCKED, TOP_SORT_TOTAL, TOP_DEV_SORTS };
enum top_flow_sort { TOP_FSORT_RATE, TOP_FSORT_PEER, TOP_FSORT_PORT, TOP_FSORT_UP,
		     TOP_FSORT_DOWN, TOP_FSORT_TOTAL, TOP_FSORT_AGE, TOP_FSORT_VERDICT,
		     TOP_FSORT_RULE, TOP_FLOW_SORTS };
extern const char *const top_dev_sort_names[TOP_DEV_SORTS];
extern const char *const top_flow_sort_names[TOP_FLOW_SORTS];

struct top_model {
	struct top_dev *devs;      /* in the reply's order */
	struct top_dev **by_key;   /* the same, sorted by key (for the next tick) */
	size_t ndevs, cap;
	uint64_t tick;
	struct top_flow *flows;
	size_t nflows, fcap;
	char flows_of[TOP_NAME]; /* the device key the flows are of */
	uint64_t flows_tick;     /* counts flows replies taken */
	struct top_block blocks[TOP_BLOCKS];
	unsigned nblocks, block_next;
	struct top_status status;
	double up_bps, down_bps; /* the gateway: the devices' sum; -1: none known */
	uint64_t blocked_1m;
};

void top_model_init(struct top_model *m);
void top_model_free(struct top_model *m);

/* A devices reply (docs/api.md) at now_ms (monotonic).  Devices not in it
 * leave the model. -EINVAL when it is not one. */
int top_model_devices(struct top_model *m, json_t *reply, uint64_t now_ms);
/* A flows reply for the device key (top_dev.key). */
int top_model_flows(struct top_model *m, const char *key, json_t *reply, uint64_t now_ms);
/* A status reply. */
int top_model_status(struct top_model *m, json_t *reply, uint64_t now_ms);
/* An event line: flow.blocked (and flow.decided to block or reject) go
 * to the blocks; others are ignored.  1 when it was a block. */
int top_model_event(struct top_model *m, json_t *ev);
/* Totals that went down: gwd restarted, every history starts again. */
void top_model_forget_rates(struct top_model *m);

/* The rows to show: indexes into m->devs (or m->flows), those matching
 * filter (case-insensitive substring of name, owner, MAC, addresses; of
 * peer, domain, rule, verdict, proto, port for flows; NULL or "": all),
 * sorted.  *ret malloc'd. */
int top_model_dev_view(const struct top_model *m, const char *filter, enum top_dev_sort sort,
		       bool reverse, bool totals, size_t **ret, size_t *ret_n);
int top_model_flow_view(const struct top_model *m, const char *filter, enum top_flow_sort sort,
			bool reverse, bool totals, size_t **ret, size_t *ret_n);
/* The device's request argument: its name, or its MAC for a new one. */
const char *top_dev_arg(const struct top_dev *d);

/* Batch mode's objects (docs/gwtop.md). */
json_t *top_dev_json(const struct top_dev *d, uint64_t tick, uint64_t time_ms);
json_t *top_flow_json(const struct top_flow *f, uint64_t tick, uint64_t time_ms);
json_t *top_gateway_json(const struct top_model *m, uint64_t tick, uint64_t time_ms);

/* Printable ASCII only (a name from the wire must not steer the terminal). */
void top_clean(char *dst, size_t n, const char *src);
/* 12.3 Mb/s: bits per second, decimal units; "-" when not known. */
void top_fmt_rate(char *buf, size_t n, double bps);

#endif
