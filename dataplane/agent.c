/* SPDX-License-Identifier: MIT */
/*
 * The control agent (see agent.h and, for the protocol, proto.h).
 *
 * Everything here runs on the main lcore without blocking, called as
 * soon as one of the agent's sockets is ready (the main loop waits on
 * them, dp_agent_pollfds) and once a tick: each poll accepts waiting
 * clients, flushes pending replies, reads at most READ_BUDGET bytes per
 * client, answers a complete request, and frees retired policy
 * generations whose grace period has passed.  A request is so answered
 * within the loop's wake-up, whatever the tick: a DNS answer held until
 * its addresses are in the domain table (DOMAIN_SET) waits for no tick.
 *
 * Policy lifetime: a generation is published with one release store of
 * the pointer workers load.  The old one goes on the retired list with an
 * rte_rcu_qsbr token; workers report a quiescent state between bursts, and
 * once every online worker has done so after the swap, no worker can hold
 * the old pointer and it is freed.  The check never waits: with one lcore
 * this code runs inside the only worker's loop, where waiting would never
 * end.  The retired list is bounded; when it is full a LOAD_IMAGE gets
 * -EBUSY and the running policy stays.
 *
 * The agent also owns what the workers share with it beyond the policy:
 * the domain table (domain.h: it is the table's one writer, and sweeps
 * expired entries once a second) and the flow event queue (events.h: it
 * is the queue's one consumer).  Both exist only with --control.
 * Runtime device bindings (DEVICE_SET, devices.h) hang on the running
 * generation: a new table is published with a pointer swap and the old
 * one freed after the same grace period as a generation.
 *
 * Each event is one gw_log line (policy/logline.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include "agent.h"
#include "caps.h"
#include "devices.h"
#include "domain.h"
#include "events.h"
#include "image.h"
#include "logline.h"
#include "proto.h"

/* Reply bodies are written as this host's structs: proto.h's layout is
 * little-endian. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "proto.h bodies are little-endian");

#define MAX_CLIENTS 4
_Static_assert(DP_AGENT_POLLFDS == 1 + MAX_CLIENTS, "the listening socket and every client");
/* Connections waiting for the main loop's accept; past MAX_CLIENTS they are
 * accepted and closed (control_refused), never left to fail with EAGAIN. */
#define LISTEN_BACKLOG 32
#define MAX_RETIRED 8
#define MAX_RETIRED_TABS 32
#define READ_BUDGET (4u << 20)
#define HDR sizeof(struct dp_msg_hdr)
#define SWEEP_MS 1000
#define SWEEP_BUDGET 4096

struct client {
	int fd;
	uint8_t *in;
	size_t in_len, in_cap, need; /* need: the whole message, once its header is read */
	uint8_t *out;
	size_t out_len, out_off;
	bool closing; /* close once out is sent */
};

struct retired {
	struct dp_classify *c;
	uint64_t token;
};

struct retired_tab {
	struct dp_devtab *t;
	uint64_t token;
};

struct dp_agent {
	struct dp_agent_ctx ctx;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int fd;
	struct rte_rcu_qsbr *qsbr;
	struct client clients[MAX_CLIENTS];
	struct retired retired[MAX_RETIRED];
	unsigned nretired;
	struct retired_tab retired_tabs[MAX_RETIRED_TABS];
	unsigned nretired_tabs;
	uint32_t next_generation;
	uint64_t start_ms;
	struct dp_domains *domains;
	struct dp_events *events;
	uint64_t last_sweep_ms;
};

static uint64_t now_ms(void)
{
	uint64_t hz = rte_get_timer_hz() / 1000;
	return rte_get_timer_cycles() / (hz ? hz : 1);
}

/* ------------------------------------------------------------ life */

