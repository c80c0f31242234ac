/* SPDX-License-Identifier: MIT */
/*
 * gwd's lifetime and dispatch (daemon.h): gwd_new loads the state, starts
 * the engines and adopts the current generation; gwd_run hands each API
 * command to its duty (daemon_int.h: generations, queries, schedules,
 * learned domains); SIGHUP applies gwd.conf's policy again.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "compiler.h"
#include "daemon_int.h"
#include "engine_dpdk.h"
#ifdef GWD_HAVE_EBPF
#include "engine_ebpf.h"
#endif
#include "engine_file.h"
#include "engine_nft.h"
#include "guard.h"
#include "image.h"
#include "log.h"

double gwd_ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

uint64_t gwd_mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

void gwd_fail(struct gwd_result *res, const char *code, const char *fmt, ...)
{
	res->code = code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->message, sizeof(res->message), fmt, ap);
	va_end(ap);
}

void gwd_result_clear(struct gwd_result *res)
{
	json_decref(res->fields);
	json_decref(res->diagnostics);
	free(res->raw);
	memset(res, 0, sizeof(*res));
}

/* Every command that finishes at once. */
static void run_now(struct gwd *d, const struct gwd_api_req *req, const struct gwd_peer *peer,
		    struct gwd_result *res)
{
	switch (req->cmd) {
	case GWD_CMD_STATUS: gwd_query_status(d, res); break;
	case GWD_CMD_POLICY_HISTORY: gwd_query_history(d, req, res); break;
	case GWD_CMD_POLICY_ROLLBACK: gwd_gen_rollback(d, req, peer, res); break;
	case GWD_CMD_POLICY_CONFIRM: gwd_gen_confirm(d, peer, res); break;
	case GWD_CMD_POLICY_GET: gwd_query_get(d, req, res); break;
	case GWD_CMD_DEVICES: gwd_query_devices(d, req, res); break;
	case GWD_CMD_FLOWS: gwd_query_flows(d, req, res); break;
	case GWD_CMD_DOMAINS_LEARN: gwd_learn_cmd(d, req, peer, res); break;
	case GWD_CMD_DOMAINS: gwd_query_domains(d, req, res); break;
	case GWD_CMD_DHCP_LEASE: gwd_registry_lease_cmd(d, req, peer, res); break;
	default: gwd_fail(res, "unknown_command", "unknown command"); break;
	}
}

static void deliver(gwd_done_fn done, void *arg, struct gwd_result *res)
{
	if (!res->code && !res->fields && !res->raw)
		gwd_fail(res, "internal", "out of memory");
	done(res, arg);
	gwd_result_clear(res);
}

void gwd_call_finish(struct gwd_call *call, struct gwd_result *res)
{
	gwd_done_fn done = call->done;
	void *arg = call->arg;
	free(call->path);
	free(call->message);
	free(call);
	deliver(done, arg, res);
}

void gwd_submit(struct gwd *d, const struct gwd_api_req *req, const struct gwd_peer *peer,
		gwd_done_fn done, void *arg, struct gwd_call **ret_call)
{
	struct gwd_result res = { 0 };
	*ret_call = NULL;
	if (req->cmd == GWD_CMD_POLICY_APPLY) {
		struct gwd_call *call = calloc(1, sizeof(*call));
		if (!call) {
			gwd_fail(&res, "internal", "out of memory");
			deliver(done, arg, &res);
			return;
		}
		call->d = d;
		call->done = done;
		call->arg = arg;
		call->peer = *peer;
		if (gwd_gen_apply_start(call, req, &res)) {
			*ret_call = call;
			return;
		}
		free(call->path);
		free(call->message);
		free(call);
		deliver(done, arg, &res);
		return;
	}
	run_now(d, req, peer, &res);
	deliver(done, arg, &res);
}

void gwd_call_cancel(struct gwd_call *call)
{
	if (!call)
		return;
	gwd_compile_cancel(call->job);
	free(call->path);
	free(call->message);
	free(call);
}

struct sync_run {
	struct gwd_result *res;
	bool done;
};

static void sync_done(struct gwd_result *res, void *arg)
{
	struct sync_run *s = arg;
	*s->res = *res;
	memset(res, 0, sizeof(*res));
	s->done = true;
}

