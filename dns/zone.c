/* SPDX-License-Identifier: MIT */
/*
 * The local answers (zone.h).  Every name the zone knows is a node in one
 * hash table keyed by its lower-case wire form: the apex of each local
 * zone (with its kind), each name with records, and every empty
 * non-terminal between a name and its apex (so that "new.home.arpa" is
 * NODATA, not NXDOMAIN, when "android-5f2a.new.home.arpa" exists, as RFC
 * 8020 asks).  A query walks its own name's suffixes, longest first, to
 * find the closest apex; only names under an apex are answered here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "doh.h"
#include "name.h"
#include "zone.h"

enum apex_kind {
	APEX_NONE = 0,
	APEX_HOUSEHOLD, /* the household's zone: authoritative, SOA and NS */
	APEX_REVERSE,   /* a reverse zone: authoritative, SOA and NS */
	APEX_RESOLVER,  /* resolver.arpa: authoritative, designates no encrypted resolver */
	APEX_SPECIAL,   /* invalid, local, test, onion: NXDOMAIN everywhere */
	APEX_LOCALHOST, /* localhost: loopback addresses */
	APEX_CANARY,    /* a bypass canary: NXDOMAIN, no SOA */
};

struct zrr {
	uint16_t type; /* LDNS_RR_TYPE_A, _AAAA or _PTR */
	uint8_t len;
	uint8_t data[GWDNS_WIRE_MAX]; /* the address, or the PTR's target in wire form */
};

struct znode {
	struct znode *next;
	uint8_t kind; /* enum apex_kind: set on apexes */
	uint8_t keylen;
	uint8_t key[GWDNS_WIRE_MAX];
	size_t nrr, cap;
	struct zrr *rr;
};

struct gwdns_zone {
	struct znode **buckets;
	size_t nbuckets; /* a power of two */
	size_t nrecords;
	uint32_t seed;
	uint32_t serial, ttl;
	uint8_t mname[GWDNS_WIRE_MAX], rname[GWDNS_WIRE_MAX]; /* the SOA's: gw.<zone>, hostmaster.<zone> */
	size_t mname_len, rname_len;
	struct gwdns_prefix clients[GWDNS_PREFIX_MAX];
	unsigned n_clients;
};

/* RFC 6303 (and RFC 7793's 100.64/10) reverse zones, served locally. */
static const char *const reverse_zones[] = {
	"0.in-addr.arpa", "10.in-addr.arpa", "127.in-addr.arpa", "254.169.in-addr.arpa",
	"168.192.in-addr.arpa", "2.0.192.in-addr.arpa", "100.51.198.in-addr.arpa",
	"113.0.203.in-addr.arpa", "255.255.255.255.in-addr.arpa",
	"0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa",
	"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa",
	"d.f.ip6.arpa", "8.e.f.ip6.arpa", "9.e.f.ip6.arpa", "a.e.f.ip6.arpa", "b.e.f.ip6.arpa",
	"8.b.d.0.1.0.0.2.ip6.arpa",
};

static const char *const special_zones[] = { "invalid", "local", "test", "onion" };

static const char *const canaries[] = {
	"use-application-dns.net", /* Firefox: no DoH by default when this does not resolve */
	"mask.icloud.com",         /* iCloud Private Relay */
	"mask-h2.icloud.com",
};

static struct znode *lookup(const struct gwdns_zone *z, const uint8_t *key, size_t len)
{
	struct znode *n = z->buckets[gwdns_hash(key, len, z->seed) & (z->nbuckets - 1)];

	for (; n; n = n->next)
		if (n->keylen == len && memcmp(n->key, key, len) == 0)
			return n;
	return NULL;
}

static int get_node(struct gwdns_zone *z, const uint8_t *key, size_t len, struct znode **ret)
{
	struct znode *n = lookup(z, key, len);
	size_t b;

	if (!n) {
		n = calloc(1, sizeof(*n));
		if (!n)
			return -ENOMEM;
		memcpy(n->key, key, len);
		n->keylen = (uint8_t)len;
		b = gwdns_hash(key, len, z->seed) & (z->nbuckets - 1);
		n->next = z->buckets[b];
		z->buckets[b] = n;
	}
	*ret = n;
	return 0;
}

