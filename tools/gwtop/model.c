/* SPDX-License-Identifier: MIT */
/* gwtop's model (model.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "model.h"
#include "table.h"

#define BLOCK_SNAP_MS 10000
#define MINUTE_MS 60000
/* A sample a little older than the window still counts: ticks jitter. */
#define WINDOW_SLACK_MS 500

const char *const top_dev_sort_names[TOP_DEV_SORTS] = {
	"rate", "name", "owner", "up", "down", "flows", "blocked", "total",
};
const char *const top_flow_sort_names[TOP_FLOW_SORTS] = {
	"rate", "peer", "port", "up", "down", "total", "age", "verdict", "rule",
};

void top_clean(char *dst, size_t n, const char *src)
{
	size_t o = 0;
	if (!n)
		return;
	for (; src && *src && o + 1 < n; src++)
		dst[o++] = *src >= 0x20 && *src < 0x7f ? *src : '?';
	dst[o] = '\0';
}

void top_fmt_rate(char *buf, size_t n, double bps)
{
	static const char *const units[] = { "kb/s", "Mb/s", "Gb/s", "Tb/s" };
	if (bps < 0) {
		snprintf(buf, n, "-");
		return;
	}
	if (bps < 999.5) {
		snprintf(buf, n, "%.0f b/s", bps);
		return;
	}
	int u = -1;
	while (bps >= 999.95 && u < 3) {
		bps /= 1000;
		u++;
	}
	snprintf(buf, n, bps < 10 ? "%.1f %s" : "%.0f %s", bps, units[u]);
}

static void copy_str(char *dst, size_t n, json_t *o, const char *key)
{
	top_clean(dst, n, json_string_value(json_object_get(o, key)));
}

void top_model_init(struct top_model *m)
{
	memset(m, 0, sizeof(*m));
}

void top_model_free(struct top_model *m)
{
	free(m->devs);
	free(m->by_key);
	free(m->flows);
	memset(m, 0, sizeof(*m));
}

/* ---- rates -------------------------------------------------------------- */

/* Adds a sample; *up and *down become the rate over the window (bits/s),
 * or -1 before there are two samples.  Totals that went down start the
 * history again. */
static void push_sample(struct top_sample *s, unsigned *ns, unsigned *next, uint64_t now,
			uint64_t out, uint64_t in, double *up, double *down)
{
	if (*ns) {
		unsigned last = (*next + TOP_SAMPLES - 1) % TOP_SAMPLES;
		if (out < s[last].out || in < s[last].in) {
			*ns = 0;
		} else if (now == s[last].t_ms) {
			/* The same instant again: this sample replaces it. */
			(*ns)--;
			*next = last;
		}
	}
	s[*next] = (struct top_sample){ .t_ms = now, .out = out, .in = in };
	*next = (*next + 1) % TOP_SAMPLES;
	if (*ns < TOP_SAMPLES)
		(*ns)++;
	*up = *down = -1;
	if (*ns < 2)
		return;
	/* The oldest sample within the window; else the one before this. */
	const struct top_sample *from = NULL;
	for (unsigned i = *ns; i >= 2; i--) {
		const struct top_sample *c = &s[(*next + TOP_SAMPLES - i) % TOP_SAMPLES];
		if (now - c->t_ms <= TOP_RATE_WINDOW_MS + WINDOW_SLACK_MS) {
			from = c;
			break;
		}
	}
	if (!from)
		from = &s[(*next + TOP_SAMPLES - 2) % TOP_SAMPLES];
	if (now <= from->t_ms || now - from->t_ms < TOP_RATE_MIN_MS)
		return;
	double secs = (double)(now - from->t_ms) / 1000;
	*up = (double)(out - from->out) * 8 / secs;
	*down = (double)(in - from->in) * 8 / secs;
}

