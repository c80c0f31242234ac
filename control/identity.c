/* SPDX-License-Identifier: MIT */
/*
 * The identity registry (identity.h): one record per MAC, sorted by MAC
 * for lookups; devices are views of the policy in force over them.  No
 * I/O, no clock.
 *
 * Sizes: a record is about 2 KiB, so the registry holds at most about
 * 8 MiB at GWD_ID_MAX_MACS.  An address is taken from another record by
 * scanning them all (4096 x 16 comparisons), only when a record gets an
 * address it did not have as current: rare next to the events that
 * confirm what is known.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"
#include "identity.h"
#include "image.h"
#include "names.h"
#include "msg.h" /* dns/: the DNS service's bounds */

#define LABEL_ROOM (GWD_ID_LABEL_MAX + 6) /* a label with "-NNNN" and its NUL */
#define NO_LEASE   0
#define FOREVER    INT64_MAX

struct id_addr {
	uint8_t family;
	uint8_t addr[16];
	bool neigh;           /* a live neighbour entry has it now */
	bool via_dhcp;        /* ever leased to this MAC */
	bool via_neigh;       /* ever in a neighbour table with this MAC */
	uint32_t neigh_epoch; /* the dump (or the time between dumps) that last showed it */
	int64_t lease_until;  /* ms since the epoch; NO_LEASE, or FOREVER */
	int64_t first_ms, last_ms;
};

struct id_rec {
	uint8_t mac[6];
	bool label_from_host;  /* else made from the MAC, until a hostname comes */
	char label[LABEL_ROOM];
	int64_t first_ms, last_ms;
	char hostnames[GWD_ID_HOSTNAMES][GWD_LEASE_HOSTNAME_MAX];
	char client_ids[GWD_ID_CLIENT_IDS][GWD_LEASE_CLIENT_ID_MAX];
	struct id_addr addrs[GWD_ID_ADDRS];
	uint8_t naddrs, nhosts, ncids;
};

struct gwd_identity {
	struct id_rec **v; /* sorted by MAC */
	size_t n;
	const struct pol_ir *ir;
};

int gwd_identity_new(struct gwd_identity **ret)
{
	struct gwd_identity *id = calloc(1, sizeof(*id));
	if (!id)
		return -ENOMEM;
	id->v = calloc(GWD_ID_MAX_MACS, sizeof(*id->v));
	if (!id->v) {
		free(id);
		return -ENOMEM;
	}
	*ret = id;
	return 0;
}

static void clear(struct gwd_identity *id)
{
	for (size_t i = 0; i < id->n; i++)
		free(id->v[i]);
	id->n = 0;
}

void gwd_identity_free(struct gwd_identity *id)
{
	if (!id)
		return;
	clear(id);
	free(id->v);
	free(id);
}

size_t gwd_identity_count(const struct gwd_identity *id)
{
	return id->n;
}

/* ---------------------------------------------------------------- records */

/* The index of mac's record, or -(insertion point) - 1. */
static long find(const struct gwd_identity *id, const uint8_t mac[6])
{
	size_t lo = 0, hi = id->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = memcmp(id->v[mid]->mac, mac, 6);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(long)lo - 1;
}

static struct id_rec *get(const struct gwd_identity *id, const uint8_t mac[6])
{
	long i = find(id, mac);
	return i >= 0 ? id->v[i] : NULL;
}

static bool declared(const struct gwd_identity *id, const uint8_t mac[6])
{
	return id->ir && pol_device_by_mac(id->ir, mac) != POL_NONE;
}

static bool label_taken(const struct gwd_identity *id, const char *label, const struct id_rec *self)
{
	for (size_t i = 0; i < id->n; i++)
		if (id->v[i] != self && !strcmp(id->v[i]->label, label))
			return true;
	return false;
}

void gwd_identity_safe_label(const char *hostname, char out[GWD_ID_LABEL_MAX + 1])
{
	size_t n = 0;
	bool dash = false;
	for (const char *p = hostname; *p && *p != '.'; p++) {
		char c = *p;
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
			if (dash && n > 0 && n < GWD_ID_LABEL_MAX)
				out[n++] = '-';
			dash = false;
			if (n < GWD_ID_LABEL_MAX)
				out[n++] = c;
		} else {
			dash = true;
		}
	}
	while (n > 0 && out[n - 1] == '-')
		n--;
	out[n] = '\0';
}