static int add_apex(struct gwdns_zone *z, const char *dotted, enum apex_kind kind)
{
	uint8_t w[GWDNS_WIRE_MAX];
	struct znode *n;
	int len = gwdns_name_to_wire(dotted, w), r;

	if (len < 0)
		return len;
	r = get_node(z, w, (size_t)len, &n);
	if (r < 0)
		return r;
	/* The household's zone wins over a reverse or special apex of the same name. */
	if (n->kind == APEX_NONE || kind == APEX_HOUSEHOLD)
		n->kind = (uint8_t)kind;
	return 0;
}

/* The closest enclosing apex of key, walking suffixes; NULL if none. */
static struct znode *find_apex(const struct gwdns_zone *z, const uint8_t *key, size_t len)
{
	size_t p = 0;

	while (p < len) {
		struct znode *n = lookup(z, key + p, len - p);

		if (n && n->kind != APEX_NONE)
			return n;
		if (key[p] == 0)
			break;
		p += (size_t)key[p] + 1;
	}
	return NULL;
}

/*
 * Adds one record at name key (under an apex, else it is skipped: a PTR of
 * an address outside every local reverse zone is not ours to answer), and
 * the empty non-terminals between it and the apex.
 */
static int add_record(struct gwdns_zone *z, const uint8_t *key, size_t len, uint16_t type,
		      const uint8_t *data, size_t dlen)
{
	struct znode *apex = find_apex(z, key, len), *n;
	size_t p, i;
	int r;

	if (!apex || apex->kind == APEX_SPECIAL || apex->kind == APEX_CANARY ||
	    apex->kind == APEX_LOCALHOST)
		return 0;
	r = get_node(z, key, len, &n);
	if (r < 0)
		return r;
	for (i = 0; i < n->nrr; i++)
		if (n->rr[i].type == type && n->rr[i].len == dlen && memcmp(n->rr[i].data, data, dlen) == 0)
			return 0; /* the same record twice */
	if (n->nrr == n->cap) {
		size_t cap = n->cap ? n->cap * 2 : 2;
		struct zrr *rr = realloc(n->rr, cap * sizeof(*rr));

		if (!rr)
			return -ENOMEM;
		n->rr = rr;
		n->cap = cap;
	}
	n->rr[n->nrr].type = type;
	n->rr[n->nrr].len = (uint8_t)dlen;
	memcpy(n->rr[n->nrr].data, data, dlen);
	n->nrr++;
	z->nrecords++;

	/* Empty non-terminals, up to the apex. */
	p = (size_t)key[0] + 1;
	while (p < len && len - p > apex->keylen) {
		struct znode *ent;

		r = get_node(z, key + p, len - p, &ent);
		if (r < 0)
			return r;
		p += (size_t)key[p] + 1;
	}
	return 0;
}

static int add_address(struct gwdns_zone *z, const char *name, uint8_t family, const uint8_t *addr)
{
	uint8_t w[GWDNS_WIRE_MAX], rev[GWDNS_WIRE_MAX];
	int len = gwdns_name_to_wire(name, w), r;
	size_t rlen;

	if (len < 0)
		return len;
	r = add_record(z, w, (size_t)len, family == 4 ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA, addr,
		       family == 4 ? 4 : 16);
	if (r < 0)
		return r;
	rlen = gwdns_reverse_wire(family, addr, rev);
	return add_record(z, rev, rlen, LDNS_RR_TYPE_PTR, w, (size_t)len);
}

void gwdns_zone_free(struct gwdns_zone *z)
{
	size_t i;

	if (!z)
		return;
	for (i = 0; z->buckets && i < z->nbuckets; i++) {
		struct znode *n = z->buckets[i], *next;

		for (; n; n = next) {
			next = n->next;
			free(n->rr);
			free(n);
		}
	}
	free(z->buckets);
	free(z);
}

