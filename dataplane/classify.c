/* SPDX-License-Identifier: MIT */
/*
 * Classification over bit-vector tables (see classify.h).
 *
 * The tables are the eBPF engine's image (ebpf/compile.h: one rule bitmap
 * per equivalence class of each packet field, deduplicated), walked here
 * the way gwbpf_classify walks them, with two differences that keep the
 * cost independent of the policy's size:
 *  - the destination's address class comes from a sorted array of
 *    disjoint intervals (one per family, built once from the image's
 *    nested prefixes) by binary search, not from a scan of the prefixes;
 *  - the AND of the field bitmaps covers only the words the policy's rules
 *    occupy ((nrules + 63) / 64, at most GWBPF_WORDS).
 * A classification is a MAC binary search, one port table index, one
 * address binary search and at most GWBPF_WORDS word operations.
 *
 * Schedules: the active-rule mask of the current minute is computed by the
 * main lcore (dp_classify_set_when, when the minute changes) and read by
 * workers under a sequence counter: the writer makes it odd, rewrites the
 * mask, makes it even; a reader that saw it odd or changed classifies
 * again.  Domain-set bits are 0 until the dataplane has a domain table.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "classify.h"
#include "compile.h"

#define IMAGE_MAX (256u << 20)

typedef unsigned __int128 u128;

/* Addresses from start up to the next entry's start are of class cls. */
struct span {
	u128 start;
	uint16_t cls;
};

struct spans {
	struct span *v;
	uint32_t n, cap;
};

struct dp_classify {
	struct pol_ir *ir;
	struct gwbpf_image *img; /* NULL without a policy */
	struct spans addr[2];    /* [0]: IPv4, [1]: IPv6 */
	unsigned nwords;
	uint32_t generation;     /* changed only by dp_classify_set_active */
	bool pinned;             /* the mask was set from outside: the clock leaves it */
	uint32_t when;           /* struct pol_when packed: wday << 16 | minute */
	uint32_t seq;            /* odd while active is being rewritten */
	struct gwbpf_bitmap active;
};

/* ------------------------------------------------------------ addresses */

static u128 addr_value(const uint8_t a[16])
{
	u128 v = 0;
	for (int i = 0; i < 16; i++)
		v = v << 8 | a[i];
	return v;
}

/* Appends (start, cls), or recolours the last entry when it starts there. */
static int spans_put(struct spans *s, u128 start, uint16_t cls)
{
	if (s->n && s->v[s->n - 1].start == start) {
		s->v[s->n - 1].cls = cls;
		return 0;
	}
	if (s->n && s->v[s->n - 1].cls == cls)
		return 0;
	if (s->n == s->cap) {
		uint32_t cap = s->cap ? 2 * s->cap : 16;
		struct span *v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = (struct span){ .start = start, .cls = cls };
	return 0;
}

struct open_pfx {
	u128 last; /* the prefix's last address */
	uint16_t cls;
};

/* The prefixes of one family cut into disjoint spans.  img->prefixes is
 * sorted by address then length, so an enclosing prefix comes before the
 * ones it holds, and prefixes either nest or are disjoint: a sweep with a
 * stack of the prefixes open at the current address does it.  An exact
 * duplicate keeps the first (as gwbpf_addr_class, which takes the first
 * longest match). */
static int build_spans(const struct gwbpf_image *img, uint8_t family, struct spans *s)
{
	struct open_pfx *stack = malloc((img->nprefixes + 1) * sizeof(*stack));
	uint32_t depth = 0;
	uint16_t miss = img->policy.addr_miss;
	int r = -ENOMEM;
	if (!stack)
		return r;
	if ((r = spans_put(s, 0, miss)) < 0)
		goto out;
	for (uint32_t i = 0; i < img->nprefixes; i++) {
		const struct gwbpf_prefix_entry *p = &img->prefixes[i];
		if (p->family != family)
			continue;
		if (i > 0 && p[-1].family == family && p[-1].plen == p->plen &&
		    !memcmp(p[-1].addr, p->addr, 16))
			continue;
		/* IPv4 sits in addr[0..3], the top 32 bits of the value. */
		u128 start = addr_value(p->addr);
		u128 host = p->plen >= 128 ? 0 : ~(u128)0 >> p->plen;
		start &= ~host;
		u128 last = start | host;
		while (depth && stack[depth - 1].last < start) {
			u128 end = stack[--depth].last;
			if ((r = spans_put(s, end + 1, depth ? stack[depth - 1].cls : miss)) < 0)
				goto out;
		}
		stack[depth++] = (struct open_pfx){ .last = last, .cls = p->bitmap };
		if ((r = spans_put(s, start, p->bitmap)) < 0)
			goto out;
	}
	while (depth) {
		u128 end = stack[--depth].last;
		if (end == ~(u128)0)
			break; /* it reaches the top of the space: nothing after it */
		if ((r = spans_put(s, end + 1, depth ? stack[depth - 1].cls : miss)) < 0)
			goto out;
	}
	r = 0;
out:
	free(stack);
	return r;
}

static uint16_t addr_class(const struct spans *s, const uint8_t a[16])
{
	u128 v = addr_value(a);
	uint32_t lo = 0, hi = s->n; /* v[0].start is 0: the answer is in [lo, hi) */
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (s->v[mid].start <= v)
			lo = mid;
		else
			hi = mid;
	}
	return s->v[lo].cls;
}

