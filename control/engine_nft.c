/* SPDX-License-Identifier: MIT */
/*
 * The nft engine (engine_nft.h).  Touches gwd's nftables table (the chain
 * fwd_policy, an older gwd's hook chain policy_fwd, and its builds
 * p<id>_*) and NFLOG group nflog_group; reads gwd's history
 * (STATE_DIR/history/) to adopt a live build.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/netfilter/nf_conntrack_common.h>

#include "conntrack.h"
#include "engine_nft.h"
#include "eval.h"
#include "flows.h"
#include "image.h"
#include "log.h"
#include "neigh.h"
#include "nflog.h"
#include "nft.h"
#include "nft_guard.h"
#include "nft_policy.h"
#include "store.h"

#define TICK_S        5
#define MAX_BUILDS    64
#define REFRESH_MS    50 /* an element this close to expiry may be gone */
#define CT_DUMP_MS    2000  /* conntrack's counters read this often (at most) */
#define CT_MAX_FLOWS  16384 /* connections the engine reports at once */
#define CT_FULL_EVERY 15    /* one dump in this many shows unanswered connections too */
#define CT_BATCH_MS   5     /* while events come, gwd reads them this often (no wakeups) */
#define CT_MACS       1024  /* addresses of the nft ports' neighbours */

/* What the engine put in one build's domain sets. */
struct dom_ent {
	uint8_t used;
	uint8_t fam;
	uint8_t addr[16];
	uint64_t sets;
	uint64_t expires_ms; /* CLOCK_MONOTONIC */
};

struct domtab {
	struct dom_ent *v;
	size_t cap, n;
};

/* The rules whose subject takes one device, in rule order (devrules()). */
struct devrules {
	bool built;
	uint32_t n;
	uint32_t *rules;
};

struct build {
	uint32_t id, gen, epoch, nrules;
	uint64_t domused;
	struct pol_ir *ir; /* the generation, for schedules */
	struct domtab dom;
	struct devrules *dr; /* ir->ndevices + 1 (the last: devices it does not know), or NULL */
};

struct nft_engine {
	struct gwd_engine base;
	struct gwd_config cfg;
	struct gwd_nft *n;
	struct gwd_flows *flows;
	struct build live, staged;
	uint32_t next_id, last_epoch;
	char state[300];
	bool lost;          /* the live build vanished: load the generation again */
	struct event *tick, *logev, *gc;
	uint32_t old_id;    /* a build to remove once the loop is idle, 0: none */
	struct gwd_nflog *log;
	/* Connections through the nft ports (conntrack.h), for gwd's flows. */
	struct gwd_ct *ct;
	struct gwd_ct_tracker *trk;
	struct event *ctev, *ctdump, *ctbatch;
	bool ctpolling;              /* ctbatch armed, ctev off */
	uint32_t ctdumps;            /* dumps begun: the first and every CT_FULL_EVERY-th full */
	struct gwd_ct_stats ctlogged; /* as the last nft_flows line said */
	struct gwd_neighmon *nm;
	uint32_t when_build;         /* the build and second when_now last computed */
	time_t when_t;
	struct pol_when when;
	struct mac_ent *macs;        /* CT_MACS: who holds which address */
	size_t nmacs;                /* entries [0, nmacs) may be used */
	uint32_t nm_epoch;
};

/* One neighbour of an nft port: the MAC behind an address. */
struct mac_ent {
	bool used;
	uint8_t fam;
	uint8_t addr[16];
	uint8_t mac[6];
	uint32_t epoch;  /* the neighbour dump that last showed it (0: an event) */
	uint64_t seen;   /* a counter, for replacing the oldest when full */
};

