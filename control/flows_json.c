/* SPDX-License-Identifier: MIT */
/*
 * The `devices` and `flows` replies (flows_json.h).  Byte counts and times
 * are JSON integers: packets and bytes as counted, times as milliseconds
 * since the epoch (*_ms) or as durations in milliseconds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"
#include "flows_json.h"
#include "names.h"

static json_t *mac_json(const uint8_t m[6])
{
	char s[POL_MAC_TEXT];
	return json_string(pol_mac_format(m, s));
}

/* Totals of several MACs (a device may have more than one). */
struct sum {
	struct gwd_device_totals t;
	bool seen;
};

static void add(struct sum *s, const struct gwd_device_totals *t)
{
	for (int d = 0; d < 2; d++) {
		s->t.pkts[d] += t->pkts[d];
		s->t.bytes[d] += t->bytes[d];
	}
	s->t.blocked_pkts += t->blocked_pkts;
	s->t.blocked_bytes += t->blocked_bytes;
	s->t.flows_live += t->flows_live;
	s->t.flows_total += t->flows_total;
	s->t.blocked_flows += t->blocked_flows;
	if (t->addr4_ms > s->t.addr4_ms) {
		memcpy(s->t.addr4, t->addr4, 4);
		s->t.addr4_ms = t->addr4_ms;
	}
	if (t->addr6_ms > s->t.addr6_ms) {
		memcpy(s->t.addr6, t->addr6, 16);
		s->t.addr6_ms = t->addr6_ms;
	}
	if (!s->seen || t->first_ms < s->t.first_ms)
		s->t.first_ms = t->first_ms;
	if (t->last_ms > s->t.last_ms)
		s->t.last_ms = t->last_ms;
	s->seen = true;
}

/* ---- JSON as text --------------------------------------------------------
 * The devices reply is written as text, not built as jansson objects: at
 * 4096 devices the objects (some 160 000 allocations) cost gwd 140 ms a
 * reply, and gwtop asks every second.  The text is what jansson would
 * dump (compact, keys in this order, strings escaped as it escapes them). */

struct jtext {
	char *p;
	size_t len, cap;
	bool oom;
};

static bool jt_room(struct jtext *j, size_t n)
{
	if (j->oom)
		return false;
	if (j->len + n + 1 <= j->cap)
		return true;
	size_t cap = j->cap ? j->cap : 4096;
	while (cap < j->len + n + 1)
		cap *= 2;
	char *p = realloc(j->p, cap);
	if (!p) {
		j->oom = true;
		return false;
	}
	j->p = p;
	j->cap = cap;
	return true;
}

static void jt_raw(struct jtext *j, const char *s, size_t n)
{
	if (!jt_room(j, n))
		return;
	memcpy(j->p + j->len, s, n);
	j->len += n;
	j->p[j->len] = '\0';
}

static void jt_lit(struct jtext *j, const char *s)
{
	jt_raw(j, s, strlen(s));
}

static void jt_u64(struct jtext *j, uint64_t v)
{
	char b[24];
	int n = snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
	jt_raw(j, b, (size_t)n);
}

/* A string as jansson dumps it, or null for NULL. */
static void jt_str(struct jtext *j, const char *s)
{
	if (!s) {
		jt_lit(j, "null");
		return;
	}
	jt_raw(j, "\"", 1);
	for (const char *run = s;; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		jt_raw(j, run, (size_t)(s - run));
		if (!c)
			break;
		char e[8];
		switch (c) {
		case '"': jt_lit(j, "\\\""); break;
		case '\\': jt_lit(j, "\\\\"); break;
		case '\b': jt_lit(j, "\\b"); break;
		case '\f': jt_lit(j, "\\f"); break;
		case '\n': jt_lit(j, "\\n"); break;
		case '\r': jt_lit(j, "\\r"); break;
		case '\t': jt_lit(j, "\\t"); break;
		default:
			snprintf(e, sizeof(e), "\\u%04X", c);
			jt_lit(j, e);
			break;
		}
		run = s + 1;
	}
	jt_raw(j, "\"", 1);
}

static void jt_mac(struct jtext *j, const uint8_t m[6])
{
	char s[24];
	int n = snprintf(s, sizeof(s), "\"%02x:%02x:%02x:%02x:%02x:%02x\"", m[0], m[1], m[2],
			 m[3], m[4], m[5]);
	jt_raw(j, s, (size_t)n);
}

