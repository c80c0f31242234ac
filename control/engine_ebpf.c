/* SPDX-License-Identifier: MIT */
/*
 * The eBPF engine (engine_ebpf.h).  Touches the loader's maps and pins,
 * the configured ports' XDP and TC hooks, and STATE_DIR/engine-ebpf/.
 */
#include <arpa/inet.h>
#include <net/if.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "clock.h"
#include "engine_ebpf.h"
#include "eval.h"
#include "flows.h"
#include "image.h"
#include "loader.h"
#include "log.h"
#include "store.h"

#define EXPIRE_S      10
#define IDLE_NS       (300ull * 1000000000ull)
#define GEN_MAP       16
#define HORIZON_S     86400 /* the timeline reaches a day ahead */
#define FWD_CHECK_S   1     /* the XDP forward's egresses checked again */

_Static_assert(GWD_EBPF_FLOWS_DEFAULT == GWBPF_FLOWS_DEFAULT &&
	       GWD_EBPF_FLOWS_MIN == GWBPF_FLOWS_MIN && GWD_EBPF_FLOWS_MAX == GWBPF_FLOWS_MAX,
	       "gwd.conf's ebpf_flows bounds are the loader's");

struct bpf_engine {
	struct gwd_engine base;
	struct gwbpf *g;
	struct gwd_flows *flows;
	char ports[GWD_MAX_PORTS][GWD_IFNAME_MAX];
	int mode[GWD_MAX_PORTS]; /* GWBPF_XDP_*, GWBPF_TC as last seen, 0: not enforced */
	uint8_t attach;          /* gwd.conf's ebpf_attach (GWD_EBPF_ATTACH_*) */
	unsigned nports;
	char live_path[GWD_PATH_MAX + 32]; /* generation and epoch gwd last made live */
	uint32_t staged_gen;               /* 0: nothing staged */
	uint32_t nrules;                   /* of the live generation */
	struct pol_ir *ir, *staged_ir;     /* the live and the staged policy */
	char state_dir[GWD_PATH_MAX];
	int64_t timeline_min;              /* wall minute of the last timeline built */
	uint32_t staged_timeline;          /* entries of the staged one, 0: none */
	struct gwbpf_schedule sched;       /* scratch for the timeline */
	struct { uint32_t epoch, gen; } genmap[GEN_MAP];
	unsigned ngenmap;
	char state[300];
	/* tail: a read GWBPF_EVENTS_WAKE_NS after one that found events,
	 * for those the programs put in without a wakeup (gw_bpf_abi.h). */
	struct event *events, *tail, *expire, *fwd;
	/* The XDP forward's possible egresses (gw_bpf_abi.h, "Forwarding in
	 * XDP"): the WAN and LAN ports, where no gw TC program counts or
	 * decides; none when gwd.conf says ebpf_forward = off. */
	char fwd_ports[2 * GWD_MAX_PORTS][GWD_IFNAME_MAX];
	uint32_t fwd_flags[2 * GWD_MAX_PORTS]; /* GWBPF_FWD_* */
	unsigned nfwd_ports;
	uint32_t udp_timeout_ms; /* as last written to gw_fwd_conf */
	bool fwd_new;            /* gwd.conf's ebpf_forward_new */
	bool fwd_xdp;            /* XDP forwards too (ebpf_forward = on), not only TC */
	int fwd_n;     /* egresses in gw_fwd_ifs after the last check, -1: none yet */
	int fwd_nxdp;  /* of them, those taking XDP's redirects */
	int fwd_error; /* the last check's error, logged once */
};

