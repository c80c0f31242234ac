/* SPDX-License-Identifier: MIT */
/*
 * Queries (daemon_int.h): status, policy.history, policy.get, devices and
 * flows.  Read only: they look at gwd's state, the history on disk and
 * the flow collector, and change nothing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon_int.h"
#include "eval.h"
#include "flows_json.h"
#include "guard.h"
#include "image.h"

/* Which engine enforces the policy on which port (gwd.conf): the kernel
 * ports' engines, and the guard's LAN and WAN interfaces; "mode": how,
 * where the engine says (the eBPF classifier's hook). */
static json_t *ports_json(const struct gwd *d)
{
	const struct gwd_config *c = &d->cfg;
	json_t *a = json_array();
	struct {
		const char (*p)[GWD_IFNAME_MAX];
		unsigned n;
		const char *side, *engine;
	} lists[] = {
		{ c->ebpf_ports, c->nebpf_ports, "lan", "ebpf" },
		{ c->nft_ports, c->nnft_ports, "lan", "nft" },
		/* A LAN interface of no kernel engine: the fast path's twin
		 * when there is a dataplane (it decides before it hands a
		 * packet on), else none. */
		{ c->lan_ports, c->nlan_ports, "lan", c->dataplane[0] ? "dataplane" : "none" },
		{ c->wan_ports, c->nwan_ports, "wan", "guard" },
	};
	for (size_t l = 0; a && l < sizeof(lists) / sizeof(lists[0]); l++)
		for (unsigned i = 0; i < lists[l].n; i++) {
			json_t *o = json_pack("{s:s,s:s,s:s}", "name", lists[l].p[i], "side",
					      lists[l].side, "engine", lists[l].engine);
			for (size_t k = 0; o && k < d->nengines; k++) {
				const struct gwd_engine *e = d->engines[k];
				const char *m = e->ops->port_mode && !strcmp(e->ops->name,
									     lists[l].engine)
							? e->ops->port_mode(e, lists[l].p[i])
							: NULL;
				if (m)
					json_object_set_new(o, "mode", json_string(m));
			}
			json_array_append_new(a, o);
		}
	return a;
}

struct counts {
	const struct pol_ir *ir;
	json_t *o;
};

static int add_count(uint32_t rule, uint64_t pkts, uint64_t bytes, void *arg)
{
	struct counts *c = arg;
	const char *name = rule == POL_RULE_DEFAULT ? "default" :
			   rule == POL_RULE_DEFAULT_NEW ? "default new" :
			   rule < c->ir->nrules ? pol_ir_str(c->ir, c->ir->rules[rule].name) : NULL;
	if (name && pkts)
		json_object_set_new(c->o, name, json_integer((json_int_t)pkts));
	return 0;
}

void gwd_query_status(struct gwd *d, struct gwd_result *res)
{
	json_t *engines = json_array();
	for (size_t i = 0; i < d->nengines; i++) {
		struct gwd_engine *e = d->engines[i];
		json_t *o = json_pack("{s:s,s:I,s:s}", "name", e->ops->name, "generation",
				      (json_int_t)e->generation, "state", e->ops->state(e));
		/* Packets each rule decided, by name, where the engine keeps
		 * count and runs the generation whose names gwd has. */
		if (o && e->ops->rule_counts && d->ir && e->generation == d->st.generation) {
			struct counts c = { d->ir, json_object() };
			if (c.o && e->ops->rule_counts(e, add_count, &c) == 0)
				json_object_set_new(o, "rules", c.o);
			else
				json_decref(c.o);
		}
		json_array_append_new(engines, o);
	}
	json_t *pending = json_null();
	if (d->st.pending) {
		/* seconds_left runs on the monotonic clock; deadline is when that
		 * is by the wall clock now, for people. */
		int64_t left = gwd_gen_confirm_left_ms(d);
		left = left > 0 ? (left + 999) / 1000 : 0;
		pending = json_pack("{s:I,s:I,s:I,s:I}", "generation", (json_int_t)d->st.pending_gen,
				    "previous", (json_int_t)d->st.pending_prev, "deadline",
				    (json_int_t)((int64_t)time(NULL) + left), "seconds_left",
				    (json_int_t)left);
	}
	res->fields = json_pack("{s:I,s:o,s:o,s:o,s:s,s:o}", "generation",
				(json_int_t)d->st.generation,
				"hash", d->st.generation && d->image ? json_string(d->hash)
								     : json_null(),
				"pending", pending, "engines", engines, "state_dir",
				d->cfg.state_dir, "degraded",
				d->degraded[0] ? json_string(d->degraded) : json_null());
	if (res->fields && d->ir && d->mask)
		json_object_set_new(res->fields, "active_rules",
				    json_pack("{s:I,s:I}", "active",
					      (json_int_t)gwd_sched_popcount(d->mask, d->ir->nrules),
					      "rules", (json_int_t)d->ir->nrules));
	if (res->fields && d->ir) {
		const char *wait = gwd_sched_state(d);
		json_object_set_new(res->fields, "schedules",
				    wait ? json_sprintf("waiting for a synchronised clock: %s", wait)
					 : json_string("running"));
	}
	if (res->fields)
		json_object_set_new(res->fields, "domains_learned",
				    json_integer((json_int_t)gwd_domains_live(d->domains, gwd_mono_s())));
	if (res->fields) {
		json_t *g = d->guard ? gwd_guard_json(d->guard) :
			    json_pack("{s:s,s:s}", "state", "off", "reason",
				      d->cfg.guard ? "nothing to guard: no engine, no lan_ports or "
						     "wan_ports in gwd.conf"
						   : "guard = off in gwd.conf");
		json_object_set_new(res->fields, "guard", g);
		json_object_set_new(res->fields, "ports", ports_json(d));
	}
	if (res->fields)
		json_object_set_new(res->fields, "dns", d->dns ? gwd_dns_status(d->dns) : json_null());
	if (res->fields)
		json_object_set_new(res->fields, "identity", gwd_registry_status(d));
}

