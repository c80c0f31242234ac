/* SPDX-License-Identifier: MIT */
/* The guard in gwd (guard.h).  Touches gwd's nftables table only. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "guard.h"
#include "log.h"
#include "nft.h"
#include "nft_guard.h"

#define CHECK_S 5

struct gwd_guard {
	struct gwd_config cfg;
	struct gwd_nft *n;
	struct event *check;
	char state[300];
};

static void set_state(struct gwd_guard *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_state(struct gwd_guard *g, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	gwd_engine_vset_state(g->state, sizeof(g->state), "guard", fmt, ap);
	va_end(ap);
}

static int install(struct gwd_guard *g, char *err, size_t errlen)
{
	struct gwd_nft_batch *b;
	int r = gwd_nft_batch_new(g->n, &b);
	if (r < 0) {
		snprintf(err, errlen, "%s", strerror(-r));
		return r;
	}
	gwd_nft_guard_build(b, &g->cfg);
	r = gwd_nft_commit(b, err, errlen);
	gwd_nft_batch_free(b);
	return r;
}

bool gwd_guard_ensure(struct gwd_guard *g)
{
	char why[256], q[300];
	bool ok;
	int r = gwd_nft_guard_check(g->n, &g->cfg, &ok, why, sizeof(why));
	if (r < 0) {
		set_state(g, "degraded: cannot read table inet %s: %s", g->cfg.nft_table,
			  strerror(-r));
		return false;
	}
	if (ok) {
		set_state(g, "ok");
		return true;
	}
	gwd_log("guard_missing", "table=%s reason=%s", g->cfg.nft_table,
		gwd_log_value(q, sizeof(q), why));
	char err[256];
	if (install(g, err, sizeof(err)) < 0) {
		set_state(g, "degraded: %s; putting it back failed: %s", why, err);
		return false;
	}
	if (gwd_nft_guard_check(g->n, &g->cfg, &ok, why, sizeof(why)) < 0 || !ok) {
		set_state(g, "degraded: put back, still not in place: %s", why);
		return false;
	}
	gwd_log("guard_restored", "table=%s", g->cfg.nft_table);
	set_state(g, "ok");
	return true;
}

static void on_check(evutil_socket_t fd, short what, void *arg)
{
	gwd_guard_ensure(arg);
}

int gwd_guard_new(struct event_base *base, const struct gwd_config *cfg, struct gwd_guard **ret,
		  char *err, size_t errlen)
{
	struct gwd_guard *g = calloc(1, sizeof(*g));
	if (!g) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	g->cfg = *cfg;
	int r = gwd_nft_open(cfg->nft_table, &g->n);
	if (r < 0) {
		snprintf(err, errlen, "nftables: %s", strerror(-r));
		goto fail;
	}
	char why[256];
	if ((r = install(g, why, sizeof(why))) < 0) {
		snprintf(err, errlen, "the guard (table inet %s): %s", cfg->nft_table, why);
		goto fail;
	}
	bool ok;
	if ((r = gwd_nft_guard_check(g->n, cfg, &ok, why, sizeof(why))) < 0) {
		snprintf(err, errlen, "the guard (table inet %s) does not read back: %s",
			 cfg->nft_table, strerror(-r));
		goto fail;
	}
	if (!ok) {
		r = -EIO;
		snprintf(err, errlen, "the guard is not in place after installing it: %s", why);
		goto fail;
	}
	snprintf(g->state, sizeof(g->state), "ok");
	if (base) {
		struct timeval tv = { .tv_sec = CHECK_S };
		g->check = event_new(base, -1, EV_PERSIST, on_check, g);
		if (!g->check || event_add(g->check, &tv) < 0) {
			r = -ENOMEM;
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
	}
	gwd_log("guard", "table=%s lan=%u wan=%u kernel_ports=%u nat=%u-%u", cfg->nft_table,
		cfg->nlan_ports + cfg->nebpf_ports + cfg->nnft_ports, cfg->nwan_ports,
		cfg->nebpf_ports + cfg->nnft_ports, cfg->nat_lo, cfg->nat_hi);
	*ret = g;
	return 0;
fail:
	gwd_guard_free(g);
	return r;
}

void gwd_guard_free(struct gwd_guard *g)
{
	if (!g)
		return;
	/* The guard stays in the kernel: it protects the gateway while gwd
	 * is down too. */
	if (g->check)
		event_free(g->check);
	gwd_nft_close(g->n);
	free(g);
}

const char *gwd_guard_state(const struct gwd_guard *g)
{
	return g->state;
}

static int add_drop(const char *reason, uint64_t pkts, uint64_t bytes, void *arg)
{
	json_object_set_new(arg, reason, json_integer((json_int_t)pkts));
	return 0;
}

json_t *gwd_guard_json(struct gwd_guard *g)
{
	char table[64];
	snprintf(table, sizeof(table), "inet %s", g->cfg.nft_table);
	json_t *drops = json_object();
	if (drops && gwd_nft_guard_drops(g->n, add_drop, drops) < 0) {
		json_decref(drops);
		drops = json_null();
	}
	return json_pack("{s:s,s:s,s:o}", "table", table, "state", g->state, "drops",
			 drops ? drops : json_null());
}
