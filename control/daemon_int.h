/* SPDX-License-Identifier: MIT */
/*
 * Inside gwd's daemon: the one struct gwd the duties share, and what each
 * duty's file offers the others.  Not a boundary: only daemon.c,
 * generations.c, queries.c, schedules.c and learn.c include it.
 *
 *   daemon.c       lifetime (gwd_new, gwd_free, SIGHUP) and the dispatch
 *                  of API commands to the duties below
 *   generations.c  apply (compiled in a child: compiler.h) as a
 *                  transaction over the engines, history,
 *                  rollback, --confirm and its timer, adopt at start, an
 *                  engine's resync
 *   queries.c      status, history, policy.get, devices, flows: read only
 *   schedules.c    the active-rule mask, recomputed each minute
 *   learn.c        learned domains: gwd_learn (learn.h) and domains.learn
 *   registry.c     the identity registry (identity.h) fed by leases and
 *                  neighbours, dnsmasq (dhcp.h), identity.json, and what
 *                  the DNS service is told of the household's names
 *
 * Everything runs on the one event loop, so no duty locks anything.  A
 * command finishes before the next starts, except policy.apply, whose
 * compile runs in a child meanwhile: what it then does (install) is
 * checked against the state of that moment.
 */
#ifndef GW_CONTROL_DAEMON_INT_H
#define GW_CONTROL_DAEMON_INT_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "daemon.h"
#include "dnsproc.h"
#include "domains.h"
#include "engine.h"
#include "flows.h"
#include "learn.h"
#include "observe.h"
#include "store.h"

struct pol_ir;

struct gwd {
	struct event_base *base;
	struct gwd_config cfg;
	struct gwd_state st;
	uint32_t max_gen;           /* the highest number in history */
	void *image;                /* the current generation's image, or NULL */
	size_t image_size;
	char hash[72];
	struct gwd_engine *engines[GWD_MAX_ENGINES];
	size_t nengines;
	struct event *confirm_timer;
	struct gwd_flows *flows;    /* what the engines report (flows.h) */
	/* Schedules and learned names (engine.h's set_active, set_domains). */
	struct pol_ir *ir;          /* the current generation, loaded; or NULL */
	uint64_t *mask;             /* its active-rule mask now, (nrules + 63) / 64 words */
	uint64_t acked[GWD_MAX_ENGINES]; /* per engine: the mask it acknowledged (0: none) */
	bool pinned[GWD_MAX_ENGINES];    /* per engine: gwd pinned it with a lifetime */
	char clock_wait[160];       /* "": the clock is believed; else why schedules wait */
	struct event *sched_timer;  /* at the start of each minute */
	struct gwd_domains *domains;
	struct gwd_dns *dns;        /* the DNS service (dnsproc.h), or NULL */
	struct gwd_compiler *compiler; /* policy compiles in children */
	struct gwd_reload *reload;     /* a SIGHUP reload that runs, or NULL */
	/* "" while gwd runs the current generation; else why it could not
	 * take it up at start (a damaged state.json or history entry): the
	 * engines are left as they are until an apply or rollback succeeds. */
	char degraded[320];
	struct gwd_guard *guard;    /* guard.h; NULL when off or nothing to guard */
	struct gwd_registry *reg;   /* registry.c: identities, DHCP */
	struct gwd_observe *obs;    /* live events and metric figures (observe.h) */
};

#define GWD_MAX_LEARNED 65536 /* learned (name, address) pairs */

