/* SPDX-License-Identifier: MIT */
/*
 * gwd's nftables link (nft.h): the socket, batches, expressions and
 * dumps.  Touches only the table it was opened for.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include "nft.h"

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

#define LABEL_MAX    48
#define ELEMS_PER_MSG 256 /* keeps an element message well under 64 KiB */

struct gwd_nft {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
	char table[GWD_NFT_NAME_MAX];
	int sndbuf; /* what SO_SNDBUFFORCE last set */
};

struct gwd_nft_batch {
	struct gwd_nft *n;
	struct nftnl_batch *nb;
	uint32_t seq0;          /* the begin message's sequence number */
	uint32_t seq;           /* the next one */
	char (*labels)[LABEL_MAX]; /* labels[seq - seq0 - 1] */
	size_t nlabels, cap;
	int err;                /* the first building error, -errno */
	char why[96];
};

struct gwd_nft_rule {
	struct nftnl_rule *r;
	int err;
};

struct elem {
	uint8_t key[24];
	uint8_t key_end[24];
	bool has_end;
	uint32_t flags;
	uint64_t timeout_ms;
	int verdict;         /* for verdict maps */
	char *chain;         /* jump target, or NULL */
	uint8_t data[16];
	char *obj;           /* object map target, or NULL */
};

struct gwd_nft_set {
	char name[GWD_NFT_NAME_MAX];
	uint32_t flags, key_type, key_len;
	uint32_t data_type, data_len; /* maps */
	uint32_t obj_type;            /* object maps, 0 otherwise */
	uint64_t timeout_ms;
	uint32_t size;
	uint8_t concat[8];            /* field lengths, 0-terminated */
	bool counters;
	struct elem *v;
	size_t n, cap;
	int err;
};

static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= GWD_NFT_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

int gwd_nft_open(const char *table, struct gwd_nft **ret)
{
	if (!name_ok(table))
		return -EINVAL;
	struct gwd_nft *n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	int r;
	snprintf(n->table, sizeof(n->table), "%s", table);
	n->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!n->nl) {
		r = -errno;
		goto fail;
	}
	if (mnl_socket_bind(n->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		goto fail;
	}
	n->portid = mnl_socket_get_portid(n->nl);
	n->seq = (uint32_t)time(NULL);
	int one = 1, fd = mnl_socket_get_fd(n->nl);
	/* Errors without the request echoed, with the kernel's reason. */
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	/* Room for the answers to a big batch and for big dumps; the force
	 * variant needs CAP_NET_ADMIN, which every use of the link needs. */
	int rcv = 4 << 20;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	*ret = n;
	return 0;
fail:
	gwd_nft_close(n);
	return r;
}

void gwd_nft_close(struct gwd_nft *n)
{
	if (!n)
		return;
	if (n->nl)
		mnl_socket_close(n->nl);
	free(n);
}

const char *gwd_nft_table(const struct gwd_nft *n)
{
	return n->table;
}

/* --- batches ------------------------------------------------------------- */

static void fail_build(struct gwd_nft_batch *b, int err, const char *why)
{
	if (!b->err) {
		b->err = err;
		snprintf(b->why, sizeof(b->why), "%s", why);
	}
}

/* The header of the next message, labelled; NULL when building failed. */
static struct nlmsghdr *msg(struct gwd_nft_batch *b, uint16_t type, uint16_t flags,
			    const char *what, const char *name)
{
	if (b->err)
		return NULL;
	if (b->nlabels == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		char(*l)[LABEL_MAX] = realloc(b->labels, cap * LABEL_MAX);
		if (!l) {
			fail_build(b, -ENOMEM, "out of memory");
			return NULL;
		}
		b->labels = l;
		b->cap = cap;
	}
	snprintf(b->labels[b->nlabels++], LABEL_MAX, "%s %s", what, name ? name : "");
	return nftnl_nlmsg_build_hdr(nftnl_batch_buffer(b->nb), type, NFPROTO_INET, flags,
				     b->seq++);
}

static void next(struct gwd_nft_batch *b)
{
	if (nftnl_batch_update(b->nb) < 0)
		fail_build(b, -ENOMEM, "out of memory");
}

int gwd_nft_batch_new(struct gwd_nft *n, struct gwd_nft_batch **ret)
{
	struct gwd_nft_batch *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	long page = sysconf(_SC_PAGESIZE);
	b->n = n;
	b->nb = nftnl_batch_alloc((uint32_t)page * 32, 65536 + (uint32_t)page);
	if (!b->nb) {
		free(b);
		return -ENOMEM;
	}
	b->seq0 = n->seq;
	b->seq = b->seq0 + 1;
	nftnl_batch_begin(nftnl_batch_buffer(b->nb), b->seq0);
	next(b);
	*ret = b;
	return 0;
}

void gwd_nft_batch_free(struct gwd_nft_batch *b)
{
	if (!b)
		return;
	nftnl_batch_free(b->nb);
	free(b->labels);
	free(b);
}

size_t gwd_nft_batch_count(const struct gwd_nft_batch *b)
{
	return b->nlabels;
}

