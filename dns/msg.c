/* SPDX-License-Identifier: MIT */
/*
 * dns/proto.h's messages, checked before anything is taken from them:
 * sizes against counts, every string NUL-terminated inside its field,
 * every family, prefix length and name valid.  A message is decoded whole
 * or not at all.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "stats.h"

static const char *const counter_names[] = {
#define GWDNS_X(id, name) name,
	GWDNS_COUNTERS(GWDNS_X)
#undef GWDNS_X
};

const char *gwdns_counter_name(unsigned id)
{
	return id < GWDNS_C_COUNT ? counter_names[id] : NULL;
}

int gwdns_msg_check_hdr(const struct gwdns_hdr *h)
{
	if (h->magic != GWDNS_MSG_MAGIC)
		return -EBADMSG;
	if (h->version != GWDNS_MSG_VERSION)
		return -EPROTONOSUPPORT;
	if (h->flags != 0)
		return -EINVAL;
	switch (h->type & ~GWDNS_MSG_REPLY) {
	case GWDNS_MSG_CONFIG:
	case GWDNS_MSG_ZONE:
	case GWDNS_MSG_STATS:
	case GWDNS_MSG_POLICY:
	case GWDNS_MSG_LEARN:
	case GWDNS_MSG_CLIENTS:
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (h->length > GWDNS_MSG_MAX)
		return -EMSGSIZE;
	return 0;
}

void gwdns_msg_hdr(struct gwdns_hdr *h, uint16_t type, uint32_t length, uint64_t id)
{
	memset(h, 0, sizeof(*h));
	h->magic = GWDNS_MSG_MAGIC;
	h->version = GWDNS_MSG_VERSION;
	h->type = type;
	h->length = length;
	h->id = id;
}

static int label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

int gwdns_name_normalize(const char *name, int allow_root, char out[GWDNS_NAME_MAX])
{
	size_t len = strnlen(name, GWDNS_NAME_MAX);
	size_t i, label = 0;

	if (len == GWDNS_NAME_MAX)
		return -EINVAL;
	if (len > 0 && name[len - 1] == '.')
		len--; /* one trailing dot: an absolute name */
	if (len == 0)
		return allow_root ? (out[0] = '\0', 0) : -EINVAL;
	if (len > 253)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (c == '.') {
			if (label == 0)
				return -EINVAL;
			label = 0;
		} else if (label_char(c)) {
			if (++label > 63)
				return -EINVAL;
		} else {
			return -EINVAL;
		}
	}
	if (label == 0)
		return -EINVAL;
	for (i = 0; i < len; i++)
		out[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] - 'A' + 'a') : name[i];
	out[len] = '\0';
	return 0;
}

