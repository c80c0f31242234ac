/* SPDX-License-Identifier: MIT */
/*
 * gw-bench-ebpf: the XDP classifier's own cost per packet, through
 * bpf_prog_test_run_opts, against the floor of any stateful classifier
 * (bench_floor.bpf.c: parse, one lookup of the 5-tuple in a BPF hash map,
 * one counter add, an insert on a miss), both above a one-instruction
 * XDP_PASS program loaded in the same run (tools/gw bench ebpf;
 * docs/performance.md says how to read it).  What the test-run harness
 * costs (5 ns a packet on one host, 26 on another) is in all three and
 * cancels: gw's own cost is gw - XDP_PASS, the floor's floor - XDP_PASS,
 * and their ratio is what the targets bound.  Not a test: it asserts only
 * that each case takes the path it claims to measure, and prints PASS or
 * FAIL against each target.
 *
 * For policies of 10, 1 000 and 4 096 rules whose deciding rule is the
 * last one (the first-set-bit search walks every word):
 *   established  one packet of a cached flow, repeat = REPEAT in
 *                EST_CALLS calls; the kernel's own per-repeat figure
 *                (run_repeat), XDP_PASS, the floor and the cases taking
 *                turns call by call
 *   new          distinct 5-tuples: through a tail-call wrapper that gives
 *                every repeat of a call its own source address (calls of
 *                NEW_PER repeats), and one call each (repeat = 1); each
 *                packet misses gw_flows, is classified, inserted, and
 *                raises a NEW event (drained between calls, untimed); the
 *                floor inserts its flow; the tables are emptied after each
 *                case's trial (untimed)
 * Trials are interleaved (every case once per round, TRIALS rounds); the
 * medians are printed.
 *
 * Warm tables, as a router's are after a while.  On some hosts the first
 * access to each 4 KiB page of a map through the kernel's mapping is far
 * dearer than a cache miss (on the PVM guests of docs/performance.md,
 * 5-12 us: a shadow page-table fault the hypervisor serves), once per
 * page.  A fresh 262 144-flow table is 8 192 pages, and a trial's few
 * thousand random inserts would land mostly on untouched pages, timing
 * the host's paging rather than the program.  So before the trials every
 * page of each gw_flows is read once through the kernel
 * (BPF_MAP_LOOKUP_BATCH), and the floor's hash map is filled to capacity
 * and emptied in its bucket order: every bucket and element touched, and
 * its free list left scattered over the map as a router's is once flows
 * have ended in no particular order (a fresh map's free list hands out
 * elements one after another in memory, which only a new map does).  All
 * untimed.  What fresh tables cost is printed beside it: one pass of new
 * flows into each table before it is warmed (first use), not a target.
 *
 * Targets (issue 14): at 4 096 rules, gw's own cost per established packet
 * at most 1.3 times the floor's, and per new flow at most 1.5 times the
 * floor's cost of inserting a flow.
 *
 *   gw-bench-ebpf [--quick] [--flows N] [--dense-floor]
 *   (N: the flow table's size, ebpf_flows; --dense-floor: the floor's free
 *   list as a new map's, see warm_floor())
 */
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "bench_floor.skel.h"
#include "image.h"
#include "loader.h"
#include "policy.h"

#define EST_TARGET 1.3 /* gw's own cost per established packet / the floor's */
#define NEW_TARGET 1.5 /* gw's own cost per new flow / the floor's insert */

static const uint8_t bench_mac[6] = { 2, 0xbe, 0, 0, 0, 1 };

struct frame {
	uint8_t b[64];
	uint32_t len;
};

/* A TCP ACK from the bench device to 203.0.113.dst:443 from sport. */
static void frame(struct frame *f, uint16_t sport, uint8_t dst)
{
	uint8_t *b = f->b;
	memset(b, 0, sizeof(f->b));
	memcpy(b, "\x02\xaa\xaa\xaa\xaa\xaa", 6);
	memcpy(b + 6, bench_mac, 6);
	b[12] = 0x08;
	uint8_t *ip = b + 14;
	ip[0] = 0x45;
	ip[3] = 40;
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, "\x0a\x00\x00\x02", 4);
	memcpy(ip + 16, "\xcb\x00\x71", 3);
	ip[19] = dst;
	uint8_t *t = ip + 20;
	t[0] = (uint8_t)(sport >> 8);
	t[1] = (uint8_t)sport;
	t[2] = 443 >> 8;
	t[3] = 443 & 0xff;
	t[12] = 0x50;
	t[13] = 0x10;
	f->len = 54;
}