int dp_agent_new(const char *path, const struct dp_agent_ctx *ctx, struct dp_agent **ret,
		 char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int r;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path longer than %zu bytes", sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket", path);
			return -EEXIST;
		}
		unlink(path); /* a stale socket of an earlier run */
	}
	struct dp_agent *a = calloc(1, sizeof(*a));
	if (!a) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	a->fd = -1;
	for (unsigned i = 0; i < MAX_CLIENTS; i++)
		a->clients[i].fd = -1;
	a->ctx = *ctx;
	a->next_generation = dp_classify_generation(*ctx->policy) + 1;
	a->start_ms = now_ms();
	strcpy(a->path, path);

	size_t qsize = rte_rcu_qsbr_get_memsize(ctx->nworkers);
	a->qsbr = rte_zmalloc("dp_qsbr", qsize, RTE_CACHE_LINE_SIZE);
	if (!a->qsbr || rte_rcu_qsbr_init(a->qsbr, ctx->nworkers) != 0) {
		r = -ENOMEM;
		snprintf(err, errlen, "RCU state for %u workers", ctx->nworkers);
		goto fail;
	}
	a->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (a->fd < 0) {
		r = -errno;
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto fail;
	}
	/* Born 0660 under a temporary name, listening before it is renamed
	 * to PATH: a client that sees PATH can connect (no window between
	 * bind and listen in which it is refused), and no moment when others
	 * may. */
	char tmp[sizeof(sa.sun_path) + 16];
	int n = snprintf(tmp, sizeof(tmp), "%s.%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path)) {
		r = -ENAMETOOLONG;
		snprintf(err, errlen, "socket path longer than %zu bytes with its temporary suffix",
			 sizeof(sa.sun_path) - 1);
		goto fail;
	}
	strcpy(sa.sun_path, tmp);
	unlink(tmp);
	mode_t old = umask(0117);
	r = bind(a->fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || chmod(tmp, 0660) < 0 || listen(a->fd, LISTEN_BACKLOG) < 0 ||
	    rename(tmp, path) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		unlink(tmp);
		goto fail;
	}
	r = dp_domains_new("dp_domains", DP_DOMAIN_TABLE, (int)rte_socket_id(), a->qsbr,
			   &a->domains);
	if (r < 0) {
		snprintf(err, errlen, "domain table of %u addresses", DP_DOMAIN_TABLE);
		goto fail;
	}
	r = dp_events_new("dp_events", (int)rte_socket_id(), &a->events);
	if (r < 0) {
		snprintf(err, errlen, "flow event queue of %u events", DP_EVENT_RING);
		goto fail;
	}
	for (unsigned i = 0; i < ctx->nworkers; i++) {
		ctx->workers[i].qsbr = a->qsbr;
		ctx->workers[i].domains = a->domains;
		ctx->workers[i].events = a->events;
	}
	*ret = a;
	return 0;
fail:
	dp_agent_free(a);
	return r;
}

static void client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->in);
	free(c->out);
	*c = (struct client){ .fd = -1 };
}

void dp_agent_free(struct dp_agent *a)
{
	if (!a)
		return;
	for (unsigned i = 0; i < MAX_CLIENTS; i++)
		client_close(&a->clients[i]);
	if (a->fd >= 0) {
		close(a->fd);
		unlink(a->path);
	}
	for (unsigned i = 0; i < a->nretired; i++)
		dp_classify_free(a->retired[i].c);
	for (unsigned i = 0; i < a->nretired_tabs; i++)
		dp_devtab_free(a->retired_tabs[i].t);
	for (unsigned i = 0; i < a->ctx.nworkers; i++) {
		a->ctx.workers[i].qsbr = NULL;
		a->ctx.workers[i].domains = NULL;
		a->ctx.workers[i].events = NULL;
	}
	dp_domains_free(a->domains);
	dp_events_free(a->events);
	rte_free(a->qsbr);
	free(a);
}

/* Frees retired generations no worker can still hold. */
static void reclaim(struct dp_agent *a)
{
	unsigned keep = 0;
	for (unsigned i = 0; i < a->nretired; i++) {
		if (rte_rcu_qsbr_check(a->qsbr, a->retired[i].token, false) == 1) {
			gw_log("policy_freed", "generation=%u", dp_classify_generation(a->retired[i].c));
			dp_classify_free(a->retired[i].c);
		} else {
			a->retired[keep++] = a->retired[i];
		}
	}
	a->nretired = keep;
	keep = 0;
	for (unsigned i = 0; i < a->nretired_tabs; i++) {
		if (rte_rcu_qsbr_check(a->qsbr, a->retired_tabs[i].token, false) == 1)
			dp_devtab_free(a->retired_tabs[i].t);
		else
			a->retired_tabs[keep++] = a->retired_tabs[i];
	}
	a->nretired_tabs = keep;
}