/* ------------------------------------------------------------ life */

static void publish_active(struct dp_classify *c, const struct gwbpf_bitmap *mask)
{
	__atomic_store_n(&c->seq, c->seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (unsigned i = 0; i < GWBPF_WORDS; i++)
		__atomic_store_n(&c->active.w[i], mask->w[i], __ATOMIC_RELAXED);
	__atomic_store_n(&c->seq, c->seq + 1, __ATOMIC_RELEASE);
}

static void compute_active(struct dp_classify *c, struct pol_when when)
{
	struct gwbpf_bitmap mask;
	gwbpf_active_mask(c->ir, when, &mask);
	publish_active(c, &mask);
}

int dp_classify_new(struct pol_ir *ir, uint32_t generation, struct dp_classify **ret)
{
	struct dp_classify *c = calloc(1, sizeof(*c));
	int r = -ENOMEM;
	if (!c)
		return r;
	c->generation = generation;
	if (ir) {
		r = gwbpf_image_build(ir, &c->img);
		if (r < 0)
			goto fail;
		if ((r = build_spans(c->img, 4, &c->addr[0])) < 0 ||
		    (r = build_spans(c->img, 6, &c->addr[1])) < 0)
			goto fail;
		c->nwords = (ir->nrules + 63) / 64;
		c->ir = ir;
		/* Until the main lcore sets the clock: Sunday, midnight. */
		compute_active(c, (struct pol_when){ 0 });
	}
	*ret = c;
	return 0;
fail:
	c->ir = NULL; /* the caller keeps ir on failure */
	dp_classify_free(c);
	return r;
}

void dp_classify_free(struct dp_classify *c)
{
	if (!c)
		return;
	gwbpf_image_free(c->img);
	free(c->addr[0].v);
	free(c->addr[1].v);
	pol_ir_free(c->ir);
	free(c);
}

int dp_classify_load(const char *path, uint32_t generation, struct dp_classify **ret, char *err,
		     size_t errlen)
{
	struct pol_ir *ir = NULL;
	struct dp_classify *c = NULL;
	uint8_t *buf = NULL;
	struct stat st;
	int r, fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s", strerror(errno));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t)st.st_size > IMAGE_MAX) {
		r = -EINVAL;
		snprintf(err, errlen, "not a regular file of 1 byte to %u MiB", IMAGE_MAX >> 20);
		goto out;
	}
	size_t size = (size_t)st.st_size, got = 0;
	buf = malloc(size);
	if (!buf) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			snprintf(err, errlen, "short read");
			goto out;
		}
		got += (size_t)n;
	}
	r = pol_image_load(buf, size, &ir, err, errlen);
	if (r < 0)
		goto out;
	r = dp_classify_new(ir, generation, &c);
	if (r == -E2BIG)
		snprintf(err, errlen,
			 "the policy has %u rules and %u domain sets; the classifier's tables "
			 "hold at most %u rules, %u distinct rule sets and 64 domain sets",
			 ir->nrules, ir->ndomain_sets, GWBPF_MAX_RULES, GWBPF_MAX_BITMAPS);
	else if (r < 0)
		snprintf(err, errlen, "out of memory");
	if (r < 0) {
		pol_ir_free(ir);
		goto out;
	}
	*ret = c;