static void jt_addrs(struct jtext *j, const struct sum *s)
{
	char a[INET6_ADDRSTRLEN];
	jt_lit(j, "[");
	if (s->t.addr4_ms) {
		inet_ntop(AF_INET, s->t.addr4, a, sizeof(a));
		jt_str(j, a);
	}
	if (s->t.addr6_ms) {
		if (s->t.addr4_ms)
			jt_lit(j, ",");
		inet_ntop(AF_INET6, s->t.addr6, a, sizeof(a));
		jt_str(j, a);
	}
	jt_lit(j, "]");
}

static void jt_ms(struct jtext *j, const char *key, uint64_t ms)
{
	jt_lit(j, key);
	if (ms)
		jt_u64(j, ms);
	else
		jt_lit(j, "null");
}

static void jt_totals(struct jtext *j, const struct sum *s, bool brief)
{
	const struct gwd_device_totals *t = &s->t;
	static const char *const keys[] = {
		"{\"pkts_out\":", ",\"bytes_out\":", ",\"pkts_in\":", ",\"bytes_in\":",
		",\"blocked_pkts\":", ",\"blocked_bytes\":", ",\"flows_live\":",
		",\"flows_total\":", ",\"blocked_flows\":",
	};
	const uint64_t v[] = { t->pkts[0], t->bytes[0], t->pkts[1], t->bytes[1], t->blocked_pkts,
			       t->blocked_bytes, t->flows_live, t->flows_total, t->blocked_flows };
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		if (brief && (i == 4 || i == 5))
			continue;
		jt_lit(j, keys[i]);
		jt_u64(j, v[i]);
	}
	if (!brief) {
		jt_ms(j, ",\"first_seen_ms\":", s->seen ? t->first_ms : 0);
		jt_ms(j, ",\"last_seen_ms\":", s->seen ? t->last_ms : 0);
	}
	jt_lit(j, "}");
}

struct new_devs {
	const struct pol_ir *ir;
	struct jtext *j;
	bool first, brief;
};

static int add_new(const struct gwd_device_totals *t, void *arg)
{
	struct new_devs *nd = arg;
	if (nd->ir && pol_device_by_mac(nd->ir, t->mac) != POL_NONE)
		return 0;
	struct sum s = { .t = *t, .seen = true };
	jt_lit(nd->j, nd->first ? "{" : ",{");
	jt_lit(nd->j, nd->brief ? "\"name\":null,\"new\":true,\"owner\":null,\"macs\":["
				: "\"name\":null,\"new\":true,\"owner\":null,\"groups\":[],"
				  "\"macs\":[");
	nd->first = false;
	jt_mac(nd->j, t->mac);
	jt_lit(nd->j, "],\"addrs\":");
	jt_addrs(nd->j, &s);
	jt_lit(nd->j, ",\"totals\":");
	jt_totals(nd->j, &s, nd->brief);
	jt_lit(nd->j, "}");
	return 0;
}

int gwd_devices_text(const struct pol_ir *ir, const struct gwd_flows *f, uint64_t now_ms,
		     bool brief, char **ret, size_t *ret_len)
{
	struct jtext j = { 0 };
	/* MACS is sorted by MAC, so a device's own are scattered: group them
	 * by device once (a counting sort), not a scan of every MAC for each
	 * device, which at 4096 devices made a reply cost 16M steps. */
	uint32_t nd = ir ? ir->ndevices : 0, nm = ir ? ir->nmacs : 0;
	uint32_t *first = calloc((size_t)nd + 2, sizeof(*first));
	uint32_t *order = calloc(nm ? nm : 1, sizeof(*order));
	uint32_t *at = calloc((size_t)nd + 1, sizeof(*at));
	if (!first || !order || !at) {
		free(first);
		free(order);
		free(at);
		return -ENOMEM;
	}
	for (uint32_t m = 0; m < nm; m++)
		if (ir->macs[m].device < nd)
			first[ir->macs[m].device + 1]++;
	for (uint32_t d = 0; d < nd; d++)
		first[d + 1] += first[d];
	memcpy(at, first, ((size_t)nd + 1) * sizeof(*at));
	for (uint32_t m = 0; m < nm; m++)
		if (ir->macs[m].device < nd)
			order[at[ir->macs[m].device]++] = m;
	free(at);
	jt_lit(&j, "\"devices\":[");
	for (uint32_t d = 0; d < nd; d++) {
		const struct pol_device *dev = &ir->devices[d];
		struct sum s = { 0 };
		jt_lit(&j, d ? ",{\"name\":" : "{\"name\":");
		jt_str(&j, pol_ir_str(ir, dev->name));
		jt_lit(&j, ",\"new\":false,\"owner\":");
		jt_str(&j, dev->owner == POL_NONE ? NULL : pol_ir_str(ir, ir->persons[dev->owner].name));
		if (!brief) {
			jt_lit(&j, ",\"groups\":[");
			bool one = false;
			for (uint32_t g = 0; g < ir->ngroups && g < 64; g++) {
				if (!(dev->groups >> g & 1))
					continue;
				if (one)
					jt_lit(&j, ",");
				jt_str(&j, pol_ir_str(ir, ir->groups[g].name));
				one = true;
			}
			jt_lit(&j, "]");
		}
		jt_lit(&j, ",\"macs\":[");
		for (uint32_t k = first[d]; k < first[d + 1]; k++) {
			const struct pol_mac *pm = &ir->macs[order[k]];
			if (k > first[d])
				jt_lit(&j, ",");
			jt_mac(&j, pm->mac);
			struct gwd_device_totals t;
			if (f && gwd_flows_device(f, pm->mac, &t) == 0)
				add(&s, &t);
		}
		jt_lit(&j, "],\"addrs\":");
		jt_addrs(&j, &s);
		jt_lit(&j, ",\"totals\":");
		jt_totals(&j, &s, brief);
		jt_lit(&j, "}");
	}
	free(first);
	free(order);
	if (f) {
		struct new_devs nd2 = { ir, &j, nd == 0, brief };
		gwd_flows_devices(f, add_new, &nd2);
	}
	jt_lit(&j, "],\"now_ms\":");
	jt_u64(&j, now_ms);
	if (j.oom) {
		free(j.p);
		return -ENOMEM;
	}
	*ret = j.p;
	*ret_len = j.len;
	return 0;
}