static void set_state(struct bpf_engine *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_state(struct bpf_engine *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	gwd_engine_vset_state(b->state, sizeof(b->state), "ebpf", fmt, ap);
	va_end(ap);
}

static void map_epoch(struct bpf_engine *b)
{
	uint32_t epoch = (uint32_t)(gwbpf_epoch(b->g) & GWBPF_EPOCH_NUMBER);
	/* A new timeline keeps the generation: its first epoch says it. */
	if (b->ngenmap && b->genmap[b->ngenmap - 1].gen == b->base.generation)
		return;
	if (b->ngenmap == GEN_MAP) {
		memmove(b->genmap, b->genmap + 1, sizeof(b->genmap[0]) * (GEN_MAP - 1));
		b->ngenmap--;
	}
	b->genmap[b->ngenmap].epoch = epoch;
	b->genmap[b->ngenmap].gen = b->base.generation;
	b->ngenmap++;
}

static uint32_t gen_of(const struct bpf_engine *b, uint32_t epoch)
{
	for (unsigned i = b->ngenmap; i-- > 0;)
		if (b->genmap[i].epoch <= epoch)
			return b->genmap[i].gen;
	return 0;
}

/* "GEN EPOCH NRULES\n": what a restarted gwd compares with the pins. */
static int save_live(struct bpf_engine *b, char *err, size_t errlen)
{
	char line[96];
	int n = snprintf(line, sizeof(line), "%u %llu %u\n", b->base.generation,
			 (unsigned long long)gwbpf_epoch(b->g), b->nrules);
	int r = gwd_write_file(b->live_path, line, (size_t)n, true);
	if (r < 0)
		snprintf(err, errlen, "%.200s: %s", b->live_path, strerror(-r));
	map_epoch(b);
	return r;
}

/* ir's schedule timeline (loader.h, gwbpf_timeline_build) in b->sched:
 * first (gwd's mask now, or NULL: computed here as gwd computes it) from
 * now, then the masks of the next HORIZON_S seconds minute by minute, then
 * the restrictive mask.  1: built; 0: no timeline is due, the mask now
 * holds for ever (a policy without schedules, whose masks are all one; or
 * a wall clock that cannot be believed: no boundary can be computed, and
 * gwd's mask then is the restrictive one). */
static int build_timeline(struct bpf_engine *b, const struct pol_ir *ir, time_t now,
			  const struct gwbpf_bitmap *first, char *err, size_t errlen)
{
	struct gwbpf_schedule *sc = &b->sched;
	struct gwbpf_bitmap now_mask, closed = { { 0 } };
	char why[160];
	int r;
	if (!gwd_clock_synchronised(now, why, sizeof(why)))
		return 0;
	if (!first) {
		struct pol_when when;
		if ((r = pol_when_at(ir, now, &when)) < 0) {
			snprintf(err, errlen, "the policy's time zone: %s", strerror(-r));
			return r;
		}
		gwbpf_active_mask(ir, when, &now_mask);
		first = &now_mask;
	}
	if (ir->nrules <= GWBPF_MAX_RULES) {
		uint64_t m[GWBPF_WORDS] = { 0 };
		gwd_sched_restrictive(ir, m);
		memcpy(closed.w, m, sizeof(m));
	}
	if ((r = gwbpf_timeline_build(ir, (int64_t)now, HORIZON_S, first, &closed, sc)) < 0) {
		snprintf(err, errlen, "the schedule's timeline: %s", strerror(-r));
		return r;
	}
	return sc->n > 1 || memcmp(&sc->active[0], &closed, sizeof(closed));
}

/* The live generation's timeline into the kernel (gwbpf_set_timeline),
 * where it differs from the live one; first as build_timeline's.  1:
 * written; 0: the live one stands. */
static int push_timeline(struct bpf_engine *b, const struct gwbpf_bitmap *first, char *err,
			 size_t errlen)
{
	time_t now = time(NULL);
	if (!b->ir || !b->base.generation)
		return 0;
	b->timeline_min = (int64_t)now / 60;
	int r = build_timeline(b, b->ir, now, first, err, errlen);
	if (r == 0 && first) {
		if ((r = gwbpf_set_active(b->g, first)) < 0)
			snprintf(err, errlen, "set_active: %s", strerror(-r));
		return r < 0 ? r : 1;
	}
	if (r <= 0)
		return r;
	if ((r = gwbpf_set_timeline(b->g, &b->sched)) < 0) {
		snprintf(err, errlen, "set_timeline: %s", strerror(-r));
		return r;
	}
	if (r > 0)
		gwd_log("ebpf_timeline", "gen=%u epoch=%llu entries=%u end=%lld", b->base.generation,
			(unsigned long long)(gwbpf_epoch(b->g) & GWBPF_EPOCH_NUMBER), b->sched.n,
			(long long)b->sched.end_s);
	return r;
}

static int save_live(struct bpf_engine *b, char *err, size_t errlen);
static void fwd_check(struct bpf_engine *b);

/* push_timeline, and the epoch it made recorded; failures logged. */
static void renew_timeline(struct bpf_engine *b)
{
	char why[256], q[300];
	int r = push_timeline(b, NULL, why, sizeof(why));
	if (r > 0)
		r = save_live(b, why, sizeof(why));
	if (r < 0)
		gwd_log("ebpf_timeline_failed", "gen=%u reason=%s", b->base.generation,
			gwd_log_value(q, sizeof(q), why));
}

static void load_live(struct bpf_engine *b)
{
	char *text;
	size_t len;
	unsigned gen, nrules;
	unsigned long long epoch;
	if (gwd_read_file(b->live_path, 128, &text, &len) < 0)
		return;
	if (sscanf(text, "%u %llu %u", &gen, &epoch, &nrules) == 3 && gwbpf_adopted(b->g) &&
	    epoch == gwbpf_epoch(b->g) && (epoch & GWBPF_EPOCH_VALID)) {
		b->base.generation = gen;
		b->nrules = nrules;
		map_epoch(b);
		gwd_log("ebpf_adopt", "gen=%u epoch=%llu", gen, epoch & GWBPF_EPOCH_NUMBER);
		/* The policy, for the timeline: from gwd's history. */
		void *image = NULL;
		size_t size = 0;
		json_t *entry = NULL;
		char why[256], q[300];
		int r = gwd_history_get(b->state_dir, gen, &entry, &image, &size);
		json_decref(entry);
		if (r == 0)
			r = pol_image_load(image, size, &b->ir, why, sizeof(why));
		else
			snprintf(why, sizeof(why), "history entry %u: %s", gen, strerror(-r));
		free(image);
		if (r < 0)
			gwd_log("ebpf_timeline_failed", "gen=%u reason=%s", gen,
				gwd_log_value(q, sizeof(q), why));
		else
			renew_timeline(b);
	}
	free(text);
}

/* The hook a port's classifier is to run at (GWBPF_HOOK_*): gwd.conf's
 * ebpf_attach, or for auto the port's kind (docs/ebpf.md, "Two hooks"). */
static int port_hook(const struct bpf_engine *b, const char *port)
{
	if (b->attach == GWD_EBPF_ATTACH_XDP)
		return GWBPF_HOOK_XDP;
	if (b->attach == GWD_EBPF_ATTACH_TC)
		return GWBPF_HOOK_TC;
	int h = gwbpf_hook_auto(port);
	return h < 0 ? GWBPF_HOOK_XDP : h;
}

/* Every configured port enforced now: gw's programs on it at its hook
 * (XDP, native or generic, or TC ingress) and TC egress, attached again
 * where they went missing or sit at the other hook (an interface
 * recreated, a program taken off, ebpf_attach changed), and its source
 * prefixes synced with its addresses.  0, or -errno with the first port that is not
 * enforced, and why, in err; the engine's state says the same. */
static int enforce_ports(struct bpf_engine *b, char *err, size_t errlen)
{
	int first = 0;
	for (unsigned i = 0; i < b->nports; i++) {
		const char *port = b->ports[i];
		int m = gwbpf_port_mode(b->g, port), r = 0, hook = port_hook(b, port);
		if (m >= 0 && (m == GWBPF_TC) != (hook == GWBPF_HOOK_TC)) {
			gwd_log("ebpf_port_moved", "port=%s from=%s", port, gwbpf_mode_name(m));
			b->mode[i] = 0;
			m = -EAGAIN;
		}
		if (m < 0) {
			if (b->mode[i]) {
				char q[128];
				gwd_log("ebpf_port_lost", "port=%s reason=%s", port,
					gwd_log_value(q, sizeof(q), strerror(-m)));
			}
			b->mode[i] = 0;
			r = gwbpf_attach_hook(b->g, port, hook);
			if (r == 0 && (m = gwbpf_port_mode(b->g, port)) < 0)
				r = m;
			if (r == 0)
				gwd_log("ebpf_attach", "port=%s mode=%s", port, gwbpf_mode_name(m));
		} else {
			r = gwbpf_port_sync(b->g, port);
		}
		if (r == 0) {
			b->mode[i] = m;
			continue;
		}
		b->mode[i] = 0;
		if (!first) {
			first = r;
			snprintf(err, errlen, "port %s is not enforced: %s%s", port, strerror(-r),
				 r == -EBUSY ? " (another XDP program or TC filter is there)" : "");
		}
	}
	if (first)
		set_state(b, "degraded: %s", err);
	else
		set_state(b, "ok");
	return first;
}

static int prepare(struct gwd_engine *e, uint32_t gen, const void *image, size_t size,
		   const struct pol_ir *given, char *err, size_t errlen)
{
	struct bpf_engine *b = (struct bpf_engine *)e;
	struct pol_ir *own = NULL;
	const struct pol_ir *ir = given;
	struct pol_tables *tables = NULL;
	struct gwbpf_bitmap active;
	struct pol_when when;
	b->staged_gen = 0;
	pol_ir_free(b->staged_ir);
	b->staged_ir = NULL;
	int r;
	/* A copy of its own: the timeline is computed from it until the
	 * next commit. */
	if ((r = pol_image_load(image, size, &own, err, errlen)) < 0)
		return r;
	if (!ir)
		ir = own;
	if ((r = pol_when_at(ir, time(NULL), &when)) < 0) {
		snprintf(err, errlen, "the policy's time zone: %s", strerror(-r));
		goto out;
	}
	/* No apply succeeds while a configured port would be left open. */
	if ((r = enforce_ports(b, err, errlen)) < 0)
		goto out;
	r = gwbpf_tables_build(ir, &tables);
	if (r == -E2BIG) {
		snprintf(err, errlen, "the policy does not fit the eBPF tables (%u rules, at most "
			 "%u, or too many distinct bitmaps)", ir->nrules, GWBPF_MAX_RULES);
		goto out;
	}
	if (r < 0) {
		snprintf(err, errlen, "building the tables: %s", strerror(-r));
		goto out;
	}
	gwbpf_active_mask(ir, when, &active);
	if ((r = gwbpf_stage(b->g, tables, &active)) < 0) {
		snprintf(err, errlen, "staging: %s", strerror(-r));
		goto out;
	}
	/* The generation goes live with its schedules' timeline. */
	b->staged_timeline = 0;
	if ((r = build_timeline(b, ir, time(NULL), &active, err, errlen)) < 0)
		goto out;
	if (r > 0) {
		if ((r = gwbpf_stage_timeline(b->g, &b->sched)) < 0) {
			snprintf(err, errlen, "staging the timeline: %s", strerror(-r));
			goto out;
		}
		b->staged_timeline = b->sched.n;
	}
	r = 0;
	b->timeline_min = (int64_t)time(NULL) / 60;
	b->staged_gen = gen;
	b->staged_ir = own;
	own = NULL;
out:
	pol_tables_free(tables);
	pol_ir_free(own);
	return r;
}

static int domain_write(struct bpf_engine *b, bool staged, const struct gwd_domain_entry *v,
			size_t n, char *err, size_t errlen)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	for (size_t i = 0; i < n; i++) {
		int r = gwbpf_domain_set(b->g, staged, v[i].family, v[i].addr, v[i].sets,
					 now + (uint64_t)v[i].ttl_s * 1000000000ull);
		if (r < 0) {
			char a[INET6_ADDRSTRLEN] = "?";
			inet_ntop(v[i].family == 4 ? AF_INET : AF_INET6, v[i].addr, a, sizeof(a));
			snprintf(err, errlen, "domain entry %s: %s", a, strerror(-r));
			return r;
		}
	}
	return 0;
}

