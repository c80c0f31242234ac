/* SPDX-License-Identifier: MIT */
/*
 * Learned domains (learn.h): gwd's table of (name, address) pairs and
 * the engines' domain sets.  gwd_learn is the one path from an answer to
 * the engines; the API's domains.learn is a thin caller of it.  Touches
 * the table (domains.c) and the engines' set_domains/stage_domains.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon_int.h"
#include "eval.h"
#include "image.h"
#include "log.h"

/* The API may not ask what the entry point refuses. */
_Static_assert(GWD_API_MAX_ADDRS <= GWD_LEARN_MAX_ADDRS, "domains.learn's addresses");
_Static_assert(GWD_API_MAX_TTL <= GWD_LEARN_MAX_TTL, "domains.learn's ttl");
_Static_assert(GWD_API_MAX_NAME == GWD_LEARN_MAX_NAME, "domains.learn's name");

void gwd_learn_push(struct gwd *d, struct gwd_engine *e, const struct pol_ir *ir, bool staged)
{
	int (*op)(struct gwd_engine *, const struct gwd_domain_entry *, size_t, char *, size_t) =
		staged ? e->ops->stage_domains : e->ops->set_domains;
	struct gwd_domain_entry *v;
	size_t n;
	char err[256], q[300];
	if (!op || gwd_domains_entries(d->domains, ir, gwd_mono_s(), NULL, &v, &n) < 0 || !n)
		return;
	if (op(e, v, n, err, sizeof(err)) < 0)
		gwd_log("domains_push_failed", "engine=%s entries=%zu staged=%d reason=%s",
			e->ops->name, n, staged, gwd_log_value(q, sizeof(q), err));
	free(v);
}

/* "via=api uid=0", "via=dns client=192.0.2.7": the log line's tail. */
static void who_text(const struct gwd_learn_who *who, char *buf, size_t size)
{
	char q[64], a[INET6_ADDRSTRLEN];
	if (!who) {
		snprintf(buf, size, "via=unknown");
		return;
	}
	int n = snprintf(buf, size, "via=%s", gwd_log_value(q, sizeof(q), who->via ? who->via
										 : "unknown"));
	if (n < 0 || (size_t)n >= size)
		return;
	if (who->client_family == 4 || who->client_family == 6) {
		if (!inet_ntop(who->client_family == 4 ? AF_INET : AF_INET6, who->client, a,
			       sizeof(a)))
			snprintf(a, sizeof(a), "?");
		snprintf(buf + n, size - (size_t)n, " client=%s", a);
	} else {
		snprintf(buf + n, size - (size_t)n, " uid=%u", who->uid);
	}
}

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int gwd_learn(struct gwd *d, const char *name, const struct gwd_learn_addr *addrs,
	      size_t naddrs, uint32_t ttl_s, const struct gwd_learn_who *who,
	      struct gwd_learn_result *ret)
{
	uint64_t t0 = mono_us();
	if (!name || !gwd_domain_name_ok(name) || !addrs || !naddrs ||
	    naddrs > GWD_LEARN_MAX_ADDRS || !ttl_s || ttl_s > GWD_LEARN_MAX_TTL)
		return -EINVAL;
	for (size_t i = 0; i < naddrs; i++)
		if (addrs[i].family != 4 && addrs[i].family != 6)
			return -EINVAL;
	uint64_t now = gwd_mono_s();
	for (size_t i = 0; i < naddrs; i++) {
		int r = gwd_domains_learn(d->domains, name, addrs[i].family, addrs[i].addr, ttl_s,
					  now);
		if (r < 0)
			return r;
	}
	struct gwd_learn_result res = { 0 };
	res.sets = d->ir ? pol_domain_sets_of(d->ir, name) : 0;
	struct gwd_domain_entry *v = NULL;
	size_t n = 0;
	int r = gwd_domains_entries(d->domains, d->ir, now, name, &v, &n);
	if (r < 0)
		return r;
	/* Engines that take the addresses in two halves (engine.h) get the
	 * request first and are answered last: the fast path's round trip
	 * to gw-dataplane overlaps the eBPF and nft updates, and the hold is
	 * the longest of them rather than their sum. */
	char each[GWD_MAX_ENGINES * 32] = "";
	size_t at = 0, slot[GWD_MAX_ENGINES];
	uint64_t began[GWD_MAX_ENGINES];
	bool started[GWD_MAX_ENGINES] = { false };
	for (size_t i = 0; n && i < d->nengines; i++) {
		struct gwd_engine *e = d->engines[i];
		if (!e->ops->set_domains)
			continue;
		slot[i] = res.nengines;
		struct gwd_learn_engine *o = &res.engines[res.nengines++];
		o->name = e->ops->name;
		began[i] = mono_us();
		if (e->generation != d->st.generation || !d->ir)
			snprintf(o->error, sizeof(o->error), "not running the current generation");
		else if (e->ops->set_domains_start && e->ops->set_domains_finish)
			started[i] = e->ops->set_domains_start(e, v, n, o->error, sizeof(o->error)) == 0;
	}
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; n && i < d->nengines; i++) {
			struct gwd_engine *e = d->engines[i];
			if (!e->ops->set_domains || started[i] != (pass == 1))
				continue;
			struct gwd_learn_engine *o = &res.engines[slot[i]];
			if (pass == 1)
				o->ok = e->ops->set_domains_finish(e, o->error, sizeof(o->error)) == 0;
			else if (!o->error[0] && !(e->ops->set_domains_start && e->ops->set_domains_finish)) {
				began[i] = mono_us(); /* its own time, not the others' starts */
				o->ok = e->ops->set_domains(e, v, n, o->error, sizeof(o->error)) == 0;
			}
			if (!o->ok)
				res.nfailed++;
			int k = snprintf(each + at, sizeof(each) - at, "%s%.12s:%llu", at ? "," : "",
					 o->name, (unsigned long long)(mono_us() - began[i]));
			if (k > 0 && (size_t)k < sizeof(each) - at)
				at += (size_t)k;
		}
	}
	free(v);
	res.learned = gwd_domains_count(d->domains);
	char q[300], w[128];
	who_text(who, w, sizeof(w));
	/* us: the table and every engine updated, the most of an answer's hold. */
	gwd_log("domains_learn",
		"name=%s addrs=%zu ttl=%u sets=%#llx engines=%zu failed=%zu us=%llu engine_us=%s %s",
		gwd_log_value(q, sizeof(q), name), naddrs, ttl_s, (unsigned long long)res.sets,
		res.nengines, res.nfailed, (unsigned long long)(mono_us() - t0),
		each[0] ? each : "none", w);
	*ret = res;
	return 0;
}