/* A household of about rules/10 devices; every rule but the last names
 * other destinations; the last allows the bench device's packets. */
static char *policy_text(unsigned rules)
{
	size_t cap = 256 + (size_t)rules * 120, n = 0;
	char *s = malloc(cap);
	unsigned ndev = rules / 10 ? rules / 10 : 1;
	if (!s)
		return NULL;
	n += (size_t)snprintf(s + n, cap - n, "device bench mac 02:be:00:00:00:01\n");
	for (unsigned d = 0; d < ndev; d++)
		n += (size_t)snprintf(s + n, cap - n, "device d%u mac 02:%02x:%02x:00:00:02\n", d,
				      d >> 8 & 0xff, d & 0xff);
	for (unsigned i = 0; i + 1 < rules; i++)
		n += (size_t)snprintf(s + n, cap - n,
				      "rule r%u %s device d%u to 198.18.%u.%u/32 proto tcp port %u\n",
				      i, i % 3 ? "allow" : "block", i % ndev, i >> 8 & 0xff,
				      i & 0xff, 1000 + i % 5000);
	n += (size_t)snprintf(s + n, cap - n,
			      "rule last allow device bench to 203.0.113.0/24 proto tcp port 443\n"
			      "default block\n");
	return s;
}

/* A program array whose slot 0 is a program, and the wrapper that calls it. */
struct wrapped {
	int array_fd, fd;
};

/* gw_flows' size (--flows; gwd.conf's ebpf_flows). */
static uint32_t bench_flows = GWBPF_FLOWS_DEFAULT;
/* --dense-floor: the floor's free list in a new map's order (warm_floor()). */
static bool dense_floor;

struct bcase {
	unsigned rules;
	struct gwbpf *g;
	uint32_t last_rule;
	double est[64], new_[64], new_rep[64];
	struct wrapped w;
};

static int load(struct bcase *c)
{
	char *text = policy_text(c->rules);
	struct pol_unit *u = NULL;
	struct pol_ir *ir = NULL;
	struct pol_tables *img = NULL;
	struct gwbpf_bitmap active;
	const void *data;
	size_t size;
	char err[256] = "";
	int r = -EINVAL;
	if (!text || pol_compile("bench.gw", text, strlen(text), POL_F_NO_FILES, &u) < 0)
		goto out;
	if (pol_unit_errors(u)) {
		pol_unit_render_diags(u, stderr);
		goto out;
	}
	if (pol_unit_image(u, &data, &size) < 0 || pol_image_load(data, size, &ir, err, sizeof(err)) < 0) {
		fprintf(stderr, "gw-bench-ebpf: image: %s\n", err);
		goto out;
	}
	if ((r = gwbpf_open_sized(NULL, bench_flows, &c->g)) < 0 ||
	    (r = gwbpf_tables_build(ir, &img)) < 0)
		goto out;
	gwbpf_active_mask(ir, (struct pol_when){ 2, 720 }, &active);
	/* bpf_prog_test_run's packets come in on the loopback: a port that
	 * takes every IPv4 source (the new-flow wrapper changes the source
	 * address's first byte), so every new flow pays the anti-spoofing
	 * lookup and passes it. */
	const struct gwbpf_src_prefix lan = { .family = 4, .plen = 0 };
	if ((r = gwbpf_stage(c->g, img, &active)) < 0 || (r = gwbpf_commit(c->g)) < 0 ||
	    (r = gwbpf_port_prefixes(c->g, (int)if_nametoindex("lo"), &lan, 1)) < 0)
		goto out;
	c->last_rule = ir->nrules - 1;
out:
	pol_tables_free(img);
	pol_ir_free(ir);
	pol_unit_free(u);
	free(text);
	return r;
}

static int run(int fd, const struct frame *f, uint32_t repeat, uint32_t *ret_ns, uint32_t *ret_v)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f->b, .data_size_in = f->len,
		    .repeat = repeat);
	if (bpf_prog_test_run_opts(fd, &o) < 0)
		return -errno;
	*ret_ns = o.duration;
	*ret_v = o.retval;
	return 0;
}

/* ns per run of `repeat` runs of f, for each of n programs: the mean of
 * the kernel's per-run figures for EST_CALLS calls of repeat / EST_CALLS
 * runs each.  The kernel gives whole ns, rounded down, too coarse for a
 * ratio of two numbers near 30 and 40; the mean of several calls, each a
 * little off from the others, has a fraction (still about half a ns low,
 * as each figure is; the same for every program timed this way).  The
 * programs take turns call by call (a few ms each), so that a burst of
 * load from the VM's host falls on all of them alike, not on one case.
 * ret_v[i]: program i's verdict. */
