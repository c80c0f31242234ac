/* SPDX-License-Identifier: MIT */
/*
 * The loader on real interfaces: pins under a pin root and their re-use by
 * a second loader (a restarted gwd), and attach/detach on veths, where
 * detach must take away exactly what gw put there and nothing of anyone
 * else's.
 *
 * The process moves into a network namespace of its own (unshare), so its
 * veths vanish with it; the pins go under /sys/fs/bpf/gw-test-<pid>, removed
 * at the end.  Exits 77 where namespaces or BPF are not permitted.
 */
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/if_link.h>

#include "loader.h"
#include "randpol.h"

static char root[64], root2[64];

static int ifindex(const char *name)
{
	int i = (int)if_nametoindex(name);
	assert_true(i > 0);
	return i;
}

static uint32_t prog_id(int fd)
{
	struct bpf_prog_info info = { 0 };
	uint32_t len = sizeof(info);
	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	return info.id;
}

/* The XDP program on name in native mode (0: none), and its mode. */
static uint32_t xdp_id(const char *name, uint8_t *ret_mode)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, o);
	assert_int_equal(bpf_xdp_query(ifindex(name), 0, &o), 0);
	if (ret_mode)
		*ret_mode = o.attach_mode;
	return o.drv_prog_id;
}

/* The filter at (handle, priority) on name's egress hook, 0: none. */
static uint32_t tc_id(const char *name, uint32_t handle, uint32_t prio)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex(name), .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, o, .handle = handle, .priority = prio);
	int r = bpf_tc_query(&hook, &o);
	return r == 0 ? o.prog_id : 0;
}

static bool has_clsact(const char *name)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "tc qdisc show dev %s | grep -q clsact", name);
	return system(cmd) == 0;
}

/* A program that is not gw's: `return ret`. */
static int foreign_prog(enum bpf_prog_type type, int ret)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = ret },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int fd = bpf_prog_load(type, "other", "GPL", insns, 2, NULL);
	assert_true(fd >= 0);
	return fd;
}

static const char *policy = "device a mac 02:00:00:00:00:01\n"
			    "rule web allow device a proto tcp port 443\n"
			    "default block\n";

static void apply(struct gwbpf *g)
{
	struct pol_ir *ir = rp_load(policy);
	struct pol_tables *img = NULL;
	struct gwbpf_bitmap active;
	assert_non_null(ir);
	assert_int_equal(gwbpf_tables_build(ir, &img), 0);
	gwbpf_active_mask(ir, (struct pol_when){ 2, 720 }, &active);
	assert_int_equal(gwbpf_stage(g, img, &active), 0);
	assert_int_equal(gwbpf_commit(g), 0);
	pol_tables_free(img);
	pol_ir_free(ir);
}

/* A TCP SYN from device a to 8.8.8.8:443 through the program: one flow. */
static uint32_t run_syn(struct gwbpf *g)
{
	uint8_t f[54] = { 2, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 2, 0, 0, 0, 0, 1, 0x08, 0x00,
			  0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 2, 8, 8, 8, 8,
			  0x9c, 0x40, 0x01, 0xbb };
	f[14 + 20 + 12] = 0x50;
	f[14 + 20 + 13] = 0x02;
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f, .data_size_in = sizeof(f), .repeat = 1);
	assert_int_equal(bpf_prog_test_run_opts(gwbpf_prog_fd(g), &o), 0);
	return o.retval;
}

static int count_flow(const struct gwbpf_flow_key *k, const struct gwbpf_flow *f, void *arg)
{
	(*(uint32_t *)arg)++;
	return 0;
}

static uint32_t nflows(struct gwbpf *g)
{
	uint32_t n = 0;
	assert_int_equal(gwbpf_flows_each(g, count_flow, &n), 0);
	return n;
}