/* Gives rec a label no other record has: from hostname when it makes
 * one, else "device-XXXX" (the MAC's last two bytes). */
static void name_rec(struct gwd_identity *id, struct id_rec *rec, const char *hostname)
{
	char base[GWD_ID_LABEL_MAX + 1];
	gwd_identity_safe_label(hostname ? hostname : "", base);
	bool from_host = base[0] != '\0';
	if (!from_host)
		snprintf(base, sizeof(base), "device-%02x%02x", rec->mac[4], rec->mac[5]);
	char cand[LABEL_ROOM];
	snprintf(cand, sizeof(cand), "%s", base);
	for (unsigned k = 2; label_taken(id, cand, rec) && k < 100000; k++) {
		char suffix[8];
		int sl = snprintf(suffix, sizeof(suffix), "-%u", k);
		size_t keep = strlen(base);
		if (keep + (size_t)sl > GWD_ID_LABEL_MAX)
			keep = GWD_ID_LABEL_MAX - (size_t)sl;
		while (keep > 0 && base[keep - 1] == '-')
			keep--;
		snprintf(cand, sizeof(cand), "%.*s%s", (int)keep, base, suffix);
	}
	memcpy(rec->label, cand, sizeof(rec->label));
	rec->label_from_host = from_host;
}

static bool addr_current(const struct id_addr *a, int64_t now_ms)
{
	return a->neigh || a->lease_until > now_ms;
}

/* Drops the least recently seen record, a new device's before a declared one's. */
static void evict_one(struct gwd_identity *id)
{
	size_t best = id->n;
	for (int pass = 0; pass < 2 && best == id->n; pass++)
		for (size_t i = 0; i < id->n; i++) {
			if (pass == 0 && declared(id, id->v[i]->mac))
				continue;
			if (best == id->n || id->v[i]->last_ms < id->v[best]->last_ms)
				best = i;
		}
	free(id->v[best]);
	memmove(&id->v[best], &id->v[best + 1], (id->n - best - 1) * sizeof(id->v[0]));
	id->n--;
}

/* mac's record, made (and named) when new. */
static struct id_rec *get_or_add(struct gwd_identity *id, const uint8_t mac[6], int64_t now_ms,
				 unsigned *changes)
{
	long i = find(id, mac);
	if (i >= 0)
		return id->v[i];
	struct id_rec *rec = calloc(1, sizeof(*rec));
	if (!rec)
		return NULL;
	if (id->n == GWD_ID_MAX_MACS) {
		evict_one(id);
		*changes |= GWD_ID_ZONE | GWD_ID_STATE;
	}
	i = find(id, mac);
	size_t at = (size_t)(-i - 1);
	memcpy(rec->mac, mac, 6);
	rec->first_ms = rec->last_ms = now_ms;
	memmove(&id->v[at + 1], &id->v[at], (id->n - at) * sizeof(id->v[0]));
	id->v[at] = rec;
	id->n++;
	name_rec(id, rec, NULL);
	*changes |= GWD_ID_STATE;
	return rec;
}

static struct id_addr *addr_in(struct id_rec *rec, uint8_t family, const uint8_t addr[16])
{
	for (unsigned i = 0; i < rec->naddrs; i++)
		if (rec->addrs[i].family == family && !memcmp(rec->addrs[i].addr, addr, 16))
			return &rec->addrs[i];
	return NULL;
}

/*
 * rec's entry for the address, made when it has none (the least recently
 * seen address that is not current goes when the record is full, else
 * the least recently seen one).  Unless the entry is current already, the
 * address stops being current for every other record: it is rec's now.
 */