#define EST_CALLS 8
#define MAX_CASES 3 /* policies of 10, 1 000 and 4 096 rules */
static int run_repeat(int n, const int *fd, const struct frame *f, uint32_t repeat,
		      double *ret_ns, uint32_t *ret_v)
{
	uint32_t ns = 0;
	for (int p = 0; p < n; p++)
		ret_ns[p] = 0;
	for (int i = 0; i < EST_CALLS; i++) {
		for (int p = 0; p < n; p++) {
			int r = run(fd[p], f, repeat / EST_CALLS, &ns, &ret_v[p]);
			if (r < 0)
				return r;
			ret_ns[p] += ns;
		}
	}
	for (int p = 0; p < n; p++)
		ret_ns[p] /= EST_CALLS;
	return 0;
}

static int ignore(const struct gwbpf_event *e, void *arg)
{
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
	double t[64];
	memcpy(t, v, (size_t)n * sizeof(*t));
	qsort(t, (size_t)n, sizeof(*t), cmp_double);
	return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static uint64_t counter(struct gwbpf *g, enum gwbpf_counter which)
{
	uint64_t v[GWBPF_CNT_COUNT];
	return gwbpf_counters(g, v) == 0 ? v[which] : 0;
}

/* Mean ns per call over `count` distinct new flows, one call each.  The
 * 5-tuples continue from *next, so no flow is ever seen twice. */
static int new_flows(int fd, struct gwbpf *g, unsigned count, unsigned *next, double *ret)
{
	uint64_t sum = 0;
	struct frame f;
	uint32_t ns = 0, v = 0;
	for (unsigned i = 0; i < count; i++, (*next)++) {
		frame(&f, (uint16_t)(1024 + *next % 60000), (uint8_t)(1 + *next / 60000 % 250));
		int r = run(fd, &f, 1, &ns, &v);
		if (r < 0)
			return r;
		if (v != XDP_PASS)
			return -EPROTO;
		sum += ns;
		if (g && i % 512 == 511)
			gwbpf_events_drain(g, ignore, NULL);
	}
	if (g)
		gwbpf_events_drain(g, ignore, NULL);
	*ret = (double)sum / count;
	return 0;
}

/* New flows with `repeat`: a wrapper XDP program adds one to the frame's
 * IPv4 source address (the frame stays in the kernel for all the repeats
 * of one call, so every repeat is a 5-tuple never seen before) and
 * tail-calls slot 0 of a program array: gw_classify, or the XDP_PASS
 * program for the reference, so both pay the same wrapper and tail call.
 * The checksum is left stale: gw_classify does not check it. */
static int wrapper_load(int array_fd)
{
	struct bpf_insn insns[] = {
		/* r6 = ctx; r2 = data; r3 = data_end */
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_6, .src_reg = BPF_REG_1 },
		{ .code = BPF_LDX | BPF_MEM | BPF_W, .dst_reg = BPF_REG_2, .src_reg = BPF_REG_1,
		  .off = 0 },
		{ .code = BPF_LDX | BPF_MEM | BPF_W, .dst_reg = BPF_REG_3, .src_reg = BPF_REG_1,
		  .off = 4 },
		/* if data + 54 > data_end: pass */
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_4, .src_reg = BPF_REG_2 },
		{ .code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = BPF_REG_4, .imm = 54 },
		{ .code = BPF_JMP | BPF_JGT | BPF_X, .dst_reg = BPF_REG_4, .src_reg = BPF_REG_3,
		  .off = 8 },
		/* the source address += 1 (as a little-endian word: any change will do) */
		{ .code = BPF_LDX | BPF_MEM | BPF_W, .dst_reg = BPF_REG_5, .src_reg = BPF_REG_2,
		  .off = 26 },
		{ .code = BPF_ALU | BPF_ADD | BPF_K, .dst_reg = BPF_REG_5, .imm = 1 },
		{ .code = BPF_STX | BPF_MEM | BPF_W, .dst_reg = BPF_REG_2, .src_reg = BPF_REG_5,
		  .off = 26 },
		/* bpf_tail_call(ctx, array, 0) */
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_1, .src_reg = BPF_REG_6 },
		{ .code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = BPF_REG_2,
		  .src_reg = BPF_PSEUDO_MAP_FD, .imm = array_fd },
		{ 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_3, .imm = 0 },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_tail_call },
		/* pass (also where a failed tail call goes on) */
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	/* A tail call needs caller and callee alike, expected attach type
	 * included (libbpf loads SEC("xdp") programs with BPF_XDP). */
	LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = BPF_XDP);
	return bpf_prog_load(BPF_PROG_TYPE_XDP, "gw_bench_new", "GPL", insns,
			     sizeof(insns) / sizeof(insns[0]), &o);
}