static int stage_domains(struct gwd_engine *e, const struct gwd_domain_entry *v, size_t n,
			 char *err, size_t errlen)
{
	struct bpf_engine *b = (struct bpf_engine *)e;
	if (!b->staged_gen) {
		snprintf(err, errlen, "nothing staged");
		return -EINVAL;
	}
	return domain_write(b, true, v, n, err, errlen);
}

static int set_domains(struct gwd_engine *e, const struct gwd_domain_entry *v, size_t n,
		       char *err, size_t errlen)
{
	struct bpf_engine *b = (struct bpf_engine *)e;
	if (!e->generation) {
		snprintf(err, errlen, "no policy is live");
		return -EINVAL;
	}
	return domain_write(b, false, v, n, err, errlen);
}

static int commit(struct gwd_engine *e, char *err, size_t errlen)
{
	struct bpf_engine *b = (struct bpf_engine *)e;
	if (!b->staged_gen) {
		snprintf(err, errlen, "nothing staged");
		return -EINVAL;
	}
	int r = gwbpf_commit(b->g);
	if (r < 0) {
		snprintf(err, errlen, "commit: %s", strerror(-r));
		return r;
	}
	e->generation = b->staged_gen;
	b->staged_gen = 0;
	pol_ir_free(b->ir);
	b->ir = b->staged_ir;
	b->staged_ir = NULL;
	b->nrules = b->ir->nrules;
	gwd_log("ebpf_commit", "gen=%u timeline=%u epoch=%llu", e->generation, b->staged_timeline,
		(unsigned long long)(gwbpf_epoch(b->g) & GWBPF_EPOCH_NUMBER));
	fwd_check(b);
	/* Live already: a failed record only costs a re-stage at restart. */
	char why[256];
	if (save_live(b, why, sizeof(why)) < 0) {
		char q[300];
		gwd_log("ebpf_record_failed", "reason=%s", gwd_log_value(q, sizeof(q), why));
	}
	return 0;
}

