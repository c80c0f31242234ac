/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: a stream of gwd -> gw-dns control messages
 * (dns/proto.h, dns/msg.c) applied to a resolver as gw-dns applies them.
 * A decoded CONFIG keeps its bounds (counts, a valid lower-case zone);
 * a ZONE's records are under the zone; CLIENTS and POLICY are applied;
 * a LEARN (what gwd, as root, takes from the unprivileged gw-dns) decodes
 * only with a plain lower-case name, a TTL in bounds and 1..64 addresses
 * of family 4 or 6.  After the stream, the resolver still answers a query.  A header that does not frame ends the stream,
 * as it ends gw-dns's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "resolver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replies;

static void f_reply(void *io, const struct gwdns_client *c, const uint8_t *w, size_t len)
{
	replies++;
}

static int f_send(void *io, struct gwdns_pending *p, const struct gwdns_prefix *up, int tcp,
		  const uint8_t *w, size_t len)
{
	if (up->port == 0 || (up->family != 4 && up->family != 6))
		abort();
	return -ENETUNREACH;
}

static void f_cancel(void *io, struct gwdns_pending *p)
{
}

static const struct gwdns_io_ops ops = {
	.reply = f_reply,
	.upstream_send = f_send,
	.upstream_cancel = f_cancel,
};

static void check_conf(const struct gwdns_conf *c)
{
	char norm[GWDNS_NAME_MAX];
	size_t i;

	if (c->n_upstreams > GWDNS_UPSTREAM_MAX || c->n_clients > GWDNS_PREFIX_MAX ||
	    c->n_self > GWDNS_PREFIX_MAX || c->n_allow > GWDNS_ALLOW_MAX)
		abort();
	if (gwdns_name_normalize(c->zone, 0, norm) < 0 || strcmp(norm, c->zone) != 0)
		abort();
	for (i = 0; i < c->n_allow; i++)
		if (gwdns_name_normalize(c->allow[i], 0, norm) < 0 || strcmp(norm, c->allow[i]) != 0)
			abort();
	if (!c->rate_qps || !c->rate_burst || !c->timeout_ms || !c->zone_ttl || !c->max_outstanding)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t query[] = { 0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0,
					 6, 'l', 'a', 'p', 't', 'o', 'p', 4, 'h', 'o', 'm', 'e',
					 4, 'a', 'r', 'p', 'a', 0, 0, 1, 0, 1 };
	struct gwdns_resolver *r;
	struct gwdns_client cl;
	struct sockaddr_in *s = (struct sockaddr_in *)&cl.addr;
	size_t off = 0;

	if (gwdns_resolver_new(&ops, NULL, &r) < 0)
		return 0;
	while (size - off >= sizeof(struct gwdns_hdr)) {
		struct gwdns_hdr h;
		const uint8_t *body;

		memcpy(&h, data + off, sizeof(h));
		if (gwdns_msg_check_hdr(&h) < 0 || h.length > size - off - sizeof(h))
			break;
		body = data + off + sizeof(h);
		off += sizeof(h) + h.length;
		if (h.type == GWDNS_MSG_CONFIG) {
			struct gwdns_conf c;

			if (gwdns_conf_decode(body, h.length, &c) == 0) {
				check_conf(&c);
				gwdns_resolver_configure(r, &c);
			}
		} else if (h.type == GWDNS_MSG_LEARN) {
			struct gwdns_learn l;
			struct gwdns_learn_addr addrs[GWDNS_LEARN_ADDRS];
			char norm[GWDNS_NAME_MAX];
			size_t i;

			if (gwdns_learn_decode(body, h.length, &l, addrs) == 0) {
				if (gwdns_name_normalize(l.name, 0, norm) < 0 || strcmp(norm, l.name) != 0 ||
				    l.naddrs < 1 || l.naddrs > GWDNS_LEARN_ADDRS ||
				    l.ttl < GWDNS_LEARN_TTL_MIN || l.ttl > GWDNS_LEARN_TTL_MAX)
					abort();
				for (i = 0; i < l.naddrs; i++)
					if (addrs[i].family != 4 && addrs[i].family != 6)
						abort();
			}
		} else if (h.type == GWDNS_MSG_CLIENTS) {
			struct gwdns_client_map *v = NULL;
			size_t n = 0;

			if (gwdns_clients_decode(body, h.length, &v, &n) == 0) {
				gwdns_resolver_set_clients(r, v, n);
				free(v);
			}
		} else if (h.type == GWDNS_MSG_POLICY) {
			gwdns_resolver_set_policy(r, body, h.length);
		} else if (h.type == GWDNS_MSG_ZONE && gwdns_resolver_zone(r)) {
			struct gwdns_zrec *recs = NULL;
			size_t n = 0, i;
			const char *zone = gwdns_resolver_zone(r);

			if (gwdns_zone_decode(body, h.length, zone, &recs, &n) == 0) {
				for (i = 0; i < n; i++) {
					size_t nl = strlen(recs[i].name), zl = strlen(zone);

					if (nl <= zl + 1 || strcmp(recs[i].name + nl - zl, zone) != 0 ||
					    recs[i].name[nl - zl - 1] != '.')
						abort();
				}
				gwdns_resolver_set_zone(r, recs, n);
				free(recs);
			}
		}
	}
	memset(&cl, 0, sizeof(cl));
	s->sin_family = AF_INET;
	s->sin_addr.s_addr = htonl(0x0a000005);
	cl.addrlen = sizeof(*s);
	replies = 0;
	gwdns_resolver_query(r, &cl, query, sizeof(query), 1000);
	if (replies > 1)
		abort();
	gwdns_resolver_free(r);
	return 0;
}
