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
#include "msg.h" /* dns/: gw-dns's protocol (its STATS counters) */

/* Scrapes waiting for gw-dns's counters at once; more get the page without them. */
#define METRICS_WAIT_MAX 16
/* How long a scrape waits for gw-dns's counters before it goes without. */
#define METRICS_DNS_WAIT_MS 1000

struct gwd_metrics {
	struct gwd *d;
	struct evhttp *http;
	struct event *dns_timer;  /* gives up waiting for gw-dns */
	bool asking;              /* a STATS request is out */
	struct evhttp_request *wait[METRICS_WAIT_MAX];
	size_t nwait;
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

struct drop_sum {
	const struct pol_ir *ir;
	uint64_t pkts[POL_ACTION_COUNT];
};

static int add_rule_drop(uint32_t rule, uint64_t pkts, uint64_t bytes, void *arg)
{
	struct drop_sum *s = arg;
	(void)bytes;
	uint8_t a = rule == POL_RULE_DEFAULT ? s->ir->meta->default_action :
		    rule == POL_RULE_DEFAULT_NEW ? s->ir->meta->default_new :
		    rule < s->ir->nrules ? s->ir->rules[rule].action : POL_ALLOW;
	if (a < POL_ACTION_COUNT)
		s->pkts[a] += pkts;
	return 0;
}

/* An engine without its own counters that counts what each rule decided
 * (the nft engine: every packet of a blocked connection is decided
 * again): its drops are the packets its block and reject rules decided in
 * the generation it runs, when that is gwd's (the names are gwd's to
 * read).  They start again at each generation. */
static void rule_drops(struct gwd *d, struct gwd_engine *e, struct eng_ctx *c)
{
	if (!e->ops->rule_counts || !d->ir || e->generation != d->st.generation)
		return;
	struct drop_sum s = { .ir = d->ir };
	if (e->ops->rule_counts(e, add_rule_drop, &s) < 0)
		return;
	eng_sample("drop", "forward", "policy_block", s.pkts[POL_BLOCK], c);
	eng_sample("drop", "forward", "policy_reject", s.pkts[POL_REJECT], c);
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
		else
			rule_drops(d, e, &c);
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

/* ---- the DNS service (gw-dns's counters, dns/stats.h) -------------------- */

/* gw-dns's counters into families by what they count. */
enum dns_family {
	DF_QUERIES, DF_ANSWERS, DF_TRUNCATED, DF_REJECTED, DF_DROPS, DF_SERVFAIL, DF_HOLDS,
	DF_HOLDS_RELEASED, DF_LEARNS, DF_POLICY_LOADS, DF_BLOCKED, DF_UP_QUERIES, DF_UP_TCP,
	DF_UP_ANSWERS, DF_UP_ERRORS, DF_UP_RCODES, DF_UP_DROPS, DF_UP_PENDING, DF_CACHE_HITS,
	DF_CACHE_MISSES, DF_CACHE_INSERTS, DF_CACHE_EVICTIONS, DF_CACHE_BYTES, DF_CACHE_ENTRIES,
	DF_TCP_CONNS, DF_TCP_DROPPED, DF_CONTROL_ERRORS, DF_OTHER, DF_COUNT
};

static const struct {
	const char *name, *type, *help;
} dns_families[DF_COUNT] = {
	[DF_QUERIES] = { "gw_dns_queries_total", "counter",
			 "Queries gw-dns received, by transport (udp, tcp)." },
	[DF_ANSWERS] = { "gw_dns_answers_total", "counter",
			 "Answers gw-dns sent, by where they came from (local: the household's "
			 "zone, cache, forward: an upstream's, canary: a bypass canary)." },
	[DF_TRUNCATED] = { "gw_dns_answers_truncated_total", "counter",
			   "UDP answers sent truncated (the client asks again over TCP)." },
	[DF_REJECTED] = { "gw_dns_rejected_total", "counter",
			  "Queries answered REFUSED, FORMERR or NOTIMP, by reason." },
	[DF_DROPS] = { "gw_dns_drops_total", "counter",
		       "Datagrams gw-dns dropped unanswered, by reason." },
	[DF_SERVFAIL] = { "gw_dns_servfail_total", "counter",
			  "Queries answered SERVFAIL, by reason." },
	[DF_HOLDS] = { "gw_dns_holds_total", "counter",
		       "Answers held until gwd had their addresses in every engine." },
	[DF_HOLDS_RELEASED] = { "gw_dns_holds_released_total", "counter",
				"Held answers released (gwd took their addresses)." },
	[DF_LEARNS] = { "gw_dns_learns_total", "counter",
			"LEARN messages gw-dns sent gwd (a listed name's addresses)." },
	[DF_POLICY_LOADS] = { "gw_dns_policy_loads_total", "counter",
			      "Compiled policies gw-dns loaded." },
	[DF_BLOCKED] = { "gw_dns_blocked_answers_total", "counter",
			 "Block answers given to a device the policy blocks from every address "
			 "of a name." },
	[DF_UP_QUERIES] = { "gw_dns_upstream_queries_total", "counter",
			    "Queries gw-dns sent its upstreams." },
	[DF_UP_TCP] = { "gw_dns_upstream_tcp_queries_total", "counter",
			"Queries gw-dns asked its upstreams again over TCP." },
	[DF_UP_ANSWERS] = { "gw_dns_upstream_answers_total", "counter",
			    "Upstream answers gw-dns accepted." },
	[DF_UP_ERRORS] = { "gw_dns_upstream_errors_total", "counter",
			   "Upstream queries that failed to send or connect." },
	[DF_UP_RCODES] = { "gw_dns_upstream_error_rcodes_total", "counter",
			   "Upstream answers with an error rcode." },
	[DF_UP_DROPS] = { "gw_dns_upstream_drops_total", "counter",
			  "Upstream datagrams gw-dns refused to take, by reason." },
	[DF_UP_PENDING] = { "gw_dns_upstream_pending", "gauge",
			    "Queries waiting for an upstream's answer now." },
	[DF_CACHE_HITS] = { "gw_dns_cache_hits_total", "counter", "Lookups the cache answered." },
	[DF_CACHE_MISSES] = { "gw_dns_cache_misses_total", "counter",
			      "Lookups the cache could not answer." },
	[DF_CACHE_INSERTS] = { "gw_dns_cache_inserts_total", "counter",
			       "Answers put into the cache." },
	[DF_CACHE_EVICTIONS] = { "gw_dns_cache_evictions_total", "counter",
				 "Answers the cache let go to make room." },
	[DF_CACHE_BYTES] = { "gw_dns_cache_bytes", "gauge", "Bytes the cache holds now." },
	[DF_CACHE_ENTRIES] = { "gw_dns_cache_entries", "gauge", "Answers the cache holds now." },
	[DF_TCP_CONNS] = { "gw_dns_tcp_connections_total", "counter",
			   "TCP connections gw-dns accepted from clients." },
	[DF_TCP_DROPPED] = { "gw_dns_tcp_connections_dropped_total", "counter",
			     "Client TCP connections closed at once (too many)." },
	[DF_CONTROL_ERRORS] = { "gw_dns_control_errors_total", "counter",
				"Messages from gwd gw-dns refused." },
	[DF_OTHER] = { "gw_dns_other_total", "counter",
		       "A counter of gw-dns this gwd has no family for, by its name." },
};

/* gw-dns's name (dns/stats.h) -> family and label; a name ending in '.'
 * is a prefix, the rest of the name being the label's value. */
static const struct {
	const char *dns;
	enum dns_family f;
	const char *key, *value;
} dns_map[] = {
	{ "query.", DF_QUERIES, "transport", NULL },
	{ "answer.truncated", DF_TRUNCATED, NULL, NULL },
	{ "answer.", DF_ANSWERS, "source", NULL },
	{ "refused.", DF_REJECTED, "reason", NULL },
	{ "formerr", DF_REJECTED, "reason", "formerr" },
	{ "notimp", DF_REJECTED, "reason", "notimp" },
	{ "drop.", DF_DROPS, "reason", NULL },
	{ "servfail.", DF_SERVFAIL, "reason", NULL },
	{ "hold", DF_HOLDS, NULL, NULL },
	{ "hold.released", DF_HOLDS_RELEASED, NULL, NULL },
	{ "learn.sent", DF_LEARNS, NULL, NULL },
	{ "policy.loaded", DF_POLICY_LOADS, NULL, NULL },
	{ "blocked.device", DF_BLOCKED, NULL, NULL },
	{ "upstream.sent", DF_UP_QUERIES, NULL, NULL },
	{ "upstream.tcp", DF_UP_TCP, NULL, NULL },
	{ "upstream.answer", DF_UP_ANSWERS, NULL, NULL },
	{ "upstream.error", DF_UP_ERRORS, NULL, NULL },
	{ "upstream.rcode", DF_UP_RCODES, NULL, NULL },
	{ "upstream.drop.", DF_UP_DROPS, "reason", NULL },
	{ "upstream.pending", DF_UP_PENDING, NULL, NULL },
	{ "cache.hit", DF_CACHE_HITS, NULL, NULL },
	{ "cache.miss", DF_CACHE_MISSES, NULL, NULL },
	{ "cache.insert", DF_CACHE_INSERTS, NULL, NULL },
	{ "cache.evict", DF_CACHE_EVICTIONS, NULL, NULL },
	{ "cache.bytes", DF_CACHE_BYTES, NULL, NULL },
	{ "cache.entries", DF_CACHE_ENTRIES, NULL, NULL },
	{ "tcp.accept", DF_TCP_CONNS, NULL, NULL },
	{ "tcp.drop", DF_TCP_DROPPED, NULL, NULL },
	{ "control.error", DF_CONTROL_ERRORS, NULL, NULL },
};

/* The mapping of one gw-dns counter: its family, label key and value (the
 * value NULL without a label).  An unknown name goes to DF_OTHER. */
static enum dns_family dns_family_of(const char *name, const char **key, const char **value)
{
	for (size_t i = 0; i < sizeof(dns_map) / sizeof(dns_map[0]); i++) {
		size_t n = strlen(dns_map[i].dns);
		bool prefix = dns_map[i].dns[n - 1] == '.';
		if (prefix ? strncmp(name, dns_map[i].dns, n) || !name[n] || strchr(name + n, '.')
			   : strcmp(name, dns_map[i].dns))
			continue;
		*key = dns_map[i].key;
		*value = dns_map[i].value ? dns_map[i].value : prefix ? name + n : NULL;
		return dns_map[i].f;
	}
	*key = "counter";
	*value = name;
	return DF_OTHER;
}

int gwd_metrics_dns_family(const char *name)
{
	const char *key, *value;
	enum dns_family f = dns_family_of(name, &key, &value);
	return f == DF_OTHER ? -1 : (int)f;
}

/* gw_dns_up, then gw-dns's counters (v, n; none when it did not answer). */
static void dns_section(struct evbuffer *out, const struct gwdns_counter *v, size_t n)
{
	family(out, "gw_dns_up", "gauge",
	       "1 when gw-dns answered gwd's request for its counters for this scrape, else 0.");
	evbuffer_add_printf(out, "gw_dns_up %d\n", v ? 1 : 0);
	if (!v)
		return;
	for (int f = 0; f < DF_COUNT; f++) {
		bool head = false;
		for (size_t i = 0; i < n; i++) {
			const char *key, *value;
			if ((int)dns_family_of(v[i].name, &key, &value) != f)
				continue;
			if (!head)
				family(out, dns_families[f].name, dns_families[f].type,
				       dns_families[f].help);
			head = true;
			evbuffer_add_printf(out, "%s", dns_families[f].name);
			if (value) {
				evbuffer_add_printf(out, "{%s=\"", key);
				label(out, value);
				evbuffer_add(out, "\"}", 2);
			}
			evbuffer_add_printf(out, " %llu\n", (unsigned long long)v[i].value);
		}
	}
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
	family(out, "gw_domains_learned", "gauge", "Learned (name, address) pairs whose TTL has not run out.");
	evbuffer_add_printf(out, "gw_domains_learned %zu\n", gwd_domains_live(d->domains, gwd_mono_s()));
	family(out, "gw_events_total", "counter", "Live events gwd wrote for its subscribers.");
	evbuffer_add_printf(out, "gw_events_total %llu\n",
			    (unsigned long long)gwd_events_seq(gwd_observe_events(d->obs)));
	return 0;
}

int gwd_metrics_render_dns(struct gwd *d, const struct gwdns_counter *v, size_t n,
			   struct evbuffer *out)
{
	int r = gwd_metrics_render(d, out);
	if (r == 0 && d->dns)
		dns_section(out, v, n);
	return r;
}

static void reply_page(struct gwd_metrics *m, struct evhttp_request *req,
		       const struct gwdns_counter *v, size_t n)
{
	struct evbuffer *out = evbuffer_new();
	if (!out) {
		evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
		return;
	}
	gwd_metrics_render_dns(m->d, v, n, out);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", out);
	evbuffer_free(out);
}

/* Every waiting scrape gets its page: with v when gw-dns answered. */
static void reply_waiting(struct gwd_metrics *m, const struct gwdns_counter *v, size_t n)
{
	size_t nwait = m->nwait;
	struct evhttp_request *wait[METRICS_WAIT_MAX];
	memcpy(wait, m->wait, nwait * sizeof(wait[0]));
	m->nwait = 0;
	for (size_t i = 0; i < nwait; i++)
		reply_page(m, wait[i], v, n);
}

static void on_dns_stats(const struct gwdns_counter *v, size_t n, int err, void *arg)
{
	struct gwd_metrics *m = arg;
	(void)err;
	m->asking = false;
	evtimer_del(m->dns_timer);
	reply_waiting(m, err ? NULL : v, n);
}

static void on_dns_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct gwd_metrics *m = arg;
	(void)fd;
	(void)what;
	gwd_log("metrics_dns_timeout", "waited_ms=%d waiting=%zu", METRICS_DNS_WAIT_MS, m->nwait);
	gwd_dns_stats_cancel(m->d->dns);
	m->asking = false;
	reply_waiting(m, NULL, 0);
}

/* /metrics: at once without the DNS service; with it, once gw-dns has
 * sent its counters (a STATS request shared by the scrapes meanwhile), or
 * after METRICS_DNS_WAIT_MS without them (gw_dns_up 0). */
static void metrics_page(struct gwd_metrics *m, struct evhttp_request *req)
{
	if (!m->d->dns || m->nwait == METRICS_WAIT_MAX) {
		reply_page(m, req, NULL, 0);
		return;
	}
	if (!m->asking) {
		if (gwd_dns_stats(m->d->dns, on_dns_stats, m) < 0) {
			reply_page(m, req, NULL, 0);
			return;
		}
		m->asking = true;
		struct timeval tv = { METRICS_DNS_WAIT_MS / 1000, (METRICS_DNS_WAIT_MS % 1000) * 1000 };
		evtimer_add(m->dns_timer, &tv);
	}
	m->wait[m->nwait++] = req;
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
		metrics_page(m, req);
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
	if (!m || !(m->http = evhttp_new(base)) ||
	    !(m->dns_timer = evtimer_new(base, on_dns_timeout, m))) {
		if (m && m->http)
			evhttp_free(m->http);
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
	if (m->asking)
		gwd_dns_stats_cancel(m->d->dns);
	/* A scrape still waiting is told gwd is stopping (its connection
	 * may be gone: then the reply frees the request). */
	for (size_t i = 0; i < m->nwait; i++)
		evhttp_send_error(m->wait[i], HTTP_SERVUNAVAIL, "gwd is stopping");
	m->nwait = 0;
	if (m->dns_timer)
		event_free(m->dns_timer);
	if (m->http)
		evhttp_free(m->http);
	free(m);
}
