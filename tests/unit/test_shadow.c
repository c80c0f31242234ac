/* SPDX-License-Identifier: MIT */
/*
 * The never-matching-rule check (policy/shadow.c) against a deliberately
 * simple reference: random policies over a small world (so rules often
 * cover each other), each rule compared with every earlier one by a
 * covers() written here from docs/policy.md, on the generator's own model
 * of the rules.  The compiler must warn about exactly the rules the
 * reference finds, each naming the same first covering rule.  Then the
 * limits: the check's work is bounded (a policy built to defeat its
 * indexes gets a "stopped" warning, not minutes), a policy at the rule
 * limit with distinct destinations is checked whole, and the compiler and
 * the image loader refuse counts past the limits.
 */
#include <time.h>

#include "helpers.h"
#include "ir.h"

/* ---- the world ---------------------------------------------------------- */

#define NDEV 6
#define NPERSON 2
#define NGROUP 3
static const unsigned owner_of[NDEV] = { 0, 0, 1, 1, 9, 9 }; /* 9: none */
static const unsigned groups_of[NDEV] = { 0x1, 0x3, 0x2, 0x4, 0x5, 0 };

enum dkind { D_ANY, D_LAN, D_INTERNET, D_LIST, D_DOMAIN, D_PREFIX };

struct pfx {
	const char *text;
	uint8_t family, plen;
	uint8_t addr[16];
};

static const struct pfx pfxs[] = {
	{ "10.0.0.0/8", 4, 8, { 10 } },
	{ "10.1.0.0/16", 4, 16, { 10, 1 } },
	{ "10.1.2.0/24", 4, 24, { 10, 1, 2 } },
	{ "8.8.0.0/16", 4, 16, { 8, 8 } },
	{ "8.8.8.0/24", 4, 24, { 8, 8, 8 } },
	{ "8.0.0.0/6", 4, 6, { 8 } },    /* overlaps 10/8: not all internet */
	{ "192.168.1.0/24", 4, 24, { 192, 168, 1 } },
	{ "2001:db8::/32", 6, 32, { 0x20, 0x01, 0x0d, 0xb8 } },
	{ "2001:db8:1::/48", 6, 48, { 0x20, 0x01, 0x0d, 0xb8, 0, 1 } },
	{ "fd00::/8", 6, 8, { 0xfd } },
};
#define NPFX (sizeof(pfxs) / sizeof(pfxs[0]))
/* The default LAN (no `lan` statement). */
static const struct pfx lan[] = {
	{ "", 4, 8, { 10 } }, { "", 4, 12, { 172, 16 } }, { "", 4, 16, { 192, 168 } },
	{ "", 6, 7, { 0xfc } }, { "", 6, 10, { 0xfe, 0x80 } },
};

static const char *const doms[] = { "a.example", "b.a.example", "*.a.example", "*.x.example",
				    "c.org", "*.b.a.example", "y.x.example", "*.y.x.example" };
#define NDOM (sizeof(doms) / sizeof(doms[0]))
static const char *const lists[] = { "l0", "l1" };

struct dst {
	enum dkind kind;
	unsigned i; /* list, domain or prefix index */
};

struct ports {
	unsigned lo, hi;
};
static const struct ports portpool[] = { { 80, 80 }, { 443, 443 }, { 1, 1024 }, { 8000, 9000 },
					 { 80, 443 } };

struct rule {
	int subj;       /* POL_SUBJ_* */
	unsigned items; /* bit i: device/person/group i */
	unsigned devs;  /* the devices it means */
	unsigned protos;
	struct ports ports[2];
	unsigned nports;
	struct dst dsts[3];
	unsigned ndsts;
	int sched;      /* -1 none */
};

static unsigned rnd(unsigned n)
{
	return (unsigned)(rand() % (int)n);
}

