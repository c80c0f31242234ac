/* SPDX-License-Identifier: MIT */
/*
 * gwd's side of the identity registry (daemon_int.h): the registry
 * (identity.h) fed by lease events (the API's dhcp.lease, dnsmasq's lease
 * file at start) and the neighbour tables of the LAN-side ports
 * (neigh.h); dnsmasq itself (dhcp.h); identity.json under state_dir; and
 * the zone and client map it hands the DNS service (dnsproc.h).
 *
 * Durability: a lease event is written to identity.json (synced) before
 * its reply, so the lease script's event is on disk when dnsmasq hears
 * back; neighbour changes are written within a second; when a device was
 * last seen, once a minute.  kill -9 of gwd loses at most that minute's
 * last-seen times.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon_int.h"
#include "dhcp.h"
#include "identity.h"
#include "log.h"
#include "names.h"
#include "neigh.h"
#include "store.h"

#define TICK_S       10
#define SEEN_SAVE_S  60
#define SAVE_DELAY_MS 500
#define FILE_MAX     (64u << 20)

struct gwd_registry {
	struct gwd *d;
	struct gwd_identity *id;
	struct gwd_neighmon *nm;
	struct gwd_dhcp *dhcp;
	struct event *push_ev, *save_ev, *tick;
	bool seen_dirty;
	uint64_t saved_s; /* CLOCK_MONOTONIC of the last write */
	char path[GWD_PATH_MAX + 32];
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int save(struct gwd_registry *g)
{
	json_t *j = gwd_identity_to_json(g->id);
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	int r = text ? gwd_write_file(g->path, text, strlen(text), true) : -ENOMEM;
	json_decref(j);
	free(text);
	if (r < 0)
		gwd_log("identity_save_failed", "file=%s reason=\"%s\"", g->path, strerror(-r));
	g->seen_dirty = false;
	g->saved_s = gwd_mono_s();
	return r;
}

/* The zone and the client map to the DNS service. */
static void push(struct gwd_registry *g)
{
	struct gwd_dns_record *rec = NULL;
	struct gwd_dns_client *cl = NULL;
	size_t nrec = 0, ncl = 0;
	if (!g->d->dns)
		return;
	int64_t now = now_ms();
	if (gwd_identity_records(g->id, now, &rec, &nrec) < 0 ||
	    gwd_identity_clients(g->id, now, &cl, &ncl) < 0) {
		gwd_log("identity_push_failed", "reason=nomem");
	} else {
		gwd_dns_set_records(g->d->dns, rec, nrec);
		gwd_dns_set_clients(g->d->dns, cl, ncl);
	}
	free(rec);
	free(cl);
}

static void on_push(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	push(arg);
}

static void on_save(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	save(arg);
}

/* What a change asks for: the DNS service told at the end of this turn of
 * the loop (many changes, one message), the file written now (durable) or
 * soon. */
static void changed(struct gwd_registry *g, unsigned ch, bool durable)
{
	if (ch & GWD_ID_ZONE) {
		struct timeval now = { 0, 0 };
		if (!evtimer_pending(g->push_ev, NULL))
			evtimer_add(g->push_ev, &now);
	}
	if (ch & GWD_ID_STATE) {
		if (durable) {
			if (evtimer_pending(g->save_ev, NULL))
				evtimer_del(g->save_ev);
			save(g);
		} else if (!evtimer_pending(g->save_ev, NULL)) {
			struct timeval later = { 0, SAVE_DELAY_MS * 1000 };
			evtimer_add(g->save_ev, &later);
		}
	}
	if (ch & GWD_ID_SEEN)
		g->seen_dirty = true;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct gwd_registry *g = arg;
	(void)fd;
	(void)what;
	changed(g, gwd_identity_expire(g->id, now_ms()), false);
	if (g->seen_dirty && gwd_mono_s() - g->saved_s >= SEEN_SAVE_S &&
	    !evtimer_pending(g->save_ev, NULL))
		save(g);
}

/* ---------------------------------------------------------------- events */

static void log_new(const struct gwd_registry *g, const uint8_t mac[6], const char *via)
{
	char m[POL_MAC_TEXT];
	const char *label = gwd_identity_new_label(g->id, mac);
	gwd_log("device_seen", "mac=%s name=%s via=%s random=%s", pol_mac_format(mac, m),
		label ? label : "-", via, (mac[0] & 2) ? "yes" : "no");
}