static struct id_addr *take_addr(struct gwd_identity *id, struct id_rec *rec, uint8_t family,
				 const uint8_t addr[16], int64_t now_ms, unsigned *changes)
{
	struct id_addr *a = addr_in(rec, family, addr);
	if (a && addr_current(a, now_ms))
		return a;
	for (size_t i = 0; i < id->n; i++) {
		struct id_rec *o = id->v[i];
		struct id_addr *oa;
		if (o == rec || !(oa = addr_in(o, family, addr)))
			continue;
		if (addr_current(oa, now_ms))
			*changes |= GWD_ID_ZONE | GWD_ID_STATE;
		oa->neigh = false;
		oa->lease_until = NO_LEASE;
	}
	if (a)
		return a;
	if (rec->naddrs == GWD_ID_ADDRS) {
		unsigned best = GWD_ID_ADDRS;
		for (int pass = 0; pass < 2 && best == GWD_ID_ADDRS; pass++)
			for (unsigned i = 0; i < rec->naddrs; i++) {
				if (pass == 0 && addr_current(&rec->addrs[i], now_ms))
					continue;
				if (best == GWD_ID_ADDRS ||
				    rec->addrs[i].last_ms < rec->addrs[best].last_ms)
					best = i;
			}
		if (addr_current(&rec->addrs[best], now_ms))
			*changes |= GWD_ID_ZONE;
		rec->addrs[best] = rec->addrs[--rec->naddrs];
	}
	a = &rec->addrs[rec->naddrs++];
	memset(a, 0, sizeof(*a));
	a->family = family;
	memcpy(a->addr, addr, 16);
	a->first_ms = a->last_ms = now_ms;
	*changes |= GWD_ID_STATE;
	return a;
}

/* s at the front of list (n entries of size each, at most max), once. */
static bool push_front(char *list, size_t size, uint8_t *n, unsigned max, const char *s)
{
	unsigned at = *n;
	for (unsigned i = 0; i < *n; i++)
		if (!strcmp(list + i * size, s))
			at = i;
	if (at == 0 && *n > 0)
		return false;
	if (at == *n) {
		if (*n < max)
			(*n)++;
		at = *n - 1;
	}
	memmove(list + size, list, at * size);
	snprintf(list, size, "%s", s);
	return true;
}

/* ---------------------------------------------------------------- events */

static bool mac_ok(const uint8_t mac[6])
{
	static const uint8_t zero[6];
	return !(mac[0] & 1) && memcmp(mac, zero, 6) != 0;
}

int gwd_identity_lease(struct gwd_identity *id, const struct gwd_lease *l, int64_t now_ms,
		       unsigned *ret_changes)
{
	unsigned ch = 0;
	if ((l->op != GWD_LEASE_ADD && l->op != GWD_LEASE_OLD && l->op != GWD_LEASE_DEL) ||
	    l->family != 4 || !mac_ok(l->mac) || l->expires < 0 ||
	    memchr(l->hostname, '\0', sizeof(l->hostname)) == NULL ||
	    memchr(l->client_id, '\0', sizeof(l->client_id)) == NULL)
		return -EINVAL;
	if (l->op == GWD_LEASE_DEL) {
		struct id_rec *rec = get(id, l->mac);
		struct id_addr *a = rec ? addr_in(rec, l->family, l->addr) : NULL;
		if (a && a->lease_until != NO_LEASE) {
			bool was = addr_current(a, now_ms);
			a->lease_until = NO_LEASE;
			ch |= GWD_ID_STATE | (was != addr_current(a, now_ms) ? GWD_ID_ZONE : 0);
		}
		*ret_changes = ch;
		return 0;
	}
	struct id_rec *rec = get_or_add(id, l->mac, now_ms, &ch);
	if (!rec)
		return -ENOMEM;
	struct id_addr *a = take_addr(id, rec, l->family, l->addr, now_ms, &ch);
	/* A lease for another address: the server moved the device, so the
	 * address it leased before is not the device's any more, even while
	 * the gateway's neighbour entry for it lingers (minutes): its name
	 * stops answering it now, not when the entry expires.  Addresses
	 * never leased (static ones) are left to the neighbour table. */
	for (unsigned i = 0; i < rec->naddrs; i++) {
		struct id_addr *o = &rec->addrs[i];
		if (o == a || o->family != l->family || !o->via_dhcp || !addr_current(o, now_ms))
			continue;
		o->neigh = false;
		o->lease_until = NO_LEASE;
		ch |= GWD_ID_ZONE | GWD_ID_STATE;
	}
	bool was = addr_current(a, now_ms);
	int64_t until = l->expires == 0 ? FOREVER :
			l->expires > INT64_MAX / 1000 ? FOREVER : l->expires * 1000;
	if (a->lease_until != until || !a->via_dhcp)
		ch |= GWD_ID_STATE;
	a->lease_until = until;
	a->via_dhcp = true;
	a->last_ms = now_ms;
	if (was != addr_current(a, now_ms))
		ch |= GWD_ID_ZONE;
	if (l->hostname[0]) {
		if (push_front(&rec->hostnames[0][0], sizeof(rec->hostnames[0]), &rec->nhosts,
			       GWD_ID_HOSTNAMES, l->hostname))
			ch |= GWD_ID_STATE;
		if (!rec->label_from_host) {
			char safe[GWD_ID_LABEL_MAX + 1];
			gwd_identity_safe_label(l->hostname, safe);
			if (safe[0]) {
				name_rec(id, rec, l->hostname);
				ch |= GWD_ID_STATE | GWD_ID_ZONE;
			}
		}
	}
	if (l->client_id[0] &&
	    push_front(&rec->client_ids[0][0], sizeof(rec->client_ids[0]), &rec->ncids,
		       GWD_ID_CLIENT_IDS, l->client_id))
		ch |= GWD_ID_STATE;
	rec->last_ms = now_ms;
	*ret_changes = ch | GWD_ID_SEEN;
	return 0;
}