static void gen_rule(struct rule *r, bool *domains_left)
{
	memset(r, 0, sizeof(*r));
	r->subj = (int)rnd(5);
	unsigned n = r->subj == POL_SUBJ_DEVICE ? NDEV : r->subj == POL_SUBJ_PERSON ? NPERSON
		   : r->subj == POL_SUBJ_GROUP ? NGROUP : 0;
	if (n) {
		r->items = 1u << rnd(n);
		if (rnd(2))
			r->items |= 1u << rnd(n);
	}
	for (unsigned d = 0; d < NDEV; d++) {
		bool in = (r->subj == POL_SUBJ_DEVICE && (r->items >> d & 1)) ||
			  (r->subj == POL_SUBJ_PERSON && owner_of[d] < 9 &&
			   (r->items >> owner_of[d] & 1)) ||
			  (r->subj == POL_SUBJ_GROUP && (groups_of[d] & r->items));
		r->devs |= (unsigned)in << d;
	}
	static const unsigned protos[] = { 0, 0, POL_PROTO_TCP, POL_PROTO_UDP,
					   POL_PROTO_TCP | POL_PROTO_UDP, POL_PROTO_ICMP };
	r->protos = protos[rnd(6)];
	if (!(r->protos & POL_PROTO_ICMP) && rnd(3) == 0) {
		r->nports = 1 + rnd(2);
		for (unsigned i = 0; i < r->nports; i++)
			r->ports[i] = portpool[rnd(5)];
	}
	r->ndsts = rnd(4);
	bool inline_dom = false;
	for (unsigned i = 0; i < r->ndsts; i++) {
		struct dst *d = &r->dsts[i];
		d->kind = (enum dkind)rnd(6);
		if (d->kind == D_ANY && rnd(3))
			d->kind = D_INTERNET; /* any is rare in real policies */
		if (d->kind == D_DOMAIN && !*domains_left)
			d->kind = D_PREFIX;
		d->i = rnd(d->kind == D_LIST ? 2 : d->kind == D_DOMAIN ? NDOM : NPFX);
		inline_dom |= d->kind == D_DOMAIN;
	}
	(void)inline_dom;
	r->sched = rnd(3) ? -1 : (int)rnd(2);
}

/* ---- the reference --------------------------------------------------- */

static bool pfx_contains(const struct pfx *o, const struct pfx *i)
{
	if (o->family != i->family || o->plen > i->plen)
		return false;
	for (unsigned b = 0; b < o->plen; b++)
		if ((o->addr[b / 8] ^ i->addr[b / 8]) & (0x80u >> (b % 8)))
			return false;
	return true;
}

static bool ref_in_lan(const struct pfx *p)
{
	for (size_t i = 0; i < 5; i++)
		if (pfx_contains(&lan[i], p))
			return true;
	return false;
}

static bool ref_overlaps_lan(const struct pfx *p)
{
	for (size_t i = 0; i < 5; i++)
		if (pfx_contains(&lan[i], p) || pfx_contains(p, &lan[i]))
			return true;
	return false;
}

/* "*.x" covers "*.x", "*.a.x" and "a.x"; "x" covers "x". */
static bool dom_covers(const char *e, const char *r)
{
	if (strncmp(e, "*.", 2) != 0)
		return !strcmp(e, r);
	const char *base = e + 2, *rb = strncmp(r, "*.", 2) ? r : r + 2;
	if (!strcmp(r, e))
		return true;
	size_t bl = strlen(base), rl = strlen(rb);
	return rl > bl && rb[rl - bl - 1] == '.' && !strcmp(rb + rl - bl, base);
}

static bool ref_dst_covers(const struct dst *e, const struct dst *r)
{
	switch (e->kind) {
	case D_ANY: return true;
	case D_LAN: return r->kind == D_LAN || (r->kind == D_PREFIX && ref_in_lan(&pfxs[r->i]));
	case D_INTERNET:
		return r->kind == D_INTERNET ||
		       (r->kind == D_PREFIX && !ref_overlaps_lan(&pfxs[r->i]));
	case D_LIST: return r->kind == D_LIST && r->i == e->i;
	case D_DOMAIN: return r->kind == D_DOMAIN && dom_covers(doms[e->i], doms[r->i]);
	case D_PREFIX: return r->kind == D_PREFIX && pfx_contains(&pfxs[e->i], &pfxs[r->i]);
	}
	return false;
}

