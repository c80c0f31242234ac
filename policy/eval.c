/* SPDX-License-Identifier: MIT */
/* The reference evaluator (see eval.h). */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "eval.h"

const char *pol_miss_name(enum pol_miss m)
{
	switch (m) {
	case POL_MATCH: return "matches";
	case POL_MISS_SUBJECT: return "not for this device";
	case POL_MISS_PROTO: return "another protocol";
	case POL_MISS_PORT: return "another port";
	case POL_MISS_DST: return "another destination";
	case POL_MISS_SCHEDULE: return "outside its schedule";
	}
	return "?";
}

bool pol_prefix_set_has(const struct pol_ir *ir, uint32_t set, uint8_t family,
			const uint8_t addr[16])
{
	const struct pol_set *s = &ir->prefix_sets[set];
	for (uint32_t i = 0; i < s->count; i++) {
		const struct pol_prefix *p = &ir->prefixes[s->first + i];
		if (p->family != family)
			continue;
		unsigned full = p->plen / 8, rest = p->plen % 8;
		if (memcmp(p->addr, addr, full))
			continue;
		if (rest && ((p->addr[full] ^ addr[full]) & (uint8_t)(0xff00u >> rest)))
			continue;
		return true;
	}
	return false;
}

bool pol_schedule_active(const struct pol_ir *ir, uint32_t schedule, struct pol_when w)
{
	const struct pol_set *s = &ir->schedules[schedule];
	unsigned yesterday = (w.wday + 6u) % 7u;
	for (uint32_t i = 0; i < s->count; i++) {
		const struct pol_window *win = &ir->windows[s->first + i];
		if (win->end_min > win->start_min) {
			if ((win->days >> w.wday & 1) && w.minute >= win->start_min &&
			    w.minute < win->end_min)
				return true;
		} else {
			/* Crosses midnight: the evening of a listed day, or the
			 * morning after one. */
			if ((win->days >> w.wday & 1) && w.minute >= win->start_min)
				return true;
			if ((win->days >> yesterday & 1) && w.minute < win->end_min)
				return true;
		}
	}
	return false;
}

static bool subject_match(const struct pol_ir *ir, const struct pol_rule *r, uint32_t dev)
{
	if (r->subject_kind == POL_SUBJ_NEW)
		return dev == POL_NONE;
	if (dev == POL_NONE)
		return false;
	if (r->subject_kind == POL_SUBJ_ANY)
		return true;
	const struct pol_device *d = &ir->devices[dev];
	for (uint32_t k = 0; k < r->subj_count; k++) {
		uint32_t x = ir->subjects[r->subj_first + k].index;
		switch (r->subject_kind) {
		case POL_SUBJ_DEVICE:
			if (x == dev)
				return true;
			break;
		case POL_SUBJ_PERSON:
			if (x == d->owner)
				return true;
			break;
		case POL_SUBJ_GROUP:
			if (d->groups >> x & 1)
				return true;
			break;
		}
	}
	return false;
}

static uint8_t proto_bit(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP: return POL_PROTO_TCP;
	case IPPROTO_UDP: return POL_PROTO_UDP;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6: return POL_PROTO_ICMP;
	}
	return 0;
}

static bool dst_match(const struct pol_ir *ir, const struct pol_rule *r, const struct pol_facts *f)
{
	if (r->dst_count == 0)
		return true;
	for (uint32_t k = 0; k < r->dst_count; k++) {
		const struct pol_dst *d = &ir->dsts[r->dst_first + k];
		switch (d->kind) {
		case POL_DST_ANY:
			return true;
		case POL_DST_LAN:
			if (pol_prefix_set_has(ir, ir->meta->lan_set, f->family, f->dst))
				return true;
			break;
		case POL_DST_INTERNET:
			if (!pol_prefix_set_has(ir, ir->meta->lan_set, f->family, f->dst))
				return true;
			break;
		case POL_DST_PREFIXES:
			if (pol_prefix_set_has(ir, d->index, f->family, f->dst))
				return true;
			break;
		case POL_DST_DOMAINS:
			if (f->domain_sets >> d->index & 1)
				return true;
			break;
		}
	}
	return false;
}

enum pol_miss pol_rule_match(const struct pol_ir *ir, uint32_t rule, const struct pol_facts *f)
{
	const struct pol_rule *r = &ir->rules[rule];
	if (!subject_match(ir, r, f->device))
		return POL_MISS_SUBJECT;
	uint8_t pb = proto_bit(f->proto);
	if (r->protos && !(r->protos & pb))
		return POL_MISS_PROTO;
	if (r->port_count) {
		bool in = false;
		if (pb == POL_PROTO_TCP || pb == POL_PROTO_UDP)
			for (uint32_t k = 0; k < r->port_count && !in; k++) {
				const struct pol_port_range *p = &ir->ports[r->port_first + k];
				in = f->dport >= p->lo && f->dport <= p->hi;
			}
		if (!in)
			return POL_MISS_PORT;
	}
	if (!dst_match(ir, r, f))
		return POL_MISS_DST;
	if ((r->flags & POL_RULE_DURING) && !pol_schedule_active(ir, r->schedule, f->when))
		return POL_MISS_SCHEDULE;
	return POL_MATCH;
}