void gwd_run(struct gwd *d, const struct gwd_api_req *req, const struct gwd_peer *peer,
	     struct gwd_result *res)
{
	struct sync_run s = { .res = res };
	struct gwd_call *call;
	memset(res, 0, sizeof(*res));
	gwd_submit(d, req, peer, sync_done, &s, &call);
	while (!s.done)
		if (event_base_loop(d->base, EVLOOP_ONCE) < 0) {
			gwd_call_cancel(call);
			gwd_fail(res, "internal", "the event loop failed");
			break;
		}
}

/* gwd's own applies (first start, SIGHUP) are root's. */
static void root_peer(struct gwd_peer *peer)
{
	memset(peer, 0, sizeof(*peer));
	peer->uid = getuid();
	peer->gid = getgid();
	peer->may_change = true;
	snprintf(peer->user, sizeof(peer->user), "gwd");
}

int gwd_new(struct event_base *base, const struct gwd_config *cfg, struct gwd **ret,
	    char *err, size_t errlen)
{
	struct gwd *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	int r;
	d->base = base;
	d->cfg = *cfg;
	if (mkdir(cfg->state_dir, 0750) < 0 && errno != EEXIST) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", cfg->state_dir, strerror(errno));
		goto fail;
	}
	d->confirm_timer = evtimer_new(base, gwd_gen_confirm_expired, d);
	d->sched_timer = evtimer_new(base, gwd_sched_tick, d);
	if (!d->confirm_timer || !d->sched_timer || gwd_compiler_new(base, &d->compiler) < 0 ||
	    gwd_domains_new(GWD_MAX_LEARNED, &d->domains) < 0) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	/* 65536 flows and 4096 devices: the cap stated in docs/api.md. */
	r = gwd_flows_new(65536, 4096, &d->flows);
	if (r < 0) {
		snprintf(err, errlen, "the flow collector: %s", strerror(-r));
		goto fail;
	}
	r = gwd_state_load(cfg->state_dir, &d->st);
	if (r < 0) {
		/* Which generation runs is unknown: touch nothing, answer, and
		 * let an apply or a rollback write a good state.json. */
		memset(&d->st, 0, sizeof(d->st));
		gwd_gen_degrade(d, "%s/state.json cannot be read: %s", cfg->state_dir,
				r == -EBADMSG ? "damaged" : strerror(-r));
	}
	json_t *list;
	r = gwd_history_list(cfg->state_dir, &list, &d->max_gen);
	if (r < 0) {
		snprintf(err, errlen, "%s/history: %s", cfg->state_dir, strerror(-r));
		goto fail;
	}
	json_decref(list);
	if (d->max_gen < d->st.generation)
		d->max_gen = d->st.generation;
	/* The guard before any engine: gwd runs none without it. */
	if (cfg->guard && (gwd_config_has_engines(cfg) || cfg->nlan_ports || cfg->nwan_ports)) {
		char why[400];
		r = gwd_guard_new(base, cfg, &d->guard, why, sizeof(why));
		if (r < 0) {
			snprintf(err, errlen, "%s; gwd starts no engine without the guard", why);
			goto fail;
		}
	} else if (!cfg->guard && gwd_config_has_engines(cfg)) {
		gwd_log("guard_off", "reason=\"guard = off in gwd.conf\"");
	}
	char p[GWD_PATH_MAX + 32];
	snprintf(p, sizeof(p), "%s/engine-file", cfg->state_dir);
	r = gwd_engine_file_new(p, &d->engines[d->nengines]);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", p, strerror(-r));
		goto fail;
	}
	d->nengines++;
	if (cfg->dataplane[0]) {
		r = gwd_engine_dpdk_new(base, cfg->dataplane, d->flows, &d->engines[d->nengines]);
		if (r < 0) {
			snprintf(err, errlen, "dataplane %s: %s", cfg->dataplane, strerror(-r));
			goto fail;
		}
		d->nengines++;
	}
	if (cfg->nebpf_ports) {
#ifdef GWD_HAVE_EBPF
		r = gwd_engine_ebpf_new(base, cfg, d->flows, &d->engines[d->nengines], err, errlen);
		if (r < 0)
			goto fail;
		d->nengines++;
#else
		r = -EOPNOTSUPP;
		snprintf(err, errlen, "ebpf_ports: this gwd was built without the eBPF loader");
		goto fail;
#endif
	}
	if (cfg->nnft_ports) {
		r = gwd_engine_nft_new(base, cfg, d->flows, &d->engines[d->nengines], err, errlen);
		if (r < 0)
			goto fail;
		d->nengines++;
	}
	for (size_t i = 0; i < d->nengines; i++) {
		d->engines[i]->resync = gwd_gen_resync;
		d->engines[i]->resync_arg = d;
	}
	r = gwd_observe_new(d, &d->obs);
	if (r < 0) {
		snprintf(err, errlen, "the live events: %s", strerror(-r));
		goto fail;
	}
	r = gwd_gen_adopt(d, err, errlen);
	if (r < 0)
		goto fail;
	gwd_gen_resume_pending(d);
	if (cfg->dns[0]) {
		r = gwd_dns_new(base, cfg, d, &d->dns, err, errlen);
		if (r < 0)
			goto fail;
		gwd_dns_policy(d->dns, d->image, d->image_size, d->ir);
	}
	r = gwd_registry_start(d, err, errlen);
	if (r < 0)
		goto fail;
	if (!d->st.generation && cfg->policy[0] && !d->degraded[0]) {
		struct gwd_api_req req = { .cmd = GWD_CMD_POLICY_APPLY, .path = cfg->policy,
					   .message = "the policy of gwd.conf at first start" };
		struct gwd_peer peer;
		root_peer(&peer);
		struct gwd_result res;
		gwd_run(d, &req, &peer, &res);
		if (res.code) {
			char q[600];
			/* Not fatal: gwd still answers, so the household can
			 * apply a fixed file. */
			gwd_log("initial_apply_failed", "policy=%s code=%s reason=%s", cfg->policy,
				res.code, gwd_log_value(q, sizeof(q), res.message));
		}
		gwd_result_clear(&res);
	}
	gwd_sched_arm(d);
	*ret = d;
	return 0;