static int take_lease(struct gwd_registry *g, const struct gwd_lease *l, bool durable,
		      unsigned *ret_ch)
{
	bool known = gwd_identity_new_label(g->id, l->mac) != NULL;
	unsigned ch = 0;
	int r = gwd_identity_lease(g->id, l, now_ms(), &ch);
	if (r < 0)
		return r;
	if (!known && l->op != GWD_LEASE_DEL)
		log_new(g, l->mac, "dhcp");
	changed(g, ch, durable);
	*ret_ch = ch;
	return 0;
}

static void on_file_lease(const struct gwd_lease *l, void *arg)
{
	unsigned ch;
	take_lease(arg, l, false, &ch);
}

static void on_neigh(const struct gwd_neigh *n, uint32_t epoch, void *arg)
{
	struct gwd_registry *g = arg;
	bool known = !n->has_mac || gwd_identity_new_label(g->id, n->mac) != NULL;
	unsigned ch = 0;
	if (gwd_identity_neigh(g->id, n, epoch, now_ms(), &ch) < 0)
		return;
	if (!known)
		log_new(g, n->mac, "neighbour");
	changed(g, ch, false);
}

static void on_dump_done(uint32_t epoch, void *arg)
{
	struct gwd_registry *g = arg;
	changed(g, gwd_identity_neigh_sweep(g->id, epoch), false);
}

/* ---------------------------------------------------------------- lifetime */

/* identity.json into the registry; a file that does not read is set
 * aside (identity.json.damaged), never lost, and gwd starts without it. */
static void load(struct gwd_registry *g)
{
	char *text = NULL;
	size_t len = 0;
	int r = gwd_read_file(g->path, FILE_MAX, &text, &len);
	if (r == -ENOENT)
		return;
	json_error_t jerr;
	json_t *j = r == 0 ? json_loadb(text, len, 0, &jerr) : NULL;
	char err[256] = "";
	free(text);
	if (r == 0 && !j)
		snprintf(err, sizeof(err), "line %d: %s", jerr.line, jerr.text);
	else if (r < 0)
		snprintf(err, sizeof(err), "%s", strerror(-r));
	if (j && gwd_identity_from_json(g->id, j, err, sizeof(err)) == 0) {
		json_decref(j);
		gwd_log("identity_load", "file=%s devices=%zu", g->path, gwd_identity_count(g->id));
		return;
	}
	json_decref(j);
	char aside[GWD_PATH_MAX + 48];
	snprintf(aside, sizeof(aside), "%s.damaged", g->path);
	rename(g->path, aside);
	char q[300];
	gwd_log("identity_damaged", "file=%s moved_to=%s reason=%s", g->path, aside,
		gwd_log_value(q, sizeof(q), err));
}

/* The LAN-side ports whose neighbours are the household's devices. */
static size_t lan_side(const struct gwd_config *c, char (*out)[16])
{
	size_t n = 0;
	for (unsigned i = 0; i < c->nlan_ports; i++)
		memcpy(out[n++], c->lan_ports[i], 16);
	for (unsigned i = 0; i < c->nebpf_ports; i++)
		memcpy(out[n++], c->ebpf_ports[i], 16);
	for (unsigned i = 0; i < c->nnft_ports; i++)
		memcpy(out[n++], c->nft_ports[i], 16);
	for (unsigned i = 0; i < c->ndhcp_ports; i++) {
		bool dup = false;
		for (size_t k = 0; k < n; k++)
			dup |= !strcmp(out[k], c->dhcp_ports[i]);
		if (!dup)
			memcpy(out[n++], c->dhcp_ports[i], 16);
	}
	return n;
}