static void abort_(struct gwd_engine *e)
{
	/* The staged slot is idle: the next stage overwrites it. */
	struct bpf_engine *b = (struct bpf_engine *)e;
	b->staged_gen = 0;
	pol_ir_free(b->staged_ir);
	b->staged_ir = NULL;
}

static int set_active(struct gwd_engine *e, const uint64_t *mask, uint32_t nrules, char *err,
		      size_t errlen)
{
	struct bpf_engine *b = (struct bpf_engine *)e;
	if (!e->generation || nrules != b->nrules || nrules > GWBPF_MAX_RULES) {
		snprintf(err, errlen, "a mask for %u rules, the live policy has %u", nrules,
			 b->nrules);
		return -ESTALE;
	}
	struct gwbpf_bitmap a = { { 0 } };
	memcpy(a.w, mask, (nrules + 63) / 64 * sizeof(uint64_t));
	/* gwd's mask from now, and the schedules after it; without the
	 * policy (not expected: commit and adopt keep it), the mask alone. */
	int r = b->ir ? push_timeline(b, &a, err, errlen) : gwbpf_set_active(b->g, &a);
	if (r < 0) {
		if (!b->ir)
			snprintf(err, errlen, "set_active: %s", strerror(-r));
		return r;
	}
	if (!b->ir)
		r = 1;
	if (r == 0)
		return 0;
	char why[256];
	if (save_live(b, why, sizeof(why)) < 0) {
		char q[300];
		gwd_log("ebpf_record_failed", "reason=%s", gwd_log_value(q, sizeof(q), why));
	}
	return 0;
}