/* domains.learn (docs/api.md): gwd_learn with the request's fields, its
 * result as JSON. */
void gwd_learn_cmd(struct gwd *d, const struct gwd_api_req *req, const struct gwd_peer *peer,
		   struct gwd_result *res)
{
	struct gwd_learn_addr addrs[GWD_API_MAX_ADDRS];
	for (uint32_t i = 0; i < req->naddrs; i++) {
		addrs[i].family = req->addrs[i].family;
		memcpy(addrs[i].addr, req->addrs[i].addr, 16);
	}
	struct gwd_learn_who who = { .via = "api", .uid = (uint32_t)peer->uid };
	struct gwd_learn_result lr;
	int r = gwd_learn(d, req->name, addrs, req->naddrs, req->ttl, &who, &lr);
	if (r < 0) {
		gwd_fail(res, "internal", "learning %s: %s", req->name, strerror(-r));
		return;
	}
	json_t *sets = json_array(), *engines = json_array();
	for (uint32_t s = 0; d->ir && s < d->ir->ndomain_sets; s++) {
		const char *set = pol_ir_str(d->ir, d->ir->domain_sets[s].name);
		if (lr.sets >> s & 1)
			json_array_append_new(sets, json_string(set));
	}
	for (size_t i = 0; i < lr.nengines; i++) {
		const struct gwd_learn_engine *o = &lr.engines[i];
		json_t *e = json_pack("{s:s,s:b}", "name", o->name, "ok", o->ok);
		if (e && !o->ok)
			json_object_set_new(e, "error", json_string(o->error));
		json_array_append_new(engines, e);
	}
	res->fields = json_pack("{s:s,s:I,s:I,s:o,s:o,s:I}", "name", req->name, "addrs",
				(json_int_t)req->naddrs, "ttl", (json_int_t)req->ttl, "sets", sets,
				"engines", engines, "learned", (json_int_t)lr.learned);
}