static int check_prefix(const struct gwdns_prefix *p, int is_upstream)
{
	if (p->family == 4) {
		if (p->prefix_len > 32)
			return -EINVAL;
	} else if (p->family == 6) {
		if (p->prefix_len > 128)
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	if (!is_upstream && p->port != 0)
		return -EINVAL;
	return 0;
}

static uint32_t or_default(uint32_t v, uint32_t def)
{
	return v ? v : def;
}

int gwdns_conf_decode(const uint8_t *body, size_t len, struct gwdns_conf *ret)
{
	struct gwdns_config h;
	struct gwdns_conf c;
	size_t need, off, i;
	int r;

	if (len < sizeof(h))
		return -EINVAL;
	memcpy(&h, body, sizeof(h));
	if (h.n_upstreams > GWDNS_UPSTREAM_MAX || h.n_clients > GWDNS_PREFIX_MAX ||
	    h.n_self > GWDNS_PREFIX_MAX || h.n_rebind_allow > GWDNS_ALLOW_MAX)
		return -EINVAL;
	need = sizeof(h) + ((size_t)h.n_upstreams + h.n_clients + h.n_self) *
		sizeof(struct gwdns_prefix) + (size_t)h.n_rebind_allow * sizeof(struct gwdns_name);
	if (len != need)
		return -EINVAL;
	if ((h.flags & ~(GWDNS_CONF_ENFORCE | GWDNS_CONF_REBIND)) != 0)
		return -EINVAL;

	memset(&c, 0, sizeof(c));
	c.flags = h.flags;
	c.cache_bytes = or_default(h.cache_bytes, GWDNS_DEFAULT_CACHE);
	c.ttl_max = or_default(h.ttl_max, 86400);
	c.neg_ttl_max = or_default(h.neg_ttl_max, 900);
	c.rate_qps = or_default(h.rate_qps, 200);
	c.rate_burst = or_default(h.rate_burst, 2 * c.rate_qps);
	c.max_outstanding = or_default(h.max_outstanding, 512);
	c.timeout_ms = or_default(h.upstream_timeout_ms, 1000);
	c.zone_ttl = or_default(h.zone_ttl, 60);
	if (h.block_mode != GWDNS_BLOCK_NXDOMAIN && h.block_mode != GWDNS_BLOCK_NULL)
		return -EINVAL;
	c.block_mode = h.block_mode;
	if (c.timeout_ms > 10000 || c.max_outstanding > 65536 || c.cache_bytes < 4096)
		return -EINVAL;
	if (memchr(h.zone, '\0', sizeof(h.zone)) == NULL)
		return -EINVAL;
	r = gwdns_name_normalize(h.zone[0] ? h.zone : "home.arpa", 0, c.zone);
	if (r < 0)
		return r;

	off = sizeof(h);
	c.n_upstreams = h.n_upstreams;
	c.n_clients = h.n_clients;
	c.n_self = h.n_self;
	memcpy(c.upstreams, body + off, c.n_upstreams * sizeof(struct gwdns_prefix));
	off += c.n_upstreams * sizeof(struct gwdns_prefix);
	memcpy(c.clients, body + off, c.n_clients * sizeof(struct gwdns_prefix));
	off += c.n_clients * sizeof(struct gwdns_prefix);
	memcpy(c.self, body + off, c.n_self * sizeof(struct gwdns_prefix));
	off += c.n_self * sizeof(struct gwdns_prefix);
	for (i = 0; i < c.n_upstreams; i++) {
		if (check_prefix(&c.upstreams[i], 1) < 0)
			return -EINVAL;
		if (c.upstreams[i].port == 0)
			c.upstreams[i].port = 53;
	}
	for (i = 0; i < c.n_clients; i++)
		if (check_prefix(&c.clients[i], 0) < 0)
			return -EINVAL;
	for (i = 0; i < c.n_self; i++)
		if (check_prefix(&c.self[i], 0) < 0)
			return -EINVAL;

	if (h.n_rebind_allow > 0) {
		c.allow = calloc(h.n_rebind_allow, sizeof(*c.allow));
		if (!c.allow)
			return -ENOMEM;
		for (i = 0; i < h.n_rebind_allow; i++) {
			struct gwdns_name n;

			memcpy(&n, body + off + i * sizeof(n), sizeof(n));
			if (memchr(n.name, '\0', sizeof(n.name)) == NULL ||
			    gwdns_name_normalize(n.name, 0, c.allow[i]) < 0) {
				free(c.allow);
				return -EINVAL;
			}
		}
		c.n_allow = h.n_rebind_allow;
	}
	*ret = c;
	return 0;
}

void gwdns_conf_clear(struct gwdns_conf *c)
{
	if (!c)
		return;
	free(c->allow);
	c->allow = NULL;
	c->n_allow = 0;
}

int gwdns_zone_decode(const uint8_t *body, size_t len, const char *zone,
		      struct gwdns_zrec **ret, size_t *ret_n)
{
	struct gwdns_zone_head h;
	struct gwdns_zrec *recs = NULL;
	size_t zlen = strlen(zone), i;
	int r = -EINVAL;

	if (len < sizeof(h))
		return -EINVAL;
	memcpy(&h, body, sizeof(h));
	if (h.count > GWDNS_ZONE_MAX || len != sizeof(h) + (size_t)h.count * sizeof(struct gwdns_record))
		return -EINVAL;
	if (h.count > 0) {
		recs = calloc(h.count, sizeof(*recs));
		if (!recs)
			return -ENOMEM;
	}
	for (i = 0; i < h.count; i++) {
		struct gwdns_record rec;
		char rel[GWDNS_NAME_MAX];
		size_t rlen;

		memcpy(&rec, body + sizeof(h) + i * sizeof(rec), sizeof(rec));
		if (memchr(rec.name, '\0', sizeof(rec.name)) == NULL)
			goto fail;
		if (rec.family != 4 && rec.family != 6)
			goto fail;
		if (gwdns_name_normalize(rec.name, 0, rel) < 0)
			goto fail;
		if (rel[strlen(rel) - 1] == '.')
			goto fail;
		rlen = strlen(rel);
		if (rlen + 1 + zlen > 253)
			goto fail;
		memcpy(recs[i].name, rel, rlen);
		recs[i].name[rlen] = '.';
		memcpy(recs[i].name + rlen + 1, zone, zlen + 1);
		recs[i].family = rec.family;
		memcpy(recs[i].addr, rec.addr, rec.family == 4 ? 4 : 16);
	}
	*ret = recs;
	*ret_n = h.count;
	return 0;
fail:
	free(recs);
	return r;
}

int gwdns_learn_decode(const uint8_t *body, size_t len, struct gwdns_learn *ret,
		       struct gwdns_learn_addr *addrs)
{
	struct gwdns_learn l;
	char norm[GWDNS_NAME_MAX];
	size_t i;

	if (len < sizeof(l))
		return -EINVAL;
	memcpy(&l, body, sizeof(l));
	if (l.naddrs == 0 || l.naddrs > GWDNS_LEARN_ADDRS ||
	    len != sizeof(l) + (size_t)l.naddrs * sizeof(struct gwdns_learn_addr))
		return -EINVAL;
	if (memchr(l.name, '\0', sizeof(l.name)) == NULL ||
	    gwdns_name_normalize(l.name, 0, norm) < 0 || strcmp(norm, l.name) != 0)
		return -EINVAL;
	if (l.ttl < GWDNS_LEARN_TTL_MIN || l.ttl > GWDNS_LEARN_TTL_MAX)
		return -EINVAL;
	if (l.client_family != 0 && l.client_family != 4 && l.client_family != 6)
		return -EINVAL;
	memcpy(addrs, body + sizeof(l), l.naddrs * sizeof(struct gwdns_learn_addr));
	for (i = 0; i < l.naddrs; i++)
		if (addrs[i].family != 4 && addrs[i].family != 6)
			return -EINVAL;
	*ret = l;
	return 0;
}

int gwdns_clients_decode(const uint8_t *body, size_t len, struct gwdns_client_map **ret,
			 size_t *ret_n)
{
	struct gwdns_clients_head h;
	struct gwdns_client_map *v = NULL;
	size_t i;

	if (len < sizeof(h))
		return -EINVAL;
	memcpy(&h, body, sizeof(h));
	if (h.count > GWDNS_CLIENTS_MAX || len != sizeof(h) + (size_t)h.count * sizeof(*v))
		return -EINVAL;
	if (h.count) {
		v = malloc(h.count * sizeof(*v));
		if (!v)
			return -ENOMEM;
		memcpy(v, body + sizeof(h), h.count * sizeof(*v));
	}
	for (i = 0; i < h.count; i++)
		if ((v[i].family != 4 && v[i].family != 6) || (v[i].mac[0] & 1)) {
			free(v);
			return -EINVAL;
		}
	*ret = v;
	*ret_n = h.count;
	return 0;
}
