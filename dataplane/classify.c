/* SPDX-License-Identifier: MIT */
/*
 * Classification over bit-vector tables (see classify.h).
 *
 * The tables are the policy's bit-vector tables (policy/tables.h: one rule
 * bitmap per equivalence class of each packet field, deduplicated), walked
 * here the way pol_tables_classify walks them, with differences that keep
 * the cost independent of the policy's size:
 *  - the destination's address class comes from a sorted array of
 *    disjoint intervals (one per family, built once from the image's
 *    nested prefixes) by binary search, not from a scan of the prefixes;
 *  - the AND of the field bitmaps covers only the words the policy's rules
 *    occupy ((nrules + 63) / 64), and of those only the words where every
 *    field's bitmap has a rule (a summary bit per word, built at load:
 *    aggregated bit vectors), and of the summary's words (one per 4 096
 *    rules) only those every field has a bit in (a top mask per bitmap:
 *    a policy past 4 096 rules costs a flow what a smaller one does when
 *    one field names few rules, as the destination of the dataplane
 *    bench's last rule); a destination's domain sets are OR'ed in only
 *    on those words, not on whole rows;
 *  - the tables are built for up to DP_CLASSIFY_MAX_RULES rules, more
 *    than the eBPF maps hold.
 * A classification is a MAC hash lookup, one port table index, one
 * address binary search and at most (nrules + 63) / 64 word operations
 * (for each domain set of the destination, as many more).
 *
 * Schedules: the active-rule mask of the current minute is computed by the
 * main lcore (dp_classify_set_when, when the minute changes) and read by
 * workers under a sequence counter: the writer makes it odd, rewrites the
 * mask, makes it even; a reader that saw it odd or changed classifies
 * again.  Domain sets: the caller looks the destination up in the domain
 * table (domain.h) and passes its bits; each bit ORs that set's rule
 * bitmap into the destination's, as pol_tables_classify does.  Runtime device
 * bindings (devices.h, DEVICE_SET): a MAC the bindings hold is that
 * device, with the subject bitmap of the device's MACs in the image,
 * before the image's MAC table is asked.
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
#include "devices.h"
#include "tables.h"

#define IMAGE_MAX (256u << 20)

typedef unsigned __int128 u128;

#define TOP4_BITS 12
#define TOP4 (1u << TOP4_BITS)

/* A declared MAC (key: the MAC as an integer, byte 0 highest, shifted
 * left by 16, with bit 0 set: 0 is an empty slot), its device and its
 * subject bitmap (img->macs' entry). */
struct mac_slot {
	uint64_t key;
	uint32_t device;
	uint16_t subject;
	uint16_t pad;
};
_Static_assert(sizeof(struct mac_slot) == 16, "a MAC slot is a quarter of a line");

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
	struct pol_tables *img; /* NULL without a policy */
	struct spans addr[2];    /* [0]: IPv4, [1]: IPv6 */
	/* addr[0] again, its starts as 32-bit addresses (IPv4 spans start
	 * on whole IPv4 addresses) apart from their classes: a search reads
	 * a quarter of the cache lines the 32-byte spans take. */
	uint32_t *start4;
	uint16_t *cls4;
	/* [TOP4 + 1]: top4[t] is the span holding the first address whose
	 * top TOP4_BITS bits are t (top4[TOP4]: the last span), so an
	 * address's span is between top4[t] and top4[t + 1]: the binary
	 * search starts on a few spans, not all of them. */
	uint32_t *top4;
	/* img->macs as an open-addressing hash (linear probing, at most
	 * half full): a MAC's slot is one 16-byte read, usually the first. */
	struct mac_slot *macs;
	unsigned mac_bits; /* 1 << mac_bits slots */
	/* [ir->ndevices]: each device's subject bitmap index in the image (of
	 * its MACs' entries), or UINT32_MAX for a device without a MAC */
	uint32_t *dev_subject;
	uint32_t ndevices;
	/* Runtime bindings (DEVICE_SET), swapped whole by the agent; NULL:
	 * none.  Freed with this generation. */
	struct dp_devtab *bindings;
	unsigned nwords;
	/* Aggregated bit vectors, a row of 1 + swords words per bitmap i
	 * from summary + i * (1 + swords): bit w % 64 of the row's word
	 * 1 + w / 64 is set when word w of bitmap i has a rule, and bit s of
	 * its word 0 (the top mask) when its summary word s is not zero.
	 * The AND of the fields' top masks and summaries names the only
	 * words where all of them can have a rule in common, so a flow that
	 * no rule (or few) can match reads few of its rows' words. */
	uint64_t *summary;
	unsigned swords;
	uint32_t generation;     /* changed by dp_classify_set_active and _renumber */
	uint32_t base_generation; /* the one it was built with */
	uint64_t domain_mask;    /* domain sets some rule uses */
	bool pinned;             /* the mask was set from outside: the clock leaves it */
	uint64_t pinned_until_ms; /* when the pin comes off (0: never) */
	uint32_t when;           /* struct pol_when packed: wday << 16 | minute */
	uint32_t seq;            /* odd while active is being rewritten */
	uint64_t active[DP_CLASSIFY_MAX_RULES / 64];
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
 * duplicate keeps the first (as pol_tables_addr_class, which takes the first
 * longest match). */