/* ------------------------------------------------------------ replies */

/* Queues a reply: header, status, reason on error, then payload. */
static void reply(struct client *c, uint16_t type, uint64_t id, int status, const char *reason,
		  const void *payload, size_t payload_len)
{
	size_t cap = HDR + sizeof(struct dp_reply) + DP_REASON_MAX + payload_len;
	uint8_t *out = realloc(c->out, c->out_len + cap);
	if (!out) {
		c->closing = true;
		return;
	}
	c->out = out;
	if (status)
		payload_len = 0;
	size_t n = dp_proto_reply(out + c->out_len, cap, type, id, status, reason,
				  (uint32_t)payload_len);
	if (payload_len)
		memcpy(out + c->out_len + n, payload, payload_len);
	c->out_len += n + payload_len;
	if (status) {
		char v[GW_LOG_VALUE];
		gw_log("control_error", "type=%s id=%lu error=%d msg=%s", dp_proto_type_name(type),
		       (unsigned long)id, status, gw_log_value(v, sizeof(v), reason));
	}
}

static void do_health(struct dp_agent *a, struct client *c, const struct dp_request *q)
{
	const struct dp_classify *p = *a->ctx.policy;
	struct dp_health h = {
		.generation = dp_classify_generation(p),
		.workers = a->ctx.nworkers,
		.nrules = dp_classify_nrules(p),
		.flags = (dp_classify_ir(p) ? DP_HEALTH_POLICY : 0) |
			 (dp_classify_pinned(p) ? DP_HEALTH_PINNED : 0) |
			 (a->ctx.cfg->mode == DP_MODE_IO ? DP_HEALTH_IO : 0),
		.uptime_ms = now_ms() - a->start_ms,
	};
	for (unsigned i = 0; i < a->ctx.nworkers; i++) {
		const struct dp_worker *w = &a->ctx.workers[i];
		for (int r = 0; r < DP_ROLE_COUNT; r++)
			h.rx += __atomic_load_n(&w->stats[r].rx, __ATOMIC_RELAXED);
		if (w->flows) {
			struct dp_flow_stats fs;
			dp_flow_stats(w->flows, &fs);
			h.flows += fs.active;
		}
	}
	reply(c, q->type, q->id, 0, NULL, &h, sizeof(h));
}

static void counter(struct dp_counter *v, unsigned *n, const char *role, const char *kind,
		    const char *name, uint64_t value)
{
	struct dp_counter *e = &v[(*n)++];
	memset(e->name, 0, sizeof(e->name));
	snprintf(e->name, sizeof(e->name), "%s.%s%s%s", role, kind, *kind ? "." : "", name);
	e->value = value;
}

#define SUM(field)                                                                    \
	({                                                                            \
		uint64_t s_ = 0;                                                      \
		for (unsigned i_ = 0; i_ < a->ctx.nworkers; i_++)                     \
			s_ += __atomic_load_n(&a->ctx.workers[i_].stats[role].field,  \
					      __ATOMIC_RELAXED);                      \
		s_;                                                                   \
	})

static void do_stats(struct dp_agent *a, struct client *c, const struct dp_request *q)
{
	enum { PER_ROLE = 9 + DP_DROP_COUNT + DP_PUNT_COUNT };
	struct {
		struct dp_stats_head head;
		struct dp_counter v[DP_ROLE_COUNT * PER_ROLE];
	} s;
	unsigned n = 0;
	for (int role = 0; role < DP_ROLE_COUNT; role++) {
		const char *rn = dp_role_name((enum dp_role)role);
		uint64_t dropped = 0;
		for (int k = 0; k < DP_DROP_COUNT; k++)
			dropped += SUM(drop[k]);
		counter(s.v, &n, rn, "", "rx", SUM(rx));
		counter(s.v, &n, rn, "", "rx_bytes", SUM(rx_bytes));
		counter(s.v, &n, rn, "", "forwarded", SUM(forwarded));
		counter(s.v, &n, rn, "", "punted", SUM(punted));
		counter(s.v, &n, rn, "", "dropped", dropped);
		counter(s.v, &n, rn, "", "generated", SUM(generated));
		counter(s.v, &n, rn, "", "tx", SUM(tx));
		counter(s.v, &n, rn, "", "tx_bytes", SUM(tx_bytes));
		counter(s.v, &n, rn, "", "tx_full", SUM(tx_full));
		for (int k = 0; k < DP_DROP_COUNT; k++)
			counter(s.v, &n, rn, "drop", dp_drop_name((enum dp_drop)k), SUM(drop[k]));
		for (int k = 0; k < DP_PUNT_COUNT; k++)
			counter(s.v, &n, rn, "punt", dp_punt_name((enum dp_punt)k), SUM(punt[k]));
	}
	s.head = (struct dp_stats_head){ .count = n };
	reply(c, q->type, q->id, 0, NULL, &s, sizeof(s.head) + n * sizeof(s.v[0]));
}