/* What came back: errors of refused messages (no acks were asked for). */
static int read_answers(struct gwd_nft_batch *b, char *err, size_t errlen)
{
	int fd = mnl_socket_get_fd(b->n->nl);
	int first = 0;
	char *buf = malloc(MNL_SOCKET_BUFFER_SIZE * 4);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (;;) {
		ssize_t got = recv(fd, buf, MNL_SOCKET_BUFFER_SIZE * 4, MSG_DONTWAIT);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (!first) {
				first = -errno;
				snprintf(err, errlen, "reading the kernel's answer: %s",
					 strerror(errno));
			}
			break;
		}
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
		int len = (int)got;
		for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
			if (nlh->nlmsg_type != NLMSG_ERROR)
				continue;
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
			if (e->error == 0 || first)
				continue;
			first = e->error;
			const char *label = "the batch";
			uint32_t s = e->msg.nlmsg_seq;
			if (s > b->seq0 && s - b->seq0 - 1 < b->nlabels)
				label = b->labels[s - b->seq0 - 1];
			const char *ext = NULL;
			if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
				/* With NETLINK_CAP_ACK the request is not echoed:
				 * the TLVs follow the bare header. */
				size_t off = sizeof(*e);
				const struct nlattr *a;
				const char *base = (const char *)e;
				size_t plen = mnl_nlmsg_get_payload_len(nlh);
				while (off + sizeof(*a) <= plen) {
					a = (const struct nlattr *)(base + off);
					if (a->nla_len < sizeof(*a) || off + a->nla_len > plen)
						break;
					if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG)
						ext = (const char *)mnl_attr_get_payload(a);
					off += MNL_ALIGN(a->nla_len);
				}
			}
			snprintf(err, errlen, "%s: %s%s%s", label, strerror(-e->error),
				 ext ? ": " : "", ext ? ext : "");
		}
	}
	free(buf);
	return first;
}

int gwd_nft_commit(struct gwd_nft_batch *b, char *err, size_t errlen)
{
	if (b->err) {
		snprintf(err, errlen, "building the batch: %s", b->why);
		return b->err;
	}
	nftnl_batch_end(nftnl_batch_buffer(b->nb), b->seq++);
	next(b);
	if (b->err) {
		snprintf(err, errlen, "building the batch: %s", b->why);
		return b->err;
	}
	b->n->seq = b->seq;
	int niov = nftnl_batch_iovec_len(b->nb);
	struct iovec *iov = calloc((size_t)niov, sizeof(*iov));
	if (!iov) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	nftnl_batch_iovec(b->nb, iov, (uint32_t)niov);
	size_t total = 0;
	for (int i = 0; i < niov; i++)
		total += iov[i].iov_len;
	int fd = mnl_socket_get_fd(b->n->nl);
	if ((int)total + 4096 > b->n->sndbuf) {
		int want = (int)total + 65536;
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof(want)) == 0)
			b->n->sndbuf = want;
	}
	struct sockaddr_nl snl = { .nl_family = AF_NETLINK };
	struct msghdr m = {
		.msg_name = &snl, .msg_namelen = sizeof(snl),
		.msg_iov = iov, .msg_iovlen = (size_t)niov,
	};
	ssize_t sent;
	do
		sent = sendmsg(fd, &m, 0);
	while (sent < 0 && errno == EINTR);
	free(iov);
	if (sent < 0) {
		int r = -errno;
		snprintf(err, errlen, "sending %zu bytes to nf_tables: %s", total, strerror(errno));
		return r;
	}
	/* The kernel ran the whole batch inside sendmsg: every answer is
	 * queued by now. */
	return read_answers(b, err, errlen);
}

void gwd_nft_add_table(struct gwd_nft_batch *b)
{
	struct nftnl_table *t = nftnl_table_alloc();
	if (!t) {
		fail_build(b, -ENOMEM, "out of memory");
		return;
	}
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, b->n->table);
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	struct nlmsghdr *nlh = msg(b, NFT_MSG_NEWTABLE, NLM_F_CREATE, "table", b->n->table);
	if (nlh) {
		nftnl_table_nlmsg_build_payload(nlh, t);
		next(b);
	}
	nftnl_table_free(t);
}

void gwd_nft_del_table(struct gwd_nft_batch *b)
{
	struct nftnl_table *t = nftnl_table_alloc();
	if (!t) {
		fail_build(b, -ENOMEM, "out of memory");
		return;
	}
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, b->n->table);
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	struct nlmsghdr *nlh = msg(b, NFT_MSG_DELTABLE, 0, "delete table", b->n->table);
	if (nlh) {
		nftnl_table_nlmsg_build_payload(nlh, t);
		next(b);
	}
	nftnl_table_free(t);
}

static struct nftnl_chain *chain_obj(struct gwd_nft_batch *b, const char *name)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	if (!c) {
		fail_build(b, -ENOMEM, "out of memory");
		return NULL;
	}
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, b->n->table);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
	return c;
}

void gwd_nft_add_chain(struct gwd_nft_batch *b, const char *name, const struct gwd_nft_hook *hook)
{
	struct nftnl_chain *c = chain_obj(b, name);
	if (!c)
		return;
	if (hook) {
		nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, hook->type);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, hook->hooknum);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, hook->prio);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, hook->policy);
	}
	struct nlmsghdr *nlh = msg(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE, "chain", name);
	if (nlh) {
		nftnl_chain_nlmsg_build_payload(nlh, c);
		next(b);
	}
	nftnl_chain_free(c);
}

void gwd_nft_flush_chain(struct gwd_nft_batch *b, const char *name)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	if (!r) {
		fail_build(b, -ENOMEM, "out of memory");
		return;
	}
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, b->n->table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, name);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	struct nlmsghdr *nlh = msg(b, NFT_MSG_DELRULE, 0, "flush chain", name);
	if (nlh) {
		nftnl_rule_nlmsg_build_payload(nlh, r);
		next(b);
	}
	nftnl_rule_free(r);
}

void gwd_nft_del_chain(struct gwd_nft_batch *b, const char *name)
{
	struct nftnl_chain *c = chain_obj(b, name);
	if (!c)
		return;
	struct nlmsghdr *nlh = msg(b, NFT_MSG_DELCHAIN, 0, "delete chain", name);
	if (nlh) {
		nftnl_chain_nlmsg_build_payload(nlh, c);
		next(b);
	}
	nftnl_chain_free(c);
}

/* --- sets ----------------------------------------------------------------- */

struct gwd_nft_set *gwd_nft_set_new(const char *name, uint32_t flags, uint32_t key_type,
				    uint32_t key_len)
{
	struct gwd_nft_set *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	if (snprintf(s->name, sizeof(s->name), "%s", name) >= (int)sizeof(s->name) ||
	    key_len == 0 || key_len > sizeof(s->v[0].key))
		s->err = -EINVAL;
	s->flags = flags;
	s->key_type = key_type;
	s->key_len = key_len;
	return s;
}