int gwd_identity_neigh(struct gwd_identity *id, const struct gwd_neigh *n, uint32_t epoch,
		       int64_t now_ms, unsigned *ret_changes)
{
	unsigned ch = 0;
	if ((n->family != 4 && n->family != 6) || (n->has_mac && !mac_ok(n->mac)) ||
	    (!n->gone && !n->has_mac))
		return -EINVAL;
	if (n->gone) {
		/* The address no longer answers: whoever had it live loses it. */
		for (size_t i = 0; i < id->n; i++) {
			struct id_rec *rec = id->v[i];
			struct id_addr *a;
			if (n->has_mac && memcmp(rec->mac, n->mac, 6))
				continue;
			if (!(a = addr_in(rec, n->family, n->addr)) || !a->neigh)
				continue;
			a->neigh = false;
			if (!addr_current(a, now_ms))
				ch |= GWD_ID_ZONE;
		}
		*ret_changes = ch;
		return 0;
	}
	struct id_rec *rec = get_or_add(id, n->mac, now_ms, &ch);
	if (!rec)
		return -ENOMEM;
	struct id_addr *a = take_addr(id, rec, n->family, n->addr, now_ms, &ch);
	bool was = addr_current(a, now_ms);
	if (!a->via_neigh)
		ch |= GWD_ID_STATE;
	a->via_neigh = true;
	a->neigh = true;
	a->neigh_epoch = epoch;
	if (!was)
		ch |= GWD_ID_ZONE;
	if (n->confirmed || !was) {
		a->last_ms = now_ms;
		rec->last_ms = now_ms;
		ch |= GWD_ID_SEEN;
	}
	*ret_changes = ch;
	return 0;
}

unsigned gwd_identity_neigh_sweep(struct gwd_identity *id, uint32_t epoch)
{
	unsigned ch = 0;
	for (size_t i = 0; i < id->n; i++)
		for (unsigned k = 0; k < id->v[i]->naddrs; k++) {
			struct id_addr *a = &id->v[i]->addrs[k];
			if (a->neigh && a->neigh_epoch != epoch) {
				a->neigh = false;
				ch |= GWD_ID_ZONE;
			}
		}
	return ch;
}

unsigned gwd_identity_expire(struct gwd_identity *id, int64_t now_ms)
{
	unsigned ch = 0;
	for (size_t i = 0; i < id->n; i++)
		for (unsigned k = 0; k < id->v[i]->naddrs; k++) {
			struct id_addr *a = &id->v[i]->addrs[k];
			if (a->lease_until != NO_LEASE && a->lease_until <= now_ms) {
				a->lease_until = NO_LEASE;
				ch |= GWD_ID_STATE | (a->neigh ? 0 : GWD_ID_ZONE);
			}
		}
	return ch;
}

unsigned gwd_identity_set_policy(struct gwd_identity *id, const struct pol_ir *ir)
{
	id->ir = ir;
	return GWD_ID_ZONE;
}