static void do_load(struct dp_agent *a, struct client *c, const struct dp_request *q)
{
	char err[DP_REASON_MAX];
	struct pol_ir *ir = NULL;
	struct dp_classify *nc = NULL;
	reclaim(a);
	if (a->nretired == MAX_RETIRED) {
		reply(c, q->type, q->id, -EBUSY, "earlier generations are still in use", NULL, 0);
		return;
	}
	int r = pol_image_load(q->u.image.data, q->u.image.size, &ir, err, sizeof(err));
	if (r < 0) {
		reply(c, q->type, q->id, r, err, NULL, 0);
		return;
	}
	r = dp_classify_new(ir, a->next_generation, &nc);
	if (r < 0) {
		snprintf(err, sizeof(err),
			 r == -E2BIG ? "the policy does not fit the classifier's tables (%u rules)"
				     : "out of memory (%u rules)",
			 ir->nrules);
		pol_ir_free(ir);
		reply(c, q->type, q->id, r, err, NULL, 0);
		return;
	}
	/* Its schedules' mask for this minute before any worker sees it. */
	struct pol_when when;
	if (pol_when_at(ir, time(NULL), &when) == 0)
		dp_classify_set_when(nc, when);
	struct dp_classify *old = *a->ctx.policy;
	__atomic_store_n(a->ctx.policy, nc, __ATOMIC_RELEASE);
	a->retired[a->nretired++] = (struct retired){ old, rte_rcu_qsbr_start(a->qsbr) };
	a->next_generation++;
	struct dp_load_reply lr = { dp_classify_generation(nc), dp_classify_nrules(nc) };
	gw_log("policy_loaded", "generation=%u rules=%u bytes=%u replaces=%u", lr.generation,
	       lr.nrules, q->u.image.size, dp_classify_generation(old));
	reply(c, q->type, q->id, 0, NULL, &lr, sizeof(lr));
}

static void do_set_active(struct dp_agent *a, struct client *c, const struct dp_request *q)
{
	char err[DP_REASON_MAX];
	struct dp_classify *p = *a->ctx.policy;
	uint32_t gen = dp_classify_generation(p);
	if (q->u.active.generation && q->u.active.generation != gen &&
	    q->u.active.generation != dp_classify_base_generation(p)) {
		snprintf(err, sizeof(err), "mask for generation %u, running %u",
			 q->u.active.generation, gen);
		reply(c, q->type, q->id, -ESTALE, err, NULL, 0);
		return;
	}
	/* SET_ACTIVE pins for ever; SET_ACTIVE_FOR for valid_s seconds, and
	 * the same mask again only moves the end. */
	uint64_t until = q->u.active.valid_s ? now_ms() + q->u.active.valid_s * 1000ull : 0;
	int r = q->u.active.valid_s ? dp_classify_pin(p, q->u.active.mask, q->u.active.nrules,
						       until, a->next_generation)
				    : dp_classify_set_active(p, q->u.active.mask, q->u.active.nrules,
							     a->next_generation);
	if (r < 0) {
		snprintf(err, sizeof(err), "mask for %u rules, the policy has %u",
			 q->u.active.nrules, dp_classify_nrules(p));
		reply(c, q->type, q->id, r, err, NULL, 0);
		return;
	}
	struct dp_load_reply lr = { dp_classify_generation(p), dp_classify_nrules(p) };
	if (!q->u.active.valid_s || r == 1) {
		a->next_generation++;
		lr.generation = dp_classify_generation(p);
		gw_log("active_set", "generation=%u rules=%u valid_s=%u", lr.generation, lr.nrules,
		       q->u.active.valid_s);
	}
	reply(c, q->type, q->id, 0, NULL, &lr, sizeof(lr));
}