static void pins_and_adoption(void **state)
{
	struct gwbpf *g1 = NULL, *g2 = NULL;
	char path[128];
	struct stat st;
	assert_int_equal(gwbpf_open(root, &g1), 0);
	assert_false(gwbpf_adopted(g1));
	static const char *maps[] = { GWBPF_MAP_EPOCH, GWBPF_MAP_POLICY, GWBPF_MAP_BITMAPS,
				      GWBPF_MAP_SUMMARIES,
				      GWBPF_MAP_ACTIVE, GWBPF_MAP_RULES, GWBPF_MAP_MACS,
				      GWBPF_MAP_PORTS, GWBPF_MAP_PREFIXES, GWBPF_MAP_DOMAINS,
				      GWBPF_MAP_LOCAL, GWBPF_MAP_FLOWS, GWBPF_MAP_FLOW_SEED,
				      GWBPF_MAP_COUNTERS,
				      GWBPF_MAP_RULE_STATS, GWBPF_MAP_RATES, GWBPF_MAP_EVENTS,
				      GWBPF_MAP_DEVICE_STATS };
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", root, maps[i]);
		assert_int_equal(stat(path, &st), 0);
	}
	apply(g1);
	assert_int_equal(run_syn(g1), XDP_PASS);
	assert_int_equal(nflows(g1), 1);
	uint64_t c1[GWBPF_CNT_COUNT], c2[GWBPF_CNT_COUNT];
	assert_int_equal(gwbpf_counters(g1, c1), 0);

	/* A second loader on the same root: the same maps, the same live
	 * generation; its own program, which decides from them. */
	assert_int_equal(gwbpf_open(root, &g2), 0);
	assert_true(gwbpf_adopted(g2));
	assert_int_equal(gwbpf_epoch(g2), gwbpf_epoch(g1));
	assert_int_equal(nflows(g2), 1);
	assert_int_equal(gwbpf_counters(g2, c2), 0);
	assert_memory_equal(c1, c2, sizeof(c1));
	assert_int_equal(run_syn(g2), XDP_PASS);
	assert_int_equal(gwbpf_counters(g1, c1), 0);
	assert_int_equal(c1[GWBPF_CNT_FLOW_HIT], 1);
	/* A new generation through the second is the first's too. */
	apply(g2);
	uint32_t k = 0;
	uint64_t e = 0;
	assert_int_equal(bpf_map_lookup_elem(gwbpf_map_fd(g1, GWBPF_MAP_EPOCH), &k, &e), 0);
	assert_int_equal(e, gwbpf_epoch(g2));
	gwbpf_free(g1);

	assert_int_equal(gwbpf_unpin(g2), 0);
	assert_int_equal(stat(root, &st), -1);
	gwbpf_free(g2);
	/* Nothing pinned any more: a fresh loader starts empty. */
	assert_int_equal(gwbpf_open(root, &g1), 0);
	assert_false(gwbpf_adopted(g1));
	assert_int_equal(nflows(g1), 0);
	assert_int_equal(gwbpf_unpin(g1), 0);
	gwbpf_free(g1);
}