int gwdns_zone_new(const struct gwdns_conf *c, const struct gwdns_zrec *recs, size_t n,
		   uint32_t serial, struct gwdns_zone **ret)
{
	struct gwdns_zone *z;
	char buf[GWDNS_NAME_MAX + 16];
	size_t i, want = 64;
	int r, len;

	z = calloc(1, sizeof(*z));
	if (!z)
		return -ENOMEM;
	while (want < 2 * (n + c->n_self) + 256)
		want *= 2;
	z->nbuckets = want * 2;
	z->buckets = calloc(z->nbuckets, sizeof(*z->buckets));
	r = -ENOMEM;
	if (!z->buckets)
		goto fail;
	z->seed = 0x9e3779b9u ^ serial;
	z->serial = serial;
	z->ttl = c->zone_ttl;
	memcpy(z->clients, c->clients, c->n_clients * sizeof(c->clients[0]));
	z->n_clients = c->n_clients;

	snprintf(buf, sizeof(buf), "gw.%s", c->zone);
	r = len = gwdns_name_to_wire(buf, z->mname);
	if (r < 0)
		goto fail;
	z->mname_len = (size_t)len;
	snprintf(buf, sizeof(buf), "hostmaster.%s", c->zone);
	r = len = gwdns_name_to_wire(buf, z->rname);
	if (r < 0)
		goto fail;
	z->rname_len = (size_t)len;

	for (i = 0; i < sizeof(reverse_zones) / sizeof(reverse_zones[0]); i++)
		if ((r = add_apex(z, reverse_zones[i], APEX_REVERSE)) < 0)
			goto fail;
	for (i = 16; i < 32; i++) {
		snprintf(buf, sizeof(buf), "%zu.172.in-addr.arpa", i);
		if ((r = add_apex(z, buf, APEX_REVERSE)) < 0)
			goto fail;
	}
	for (i = 64; i < 128; i++) {
		snprintf(buf, sizeof(buf), "%zu.100.in-addr.arpa", i);
		if ((r = add_apex(z, buf, APEX_REVERSE)) < 0)
			goto fail;
	}
	for (i = 0; i < c->n_clients; i++) {
		char rz[128];

		if (gwdns_reverse_zone(c->clients[i].family, c->clients[i].addr,
				       c->clients[i].prefix_len, rz) == 0 &&
		    (r = add_apex(z, rz, APEX_REVERSE)) < 0)
			goto fail;
	}
	for (i = 0; i < sizeof(special_zones) / sizeof(special_zones[0]); i++)
		if ((r = add_apex(z, special_zones[i], APEX_SPECIAL)) < 0)
			goto fail;
	if ((r = add_apex(z, "localhost", APEX_LOCALHOST)) < 0)
		goto fail;
	if ((r = add_apex(z, "resolver.arpa", APEX_RESOLVER)) < 0)
		goto fail;
	if (c->flags & GWDNS_CONF_ENFORCE) {
		for (i = 0; i < sizeof(canaries) / sizeof(canaries[0]); i++)
			if ((r = add_apex(z, canaries[i], APEX_CANARY)) < 0)
				goto fail;
		/* The shipped DoH resolvers (policy/doh.txt), and the names under them. */
		for (i = 0; i < pol_doh_nnames; i++)
			if ((r = add_apex(z, pol_doh_names[i], APEX_CANARY)) < 0)
				goto fail;
	}
	if ((r = add_apex(z, c->zone, APEX_HOUSEHOLD)) < 0)
		goto fail;
	{
		/* _dns.resolver.arpa exists (NODATA): gw designates no encrypted resolver. */
		uint8_t w[GWDNS_WIRE_MAX];
		struct znode *node;

		len = gwdns_name_to_wire("_dns.resolver.arpa", w);
		if ((r = get_node(z, w, (size_t)len, &node)) < 0)
			goto fail;
	}

	snprintf(buf, sizeof(buf), "gw.%s", c->zone);
	for (i = 0; i < c->n_self; i++)
		if ((r = add_address(z, buf, c->self[i].family, c->self[i].addr)) < 0)
			goto fail;
	for (i = 0; i < n; i++)
		if ((r = add_address(z, recs[i].name, recs[i].family, recs[i].addr)) < 0)
			goto fail;
	*ret = z;
	return 0;
fail:
	gwdns_zone_free(z);
	return r;
}

size_t gwdns_zone_records(const struct gwdns_zone *z)
{
	return z->nrecords;
}