static void do_flows(struct dp_agent *a, struct client *c, const struct dp_request *q)
{
	struct {
		struct dp_flows_head head;
		struct dp_flow_info v[DP_FLOWS_MAX];
	} *page = calloc(1, sizeof(*page));
	if (!page) {
		reply(c, q->type, q->id, -ENOMEM, "out of memory", NULL, 0);
		return;
	}
	uint32_t wi = (uint32_t)(q->u.flows.cursor >> 32), slot = (uint32_t)q->u.flows.cursor;
	if (wi > a->ctx.nworkers) {
		reply(c, q->type, q->id, -EINVAL, "cursor past the last worker", NULL, 0);
		goto out;
	}
	uint64_t now = now_ms(), next = 0;
	unsigned n = 0;
	for (; wi < a->ctx.nworkers && !next; wi++, slot = 0) {
		const struct dp_flow_table *t = a->ctx.workers[wi].flows;
		if (!t)
			continue;
		for (; slot < dp_flow_capacity(t); slot++) {
			if (n == q->u.flows.max) {
				next = (uint64_t)wi << 32 | slot;
				break;
			}
			const struct dp_flow *f = dp_flow_at(t, slot);
			if (!f)
				continue;
			struct dp_flow_info *e = &page->v[n++];
			struct dp_flow_key key, *k = &key;
			dp_flow_key(t, f, 0, &key);
			memcpy(e->src, k->src, 16);
			memcpy(e->dst, k->dst, 16);
			e->sport = k->sport;
			e->dport = k->dport;
			e->family = k->family;
			e->proto = k->proto;
			e->action = f->action;
			e->tcp_state = f->tcp;
			e->rule = f->rule;
			e->generation = f->generation;
			e->worker = wi;
			for (int d = 0; d < 2; d++) {
				e->pkts[d] = f->pkts[d];
				e->bytes[d] = f->bytes[d];
			}
			e->idle_ms = dp_flow_idle_ms(f, now);
		}
	}
	page->head = (struct dp_flows_head){ .next_cursor = next, .count = n };
	reply(c, q->type, q->id, 0, NULL, page, sizeof(page->head) + n * sizeof(page->v[0]));
out:
	free(page);
}

/* What each device holds against its caps, worker by worker; the cursor
 * is (worker << 32 | slot) as for FLOWS. */
static void do_device_usage(struct dp_agent *a, struct client *c, const struct dp_request *q)
{
	struct {
		struct dp_usage_head head;
		struct dp_device_usage v[DP_USAGE_MAX];
	} *page = calloc(1, sizeof(*page));
	if (!page) {
		reply(c, q->type, q->id, -ENOMEM, "out of memory", NULL, 0);
		return;
	}
	uint32_t wi = (uint32_t)(q->u.usage.cursor >> 32), slot = (uint32_t)q->u.usage.cursor;
	if (wi > a->ctx.nworkers) {
		reply(c, q->type, q->id, -EINVAL, "cursor past the last worker", NULL, 0);
		goto out;
	}
	uint64_t next = 0, full = 0;
	unsigned n = 0;
	for (unsigned k = 0; k < a->ctx.nworkers; k++) {
		if (!a->ctx.workers[k].caps)
			continue;
		struct dp_caps_stats st;
		dp_caps_stats(a->ctx.workers[k].caps, &st);
		full += st.full;
		dp_caps_limits(a->ctx.workers[k].caps, &page->head.flow_cap, &page->head.nat_cap);
	}
	for (; wi < a->ctx.nworkers && !next; wi++, slot = 0) {
		const struct dp_caps *t = a->ctx.workers[wi].caps;
		if (!t)
			continue;
		for (; slot < dp_caps_capacity(t); slot++) {
			struct dp_caps_entry e;
			if (n == q->u.usage.max) {
				next = (uint64_t)wi << 32 | slot;
				break;
			}
			if (!dp_caps_at(t, slot, &e))
				continue;
			struct dp_device_usage *u = &page->v[n++];
			memcpy(u->mac, e.mac, 6);
			u->worker = wi;
			u->flows = e.flows;
			u->maps = e.maps;
			u->refused_flows = e.refused_flows;
			u->refused_maps = e.refused_maps;
		}
	}
	page->head.next_cursor = next;
	page->head.count = n;
	page->head.filtering = a->ctx.cfg->nat_filtering;
	page->head.full = full;
	reply(c, q->type, q->id, 0, NULL, page, sizeof(page->head) + n * sizeof(page->v[0]));
out:
	free(page);
}