static void push_blocked(struct top_dev *d, uint64_t now)
{
	if (d->nb) {
		unsigned last = (d->b_next + TOP_BLOCK_SNAPS - 1) % TOP_BLOCK_SNAPS;
		if (d->blocked_flows < d->b[last].blocked)
			d->nb = 0;
	}
	unsigned last = (d->b_next + TOP_BLOCK_SNAPS - 1) % TOP_BLOCK_SNAPS;
	if (!d->nb || now - d->b[last].t_ms >= BLOCK_SNAP_MS) {
		d->b[d->b_next].t_ms = now;
		d->b[d->b_next].blocked = d->blocked_flows;
		d->b_next = (d->b_next + 1) % TOP_BLOCK_SNAPS;
		if (d->nb < TOP_BLOCK_SNAPS)
			d->nb++;
	}
	/* Against the oldest snapshot of the last minute. */
	d->blocked_1m = 0;
	for (unsigned i = d->nb; i >= 1; i--) {
		unsigned k = (d->b_next + TOP_BLOCK_SNAPS - i) % TOP_BLOCK_SNAPS;
		if (now - d->b[k].t_ms <= MINUTE_MS) {
			d->blocked_1m = d->blocked_flows - d->b[k].blocked;
			break;
		}
	}
}

/* ---- devices ------------------------------------------------------------ */

/* Pointers are sorted, not the devices (some 700 bytes each). */
static int by_key(const void *a, const void *b)
{
	return strcmp((*(struct top_dev *const *)a)->key, (*(struct top_dev *const *)b)->key);
}