void gwd_nft_set_free(struct gwd_nft_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].chain);
		free(s->v[i].obj);
	}
	free(s->v);
	free(s);
}

void gwd_nft_set_map(struct gwd_nft_set *s, uint32_t data_type, uint32_t data_len)
{
	if (!s)
		return;
	s->flags |= NFT_SET_MAP;
	s->data_type = data_type;
	s->data_len = data_len;
	if (data_len > sizeof(s->v[0].data))
		s->err = -EINVAL;
}

void gwd_nft_set_objmap(struct gwd_nft_set *s, uint32_t obj_type)
{
	if (!s)
		return;
	s->flags |= NFT_SET_OBJECT;
	s->obj_type = obj_type;
}

void gwd_nft_set_timeout(struct gwd_nft_set *s, uint64_t ms)
{
	if (s)
		s->timeout_ms = ms;
}

void gwd_nft_set_concat(struct gwd_nft_set *s, const uint8_t *field_len, unsigned n)
{
	if (!s)
		return;
	if (n >= sizeof(s->concat)) {
		s->err = -EINVAL;
		return;
	}
	/* The kernel wants the fields only of an interval concatenation (a
	 * hashed one is just a longer key). */
	if (!(s->flags & NFT_SET_INTERVAL))
		return;
	memset(s->concat, 0, sizeof(s->concat));
	memcpy(s->concat, field_len, n);
	s->flags |= NFT_SET_CONCAT;
}

void gwd_nft_set_counters(struct gwd_nft_set *s)
{
	if (s)
		s->counters = true;
}

void gwd_nft_set_size(struct gwd_nft_set *s, uint32_t n)
{
	if (s)
		s->size = n;
}

size_t gwd_nft_set_count(const struct gwd_nft_set *s)
{
	return s ? s->n : 0;
}

static struct elem *new_elem(struct gwd_nft_set *s, const void *key)
{
	if (!s || s->err)
		return NULL;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct elem *v = realloc(s->v, cap * sizeof(*v));
		if (!v) {
			s->err = -ENOMEM;
			return NULL;
		}
		s->v = v;
		s->cap = cap;
	}
	struct elem *e = &s->v[s->n++];
	memset(e, 0, sizeof(*e));
	memcpy(e->key, key, s->key_len);
	return e;
}

int gwd_nft_elem(struct gwd_nft_set *s, const void *key, uint32_t flags, uint64_t timeout_ms)
{
	struct elem *e = new_elem(s, key);
	if (!e)
		return s ? s->err : -ENOMEM;
	e->flags = flags;
	e->timeout_ms = timeout_ms;
	return 0;
}

int gwd_nft_elem_range(struct gwd_nft_set *s, const void *key, const void *key_end)
{
	struct elem *e = new_elem(s, key);
	if (!e)
		return s ? s->err : -ENOMEM;
	memcpy(e->key_end, key_end, s->key_len);
	e->has_end = true;
	return 0;
}

int gwd_nft_elem_data_timeout(struct gwd_nft_set *s, const void *key, const void *data,
			      uint64_t timeout_ms)
{
	struct elem *e = new_elem(s, key);
	if (!e)
		return s ? s->err : -ENOMEM;
	memcpy(e->data, data, s->data_len);
	e->timeout_ms = timeout_ms;
	return 0;
}

int gwd_nft_elem_verdict(struct gwd_nft_set *s, const void *key, int verdict, const char *chain)
{
	struct elem *e = new_elem(s, key);
	if (!e)
		return s ? s->err : -ENOMEM;
	e->verdict = verdict;
	if (chain && !(e->chain = strdup(chain))) {
		s->err = -ENOMEM;
		return s->err;
	}
	return 0;
}

int gwd_nft_elem_data(struct gwd_nft_set *s, const void *key, const void *data)
{
	struct elem *e = new_elem(s, key);
	if (!e)
		return s ? s->err : -ENOMEM;
	memcpy(e->data, data, s->data_len);
	return 0;
}

int gwd_nft_elem_obj(struct gwd_nft_set *s, const void *key, const char *obj)
{
	struct elem *e = new_elem(s, key);
	if (!e)
		return s ? s->err : -ENOMEM;
	if (!(e->obj = strdup(obj))) {
		s->err = -ENOMEM;
		return s->err;
	}
	return 0;
}

static struct nftnl_set *set_obj(struct gwd_nft_batch *b, const struct gwd_nft_set *s)
{
	struct nftnl_set *ns = nftnl_set_alloc();
	if (!ns) {
		fail_build(b, -ENOMEM, "out of memory");
		return NULL;
	}
	nftnl_set_set_str(ns, NFTNL_SET_TABLE, b->n->table);
	nftnl_set_set_str(ns, NFTNL_SET_NAME, s->name);
	nftnl_set_set_u32(ns, NFTNL_SET_FAMILY, NFPROTO_INET);
	return ns;
}

/* Elements [from, to) of s into ns. */
static int fill_elems(struct nftnl_set *ns, const struct gwd_nft_set *s, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		const struct elem *e = &s->v[i];
		struct nftnl_set_elem *ne = nftnl_set_elem_alloc();
		if (!ne)
			return -ENOMEM;
		nftnl_set_elem_set(ne, NFTNL_SET_ELEM_KEY, e->key, s->key_len);
		if (e->has_end)
			nftnl_set_elem_set(ne, NFTNL_SET_ELEM_KEY_END, e->key_end, s->key_len);
		if (e->flags)
			nftnl_set_elem_set_u32(ne, NFTNL_SET_ELEM_FLAGS, e->flags);
		if (e->timeout_ms)
			nftnl_set_elem_set_u64(ne, NFTNL_SET_ELEM_TIMEOUT, e->timeout_ms);
		if (!(e->flags & NFT_SET_ELEM_INTERVAL_END)) {
			if (s->obj_type && e->obj)
				nftnl_set_elem_set_str(ne, NFTNL_SET_ELEM_OBJREF, e->obj);
			else if ((s->flags & NFT_SET_MAP) && s->data_type == NFT_DATA_VERDICT) {
				nftnl_set_elem_set_u32(ne, NFTNL_SET_ELEM_VERDICT,
						       (uint32_t)e->verdict);
				if (e->chain)
					nftnl_set_elem_set_str(ne, NFTNL_SET_ELEM_CHAIN, e->chain);
			} else if (s->flags & NFT_SET_MAP) {
				nftnl_set_elem_set(ne, NFTNL_SET_ELEM_DATA, e->data, s->data_len);
			}
		}
		nftnl_set_elem_add(ns, ne);
	}
	return 0;
}