/* daemon.c: a refusal into res (code is static). */
void gwd_fail(struct gwd_result *res, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Milliseconds from t0 to now, and seconds now, both CLOCK_MONOTONIC. */
double gwd_ms_since(const struct timespec *t0);
uint64_t gwd_mono_s(void);

/* A command that finishes later (gwd_submit): policy.apply, while its
 * policy compiles in a child. */
struct gwd_call {
	struct gwd *d;
	gwd_done_fn done;
	void *arg;
	struct gwd_compile *job; /* the compile, while it runs */
	struct gwd_peer peer;
	char *path;              /* policy.apply: the file, or NULL for text */
	char *message;
	uint32_t confirm_seconds;
	bool dry_run;
	struct timespec t0;      /* when the request came */
};
/* daemon.c: the call's result to its caller; frees the call. */
void gwd_call_finish(struct gwd_call *call, struct gwd_result *res);

/* generations.c */
/* Starts policy.apply's compile for call; false when res holds the
 * answer already (a refusal). */
bool gwd_gen_apply_start(struct gwd_call *call, const struct gwd_api_req *req,
			 struct gwd_result *res);
void gwd_gen_rollback(struct gwd *d, const struct gwd_api_req *req,
		      const struct gwd_peer *peer, struct gwd_result *res);
void gwd_gen_confirm(struct gwd *d, const struct gwd_peer *peer, struct gwd_result *res);
/* At start: every engine runs the current generation (state.json's), or
 * gwd is degraded (d->degraded says why) and touches no engine. */
int gwd_gen_adopt(struct gwd *d, char *err, size_t errlen);
/* gwd cannot run what it should: logged, shown by status. */
void gwd_gen_degrade(struct gwd *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* At start: a pending --confirm reverts now if its deadline passed, else
 * its timer is armed. */
void gwd_gen_resume_pending(struct gwd *d);
/* engine.h's resync callback. */
void gwd_gen_resync(struct gwd_engine *e, void *arg);
void gwd_gen_confirm_expired(evutil_socket_t fd, short what, void *arg);
/* Milliseconds until a pending generation reverts (<= 0: due);
 * INT64_MIN when its deadline belongs to another boot. */
int64_t gwd_gen_confirm_left_ms(const struct gwd *d);

/* queries.c */
void gwd_query_status(struct gwd *d, struct gwd_result *res);
void gwd_query_history(struct gwd *d, const struct gwd_api_req *req, struct gwd_result *res);
void gwd_query_get(struct gwd *d, const struct gwd_api_req *req, struct gwd_result *res);
void gwd_query_devices(struct gwd *d, const struct gwd_api_req *req, struct gwd_result *res);
void gwd_query_flows(struct gwd *d, const struct gwd_api_req *req, struct gwd_result *res);
void gwd_query_domains(struct gwd *d, const struct gwd_api_req *req, struct gwd_result *res);
/* The learned name of a flow's peer (flows_json.h's gwd_name_for_addr;
 * arg: the gwd), or NULL. */
const char *gwd_peer_name(uint8_t family, const uint8_t *addr, void *arg);

/* schedules.c */
/* Seconds an engine holds a mask gwd stops renewing (gwd renews it every
 * minute); then it computes the schedules itself (set_active_for). */
#define GWD_MASK_LIFETIME_S 180
/* d->ir became current: its mask now (what engines hold is the
 * caller's to say: gwd_sched_started, gwd_sched_adopted). */
void gwd_sched_set_current(struct gwd *d);
/* Engine e (NULL: every engine) started the current generation with its
 * own clock's mask: that is gwd's mask when the clock is believed. */
void gwd_sched_started(struct gwd *d, const struct gwd_engine *e);
/* Every engine running the current generation gets the mask it has not
 * acknowledged (renew: also a lifetime mask it has, to renew it). */
void gwd_sched_push(struct gwd *d, bool renew);
/* At start, after adopt: each engine holds the mask it acknowledged
 * before gwd stopped (state_dir/schedule.json), if any. */
void gwd_sched_adopted(struct gwd *d);
/* Engine e (NULL: every engine) acknowledged nothing: it lost its state. */
void gwd_sched_forget(struct gwd *d, const struct gwd_engine *e);
/* NULL while schedules run; else why they wait (the clock). */
const char *gwd_sched_state(const struct gwd *d);
unsigned gwd_sched_popcount(const uint64_t *m, uint32_t nrules);
/* The minute timer (its event is d->sched_timer). */
void gwd_sched_arm(struct gwd *d);
void gwd_sched_tick(evutil_socket_t fd, short what, void *arg);

/* learn.c */
/* Every learned address with ir's sets to one engine: staged (between
 * prepare and commit) or set (after commit).  Logged, never fatal: the
 * entries expire by themselves and the next push carries them all. */
void gwd_learn_push(struct gwd *d, struct gwd_engine *e, const struct pol_ir *ir,
		    bool staged);
void gwd_learn_cmd(struct gwd *d, const struct gwd_api_req *req, const struct gwd_peer *peer,
		   struct gwd_result *res);

/* registry.c */
/* Loads identity.json, reads dnsmasq's lease file, watches the LAN-side
 * ports' neighbours, starts dnsmasq (gwd.conf's dhcp), and tells the DNS
 * service the household's names.  After gwd_dns_new. */
int gwd_registry_start(struct gwd *d, char *err, size_t errlen);
/* Writes what is not written yet, stops dnsmasq, frees. */
void gwd_registry_stop(struct gwd *d);
/* d->ir changed: declared devices, the zone, dnsmasq's options. */
void gwd_registry_policy(struct gwd *d);
/* dhcp.lease (root only): one lease event of dnsmasq's lease script. */
void gwd_registry_lease_cmd(struct gwd *d, const struct gwd_api_req *req,
			    const struct gwd_peer *peer, struct gwd_result *res);
/* status's "identity": {"devices": N, "dhcp": null | dnsmasq's state}. */
json_t *gwd_registry_status(const struct gwd *d);
/* Adds what the registry knows to a devices reply's "devices" (each
 * device's names, addresses, hostnames...), and the new devices it saw
 * that no flow shows yet. */
void gwd_registry_devices(const struct gwd *d, json_t *fields);
/* The registry, or NULL before it started. */
struct gwd_identity *gwd_registry_identity(const struct gwd *d);

#endif