static const struct top_dev *find_dev(struct top_dev *const *sorted, size_t n, const char *key)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(sorted[mid]->key, key);
		if (!c)
			return sorted[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int top_model_devices(struct top_model *m, json_t *reply, uint64_t now_ms)
{
	json_t *list = json_object_get(reply, "devices");
	if (!json_is_array(list))
		return -EINVAL;
	size_t n = json_array_size(list);
	struct top_dev *v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	m->tick++;
	size_t k = 0, i;
	json_t *o;
	json_array_foreach(list, i, o) {
		struct top_dev *d = &v[k];
		json_t *macs = json_object_get(o, "macs"), *tot = json_object_get(o, "totals");
		copy_str(d->name, sizeof(d->name), o, "name");
		copy_str(d->owner, sizeof(d->owner), o, "owner");
		top_clean(d->mac, sizeof(d->mac), json_string_value(json_array_get(macs, 0)));
		d->nmacs = (unsigned)json_array_size(macs);
		d->is_new = json_is_true(json_object_get(o, "new")) || !d->name[0];
		if (d->is_new)
			snprintf(d->key, sizeof(d->key), "mac:%s", d->mac);
		else
			snprintf(d->key, sizeof(d->key), "%s", d->name);
		size_t j;
		json_t *a;
		json_array_foreach(json_object_get(o, "addrs"), j, a) {
			const char *s = json_string_value(a);
			if (!s)
				continue;
			if (strchr(s, ':'))
				top_clean(d->addr6, sizeof(d->addr6), s);
			else
				top_clean(d->addr4, sizeof(d->addr4), s);
		}
		d->bytes_out = gwc_jnum(tot, "bytes_out");
		d->bytes_in = gwc_jnum(tot, "bytes_in");
		d->pkts_out = gwc_jnum(tot, "pkts_out");
		d->pkts_in = gwc_jnum(tot, "pkts_in");
		d->blocked_flows = gwc_jnum(tot, "blocked_flows");
		d->flows_live = gwc_jnum(tot, "flows_live");
		d->flows_total = gwc_jnum(tot, "flows_total");
		d->tick = m->tick;
		if (!d->key[0] || !strcmp(d->key, "mac:"))
			continue; /* nothing to know it by */
		k++;
	}
	struct top_dev **sorted = malloc((k ? k : 1) * sizeof(*sorted));
	if (!sorted) {
		free(v);
		return -ENOMEM;
	}
	for (size_t x = 0; x < k; x++)
		sorted[x] = &v[x];
	qsort(sorted, k, sizeof(*sorted), by_key);
	m->up_bps = m->down_bps = 0;
	m->blocked_1m = 0;
	bool known = false;
	for (size_t x = 0; x < k; x++) {
		struct top_dev *d = &v[x];
		const struct top_dev *old = find_dev(m->by_key, m->ndevs, d->key);
		if (old) {
			memcpy(d->s, old->s, sizeof(d->s));
			d->ns = old->ns;
			d->s_next = old->s_next;
			memcpy(d->b, old->b, sizeof(d->b));
			d->nb = old->nb;
			d->b_next = old->b_next;
		}
		push_sample(d->s, &d->ns, &d->s_next, now_ms, d->bytes_out, d->bytes_in, &d->up_bps,
			    &d->down_bps);
		push_blocked(d, now_ms);
		if (d->up_bps > 0)
			m->up_bps += d->up_bps;
		if (d->down_bps > 0)
			m->down_bps += d->down_bps;
		known |= d->up_bps >= 0;
		m->blocked_1m += d->blocked_1m;
	}
	/* No device's rate known yet: the gateway's is not either. */
	if (!known)
		m->up_bps = m->down_bps = -1;
	free(m->devs);
	free(m->by_key);
	m->devs = v;
	m->by_key = sorted;
	m->ndevs = k;
	m->cap = n;
	return 0;
}

void top_model_forget_rates(struct top_model *m)
{
	for (size_t i = 0; i < m->ndevs; i++) {
		m->devs[i].ns = m->devs[i].nb = 0;
		m->devs[i].up_bps = m->devs[i].down_bps = -1;
	}
	for (size_t i = 0; i < m->nflows; i++) {
		m->flows[i].ns = 0;
		m->flows[i].up_bps = m->flows[i].down_bps = -1;
	}
}

const char *top_dev_arg(const struct top_dev *d)
{
	return d->is_new ? d->mac : d->name;
}

/* ---- flows -------------------------------------------------------------- */

static int by_fkey(const void *a, const void *b)
{
	return strcmp(((const struct top_flow *)a)->key, ((const struct top_flow *)b)->key);
}

int top_model_flows(struct top_model *m, const char *key, json_t *reply, uint64_t now_ms)
{
	json_t *list = json_object_get(reply, "flows");
	if (!json_is_array(list))
		return -EINVAL;
	size_t n = json_array_size(list);
	struct top_flow *v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	bool same = !strcmp(m->flows_of, key);
	size_t k = 0, i;
	json_t *o;
	json_array_foreach(list, i, o) {
		struct top_flow *f = &v[k];
		json_t *pr = json_object_get(o, "proto");
		if (json_is_string(pr))
			top_clean(f->proto, sizeof(f->proto), json_string_value(pr));
		else
			snprintf(f->proto, sizeof(f->proto), "%lld", (long long)json_integer_value(pr));
		copy_str(f->device, sizeof(f->device), o, "device");
		if (!f->device[0])
			copy_str(f->device, sizeof(f->device), o, "mac");
		copy_str(f->src, sizeof(f->src), o, "src");
		copy_str(f->dst, sizeof(f->dst), o, "dst");
		copy_str(f->domain, sizeof(f->domain), o, "domain");
		copy_str(f->verdict, sizeof(f->verdict), o, "verdict");
		copy_str(f->engine, sizeof(f->engine), o, "engine");
		const char *rule = json_string_value(json_object_get(o, "rule"));
		if (rule)
			top_clean(f->rule, sizeof(f->rule), rule);
		else
			snprintf(f->rule, sizeof(f->rule), "#%lld",
				 (long long)json_integer_value(json_object_get(o, "rule_index")));
		f->family = (int)gwc_jnum(o, "family");
		f->sport = (unsigned)gwc_jnum(o, "sport");
		f->dport = (unsigned)gwc_jnum(o, "dport");
		f->bytes_out = gwc_jnum(o, "bytes_out");
		f->bytes_in = gwc_jnum(o, "bytes_in");
		f->pkts_out = gwc_jnum(o, "pkts_out");
		f->pkts_in = gwc_jnum(o, "pkts_in");
		f->age_ms = gwc_jnum(o, "age_ms");
		f->idle_ms = gwc_jnum(o, "idle_ms");
		snprintf(f->key, sizeof(f->key), "%s|%s|%s|%s|%u|%s|%u", f->engine, f->device,
			 f->proto, f->src, f->sport, f->dst, f->dport);
		k++;
	}
	qsort(v, k, sizeof(*v), by_fkey);
	size_t u = 0;
	for (size_t x = 0; x < k; x++)
		if (!u || strcmp(v[u - 1].key, v[x].key))
			v[u++] = v[x];
	k = u;
	for (size_t x = 0; x < k; x++) {
		struct top_flow *f = &v[x];
		const struct top_flow *old =
			same && m->nflows ? bsearch(f, m->flows, m->nflows, sizeof(*f), by_fkey)
					    : NULL;
		if (old) {
			memcpy(f->s, old->s, sizeof(f->s));
			f->ns = old->ns;
			f->s_next = old->s_next;
		}
		push_sample(f->s, &f->ns, &f->s_next, now_ms, f->bytes_out, f->bytes_in, &f->up_bps,
			    &f->down_bps);
	}
	free(m->flows);
	m->flows = v;
	m->nflows = k;
	m->fcap = n;
	snprintf(m->flows_of, sizeof(m->flows_of), "%s", key);
	m->flows_tick++;
	return 0;
}

/* ---- status and events -------------------------------------------------- */

int top_model_status(struct top_model *m, json_t *reply, uint64_t now_ms)
{
	if (!json_is_object(reply))
		return -EINVAL;
	struct top_status *s = &m->status;
	memset(s, 0, sizeof(*s));
	s->known = true;
	s->generation = gwc_jnum(reply, "generation");
	copy_str(s->hash, sizeof(s->hash), reply, "hash");
	json_t *p = json_object_get(reply, "pending");
	if (json_is_object(p)) {
		s->pending = true;
		s->pending_gen = gwc_jnum(p, "generation");
		s->pending_prev = gwc_jnum(p, "previous");
		s->seconds_left = (int64_t)gwc_jnum(p, "seconds_left");
		s->fetched_ms = now_ms;
	}
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(reply, "engines"), i, e) {
		if (s->nengines == sizeof(s->engines) / sizeof(s->engines[0]))
			break;
		struct top_engine *g = &s->engines[s->nengines++];
		copy_str(g->name, sizeof(g->name), e, "name");
		copy_str(g->state, sizeof(g->state), e, "state");
		g->generation = gwc_jnum(e, "generation");
	}
	return 0;
}