static int prefix_match(const struct gwdns_prefix *p, uint8_t family, const uint8_t *addr)
{
	unsigned bits = p->prefix_len, full = bits / 8, rest = bits % 8;

	if (p->family != family)
		return 0;
	if (memcmp(p->addr, addr, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((p->addr[full] ^ addr[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

int gwdns_zone_is_household(const struct gwdns_zone *z, uint8_t family, const uint8_t addr[16])
{
	unsigned i;

	for (i = 0; i < z->n_clients; i++)
		if (prefix_match(&z->clients[i], family, addr))
			return 1;
	return 0;
}

/* ---------------------------------------------------------------- answers */

static ldns_rr *new_rr(const ldns_rdf *owner, ldns_rr_type type, uint32_t ttl)
{
	ldns_rr *rr = ldns_rr_new();
	ldns_rdf *o;

	if (!rr)
		return NULL;
	o = ldns_rdf_clone(owner);
	if (!o) {
		ldns_rr_free(rr);
		return NULL;
	}
	ldns_rr_set_owner(rr, o);
	ldns_rr_set_type(rr, type);
	ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
	ldns_rr_set_ttl(rr, ttl);
	return rr;
}

static int push_rdf(ldns_rr *rr, ldns_rdf *rdf)
{
	if (!rdf || !ldns_rr_push_rdf(rr, rdf)) {
		ldns_rdf_deep_free(rdf);
		return -ENOMEM;
	}
	return 0;
}

static int push(ldns_pkt *resp, ldns_pkt_section s, ldns_rr *rr)
{
	if (!ldns_pkt_push_rr(resp, s, rr)) {
		ldns_rr_free(rr);
		return -ENOMEM;
	}
	return 0;
}

static ldns_rdf *wire_dname(const uint8_t *w, size_t len)
{
	return ldns_dname_new_frm_data((uint16_t)len, w);
}

static int push_soa(const struct gwdns_zone *z, const struct znode *apex, ldns_pkt *resp,
		    ldns_pkt_section s)
{
	ldns_rdf *owner = wire_dname(apex->key, apex->keylen);
	ldns_rr *rr;
	int r = -ENOMEM;

	if (!owner)
		return -ENOMEM;
	rr = new_rr(owner, LDNS_RR_TYPE_SOA, z->ttl);
	ldns_rdf_deep_free(owner);
	if (!rr)
		return -ENOMEM;
	if (push_rdf(rr, wire_dname(z->mname, z->mname_len)) < 0 ||
	    push_rdf(rr, wire_dname(z->rname, z->rname_len)) < 0 ||
	    push_rdf(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_INT32, z->serial)) < 0 ||
	    push_rdf(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, 3600)) < 0 ||
	    push_rdf(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, 600)) < 0 ||
	    push_rdf(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, 86400)) < 0 ||
	    push_rdf(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, z->ttl)) < 0)
		goto fail;
	return push(resp, s, rr);
fail:
	ldns_rr_free(rr);
	return r;
}

static int push_data(const struct gwdns_zone *z, const ldns_rdf *owner, const struct zrr *d,
		     ldns_pkt *resp, ldns_pkt_section s)
{
	ldns_rr *rr = new_rr(owner, (ldns_rr_type)d->type, z->ttl);
	ldns_rdf *rdf;

	if (!rr)
		return -ENOMEM;
	if (d->type == LDNS_RR_TYPE_A)
		rdf = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_A, 4, d->data);
	else if (d->type == LDNS_RR_TYPE_AAAA)
		rdf = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_AAAA, 16, d->data);
	else
		rdf = wire_dname(d->data, d->len);
	if (push_rdf(rr, rdf) < 0) {
		ldns_rr_free(rr);
		return -ENOMEM;
	}
	return push(resp, s, rr);
}

/* The apex's NS (gw.<zone>) and, in additional, gw's addresses. */
static int push_ns(const struct gwdns_zone *z, const ldns_rdf *owner, ldns_pkt *resp)
{
	const struct znode *gw = lookup(z, z->mname, z->mname_len);
	ldns_rr *rr = new_rr(owner, LDNS_RR_TYPE_NS, z->ttl);
	ldns_rdf *gw_owner;
	size_t i;
	int r;

	if (!rr)
		return -ENOMEM;
	if (push_rdf(rr, wire_dname(z->mname, z->mname_len)) < 0) {
		ldns_rr_free(rr);
		return -ENOMEM;
	}
	if ((r = push(resp, LDNS_SECTION_ANSWER, rr)) < 0)
		return r;
	if (!gw)
		return 0;
	gw_owner = wire_dname(z->mname, z->mname_len);
	if (!gw_owner)
		return -ENOMEM;
	for (i = 0, r = 0; i < gw->nrr && r == 0; i++)
		if (gw->rr[i].type == LDNS_RR_TYPE_A || gw->rr[i].type == LDNS_RR_TYPE_AAAA)
			r = push_data(z, gw_owner, &gw->rr[i], resp, LDNS_SECTION_ADDITIONAL);
	ldns_rdf_deep_free(gw_owner);
	return r;
}