void gwd_query_history(struct gwd *d, const struct gwd_api_req *req, struct gwd_result *res)
{
	if (req->generation) {
		json_t *e;
		int r = gwd_history_get(d->cfg.state_dir, req->generation, &e, NULL, NULL);
		if (r == -ENOENT)
			gwd_fail(res, "no_such_generation",
				 "there is no generation %u in the history", req->generation);
		else if (r < 0)
			gwd_fail(res, "internal", "generation %u does not read: %s",
				 req->generation, strerror(-r));
		else
			res->fields = json_pack("{s:o}", "entry", e);
		return;
	}
	json_t *list;
	uint32_t max;
	int r = gwd_history_list(d->cfg.state_dir, &list, &max);
	if (r < 0) {
		gwd_fail(res, "internal", "the history does not read: %s", strerror(-r));
		return;
	}
	res->fields = json_pack("{s:I,s:o}", "current", (json_int_t)d->st.generation,
				"generations", list);
}

static char *base64(const void *data, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const uint8_t *p = data;
	char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
			     (i + 2 < n ? p[i + 2] : 0);
		*o++ = tab[v >> 18 & 63];
		*o++ = tab[v >> 12 & 63];
		*o++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? tab[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

/* A generation's record, text and image (base64), for `gwctl policy diff`
 * and anyone who wants the exact policy in force. */
void gwd_query_get(struct gwd *d, const struct gwd_api_req *req, struct gwd_result *res)
{
	uint32_t gen = req->generation ? req->generation : d->st.generation;
	if (!gen) {
		gwd_fail(res, "no_such_generation", "no policy was applied yet");
		return;
	}
	json_t *e;
	void *img;
	size_t size;
	int r = gwd_history_get(d->cfg.state_dir, gen, &e, &img, &size);
	if (r == -ENOENT) {
		gwd_fail(res, "no_such_generation", "there is no generation %u in the history",
			 gen);
		return;
	}
	if (r == -EBADMSG) {
		gwd_fail(res, "damaged", "generation %u of the history is damaged: its record does "
			 "not parse, or its image is missing or differs from its recorded hash", gen);
		return;
	}
	if (r < 0) {
		gwd_fail(res, "internal", "generation %u does not read: %s", gen, strerror(-r));
		return;
	}
	char *b64 = base64(img, size);
	free(img);
	if (b64)
		res->fields = json_pack("{s:I,s:b,s:o,s:s}", "generation", (json_int_t)gen,
					"current", gen == d->st.generation, "entry", e, "image", b64);
	else
		json_decref(e);
	free(b64);
}

/* The running generation's IR, or NULL (nothing applied, or no memory:
 * the replies then name nothing). */
static struct pol_ir *current_ir(struct gwd *d)
{
	struct pol_ir *ir = NULL;
	char err[256];
	if (d->image && pol_image_load(d->image, d->image_size, &ir, err, sizeof(err)) < 0)
		ir = NULL;
	return ir;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void gwd_query_devices(struct gwd *d, const struct gwd_api_req *req, struct gwd_result *res)
{
	/* With the identity registry, the full reply carries its record of
	 * each device (built as JSON, then added to); brief (gwtop asks every
	 * second) is the flow collector's text alone. */
	if (!req->brief && d->reg) {
		res->fields = gwd_devices_json(d->ir, d->flows, now_ms());
		if (res->fields) {
			gwd_registry_devices(d, res->fields);
			json_object_set_new(res->fields, "generation", json_integer(d->st.generation));
		}
		return;
	}
	/* The generation in force's IR, not a load of its image per request:
	 * gwtop asks every second. */
	char *text;
	size_t len;
	if (gwd_devices_text(d->ir, d->flows, now_ms(), req->brief, &text, &len) < 0)
		return; /* "internal", out of memory */
	char gen[40];
	int n = snprintf(gen, sizeof(gen), ",\"generation\":%u", d->st.generation);
	char *t = realloc(text, len + (size_t)n + 1);
	if (!t) {
		free(text);
		return;
	}
	memcpy(t + len, gen, (size_t)n + 1);
	res->raw = t;
	res->raw_len = len + (size_t)n;
}

/* The IRs of older generations a flows reply names rules from, loaded
 * from the history once per request. */
struct gen_cache {
	struct gwd *d;
	uint32_t gen[8];
	struct pol_ir *ir[8];
	size_t n;
};

static const struct pol_ir *ir_for_gen(uint32_t gen, void *arg)
{
	struct gen_cache *c = arg;
	for (size_t i = 0; i < c->n; i++)
		if (c->gen[i] == gen)
			return c->ir[i];
	if (c->n == 8)
		return NULL;
	json_t *e;
	void *img;
	size_t size;
	struct pol_ir *ir = NULL;
	char err[256];
	if (gwd_history_get(c->d->cfg.state_dir, gen, &e, &img, &size) == 0) {
		json_decref(e);
		if (pol_image_load(img, size, &ir, err, sizeof(err)) < 0)
			ir = NULL;
		free(img);
	}
	c->gen[c->n] = gen;
	c->ir[c->n++] = ir;
	return ir;
}

const char *gwd_peer_name(uint8_t family, const uint8_t *addr, void *arg)
{
	struct gwd *d = arg;
	return gwd_domains_name_of(d->domains, family, addr, gwd_mono_s());
}

void gwd_query_flows(struct gwd *d, const struct gwd_api_req *req, struct gwd_result *res)
{
	struct pol_ir *ir = current_ir(d);
	struct gen_cache cache = { .d = d };
	uint8_t macs[64][6];
	size_t nmacs = 0;
	if (req->device) {
		int r = gwd_device_macs(ir, req->device, macs, 64, &nmacs);
		if (r == -ENOBUFS) {
			gwd_fail(res, "bad_argument",
				 "device '%s' has more than 64 MACs: ask by MAC", req->device);
			goto out;
		}
		if (r < 0) {
			gwd_fail(res, "bad_argument",
				 "'%s' is neither a device of generation %u nor a MAC address "
				 "(aa:bb:cc:dd:ee:ff)", req->device, d->st.generation);
			goto out;
		}
	}
	res->fields = gwd_flows_json(ir, d->st.generation, d->flows,
				     req->device ? (const uint8_t(*)[6])macs : NULL, nmacs,
				     req->limit, ir_for_gen, &cache, gwd_peer_name, d, now_ms());
	if (res->fields)
		json_object_set_new(res->fields, "generation", json_integer(d->st.generation));
out:
	for (size_t i = 0; i < cache.n; i++)
		pol_ir_free(cache.ir[i]);
	pol_ir_free(ir);
}

/* domains: the learned pairs, a name's lists in the policy in force. */
void gwd_query_domains(struct gwd *d, const struct gwd_api_req *req, struct gwd_result *res)
{
	struct gwd_domain_pair *v = NULL;
	size_t n = 0;
	uint64_t now = gwd_mono_s();
	if (gwd_domains_pairs(d->domains, now, req->name, &v, &n) < 0) {
		gwd_fail(res, "internal", "out of memory listing learned names");
		return;
	}
	json_t *list = json_array();
	for (size_t i = 0; i < n && i < req->limit; i++) {
		char addr[INET6_ADDRSTRLEN];
		inet_ntop(v[i].family == 4 ? AF_INET : AF_INET6, v[i].addr, addr, sizeof(addr));
		/* The lists (domain sets) the name is in now: a named list, or
		 * "rule:NAME" for a rule's own names.  None: learned for a
		 * policy since replaced, or by hand. */
		json_t *lists = json_array();
		uint64_t sets = d->ir ? pol_domain_sets_of(d->ir, v[i].name) : 0;
		for (uint32_t s = 0; d->ir && s < d->ir->ndomain_sets; s++)
			if (sets >> s & 1)
				json_array_append_new(
					lists, json_string(pol_ir_str(d->ir, d->ir->domain_sets[s].name)));
		json_array_append_new(list, json_pack("{s:s,s:s,s:I,s:o}", "name", v[i].name,
						      "address", addr, "ttl", (json_int_t)v[i].ttl_s,
						      "lists", lists));
	}
	res->fields = json_pack("{s:o,s:I,s:I,s:I}", "domains", list, "count", (json_int_t)n,
				"max", (json_int_t)GWD_MAX_LEARNED, "generation",
				(json_int_t)d->st.generation);
	free(v);
}
