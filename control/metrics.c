/* SPDX-License-Identifier: MIT */
/*
 * The metrics page (metrics.h).  Names follow Prometheus' conventions:
 * gw_ prefix, base units (bytes, seconds), _total on counters, one family
 * per name with its HELP and TYPE, labels for what varies (device, mac,
 * direction, rule, engine, where, reason).  Counters count since gwd
 * started (the collector's totals, the engines' own counters since they
 * started); Prometheus takes a drop for a restart.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "daemon_int.h"
#include "eval.h"
#include "flows_json.h"
#include "log.h"
#include "metrics.h"

struct gwd_metrics {
	struct gwd *d;
	struct evhttp *http;
};

/* A label value: \, " and newline escaped, as the text format says. */
static void label(struct evbuffer *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			evbuffer_add(out, "\\\\", 2);
		else if (*s == '"')
			evbuffer_add(out, "\\\"", 2);
		else if (*s == '\n')
			evbuffer_add(out, "\\n", 2);
		else
			evbuffer_add(out, s, 1);
	}
}

static void family(struct evbuffer *out, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void mac_str(const uint8_t m[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

/* ---- devices (the flow collector's totals, one series per MAC) ---------- */

enum dev_metric { DM_BYTES, DM_PACKETS, DM_BLOCKED_BYTES, DM_BLOCKED_PACKETS, DM_FLOWS,
		  DM_FLOWS_TOTAL, DM_BLOCKED_FLOWS };

struct dev_ctx {
	struct gwd *d;
	struct evbuffer *out;
	enum dev_metric what;
	const char *name;
};

static void dev_labels(struct dev_ctx *c, const struct gwd_device_totals *t)
{
	const struct pol_ir *ir = c->d->ir;
	uint32_t dev = ir ? pol_device_by_mac(ir, t->mac) : POL_NONE;
	char mac[18];
	mac_str(t->mac, mac);
	evbuffer_add_printf(c->out, "%s{device=\"", c->name);
	if (dev != POL_NONE)
		label(c->out, pol_ir_str(ir, ir->devices[dev].name));
	evbuffer_add_printf(c->out, "\",mac=\"%s\"", mac);
}

static int dev_sample(const struct gwd_device_totals *t, void *arg)
{
	struct dev_ctx *c = arg;
	switch (c->what) {
	case DM_BYTES:
	case DM_PACKETS:
		for (int dir = 0; dir < 2; dir++) {
			dev_labels(c, t);
			evbuffer_add_printf(c->out, ",direction=\"%s\"} %llu\n", dir ? "in" : "out",
					    (unsigned long long)(c->what == DM_BYTES ? t->bytes[dir]
										     : t->pkts[dir]));
		}
		return 0;
	case DM_BLOCKED_BYTES:
	case DM_BLOCKED_PACKETS:
	case DM_FLOWS:
	case DM_FLOWS_TOTAL:
	case DM_BLOCKED_FLOWS: {
		uint64_t v = c->what == DM_BLOCKED_BYTES ? t->blocked_bytes
			     : c->what == DM_BLOCKED_PACKETS ? t->blocked_pkts
			     : c->what == DM_FLOWS ? t->flows_live
			     : c->what == DM_FLOWS_TOTAL ? t->flows_total : t->blocked_flows;
		dev_labels(c, t);
		evbuffer_add_printf(c->out, "} %llu\n", (unsigned long long)v);
		return 0;
	}
	}
	return 0;
}

static void devices(struct gwd *d, struct evbuffer *out)
{
	static const struct {
		enum dev_metric what;
		const char *name, *type, *help;
	} m[] = {
		{ DM_BYTES, "gw_device_bytes_total", "counter",
		  "Bytes of a device's flows by direction (out: from the device), every verdict." },
		{ DM_PACKETS, "gw_device_packets_total", "counter",
		  "Packets of a device's flows by direction (out: from the device), every verdict." },
		{ DM_BLOCKED_BYTES, "gw_device_blocked_bytes_total", "counter",
		  "Bytes of a device's flows decided block or reject, both directions." },
		{ DM_BLOCKED_PACKETS, "gw_device_blocked_packets_total", "counter",
		  "Packets of a device's flows decided block or reject, both directions." },
		{ DM_BLOCKED_FLOWS, "gw_device_blocked_flows_total", "counter",
		  "Flows of a device decided block or reject." },
		{ DM_FLOWS_TOTAL, "gw_device_flows_total", "counter", "Flows a device opened." },
		{ DM_FLOWS, "gw_device_flows", "gauge", "A device's live flows." },
	};
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		family(out, m[i].name, m[i].type, m[i].help);
		struct dev_ctx c = { d, out, m[i].what, m[i].name };
		gwd_flows_devices(d->flows, dev_sample, &c);
	}
}

/* ---- rules -------------------------------------------------------------- */

struct rule_ctx {
	struct evbuffer *out;
	int what; /* 0 flows, 1 packets, 2 bytes */
};

static void rule_sample(const char *rule, uint64_t flows, uint64_t packets, uint64_t bytes,
			void *arg)
{
	static const char *const names[] = { "gw_rule_flows_total", "gw_rule_packets_total",
					      "gw_rule_bytes_total" };
	struct rule_ctx *c = arg;
	uint64_t v = c->what == 0 ? flows : c->what == 1 ? packets : bytes;
	evbuffer_add_printf(c->out, "%s{rule=\"", names[c->what]);
	label(c->out, rule);
	evbuffer_add_printf(c->out, "\"} %llu\n", (unsigned long long)v);
}

/* ---- engines ------------------------------------------------------------ */

/* The three families an engine's counters go to, by kind. */
static const struct {
	const char *kind, *name, *help;
} eng_families[] = {
	{ "packets", "gw_engine_packets_total",
	  "Packets an engine saw, where it saw them (a dataplane port, an eBPF hook)." },
	{ "drop", "gw_engine_drops_total", "Packets an engine dropped, by reason." },
	{ "punt", "gw_engine_punts_total",
	  "Packets the dataplane handed to the gateway's own kernel, by reason." },
};
#define ENG_FAMILIES (sizeof(eng_families) / sizeof(eng_families[0]))

struct eng_ctx {
	struct evbuffer *per[ENG_FAMILIES];
	const char *engine;
};

static void eng_sample(const char *kind, const char *where, const char *name, uint64_t v,
		       void *arg)
{
	struct eng_ctx *c = arg;
	size_t k = 0;
	while (k < ENG_FAMILIES && strcmp(kind, eng_families[k].kind))
		k++;
	if (k == ENG_FAMILIES || !c->per[k])
		return;
	struct evbuffer *out = c->per[k];
	evbuffer_add_printf(out, "%s{engine=\"%s\",where=\"", eng_families[k].name, c->engine);
	label(out, where);
	if (k) {
		evbuffer_add(out, "\",reason=\"", 10);
		label(out, name);
	}
	evbuffer_add_printf(out, "\"} %llu\n", (unsigned long long)v);
}

static void engines(struct gwd *d, struct evbuffer *out)
{
	/* Each engine's counters once (a STATS request for the dataplane),
	 * sorted into their families as they come. */
	struct eng_ctx c = { .engine = NULL };
	for (size_t k = 0; k < ENG_FAMILIES; k++)
		c.per[k] = evbuffer_new();
	for (size_t i = 0; i < d->nengines; i++) {
		struct gwd_engine *e = d->engines[i];
		char err[256];
		c.engine = e->ops->name;
		if (e->ops->counters)
			e->ops->counters(e, eng_sample, &c, err, sizeof(err));
	}
	for (size_t k = 0; k < ENG_FAMILIES; k++) {
		family(out, eng_families[k].name, "counter", eng_families[k].help);
		if (c.per[k]) {
			evbuffer_add_buffer(out, c.per[k]);
			evbuffer_free(c.per[k]);
		}
	}
	family(out, "gw_engine_up", "gauge", "1 when an engine's state is ok, 0 when degraded.");
	for (size_t i = 0; i < d->nengines; i++)
		evbuffer_add_printf(out, "gw_engine_up{engine=\"%s\"} %d\n", d->engines[i]->ops->name,
				    !strcmp(d->engines[i]->ops->state(d->engines[i]), "ok"));
	family(out, "gw_engine_generation", "gauge", "The policy generation an engine runs.");
	for (size_t i = 0; i < d->nengines; i++)
		evbuffer_add_printf(out, "gw_engine_generation{engine=\"%s\"} %u\n",
				    d->engines[i]->ops->name, d->engines[i]->generation);
}

int gwd_metrics_render(struct gwd *d, struct evbuffer *out)
{
	devices(d, out);
	family(out, "gw_rule_flows_total", "counter",
	       "Flows a rule decided (at their start, or decided again by it), by rule name.");
	struct rule_ctx rc = { out, 0 };
	gwd_observe_rules(d->obs, rule_sample, &rc);
	family(out, "gw_rule_packets_total", "counter",
	       "Packets of the flows a rule decided (both directions), by rule name.");
	rc.what = 1;
	gwd_observe_rules(d->obs, rule_sample, &rc);
	family(out, "gw_rule_bytes_total", "counter",
	       "Bytes of the flows a rule decided (both directions), by rule name.");
	rc.what = 2;
	gwd_observe_rules(d->obs, rule_sample, &rc);
	engines(d, out);
	family(out, "gw_flows", "gauge", "Live flows in gwd's table.");
	evbuffer_add_printf(out, "gw_flows %u\n", gwd_flows_live(d->flows));
	family(out, "gw_devices_seen", "gauge", "MACs in gwd's device table.");
	evbuffer_add_printf(out, "gw_devices_seen %u\n", gwd_flows_ndevices(d->flows));
	family(out, "gw_policy_generation", "gauge", "The policy generation in force (0: none).");
	evbuffer_add_printf(out, "gw_policy_generation %u\n", d->st.generation);
	family(out, "gw_policy_pending", "gauge",
	       "1 while a generation applied with --confirm awaits confirmation.");
	evbuffer_add_printf(out, "gw_policy_pending %d\n", d->st.pending ? 1 : 0);
	if (d->ir && d->mask) {
		family(out, "gw_policy_rules", "gauge", "Rules of the generation in force.");
		evbuffer_add_printf(out, "gw_policy_rules %u\n", d->ir->nrules);
		family(out, "gw_policy_rules_active", "gauge",
		       "Rules whose schedule lets them match now.");
		evbuffer_add_printf(out, "gw_policy_rules_active %u\n",
				    gwd_sched_popcount(d->mask, d->ir->nrules));
	}
	struct gwd_apply_hist h;
	gwd_observe_applies(d->obs, &h);
	family(out, "gw_apply_duration_seconds", "histogram",
	       "Time from an apply's request (or a rollback's, a revert's) to every engine "
	       "flipped.");
	for (int i = 0; i < GWD_APPLY_BUCKETS; i++) {
		if (gwd_apply_bounds[i] < 0)
			evbuffer_add_printf(out, "gw_apply_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
					    (unsigned long long)h.le[i]);
		else
			evbuffer_add_printf(out, "gw_apply_duration_seconds_bucket{le=\"%g\"} %llu\n",
					    gwd_apply_bounds[i], (unsigned long long)h.le[i]);
	}
	evbuffer_add_printf(out, "gw_apply_duration_seconds_sum %.6f\n", h.sum_s);
	evbuffer_add_printf(out, "gw_apply_duration_seconds_count %llu\n",
			    (unsigned long long)h.count);
	family(out, "gw_domains_learned", "gauge", "Learned (name, address) pairs gwd holds.");
	evbuffer_add_printf(out, "gw_domains_learned %zu\n", gwd_domains_count(d->domains));
	family(out, "gw_events_total", "counter", "Live events gwd wrote for its subscribers.");
	evbuffer_add_printf(out, "gw_events_total %llu\n",
			    (unsigned long long)gwd_events_seq(gwd_observe_events(d->obs)));
	return 0;
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct gwd_metrics *m = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	struct evbuffer *out = evbuffer_new();
	if (!out) {
		evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
		return;
	}
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	if (path && !strcmp(path, "/metrics")) {
		gwd_metrics_render(m->d, out);
		evhttp_add_header(h, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
		evhttp_send_reply(req, HTTP_OK, "OK", out);
	} else if (path && !strcmp(path, "/")) {
		evbuffer_add_printf(out, "gwd: the metrics are at /metrics\n");
		evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
		evhttp_send_reply(req, HTTP_OK, "OK", out);
	} else {
		evbuffer_add_printf(out, "not found: the metrics are at /metrics\n");
		evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
		evhttp_send_reply(req, HTTP_NOTFOUND, "Not Found", out);
	}
	evbuffer_free(out);
}

int gwd_metrics_new(struct event_base *base, struct gwd *d, const struct gwd_config *cfg,
		    struct gwd_metrics **ret, char *err, size_t errlen)
{
	*ret = NULL;
	if (!cfg->metrics_addr[0])
		return 0;
	struct gwd_metrics *m = calloc(1, sizeof(*m));
	if (!m || !(m->http = evhttp_new(base))) {
		free(m);
		snprintf(err, errlen, "metrics: out of memory");
		return -ENOMEM;
	}
	m->d = d;
	/* A scrape is a small GET: no body, short headers, and a client
	 * that stalls is dropped rather than holding a connection. */
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_max_headers_size(m->http, 8192);
	evhttp_set_max_body_size(m->http, 0);
	evhttp_set_timeout(m->http, 10);
	evhttp_set_gencb(m->http, on_request, m);
	if (!evhttp_bind_socket_with_handle(m->http, cfg->metrics_addr, cfg->metrics_port)) {
		int r = errno ? -errno : -EADDRINUSE;
		snprintf(err, errlen, "metrics: cannot listen on %s%s%s:%u: %s",
			 strchr(cfg->metrics_addr, ':') ? "[" : "", cfg->metrics_addr,
			 strchr(cfg->metrics_addr, ':') ? "]" : "", cfg->metrics_port, strerror(-r));
		gwd_metrics_free(m);
		return r;
	}
	gwd_log("metrics", "listen=%s%s%s:%u", strchr(cfg->metrics_addr, ':') ? "[" : "",
		cfg->metrics_addr, strchr(cfg->metrics_addr, ':') ? "]" : "", cfg->metrics_port);
	*ret = m;
	return 0;
}

void gwd_metrics_free(struct gwd_metrics *m)
{
	if (!m)
		return;
	if (m->http)
		evhttp_free(m->http);
	free(m);
}