static void do_image_info(struct dp_agent *a, struct client *c, const struct dp_request *q)
{
	const struct dp_classify *p = *a->ctx.policy;
	const struct pol_ir *ir = dp_classify_ir(p);
	struct dp_image_info ii = {
		.generation = dp_classify_generation(p),
		.nrules = dp_classify_nrules(p),
	};
	if (ir) {
		/* pol_image_load keeps the image, header included, in host
		 * order (this host is little-endian: the file's bytes). */
		const struct pol_image_header *h = ir->mem;
		ii.crc = h->checksum;
		ii.size = h->size;
	}
	reply(c, q->type, q->id, 0, NULL, &ii, sizeof(ii));
}

static void do_domain_set(struct dp_agent *a, struct client *c, const struct dp_request *q)
{
	char err[DP_REASON_MAX];
	uint32_t n = q->u.domains.count;
	struct dp_domain_entry *v = malloc(n * sizeof(*v));
	if (!v) {
		reply(c, q->type, q->id, -ENOMEM, "out of memory", NULL, 0);
		return;
	}
	for (uint32_t i = 0; i < n; i++)
		dp_proto_domain_entry(q, i, &v[i]);
	uint64_t changed = 0;
	int r = dp_domains_apply(a->domains, v, n, now_ms(), &changed);
	free(v);
	if (r < 0) {
		snprintf(err, sizeof(err),
			 r == -ENOSPC ? "the domain table holds %u addresses; %u are in use"
				      : "domain table error (%u addresses, %u in use)",
			 DP_DOMAIN_TABLE, dp_domains_count(a->domains));
		reply(c, q->type, q->id, r, err, NULL, 0);
		return;
	}
	/* Live flows are decided again only when bits a rule looks at
	 * changed: a refreshed TTL, or a set no rule uses, costs them
	 * nothing. */
	struct dp_classify *p = *a->ctx.policy;
	if (changed & dp_classify_domain_mask(p))
		dp_classify_renumber(p, a->next_generation++);
	struct dp_domain_reply dr = { .entries = dp_domains_count(a->domains) };
	gw_log("domains_set", "entries=%u table=%u changed_sets=0x%lx generation=%u", n, dr.entries,
	       (unsigned long)changed, dp_classify_generation(p));
	reply(c, q->type, q->id, 0, NULL, &dr, sizeof(dr));
}