int top_model_event(struct top_model *m, json_t *ev)
{
	const char *type = json_string_value(json_object_get(ev, "event"));
	const char *verdict = json_string_value(json_object_get(ev, "verdict"));
	if (!type || !verdict)
		return 0;
	if (strcmp(type, "flow.blocked") && !(!strcmp(type, "flow.decided") && strcmp(verdict, "allow")))
		return 0;
	struct top_block *b = &m->blocks[m->block_next];
	memset(b, 0, sizeof(*b));
	b->time_ms = gwc_jnum(ev, "time_ms");
	copy_str(b->device, sizeof(b->device), ev, "device");
	if (!b->device[0])
		copy_str(b->device, sizeof(b->device), ev, "mac");
	copy_str(b->dst, sizeof(b->dst), ev, "dst");
	copy_str(b->peer, sizeof(b->peer), ev, "domain");
	if (!b->peer[0])
		memcpy(b->peer, b->dst, sizeof(b->dst));
	b->dport = (unsigned)gwc_jnum(ev, "dport");
	json_t *pr = json_object_get(ev, "proto");
	if (json_is_string(pr))
		top_clean(b->proto, sizeof(b->proto), json_string_value(pr));
	else
		snprintf(b->proto, sizeof(b->proto), "%lld", (long long)json_integer_value(pr));
	top_clean(b->verdict, sizeof(b->verdict), verdict);
	const char *rule = json_string_value(json_object_get(ev, "rule"));
	if (rule)
		top_clean(b->rule, sizeof(b->rule), rule);
	else
		snprintf(b->rule, sizeof(b->rule), "#%lld",
			 (long long)json_integer_value(json_object_get(ev, "rule_index")));
	copy_str(b->engine, sizeof(b->engine), ev, "engine");
	m->block_next = (m->block_next + 1) % TOP_BLOCKS;
	if (m->nblocks < TOP_BLOCKS)
		m->nblocks++;
	return 1;
}