fail:
	gwd_free(d);
	return r;
}

struct gwd_events *gwd_events(struct gwd *d)
{
	return gwd_observe_events(d->obs);
}

struct gwd_observe *gwd_observer(struct gwd *d)
{
	return d->obs;
}


struct gwd_reload {
	struct gwd *d;
	void (*done)(void *arg);
	void *arg;
	struct gwd_call *call;
};

static void reloaded(struct gwd_result *res, void *arg)
{
	struct gwd_reload *rl = arg;
	struct gwd *d = rl->d;
	if (res->code) {
		char q[600];
		gwd_log("reload_failed", "policy=%s code=%s reason=%s", d->cfg.policy, res->code,
			gwd_log_value(q, sizeof(q), res->message));
	} else {
		gwd_log("reload", "policy=%s gen=%u", d->cfg.policy, d->st.generation);
	}
	d->reload = NULL;
	rl->done(rl->arg);
	free(rl);
}

bool gwd_reloading(const struct gwd *d)
{
	return d->reload != NULL;
}

bool gwd_reload(struct gwd *d, void (*done)(void *arg), void *arg)
{
	if (!d->cfg.policy[0]) {
		gwd_log("reload", "policy=none applied=0");
		done(arg);
		return true;
	}
	if (d->reload) {
		gwd_log("reload_refused", "policy=%s reason=\"a reload runs already\"",
			d->cfg.policy);
		return false;
	}
	struct gwd_reload *rl = calloc(1, sizeof(*rl));
	if (!rl) {
		gwd_log("reload_failed", "policy=%s reason=\"out of memory\"", d->cfg.policy);
		done(arg);
		return true;
	}
	*rl = (struct gwd_reload){ .d = d, .done = done, .arg = arg };
	struct gwd_api_req req = { .cmd = GWD_CMD_POLICY_APPLY, .path = d->cfg.policy,
				   .message = "SIGHUP: the policy file of gwd.conf" };
	struct gwd_peer peer;
	root_peer(&peer);
	d->reload = rl;
	gwd_submit(d, &req, &peer, reloaded, rl, &rl->call);
	return true;
}

void gwd_free(struct gwd *d)
{
	if (!d)
		return;
	gwd_registry_stop(d);
	gwd_dns_free(d->dns);
	if (d->reload) {
		gwd_call_cancel(d->reload->call);
		free(d->reload);
	}
	gwd_compiler_free(d->compiler);
	for (size_t i = 0; i < d->nengines; i++)
		d->engines[i]->ops->free(d->engines[i]);
	gwd_guard_free(d->guard);
	if (d->confirm_timer)
		event_free(d->confirm_timer);
	if (d->sched_timer)
		event_free(d->sched_timer);
	gwd_observe_free(d->obs);
	gwd_domains_free(d->domains);
	pol_ir_free(d->ir);
	free(d->mask);
	gwd_flows_free(d->flows);
	free(d->image);
	free(d);
}