static void attach_detach(void **state)
{
	struct gwbpf *g = NULL, *again = NULL, *other = NULL;
	uint8_t mode = 0;
	assert_int_equal(gwbpf_open(root, &g), 0);
	assert_int_equal(gwbpf_attach(g, "nope0"), -ENODEV);

	/* b1 already has a clsact qdisc with someone's filter on egress. */
	int tc_other = foreign_prog(BPF_PROG_TYPE_SCHED_CLS, 0);
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex("b1"), .attach_point = BPF_TC_EGRESS);
	assert_int_equal(bpf_tc_hook_create(&hook), 0);
	LIBBPF_OPTS(bpf_tc_opts, to, .handle = 1, .priority = 1, .prog_fd = tc_other);
	assert_int_equal(bpf_tc_attach(&hook, &to), 0);
	uint32_t other_tc_id = prog_id(tc_other);

	assert_false(has_clsact("b0"));
	assert_int_equal(gwbpf_attach(g, "b0"), 0);
	assert_int_equal(gwbpf_attach(g, "b1"), 0);
	uint32_t xid = prog_id(gwbpf_prog_fd(g)), tid = prog_id(gwbpf_egress_prog_fd(g));
	assert_int_equal(xdp_id("b0", &mode), xid);
	assert_int_equal(mode, XDP_ATTACHED_DRV);
	assert_int_equal(xdp_id("b1", NULL), xid);
	assert_int_equal(tc_id("b0", 0x677701, 0x6777), tid);
	assert_int_equal(tc_id("b1", 0x677701, 0x6777), tid);
	assert_int_equal(tc_id("b1", 1, 1), other_tc_id);
	/* Attaching again changes nothing. */
	assert_int_equal(gwbpf_attach(g, "b0"), 0);
	assert_int_equal(xdp_id("b0", NULL), xid);

	/* Detach: gw's program and filter go, and the qdisc gw made; the
	 * other filter and the qdisc it lives on stay. */
	assert_int_equal(gwbpf_detach(g, "b0"), 0);
	assert_int_equal(xdp_id("b0", NULL), 0);
	assert_int_equal(tc_id("b0", 0x677701, 0x6777), 0);
	assert_false(has_clsact("b0"));
	assert_int_equal(gwbpf_detach(g, "b1"), 0);
	assert_int_equal(xdp_id("b1", NULL), 0);
	assert_int_equal(tc_id("b1", 0x677701, 0x6777), 0);
	assert_int_equal(tc_id("b1", 1, 1), other_tc_id);
	assert_true(has_clsact("b1"));
	assert_int_equal(gwbpf_detach(g, "b1"), -ENOENT);

	/* Someone else's XDP program: refused, and left in place. */
	int xdp_other = foreign_prog(BPF_PROG_TYPE_XDP, XDP_PASS);
	assert_int_equal(bpf_xdp_attach(ifindex("b1"), xdp_other, XDP_FLAGS_DRV_MODE, NULL), 0);
	assert_int_equal(gwbpf_attach(g, "b1"), -EBUSY);
	assert_int_equal(xdp_id("b1", NULL), prog_id(xdp_other));
	assert_int_equal(gwbpf_detach(g, "b1"), -ENOENT);
	assert_int_equal(xdp_id("b1", NULL), prog_id(xdp_other));
	assert_int_equal(bpf_xdp_detach(ifindex("b1"), XDP_FLAGS_DRV_MODE, NULL), 0);

	/* A restarted gwd (a new loader on the same pins) replaces, and can
	 * detach, what the first attached; a loader on other pins cannot. */
	assert_int_equal(gwbpf_attach(g, "b0"), 0);
	gwbpf_free(g);
	assert_int_equal(xdp_id("b0", NULL), xid); /* enforcement outlives gwd */
	assert_int_equal(gwbpf_open(root2, &other), 0);
	assert_int_equal(gwbpf_attach(other, "b0"), -EBUSY);
	assert_int_equal(gwbpf_detach(other, "b0"), -ENOENT);
	assert_int_equal(xdp_id("b0", NULL), xid);
	assert_int_equal(gwbpf_open(root, &again), 0);
	assert_true(gwbpf_adopted(again));
	assert_int_equal(gwbpf_attach(again, "b0"), 0);
	assert_int_equal(xdp_id("b0", NULL), prog_id(gwbpf_prog_fd(again)));
	assert_int_equal(tc_id("b0", 0x677701, 0x6777), prog_id(gwbpf_egress_prog_fd(again)));
	assert_int_equal(gwbpf_detach(again, "b0"), 0);
	assert_int_equal(xdp_id("b0", NULL), 0);
	assert_int_equal(tc_id("b0", 0x677701, 0x6777), 0);

	assert_int_equal(gwbpf_unpin(again), 0);
	assert_int_equal(gwbpf_unpin(other), 0);
	gwbpf_free(again);
	gwbpf_free(other);
	close(xdp_other);
	close(tc_other);
}

static void remove_pins(void)
{
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf %s %s", root, root2);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s, %s\n", root, root2);
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "skipped: needs root\n");
		return 77;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "skipped: no network namespace (%s)\n", strerror(errno));
		return 77;
	}
	snprintf(root, sizeof(root), "/sys/fs/bpf/gw-test-%d", (int)getpid());
	snprintf(root2, sizeof(root2), "/sys/fs/bpf/gw-test-%d-b", (int)getpid());
	/* Skipped only where no BPF program loads at all: once a trivial
	 * one does, the verifier refusing the classifier is a failure. */
	struct bpf_insn probe[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int pfd = bpf_prog_load(BPF_PROG_TYPE_XDP, "gw_probe", "GPL", probe, 2, NULL);
	if (pfd < 0) {
		fprintf(stderr, "skipped: BPF is not permitted here (%s)\n", strerror(errno));
		return 77;
	}
	close(pfd);
	struct gwbpf *g = NULL;
	int r = gwbpf_new(&g);
	if (r < 0) {
		fprintf(stderr, "cannot load the classifier: %s\n", strerror(-r));
		return 1;
	}
	gwbpf_free(g);
	if (system("ip link add b0 type veth peer name b1 && ip link set b0 up && "
		   "ip link set b1 up") != 0) {
		fprintf(stderr, "cannot make a veth pair\n");
		return 1;
	}
	atexit(remove_pins);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pins_and_adoption),
		cmocka_unit_test(attach_detach),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