out:
	free(buf);
	close(fd);
	return r;
}

uint32_t dp_classify_generation(const struct dp_classify *c)
{
	return __atomic_load_n(&c->generation, __ATOMIC_ACQUIRE);
}

uint32_t dp_classify_nrules(const struct dp_classify *c)
{
	return c->ir ? c->ir->nrules : 0;
}

bool dp_classify_pinned(const struct dp_classify *c)
{
	return c->pinned;
}

void dp_classify_set_when(struct dp_classify *c, struct pol_when when)
{
	uint32_t w = (uint32_t)when.wday << 16 | when.minute;
	if (c->pinned || w == __atomic_load_n(&c->when, __ATOMIC_RELAXED))
		return;
	__atomic_store_n(&c->when, w, __ATOMIC_RELAXED);
	if (c->ir)
		compute_active(c, when);
}

int dp_classify_set_active(struct dp_classify *c, const uint64_t *mask, uint32_t nrules,
			   uint32_t generation)
{
	if (nrules != dp_classify_nrules(c))
		return -ESTALE;
	struct gwbpf_bitmap m = { 0 };
	memcpy(m.w, mask, (nrules + 63) / 64 * sizeof(uint64_t));
	c->pinned = true;
	publish_active(c, &m);
	/* After the mask: a worker that sees the new number classifies
	 * with the new mask (a flow that caught the new mask under the old
	 * number is only decided once more). */
	__atomic_store_n(&c->generation, generation, __ATOMIC_RELEASE);
	return 0;
}

const struct pol_ir *dp_classify_ir(const struct dp_classify *c)
{
	return c->ir;
}

/* ------------------------------------------------------------ classify */

void dp_classify_flow(const struct dp_classify *c, const struct dp_classify_in *in,
		      struct dp_verdict *ret)
{
	const struct gwbpf_image *img = c->img;
	if (!img) {
		*ret = (struct dp_verdict){ .action = POL_ALLOW, .rule = POL_NONE,
					    .device = POL_NONE };
		return;
	}
	const struct gwbpf_mac_val *mv = gwbpf_image_mac(img, in->mac);
	const struct gwbpf_bitmap *subj = &img->bitmaps[mv ? mv->subject : img->policy.subj_new];
	const struct gwbpf_bitmap *proto, *port = NULL;
	switch (in->proto) {
	case IPPROTO_TCP:
		proto = &img->bitmaps[GWBPF_BM_TCP];
		port = &img->bitmaps[img->ports[in->dport]];
		break;
	case IPPROTO_UDP:
		proto = &img->bitmaps[GWBPF_BM_UDP];
		port = &img->bitmaps[img->ports[in->dport]];
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		proto = &img->bitmaps[GWBPF_BM_ICMP];
		break;
	default:
		proto = &img->bitmaps[GWBPF_BM_OTHER];
		break;
	}
	if (!port)
		port = proto; /* no port to test: AND-ing proto twice changes nothing */
	const struct gwbpf_bitmap *dst =
		&img->bitmaps[addr_class(&c->addr[in->family == 4 ? 0 : 1], in->dst)];

	*ret = (struct dp_verdict){
		.device = mv ? mv->device : POL_NONE,
		.rule = mv ? POL_RULE_DEFAULT : POL_RULE_DEFAULT_NEW,
		.action = mv ? img->policy.default_action : img->policy.default_new,
	};
	uint32_t seq;
	uint32_t rule;
again:
	rule = UINT32_MAX;
	while ((seq = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE)) & 1)
		;
	for (unsigned w = 0; w < c->nwords; w++) {
		uint64_t m = subj->w[w] & proto->w[w] & port->w[w] & dst->w[w] &
			     __atomic_load_n(&c->active.w[w], __ATOMIC_RELAXED);
		if (m) {
			rule = w * 64 + (uint32_t)__builtin_ctzll(m);
			break;
		}
	}
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (__atomic_load_n(&c->seq, __ATOMIC_RELAXED) != seq)
		goto again;
	if (rule == UINT32_MAX)
		return;
	const struct gwbpf_rule *ru = &img->rules[rule];
	ret->rule = rule;
	ret->action = ru->action;
	ret->log = !!(ru->flags & GWBPF_RULE_LOG);
	ret->rate_bps = ru->rate_bps;
}