void pol_eval(const struct pol_ir *ir, const struct pol_facts *f, struct pol_verdict *ret,
	      uint8_t *trace)
{
	for (uint32_t i = 0; i < ir->nrules; i++) {
		enum pol_miss m = pol_rule_match(ir, i, f);
		if (trace)
			trace[i] = (uint8_t)m;
		if (m != POL_MATCH)
			continue;
		const struct pol_rule *r = &ir->rules[i];
		*ret = (struct pol_verdict){
			.action = r->action,
			.log = r->flags & POL_RULE_LOG,
			.rule = i,
			.rate_bps = r->flags & POL_RULE_RATE ? r->rate_bps : 0,
		};
		return;
	}
	bool isnew = f->device == POL_NONE;
	*ret = (struct pol_verdict){
		.action = isnew ? ir->meta->default_new : ir->meta->default_action,
		.rule = isnew ? POL_RULE_DEFAULT_NEW : POL_RULE_DEFAULT,
	};
}

void pol_active_rules(const struct pol_ir *ir, struct pol_when when, uint64_t *mask)
{
	memset(mask, 0, (ir->nrules + 63) / 64 * sizeof(uint64_t));
	for (uint32_t i = 0; i < ir->nrules; i++) {
		const struct pol_rule *r = &ir->rules[i];
		if (!(r->flags & POL_RULE_DURING) || pol_schedule_active(ir, r->schedule, when))
			mask[i / 64] |= 1ull << (i % 64);
	}
}

int pol_when_at(const struct pol_ir *ir, time_t t, struct pol_when *ret)
{
	/* localtime_r reads TZ; keep whatever the caller had. */
	const char *old = getenv("TZ");
	char *saved = old ? strdup(old) : NULL;
	if (old && !saved)
		return -ENOMEM;
	char tz[160];
	snprintf(tz, sizeof(tz), ":%s", pol_ir_str(ir, ir->meta->timezone));
	setenv("TZ", tz, 1);
	tzset();
	struct tm tm;
	bool ok = localtime_r(&t, &tm) != NULL;
	if (saved) {
		setenv("TZ", saved, 1);
		free(saved);
	} else {
		unsetenv("TZ");
	}
	tzset();
	if (!ok)
		return -EINVAL;
	ret->wday = (uint8_t)((tm.tm_wday + 6) % 7);
	ret->minute = (uint16_t)(tm.tm_hour * 60 + tm.tm_min);
	return 0;
}

static bool set_has_domain(const struct pol_ir *ir, const struct pol_set *s, const char *name,
			   uint32_t flags)
{
	uint32_t lo = 0, hi = s->count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct pol_domain *d = &ir->domains[s->first + mid];
		int c = strcmp(pol_ir_str(ir, d->name), name);
		if (c == 0)
			c = (int)d->flags - (int)flags;
		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

uint64_t pol_domain_sets_of(const struct pol_ir *ir, const char *name)
{
	char buf[256];
	size_t n = strlen(name);
	if (n && name[n - 1] == '.')
		n--;
	if (n == 0 || n >= sizeof(buf))
		return 0;
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
	buf[n] = '\0';
	uint64_t sets = 0;
	for (uint32_t s = 0; s < ir->ndomain_sets; s++) {
		const struct pol_set *set = &ir->domain_sets[s];
		if (set->flags & POL_SET_DNS_PRIVATE)
			continue; /* not a destination (ir.h) */
		if (set_has_domain(ir, set, buf, 0)) {
			sets |= 1ull << s;
			continue;
		}
		/* Wildcards cover strict subdomains: try each parent. */
		for (const char *p = strchr(buf, '.'); p; p = strchr(p + 1, '.')) {
			if (set_has_domain(ir, set, p + 1, POL_DOMAIN_WILDCARD)) {
				sets |= 1ull << s;
				break;
			}
		}
	}
	return sets;
}

uint32_t pol_device_by_mac(const struct pol_ir *ir, const uint8_t mac[6])
{
	uint32_t lo = 0, hi = ir->nmacs;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = memcmp(ir->macs[mid].mac, mac, 6);
		if (c == 0)
			return ir->macs[mid].device;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return POL_NONE;
}

uint32_t pol_device_by_name(const struct pol_ir *ir, const char *name)
{
	for (uint32_t i = 0; i < ir->ndevices; i++)
		if (!strcmp(pol_ir_str(ir, ir->devices[i].name), name))
			return i;
	return POL_NONE;
}