json_t *gwd_devices_json(const struct pol_ir *ir, const struct gwd_flows *f, uint64_t now_ms)
{
	char *text;
	size_t len;
	if (gwd_devices_text(ir, f, now_ms, false, &text, &len) < 0)
		return NULL;
	/* The members, in braces: an object. */
	char *obj = malloc(len + 3);
	json_t *o = NULL;
	if (obj) {
		obj[0] = '{';
		memcpy(obj + 1, text, len);
		obj[len + 1] = '}';
		obj[len + 2] = '\0';
		o = json_loadb(obj, len + 2, 0, NULL);
	}
	free(obj);
	free(text);
	return o;
}

int gwd_device_macs(const struct pol_ir *ir, const char *device, uint8_t (*ret)[6], size_t max,
		    size_t *ret_n)
{
	uint8_t mac[6];
	if (pol_mac_parse(device, strlen(device), mac) == 0) {
		if (!max)
			return -ENOBUFS;
		memcpy(ret[0], mac, 6);
		*ret_n = 1;
		return 0;
	}
	for (uint32_t d = 0; ir && d < ir->ndevices; d++) {
		if (strcmp(pol_ir_str(ir, ir->devices[d].name), device))
			continue;
		size_t n = 0;
		for (uint32_t m = 0; m < ir->nmacs; m++)
			if (ir->macs[m].device == d) {
				if (n == max)
					return -ENOBUFS;
				memcpy(ret[n++], ir->macs[m].mac, 6);
			}
		*ret_n = n;
		return 0;
	}
	return -ENOENT;
}

struct flows_ctx {
	const struct pol_ir *ir;
	uint32_t generation;
	gwd_ir_for_gen lookup;
	void *arg;
	gwd_name_for_addr name_of;
	void *name_arg;
	uint64_t now_ms;
	json_t *list;
};

static json_t *rule_json(const struct flows_ctx *c, uint32_t gen, uint32_t rule)
{
	const struct pol_ir *ir = gen == c->generation ? c->ir : NULL;
	if (!ir && rule < POL_RULE_DEFAULT_NEW && c->lookup)
		ir = c->lookup(gen, c->arg);
	const char *name = gwd_rule_name(ir, rule);
	return name ? json_string(name) : json_null();
}

static json_t *addr_json(uint8_t family, const uint8_t *a)
{
	char s[INET6_ADDRSTRLEN];
	inet_ntop(family == 4 ? AF_INET : AF_INET6, a, s, sizeof(s));
	return json_string(s);
}

static json_t *proto_json(uint8_t p)
{
	switch (p) {
	case IPPROTO_TCP: return json_string("tcp");
	case IPPROTO_UDP: return json_string("udp");
	case IPPROTO_ICMP: return json_string("icmp");
	case IPPROTO_ICMPV6: return json_string("icmpv6");
	default: return json_integer(p);
	}
}