static void do_device_set(struct dp_agent *a, struct client *c, const struct dp_request *q)
{
	char err[DP_REASON_MAX];
	struct dp_classify *p = *a->ctx.policy;
	uint32_t gen = dp_classify_generation(p), n = q->u.devices.count;
	if (q->u.devices.generation && q->u.devices.generation != gen &&
	    q->u.devices.generation != dp_classify_base_generation(p)) {
		snprintf(err, sizeof(err), "device indexes for generation %u, running %u",
			 q->u.devices.generation, gen);
		reply(c, q->type, q->id, -ESTALE, err, NULL, 0);
		return;
	}
	reclaim(a);
	if (a->nretired_tabs == MAX_RETIRED_TABS) {
		reply(c, q->type, q->id, -EBUSY, "earlier device tables are still in use", NULL, 0);
		return;
	}
	struct dp_device_entry *v = malloc(n * sizeof(*v));
	uint32_t *before = malloc(n * sizeof(*before));
	if (!v || !before) {
		free(v);
		free(before);
		reply(c, q->type, q->id, -ENOMEM, "out of memory", NULL, 0);
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		dp_proto_device_entry(q, i, &v[i]);
		before[i] = dp_classify_device(p, v[i].mac);
	}
	int r = 0;
	for (uint32_t i = 0; i < n && !r; i++) {
		if (v[i].op != DP_DEVICE_BIND || dp_classify_bindable(p, v[i].device))
			continue;
		r = -ENODEV;
		if (v[i].device < dp_classify_ndevices(p))
			snprintf(err, sizeof(err), "device_set entry %u: device %u has no MAC in the image",
				 i, v[i].device);
		else
			snprintf(err, sizeof(err),
				 "device_set entry %u: device %u, the running image has %u devices", i,
				 v[i].device, dp_classify_ndevices(p));
	}
	struct dp_devtab *t = NULL;
	if (!r)
		r = dp_devtab_apply(dp_classify_bindings(p), v, n, dp_classify_ndevices(p),
				    DP_DEVICE_TABLE, &t, err, sizeof(err));
	if (r < 0) {
		free(v);
		free(before);
		reply(c, q->type, q->id, r, err, NULL, 0);
		return;
	}
	struct dp_devtab *old = dp_classify_swap_bindings(p, t);
	if (old)
		a->retired_tabs[a->nretired_tabs++] =
			(struct retired_tab){ old, rte_rcu_qsbr_start(a->qsbr) };
	/* A MAC whose device changed has live flows decided under the old
	 * one: the generation moves after the table, as for DOMAIN_SET. */
	uint32_t moved = 0;
	for (uint32_t i = 0; i < n; i++)
		moved += dp_classify_device(p, v[i].mac) != before[i];
	if (moved)
		dp_classify_renumber(p, a->next_generation++);
	free(v);
	free(before);
	struct dp_device_reply dr = {
		.applied = n,
		.bindings = dp_devtab_count(t),
		.generation = dp_classify_generation(p),
		.image = dp_classify_base_generation(p),
	};
	gw_log("devices_set", "entries=%u bindings=%u moved=%u generation=%u", n, dr.bindings, moved,
	       dr.generation);
	reply(c, q->type, q->id, 0, NULL, &dr, sizeof(dr));
}

static void do_events(struct dp_agent *a, struct client *c, const struct dp_request *q)
{
	struct {
		struct dp_events_head head;
		struct dp_flow_event v[DP_EVENTS_MAX];
	} *page = malloc(sizeof(*page));
	if (!page) {
		reply(c, q->type, q->id, -ENOMEM, "out of memory", NULL, 0);
		return;
	}
	uint32_t lost;
	unsigned n = dp_events_take(a->events, page->v, q->u.events.max, &lost);
	page->head = (struct dp_events_head){ .count = n, .lost = lost };
	if (lost)
		gw_log("flow_events_lost", "count=%u", lost);
	reply(c, q->type, q->id, 0, NULL, page, sizeof(page->head) + n * sizeof(page->v[0]));
	free(page);
}

static void handle(struct dp_agent *a, struct client *c)
{
	char err[DP_REASON_MAX];
	static struct dp_request q; /* the mask makes it large; one caller */
	int r = dp_proto_parse(c->in, c->need, &q, err, sizeof(err));
	if (r < 0) {
		/* The header passed in client_read: only the body is wrong. */
		char unused[1];
		struct dp_msg_hdr h;
		uint64_t id;
		dp_proto_header(c->in, HDR, &h, &id, unused, sizeof(unused));
		reply(c, h.type, id, r, err, NULL, 0);
		return;
	}
	switch (q.type) {
	case DP_MSG_HEALTH:
		do_health(a, c, &q);
		break;
	case DP_MSG_STATS:
		do_stats(a, c, &q);
		break;
	case DP_MSG_LOAD_IMAGE:
		do_load(a, c, &q);
		break;
	case DP_MSG_SET_ACTIVE:
	case DP_MSG_SET_ACTIVE_FOR:
		do_set_active(a, c, &q);
		break;
	case DP_MSG_FLOWS:
		do_flows(a, c, &q);
		break;
	case DP_MSG_IMAGE_INFO:
		do_image_info(a, c, &q);
		break;
	case DP_MSG_DOMAIN_SET:
		do_domain_set(a, c, &q);
		break;
	case DP_MSG_EVENTS:
		do_events(a, c, &q);
		break;
	case DP_MSG_DEVICE_SET:
		do_device_set(a, c, &q);
		break;
	case DP_MSG_DEVICE_USAGE:
		do_device_usage(a, c, &q);
		break;
	}
}

/* ------------------------------------------------------------ I/O */