static void elem_msgs(struct gwd_nft_batch *b, const struct gwd_nft_set *s, uint16_t type,
		      const char *what)
{
	for (size_t at = 0; at < s->n && !b->err; at += ELEMS_PER_MSG) {
		size_t to = at + ELEMS_PER_MSG < s->n ? at + ELEMS_PER_MSG : s->n;
		struct nftnl_set *ns = set_obj(b, s);
		if (!ns)
			return;
		if (fill_elems(ns, s, at, to) < 0) {
			fail_build(b, -ENOMEM, "out of memory");
		} else {
			struct nlmsghdr *nlh = msg(b, type, type == NFT_MSG_NEWSETELEM ?
						   NLM_F_CREATE : 0, what, s->name);
			if (nlh) {
				nftnl_set_elems_nlmsg_build_payload(nlh, ns);
				next(b);
			}
		}
		nftnl_set_free(ns);
	}
}

static bool set_usable(struct gwd_nft_batch *b, struct gwd_nft_set *s)
{
	if (!s) {
		fail_build(b, -ENOMEM, "out of memory");
		return false;
	}
	if (s->err) {
		char why[96];
		snprintf(why, sizeof(why), "set %s: %s", s->name, strerror(-s->err));
		fail_build(b, s->err, why);
		return false;
	}
	return !b->err;
}

void gwd_nft_add_set(struct gwd_nft_batch *b, struct gwd_nft_set *s)
{
	if (!set_usable(b, s))
		goto out;
	struct nftnl_set *ns = set_obj(b, s);
	if (!ns)
		goto out;
	nftnl_set_set_u32(ns, NFTNL_SET_FLAGS, s->flags);
	nftnl_set_set_u32(ns, NFTNL_SET_KEY_TYPE, s->key_type);
	nftnl_set_set_u32(ns, NFTNL_SET_KEY_LEN, s->key_len);
	/* Set ids only matter for anonymous sets; a unique one per batch
	 * costs nothing. */
	nftnl_set_set_u32(ns, NFTNL_SET_ID, b->seq);
	if (s->flags & NFT_SET_MAP) {
		nftnl_set_set_u32(ns, NFTNL_SET_DATA_TYPE, s->data_type);
		nftnl_set_set_u32(ns, NFTNL_SET_DATA_LEN,
				  s->data_type == NFT_DATA_VERDICT ? sizeof(uint32_t) : s->data_len);
	}
	if (s->obj_type)
		nftnl_set_set_u32(ns, NFTNL_SET_OBJ_TYPE, s->obj_type);
	if (s->timeout_ms)
		nftnl_set_set_u64(ns, NFTNL_SET_TIMEOUT, s->timeout_ms);
	if (s->size)
		nftnl_set_set_u32(ns, NFTNL_SET_DESC_SIZE, s->size);
	if (s->concat[0])
		nftnl_set_set_data(ns, NFTNL_SET_DESC_CONCAT, s->concat,
				   (uint32_t)strlen((const char *)s->concat));
	if (s->counters) {
		struct nftnl_expr *c = nftnl_expr_alloc("counter");
		if (!c) {
			fail_build(b, -ENOMEM, "out of memory");
			nftnl_set_free(ns);
			goto out;
		}
		nftnl_set_add_expr(ns, c);
	}
	/* nft's own listing reads the key's byte order from here (1: host,
	 * 2: big endian, as nft numbers them). */
	struct nftnl_udata_buf *ud = s->key_type < 64 ? nftnl_udata_buf_alloc(64) : NULL;
	if (ud) {
		bool host = s->key_type == 19 /* mark */ || s->key_type == 4 /* integer */ ||
			    s->key_type == 41 /* ifname */;
		nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, host ? 1 : 2);
		if ((s->flags & NFT_SET_MAP) && s->data_type != NFT_DATA_VERDICT)
			nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_DATABYTEORDER,
					    s->data_type == 19 || s->data_type == 4 ? 1 : 2);
		nftnl_set_set_data(ns, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud),
				   nftnl_udata_buf_len(ud));
		nftnl_udata_buf_free(ud);
	}
	struct nlmsghdr *nlh = msg(b, NFT_MSG_NEWSET, NLM_F_CREATE, "set", s->name);
	if (nlh) {
		nftnl_set_nlmsg_build_payload(nlh, ns);
		next(b);
	}
	nftnl_set_free(ns);
	elem_msgs(b, s, NFT_MSG_NEWSETELEM, "elements of");
out:
	gwd_nft_set_free(s);
}

void gwd_nft_add_elems(struct gwd_nft_batch *b, struct gwd_nft_set *s)
{
	if (set_usable(b, s))
		elem_msgs(b, s, NFT_MSG_NEWSETELEM, "elements of");
	gwd_nft_set_free(s);
}

void gwd_nft_del_elems(struct gwd_nft_batch *b, struct gwd_nft_set *s)
{
	if (set_usable(b, s))
		elem_msgs(b, s, NFT_MSG_DELSETELEM, "delete elements of");
	gwd_nft_set_free(s);
}