int gwd_registry_start(struct gwd *d, char *err, size_t errlen)
{
	struct gwd_registry *g = calloc(1, sizeof(*g));
	int r;
	if (!g)
		return -ENOMEM;
	g->d = d;
	d->reg = g;
	snprintf(g->path, sizeof(g->path), "%s/identity.json", d->cfg.state_dir);
	g->push_ev = evtimer_new(d->base, on_push, g);
	g->save_ev = evtimer_new(d->base, on_save, g);
	g->tick = event_new(d->base, -1, EV_PERSIST, on_tick, g);
	struct timeval tv = { TICK_S, 0 };
	if (!g->push_ev || !g->save_ev || !g->tick || gwd_identity_new(&g->id) < 0 ||
	    event_add(g->tick, &tv) < 0) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	load(g);
	gwd_identity_set_policy(g->id, d->ir);
	if (d->cfg.dhcp[0]) {
		/* Leases dnsmasq handed out while gwd was not there to hear. */
		char leases[GWD_PATH_MAX + 32];
		unsigned bad = 0;
		gwd_dhcp_lease_path(&d->cfg, leases, sizeof(leases));
		r = gwd_dhcp_read_leases(leases, on_file_lease, g, &bad);
		if (r < 0 || bad)
			gwd_log("dhcp_leases_refused", "file=%s lines=%u reason=\"%s\"", leases, bad,
				r < 0 ? strerror(-r) : "lines that do not parse");
	}
	char ports[3 * GWD_MAX_PORTS + GWD_MAX_PORTS][16];
	size_t nports = lan_side(&d->cfg, ports);
	if (nports) {
		struct gwd_neighmon_ops ops = { on_neigh, on_dump_done };
		r = gwd_neighmon_new(d->base, (const char (*)[16])ports, nports, &ops, g, &g->nm);
		if (r < 0) {
			snprintf(err, errlen, "the neighbour tables: %s", strerror(-r));
			goto fail;
		}
	}
	if (d->cfg.dhcp[0]) {
		r = gwd_dhcp_new(d->base, &d->cfg, d->ir, &g->dhcp, err, errlen);
		if (r < 0)
			goto fail;
	}
	save(g);
	push(g);
	return 0;
fail:
	gwd_registry_stop(d);
	return r;
}

void gwd_registry_stop(struct gwd *d)
{
	struct gwd_registry *g = d->reg;
	if (!g)
		return;
	if (g->id && (g->seen_dirty || (g->save_ev && evtimer_pending(g->save_ev, NULL))))
		save(g);
	gwd_dhcp_free(g->dhcp);
	gwd_neighmon_free(g->nm);
	if (g->push_ev)
		event_free(g->push_ev);
	if (g->save_ev)
		event_free(g->save_ev);
	if (g->tick)
		event_free(g->tick);
	gwd_identity_free(g->id);
	free(g);
	d->reg = NULL;
}

void gwd_registry_policy(struct gwd *d)
{
	struct gwd_registry *g = d->reg;
	if (!g)
		return;
	changed(g, gwd_identity_set_policy(g->id, d->ir), false);
	gwd_dhcp_policy(g->dhcp, d->ir);
}

void gwd_registry_lease_cmd(struct gwd *d, const struct gwd_api_req *req,
			    const struct gwd_peer *peer, struct gwd_result *res)
{
	struct gwd_registry *g = d->reg;
	struct gwd_lease l;
	if (peer->uid != 0) {
		gwd_fail(res, "unauthorised",
			 "dhcp.lease is for dnsmasq's lease script, which runs as root");
		return;
	}
	if (!g) {
		gwd_fail(res, "internal", "the identity registry is not running");
		return;
	}
	if (gwd_lease_from_parts(req->action, req->mac, req->addr, req->hostname, req->client_id,
				 req->expires, &l) < 0) {
		char q[4][200];
		gwd_log("dhcp_lease_refused", "action=%s mac=%s addr=%s hostname=%s",
			gwd_log_value(q[0], sizeof(q[0]), req->action ? req->action : ""),
			gwd_log_value(q[1], sizeof(q[1]), req->mac ? req->mac : ""),
			gwd_log_value(q[2], sizeof(q[2]), req->addr ? req->addr : ""),
			gwd_log_value(q[3], sizeof(q[3]), req->hostname ? req->hostname : ""));
		gwd_fail(res, "bad_argument",
			 "not a lease: action is add, old or del; mac a unicast MAC; addr an IPv4 "
			 "address a device may hold; hostname letters, digits, '-', '_', '.' "
			 "(at most 63); client_id hex pairs with ':' (at most 64)");
		return;
	}
	unsigned ch = 0;
	int r = take_lease(g, &l, true, &ch);
	if (r < 0) {
		gwd_fail(res, "internal", "the lease was not taken: %s", strerror(-r));
		return;
	}
	if (l.op != GWD_LEASE_OLD || (ch & GWD_ID_STATE)) {
		char m[POL_MAC_TEXT], q[200];
		const char *label = gwd_identity_new_label(g->id, l.mac);
		gwd_log("dhcp_lease", "action=%s mac=%s addr=%s hostname=%s name=%s",
			gwd_lease_op_name(l.op), pol_mac_format(l.mac, m), req->addr,
			gwd_log_value(q, sizeof(q), l.hostname[0] ? l.hostname : "-"),
			label ? label : "-");
	}
	res->fields = json_pack("{s:s,s:i}", "action", gwd_lease_op_name(l.op), "devices",
				(int)gwd_identity_count(g->id));
}