static int answer_localhost(const struct gwdns_zone *z, const struct znode *apex,
			    const ldns_rdf *qname, ldns_rr_type qtype, ldns_pkt *resp)
{
	struct zrr v4 = { .type = LDNS_RR_TYPE_A, .len = 4, .data = { 127, 0, 0, 1 } };
	struct zrr v6 = { .type = LDNS_RR_TYPE_AAAA, .len = 16 };
	int r = 0, any = 0;

	v6.data[15] = 1;
	ldns_pkt_set_aa(resp, true);
	ldns_pkt_set_rcode(resp, LDNS_RCODE_NOERROR);
	if (qtype == LDNS_RR_TYPE_A || qtype == LDNS_RR_TYPE_ANY) {
		r = push_data(z, qname, &v4, resp, LDNS_SECTION_ANSWER);
		any = 1;
	}
	if (r == 0 && (qtype == LDNS_RR_TYPE_AAAA || qtype == LDNS_RR_TYPE_ANY)) {
		r = push_data(z, qname, &v6, resp, LDNS_SECTION_ANSWER);
		any = 1;
	}
	if (r == 0 && !any)
		r = push_soa(z, apex, resp, LDNS_SECTION_AUTHORITY);
	return r < 0 ? r : GWDNS_LOCAL_ANSWER;
}

int gwdns_zone_answer(const struct gwdns_zone *z, const ldns_rdf *qname, ldns_rr_type qtype,
		      ldns_pkt *resp)
{
	uint8_t key[GWDNS_WIRE_MAX];
	size_t len;
	const struct znode *apex, *node;
	size_t i;
	int r = 0, answered = 0;

	if (ldns_rdf_get_type(qname) != LDNS_RDF_TYPE_DNAME || ldns_rdf_size(qname) > GWDNS_WIRE_MAX)
		return GWDNS_LOCAL_NONE;
	len = gwdns_wire_lower(ldns_rdf_data(qname), ldns_rdf_size(qname), key);
	apex = find_apex(z, key, len);
	if (!apex)
		return GWDNS_LOCAL_NONE;

	switch (apex->kind) {
	case APEX_CANARY:
		ldns_pkt_set_rcode(resp, LDNS_RCODE_NXDOMAIN);
		return GWDNS_LOCAL_CANARY;
	case APEX_SPECIAL:
		ldns_pkt_set_aa(resp, true);
		ldns_pkt_set_rcode(resp, LDNS_RCODE_NXDOMAIN);
		r = push_soa(z, apex, resp, LDNS_SECTION_AUTHORITY);
		return r < 0 ? r : GWDNS_LOCAL_ANSWER;
	case APEX_LOCALHOST:
		return answer_localhost(z, apex, qname, qtype, resp);
	default:
		break;
	}

	ldns_pkt_set_aa(resp, true);
	node = lookup(z, key, len);
	if (!node) {
		ldns_pkt_set_rcode(resp, LDNS_RCODE_NXDOMAIN);
		r = push_soa(z, apex, resp, LDNS_SECTION_AUTHORITY);
		return r < 0 ? r : GWDNS_LOCAL_ANSWER;
	}
	ldns_pkt_set_rcode(resp, LDNS_RCODE_NOERROR);
	if (node == apex && apex->kind != APEX_RESOLVER) {
		if (qtype == LDNS_RR_TYPE_SOA || qtype == LDNS_RR_TYPE_ANY) {
			if ((r = push_soa(z, apex, resp, LDNS_SECTION_ANSWER)) < 0)
				return r;
			answered = 1;
		}
		if (qtype == LDNS_RR_TYPE_NS || qtype == LDNS_RR_TYPE_ANY) {
			if ((r = push_ns(z, qname, resp)) < 0)
				return r;
			answered = 1;
		}
	}
	for (i = 0; i < node->nrr; i++) {
		if (qtype != LDNS_RR_TYPE_ANY && node->rr[i].type != qtype)
			continue;
		if ((r = push_data(z, qname, &node->rr[i], resp, LDNS_SECTION_ANSWER)) < 0)
			return r;
		answered = 1;
	}
	if (!answered && (r = push_soa(z, apex, resp, LDNS_SECTION_AUTHORITY)) < 0)
		return r;
	return GWDNS_LOCAL_ANSWER;
}