void gwd_nft_flush_set(struct gwd_nft_batch *b, const char *name)
{
	struct gwd_nft_set tmp = { 0 };
	snprintf(tmp.name, sizeof(tmp.name), "%s", name);
	struct nftnl_set *ns = set_obj(b, &tmp);
	if (!ns)
		return;
	struct nlmsghdr *nlh = msg(b, NFT_MSG_DELSETELEM, 0, "flush set", name);
	if (nlh) {
		nftnl_set_elems_nlmsg_build_payload(nlh, ns);
		next(b);
	}
	nftnl_set_free(ns);
}

void gwd_nft_del_set(struct gwd_nft_batch *b, const char *name)
{
	struct gwd_nft_set tmp = { 0 };
	snprintf(tmp.name, sizeof(tmp.name), "%s", name);
	struct nftnl_set *ns = set_obj(b, &tmp);
	if (!ns)
		return;
	struct nlmsghdr *nlh = msg(b, NFT_MSG_DELSET, 0, "delete set", name);
	if (nlh) {
		nftnl_set_nlmsg_build_payload(nlh, ns);
		next(b);
	}
	nftnl_set_free(ns);
}

/* --- objects --------------------------------------------------------------- */

static void counter_msg(struct gwd_nft_batch *b, const char *name, uint16_t type)
{
	struct nftnl_obj *o = nftnl_obj_alloc();
	if (!o) {
		fail_build(b, -ENOMEM, "out of memory");
		return;
	}
	nftnl_obj_set_str(o, NFTNL_OBJ_TABLE, b->n->table);
	nftnl_obj_set_str(o, NFTNL_OBJ_NAME, name);
	nftnl_obj_set_u32(o, NFTNL_OBJ_FAMILY, NFPROTO_INET);
	nftnl_obj_set_u32(o, NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
	struct nlmsghdr *nlh = msg(b, type, type == NFT_MSG_NEWOBJ ? NLM_F_CREATE : 0,
				   type == NFT_MSG_NEWOBJ ? "counter" : "delete counter", name);
	if (nlh) {
		nftnl_obj_nlmsg_build_payload(nlh, o);
		next(b);
	}
	nftnl_obj_free(o);
}

void gwd_nft_add_counter(struct gwd_nft_batch *b, const char *name)
{
	counter_msg(b, name, NFT_MSG_NEWOBJ);
}

void gwd_nft_del_counter(struct gwd_nft_batch *b, const char *name)
{
	counter_msg(b, name, NFT_MSG_DELOBJ);
}

/* --- rules ------------------------------------------------------------------ */

struct gwd_nft_rule *gwd_nft_rule_new(const struct gwd_nft_batch *b, const char *chain,
				      const char *comment)
{
	struct gwd_nft_rule *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->r = nftnl_rule_alloc();
	if (!r->r) {
		free(r);
		return NULL;
	}
	nftnl_rule_set_str(r->r, NFTNL_RULE_TABLE, b->n->table);
	nftnl_rule_set_str(r->r, NFTNL_RULE_CHAIN, chain);
	nftnl_rule_set_u32(r->r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	if (comment) {
		struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(NFTNL_UDATA_COMMENT_MAXLEN + 16);
		if (!ud || !nftnl_udata_put_strz(ud, NFTNL_UDATA_RULE_COMMENT, comment)) {
			r->err = -ENOMEM;
		} else {
			nftnl_rule_set_data(r->r, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(ud),
					    nftnl_udata_buf_len(ud));
		}
		nftnl_udata_buf_free(ud);
	}
	return r;
}

void gwd_nft_add_rule(struct gwd_nft_batch *b, struct gwd_nft_rule *r)
{
	if (!r) {
		fail_build(b, -ENOMEM, "out of memory");
		return;
	}
	if (r->err) {
		fail_build(b, r->err, "out of memory");
	} else {
		const char *chain = nftnl_rule_get_str(r->r, NFTNL_RULE_CHAIN);
		struct nlmsghdr *nlh = msg(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND,
					   "rule in chain", chain);
		if (nlh) {
			nftnl_rule_nlmsg_build_payload(nlh, r->r);
			next(b);
		}
	}
	nftnl_rule_free(r->r);
	free(r);
}

static struct nftnl_expr *ex(struct gwd_nft_rule *r, const char *name)
{
	if (!r || r->err)
		return NULL;
	struct nftnl_expr *e = nftnl_expr_alloc(name);
	if (!e)
		r->err = -ENOMEM;
	return e;
}

static void add(struct gwd_nft_rule *r, struct nftnl_expr *e)
{
	if (e)
		nftnl_rule_add_expr(r->r, e);
}

void gwd_nft_e_meta(struct gwd_nft_rule *r, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = ex(r, "meta");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
	add(r, e);
}

void gwd_nft_e_payload(struct gwd_nft_rule *r, uint32_t base, uint32_t off, uint32_t len,
		       uint32_t dreg)
{
	struct nftnl_expr *e = ex(r, "payload");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
	add(r, e);
}

void gwd_nft_e_cmp(struct gwd_nft_rule *r, uint32_t sreg, uint32_t op, const void *data,
		   uint32_t len)
{
	struct nftnl_expr *e = ex(r, "cmp");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, sreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	add(r, e);
}

void gwd_nft_e_cmp_u32(struct gwd_nft_rule *r, uint32_t sreg, uint32_t op, uint32_t host)
{
	gwd_nft_e_cmp(r, sreg, op, &host, sizeof(host));
}

void gwd_nft_e_cmp_u8(struct gwd_nft_rule *r, uint32_t sreg, uint32_t op, uint8_t v)
{
	gwd_nft_e_cmp(r, sreg, op, &v, 1);
}

void gwd_nft_e_range(struct gwd_nft_rule *r, uint32_t sreg, const void *lo, const void *hi,
		     uint32_t len)
{
	struct nftnl_expr *e = ex(r, "range");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_RANGE_SREG, sreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_RANGE_OP, NFT_RANGE_EQ);
	nftnl_expr_set(e, NFTNL_EXPR_RANGE_FROM_DATA, lo, len);
	nftnl_expr_set(e, NFTNL_EXPR_RANGE_TO_DATA, hi, len);
	add(r, e);
}

void gwd_nft_e_lookup(struct gwd_nft_rule *r, uint32_t sreg, const char *set, uint32_t dreg,
		      bool inv)
{
	struct nftnl_expr *e = ex(r, "lookup");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
	if (dreg != GWD_NFT_SET_ONLY)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, dreg);
	if (inv)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
	add(r, e);
}

