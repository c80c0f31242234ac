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

#include "daemon_int.h"
#include "engine_dpdk.h"
#ifdef GWD_HAVE_EBPF
#include "engine_ebpf.h"
#endif
#include "engine_file.h"
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

void gwd_run(struct gwd *d, const struct gwd_api_req *req, const struct gwd_peer *peer,
	     struct gwd_result *res)
{
	memset(res, 0, sizeof(*res));
	switch (req->cmd) {
	case GWD_CMD_STATUS: gwd_query_status(d, res); break;
	case GWD_CMD_POLICY_APPLY: gwd_gen_apply(d, req, peer, res); break;
	case GWD_CMD_POLICY_HISTORY: gwd_query_history(d, req, res); break;
	case GWD_CMD_POLICY_ROLLBACK: gwd_gen_rollback(d, req, peer, res); break;
	case GWD_CMD_POLICY_CONFIRM: gwd_gen_confirm(d, peer, res); break;
	case GWD_CMD_POLICY_GET: gwd_query_get(d, req, res); break;
	case GWD_CMD_DEVICES: gwd_query_devices(d, req, res); break;
	case GWD_CMD_FLOWS: gwd_query_flows(d, req, res); break;
	case GWD_CMD_DOMAINS_LEARN: gwd_learn_cmd(d, req, peer, res); break;
	default: gwd_fail(res, "unknown_command", "unknown command"); break;
	}
	if (!res->code && !res->fields && !res->raw)
		gwd_fail(res, "internal", "out of memory");
}

void gwd_submit(struct gwd *d, const struct gwd_api_req *req, const struct gwd_peer *peer,
		gwd_done_fn done, void *arg, struct gwd_call **ret_call)
{
	struct gwd_result res;
	*ret_call = NULL;
	gwd_run(d, req, peer, &res);
	done(&res, arg);
	gwd_result_clear(&res);
}

void gwd_call_cancel(struct gwd_call *call)
{
	(void)call;
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
	if (!d->confirm_timer || !d->sched_timer ||
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
		snprintf(err, errlen, "%s/state.json: %s", cfg->state_dir, strerror(-r));
		goto fail;
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
	if (!d->st.generation && cfg->policy[0]) {
		struct gwd_api_req req = { .cmd = GWD_CMD_POLICY_APPLY, .path = cfg->policy,
					   .message = "the policy of gwd.conf at first start" };
		struct gwd_peer peer = { .uid = getuid(), .may_change = true };
		snprintf(peer.user, sizeof(peer.user), "gwd");
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

int gwd_reload(struct gwd *d)
{
	if (!d->cfg.policy[0]) {
		gwd_log("reload", "policy=none applied=0");
		return 0;
	}
	struct gwd_api_req req = { .cmd = GWD_CMD_POLICY_APPLY, .path = d->cfg.policy,
				   .message = "SIGHUP: the policy file of gwd.conf" };
	struct gwd_peer peer = { .uid = getuid(), .may_change = true };
	snprintf(peer.user, sizeof(peer.user), "gwd");
	struct gwd_result res;
	gwd_run(d, &req, &peer, &res);
	int r = 0;
	if (res.code) {
		char q[600];
		gwd_log("reload_failed", "policy=%s code=%s reason=%s", d->cfg.policy, res.code,
			gwd_log_value(q, sizeof(q), res.message));
		r = -EINVAL;
	} else {
		gwd_log("reload", "policy=%s gen=%u", d->cfg.policy, d->st.generation);
	}
	gwd_result_clear(&res);
	return r;
}

void gwd_free(struct gwd *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nengines; i++)
		d->engines[i]->ops->free(d->engines[i]);
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