json_t *gwd_registry_status(const struct gwd *d)
{
	const struct gwd_registry *g = d->reg;
	if (!g)
		return json_null();
	return json_pack("{s:i,s:o}", "devices", (int)gwd_identity_count(g->id), "dhcp",
			 g->dhcp ? gwd_dhcp_status(g->dhcp) : json_null());
}

/* One device object of the devices reply: its MACs back from text. */
static size_t macs_of(const json_t *dev, uint8_t (*out)[6], size_t max)
{
	const json_t *macs = json_object_get(dev, "macs");
	size_t n = 0;
	for (size_t i = 0; i < json_array_size(macs) && n < max; i++) {
		const char *t = json_string_value(json_array_get(macs, i));
		if (t && pol_mac_parse(t, strlen(t), out[n]) == 0)
			n++;
	}
	return n;
}

void gwd_registry_devices(const struct gwd *d, json_t *fields)
{
	const struct gwd_registry *g = d->reg;
	json_t *list = json_object_get(fields, "devices");
	if (!g || !json_is_array(list))
		return;
	const char *zone = d->ir ? pol_ir_str(d->ir, d->ir->meta->zone) : NULL;
	if (!zone || !zone[0])
		zone = "home.arpa";
	int64_t now = now_ms();
	uint8_t (*macs)[6] = malloc(64 * 6);
	if (!macs)
		return;
	/* The devices the flow collector knows, with what the registry adds. */
	size_t i;
	json_t *dev;
	json_array_foreach(list, i, dev) {
		size_t n = macs_of(dev, macs, 64);
		bool is_new = json_is_true(json_object_get(dev, "new"));
		gwd_identity_device_json(g->id, (const uint8_t(*)[6])macs, n, !is_new,
					 json_string_value(json_object_get(dev, "name")), zone, now,
					 dev);
		if (is_new && n == 1) {
			const char *label = gwd_identity_new_label(g->id, macs[0]);
			json_object_set_new(dev, "label", label ? json_string(label) : json_null());
		}
	}
	free(macs);
	/* New devices the registry saw (DHCP, neighbours) that sent no flow
	 * yet: after the others, most recently seen first. */
	uint8_t (*fresh)[6];
	size_t nfresh;
	if (gwd_identity_new_macs(g->id, &fresh, &nfresh) < 0)
		return;
	for (size_t k = 0; k < nfresh; k++) {
		char m[POL_MAC_TEXT];
		bool listed = false;
		pol_mac_format(fresh[k], m);
		json_array_foreach(list, i, dev) {
			const json_t *ms = json_object_get(dev, "macs");
			if (json_is_true(json_object_get(dev, "new")) && json_array_size(ms) == 1 &&
			    !strcmp(json_string_value(json_array_get(ms, 0)) ?: "", m))
				listed = true;
		}
		if (listed)
			continue;
		json_t *o = json_pack("{s:n,s:b,s:n,s:[],s:[s],s:n}", "name", "new", 1, "owner",
				      "groups", "macs", m, "totals");
		if (!o)
			break;
		gwd_identity_device_json(g->id, (const uint8_t(*)[6])fresh[k], 1, false, NULL, zone,
					 now, o);
		json_object_set_new(o, "label", json_string(gwd_identity_new_label(g->id, fresh[k])));
		json_array_append_new(list, o);
	}
	free(fresh);
}

struct gwd_identity *gwd_registry_identity(const struct gwd *d)
{
	return d->reg ? d->reg->id : NULL;
}