static bool any_dst(const struct rule *r)
{
	for (unsigned i = 0; i < r->ndsts; i++)
		if (r->dsts[i].kind == D_ANY)
			return true;
	return r->ndsts == 0;
}

static unsigned eff_protos(const struct rule *r)
{
	return r->protos ? r->protos : r->nports ? POL_PROTO_TCP | POL_PROTO_UDP : 0;
}

static bool ref_covers(const struct rule *e, const struct rule *r)
{
	if (e->sched >= 0 && e->sched != r->sched)
		return false;
	if (e->subj == POL_SUBJ_NEW || r->subj == POL_SUBJ_NEW) {
		if (e->subj != r->subj)
			return false;
	} else if (e->subj != POL_SUBJ_ANY) {
		if (r->subj == POL_SUBJ_ANY || !r->devs || (r->devs & ~e->devs))
			return false;
	}
	unsigned ep = eff_protos(e), rp = eff_protos(r);
	if (ep && (!rp || (rp & ~ep)))
		return false;
	if (e->nports) {
		if (!r->nports)
			return false;
		for (unsigned i = 0; i < r->nports; i++) {
			bool in = false;
			for (unsigned j = 0; j < e->nports; j++)
				in |= e->ports[j].lo <= r->ports[i].lo && r->ports[i].hi <= e->ports[j].hi;
			if (!in)
				return false;
		}
	}
	if (any_dst(e))
		return true;
	if (any_dst(r))
		return false;
	for (unsigned i = 0; i < r->ndsts; i++) {
		bool in = false;
		for (unsigned j = 0; j < e->ndsts; j++)
			in |= ref_dst_covers(&e->dsts[j], &r->dsts[i]);
		if (!in)
			return false;
	}
	return true;
}

/* ---- text ------------------------------------------------------------ */

static void print_policy(FILE *f, const struct rule *rules, unsigned n)
{
	for (unsigned p = 0; p < NPERSON; p++)
		fprintf(f, "person p%u\n", p);
	for (unsigned g = 0; g < NGROUP; g++)
		fprintf(f, "group g%u\n", g);
	for (unsigned d = 0; d < NDEV; d++) {
		fprintf(f, "device d%u mac 02:00:00:00:00:%02x", d, d + 1);
		if (owner_of[d] < 9)
			fprintf(f, " owner p%u", owner_of[d]);
		for (unsigned g = 0, first = 1; g < NGROUP; g++)
			if (groups_of[d] >> g & 1) {
				fprintf(f, "%sg%u", first ? " group " : ", ", g);
				first = 0;
			}
		fprintf(f, "\n");
	}
	fprintf(f, "list l0 domains { a.example, *.c.org }\nlist l1 prefixes { 10.1.0.0/16 }\n");
	fprintf(f, "schedule s0 daily 21:00-07:00\nschedule s1 mon-fri 16:00-18:00\n");
	for (unsigned i = 0; i < n; i++) {
		const struct rule *r = &rules[i];
		static const char *const subj[] = { "any", "new", "device", "person", "group" };
		static const char prefix[] = { 0, 0, 'd', 'p', 'g' };
		fprintf(f, "rule r%u block %s", i, subj[r->subj]);
		for (unsigned k = 0, first = 1; k < 8; k++)
			if (r->items >> k & 1) {
				fprintf(f, "%s %c%u", first ? "" : ",", prefix[r->subj], k);
				first = 0;
			}
		for (unsigned k = 0; k < r->ndsts; k++) {
			const struct dst *d = &r->dsts[k];
			fprintf(f, "%s", k ? ", " : " to ");
			switch (d->kind) {
			case D_ANY: fprintf(f, "any"); break;
			case D_LAN: fprintf(f, "lan"); break;
			case D_INTERNET: fprintf(f, "internet"); break;
			case D_LIST: fprintf(f, "list %s", lists[d->i]); break;
			case D_DOMAIN: fprintf(f, "%s", doms[d->i]); break;
			case D_PREFIX: fprintf(f, "%s", pfxs[d->i].text); break;
			}
		}
		if (r->protos) {
			const char *sep = " proto ";
			if (r->protos & POL_PROTO_TCP)
				fprintf(f, "%stcp", sep), sep = ", ";
			if (r->protos & POL_PROTO_UDP)
				fprintf(f, "%sudp", sep), sep = ", ";
			if (r->protos & POL_PROTO_ICMP)
				fprintf(f, "%sicmp", sep);
		}
		for (unsigned k = 0; k < r->nports; k++) {
			fprintf(f, "%s%u", k ? ", " : " port ", r->ports[k].lo);
			if (r->ports[k].hi != r->ports[k].lo)
				fprintf(f, "-%u", r->ports[k].hi);
		}
		if (r->sched >= 0)
			fprintf(f, " during s%d", r->sched);
		fprintf(f, "\n");
	}
	fprintf(f, "default allow\n");
}