const char *gwd_identity_new_label(const struct gwd_identity *id, const uint8_t mac[6])
{
	const struct id_rec *rec = get(id, mac);
	return rec ? rec->label : NULL;
}

/* ---------------------------------------------------------------- views */

/* Whether a name of the zone may carry this address: not link-local
 * (useless to a device elsewhere on the LAN). */
static bool zone_worthy(const struct id_addr *a)
{
	if (a->family == 4)
		return !(a->addr[0] == 169 && a->addr[1] == 254);
	return !(a->addr[0] == 0xfe && (a->addr[1] & 0xc0) == 0x80);
}

/* The name of rec's device in the zone (relative), or NULL when it has
 * none (a declared device named "gw" or "new", which the zone keeps for
 * itself). */
static const char *zone_name(const struct gwd_identity *id, const struct id_rec *rec,
			     char buf[128])
{
	uint32_t dev = id->ir ? pol_device_by_mac(id->ir, rec->mac) : POL_NONE;
	if (dev == POL_NONE) {
		snprintf(buf, 128, "%s.new", rec->label);
		return buf;
	}
	const char *name = pol_ir_str(id->ir, id->ir->devices[dev].name);
	if (!strcmp(name, "gw") || !strcmp(name, "new"))
		return NULL;
	snprintf(buf, 128, "%s", name);
	return buf;
}