/* w: a program array with prog_fd in slot 0, and the wrapper. */
static int wrap(int prog_fd, struct wrapped *w)
{
	uint32_t k = 0;
	w->fd = -1;
	w->array_fd = bpf_map_create(BPF_MAP_TYPE_PROG_ARRAY, "gw_bench_pa", 4, 4, 1, NULL);
	if (w->array_fd < 0)
		return -errno;
	if (bpf_map_update_elem(w->array_fd, &k, &prog_fd, BPF_ANY) < 0)
		return -errno;
	w->fd = wrapper_load(w->array_fd);
	return w->fd < 0 ? -errno : 0;
}

static void unwrap(struct wrapped *w)
{
	if (w->fd >= 0)
		close(w->fd);
	if (w->array_fd >= 0)
		close(w->array_fd);
}

/* ns per new flow over `calls` calls of `per` repeats through wrapper w:
 * the mean of the kernel's per-repeat figures.  Each call's frame has a
 * source port never used before (*next counts on) and the wrapper gives
 * every repeat its own source address, so the call's flows are all new;
 * events are drained between calls, untimed. */
static int new_flows_repeat(const struct wrapped *w, struct gwbpf *g, unsigned calls,
			    unsigned per, unsigned *next, double *ret)
{
	uint32_t ns = 0, v = 0;
	double sum = 0;
	for (unsigned i = 0; i < calls; i++, (*next)++) {
		struct frame f;
		frame(&f, (uint16_t)(1024 + *next % 60000), (uint8_t)(1 + *next / 60000 % 250));
		int r = run(w->fd, &f, per, &ns, &v);
		if (r < 0)
			return r;
		if (v != XDP_PASS)
			return -EPROTO;
		sum += ns;
		if (g)
			gwbpf_events_drain(g, ignore, NULL);
	}
	*ret = sum / calls;
	return 0;
}

/* One new-flow measure of case k into an emptied table, `count` flows
 * from tuple number `next` on: one call each (repeat false) or calls of
 * NEW_PER repeats through the case's wrapper.  Fails unless every packet
 * made a flow of its own; the table is emptied again after (untimed). */
#define NEW_PER 1000
static int new_case(struct bcase *k, bool repeat, unsigned next, unsigned count, double *ret,
		    uint64_t *evictions)
{
	uint64_t news = counter(k->g, GWBPF_CNT_FLOW_NEW);
	uint64_t evicted = counter(k->g, GWBPF_CNT_FLOW_EVICT);
	const uint64_t made = repeat ? count / NEW_PER * NEW_PER : count;
	int r = repeat ? new_flows_repeat(&k->w, k->g, count / NEW_PER, NEW_PER, &next, ret)
		       : new_flows(gwbpf_prog_fd(k->g), k->g, count, &next, ret);
	if (r < 0) {
		fprintf(stderr, "gw-bench-ebpf: test run: %s\n", strerror(-r));
		return r;
	}
	*evictions += counter(k->g, GWBPF_CNT_FLOW_EVICT) - evicted;
	if (counter(k->g, GWBPF_CNT_FLOW_NEW) - news != made ||
	    counter(k->g, GWBPF_CNT_FLOW_UNCACHED)) {
		fprintf(stderr, "gw-bench-ebpf: a new-flow packet found a flow\n");
		return -EPROTO;
	}
	return gwbpf_flows_expire(k->g, 0, NULL);
}

/* The floor's flows: how many, and (empty) all of them gone, untimed.
 * Emptied by batches of lookup-and-delete: a get_next_key walk restarted
 * after each delete rescans the buckets from the first, for every flow. */
#define FLOOR_CHUNK 4096
static uint32_t floor_count(int fd, bool empty)
{
	static uint8_t keys[FLOOR_CHUNK][40];
	static uint64_t values[FLOOR_CHUNK];
	uint8_t k[40], next[40];
	uint32_t n = 0, out = 0;
	void *prev = NULL;
	if (!empty) {
		while (bpf_map_get_next_key(fd, prev, next) == 0) {
			memcpy(k, next, sizeof(k));
			prev = k;
			n++;
		}
		return n;
	}
	for (;;) {
		uint32_t got = FLOOR_CHUNK;
		LIBBPF_OPTS(bpf_map_batch_opts, o);
		int r = bpf_map_lookup_and_delete_batch(fd, prev, &out, keys, values, &got, &o);
		n += got;
		if (r < 0)
			break; /* ENOENT: the last batch */
		prev = &out;
	}
	return n;
}