/* The compiler's never-match warnings: found[r] = the covering rule + 1. */
static void compiler_says(const char *text, unsigned n, unsigned *found)
{
	struct pol_unit *u = NULL;
	assert_int_equal(pol_compile("t.gw", text, strlen(text), POL_F_NO_FILES, &u), 0);
	if (pol_unit_errors(u)) {
		pol_unit_render_diags(u, stderr);
		fail_msg("the generated policy does not compile:\n%s", text);
	}
	memset(found, 0, n * sizeof(*found));
	for (size_t i = 0; i < pol_unit_ndiags(u); i++) {
		const struct pol_diag *g = pol_unit_diag(u, i);
		unsigned r, e;
		assert_false(strstr(g->message, "stopped"));
		if (sscanf(g->message, "rule 'r%u' can never match", &r) != 1)
			continue;
		assert_non_null(g->note_msg);
		assert_int_equal(sscanf(g->note_msg, "rule 'r%u' matches", &e), 1);
		assert_true(r < n && e < r);
		found[r] = e + 1;
	}
	pol_unit_free(u);
}

static void test_against_reference(void **state)
{
	srand(1234);
	unsigned warned = 0;
	for (int iter = 0; iter < 300; iter++) {
		unsigned n = 20 + rnd(100);
		struct rule rules[120];
		unsigned sets = 1; /* l0 */
		for (unsigned i = 0; i < n; i++) {
			bool domains_left = sets < 60;
			gen_rule(&rules[i], &domains_left);
			for (unsigned k = 0; k < rules[i].ndsts; k++)
				if (rules[i].dsts[k].kind == D_DOMAIN) {
					sets++;
					break;
				}
		}
		char *text = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&text, &len);
		assert_non_null(f);
		print_policy(f, rules, n);
		fclose(f);
		unsigned found[120];
		compiler_says(text, n, found);
		for (unsigned r = 0; r < n; r++) {
			unsigned want = 0;
			for (unsigned e = 0; e < r && !want; e++)
				if (ref_covers(&rules[e], &rules[r]))
					want = e + 1;
			if (found[r] != want)
				fail_msg("iteration %d, rule r%u: the compiler says %d, the reference "
					 "%d (covering rule + 1)\n%s", iter, r, found[r], want, text);
			warned += want != 0;
		}
		free(text);
	}
	/* The world is small on purpose: many rules are covered. */
	assert_true(warned > 1000);
}

/* ---- work and limits ------------------------------------------------------ */