void gwd_nft_e_imm_data(struct gwd_nft_rule *r, uint32_t dreg, const void *data, uint32_t len)
{
	struct nftnl_expr *e = ex(r, "immediate");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, dreg);
	nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, data, len);
	add(r, e);
}

void gwd_nft_e_verdict(struct gwd_nft_rule *r, int verdict, const char *chain)
{
	struct nftnl_expr *e = ex(r, "immediate");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
	if (chain)
		nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
	add(r, e);
}

void gwd_nft_e_bitwise(struct gwd_nft_rule *r, uint32_t sreg, uint32_t dreg, uint32_t len,
		       const void *mask, const void *xor_)
{
	struct nftnl_expr *e = ex(r, "bitwise");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, sreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, dreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, xor_, len);
	add(r, e);
}

void gwd_nft_e_byteorder_hton(struct gwd_nft_rule *r, uint32_t reg, uint32_t len, uint32_t size)
{
	struct nftnl_expr *e = ex(r, "byteorder");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SREG, reg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_DREG, reg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_OP, NFT_BYTEORDER_HTON);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SIZE, size);
	add(r, e);
}

void gwd_nft_e_ct(struct gwd_nft_rule *r, uint32_t key, int dir, uint32_t dreg)
{
	struct nftnl_expr *e = ex(r, "ct");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, dreg);
	if (dir >= 0)
		nftnl_expr_set_u8(e, NFTNL_EXPR_CT_DIR, (uint8_t)dir);
	add(r, e);
}

void gwd_nft_e_ct_set(struct gwd_nft_rule *r, uint32_t key, uint32_t sreg)
{
	struct nftnl_expr *e = ex(r, "ct");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_SREG, sreg);
	add(r, e);
}

void gwd_nft_e_counter(struct gwd_nft_rule *r)
{
	add(r, ex(r, "counter"));
}

void gwd_nft_e_counter_ref(struct gwd_nft_rule *r, const char *name)
{
	struct nftnl_expr *e = ex(r, "objref");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_OBJREF_IMM_TYPE, NFT_OBJECT_COUNTER);
	nftnl_expr_set_str(e, NFTNL_EXPR_OBJREF_IMM_NAME, name);
	add(r, e);
}

void gwd_nft_e_counter_map(struct gwd_nft_rule *r, uint32_t sreg, const char *map)
{
	struct nftnl_expr *e = ex(r, "objref");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_OBJREF_SET_SREG, sreg);
	nftnl_expr_set_str(e, NFTNL_EXPR_OBJREF_SET_NAME, map);
	add(r, e);
}

void gwd_nft_e_reject(struct gwd_nft_rule *r, uint32_t type, uint8_t code)
{
	struct nftnl_expr *e = ex(r, "reject");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, type);
	nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, code);
	add(r, e);
}

void gwd_nft_e_log(struct gwd_nft_rule *r, uint16_t group, const char *prefix)
{
	struct nftnl_expr *e = ex(r, "log");
	if (!e)
		return;
	nftnl_expr_set_u16(e, NFTNL_EXPR_LOG_GROUP, group);
	if (prefix)
		nftnl_expr_set_str(e, NFTNL_EXPR_LOG_PREFIX, prefix);
	add(r, e);
}

void gwd_nft_e_fib(struct gwd_nft_rule *r, uint32_t flags, uint32_t result, uint32_t dreg)
{
	struct nftnl_expr *e = ex(r, "fib");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, flags);
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, result);
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, dreg);
	add(r, e);
}

void gwd_nft_e_meter_over(struct gwd_nft_rule *r, uint32_t sreg, const char *set,
			  uint64_t bytes_per_s, uint32_t burst)
{
	struct nftnl_expr *e = ex(r, "dynset");
	struct nftnl_expr *l = ex(r, "limit");
	if (!e || !l) {
		if (e)
			nftnl_expr_free(e);
		if (l)
			nftnl_expr_free(l);
		return;
	}
	nftnl_expr_set_u64(l, NFTNL_EXPR_LIMIT_RATE, bytes_per_s);
	nftnl_expr_set_u64(l, NFTNL_EXPR_LIMIT_UNIT, 1);
	nftnl_expr_set_u32(l, NFTNL_EXPR_LIMIT_BURST, burst);
	nftnl_expr_set_u32(l, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKT_BYTES);
	nftnl_expr_set_u32(l, NFTNL_EXPR_LIMIT_FLAGS, NFT_LIMIT_F_INV);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, sreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_UPDATE);
	nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, set);
	nftnl_expr_add_expr(e, NFTNL_EXPR_DYNSET_EXPRESSIONS, l);
	add(r, e);
}

void gwd_nft_e_masq(struct gwd_nft_rule *r, uint16_t lo, uint16_t hi)
{
	if (lo) {
		uint8_t a[2] = { (uint8_t)(lo >> 8), (uint8_t)lo };
		uint8_t z[2] = { (uint8_t)(hi >> 8), (uint8_t)hi };
		gwd_nft_e_imm_data(r, NFT_REG_1, a, 2);
		gwd_nft_e_imm_data(r, NFT_REG_2, z, 2);
	}
	struct nftnl_expr *e = ex(r, "masq");
	if (!e)
		return;
	if (lo) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_MASQ_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
		nftnl_expr_set_u32(e, NFTNL_EXPR_MASQ_REG_PROTO_MIN, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_MASQ_REG_PROTO_MAX, NFT_REG_2);
	}
	add(r, e);
}