/* ---- views -------------------------------------------------------------- */

static bool has(const char *hay, const char *needle)
{
	return hay && strcasestr(hay, needle);
}

struct sort_ctx {
	const void *v;
	int key;
	bool reverse, totals;
};

static double rate_or_0(double r)
{
	return r < 0 ? 0 : r;
}

static int cmp_num(double a, double b)
{
	return a < b ? -1 : a > b;
}

/* qsort_r's comparison: descending for numbers, ascending for words, then
 * by key so the order is stable from tick to tick. */
static int cmp_dev(const void *pa, const void *pb, void *arg)
{
	const struct sort_ctx *c = arg;
	const struct top_dev *a = (const struct top_dev *)c->v + *(const size_t *)pa;
	const struct top_dev *b = (const struct top_dev *)c->v + *(const size_t *)pb;
	int r = 0;
	switch ((enum top_dev_sort)c->key) {
	case TOP_SORT_RATE:
		r = c->totals ? cmp_num((double)(b->bytes_out + b->bytes_in),
					(double)(a->bytes_out + a->bytes_in))
			      : cmp_num(rate_or_0(b->up_bps) + rate_or_0(b->down_bps),
					rate_or_0(a->up_bps) + rate_or_0(a->down_bps));
		break;
	case TOP_SORT_NAME: r = strcmp(a->is_new ? a->mac : a->name, b->is_new ? b->mac : b->name);
		break;
	case TOP_SORT_OWNER: r = strcmp(a->owner, b->owner); break;
	case TOP_SORT_UP:
		r = c->totals ? cmp_num((double)b->bytes_out, (double)a->bytes_out)
			      : cmp_num(rate_or_0(b->up_bps), rate_or_0(a->up_bps));
		break;
	case TOP_SORT_DOWN:
		r = c->totals ? cmp_num((double)b->bytes_in, (double)a->bytes_in)
			      : cmp_num(rate_or_0(b->down_bps), rate_or_0(a->down_bps));
		break;
	case TOP_SORT_FLOWS: r = cmp_num((double)b->flows_live, (double)a->flows_live); break;
	case TOP_SORT_BLOCKED: r = cmp_num((double)b->blocked_1m, (double)a->blocked_1m); break;
	case TOP_SORT_TOTAL:
		r = cmp_num((double)(b->bytes_out + b->bytes_in), (double)(a->bytes_out + a->bytes_in));
		break;
	default: break;
	}
	if (c->reverse)
		r = -r;
	return r ? r : strcmp(a->key, b->key);
}