static char *big_policy(unsigned n, bool distinct_ports)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	fprintf(f, "device tv mac 02:00:00:00:00:09\n");
	for (unsigned i = 0; i < n; i++) {
		if (distinct_ports)
			fprintf(f, "rule r%u block device tv to internet port %u\n", i, 1 + i);
		else
			fprintf(f, "rule r%u block device tv to %u.%u.%u.0/24\n", i, 11 + i / 65536,
				i / 256 % 256, i % 256);
	}
	fprintf(f, "default allow\n");
	fclose(f);
	return text;
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void test_work_is_bounded(void **state)
{
	/* 16 384 rules on one device, each to its own prefix: checked whole. */
	char *text = big_policy(POL_MAX_RULES, false);
	unsigned errors;
	double t0 = now_s();
	char *diags = compile_diags(text, &errors);
	double t = now_s() - t0;
	assert_int_equal(errors, 0);
	assert_null(strstr(diags, "stopped"));
	assert_null(strstr(diags, "can never match"));
	print_message("distinct prefixes: %.2f s\n", t);
	free(diags);
	free(text);
	/* The same device and destination, each rule its own port: both
	 * indexes give every earlier rule, so the budget ends the check. */
	text = big_policy(POL_MAX_RULES, true);
	t0 = now_s();
	diags = compile_diags(text, &errors);
	t = now_s() - t0;
	assert_int_equal(errors, 0);
	assert_contains(diags, "the check for rules that can never match stopped at rule 'r");
	/* The bound is in steps, not time (so it holds under qemu too): here
	 * well under a second, where comparing every pair took minutes. */
	print_message("distinct ports: %.2f s\n", t);
	free(diags);
	free(text);
}

static void test_limits_refused(void **state)
{
	unsigned errors;
	char *text = big_policy(POL_MAX_RULES + 1, false);
	char *diags = compile_diags(text, &errors);
	assert_int_equal(errors, 1);
	assert_contains(diags, "error: too many rules: at most 16384");
	assert_contains(diags, "rule r16384 block");
	free(diags);
	free(text);
	/* Devices, MACs, windows of one schedule. */
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	for (unsigned i = 0; i <= POL_MAX_DEVICES; i++)
		fprintf(f, "device d%u mac 02:00:00:%02x:%02x:%02x, 06:00:00:%02x:%02x:%02x,"
			   " 0a:00:00:%02x:%02x:%02x, 0e:00:00:%02x:%02x:%02x, 12:00:00:%02x:%02x:%02x\n",
			i, i >> 16, i >> 8 & 255, i & 255, i >> 16, i >> 8 & 255, i & 255, i >> 16,
			i >> 8 & 255, i & 255, i >> 16, i >> 8 & 255, i & 255, i >> 16,
			i >> 8 & 255, i & 255);
	fprintf(f, "schedule s {\n");
	for (unsigned i = 0; i <= POL_MAX_SCHEDULE_WINDOWS; i++)
		fprintf(f, "  mon %02u:%02u-%02u:%02u\n", i / 60 * 2, i % 60, i / 60 * 2 + 1,
			i % 60);
	fprintf(f, "}\nrule x block any during s\ndefault allow\n");
	fclose(f);
	diags = compile_diags(buf, &errors);
	assert_contains(diags, "error: too many devices: at most 4096");
	assert_contains(diags, "error: too many MAC addresses: at most 16384");
	assert_contains(diags, "error: too many windows in one schedule: at most 64");
	free(diags);
	free(buf);
}

/* An image whose header claims more rules than the limit is refused before
 * its tables are read (the checksum is right: only the count is wrong). */
static void test_image_counts_refused(void **state)
{
	struct pol_unit *u = NULL;
	const char *text = "rule a block any\ndefault allow\n";
	assert_int_equal(pol_compile("t.gw", text, strlen(text), POL_F_NO_FILES, &u), 0);
	const void *img;
	size_t size;
	assert_int_equal(pol_unit_image(u, &img, &size), 0);
	uint8_t *copy = malloc(size);
	assert_non_null(copy);
	memcpy(copy, img, size);
	struct pol_image_header *h = (struct pol_image_header *)copy;
	h->sections[POL_SEC_RULES].count = POL_MAX_RULES + 1; /* little-endian host */
	h->checksum = 0;
	h->checksum = pol_crc32(copy, size, 0);
	struct pol_ir *ir = NULL;
	char err[256] = "";
	assert_int_equal(pol_image_load(copy, size, &ir, err, sizeof(err)), -EINVAL);
	assert_contains(err, "rules: 16385 entries, at most 16384");
	free(copy);
	pol_unit_free(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_against_reference),
		cmocka_unit_test(test_work_is_bounded),
		cmocka_unit_test(test_limits_refused),
		cmocka_unit_test(test_image_counts_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