/* --- dumps ------------------------------------------------------------------ */

struct dump {
	int (*cb)(const struct nlmsghdr *nlh, void *arg);
	void *arg;
	int stop; /* a callback's nonzero return */
};

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump *d = data;
	if (d->stop)
		return MNL_CB_OK;
	int r = d->cb(nlh, d->arg);
	if (r) {
		d->stop = r;
	}
	return MNL_CB_OK;
}

/* Sends a GET request built in buf and runs cb on each answer. */
static int talk(struct gwd_nft *n, struct nlmsghdr *nlh,
		int (*cb)(const struct nlmsghdr *nlh, void *arg), void *arg)
{
	uint32_t seq = nlh->nlmsg_seq;
	if (mnl_socket_sendto(n->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	struct dump d = { cb, arg, 0 };
	char *buf = malloc(MNL_SOCKET_BUFFER_SIZE * 4);
	if (!buf)
		return -ENOMEM;
	int r;
	for (;;) {
		ssize_t got = mnl_socket_recvfrom(n->nl, buf, MNL_SOCKET_BUFFER_SIZE * 4);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		r = mnl_cb_run(buf, (size_t)got, seq, n->portid, dump_cb, &d);
		if (r <= MNL_CB_STOP) {
			r = r < 0 ? -errno : 0;
			break;
		}
	}
	free(buf);
	if (r == 0 && d.stop < 0)
		r = d.stop;
	return r;
}

static int table_cb(const struct nlmsghdr *nlh, void *arg)
{
	*(bool *)arg = true;
	return 0;
}

int gwd_nft_table_exists(struct gwd_nft *n, bool *ret)
{
	char buf[8192];
	struct nftnl_table *t = nftnl_table_alloc();
	if (!t)
		return -ENOMEM;
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, n->table);
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, NFPROTO_INET,
						     NLM_F_ACK, ++n->seq);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	bool found = false;
	int r = talk(n, nlh, table_cb, &found);
	if (r == -ENOENT) {
		*ret = false;
		return 0;
	}
	if (r < 0)
		return r;
	*ret = found;
	return 0;
}

struct chain_walk {
	const char *table;
	int (*fn)(const char *name, bool base, void *arg);
	void *arg;
};

static int chain_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct chain_walk *w = arg;
	struct nftnl_chain *c = nftnl_chain_alloc();
	if (!c)
		return -ENOMEM;
	int r = 0;
	if (nftnl_chain_nlmsg_parse(nlh, c) == 0 &&
	    !strcmp(nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE), w->table))
		r = w->fn(nftnl_chain_get_str(c, NFTNL_CHAIN_NAME),
			  nftnl_chain_is_set(c, NFTNL_CHAIN_HOOKNUM), w->arg);
	nftnl_chain_free(c);
	return r;
}

int gwd_nft_each_chain(struct gwd_nft *n, int (*fn)(const char *name, bool base, void *arg),
		       void *arg)
{
	char buf[8192];
	struct nftnl_chain *c = nftnl_chain_alloc();
	if (!c)
		return -ENOMEM;
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, n->table);
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETCHAIN, NFPROTO_INET,
						     NLM_F_DUMP, ++n->seq);
	nftnl_chain_nlmsg_build_payload(nlh, c);
	nftnl_chain_free(c);
	struct chain_walk w = { n->table, fn, arg };
	return talk(n, nlh, chain_cb, &w);
}

struct set_walk {
	const char *table;
	int (*fn)(const char *name, void *arg);
	void *arg;
};

static int set_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct set_walk *w = arg;
	struct nftnl_set *s = nftnl_set_alloc();
	if (!s)
		return -ENOMEM;
	int r = 0;
	if (nftnl_set_nlmsg_parse(nlh, s) == 0 &&
	    !strcmp(nftnl_set_get_str(s, NFTNL_SET_TABLE), w->table))
		r = w->fn(nftnl_set_get_str(s, NFTNL_SET_NAME), w->arg);
	nftnl_set_free(s);
	return r;
}

int gwd_nft_each_set(struct gwd_nft *n, int (*fn)(const char *name, void *arg), void *arg)
{
	char buf[8192];
	struct nftnl_set *s = nftnl_set_alloc();
	if (!s)
		return -ENOMEM;
	nftnl_set_set_str(s, NFTNL_SET_TABLE, n->table);
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSET, NFPROTO_INET,
						     NLM_F_DUMP, ++n->seq);
	nftnl_set_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	struct set_walk w = { n->table, fn, arg };
	return talk(n, nlh, set_cb, &w);
}

struct obj_walk {
	const char *table;
	int (*fn)(const char *name, uint64_t pkts, uint64_t bytes, void *arg);
	void *arg;
};

static int obj_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct obj_walk *w = arg;
	struct nftnl_obj *o = nftnl_obj_alloc();
	if (!o)
		return -ENOMEM;
	int r = 0;
	if (nftnl_obj_nlmsg_parse(nlh, o) == 0 &&
	    nftnl_obj_get_u32(o, NFTNL_OBJ_TYPE) == NFT_OBJECT_COUNTER &&
	    !strcmp(nftnl_obj_get_str(o, NFTNL_OBJ_TABLE), w->table))
		r = w->fn(nftnl_obj_get_str(o, NFTNL_OBJ_NAME),
			  nftnl_obj_get_u64(o, NFTNL_OBJ_CTR_PKTS),
			  nftnl_obj_get_u64(o, NFTNL_OBJ_CTR_BYTES), w->arg);
	nftnl_obj_free(o);
	return r;
}