static int cmp_flow(const void *pa, const void *pb, void *arg)
{
	const struct sort_ctx *c = arg;
	const struct top_flow *a = (const struct top_flow *)c->v + *(const size_t *)pa;
	const struct top_flow *b = (const struct top_flow *)c->v + *(const size_t *)pb;
	int r = 0;
	switch ((enum top_flow_sort)c->key) {
	case TOP_FSORT_RATE:
		r = c->totals ? cmp_num((double)(b->bytes_out + b->bytes_in),
					(double)(a->bytes_out + a->bytes_in))
			      : cmp_num(rate_or_0(b->up_bps) + rate_or_0(b->down_bps),
					rate_or_0(a->up_bps) + rate_or_0(a->down_bps));
		break;
	case TOP_FSORT_PEER:
		r = strcmp(a->domain[0] ? a->domain : a->dst, b->domain[0] ? b->domain : b->dst);
		break;
	case TOP_FSORT_PORT: r = cmp_num(a->dport, b->dport); break;
	case TOP_FSORT_UP:
		r = c->totals ? cmp_num((double)b->bytes_out, (double)a->bytes_out)
			      : cmp_num(rate_or_0(b->up_bps), rate_or_0(a->up_bps));
		break;
	case TOP_FSORT_DOWN:
		r = c->totals ? cmp_num((double)b->bytes_in, (double)a->bytes_in)
			      : cmp_num(rate_or_0(b->down_bps), rate_or_0(a->down_bps));
		break;
	case TOP_FSORT_TOTAL:
		r = cmp_num((double)(b->bytes_out + b->bytes_in), (double)(a->bytes_out + a->bytes_in));
		break;
	case TOP_FSORT_AGE: r = cmp_num((double)b->age_ms, (double)a->age_ms); break;
	case TOP_FSORT_VERDICT: r = strcmp(a->verdict, b->verdict); break;
	case TOP_FSORT_RULE: r = strcmp(a->rule, b->rule); break;
	default: break;
	}
	if (c->reverse)
		r = -r;
	return r ? r : strcmp(a->key, b->key);
}

int top_model_dev_view(const struct top_model *m, const char *filter, enum top_dev_sort sort,
		       bool reverse, bool totals, size_t **ret, size_t *ret_n)
{
	size_t *v = malloc((m->ndevs ? m->ndevs : 1) * sizeof(*v)), n = 0;
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < m->ndevs; i++) {
		const struct top_dev *d = &m->devs[i];
		if (filter && *filter && !has(d->name, filter) && !has(d->owner, filter) &&
		    !has(d->mac, filter) && !has(d->addr4, filter) && !has(d->addr6, filter) &&
		    !(d->is_new && has("new", filter)))
			continue;
		v[n++] = i;
	}
	struct sort_ctx c = { m->devs, (int)sort, reverse, totals };
	qsort_r(v, n, sizeof(*v), cmp_dev, &c);
	*ret = v;
	*ret_n = n;
	return 0;
}

int top_model_flow_view(const struct top_model *m, const char *filter, enum top_flow_sort sort,
			bool reverse, bool totals, size_t **ret, size_t *ret_n)
{
	size_t *v = malloc((m->nflows ? m->nflows : 1) * sizeof(*v)), n = 0;
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < m->nflows; i++) {
		const struct top_flow *f = &m->flows[i];
		char port[16];
		snprintf(port, sizeof(port), "%u", f->dport);
		if (filter && *filter && !has(f->dst, filter) && !has(f->domain, filter) &&
		    !has(f->rule, filter) && !has(f->verdict, filter) && !has(f->proto, filter) &&
		    !has(f->engine, filter) && strcmp(port, filter))
			continue;
		v[n++] = i;
	}
	struct sort_ctx c = { m->flows, (int)sort, reverse, totals };
	qsort_r(v, n, sizeof(*v), cmp_flow, &c);
	*ret = v;
	*ret_n = n;
	return 0;
}

/* ---- batch objects ------------------------------------------------------ */