static int build_spans(const struct pol_tables *img, uint8_t family, struct spans *s)
{
	struct open_pfx *stack = malloc((img->nprefixes + 1) * sizeof(*stack));
	uint32_t depth = 0;
	uint16_t miss = img->head.addr_miss;
	int r = -ENOMEM;
	if (!stack)
		return r;
	if ((r = spans_put(s, 0, miss)) < 0)
		goto out;
	for (uint32_t i = 0; i < img->nprefixes; i++) {
		const struct pol_tables_prefix *p = &img->prefixes[i];
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

static int build_summary(struct dp_classify *c)
{
	const struct pol_tables *img = c->img;
	uint32_t rows = img->head.nbitmaps;
	c->swords = (c->nwords + 63) / 64;
	_Static_assert(DP_CLASSIFY_MAX_RULES / 64 / 64 <= 64, "the top mask is one word");
	size_t stride = 1 + c->swords;
	c->summary = calloc((size_t)(rows ? rows : 1) * stride, sizeof(*c->summary));
	if (!c->summary)
		return -ENOMEM;
	for (uint32_t i = 0; i < rows; i++) {
		const uint64_t *r = pol_tables_row(img, i);
		uint64_t *sr = c->summary + (size_t)i * stride;
		for (unsigned w = 0; w < c->nwords; w++) {
			if (!r[w])
				continue;
			sr[1 + w / 64] |= 1ull << (w % 64);
			sr[0] |= 1ull << (w / 64);
		}
	}
	return 0;
}

static int build_start4(struct dp_classify *c)
{
	const struct spans *s = &c->addr[0];
	c->start4 = malloc((s->n ? s->n : 1) * sizeof(*c->start4));
	c->cls4 = malloc((s->n ? s->n : 1) * sizeof(*c->cls4));
	if (!c->start4 || !c->cls4)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->n; i++) {
		c->start4[i] = (uint32_t)(s->v[i].start >> 96);
		c->cls4[i] = s->v[i].cls;
	}
	c->top4 = malloc((TOP4 + 1) * sizeof(*c->top4));
	if (!c->top4)
		return -ENOMEM;
	/* start4[0] is 0 and the starts increase. */
	uint32_t i = 0;
	for (uint32_t t = 0; t < TOP4; t++) {
		uint32_t first = t << (32 - TOP4_BITS);
		while (i + 1 < s->n && c->start4[i + 1] <= first)
			i++;
		c->top4[t] = i;
	}
	c->top4[TOP4] = s->n ? s->n - 1 : 0;
	return 0;
}

static uint16_t addr_class4(const struct dp_classify *c, const uint8_t a[4])
{
	uint32_t v = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
	const uint32_t *st = c->start4;
	uint32_t t = v >> (32 - TOP4_BITS);
	/* st[lo] <= v: the answer is in [lo, lo + n) */
	uint32_t lo = c->top4[t], n = c->top4[t + 1] - lo + 1;
	while (n > 1) {
		uint32_t half = n / 2;
		lo = st[lo + half] <= v ? lo + half : lo;
		n -= half;
	}
	return c->cls4[lo];
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

/* ------------------------------------------------------------ MACs */

static uint64_t mac_value(const uint8_t mac[6])
{
	uint64_t v = 0;
	for (int i = 0; i < 6; i++)
		v = v << 8 | mac[i];
	return v;
}

static unsigned mac_slot_of(uint64_t key, unsigned bits)
{
	/* Multiply-shift: the top bits of the product. */
	return (unsigned)((key * 0x9e3779b97f4a7c15ull) >> (64 - bits));
}

static int build_macs(struct dp_classify *c)
{
	const struct pol_tables *img = c->img;
	unsigned bits = 3;
	while ((1u << bits) < 2 * img->nmacs)
		bits++;
	c->mac_bits = bits;
	c->macs = calloc(1u << bits, sizeof(*c->macs));
	if (!c->macs)
		return -ENOMEM;
	unsigned mask = (1u << bits) - 1;
	for (uint32_t i = 0; i < img->nmacs; i++) {
		uint64_t key = mac_value(img->macs[i].mac) << 16 | 1;
		unsigned h = mac_slot_of(key, bits);
		/* img->macs is unique: no key is there already. */
		while (c->macs[h].key)
			h = (h + 1) & mask;
		c->macs[h] = (struct mac_slot){ .key = key, .device = img->macs[i].device,
						.subject = img->macs[i].subject };
	}
	/* Every MAC of a device has the device's subject bitmap. */
	c->dev_subject = malloc((c->ndevices ? c->ndevices : 1) * sizeof(*c->dev_subject));
	if (!c->dev_subject)
		return -ENOMEM;
	for (uint32_t d = 0; d < c->ndevices; d++)
		c->dev_subject[d] = UINT32_MAX;
	for (uint32_t i = 0; i < img->nmacs; i++)
		if (img->macs[i].device < c->ndevices)
			c->dev_subject[img->macs[i].device] = img->macs[i].subject;
	return 0;
}

/* pol_tables_mac through the hash: the MAC's slot, or NULL (never seen). */
static const struct mac_slot *mac_find(const struct dp_classify *c, const uint8_t mac[6])
{
	uint64_t key = mac_value(mac) << 16 | 1;
	unsigned mask = (1u << c->mac_bits) - 1;
	/* At most half full: an empty slot ends every probe.  Only the
	 * policy's MACs are in it, so a sender's MAC cannot make a probe
	 * longer than the longest run of the policy's own. */
	for (unsigned h = mac_slot_of(key, c->mac_bits);; h = (h + 1) & mask) {
		const struct mac_slot *s = &c->macs[h];
		if (s->key == key)
			return s;
		if (!s->key)
			return NULL;
	}
}

/* ------------------------------------------------------------ life */

/* mask: c->nwords words. */
static void publish_active(struct dp_classify *c, const uint64_t *mask)
{
	__atomic_store_n(&c->seq, c->seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (unsigned i = 0; i < c->nwords; i++)
		__atomic_store_n(&c->active[i], mask[i], __ATOMIC_RELAXED);
	__atomic_store_n(&c->seq, c->seq + 1, __ATOMIC_RELEASE);
}

static void compute_active(struct dp_classify *c, struct pol_when when)
{
	uint64_t mask[DP_CLASSIFY_MAX_RULES / 64] = { 0 };
	pol_active_rules(c->ir, when, mask); /* (nrules + 63) / 64 words */
	publish_active(c, mask);
}

int dp_classify_new(struct pol_ir *ir, uint32_t generation, struct dp_classify **ret)
{
	struct dp_classify *c = calloc(1, sizeof(*c));
	int r = -ENOMEM;
	if (!c)
		return r;
	c->generation = generation;
	c->base_generation = generation;
	if (ir) {
		for (uint32_t i = 0; i < ir->ndsts; i++)
			if (ir->dsts[i].kind == POL_DST_DOMAINS && ir->dsts[i].index < 64)
				c->domain_mask |= 1ull << ir->dsts[i].index;
		c->ndevices = ir->ndevices;
		r = pol_tables_build(ir, DP_CLASSIFY_MAX_RULES, POL_TABLES_MAX_BITMAPS, &c->img);
		if (r < 0)
			goto fail;
		if ((r = build_spans(c->img, 4, &c->addr[0])) < 0 ||
		    (r = build_spans(c->img, 6, &c->addr[1])) < 0 || (r = build_macs(c)) < 0 ||
		    (r = build_start4(c)) < 0)
			goto fail;
		c->nwords = (ir->nrules + 63) / 64;
		if ((r = build_summary(c)) < 0)
			goto fail;
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
	pol_tables_free(c->img);
	free(c->addr[0].v);
	free(c->addr[1].v);
	free(c->macs);
	free(c->dev_subject);
	dp_devtab_free(c->bindings);
	free(c->start4);
	free(c->cls4);
	free(c->top4);
	free(c->summary);
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
			 ir->nrules, ir->ndomain_sets, DP_CLASSIFY_MAX_RULES, UINT16_MAX);
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

int dp_classify_pin(struct dp_classify *c, const uint64_t *mask, uint32_t nrules,
		    uint64_t until_ms, uint32_t generation)
{
	if (nrules != dp_classify_nrules(c))
		return -ESTALE;
	/* The mask pinned already: flows were decided under it, so no new
	 * generation.  (A mask the clock set is pinned anew: flows decided
	 * before the clock moved it are decided again.) */
	if (c->pinned && !memcmp(c->active, mask, c->nwords * sizeof(uint64_t))) {
		c->pinned_until_ms = until_ms;
		return 0;
	}
	int r = dp_classify_set_active(c, mask, nrules, generation);
	c->pinned_until_ms = until_ms;
	return r < 0 ? r : 1;
}

bool dp_classify_pin_expire(struct dp_classify *c, uint64_t now_ms, struct pol_when when,
			    uint32_t generation)
{
	if (!c->pinned || !c->pinned_until_ms || now_ms < c->pinned_until_ms)
		return false;
	c->pinned = false;
	c->pinned_until_ms = 0;
	__atomic_store_n(&c->when, (uint32_t)when.wday << 16 | when.minute, __ATOMIC_RELAXED);
	if (c->ir)
		compute_active(c, when);
	__atomic_store_n(&c->generation, generation, __ATOMIC_RELEASE);
	return true;
}

int dp_classify_set_active(struct dp_classify *c, const uint64_t *mask, uint32_t nrules,
			   uint32_t generation)
{
	if (nrules != dp_classify_nrules(c))
		return -ESTALE;
	c->pinned = true;
	c->pinned_until_ms = 0;
	publish_active(c, mask);
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

uint32_t dp_classify_base_generation(const struct dp_classify *c)
{
	return c->base_generation;
}

uint64_t dp_classify_domain_mask(const struct dp_classify *c)
{
	return c->domain_mask;
}

void dp_classify_renumber(struct dp_classify *c, uint32_t generation)
{
	__atomic_store_n(&c->generation, generation, __ATOMIC_RELEASE);
}

uint64_t dp_classify_rate(const struct dp_classify *c, uint32_t rule)
{
	if (!c->img || rule >= c->img->head.nrules)
		return 0;
	const struct pol_tables_rule *ru = &c->img->rules[rule];
	return ru->flags & POL_TABLES_RULE_RATE ? ru->rate_bps : 0;
}

uint32_t dp_classify_device(const struct dp_classify *c, const uint8_t mac[6])
{
	const struct dp_devtab *b = __atomic_load_n(&c->bindings, __ATOMIC_ACQUIRE);
	uint32_t d = b ? dp_devtab_find(b, mac) : POL_NONE;
	if (d != POL_NONE)
		return d;
	const struct mac_slot *mv = c->img ? mac_find(c, mac) : NULL;
	return mv ? mv->device : POL_NONE;
}

uint32_t dp_classify_ndevices(const struct dp_classify *c)
{
	return c->img ? c->ndevices : 0;
}

bool dp_classify_bindable(const struct dp_classify *c, uint32_t device)
{
	return c->img && device < c->ndevices && c->dev_subject[device] != UINT32_MAX;
}

const struct dp_devtab *dp_classify_bindings(const struct dp_classify *c)
{
	return c->bindings;
}

struct dp_devtab *dp_classify_swap_bindings(struct dp_classify *c, struct dp_devtab *t)
{
	struct dp_devtab *old = c->bindings;
	__atomic_store_n(&c->bindings, t, __ATOMIC_RELEASE);
	return old;
}

/* ------------------------------------------------------------ classify */

/* Bitmap i of the tables (img->words u64). */
static inline const uint64_t *row(const struct pol_tables *img, uint32_t i)
{
	return pol_tables_row(img, i);
}

/* Bitmap i's top mask, then its summary (c->swords words). */
static inline const uint64_t *srow(const struct dp_classify *c, uint32_t i)
{
	return c->summary + (size_t)i * (1 + c->swords);
}

/* Word w of the destination's bitmap: its address class's (rows[0]) OR'ed
 * with its domain sets' (rows[1..n)). */
static inline uint64_t dst_word(const uint64_t *const *rows, unsigned n, unsigned w)
{
	uint64_t x = rows[0][w];
	for (unsigned k = 1; k < n; k++)
		x |= rows[k][w];
	return x;
}

void dp_classify_flow(const struct dp_classify *c, const struct dp_classify_in *in,
		      struct dp_verdict *ret)
{
	const struct pol_tables *img = c->img;
	if (!img) {
		/* No policy yet: closed (the flow's packets are dropped as
		 * no_policy), until one is loaded. */
		*ret = (struct dp_verdict){ .action = POL_BLOCK, .rule = POL_NONE,
					    .device = POL_NONE };
		return;
	}
	const struct mac_slot *mv = NULL;
	const struct dp_devtab *bt = __atomic_load_n(&c->bindings, __ATOMIC_ACQUIRE);
	uint32_t device = bt ? dp_devtab_find(bt, in->mac) : POL_NONE;
	uint32_t subject;
	if (device != POL_NONE) {
		subject = c->dev_subject[device]; /* the agent binds only to these */
	} else {
		mv = mac_find(c, in->mac);
		device = mv ? mv->device : POL_NONE;
		subject = mv ? mv->subject : img->head.subj_new;
	}
	const bool known = device != POL_NONE;
	uint32_t iproto, iport = UINT32_MAX;
	switch (in->proto) {
	case IPPROTO_TCP:
		iproto = POL_TABLES_BM_TCP;
		iport = img->ports[in->dport];
		break;
	case IPPROTO_UDP:
		iproto = POL_TABLES_BM_UDP;
		iport = img->ports[in->dport];
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		iproto = POL_TABLES_BM_ICMP;
		break;
	default:
		iproto = POL_TABLES_BM_OTHER;
		break;
	}
	if (iport == UINT32_MAX)
		iport = iproto; /* no port to test: AND-ing proto twice changes nothing */
	uint32_t idst = in->family == 4 ? addr_class4(c, in->dst) :
					  addr_class(&c->addr[1], in->dst);
	const uint64_t *subj = row(img, subject), *proto = row(img, iproto),
		       *port = row(img, iport);
	const uint64_t *ssubj = srow(c, subject), *sproto = srow(c, iproto),
		       *sport = srow(c, iport);
	/* The destination: its address class, and each domain set's bitmap
	 * OR'ed in (a rule's destinations are alternatives). */
	const uint64_t *dst[65], *sdst[65];
	unsigned ndst = 1;
	dst[0] = row(img, idst);
	sdst[0] = srow(c, idst);
	for (uint64_t sets = in->domain_sets & c->domain_mask; sets; sets &= sets - 1) {
		uint32_t i = POL_TABLES_BM_DOMAIN0 + (uint32_t)__builtin_ctzll(sets);
		dst[ndst] = row(img, i);
		sdst[ndst++] = srow(c, i);
	}

	*ret = (struct dp_verdict){
		.device = device,
		.rule = known ? POL_RULE_DEFAULT : POL_RULE_DEFAULT_NEW,
		.action = known ? img->head.default_action : img->head.default_new,
	};
	/* The summary words every field has a bit in (a policy of up to
	 * 4 096 rules has one summary word: no need to look). */
	uint64_t top = c->swords;
	if (top > 1)
		top = ssubj[0] & sproto[0] & sport[0] & dst_word(sdst, ndst, 0);
	uint32_t seq;
	uint32_t rule;
again:
	rule = UINT32_MAX;
	while ((seq = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE)) & 1)
		;
	/* Only the words every field's summary has, lowest first (the
	 * first rule that matches decides). */
	for (uint64_t t = top; t && rule == UINT32_MAX; t &= t - 1) {
		unsigned s = (unsigned)__builtin_ctzll(t);
		for (uint64_t cand = ssubj[1 + s] & sproto[1 + s] & sport[1 + s] &
				     dst_word(sdst, ndst, 1 + s);
		     cand; cand &= cand - 1) {
			unsigned w = s * 64 + (unsigned)__builtin_ctzll(cand);
			uint64_t m = subj[w] & proto[w] & port[w] & dst_word(dst, ndst, w) &
				     __atomic_load_n(&c->active[w], __ATOMIC_RELAXED);
			if (m) {
				rule = w * 64 + (uint32_t)__builtin_ctzll(m);
				break;
			}
		}
	}
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (__atomic_load_n(&c->seq, __ATOMIC_RELAXED) != seq)
		goto again;
	if (rule == UINT32_MAX)
		return;
	const struct pol_tables_rule *ru = &img->rules[rule];
	ret->rule = rule;
	ret->action = ru->action;
	ret->log = !!(ru->flags & POL_TABLES_RULE_LOG);
	ret->rate_bps = ru->rate_bps;
}