static const char *state(const struct gwd_engine *e)
{
	return ((const struct bpf_engine *)e)->state;
}

/* The port's hook as last seen (enforce_ports: start, applies, every
 * 10 s). */
static const char *port_mode(const struct gwd_engine *e, const char *port)
{
	const struct bpf_engine *b = (const struct bpf_engine *)e;
	for (unsigned i = 0; i < b->nports; i++)
		if (!strcmp(b->ports[i], port))
			return gwbpf_mode_name(b->mode[i]);
	return NULL;
}

/* gw_counters (ebpf/gw_bpf_abi.h, enum gwbpf_counter): what XDP ingress
 * and TC egress saw and dropped, with the drop reasons named as the
 * dataplane names the same ones. */
static int counters(struct gwd_engine *e, gwd_counter_fn fn, void *arg, char *err,
		    size_t errlen)
{
	static const struct {
		uint8_t cnt;
		const char *kind, *where, *name;
	} map[] = {
		{ GWBPF_CNT_PACKETS, "packets", "ingress", "rx" },
		{ GWBPF_CNT_EGRESS, "packets", "egress", "rx" },
		{ GWBPF_CNT_XDP_FORWARD, "packets", "xdp_forward", "rx" },
		{ GWBPF_CNT_XDP_REFRESH, "packets", "xdp_refresh", "rx" },
		{ GWBPF_CNT_XDP_CREATED, "packets", "xdp_created", "rx" },
		{ GWBPF_CNT_DROP, "drop", "ingress", "policy_block" },
		{ GWBPF_CNT_REJECT, "drop", "ingress", "policy_reject" },
		{ GWBPF_CNT_REJECT_DROP, "drop", "ingress", "policy_reject_unanswered" },
		{ GWBPF_CNT_TRUNCATED, "drop", "ingress", "truncated" },
		{ GWBPF_CNT_MAP_MISS, "drop", "ingress", "map_miss" },
		{ GWBPF_CNT_RATE_DROP, "drop", "ingress", "rate_limit" },
		{ GWBPF_CNT_EGRESS_DROP, "drop", "egress", "policy_block" },
		{ GWBPF_CNT_EGRESS_RATE_DROP, "drop", "egress", "rate_limit" },
	};
	uint64_t v[GWBPF_CNT_COUNT];
	int r = gwbpf_counters(((struct bpf_engine *)e)->g, v);
	if (r < 0) {
		snprintf(err, errlen, "reading gw_counters: %s", strerror(-r));
		return r;
	}
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		fn(map[i].kind, map[i].where, map[i].name, v[map[i].cnt], arg);
	return 0;
}