static void set_state(struct nft_engine *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_state(struct nft_engine *x, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	gwd_engine_vset_state(x->state, sizeof(x->state), "nft", fmt, ap);
	va_end(ap);
}

/* CPU milliseconds of this thread so far, the kernel's work on its
 * batches included (it runs inside sendmsg). */
static double thread_cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Milliseconds this thread spent runnable but waiting for a CPU so far
 * (the scheduler's run-queue time, /proc/thread-self/schedstat); -1 when
 * the kernel does not say. */
static double runq_ms(void)
{
	FILE *f = fopen("/proc/thread-self/schedstat", "re");
	unsigned long long on = 0, wait = 0;
	int n = f ? fscanf(f, "%llu %llu", &on, &wait) : 0;
	if (f)
		fclose(f);
	return n == 2 ? (double)wait / 1e6 : -1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* --- the domain table ------------------------------------------------------ */

static size_t dom_hash(uint8_t fam, const uint8_t *addr)
{
	uint64_t h = 1469598103934665603ull ^ fam;
	for (unsigned i = 0; i < 16; i++)
		h = (h ^ addr[i]) * 1099511628211ull;
	return (size_t)h;
}

static struct dom_ent *dom_find(struct domtab *t, uint8_t fam, const uint8_t *addr)
{
	if (!t->cap)
		return NULL;
	for (size_t at = dom_hash(fam, addr) & (t->cap - 1);; at = (at + 1) & (t->cap - 1)) {
		struct dom_ent *e = &t->v[at];
		if (!e->used)
			return NULL;
		if (e->fam == fam && !memcmp(e->addr, addr, 16))
			return e;
	}
}

static int dom_put(struct domtab *t, uint8_t fam, const uint8_t *addr, uint64_t sets,
		   uint64_t expires)
{
	struct dom_ent *e = dom_find(t, fam, addr);
	if (e) {
		e->sets = sets;
		e->expires_ms = expires;
		return 0;
	}
	if ((t->n + 1) * 2 > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		struct dom_ent *v = calloc(cap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		for (size_t i = 0; i < t->cap; i++) {
			if (!t->v[i].used)
				continue;
			size_t at = dom_hash(t->v[i].fam, t->v[i].addr) & (cap - 1);
			while (v[at].used)
				at = (at + 1) & (cap - 1);
			v[at] = t->v[i];
		}
		free(t->v);
		t->v = v;
		t->cap = cap;
	}
	size_t at = dom_hash(fam, addr) & (t->cap - 1);
	while (t->v[at].used)
		at = (at + 1) & (t->cap - 1);
	t->v[at] = (struct dom_ent){ .used = 1, .fam = fam, .sets = sets, .expires_ms = expires };
	memcpy(t->v[at].addr, addr, 16);
	t->n++;
	return 0;
}

static void dom_del(struct domtab *t, struct dom_ent *e)
{
	/* Backward-shift deletion keeps every probe run unbroken. */
	size_t i = (size_t)(e - t->v), mask = t->cap - 1;
	t->v[i].used = 0;
	t->n--;
	for (size_t j = (i + 1) & mask; t->v[j].used; j = (j + 1) & mask) {
		size_t home = dom_hash(t->v[j].fam, t->v[j].addr) & mask;
		/* May v[j] move to the hole at i? Only if i lies between its
		 * home and j, cyclically. */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			t->v[i] = t->v[j];
			t->v[j].used = 0;
			i = j;
		}
	}
}

static void dom_free(struct domtab *t)
{
	free(t->v);
	memset(t, 0, sizeof(*t));
}

/*
 * The entries into build bd's set of learned addresses (pass 1: the batch)
 * or into its table (pass 2, after the kernel took the batch).  An address
 * is in the domain sets the entry says, until its TTL: one element "s .
 * key" per set.  An element whose expiry moves later is deleted and added
 * again (kernels before 6.10 keep the first timeout of an element added
 * twice).  The kernel started each element's clock after we read ours, so
 * an element is certainly still there while our record of its expiry is
 * REFRESH_MS ahead; in its last REFRESH_MS it is added without the delete
 * (which could find it gone and fail the batch), or left to expire.
 */
static int domains_apply(struct build *bd, const struct gwd_domain_entry *v, size_t n,
			 uint64_t now, struct gwd_nft_batch *b)
{
	struct gwd_nft_set *add = NULL, *del = NULL;
	int r = 0;
	if (b) {
		add = gwd_nft_policy_domset(bd->id);
		del = gwd_nft_policy_domset(bd->id);
		if (!add || !del)
			r = -ENOMEM;
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		const struct gwd_domain_entry *e = &v[i];
		if (e->family != 4 && e->family != 6)
			continue;
		uint8_t key[16], elem[20];
		gwd_nft_policy_key(e->family, e->addr, key);
		struct dom_ent *cur = dom_find(&bd->dom, e->family, key);
		uint64_t want = e->sets & bd->domused, have = cur ? cur->sets : 0;
		uint64_t hexp = cur ? cur->expires_ms : 0;
		uint64_t nexp = now + (uint64_t)e->ttl_s * 1000;
		bool present = hexp > now + REFRESH_MS;
		uint64_t keep = nexp;
		if (want && want == have && present && nexp <= hexp)
			keep = hexp; /* already there, for longer */
		for (uint32_t s = 0; b && s < 64 && r == 0; s++) {
			uint64_t bit = 1ull << s;
			if (!((want | have) & bit))
				continue;
			bool del_it = false, add_it = false;
			if (want & bit) {
				if (!(have & bit) || !present)
					add_it = true;
				else if (keep == nexp && nexp > hexp)
					del_it = add_it = true;
			} else if (present) {
				del_it = true;
			}
			uint32_t be = htonl(s);
			memcpy(elem, &be, 4);
			memcpy(elem + 4, key, 16);
			if (del_it)
				r = gwd_nft_elem(del, elem, 0, 0);
			if (add_it && r == 0)
				r = gwd_nft_elem(add, elem, 0, (uint64_t)e->ttl_s * 1000);
		}
		if (b)
			continue;
		if (want)
			r = dom_put(&bd->dom, e->family, key, want, keep);
		else if (cur)
			dom_del(&bd->dom, cur);
	}
	/* Deletions first: a refreshed element goes out, then in again. */
	if (r == 0 && del && gwd_nft_set_count(del))
		gwd_nft_del_elems(b, del);
	else
		gwd_nft_set_free(del);
	if (r == 0 && add && gwd_nft_set_count(add))
		gwd_nft_add_elems(b, add);
	else
		gwd_nft_set_free(add);
	return r;
}

static int domains_to(struct nft_engine *x, struct build *bd, const struct gwd_domain_entry *v,
		      size_t n, char *err, size_t errlen)
{
	if (!bd->domused)
		return 0; /* no rule of this generation names a domain */
	uint64_t now = now_ms();
	struct gwd_nft_batch *b = NULL;
	int r = gwd_nft_batch_new(x->n, &b);
	if (r == 0)
		r = domains_apply(bd, v, n, now, b);
	if (r < 0) {
		snprintf(err, errlen, "domain entries: %s", strerror(-r));
		gwd_nft_batch_free(b);
		return r;
	}
	if (gwd_nft_batch_count(b))
		r = gwd_nft_commit(b, err, errlen);
	gwd_nft_batch_free(b);
	if (r == 0)
		r = domains_apply(bd, v, n, now, NULL);
	return r;
}

/* --- builds ------------------------------------------------------------------ */

static void build_clear(struct build *bd)
{
	if (bd->dr && bd->ir)
		for (uint32_t d = 0; d <= bd->ir->ndevices; d++)
			free(bd->dr[d].rules);
	free(bd->dr);
	pol_ir_free(bd->ir);
	dom_free(&bd->dom);
	memset(bd, 0, sizeof(*bd));
}

static uint32_t next_epoch(struct nft_engine *x)
{
	uint32_t e = x->last_epoch + 1;
	if (e >= GWD_NFT_EPOCH_LIMIT)
		e = 1;
	x->last_epoch = e;
	return e;
}

/* Removes build id (never the live one); failures are only garbage,
 * logged and left for the next tick. */
static void drop_build(struct nft_engine *x, uint32_t id)
{
	char err[256], q[300];
	struct gwd_nft_batch *b;
	if (!id || id == x->live.id || gwd_nft_batch_new(x->n, &b) < 0)
		return;
	int r = gwd_nft_policy_drop(x->n, b, id);
	if (r == 0 && gwd_nft_batch_count(b))
		r = gwd_nft_commit(b, err, sizeof(err));
	else if (r < 0)
		snprintf(err, sizeof(err), "%s", strerror(-r));
	if (r < 0)
		gwd_log("nft_drop_failed", "build=%" PRIu32 " reason=%s", id,
			gwd_log_value(q, sizeof(q), err));
	gwd_nft_batch_free(b);
}

/* Every build but the live one and the one prepared. */
static void drop_others(struct nft_engine *x)
{
	uint32_t ids[MAX_BUILDS];
	size_t n;
	if (gwd_nft_policy_builds(x->n, ids, MAX_BUILDS, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		if (ids[i] != x->live.id && ids[i] != x->staged.id)
			drop_build(x, ids[i]);
}

static void record(const struct build *bd, char *out, size_t len)
{
	snprintf(out, len, "gw gen=%" PRIu32 " build=%" PRIu32 " epoch=%" PRIu32 " rules=%" PRIu32,
		 bd->gen, bd->id, bd->epoch, bd->nrules);
}

/* The mask of ir at this moment (every rule on when the zone fails,
 * which the image loader already refused). */
static uint64_t *mask_now(const struct pol_ir *ir)
{
	uint64_t *m = calloc(ir->nrules / 64 + 1, sizeof(uint64_t));
	struct pol_when when;
	if (!m)
		return NULL;
	if (pol_when_at(ir, time(NULL), &when) < 0)
		memset(m, 0xff, (ir->nrules / 64 + 1) * sizeof(uint64_t));
	else
		pol_active_rules(ir, when, m);
	return m;
}

static int prepare(struct gwd_engine *e, uint32_t gen, const void *image, size_t size,
		   const struct pol_ir *given, char *err, size_t errlen)
{
	struct nft_engine *x = (struct nft_engine *)e;
	uint64_t *mask = NULL;
	struct gwd_nft_batch *b = NULL;
	int r;
	if (x->staged.id) {
		drop_build(x, x->staged.id);
		build_clear(&x->staged);
	}
	struct build *bd = &x->staged;
	struct timespec ta, t0, t1, t2;
	double cpu0 = thread_cpu_ms(), rq0 = runq_ms();
	clock_gettime(CLOCK_MONOTONIC, &ta);
	/* Our own copy: schedules need it long after this call. */
	if ((r = pol_image_load(image, size, &bd->ir, err, errlen)) < 0)
		goto fail;
	if (!(mask = mask_now(bd->ir))) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	bd->id = x->next_id++;
	bd->gen = gen;
	bd->nrules = bd->ir->nrules;
	bd->epoch = next_epoch(x);
	bd->domused = gwd_nft_policy_domsets(bd->ir);
	struct gwd_nft_policy_stats st;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((r = gwd_nft_batch_new(x->n, &b)) < 0) {
		snprintf(err, errlen, "%s", strerror(-r));
		goto fail;
	}
	if ((r = gwd_nft_policy_build(b, bd->ir, gen, bd->id, bd->epoch, mask,
				      x->cfg.nflog_group, &st, err, errlen)) < 0)
		goto fail;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if ((r = gwd_nft_commit(b, err, errlen)) < 0)
		goto fail;
	clock_gettime(CLOCK_MONOTONIC, &t2);
	gwd_log("nft_prepare", "gen=%" PRIu32 " build=%" PRIu32 " rules=%" PRIu32
		" nft_rules=%" PRIu32 " chains=%" PRIu32 " sets=%" PRIu32 " elements=%" PRIu32
		" messages=%zu load_ms=%.1f build_ms=%.1f kernel_ms=%.1f cpu_ms=%.1f runq_ms=%.1f",
		gen, bd->id,
		bd->nrules, st.rules, st.chains, st.sets, st.elements, gwd_nft_batch_count(b),
		(double)(t0.tv_sec - ta.tv_sec) * 1e3 + (double)(t0.tv_nsec - ta.tv_nsec) / 1e6,
		(double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
		(double)(t2.tv_sec - t1.tv_sec) * 1e3 + (double)(t2.tv_nsec - t1.tv_nsec) / 1e6,
		thread_cpu_ms() - cpu0, rq0 < 0 ? -1 : runq_ms() - rq0);
	gwd_nft_batch_free(b);
	free(mask);
	return 0;
fail:
	gwd_nft_batch_free(b);
	free(mask);
	build_clear(bd);
	return r;
}

static int stage_domains(struct gwd_engine *e, const struct gwd_domain_entry *v, size_t n,
			 char *err, size_t errlen)
{
	struct nft_engine *x = (struct nft_engine *)e;
	if (!x->staged.id) {
		snprintf(err, errlen, "nothing prepared");
		return -EINVAL;
	}
	return domains_to(x, &x->staged, v, n, err, errlen);
}

static int set_domains(struct gwd_engine *e, const struct gwd_domain_entry *v, size_t n,
		       char *err, size_t errlen)
{
	struct nft_engine *x = (struct nft_engine *)e;
	if (!x->live.id) {
		snprintf(err, errlen, "no policy is live");
		return -EINVAL;
	}
	return domains_to(x, &x->live, v, n, err, errlen);
}

static int commit(struct gwd_engine *e, char *err, size_t errlen)
{
	struct nft_engine *x = (struct nft_engine *)e;
	if (!x->staged.id) {
		snprintf(err, errlen, "nothing prepared");
		return -EINVAL;
	}
	char rec[128];
	struct gwd_nft_batch *b;
	double cpu0 = thread_cpu_ms(), rq0 = runq_ms();
	int r = gwd_nft_batch_new(x->n, &b);
	if (r < 0) {
		snprintf(err, errlen, "%s", strerror(-r));
		return r;
	}
	record(&x->staged, rec, sizeof(rec));
	gwd_nft_policy_hook(b, x->staged.id, x->staged.epoch, rec);
	r = gwd_nft_commit(b, err, errlen);
	gwd_nft_batch_free(b);
	if (r < 0)
		return r;
	uint32_t old = x->live.id;
	build_clear(&x->live);
	x->live = x->staged;
	memset(&x->staged, 0, sizeof(x->staged));
	e->generation = x->live.gen;
	gwd_log("nft_commit", "gen=%" PRIu32 " build=%" PRIu32 " epoch=%" PRIu32 " cpu_ms=%.1f"
		" runq_ms=%.1f", x->live.gen, x->live.id, x->live.epoch, thread_cpu_ms() - cpu0,
		rq0 < 0 ? -1 : runq_ms() - rq0);
	/* The old build goes after the apply has answered (it no longer
	 * decides anything); at once without an event loop. */
	if (x->gc && old) {
		if (x->old_id)
			drop_build(x, x->old_id);
		x->old_id = old;
		struct timeval now = { 0, 0 };
		event_add(x->gc, &now);
	} else {
		drop_build(x, old);
	}
	return 0;
}

static void abort_(struct gwd_engine *e)
{
	struct nft_engine *x = (struct nft_engine *)e;
	if (!x->staged.id)
		return;
	drop_build(x, x->staged.id);
	build_clear(&x->staged);
}

static int set_active(struct gwd_engine *e, const uint64_t *mask, uint32_t nrules, char *err,
		      size_t errlen)
{
	struct nft_engine *x = (struct nft_engine *)e;
	if (!x->live.id || !x->live.ir || nrules != x->live.nrules) {
		snprintf(err, errlen, "a mask for %" PRIu32 " rules, the live policy has %" PRIu32,
			 nrules, x->live.nrules);
		return -ESTALE;
	}
	struct gwd_nft_batch *b;
	int r = gwd_nft_batch_new(x->n, &b);
	if (r < 0) {
		snprintf(err, errlen, "%s", strerror(-r));
		return r;
	}
	/* A new epoch: every flow is decided again at its next packet. */
	struct build next = x->live;
	next.epoch = next_epoch(x);
	char rec[128];
	record(&next, rec, sizeof(rec));
	gwd_nft_policy_active(b, x->live.ir, x->live.id, next.epoch, mask);
	gwd_nft_policy_hook(b, x->live.id, next.epoch, rec);
	r = gwd_nft_commit(b, err, errlen);
	gwd_nft_batch_free(b);
	if (r < 0)
		return r;
	x->live.epoch = next.epoch;
	return 0;
}

static const char *state(const struct gwd_engine *e)
{
	return ((const struct nft_engine *)e)->state;
}

static int rule_counts(struct gwd_engine *e,
		       int (*fn)(uint32_t rule, uint64_t pkts, uint64_t bytes, void *arg),
		       void *arg)
{
	struct nft_engine *x = (struct nft_engine *)e;
	if (!x->live.id)
		return -ENOENT;
	return gwd_nft_policy_counters(x->n, x->live.id, fn, arg);
}

static void free_(struct gwd_engine *e)
{
	struct nft_engine *x = (struct nft_engine *)e;
	if (x->tick)
		event_free(x->tick);
	if (x->gc)
		event_free(x->gc);
	if (x->logev)
		event_free(x->logev);
	gwd_nflog_free(x->log);
	if (x->ctev)
		event_free(x->ctev);
	if (x->ctdump)
		event_free(x->ctdump);
	if (x->ctbatch)
		event_free(x->ctbatch);
	gwd_ct_tracker_free(x->trk);
	gwd_ct_free(x->ct);
	gwd_neighmon_free(x->nm);
	free(x->macs);
	/* The live build stays: enforcement goes on while gwd is down.  A
	 * prepared one is garbage: the next start removes it. */
	build_clear(&x->live);
	build_clear(&x->staged);
	gwd_nft_close(x->n);
	free(x);
}

static const struct gwd_engine_ops nft_ops = {
	.name = "nft",
	.prepare = prepare,
	.stage_domains = stage_domains,
	.commit = commit,
	.abort = abort_,
	.set_active = set_active,
	.set_domains = set_domains,
	.state = state,
	.rule_counts = rule_counts,
	.free = free_,
};

/* --- adoption and the periodic check --------------------------------------------- */

struct rec {
	uint32_t gen, build, epoch, rules;
};

static bool parse_record(const char *s, struct rec *r)
{
	return sscanf(s, "gw gen=%" SCNu32 " build=%" SCNu32 " epoch=%" SCNu32 " rules=%" SCNu32,
		      &r->gen, &r->build, &r->epoch, &r->rules) == 4;
}

/* An older gwd's table decides through its own forward hook chain
 * (GWD_NFT_LEGACY_CHAIN): the same build, record and epoch go where the
 * guard's forward chain finds them, and that hook goes, in one batch.
 * On failure the old hook goes on deciding until the next commit. */
static void unlegacy(struct nft_engine *x, const struct rec *rc, const char *text)
{
	char err[256], q[300];
	bool legacy;
	struct gwd_nft_batch *b;
	if (gwd_nft_policy_legacy(x->n, &legacy) < 0 || !legacy)
		return;
	int r = gwd_nft_batch_new(x->n, &b);
	if (r < 0) {
		snprintf(err, sizeof(err), "%s", strerror(-r));
	} else {
		gwd_nft_policy_hook(b, rc->build, rc->epoch, text);
		r = gwd_nft_commit(b, err, sizeof(err));
		gwd_nft_batch_free(b);
	}
	if (r < 0)
		gwd_log("nft_legacy_kept", "build=%" PRIu32 " reason=%s", rc->build,
			gwd_log_value(q, sizeof(q), err));
	else
		gwd_log("nft_legacy_replaced", "build=%" PRIu32 " epoch=%" PRIu32, rc->build,
			rc->epoch);
}

/* The live build a dead gwd left, when its record names a build the
 * table has and gwd's history holds that generation (its image checked
 * against the recorded hash).  gwd writes the history entry, durably,
 * before any engine commits, so whatever generation the kernel's record
 * names is in the history: the engine keeps no image of its own. */
static void adopt(struct nft_engine *x, const uint32_t *ids, size_t nids)
{
	char text[256], why[256], q[300];
	struct rec rc;
	if (gwd_nft_policy_record(x->n, text, sizeof(text)) < 0 || !parse_record(text, &rc))
		return;
	if (rc.epoch > x->last_epoch)
		x->last_epoch = rc.epoch;
	bool found = false;
	for (size_t i = 0; i < nids; i++)
		found |= ids[i] == rc.build;
	void *img = NULL;
	size_t ilen;
	json_t *entry = NULL;
	struct pol_ir *ir = NULL;
	int r;
	if (!found)
		goto out;
	if ((r = gwd_history_get(x->cfg.state_dir, rc.gen, &entry, &img, &ilen)) < 0) {
		snprintf(why, sizeof(why), "generation %" PRIu32 " is not in the history: %s",
			 rc.gen, strerror(-r));
		goto refused;
	}
	if (pol_image_load(img, ilen, &ir, why, sizeof(why)) < 0)
		goto refused;
	if (ir->nrules != rc.rules) {
		snprintf(why, sizeof(why), "the table's record says %" PRIu32 " rules, the "
			 "history's image has %" PRIu32, rc.rules, ir->nrules);
		goto refused;
	}
	x->live = (struct build){
		.id = rc.build, .gen = rc.gen, .epoch = rc.epoch, .nrules = rc.rules,
		.domused = gwd_nft_policy_domsets(ir), .ir = ir,
	};
	ir = NULL;
	x->base.generation = rc.gen;
	gwd_log("nft_adopt", "gen=%" PRIu32 " build=%" PRIu32 " epoch=%" PRIu32, rc.gen, rc.build,
		rc.epoch);
	goto out;
refused:
	gwd_log("nft_adopt_refused", "gen=%" PRIu32 " build=%" PRIu32 " reason=%s", rc.gen,
		rc.build, gwd_log_value(q, sizeof(q), why));
out:
	/* Not adopted: the build the hook points at keeps deciding until
	 * gwd gives the engine its generation (a new build). */
	if (!x->live.id && found)
		x->live.id = rc.build;
	if (found)
		unlegacy(x, &rc, text);
	json_decref(entry);
	free(img);
	pol_ir_free(ir);
}

/* The generation again from gwd, once the guard is back in place (the
 * guard's own check puts it back: a policy is never loaded without it). */
static void reload(struct nft_engine *x)
{
	char why[256];
	bool ok = false;
	if (gwd_nft_guard_check(x->n, &x->cfg, &ok, why, sizeof(why)) < 0 || !ok) {
		set_state(x, "degraded: the live build is gone; waiting for the guard to load it "
			  "again");
		return;
	}
	if (x->base.resync)
		x->base.resync(&x->base, x->base.resync_arg);
	if (x->base.generation) {
		x->lost = false;
		set_state(x, "ok");
	} else {
		set_state(x, "degraded: the live build is gone; loading it again failed");
	}
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct nft_engine *x = arg;
	char text[256];
	struct rec rc;
	if (x->lost) {
		reload(x);
		return;
	}
	int r = gwd_nft_policy_record(x->n, text, sizeof(text));
	if (r < 0) {
		set_state(x, "degraded: cannot read table inet %s: %s", x->cfg.nft_table,
			  strerror(-r));
		return;
	}
	if (x->live.gen && (!parse_record(text, &rc) || rc.build != x->live.id)) {
		/* Someone removed or replaced the hook or the table. */
		gwd_log("nft_lost", "gen=%" PRIu32 " build=%" PRIu32, x->live.gen, x->live.id);
		build_clear(&x->live);
		x->base.generation = 0;
		x->lost = true;
		reload(x);
		return;
	}
	set_state(x, "ok");
	if (!x->staged.id)
		drop_others(x);
}

static void on_gc(evutil_socket_t fd, short what, void *arg)
{
	struct nft_engine *x = arg;
	uint32_t id = x->old_id;
	x->old_id = 0;
	drop_build(x, id);
}

static void on_log(evutil_socket_t fd, short what, void *arg)
{
	struct nft_engine *x = arg;
	gwd_nflog_drain(x->log, x->flows);
}

/* --- connections: conntrack into gwd's flows ------------------------------------ */

static struct mac_ent *mac_find(struct nft_engine *x, uint8_t fam, const uint8_t *addr)
{
	for (size_t i = 0; i < x->nmacs; i++) {
		struct mac_ent *m = &x->macs[i];
		if (m->used && m->fam == fam && !memcmp(m->addr, addr, 16))
			return m;
	}
	return NULL;
}

static void on_neigh(const struct gwd_neigh *n, uint32_t epoch, void *arg)
{
	static uint64_t clock_;
	struct nft_engine *x = arg;
	struct mac_ent *m = mac_find(x, n->family, n->addr);
	if (n->gone || !n->has_mac) {
		if (m && n->gone)
			m->used = false;
		return;
	}
	if (!m && x->nmacs < CT_MACS) {
		m = &x->macs[x->nmacs++];
	} else if (!m) {
		/* A free entry, else the one seen longest ago. */
		m = &x->macs[0];
		for (size_t i = 0; i < CT_MACS && m->used; i++)
			if (!x->macs[i].used || x->macs[i].seen < m->seen)
				m = &x->macs[i];
	}
	*m = (struct mac_ent){ .used = true, .fam = n->family, .epoch = epoch, .seen = ++clock_ };
	memcpy(m->addr, n->addr, 16);
	memcpy(m->mac, n->mac, 6);
}

static void on_neigh_dump_done(uint32_t epoch, void *arg)
{
	struct nft_engine *x = arg;
	/* What a full dump did not show is gone from the tables. */
	for (size_t i = 0; i < CT_MACS; i++)
		if (x->macs[i].used && x->macs[i].epoch && x->macs[i].epoch != epoch)
			x->macs[i].used = false;
	x->nm_epoch = epoch;
}

/* The rule of rate slot `slot` (slots count the allowed rules with a rate
 * in rule order, as nft_policy.c gives them). */
static uint32_t slot_rule(const struct pol_ir *ir, uint32_t slot)
{
	uint32_t k = 0;
	for (uint32_t j = 0; j < ir->nrules; j++) {
		const struct pol_rule *r = &ir->rules[j];
		if (r->action == POL_ALLOW && (r->flags & POL_RULE_RATE) && r->rate_bps &&
		    ++k == slot)
			return j;
	}
	return POL_NONE;
}

/* The rules of the live build whose subject takes device d (POL_NONE: a
 * device the policy does not know), in rule order; built at d's first
 * connection in the build, so that attributing one walks these and not
 * every rule.  NULL when out of memory. */
static const struct devrules *devrules(struct build *bd, uint32_t d)
{
	const struct pol_ir *ir = bd->ir;
	uint32_t k = d < ir->ndevices ? d : ir->ndevices;
	if (!bd->dr && !(bd->dr = calloc((size_t)ir->ndevices + 1, sizeof(*bd->dr))))
		return NULL;
	struct devrules *dr = &bd->dr[k];
	if (dr->built)
		return dr;
	uint32_t *v = malloc(((size_t)ir->nrules + 1) * sizeof(*v)), n = 0;
	if (!v)
		return NULL;
	/* The subject is what pol_rule_match looks at first. */
	struct pol_facts f = { .device = d < ir->ndevices ? d : POL_NONE };
	for (uint32_t i = 0; i < ir->nrules; i++)
		if (pol_rule_match(ir, i, &f) != POL_MISS_SUBJECT)
			v[n++] = i;
	*dr = (struct devrules){ .built = true, .n = n, .rules = v };
	return dr;
}

/* The rule pol_eval picks for f (its rule index, or POL_RULE_DEFAULT,
 * POL_RULE_DEFAULT_NEW), walking only f's device's rules. */
static uint32_t attr_rule(struct build *bd, const struct pol_facts *f)
{
	const struct devrules *dr = devrules(bd, f->device);
	if (!dr) {
		struct pol_verdict v;
		pol_eval(bd->ir, f, &v, NULL);
		return v.rule;
	}
	for (uint32_t k = 0; k < dr->n; k++)
		if (pol_rule_match(bd->ir, dr->rules[k], f) == POL_MATCH)
			return dr->rules[k];
	return f->device == POL_NONE ? POL_RULE_DEFAULT_NEW : POL_RULE_DEFAULT;
}

/* pol_when_at for now, once a second and build (it reads the time zone). */
static int when_now(struct nft_engine *x, struct pol_when *ret)
{
	time_t t = time(NULL);
	if (x->when_build != x->live.id || x->when_t != t) {
		int r = pol_when_at(x->live.ir, t, &x->when);
		if (r < 0)
			return r;
		x->when_build = x->live.id;
		x->when_t = t;
	}
	*ret = x->when;
	return 0;
}

/*
 * Who a connection conntrack shows belongs to.  Its ct mark says the nft
 * engine allowed it (and, for a rule with a rate, which rule: the slot);
 * its device is the MAC the nft ports' neighbour table has for its
 * source; the rule otherwise is the one the reference evaluator picks
 * for it in the live generation (the differential test holds the engine
 * to that evaluator).
 */
static bool ct_attr(const struct gwd_ct_rec *r, struct gwd_flow_ev *ev, void *arg)
{
	struct nft_engine *x = arg;
	const struct pol_ir *ir = x->live.ir;
	struct mac_ent *m = mac_find(x, r->family, r->src);
	if (!ir || !m)
		return false;
	struct pol_facts f = {
		.device = pol_device_by_mac(ir, m->mac), .family = r->family, .proto = r->proto,
		.dport = r->dport,
	};
	memcpy(f.dst, r->dst, 16);
	struct dom_ent *d = dom_find(&x->live.dom, r->family, r->dst);
	if (d && d->expires_ms > now_ms())
		f.domain_sets = d->sets;
	if (when_now(x, &f.when) < 0)
		return false;
	uint32_t slot = r->mark & GWD_NFT_SLOT_MASK;
	uint32_t rule = slot ? slot_rule(ir, slot) : POL_NONE;
	if (rule == POL_NONE)
		rule = attr_rule(&x->live, &f);
	memcpy(ev->mac, m->mac, 6);
	ev->action = POL_ALLOW;
	ev->rule = rule;
	ev->log = rule < ir->nrules && (ir->rules[rule].flags & POL_RULE_LOG);
	ev->generation = x->live.gen;
	return true;
}

static uint64_t real_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void ct_feed(const struct gwd_ct_rec *r, void *arg)
{
	struct nft_engine *x = arg;
	gwd_ct_tracker_feed(x->trk, r, real_ms());
}

static unsigned ct_drain(struct nft_engine *x)
{
	uint64_t lost;
	unsigned n = gwd_ct_drain(x->ct, ct_feed, x, &lost);
	if (lost)
		gwd_ct_tracker_add_lost(x->trk, lost);
	return n;
}

/*
 * The events wake gwd once, then gwd reads them on a timer while they
 * come: every DESTROY the kernel queues on a socket gwd sleeps on wakes
 * it (an IPI, two context switches; 10 000 a second under a flood of new
 * connections, most of gwd's CPU), while every CT_BATCH_MS a read takes
 * all that gathered in one go.  A read that finds nothing puts the
 * socket back in the loop.  A connection's end reaches the flows at most
 * CT_BATCH_MS later; the socket's buffer (conntrack.c) holds far more
 * than that many milliseconds of events.
 */
static void ct_poll_next(struct nft_engine *x, unsigned n)
{
	if (n == 0 && (!x->ctpolling || event_add(x->ctev, NULL) == 0)) {
		x->ctpolling = false;
		return;
	}
	/* The bound hit: the rest right after the loop's other work. */
	struct timeval tv = { .tv_usec = n >= GWD_CT_DRAIN_MAX ? 0 : CT_BATCH_MS * 1000 };
	if (!x->ctpolling && event_del(x->ctev) == 0)
		x->ctpolling = true;
	evtimer_add(x->ctbatch, &tv);
}

static void on_ct(evutil_socket_t fd, short what, void *arg)
{
	struct nft_engine *x = arg;
	ct_poll_next(x, ct_drain(x));
}

static void on_ct_batch(evutil_socket_t fd, short what, void *arg)
{
	struct nft_engine *x = arg;
	ct_poll_next(x, ct_drain(x));
}

static void on_ct_dump(evutil_socket_t fd, short what, void *arg)
{
	struct nft_engine *x = arg;
	uint64_t t0 = now_ms();
	ct_drain(x);
	/* Answered connections only, but for one dump in CT_FULL_EVERY: a
	 * device's scan, or a flood of probes nobody answers, fills
	 * conntrack with entries whose counters say one packet; dumping
	 * them every time cost gwd most of a CPU (and the kernel the walk
	 * and a message each).  An unanswered one is reported at its
	 * DESTROY (its counters with it), or by the next full dump. */
	bool full = x->ctdumps++ % CT_FULL_EVERY == 0;
	gwd_ct_tracker_dump_begin(x->trk, !full);
	int r = gwd_ct_dump(x->ct, 0x80000000u, 0x80000000u, full ? 0 : IPS_SEEN_REPLY,
			    full ? 0 : IPS_SEEN_REPLY, ct_feed, x);
	if (r < 0) {
		/* Half a dump says nothing of what ended. */
		gwd_log("nft_flows_dump_failed", "reason=%s", strerror(-r));
		gwd_ct_tracker_dump_cancel(x->trk);
	} else {
		gwd_ct_tracker_dump_end(x->trk, real_ms());
	}
	/* A dump blocks gwd's loop while it runs (a table of 100 000
	 * connections: a second on a loaded machine): the next one comes
	 * after ten times as long, so dumps take at most a tenth of gwd. */
	uint64_t took = now_ms() - t0, wait = took * 10 > CT_DUMP_MS ? took * 10 : CT_DUMP_MS;
	struct timeval tv = { .tv_sec = (time_t)(wait / 1000),
			      .tv_usec = (suseconds_t)(wait % 1000 * 1000) };
	evtimer_add(x->ctdump, &tv);
	struct gwd_ct_stats st;
	gwd_ct_tracker_stats(x->trk, &st);
	if (st.over_cap != x->ctlogged.over_cap || st.lost != x->ctlogged.lost) {
		gwd_log("nft_flows", "tracked=%" PRIu32 " reported=%" PRIu64 " over_cap=%" PRIu64
			" unattributed=%" PRIu64 " lost=%" PRIu64 " cap=%u dump=%s dump_ms=%" PRIu64
			" next_ms=%" PRIu64, st.tracked, st.reported, st.over_cap, st.unattributed,
			st.lost, CT_MAX_FLOWS, full ? "full" : "replied", took, wait);
		x->ctlogged = st;
	}
}

/* conntrack's connections into x->flows: accounting on, the event socket,
 * the dump timer, the neighbour tables of the nft ports. */
static int ct_start(struct event_base *base, struct nft_engine *x, char *err, size_t errlen)
{
	int was, r = gwd_ct_acct_on(&was);
	if (r < 0)
		gwd_log("nft_ct_acct_failed", "reason=%s", strerror(-r));
	else
		gwd_log("nft_ct_acct", "sysctl=net.netfilter.nf_conntrack_acct was=%d now=1", was);
	if (!(x->macs = calloc(CT_MACS, sizeof(*x->macs)))) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	struct gwd_neighmon_ops ops = { on_neigh, on_neigh_dump_done };
	if ((r = gwd_neighmon_new(base, (const char (*)[16])x->cfg.nft_ports, x->cfg.nnft_ports,
				  &ops, x, &x->nm)) < 0) {
		snprintf(err, errlen, "the nft ports' neighbour tables: %s", strerror(-r));
		return r;
	}
	if ((r = gwd_ct_new(&x->ct)) < 0) {
		snprintf(err, errlen, "conntrack events: %s", strerror(-r));
		return r;
	}
	if ((r = gwd_ct_tracker_new(CT_MAX_FLOWS, 0x80000000u, 0x80000000u, x->flows, ct_attr, x,
				    &x->trk)) < 0) {
		snprintf(err, errlen, "out of memory");
		return r;
	}
	struct timeval tv = { .tv_sec = CT_DUMP_MS / 1000, .tv_usec = CT_DUMP_MS % 1000 * 1000 };
	x->ctev = event_new(base, gwd_ct_fd(x->ct), EV_READ | EV_PERSIST, on_ct, x);
	x->ctdump = evtimer_new(base, on_ct_dump, x);
	x->ctbatch = evtimer_new(base, on_ct_batch, x);
	if (!x->ctev || !x->ctdump || !x->ctbatch || event_add(x->ctev, NULL) < 0 ||
	    event_add(x->ctdump, &tv) < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* An older gwd's copy of the live image (state_dir/engine-nft/): never
 * read again (the history has it). */
static void drop_old_records(const char *state_dir)
{
	char p[GWD_PATH_MAX + 64];
	const char *files[] = { "live.img", "live.gen", "live.img.tmp", "live.gen.tmp" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "%s/engine-nft/%s", state_dir, files[i]);
		unlink(p);
	}
	snprintf(p, sizeof(p), "%s/engine-nft", state_dir);
	rmdir(p);
}

int gwd_engine_nft_new(struct event_base *base, const struct gwd_config *cfg,
		       struct gwd_flows *flows, struct gwd_engine **ret, char *err, size_t errlen)
{
	struct nft_engine *x = calloc(1, sizeof(*x));
	if (!x) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	x->base.ops = &nft_ops;
	x->cfg = *cfg;
	x->flows = flows;
	snprintf(x->state, sizeof(x->state), "ok");
	int r;
	drop_old_records(cfg->state_dir);
	if ((r = gwd_nft_open(cfg->nft_table, &x->n)) < 0) {
		snprintf(err, errlen, "nftables: %s", strerror(-r));
		goto fail;
	}
	uint32_t ids[MAX_BUILDS];
	size_t nids = 0;
	if ((r = gwd_nft_policy_builds(x->n, ids, MAX_BUILDS, &nids)) < 0) {
		snprintf(err, errlen, "reading table inet %s: %s", cfg->nft_table, strerror(-r));
		goto fail;
	}
	uint32_t top = 0;
	for (size_t i = 0; i < nids; i++)
		top = ids[i] > top ? ids[i] : top;
	x->next_id = top + 1;
	adopt(x, ids, nids);
	if (!x->live.id) {
		/* Nothing live: the policy chain, empty but for its drop of
		 * what conntrack cannot follow. */
		struct gwd_nft_batch *b;
		if ((r = gwd_nft_batch_new(x->n, &b)) < 0) {
			snprintf(err, errlen, "%s", strerror(-r));
			goto fail;
		}
		gwd_nft_policy_hook(b, 0, 0, NULL);
		r = gwd_nft_commit(b, err, errlen);
		gwd_nft_batch_free(b);
		if (r < 0)
			goto fail;
	}
	drop_others(x);
	if (base) {
		struct timeval tv = { .tv_sec = TICK_S };
		x->tick = event_new(base, -1, EV_PERSIST, on_tick, x);
		x->gc = evtimer_new(base, on_gc, x);
		if (!x->tick || !x->gc || event_add(x->tick, &tv) < 0) {
			r = -ENOMEM;
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		if ((r = gwd_nflog_new(cfg->nflog_group, &x->log)) < 0) {
			snprintf(err, errlen, "NFLOG group %u: %s", cfg->nflog_group, strerror(-r));
			goto fail;
		}
		x->logev = event_new(base, gwd_nflog_fd(x->log), EV_READ | EV_PERSIST, on_log, x);
		if (!x->logev || event_add(x->logev, NULL) < 0) {
			r = -ENOMEM;
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		if (cfg->nft_flows && (r = ct_start(base, x, err, errlen)) < 0)
			goto fail;
		if (!cfg->nft_flows)
			gwd_log("nft_flows_off", "conf=nft_flows");
	}
	*ret = &x->base;
	return 0;
fail:
	free_(&x->base);
	return r;
}