/* Every page of gw's flow table read once through the kernel's mapping:
 * a batch lookup of every set (the table is not changed). */
#define WARM_CHUNK 256
static int warm_flows(struct gwbpf *g)
{
	static struct gwbpf_flow_set buf[WARM_CHUNK];
	uint32_t keys[WARM_CHUNK], out = 0, seen = 0;
	int fd = gwbpf_map_fd(g, GWBPF_MAP_FLOWS);
	void *in = NULL;
	if (fd < 0)
		return fd;
	for (;;) {
		uint32_t n = WARM_CHUNK;
		LIBBPF_OPTS(bpf_map_batch_opts, o);
		int r = bpf_map_lookup_batch(fd, in, &out, keys, buf, &n, &o);
		seen += n;
		if (r < 0 && errno == ENOENT)
			break;
		if (r < 0)
			return -errno;
		in = &out;
	}
	return seen == gwbpf_flows(g) / GWBPF_FLOW_WAYS ? 0 : -EPROTO;
}

/* The floor's hash map filled to capacity and emptied, all in the kernel:
 * every element and every bucket page touched once. */
static int warm_floor(int fd)
{
	struct fkey {
		uint8_t family, proto;
		uint16_t sport, dport, pad;
		uint8_t src[16], dst[16];
	};
	_Static_assert(sizeof(struct fkey) == 40, "the floor's key");
	struct fkey *keys = calloc(bench_flows, sizeof(*keys));
	uint64_t *values = calloc(bench_flows, sizeof(*values));
	uint32_t n = bench_flows;
	int r = 0;
	if (!keys || !values) {
		r = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < bench_flows; i++) {
		keys[i].family = 4;
		keys[i].proto = 17;
		memcpy(keys[i].src, &i, sizeof(i));
	}
	LIBBPF_OPTS(bpf_map_batch_opts, o);
	if (bpf_map_update_batch(fd, keys, values, &n, &o) < 0 || n != bench_flows) {
		r = errno ? -errno : -EPROTO;
		goto out;
	}
	/* Emptied in the hash's bucket order, not in the order filled: the
	 * free list then hands out elements scattered over the map, as a
	 * router's does once flows have ended in no particular order.  With
	 * --dense-floor, in the order filled: the free list then hands out
	 * elements one after another in memory, as a new map's does (the
	 * floor's best case, for comparison). */
	if (dense_floor) {
		if (bpf_map_delete_batch(fd, keys, &n, &o) < 0 || n != bench_flows)
			r = errno ? -errno : -EPROTO;
	} else if (floor_count(fd, true) != bench_flows) {
		r = -EPROTO;
	}
out:
	free(keys);
	free(values);
	return r;
}

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static double own(double x, double pass)
{
	return x - pass;
}