static int on_event(const struct gwbpf_event *x, void *arg)
{
	struct bpf_engine *b = arg;
	static const uint8_t kinds[] = {
		[GWBPF_EV_NEW] = GWD_FLOW_NEW, [GWBPF_EV_DECIDED] = GWD_FLOW_UPDATE,
		[GWBPF_EV_END] = GWD_FLOW_END,
	};
	if (x->kind == GWBPF_EV_SHAPE) {
		/* A rate's class is wanted: the programs police the rate
		 * until it is made. */
		int r = gwbpf_shape(b->g, x);
		char mac[18], q[128];
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", x->mac[0], x->mac[1],
			 x->mac[2], x->mac[3], x->mac[4], x->mac[5]);
		if (r > 0)
			gwd_log("ebpf_shaper", "rule=%u device=%d mac=%s dir=%s port=%u", x->rule,
				x->device == ~0u ? -1 : (int)x->device, mac,
				x->dir == GWBPF_DIR_UP ? "up" : "down", x->ifindex);
		else if (r < 0)
			gwd_log("ebpf_shaper_failed", "rule=%u mac=%s dir=%s reason=%s", x->rule, mac,
				x->dir == GWBPF_DIR_UP ? "up" : "down",
				gwd_log_value(q, sizeof(q), strerror(-r)));
		return 0;
	}
	if (x->kind < GWBPF_EV_NEW || x->kind > GWBPF_EV_END ||
	    (x->key.family != 4 && x->key.family != 6))
		return 0;
	struct timespec mono, real;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &mono);
	clock_gettime(CLOCK_REALTIME, &real);
	uint64_t mono_ns = (uint64_t)mono.tv_sec * 1000000000ull + (uint64_t)mono.tv_nsec;
	uint64_t real_ms = (uint64_t)real.tv_sec * 1000 + (uint64_t)real.tv_nsec / 1000000;
	uint64_t age_ms = mono_ns > x->time_ns ? (mono_ns - x->time_ns) / 1000000 : 0;
	struct gwd_flow_ev ev = {
		.kind = kinds[x->kind], .engine = GWD_ENGINE_EBPF, .family = x->key.family,
		.proto = x->key.proto, .action = x->action,
		.log = (x->flags & POL_TABLES_RULE_LOG) != 0,
		.sport = ntohs(x->key.sport), .dport = ntohs(x->key.dport),
		.rule = x->rule, .generation = gen_of(b, x->epoch),
		.pkts = { x->packets, x->packets_down }, .bytes = { x->bytes, x->bytes_down },
		.time_ms = real_ms - age_ms,
	};
	memcpy(ev.mac, x->mac, 6);
	memcpy(ev.src, x->key.src, 16);
	memcpy(ev.dst, x->key.dst, 16);
	if (b->flows)
		gwd_flows_feed(b->flows, &ev);
	return 0;
}

static void on_events(evutil_socket_t fd, short what, void *arg)
{
	struct bpf_engine *b = arg;
	if (gwbpf_events_drain(b->g, on_event, b) > 0) {
		struct timeval tv = { .tv_usec = GWBPF_EVENTS_WAKE_NS / 1000 };
		evtimer_add(b->tail, &tv);
	}
}