static json_t *str_or_null(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

static json_t *rate_json(double bps)
{
	if (bps < 0)
		return json_null();
	/* Totals near 2^64 (a broken or hostile gwd's answer) make rates
	 * beyond JSON's integers: the largest one, never a cast out of
	 * range (undefined; fuzz_gwtop found it). */
	if (!(bps < 9223372036854775807.0))
		return json_integer(INT64_MAX);
	return json_integer((json_int_t)(bps + 0.5));
}

json_t *top_dev_json(const struct top_dev *d, uint64_t tick, uint64_t time_ms)
{
	json_t *addrs = json_array();
	if (d->addr4[0])
		json_array_append_new(addrs, json_string(d->addr4));
	if (d->addr6[0])
		json_array_append_new(addrs, json_string(d->addr6));
	return json_pack("{s:s,s:I,s:I,s:o,s:b,s:o,s:s,s:I,s:o,s:o,s:o,s:I,s:I,s:I,s:I,s:I,s:I,"
			 "s:I,s:I}",
			 "type", "device", "tick", (json_int_t)tick, "time_ms", (json_int_t)time_ms,
			 "name", str_or_null(d->is_new ? NULL : d->name), "new", d->is_new, "owner",
			 str_or_null(d->owner), "mac", d->mac, "macs", (json_int_t)d->nmacs, "addrs",
			 addrs, "rate_out_bps", rate_json(d->up_bps), "rate_in_bps",
			 rate_json(d->down_bps), "bytes_out", (json_int_t)d->bytes_out, "bytes_in",
			 (json_int_t)d->bytes_in, "pkts_out", (json_int_t)d->pkts_out, "pkts_in",
			 (json_int_t)d->pkts_in, "flows_live", (json_int_t)d->flows_live,
			 "flows_total", (json_int_t)d->flows_total, "blocked_flows",
			 (json_int_t)d->blocked_flows, "blocked_1m", (json_int_t)d->blocked_1m);
}

json_t *top_flow_json(const struct top_flow *f, uint64_t tick, uint64_t time_ms)
{
	bool ports = !strcmp(f->proto, "tcp") || !strcmp(f->proto, "udp");
	return json_pack("{s:s,s:I,s:I,s:s,s:s,s:s,s:s,s:o,s:s,s:o,s:o,s:s,s:s,s:I,s:I,s:I,s:I,"
			 "s:o,s:o,s:I}",
			 "type", "flow", "tick", (json_int_t)tick, "time_ms", (json_int_t)time_ms,
			 "device", f->device, "engine", f->engine, "proto", f->proto, "src", f->src,
			 "sport", ports ? json_integer(f->sport) : json_null(), "dst", f->dst,
			 "dport", ports ? json_integer(f->dport) : json_null(), "domain",
			 str_or_null(f->domain), "verdict", f->verdict, "rule", f->rule,
			 "bytes_out", (json_int_t)f->bytes_out, "bytes_in", (json_int_t)f->bytes_in,
			 "pkts_out", (json_int_t)f->pkts_out, "pkts_in", (json_int_t)f->pkts_in,
			 "rate_out_bps", rate_json(f->up_bps), "rate_in_bps", rate_json(f->down_bps),
			 "age_ms", (json_int_t)f->age_ms);
}

json_t *top_gateway_json(const struct top_model *m, uint64_t tick, uint64_t time_ms)
{
	const struct top_status *s = &m->status;
	json_t *engines = json_array();
	for (unsigned i = 0; i < s->nengines; i++)
		json_array_append_new(engines,
				      json_pack("{s:s,s:s,s:I}", "name", s->engines[i].name, "state",
						s->engines[i].state, "generation",
						(json_int_t)s->engines[i].generation));
	json_t *pending = s->pending ? json_pack("{s:I,s:I,s:I}", "generation",
						 (json_int_t)s->pending_gen, "previous",
						 (json_int_t)s->pending_prev, "seconds_left",
						 (json_int_t)s->seconds_left)
				     : json_null();
	uint64_t flows = 0;
	for (size_t i = 0; i < m->ndevs; i++)
		flows += m->devs[i].flows_live;
	return json_pack("{s:s,s:I,s:I,s:I,s:o,s:o,s:o,s:o,s:I,s:I,s:I}", "type", "gateway",
			 "tick", (json_int_t)tick, "time_ms", (json_int_t)time_ms, "generation",
			 (json_int_t)s->generation, "pending", pending, "engines", engines,
			 "rate_out_bps", rate_json(m->up_bps), "rate_in_bps", rate_json(m->down_bps),
			 "devices",
			 (json_int_t)m->ndevs, "flows_live", (json_int_t)flows, "blocked_1m",
			 (json_int_t)m->blocked_1m);
}