int gwd_identity_records(const struct gwd_identity *id, int64_t now_ms,
			 struct gwd_dns_record **ret, size_t *ret_n)
{
	size_t n = 0, cap = 0;
	struct gwd_dns_record *v = NULL;
	for (size_t i = 0; i < id->n; i++) {
		const struct id_rec *rec = id->v[i];
		char buf[128];
		const char *name = zone_name(id, rec, buf);
		if (!name)
			continue;
		for (unsigned k = 0; k < rec->naddrs; k++) {
			const struct id_addr *a = &rec->addrs[k];
			if (!addr_current(a, now_ms) || !zone_worthy(a) || n == GWDNS_ZONE_MAX)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				struct gwd_dns_record *nv = realloc(v, cap * sizeof(*v));
				if (!nv) {
					free(v);
					return -ENOMEM;
				}
				v = nv;
			}
			memset(&v[n], 0, sizeof(v[n]));
			snprintf(v[n].name, sizeof(v[n].name), "%s", name);
			v[n].family = a->family;
			memcpy(v[n].addr, a->addr, 16);
			n++;
		}
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int gwd_identity_clients(const struct gwd_identity *id, int64_t now_ms,
			 struct gwd_dns_client **ret, size_t *ret_n)
{
	size_t n = 0, cap = 0;
	struct gwd_dns_client *v = NULL;
	for (size_t i = 0; i < id->n; i++) {
		const struct id_rec *rec = id->v[i];
		for (unsigned k = 0; k < rec->naddrs; k++) {
			const struct id_addr *a = &rec->addrs[k];
			if (!addr_current(a, now_ms) || n == GWDNS_CLIENTS_MAX)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				struct gwd_dns_client *nv = realloc(v, cap * sizeof(*v));
				if (!nv) {
					free(v);
					return -ENOMEM;
				}
				v = nv;
			}
			memset(&v[n], 0, sizeof(v[n]));
			memcpy(v[n].mac, rec->mac, 6);
			v[n].family = a->family;
			memcpy(v[n].addr, a->addr, 16);
			n++;
		}
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static const char *addr_text(uint8_t family, const uint8_t addr[16], char *buf, size_t size)
{
	return inet_ntop(family == 4 ? AF_INET : AF_INET6, addr, buf, (socklen_t)size);
}

static int cmp_rec_seen(const void *a, const void *b)
{
	const struct id_rec *x = *(const struct id_rec *const *)a;
	const struct id_rec *y = *(const struct id_rec *const *)b;
	return x->last_ms > y->last_ms ? -1 : x->last_ms < y->last_ms;
}

int gwd_identity_new_macs(const struct gwd_identity *id, uint8_t (**ret)[6], size_t *ret_n)
{
	const struct id_rec **recs = malloc((id->n + 1) * sizeof(*recs));
	uint8_t (*macs)[6] = malloc((id->n + 1) * 6);
	size_t n = 0;
	if (!recs || !macs) {
		free(recs);
		free(macs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < id->n; i++)
		if (!declared(id, id->v[i]->mac))
			recs[n++] = id->v[i];
	qsort(recs, n, sizeof(*recs), cmp_rec_seen);
	for (size_t i = 0; i < n; i++)
		memcpy(macs[i], recs[i]->mac, 6);
	free(recs);
	*ret = macs;
	*ret_n = n;
	return 0;
}

static json_t *strings_json(const char *list, size_t size, unsigned n)
{
	json_t *a = json_array();
	for (unsigned i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(list + i * size));
	return a;
}

static json_t *ms_json(int64_t ms)
{
	return ms ? json_integer(ms) : json_null();
}

int gwd_identity_device_json(const struct gwd_identity *id, const uint8_t (*macs)[6],
			     size_t nmacs, bool is_declared, const char *name, const char *zone,
			     int64_t now_ms, json_t *obj)
{
	json_t *hosts = json_array(), *cids = json_array(), *addrs = json_array();
	int64_t first = 0, last = 0;
	bool random = false;
	char fq[400];
	const char *label = NULL;
	for (size_t m = 0; m < nmacs; m++) {
		random |= (macs[m][0] & 2) != 0;
		const struct id_rec *rec = get(id, macs[m]);
		if (!rec)
			continue;
		if (!label)
			label = rec->label;
		if (!first || rec->first_ms < first)
			first = rec->first_ms;
		if (rec->last_ms > last)
			last = rec->last_ms;
		for (unsigned i = 0; i < rec->nhosts; i++)
			json_array_append_new(hosts, json_string(rec->hostnames[i]));
		for (unsigned i = 0; i < rec->ncids; i++)
			json_array_append_new(cids, json_string(rec->client_ids[i]));
		for (unsigned i = 0; i < rec->naddrs; i++) {
			const struct id_addr *a = &rec->addrs[i];
			char text[INET6_ADDRSTRLEN];
			json_t *via = json_array();
			if (a->via_dhcp)
				json_array_append_new(via, json_string("dhcp"));
			if (a->via_neigh)
				json_array_append_new(via, json_string("neighbour"));
			json_array_append_new(
				addrs, json_pack("{s:s,s:b,s:o,s:o,s:I,s:I}", "addr",
						 addr_text(a->family, a->addr, text, sizeof(text)),
						 "current", addr_current(a, now_ms), "via", via,
						 "lease_expires",
						 a->lease_until == NO_LEASE ? json_null() :
						 a->lease_until == FOREVER ? json_integer(0) :
						 json_integer(a->lease_until / 1000),
						 "first_seen_ms", (json_int_t)a->first_ms,
						 "last_seen_ms", (json_int_t)a->last_ms));
		}
	}
	json_t *dns_name;
	if (is_declared && name && strcmp(name, "gw") && strcmp(name, "new")) {
		snprintf(fq, sizeof(fq), "%s.%s", name, zone);
		dns_name = json_string(fq);
	} else if (!is_declared && label) {
		snprintf(fq, sizeof(fq), "%s.new.%s", label, zone);
		dns_name = json_string(fq);
	} else {
		dns_name = json_null();
	}
	if (!hosts || !cids || !addrs || !dns_name) {
		json_decref(hosts);
		json_decref(cids);
		json_decref(addrs);
		json_decref(dns_name);
		return -ENOMEM;
	}
	json_object_set_new(obj, "dns_name", dns_name);
	json_object_set_new(obj, "random", json_boolean(random));
	json_object_set_new(obj, "hostnames", hosts);
	json_object_set_new(obj, "client_ids", cids);
	json_object_set_new(obj, "addresses", addrs);
	json_object_set_new(obj, "first_seen_ms", ms_json(first));
	json_object_set_new(obj, "last_seen_ms", ms_json(last));
	return 0;
}

/* ---------------------------------------------------------------- on disk */

json_t *gwd_identity_to_json(const struct gwd_identity *id)
{
	json_t *list = json_array();
	for (size_t i = 0; list && i < id->n; i++) {
		const struct id_rec *rec = id->v[i];
		char mac[POL_MAC_TEXT];
		json_t *addrs = json_array();
		for (unsigned k = 0; addrs && k < rec->naddrs; k++) {
			const struct id_addr *a = &rec->addrs[k];
			char text[INET6_ADDRSTRLEN];
			json_array_append_new(
				addrs, json_pack("{s:s,s:b,s:b,s:o,s:I,s:I}", "addr",
						 addr_text(a->family, a->addr, text, sizeof(text)),
						 "dhcp", a->via_dhcp, "neighbour", a->via_neigh,
						 "lease_until_ms",
						 a->lease_until == NO_LEASE ? json_null() :
						 a->lease_until == FOREVER ? json_string("forever") :
						 json_integer(a->lease_until),
						 "first_ms", (json_int_t)a->first_ms, "last_ms",
						 (json_int_t)a->last_ms));
		}
		json_array_append_new(
			list, json_pack("{s:s,s:s,s:b,s:I,s:I,s:o,s:o,s:o}", "mac",
					pol_mac_format(rec->mac, mac), "label", rec->label,
					"label_from_host", rec->label_from_host, "first_ms",
					(json_int_t)rec->first_ms, "last_ms", (json_int_t)rec->last_ms,
					"hostnames",
					strings_json(&rec->hostnames[0][0], sizeof(rec->hostnames[0]),
						     rec->nhosts),
					"client_ids",
					strings_json(&rec->client_ids[0][0], sizeof(rec->client_ids[0]),
						     rec->ncids),
					"addrs", addrs ? addrs : json_null()));
	}
	return list ? json_pack("{s:i,s:o}", "version", 1, "devices", list) : NULL;
}

static int bad(char *err, size_t errlen, size_t i, const char *what)
{
	snprintf(err, errlen, "devices[%zu]: %s", i, what);
	return -EINVAL;
}

static bool label_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= LABEL_ROOM || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

static int int_ms(const json_t *v, int64_t *ret)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -EINVAL;
	*ret = json_integer_value(v);
	return 0;
}

/* One record of identity.json, checked whole. */
static int rec_from_json(const json_t *o, size_t i, struct id_rec *rec, char *err, size_t errlen)
{
	const char *mac = json_string_value(json_object_get(o, "mac"));
	const char *label = json_string_value(json_object_get(o, "label"));
	const json_t *hosts = json_object_get(o, "hostnames"), *cids = json_object_get(o, "client_ids");
	const json_t *addrs = json_object_get(o, "addrs");
	memset(rec, 0, sizeof(*rec));
	if (!json_is_object(o) || !mac || pol_mac_parse(mac, strlen(mac), rec->mac) < 0 ||
	    !mac_ok(rec->mac))
		return bad(err, errlen, i, "no valid mac");
	if (!label || !label_ok(label))
		return bad(err, errlen, i, "no valid label");
	snprintf(rec->label, sizeof(rec->label), "%s", label);
	rec->label_from_host = json_is_true(json_object_get(o, "label_from_host"));
	if (int_ms(json_object_get(o, "first_ms"), &rec->first_ms) < 0 ||
	    int_ms(json_object_get(o, "last_ms"), &rec->last_ms) < 0)
		return bad(err, errlen, i, "first_ms and last_ms must be numbers");
	if (!json_is_array(hosts) || json_array_size(hosts) > GWD_ID_HOSTNAMES ||
	    !json_is_array(cids) || json_array_size(cids) > GWD_ID_CLIENT_IDS ||
	    !json_is_array(addrs) || json_array_size(addrs) > GWD_ID_ADDRS)
		return bad(err, errlen, i, "hostnames, client_ids or addrs missing or too long");
	/* The same checks as a lease's, through the lease parser. */
	for (size_t k = 0; k < json_array_size(hosts); k++) {
		const char *h = json_string_value(json_array_get(hosts, k));
		struct gwd_lease l;
		if (!h || gwd_lease_from_parts("old", mac, "10.0.0.1", h, NULL, 0, &l) < 0)
			return bad(err, errlen, i, "a hostname that is not one");
		snprintf(rec->hostnames[k], sizeof(rec->hostnames[k]), "%s", l.hostname);
	}
	rec->nhosts = (uint8_t)json_array_size(hosts);
	for (size_t k = 0; k < json_array_size(cids); k++) {
		const char *c = json_string_value(json_array_get(cids, k));
		struct gwd_lease l;
		if (!c || gwd_lease_from_parts("old", mac, "10.0.0.1", NULL, c, 0, &l) < 0)
			return bad(err, errlen, i, "a client_id that is not one");
		snprintf(rec->client_ids[k], sizeof(rec->client_ids[k]), "%s", l.client_id);
	}
	rec->ncids = (uint8_t)json_array_size(cids);
	for (size_t k = 0; k < json_array_size(addrs); k++) {
		const json_t *a = json_array_get(addrs, k);
		const char *text = json_string_value(json_object_get(a, "addr"));
		const json_t *until = json_object_get(a, "lease_until_ms");
		struct id_addr *x = &rec->addrs[k];
		if (!text)
			return bad(err, errlen, i, "an address without addr");
		if (inet_pton(AF_INET, text, x->addr) == 1)
			x->family = 4;
		else if (inet_pton(AF_INET6, text, x->addr) == 1)
			x->family = 6;
		else
			return bad(err, errlen, i, "an addr that is not an address");
		for (size_t j = 0; j < k; j++)
			if (rec->addrs[j].family == x->family && !memcmp(rec->addrs[j].addr, x->addr, 16))
				return bad(err, errlen, i, "an address twice");
		x->via_dhcp = json_is_true(json_object_get(a, "dhcp"));
		x->via_neigh = json_is_true(json_object_get(a, "neighbour"));
		if (json_is_null(until) || !until)
			x->lease_until = NO_LEASE;
		else if (json_is_string(until) && !strcmp(json_string_value(until), "forever"))
			x->lease_until = FOREVER;
		else if (int_ms(until, &x->lease_until) < 0)
			return bad(err, errlen, i, "a lease_until_ms that is not a time");
		if (int_ms(json_object_get(a, "first_ms"), &x->first_ms) < 0 ||
		    int_ms(json_object_get(a, "last_ms"), &x->last_ms) < 0)
			return bad(err, errlen, i, "an address without first_ms and last_ms");
	}
	rec->naddrs = (uint8_t)json_array_size(addrs);
	return 0;
}

static int cmp_rec_mac(const void *a, const void *b)
{
	return memcmp((*(const struct id_rec *const *)a)->mac,
		      (*(const struct id_rec *const *)b)->mac, 6);
}

int gwd_identity_from_json(struct gwd_identity *id, const json_t *j, char *err, size_t errlen)
{
	const json_t *list = json_object_get(j, "devices");
	if (!json_is_object(j) || json_integer_value(json_object_get(j, "version")) != 1 ||
	    !json_is_array(list)) {
		snprintf(err, errlen, "not an identity file of version 1");
		return -EINVAL;
	}
	size_t n = json_array_size(list);
	if (n > GWD_ID_MAX_MACS) {
		snprintf(err, errlen, "%zu devices: at most %d", n, GWD_ID_MAX_MACS);
		return -EINVAL;
	}
	struct id_rec **v = calloc(n + 1, sizeof(*v));
	int r = 0;
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!(v[i] = malloc(sizeof(*v[i])))) {
			r = -ENOMEM;
			goto out;
		}
		if ((r = rec_from_json(json_array_get(list, i), i, v[i], err, errlen)) < 0)
			goto out;
	}
	qsort(v, n, sizeof(*v), cmp_rec_mac);
	for (size_t i = 1; i < n; i++)
		if (!memcmp(v[i - 1]->mac, v[i]->mac, 6)) {
			snprintf(err, errlen, "a MAC comes twice");
			r = -EINVAL;
			goto out;
		}
	for (size_t i = 0; i < n; i++)
		for (size_t k = i + 1; k < n; k++)
			if (!strcmp(v[i]->label, v[k]->label)) {
				snprintf(err, errlen, "label '%s' comes twice", v[i]->label);
				r = -EINVAL;
				goto out;
			}
	clear(id);
	memcpy(id->v, v, n * sizeof(*v));
	id->n = n;
	free(v);
	return 0;
out:
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return r;
}