static void on_expire(evutil_socket_t fd, short what, void *arg)
{
	struct bpf_engine *b = arg;
	uint32_t n = 0;
	int r = gwbpf_flows_expire(b->g, IDLE_NS, &n);
	if (r < 0)
		gwd_log("ebpf_expire_failed", "reason=%s", strerror(-r));
	else if (n)
		gwd_log("ebpf_expire", "flows=%u", n);
	/* The rates' classes of devices with no flow left go with them. */
	if ((r = gwbpf_shapes_expire(b->g, &n)) < 0) {
		char q[128];
		gwd_log("ebpf_shaper_expire_failed", "reason=%s",
			gwd_log_value(q, sizeof(q), strerror(-r)));
	}
	else if (n)
		gwd_log("ebpf_shaper_expire", "classes=%u", n);
	char why[GWD_IFNAME_MAX + 128];
	enforce_ports(b, why, sizeof(why));
	/* Once a minute: the timeline again (pushed where it moved: a clock
	 * step, a boundary coming into the day ahead, an hour gone). */
	if ((int64_t)time(NULL) / 60 != b->timeline_min)
		renew_timeline(b);
}

static void free_(struct gwd_engine *e)
{
	struct bpf_engine *b = (struct bpf_engine *)e;
	if (b->events)
		event_free(b->events);
	if (b->tail)
		event_free(b->tail);
	if (b->expire)
		event_free(b->expire);
	if (b->fwd)
		event_free(b->fwd);
	/* Programs and pins stay: enforcement goes on while gwd is down. */
	gwbpf_free(b->g);
	pol_ir_free(b->ir);
	pol_ir_free(b->staged_ir);
	free(b);
}

/* gw_fwd_ifs against the ports' XDP features now: on start, every
 * FWD_CHECK_S (a veth takes redirected frames only while its peer has GRO
 * or XDP on) and after every apply. */
static void fwd_check(struct bpf_engine *b)
{
	struct gwbpf_fwd_if want[2 * GWD_MAX_PORTS];
	size_t n = 0;
	for (unsigned i = 0; i < b->nfwd_ports; i++) {
		unsigned x = if_nametoindex(b->fwd_ports[i]);
		if (x)
			want[n++] = (struct gwbpf_fwd_if){ .ifindex = (int)x, .flags = b->fwd_flags[i] };
	}
	/* New flows' conntrack entries get the namespace's own UDP timeout;
	 * 0: none are made in XDP. */
	uint32_t ms = 0;
	if (b->nfwd_ports && b->fwd_new) {
		FILE *f = fopen("/proc/sys/net/netfilter/nf_conntrack_udp_timeout", "r");
		unsigned s = 0;
		if (f && fscanf(f, "%u", &s) == 1 && s > 0 && s < 86400)
			ms = s * 1000u;
		if (f)
			fclose(f);
	}
	int r = gwbpf_fwd_conf(b->g, ms);
	if (r == 0 && ms != b->udp_timeout_ms)
		gwd_log("ebpf_forward_new", "udp_timeout_ms=%u", ms);
	if (r == 0)
		b->udp_timeout_ms = ms;
	uint32_t have = 0, xdp = 0;
	int r2 = gwbpf_fwd_sync(b->g, want, n, b->fwd_xdp, &have, &xdp);
	if (r == 0)
		r = r2;
	if (r < 0 && r != b->fwd_error) {
		char q[128];
		gwd_log("ebpf_forward_check_failed", "reason=%s",
			gwd_log_value(q, sizeof(q), strerror(-r)));
	}
	b->fwd_error = r < 0 ? r : 0;
	/* egresses: TC's redirects reach them all; xdp: XDP's, those. */
	if ((int)have != b->fwd_n || (int)xdp != b->fwd_nxdp)
		gwd_log("ebpf_forward", "egresses=%u xdp=%u ports=%zu", have, xdp, n);
	b->fwd_n = (int)have;
	b->fwd_nxdp = (int)xdp;
}

/* Whether a program reads gw_fwd_ifs now: gw_classify only with
 * ebpf_forward = on, gw_classify_tc on the ports at TC ingress (their
 * hooks as enforce_ports last saw them). */
static bool fwd_used(const struct bpf_engine *b)
{
	if (b->fwd_xdp)
		return true;
	for (unsigned i = 0; i < b->nports; i++)
		if (b->mode[i] == GWBPF_TC)
			return true;
	return false;
}

static void on_fwd(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	/* Ports all at XDP with the forward not set there (a NIC's default):
	 * the map is read by no one, and the second's check is skipped. */
	if (fwd_used(arg))
		fwd_check(arg);
}