static json_t *flow_json(const struct flows_ctx *c, const struct gwd_flow_info *fi)
{
	const struct gwd_flow_ev *e = &fi->last;
	uint32_t dev = c->ir ? pol_device_by_mac(c->ir, e->mac) : POL_NONE;
	json_t *name = dev == POL_NONE ? json_null()
				       : json_string(pol_ir_str(c->ir, c->ir->devices[dev].name));
	uint64_t age = c->now_ms > fi->first_ms ? c->now_ms - fi->first_ms : 0;
	uint64_t idle = c->now_ms > e->time_ms ? c->now_ms - e->time_ms : 0;
	const char *domain = c->name_of ? c->name_of(e->family, e->dst, c->name_arg) : NULL;
	return json_pack(
		"{s:o,s:o,s:s,s:i,s:o,s:o,s:i,s:o,s:i,s:o,s:s,s:o,s:I,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
		"device", name, "mac", mac_json(e->mac), "engine",
		e->engine == GWD_ENGINE_EBPF ? "ebpf" : e->engine == GWD_ENGINE_NFT ? "nft" :
		"dataplane", "family", e->family, "proto",
		proto_json(e->proto), "src", addr_json(e->family, e->src), "sport", e->sport, "dst",
		addr_json(e->family, e->dst), "dport", e->dport, "domain",
		domain ? json_string(domain) : json_null(), "verdict",
		pol_action_name(e->action), "rule",
		rule_json(c, e->generation, e->rule), "rule_index",
		(json_int_t)(e->rule < POL_RULE_DEFAULT_NEW ? (int64_t)e->rule : -1), "log",
		e->log != 0, "generation", (json_int_t)e->generation, "pkts_out",
		(json_int_t)e->pkts[0], "bytes_out", (json_int_t)e->bytes[0], "pkts_in",
		(json_int_t)e->pkts[1], "bytes_in", (json_int_t)e->bytes[1], "age_ms",
		(json_int_t)age, "idle_ms", (json_int_t)idle);
}

static int add_flow(const struct gwd_flow_info *fi, void *arg)
{
	struct flows_ctx *c = arg;
	json_t *o = flow_json(c, fi);
	if (!o)
		return 1;
	json_array_append_new(c->list, o);
	return 0;
}

json_t *gwd_flow_json(const struct pol_ir *ir, uint32_t generation,
		      const struct gwd_flow_info *fi, gwd_ir_for_gen lookup, void *arg,
		      gwd_name_for_addr name_of, void *name_arg, uint64_t now_ms)
{
	struct flows_ctx c = { ir, generation, lookup, arg, name_of, name_arg, now_ms, NULL };
	return flow_json(&c, fi);
}

const char *gwd_rule_name(const struct pol_ir *ir, uint32_t rule)
{
	if (rule == POL_RULE_DEFAULT)
		return "default";
	if (rule == POL_RULE_DEFAULT_NEW)
		return "default new";
	return ir && rule < ir->nrules ? pol_ir_str(ir, ir->rules[rule].name) : NULL;
}

struct by_idle {
	json_int_t idle;
	size_t pos;
	json_t *o;
};

static int cmp_idle(const void *a, const void *b)
{
	const struct by_idle *x = a, *y = b;
	if (x->idle != y->idle)
		return x->idle < y->idle ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* The flows of several MACs of one device, each run most recent first:
 * one list by the time of the last event, cut at limit. */
static int merge(json_t *list, size_t limit)
{
	size_t n = json_array_size(list);
	struct by_idle *v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		v[i].o = json_incref(json_array_get(list, i));
		v[i].idle = json_integer_value(json_object_get(v[i].o, "idle_ms"));
		v[i].pos = i;
	}
	qsort(v, n, sizeof(*v), cmp_idle);
	json_array_clear(list);
	for (size_t i = 0; i < n; i++) {
		if (!limit || i < limit)
			json_array_append(list, v[i].o);
		json_decref(v[i].o);
	}
	free(v);
	return 0;
}

json_t *gwd_flows_json(const struct pol_ir *ir, uint32_t generation, const struct gwd_flows *f,
		       const uint8_t (*macs)[6], size_t nmacs, size_t limit,
		       gwd_ir_for_gen lookup, void *arg, gwd_name_for_addr name_of,
		       void *name_arg, uint64_t now_ms)
{
	struct flows_ctx c = { ir, generation, lookup, arg, name_of, name_arg, now_ms,
			       json_array() };
	if (!c.list)
		return NULL;
	if (f && !macs) {
		gwd_flows_each(f, NULL, limit, add_flow, &c);
	} else if (f) {
		/* Several MACs of one device: each list is most recent first;
		 * merge them by the time of the last event. */
		for (size_t i = 0; i < nmacs; i++)
			gwd_flows_each(f, macs[i], limit, add_flow, &c);
		if (nmacs > 1 && merge(c.list, limit) < 0) {
			json_decref(c.list);
			return NULL;
		}
	}
	return json_pack("{s:o,s:I}", "flows", c.list, "now_ms", (json_int_t)now_ms);
}