int gwd_nft_each_counter(struct gwd_nft *n,
			 int (*fn)(const char *name, uint64_t pkts, uint64_t bytes, void *arg),
			 void *arg)
{
	char buf[8192];
	struct nftnl_obj *o = nftnl_obj_alloc();
	if (!o)
		return -ENOMEM;
	nftnl_obj_set_str(o, NFTNL_OBJ_TABLE, n->table);
	nftnl_obj_set_u32(o, NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETOBJ, NFPROTO_INET,
						     NLM_F_DUMP, ++n->seq);
	nftnl_obj_nlmsg_build_payload(nlh, o);
	nftnl_obj_free(o);
	struct obj_walk w = { n->table, fn, arg };
	return talk(n, nlh, obj_cb, &w);
}

struct one_counter {
	uint64_t pkts, bytes;
	bool found;
};

static int one_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct one_counter *c = arg;
	struct nftnl_obj *o = nftnl_obj_alloc();
	if (!o)
		return -ENOMEM;
	if (nftnl_obj_nlmsg_parse(nlh, o) == 0) {
		c->pkts = nftnl_obj_get_u64(o, NFTNL_OBJ_CTR_PKTS);
		c->bytes = nftnl_obj_get_u64(o, NFTNL_OBJ_CTR_BYTES);
		c->found = true;
	}
	nftnl_obj_free(o);
	return 0;
}

int gwd_nft_counter(struct gwd_nft *n, const char *name, uint64_t *ret_pkts, uint64_t *ret_bytes)
{
	char buf[8192];
	struct nftnl_obj *o = nftnl_obj_alloc();
	if (!o)
		return -ENOMEM;
	nftnl_obj_set_str(o, NFTNL_OBJ_TABLE, n->table);
	nftnl_obj_set_str(o, NFTNL_OBJ_NAME, name);
	nftnl_obj_set_u32(o, NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETOBJ, NFPROTO_INET,
						     NLM_F_ACK, ++n->seq);
	nftnl_obj_nlmsg_build_payload(nlh, o);
	nftnl_obj_free(o);
	struct one_counter c = { 0 };
	int r = talk(n, nlh, one_cb, &c);
	if (r < 0)
		return r;
	if (!c.found)
		return -ENOENT;
	*ret_pkts = c.pkts;
	*ret_bytes = c.bytes;
	return 0;
}

struct rule_walk {
	const char *table, *chain;
	int (*fn)(const char *comment, void *arg);
	void *arg;
};

static int rule_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct rule_walk *w = arg;
	struct nftnl_rule *r = nftnl_rule_alloc();
	if (!r)
		return -ENOMEM;
	int ret = 0;
	if (nftnl_rule_nlmsg_parse(nlh, r) == 0 &&
	    !strcmp(nftnl_rule_get_str(r, NFTNL_RULE_TABLE), w->table) &&
	    !strcmp(nftnl_rule_get_str(r, NFTNL_RULE_CHAIN), w->chain)) {
		char comment[NFTNL_UDATA_COMMENT_MAXLEN + 1] = "";
		uint32_t len = 0;
		const void *ud = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &len);
		/* The comment attribute: type, length, NUL-terminated text. */
		const uint8_t *p = ud;
		for (uint32_t at = 0; ud && at + 2 <= len;) {
			uint8_t type = p[at], l = p[at + 1];
			if (at + 2 + l > len)
				break;
			if (type == NFTNL_UDATA_RULE_COMMENT && l) {
				size_t n = l < sizeof(comment) ? l : sizeof(comment) - 1;
				memcpy(comment, p + at + 2, n);
				comment[n] = '\0';
			}
			at += 2u + l;
		}
		ret = w->fn(comment, w->arg);
	}
	nftnl_rule_free(r);
	return ret;
}

int gwd_nft_each_rule_comment(struct gwd_nft *n, const char *chain,
			      int (*fn)(const char *comment, void *arg), void *arg)
{
	char buf[8192];
	struct nftnl_rule *r = nftnl_rule_alloc();
	if (!r)
		return -ENOMEM;
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, n->table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, NFPROTO_INET,
						     NLM_F_DUMP, ++n->seq);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	nftnl_rule_free(r);
	struct rule_walk w = { n->table, chain, fn, arg };
	return talk(n, nlh, rule_cb, &w);
}

struct elem_walk {
	int (*fn)(const uint8_t *key, uint32_t len, uint64_t pkts, uint64_t bytes, void *arg);
	void *arg;
	int ret;
};

struct ctr {
	uint64_t pkts, bytes;
	bool found;
};

static int ctr_cb(struct nftnl_expr *e, void *data)
{
	struct ctr *c = data;
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
	if (name && !strcmp(name, "counter")) {
		c->pkts = nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_PACKETS);
		c->bytes = nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_BYTES);
		c->found = true;
	}
	return 0;
}

static int elem_cb(struct nftnl_set_elem *e, void *data)
{
	struct elem_walk *w = data;
	struct ctr c = { 0 };
	uint32_t len = 0;
	const void *key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);
	nftnl_set_elem_expr_foreach(e, ctr_cb, &c);
	if (!key || !c.found || w->ret)
		return 0;
	w->ret = w->fn(key, len, c.pkts, c.bytes, w->arg);
	return 0;
}

static int elems_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct nftnl_set *s = nftnl_set_alloc();
	if (!s)
		return -ENOMEM;
	if (nftnl_set_elems_nlmsg_parse(nlh, s) == 0)
		nftnl_set_elem_foreach(s, elem_cb, arg);
	nftnl_set_free(s);
	return ((struct elem_walk *)arg)->ret;
}

int gwd_nft_each_elem_counter(struct gwd_nft *n, const char *set,
			      int (*fn)(const uint8_t *key, uint32_t len, uint64_t pkts,
					uint64_t bytes, void *arg),
			      void *arg)
{
	char buf[8192];
	struct nftnl_set *s = nftnl_set_alloc();
	if (!s)
		return -ENOMEM;
	nftnl_set_set_str(s, NFTNL_SET_TABLE, n->table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, set);
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, NFPROTO_INET,
						     NLM_F_DUMP, ++n->seq);
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	struct elem_walk w = { fn, arg, 0 };
	return talk(n, nlh, elems_cb, &w);
}