static const struct gwd_engine_ops bpf_ops = {
	.name = "ebpf",
	.prepare = prepare,
	.stage_domains = stage_domains,
	.commit = commit,
	.abort = abort_,
	.set_active = set_active,
	.set_domains = set_domains,
	.counters = counters,
	.state = state,
	.port_mode = port_mode,
	.free = free_,
};

int gwd_engine_ebpf_new(struct event_base *base, const struct gwd_config *cfg,
			struct gwd_flows *flows, struct gwd_engine **ret, char *err,
			size_t errlen)
{
	struct bpf_engine *b = calloc(1, sizeof(*b));
	if (!b) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	b->base.ops = &bpf_ops;
	b->flows = flows;
	b->nports = cfg->nebpf_ports;
	memcpy(b->ports, cfg->ebpf_ports, sizeof(b->ports));
	b->fwd_n = -1;
	b->fwd_nxdp = -1;
	b->attach = cfg->ebpf_attach;
	/* ebpf_forward not set: at TC ingress only (docs/ebpf.md, "Measured"). */
	bool want = cfg->ebpf_forward_set ? cfg->ebpf_forward : true;
	bool fwd = want && gwbpf_ct_kfuncs();
	b->fwd_xdp = fwd && cfg->ebpf_forward_set;
	if (cfg->ebpf_forward && !fwd)
		gwd_log("ebpf_forward_unavailable",
			"reason=\"the programs were built without conntrack's kfuncs (not in the "
			"kernel's BTF): every packet goes through the stack\"");
	b->fwd_new = fwd && cfg->ebpf_forward_new;
	if (fwd) {
		/* kernel_nat: the guard masquerades IPv4 out the WAN ports. */
		for (unsigned i = 0; i < cfg->nwan_ports; i++) {
			b->fwd_flags[b->nfwd_ports] = cfg->nat_lo ? GWBPF_FWD_NAT : 0;
			memcpy(b->fwd_ports[b->nfwd_ports++], cfg->wan_ports[i], GWD_IFNAME_MAX);
		}
		for (unsigned i = 0; i < cfg->nlan_ports; i++)
			memcpy(b->fwd_ports[b->nfwd_ports++], cfg->lan_ports[i], GWD_IFNAME_MAX);
	}
	char dir[GWD_PATH_MAX + 16];
	snprintf(dir, sizeof(dir), "%s/engine-ebpf", cfg->state_dir);
	snprintf(b->live_path, sizeof(b->live_path), "%s/live", dir);
	snprintf(b->state_dir, sizeof(b->state_dir), "%s", cfg->state_dir);
	int r;
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		goto fail;
	}
	r = gwbpf_open_sized(cfg->bpf_pin_root, cfg->ebpf_flows, &b->g);
	if (r < 0) {
		snprintf(err, errlen, "eBPF loader on %s: %s", cfg->bpf_pin_root, strerror(-r));
		goto fail;
	}
	/* A pinned flow table keeps its size (its flows live on): the new
	 * one is made once the pins are gone (a reboot, or gwbpf-tool
	 * unpin with gwd stopped). */
	if (gwbpf_flows(b->g) != cfg->ebpf_flows)
		gwd_log("ebpf_flows_pinned", "configured=%u pinned=%u pin_root=%s", cfg->ebpf_flows,
			gwbpf_flows(b->g), cfg->bpf_pin_root);
	load_live(b);
	b->events = event_new(base, gwbpf_events_fd(b->g), EV_READ | EV_PERSIST, on_events, b);
	b->tail = evtimer_new(base, on_events, b);
	b->expire = event_new(base, -1, EV_PERSIST, on_expire, b);
	b->fwd = event_new(base, -1, EV_PERSIST, on_fwd, b);
	struct timeval tv = { .tv_sec = EXPIRE_S }, ftv = { .tv_sec = FWD_CHECK_S };
	/* The once-a-second check only where something may be forwarded:
	 * with ebpf_forward off, the checks at start and at every commit
	 * still empty a gw_fwd_ifs an earlier gwd left pinned. */
	if (!b->events || !b->tail || !b->expire || !b->fwd || event_add(b->events, NULL) < 0 ||
	    event_add(b->expire, &tv) < 0 || (b->nfwd_ports && event_add(b->fwd, &ftv) < 0)) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	char why[GWD_IFNAME_MAX + 128];
	enforce_ports(b, why, sizeof(why));
	fwd_check(b);
	*ret = &b->base;
	return 0;
fail:
	free_(&b->base);
	return r;
}