int main(int argc, char **argv)
{
	bool quick = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			quick = true;
		} else if (!strcmp(argv[i], "--dense-floor")) {
			dense_floor = true;
		} else if (!strcmp(argv[i], "--flows") && i + 1 < argc) {
			bench_flows = (uint32_t)strtoul(argv[++i], NULL, 10);
		} else {
			fprintf(stderr, "usage: gw-bench-ebpf [--quick] [--flows N] [--dense-floor]\n");
			return 2;
		}
	}
	/* One CPU for the whole run: the floor's free list is per CPU, and
	 * the list the bench fills and empties from user space is then the
	 * one its program takes from; every figure comes from one CPU. */
	int cpu = sched_getcpu();
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu < 0 ? 0 : cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0) {
		fprintf(stderr, "gw-bench-ebpf: cannot pin to CPU %d: %s\n", cpu, strerror(errno));
		return 1;
	}
	const int trials = quick ? 5 : 9;
	const uint32_t repeat = quick ? 100000 : 1000000;
	/* Each trial's new flows go into an emptied table (gw_flows is
	 * emptied after them, untimed): a set of GWBPF_FLOW_WAYS is full only
	 * by chance, and the evictions are counted and printed. */
	const unsigned nnew = quick ? 2000 : 6000;
	uint64_t evictions = 0;
	struct bcase cases[MAX_CASES] = { { .rules = 10 }, { .rules = 1000 }, { .rules = 4096 } };
	const int ncases = MAX_CASES;
	double pass_rep[64], pass_one[64], pass_new_rep[64];
	double floor_rep[64], floor_one[64], floor_new_rep[64];
	int r = 0, pass_fd = -1, floor_fd = -1, floor_map = -1;
	struct bench_floor *fl = NULL;
	/* New flows with repeat: calls of NEW_PER repeats, as many flows in all
	 * as the one-call-each measure (the ring buffer holds about 2 300
	 * events, drained between calls). */
	const unsigned new_per = NEW_PER, new_calls = nnew / new_per;
	struct wrapped pass_w = { -1, -1 }, floor_w = { -1, -1 };
	for (int c = 0; c < 3; c++)
		cases[c].w = (struct wrapped){ -1, -1 };

	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, po, .expected_attach_type = BPF_XDP);
	pass_fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "pass", "GPL", insns, 2, &po);
	if (pass_fd < 0) {
		fprintf(stderr, "gw-bench-ebpf: cannot load a program (%s); run as root\n",
			strerror(errno));
		return 1;
	}
	/* The floor's table holds as many flows as gw's (--flows): the
	 * ratio then compares the programs, not the tables' sizes. */
	fl = bench_floor__open();
	if (fl && (bpf_map__set_max_entries(fl->maps.floor_flows, bench_flows) < 0 ||
		   bench_floor__load(fl) < 0)) {
		bench_floor__destroy(fl);
		fl = NULL;
	}
	if (!fl) {
		r = -errno;
		fprintf(stderr, "gw-bench-ebpf: the floor program: %s\n", strerror(-r));
		goto out;
	}
	floor_fd = bpf_program__fd(fl->progs.floor_xdp);
	floor_map = bpf_map__fd(fl->maps.floor_flows);
	for (int c = 0; c < ncases; c++) {
		if ((r = load(&cases[c])) < 0 ||
		    (r = wrap(gwbpf_prog_fd(cases[c].g), &cases[c].w)) < 0) {
			fprintf(stderr, "gw-bench-ebpf: %u rules: %s\n", cases[c].rules, strerror(-r));
			goto out;
		}
	}
	if ((r = wrap(pass_fd, &pass_w)) < 0 || (r = wrap(floor_fd, &floor_w)) < 0) {
		fprintf(stderr, "gw-bench-ebpf: the tail-call wrapper: %s\n", strerror(-r));
		goto out;
	}

	struct frame est;
	frame(&est, 999, 200);
	unsigned next = 0;
	uint32_t ns = 0, v = 0;

	/* First use: one pass of new flows into each fresh table, then every
	 * table warmed (see the top of this file). */
	double cold_pass, cold_floor, cold[MAX_CASES], warm_ms[2];
	uint64_t cold_evictions = 0;
	unsigned cnext = next;
	if ((r = new_flows_repeat(&pass_w, NULL, new_calls, new_per, &cnext, &cold_pass)) < 0)
		goto fail;
	cnext = next;
	if ((r = new_flows_repeat(&floor_w, NULL, new_calls, new_per, &cnext, &cold_floor)) < 0)
		goto fail;
	if (floor_count(floor_map, true) != new_calls * new_per) {
		fprintf(stderr, "gw-bench-ebpf: the floor did not insert every new flow\n");
		r = -EPROTO;
		goto out;
	}
	for (int c = 0; c < ncases; c++)
		if ((r = new_case(&cases[c], true, next, nnew, &cold[c], &cold_evictions)) < 0)
			goto out;
	next += nnew;
	double t0 = now_ms();
	for (int c = 0; c < ncases; c++)
		if ((r = warm_flows(cases[c].g)) < 0) {
			fprintf(stderr, "gw-bench-ebpf: warming gw_flows: %s\n", strerror(-r));
			goto out;
		}
	warm_ms[0] = (now_ms() - t0) / ncases;
	t0 = now_ms();
	if ((r = warm_floor(floor_map)) < 0) {
		fprintf(stderr, "gw-bench-ebpf: warming the floor's map: %s\n", strerror(-r));
		goto out;
	}
	warm_ms[1] = now_ms() - t0;
	if (floor_count(floor_map, false) != 0) {
		fprintf(stderr, "gw-bench-ebpf: the floor's map is not empty after warming\n");
		r = -EPROTO;
		goto out;
	}
	for (int t = 0; t < trials; t++) {
		/* Established: the floor's and each case's first packet makes
		 * the flow, then XDP_PASS, the floor and the cases take turns
		 * on the timed ones. */
		int fds[2 + MAX_CASES];
		uint64_t hits[MAX_CASES];
		double est_ns[2 + MAX_CASES];
		uint32_t vs[2 + MAX_CASES];
		fds[0] = pass_fd;
		fds[1] = floor_fd;
		floor_count(floor_map, true);
		if ((r = run(floor_fd, &est, 1, &ns, &v)) < 0)
			goto fail;
		for (int c = 0; c < ncases; c++) {
			fds[2 + c] = gwbpf_prog_fd(cases[c].g);
			hits[c] = counter(cases[c].g, GWBPF_CNT_FLOW_HIT);
			if ((r = run(fds[2 + c], &est, 1, &ns, &v)) < 0)
				goto fail;
		}
		if ((r = run_repeat(2 + ncases, fds, &est, repeat, est_ns, vs)) < 0)
			goto fail;
		pass_rep[t] = est_ns[0];
		floor_rep[t] = est_ns[1];
		/* The floor's flow took every packet: one flow, counted. */
		if (floor_count(floor_map, false) != 1) {
			fprintf(stderr, "gw-bench-ebpf: the floor's established packet made flows\n");
			r = -EPROTO;
			goto out;
		}
		floor_count(floor_map, true);

		unsigned pnext = next;
		if ((r = new_flows(pass_fd, NULL, nnew, &pnext, &pass_one[t])) < 0)
			goto fail;
		pnext = next;
		if ((r = new_flows(floor_fd, NULL, nnew, &pnext, &floor_one[t])) < 0)
			goto fail;
		if (floor_count(floor_map, true) != nnew) {
			fprintf(stderr, "gw-bench-ebpf: the floor did not insert every new flow\n");
			r = -EPROTO;
			goto out;
		}
		unsigned rnext = next;
		if ((r = new_flows_repeat(&pass_w, NULL, new_calls, new_per, &rnext,
					  &pass_new_rep[t])) < 0)
			goto fail;
		rnext = next;
		if ((r = new_flows_repeat(&floor_w, NULL, new_calls, new_per, &rnext,
					  &floor_new_rep[t])) < 0)
			goto fail;
		if (floor_count(floor_map, true) != new_calls * new_per) {
			fprintf(stderr, "gw-bench-ebpf: the floor did not insert every new flow\n");
			r = -EPROTO;
			goto out;
		}
		for (int c = 0; c < ncases; c++) {
			struct bcase *k = &cases[c];
			k->est[t] = est_ns[2 + c];
			if (vs[2 + c] != XDP_PASS || counter(k->g, GWBPF_CNT_FLOW_HIT) - hits[c] < repeat) {
				fprintf(stderr, "gw-bench-ebpf: the established packet missed its flow\n");
				r = -EPROTO;
				goto out;
			}
			/* The flow is the last rule's. */
			struct gwbpf_flow_key key = { .family = 4, .proto = 6,
						      .sport = __builtin_bswap16(999),
						      .dport = __builtin_bswap16(443) };
			struct gwbpf_flow f;
			memcpy(key.src, "\x0a\x00\x00\x02", 4);
			memcpy(key.dst, "\xcb\x00\x71\xc8", 4);
			if (gwbpf_flow_get(k->g, &key, &f) < 0 || f.rule != k->last_rule) {
				fprintf(stderr, "gw-bench-ebpf: the flow was not decided by the last rule\n");
				r = -EPROTO;
				goto out;
			}
			if ((r = new_case(k, false, next, nnew, &k->new_[t], &evictions)) < 0 ||
			    (r = new_case(k, true, next, nnew, &k->new_rep[t], &evictions)) < 0)
				goto out;
		}
		next += nnew;
	}

	double pr = median(pass_rep, trials), frr = median(floor_rep, trials);
	double p1 = median(pass_one, trials), f1 = median(floor_one, trials);
	double prn = median(pass_new_rep, trials), frn = median(floor_new_rep, trials);
	printf("gw-bench-ebpf: on CPU %d; the floor's free list %s; %d interleaved trials; established: repeat=%u in %d calls; "
	       "new: %u distinct flows in calls of %u repeats, and one call each\n\n", cpu,
	       dense_floor ? "dense (a new map's)" : "scattered (after churn)", trials,
	       repeat, EST_CALLS, nnew, new_per);
	printf("established packet, ns (XDP_PASS %.2f, floor %.2f: its own cost %.2f)\n\n", pr,
	       frr, own(frr, pr));
	printf("| rules | gw ns | gw's own ns | / floor's own |\n");
	printf("| ---: | ---: | ---: | ---: |\n");
	for (int c = 0; c < ncases; c++) {
		double e = median(cases[c].est, trials);
		printf("| %u | %.2f | %.2f | %.2f |\n", cases[c].rules, e, own(e, pr),
		       own(e, pr) / own(frr, pr));
	}
	printf("\nnew flow, ns, calls of %u repeats through the wrapper (wrapper + XDP_PASS %.1f, "
	       "floor's insert %.1f: its own cost %.1f)\n\n", new_per, prn, frn, own(frn, prn));
	printf("| rules | gw ns | gw's own ns | / floor's own |\n");
	printf("| ---: | ---: | ---: | ---: |\n");
	for (int c = 0; c < ncases; c++) {
		double n = median(cases[c].new_rep, trials);
		printf("| %u | %.1f | %.1f | %.2f |\n", cases[c].rules, n, own(n, prn),
		       own(n, prn) / own(frn, prn));
	}
	printf("\nnew flow into a fresh table (first use: one pass of %u flows in calls of %u "
	       "repeats before the tables were warmed; not a target): wrapper + XDP_PASS %.1f, "
	       "floor's insert %.1f: its own cost %.1f\n\n", nnew, new_per, cold_pass, cold_floor,
	       own(cold_floor, cold_pass));
	printf("| rules | gw ns | gw's own ns | / floor's own |\n");
	printf("| ---: | ---: | ---: | ---: |\n");
	for (int c = 0; c < ncases; c++)
		printf("| %u | %.1f | %.1f | %.2f |\n", cases[c].rules, cold[c], own(cold[c], cold_pass),
		       own(cold[c], cold_pass) / own(cold_floor, cold_pass));
	printf("warming (untimed for the trials): a batch read of every page of gw_flows %.1f ms "
	       "a table, the floor's map filled and emptied %.1f ms\n", warm_ms[0], warm_ms[1]);
	printf("\nnew flow, ns, one call each (XDP_PASS %.1f, floor's insert %.1f: its own cost "
	       "%.1f)\n\n", p1, f1, own(f1, p1));
	printf("| rules | gw ns | gw's own ns | / floor's own |\n");
	printf("| ---: | ---: | ---: | ---: |\n");
	for (int c = 0; c < ncases; c++) {
		double n = median(cases[c].new_, trials);
		printf("| %u | %.1f | %.1f | %.2f |\n", cases[c].rules, n, own(n, p1),
		       own(n, p1) / own(f1, p1));
	}
	const struct bcase *big = &cases[ncases - 1];
	double e10 = median(cases[0].est, trials), ebig = median(big->est, trials);
	double est_ratio = own(ebig, pr) / own(frr, pr);
	double new_ratio = own(median(big->new_rep, trials), prn) / own(frn, prn);
	printf("\nestablished, %u vs 10 rules: %+.1f %% (gw's own cost)\n", big->rules,
	       (own(ebig, pr) / own(e10, pr) - 1) * 100);
	/* The same ratio trial by trial (gw and the floor of one round a few
	 * ms apart): how much it moves within the run. */
	double pair[64];
	for (int t = 0; t < trials; t++)
		pair[t] = own(big->new_rep[t], pass_new_rep[t]) /
			  own(floor_new_rep[t], pass_new_rep[t]);
	qsort(pair, (size_t)trials, sizeof(*pair), cmp_double);
	printf("new flow at %u rules, trial by trial: gw's own / the floor's own %.2f-%.2f "
	       "(median %.2f)\n", big->rules, pair[0], pair[trials - 1], median(pair, trials));
	printf("new flows that evicted another from a full set: %llu of %llu\n",
	       (unsigned long long)evictions, (unsigned long long)trials * ncases * nnew * 2);
	printf("target: established at %u rules, gw's own cost <= %.1f x the floor's: %.2f %s\n",
	       big->rules, EST_TARGET, est_ratio, est_ratio <= EST_TARGET ? "PASS" : "FAIL");
	printf("target: new flow at %u rules, gw's own cost <= %.1f x the floor's insert: %.2f %s\n",
	       big->rules, NEW_TARGET, new_ratio, new_ratio <= NEW_TARGET ? "PASS" : "FAIL");
	goto out;
fail:
	fprintf(stderr, "gw-bench-ebpf: test run: %s\n", strerror(-r));
out:
	for (int c = 0; c < ncases; c++) {
		unwrap(&cases[c].w);
		gwbpf_free(cases[c].g);
	}
	unwrap(&pass_w);
	unwrap(&floor_w);
	bench_floor__destroy(fl);
	close(pass_fd);
	return r < 0 ? 1 : 0;
}