/* false when the client is gone. */
static bool client_write(struct client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	return !c->closing;
}

/* false when the client is gone (or must go). */
static bool client_read(struct dp_agent *a, struct client *c)
{
	size_t budget = READ_BUDGET;
	while (budget) {
		size_t want = c->need ? c->need - c->in_len : HDR - c->in_len;
		if (want > budget)
			want = budget;
		ssize_t n = recv(c->fd, c->in + c->in_len, want, MSG_DONTWAIT);
		if (n == 0)
			return false;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
		c->in_len += (size_t)n;
		budget -= (size_t)n;
		if (!c->need && c->in_len == HDR) {
			char err[DP_REASON_MAX];
			struct dp_msg_hdr h;
			uint64_t id;
			int r = dp_proto_header(c->in, HDR, &h, &id, err, sizeof(err));
			if (r < 0) {
				/* No trusting its length: answer, then hang up. */
				reply(c, (uint16_t)(c->in[6] | c->in[7] << 8), id, r, err, NULL, 0);
				c->closing = true;
				return true;
			}
			c->need = HDR + h.length;
			if (c->need > c->in_cap) {
				uint8_t *in = realloc(c->in, c->need);
				if (!in) {
					reply(c, h.type, h.id, -ENOMEM, "out of memory", NULL, 0);
					c->closing = true;
					return true;
				}
				c->in = in;
				c->in_cap = c->need;
			}
		}
		if (c->need && c->in_len == c->need) {
			handle(a, c);
			c->in_len = c->need = 0;
			return true; /* one request per poll: its reply goes first */
		}
	}
	return true;
}

static void accept_clients(struct dp_agent *a)
{
	for (;;) {
		int fd = accept4(a->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct client *c = NULL;
		for (unsigned i = 0; i < MAX_CLIENTS && !c; i++)
			if (a->clients[i].fd < 0)
				c = &a->clients[i];
		if (!c) {
			gw_log("control_refused", "reason=too_many_clients max=%u", MAX_CLIENTS);
			close(fd);
			continue;
		}
		*c = (struct client){ .fd = fd, .in = malloc(HDR), .in_cap = HDR };
		if (!c->in)
			client_close(c);
	}
}

unsigned dp_agent_pollfds(const struct dp_agent *a, struct pollfd *fds, unsigned max)
{
	unsigned n = 0;
	if (n < max && a->fd >= 0)
		fds[n++] = (struct pollfd){ .fd = a->fd, .events = POLLIN };
	for (unsigned i = 0; i < MAX_CLIENTS && n < max; i++) {
		const struct client *c = &a->clients[i];
		if (c->fd >= 0)
			fds[n++] = (struct pollfd){ .fd = c->fd,
						    .events = c->out_len ? POLLOUT : POLLIN };
	}
	return n;
}

void dp_agent_poll(struct dp_agent *a)
{
	accept_clients(a);
	for (unsigned i = 0; i < MAX_CLIENTS; i++) {
		struct client *c = &a->clients[i];
		if (c->fd < 0)
			continue;
		if (c->out_len && !client_write(c)) {
			client_close(c);
			continue;
		}
		if (c->out_len)
			continue; /* its reader is slow: no new request until it reads */
		if (c->closing || !client_read(a, c) || (c->out_len && !client_write(c)))
			client_close(c);
	}
	if (a->nretired || a->nretired_tabs)
		reclaim(a);
	uint64_t now = now_ms();
	/* A mask pinned for a while (SET_ACTIVE_FOR) that nobody renewed:
	 * back to the schedules and the clock. */
	struct dp_classify *p = *a->ctx.policy;
	const struct pol_ir *ir = dp_classify_ir(p);
	struct pol_when when = { 0 };
	if (dp_classify_pinned(p) && (!ir || pol_when_at(ir, time(NULL), &when) == 0) &&
	    dp_classify_pin_expire(p, now, when, a->next_generation)) {
		a->next_generation++;
		gw_log("active_expired", "generation=%u rules=%u", dp_classify_generation(p),
		       dp_classify_nrules(p));
	}
	if (now - a->last_sweep_ms >= SWEEP_MS) {
		a->last_sweep_ms = now;
		dp_domains_sweep(a->domains, now, SWEEP_BUDGET);
	}
}
