/* SPDX-License-Identifier: MIT */
/*
 * The loader on real interfaces: pins under a pin root and their re-use by
 * a second loader (a restarted gwd), and attach/detach on veths, where
 * detach must take away exactly what gw put there and nothing of anyone
 * else's; generic XDP on a bridge, which has no native XDP; each port's
 * source prefixes taken from its addresses (anti-spoofing), and a flow
 * that comes in on another port than the one it was opened on.
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
#include <linux/pkt_cls.h>
#include <netinet/in.h>

#include "loader.h"
#include "gwtest.h"
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

static uint32_t tc_ingress_id(const char *name)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex(name), .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, o, .handle = 0x677701, .priority = 0x6777);
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

/* A TCP SYN from device a at src (IPv4, 4 bytes) to 8.8.8.8:443 through
 * the program, as if it came in on the interface with this ifindex (0:
 * the loopback, bpf_prog_test_run's own). */
static uint32_t run_syn_from(struct gwbpf *g, const uint8_t src[4], int ifindex)
{
	uint8_t f[54] = { 2, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 2, 0, 0, 0, 0, 1, 0x08, 0x00,
			  0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 2, 8, 8, 8, 8,
			  0x9c, 0x40, 0x01, 0xbb };
	memcpy(f + 14 + 12, src, 4);
	f[14 + 20 + 12] = 0x50;
	f[14 + 20 + 13] = 0x02;
	struct xdp_md ctx = { .data_end = sizeof(f), .ingress_ifindex = (uint32_t)ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f, .data_size_in = sizeof(f), .repeat = 1,
		    .ctx_in = ifindex ? &ctx : NULL, .ctx_size_in = ifindex ? sizeof(ctx) : 0);
	assert_int_equal(bpf_prog_test_run_opts(gwbpf_prog_fd(g), &o), 0);
	return o.retval;
}

static const uint8_t src_a[4] = { 10, 0, 0, 2 };

static uint32_t run_syn(struct gwbpf *g)
{
	return run_syn_from(g, src_a, 0);
}

/* The loopback, where bpf_prog_test_run's packets come in, with the
 * sources of run_syn's device. */
static void lo_sources(struct gwbpf *g)
{
	const struct gwbpf_src_prefix p = { .family = 4, .plen = 8, .addr = { 10 } };
	assert_int_equal(gwbpf_port_prefixes(g, ifindex("lo"), &p, 1), 0);
}

static uint64_t counter(struct gwbpf *g, enum gwbpf_counter which)
{
	uint64_t v[GWBPF_CNT_COUNT];
	assert_int_equal(gwbpf_counters(g, v), 0);
	return v[which];
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
				      GWBPF_MAP_DEVICE_STATS, GWBPF_MAP_RETIRED, GWBPF_MAP_SRC,
				      GWBPF_MAP_TIMELINE };
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", root, maps[i]);
		assert_int_equal(stat(path, &st), 0);
	}
	apply(g1);
	lo_sources(g1);
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

/* gw_flows of the size asked for (ebpf_flows), made and used; a pinned
 * table keeps its size when a loader asks for another. */
static int count_event(const struct gwbpf_event *e, void *arg)
{
	(void)e;
	(void)arg;
	return 0;
}

static void flow_table_size(void **state)
{
	struct gwbpf *g = NULL, *g2 = NULL;
	struct bpf_map_info mi = { 0 };
	uint32_t len = sizeof(mi);
	assert_int_equal(gwbpf_open_sized(root, 3000, &g), -EINVAL);
	assert_int_equal(gwbpf_open_sized(root, GWBPF_FLOWS_MIN / 2, &g), -EINVAL);
	assert_int_equal(gwbpf_open_sized(root, GWBPF_FLOWS_MAX * 2, &g), -EINVAL);
	assert_int_equal(gwbpf_open_sized(root, 8192, &g), 0);
	assert_int_equal(gwbpf_flows(g), 8192);
	assert_int_equal(bpf_obj_get_info_by_fd(gwbpf_map_fd(g, GWBPF_MAP_FLOWS), &mi, &len), 0);
	assert_int_equal(mi.max_entries, 8192 / GWBPF_FLOW_WAYS);
	apply(g);
	lo_sources(g);
	/* Used: 1000 flows (sources 10.0.x.y) are cached; at an eighth of
	 * the table, hardly any set overflows (a set of 4 over 2048 sets). */
	for (uint32_t i = 0; i < 1000; i++) {
		uint8_t src[4] = { 10, 0, (uint8_t)(i >> 8), (uint8_t)(i + 1) };
		assert_int_equal(run_syn_from(g, src, 0), XDP_PASS);
	}
	uint64_t evicted = counter(g, GWBPF_CNT_FLOW_EVICT);
	assert_int_equal(nflows(g) + evicted, 1000);
	assert_true(evicted <= 4);
	/* The default size's loader adopts the pinned table as it is. */
	assert_int_equal(gwbpf_open(root, &g2), 0);
	assert_true(gwbpf_adopted(g2));
	assert_int_equal(gwbpf_flows(g2), 8192);
	assert_int_equal(nflows(g2), nflows(g));
	assert_int_equal(gwbpf_unpin(g2), 0);
	gwbpf_free(g2);
	gwbpf_free(g);
	/* Unpinned, the next loader makes the size it is given. */
	assert_int_equal(gwbpf_open(root, &g), 0);
	assert_int_equal(gwbpf_flows(g), GWBPF_FLOWS_DEFAULT);
	assert_int_equal(gwbpf_unpin(g), 0);
	gwbpf_free(g);
}

/* A ring of flow events pinned by an older gwd (256 KiB, before it was
 * 1 MiB) is adopted at its size: libbpf re-uses no pin of another size,
 * so without that a gwd upgrade would not start until the pins went. */
static void events_ring_size(void **state)
{
	struct gwbpf *g = NULL;
	struct bpf_map_info mi = { 0 };
	uint32_t len = sizeof(mi);
	char path[128];
	assert_int_equal(mkdir(root, 0700), 0);
	int fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, GWBPF_MAP_EVENTS, 0, 0, 256 * 1024, NULL);
	assert_true(fd >= 0);
	snprintf(path, sizeof(path), "%s/%s", root, GWBPF_MAP_EVENTS);
	assert_int_equal(bpf_obj_pin(fd, path), 0);
	close(fd);
	assert_int_equal(gwbpf_open(root, &g), 0);
	assert_int_equal(bpf_obj_get_info_by_fd(gwbpf_map_fd(g, GWBPF_MAP_EVENTS), &mi, &len), 0);
	assert_int_equal(mi.max_entries, 256 * 1024);
	/* And the programs write to it. */
	apply(g);
	lo_sources(g);
	uint8_t src[4] = { 10, 0, 0, 1 };
	assert_int_equal(run_syn_from(g, src, 0), XDP_PASS);
	assert_true(gwbpf_events_drain(g, count_event, NULL) >= 1);
	assert_int_equal(gwbpf_unpin(g), 0);
	gwbpf_free(g);
	/* Unpinned, the next loader makes the ring of today's size. */
	assert_int_equal(gwbpf_open(root, &g), 0);
	len = sizeof(mi);
	assert_int_equal(bpf_obj_get_info_by_fd(gwbpf_map_fd(g, GWBPF_MAP_EVENTS), &mi, &len), 0);
	assert_int_equal(mi.max_entries, GWBPF_EVENTS_BYTES);
	assert_int_equal(gwbpf_unpin(g), 0);
	gwbpf_free(g);
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

/* No native XDP on a bridge (nor on most Wi-Fi drivers): gw's program
 * goes on in generic mode, the port is enforced, and detach finds it
 * there.  Before, the attach failed and the port was left unfiltered. */
static void generic_fallback(void **state)
{
	struct gwbpf *g = NULL;
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	assert_int_equal(gwbpf_open(root, &g), 0);
	assert_int_equal(gwbpf_port_mode(g, "br0"), -ENOENT);
	/* The kernel refuses native XDP there: the case the fallback is for. */
	int other = foreign_prog(BPF_PROG_TYPE_XDP, XDP_PASS);
	assert_int_equal(bpf_xdp_attach(ifindex("br0"), other, XDP_FLAGS_DRV_MODE, NULL),
			 -EOPNOTSUPP);

	assert_int_equal(gwbpf_attach(g, "br0"), 0);
	assert_int_equal(bpf_xdp_query(ifindex("br0"), 0, &q), 0);
	assert_int_equal(q.attach_mode, XDP_ATTACHED_SKB);
	assert_int_equal(q.skb_prog_id, prog_id(gwbpf_prog_fd(g)));
	assert_int_equal(tc_id("br0", 0x677701, 0x6777), prog_id(gwbpf_egress_prog_fd(g)));
	assert_int_equal(gwbpf_port_mode(g, "br0"), GWBPF_XDP_GENERIC);
	assert_string_equal(gwbpf_mode_name(GWBPF_XDP_GENERIC), "generic");
	/* Again: replaced in place, still generic. */
	assert_int_equal(gwbpf_attach(g, "br0"), 0);
	assert_int_equal(gwbpf_port_mode(g, "br0"), GWBPF_XDP_GENERIC);
	/* The veth has native XDP. */
	assert_int_equal(gwbpf_attach(g, "b0"), 0);
	assert_int_equal(gwbpf_port_mode(g, "b0"), GWBPF_XDP_NATIVE);

	/* Someone takes gw's program off: the port is no longer enforced,
	 * and the loader says so. */
	assert_int_equal(bpf_xdp_detach(ifindex("br0"), XDP_FLAGS_SKB_MODE, NULL), 0);
	assert_int_equal(gwbpf_port_mode(g, "br0"), -ENOENT);
	/* Someone else's generic program: refused, left alone. */
	assert_int_equal(bpf_xdp_attach(ifindex("br0"), other, XDP_FLAGS_SKB_MODE, NULL), 0);
	assert_int_equal(gwbpf_attach(g, "br0"), -EBUSY);
	assert_int_equal(gwbpf_port_mode(g, "br0"), -ENOENT);
	assert_int_equal(bpf_xdp_detach(ifindex("br0"), XDP_FLAGS_SKB_MODE, NULL), 0);
	assert_int_equal(gwbpf_attach(g, "br0"), 0);

	assert_int_equal(gwbpf_detach(g, "br0"), 0);
	assert_int_equal(bpf_xdp_query(ifindex("br0"), 0, &q), 0);
	assert_int_equal(q.skb_prog_id, 0);
	assert_int_equal(tc_id("br0", 0x677701, 0x6777), 0);
	assert_int_equal(gwbpf_detach(g, "b0"), 0);
	assert_int_equal(gwbpf_port_mode(g, "nope0"), -ENODEV);
	assert_int_equal(gwbpf_unpin(g), 0);
	gwbpf_free(g);
	close(other);
}

/* The classifier at either hook (docs/ebpf.md, "Two hooks"): auto picks
 * TC for a veth, XDP for a bridge; a port moves from XDP to TC and back,
 * each time with the new hook's program in place and the old one gone;
 * someone else's XDP program refuses the port at TC too. */
static void hooks(void **state)
{
	struct gwbpf *g = NULL;
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	assert_int_equal(gwbpf_open(root, &g), 0);
	assert_int_equal(gwbpf_hook_auto("b0"), GWBPF_HOOK_TC);
	assert_int_equal(gwbpf_hook_auto("br0"), GWBPF_HOOK_XDP);
	assert_int_equal(gwbpf_hook_auto("nope0"), -ENODEV);
	assert_int_equal(gwbpf_attach_hook(g, "b0", 7), -EINVAL);

	assert_int_equal(gwbpf_attach_hook(g, "b0", GWBPF_HOOK_XDP), 0);
	assert_int_equal(gwbpf_port_mode(g, "b0"), GWBPF_XDP_NATIVE);
	assert_int_equal(tc_ingress_id("b0"), prog_id(gwbpf_ingress_prog_fd(g)));
	/* To TC: gw_classify_tc at the ingress place, no XDP program. */
	assert_int_equal(gwbpf_attach_hook(g, "b0", GWBPF_HOOK_TC), 0);
	assert_int_equal(gwbpf_port_mode(g, "b0"), GWBPF_TC);
	assert_string_equal(gwbpf_mode_name(GWBPF_TC), "tc");
	assert_int_equal(bpf_xdp_query(ifindex("b0"), 0, &q), 0);
	assert_int_equal(q.prog_id, 0);
	assert_int_equal(tc_ingress_id("b0"), prog_id(gwbpf_classify_tc_prog_fd(g)));
	assert_int_equal(tc_id("b0", 0x677701, 0x6777), prog_id(gwbpf_egress_prog_fd(g)));
	/* Again: replaced in place. */
	assert_int_equal(gwbpf_attach_hook(g, "b0", GWBPF_HOOK_TC), 0);
	assert_int_equal(gwbpf_port_mode(g, "b0"), GWBPF_TC);
	/* Someone else's XDP program appears: not enforced, and refused. */
	int other = foreign_prog(BPF_PROG_TYPE_XDP, XDP_PASS);
	assert_int_equal(bpf_xdp_attach(ifindex("b0"), other, XDP_FLAGS_DRV_MODE, NULL), 0);
	assert_int_equal(gwbpf_port_mode(g, "b0"), -ENOENT);
	assert_int_equal(gwbpf_attach_hook(g, "b0", GWBPF_HOOK_TC), -EBUSY);
	assert_int_equal(bpf_xdp_detach(ifindex("b0"), XDP_FLAGS_DRV_MODE, NULL), 0);
	assert_int_equal(gwbpf_port_mode(g, "b0"), GWBPF_TC);
	/* Back to XDP: gw_ingress at the ingress place again. */
	assert_int_equal(gwbpf_attach_hook(g, "b0", GWBPF_HOOK_XDP), 0);
	assert_int_equal(gwbpf_port_mode(g, "b0"), GWBPF_XDP_NATIVE);
	assert_int_equal(tc_ingress_id("b0"), prog_id(gwbpf_ingress_prog_fd(g)));
	/* Detach from TC leaves nothing. */
	assert_int_equal(gwbpf_attach_hook(g, "b0", GWBPF_HOOK_TC), 0);
	assert_int_equal(gwbpf_detach(g, "b0"), 0);
	assert_int_equal(gwbpf_port_mode(g, "b0"), -ENOENT);
	assert_int_equal(tc_ingress_id("b0"), 0);
	assert_int_equal(tc_id("b0", 0x677701, 0x6777), 0);
	assert_int_equal(gwbpf_unpin(g), 0);
	gwbpf_free(g);
	close(other);
}

static void addr_cmd(const char *cmd)
{
	char line[200];
	snprintf(line, sizeof(line), "ip addr %s", cmd);
	assert_int_equal(system(line), 0);
}

/* A port's sources are its own addresses' prefixes (and link-local), as
 * the kernel has them when gw attaches and at every gwbpf_port_sync; a
 * source outside them is dropped (anti-spoofing, issue 13).  A flow opened
 * on one port and seen on another is checked against the other's. */
static void port_sources(void **state)
{
	struct gwbpf *g = NULL;
	assert_int_equal(gwbpf_open(root, &g), 0);
	apply(g);
	addr_cmd("add 10.5.0.1/24 dev b0");
	addr_cmd("add 192.168.50.1/24 dev b1");
	assert_int_equal(gwbpf_attach(g, "b0"), 0);
	assert_int_equal(gwbpf_attach(g, "b1"), 0);
	const int b0 = ifindex("b0"), b1 = ifindex("b1");
	const uint8_t in0[4] = { 10, 5, 0, 9 }, in1[4] = { 192, 168, 50, 9 },
		      out[4] = { 10, 6, 0, 9 };
	uint64_t spoofed = counter(g, GWBPF_CNT_SPOOFED);
	assert_int_equal(run_syn_from(g, in0, b0), XDP_PASS);
	assert_int_equal(run_syn_from(g, out, b0), XDP_DROP);
	assert_int_equal(run_syn_from(g, in1, b0), XDP_DROP);
	assert_int_equal(run_syn_from(g, in1, b1), XDP_PASS);
	assert_int_equal(counter(g, GWBPF_CNT_SPOOFED), spoofed + 2);

	/* The flow of 10.5.0.9 seen on b1: b1's sources do not have it, so
	 * the cached verdict is not enough. */
	assert_int_equal(run_syn_from(g, in0, b1), XDP_DROP);
	assert_int_equal(counter(g, GWBPF_CNT_SPOOFED), spoofed + 3);
	/* Where both ports have the prefix (a device that moved from one to
	 * the other), it is decided again there, and moves with it. */
	addr_cmd("add 10.5.0.200/24 dev b1");
	assert_int_equal(gwbpf_port_sync(g, "b1"), 0);
	uint64_t reclass = counter(g, GWBPF_CNT_FLOW_RECLASS);
	assert_int_equal(run_syn_from(g, in0, b1), XDP_PASS);
	assert_int_equal(counter(g, GWBPF_CNT_FLOW_RECLASS), reclass + 1);
	assert_int_equal(run_syn_from(g, in0, b1), XDP_PASS);
	assert_int_equal(counter(g, GWBPF_CNT_FLOW_RECLASS), reclass + 1);

	/* An address gained, one lost, seen at the next sync. */
	addr_cmd("add 10.6.0.1/16 dev b0");
	assert_int_equal(run_syn_from(g, out, b0), XDP_DROP);
	assert_int_equal(gwbpf_port_sync(g, "b0"), 0);
	assert_int_equal(run_syn_from(g, out, b0), XDP_PASS);
	addr_cmd("del 10.5.0.1/24 dev b0");
	assert_int_equal(gwbpf_port_sync(g, "b0"), 0);
	const uint8_t in0b[4] = { 10, 5, 0, 10 };
	assert_int_equal(run_syn_from(g, in0b, b0), XDP_DROP);
	assert_int_equal(run_syn_from(g, out, b0), XDP_PASS);
	/* Detach takes the port's sources away with the program (a flow
	 * cached meanwhile is another matter: its source was the port's). */
	assert_int_equal(gwbpf_detach(g, "b0"), 0);
	const uint8_t out2[4] = { 10, 6, 0, 10 };
	assert_int_equal(run_syn_from(g, out2, b0), XDP_DROP);
	assert_int_equal(gwbpf_detach(g, "b1"), 0);
	addr_cmd("flush dev b0");
	addr_cmd("flush dev b1");
	assert_int_equal(gwbpf_unpin(g), 0);
	gwbpf_free(g);
}

/* A frame of n bytes from device a (10.5.0.9) to 198.51.100.1:443 over
 * UDP, or the answer to it (down). */
static size_t rated_frame(uint8_t *f, size_t n, bool down)
{
	static const uint8_t a[4] = { 10, 5, 0, 9 }, s[4] = { 198, 51, 100, 1 };
	static const uint8_t mac_a[6] = { 2, 0, 0, 0, 0, 1 }, gw[6] = { 2, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa };
	memset(f, 0, n);
	memcpy(f, down ? mac_a : gw, 6);
	memcpy(f + 6, down ? gw : mac_a, 6);
	f[12] = 0x08;
	uint8_t *ip = f + 14;
	ip[0] = 0x45;
	ip[2] = (uint8_t)((n - 14) >> 8);
	ip[3] = (uint8_t)(n - 14);
	ip[8] = 64;
	ip[9] = IPPROTO_UDP;
	memcpy(ip + 12, down ? s : a, 4);
	memcpy(ip + 16, down ? a : s, 4);
	uint8_t *udp = ip + 20;
	udp[0] = down ? 0x01 : 0x9c, udp[1] = down ? 0xbb : 0x40;
	udp[2] = down ? 0x9c : 0x01, udp[3] = down ? 0x40 : 0xbb;
	udp[4] = (uint8_t)((n - 34) >> 8);
	udp[5] = (uint8_t)(n - 34);
	return n;
}

/* The program's verdict on frame f as if it came in on ifindex (XDP), or
 * went out there (TC egress: *ret_priority gets what it set). */
static uint32_t run_frame(struct gwbpf *g, uint8_t *f, size_t n, int ifindex, bool egress,
			  uint32_t *ret_priority)
{
	if (!egress) {
		struct xdp_md ctx = { .data_end = (uint32_t)n, .ingress_ifindex = (uint32_t)ifindex };
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f, .data_size_in = (uint32_t)n,
			    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1);
		assert_int_equal(bpf_prog_test_run_opts(gwbpf_prog_fd(g), &o), 0);
		return o.retval;
	}
	struct __sk_buff ctx = { .ifindex = (uint32_t)ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f, .data_size_in = (uint32_t)n,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .ctx_out = &ctx,
		    .ctx_size_out = sizeof(ctx), .repeat = 1);
	assert_int_equal(bpf_prog_test_run_opts(gwbpf_egress_prog_fd(g), &o), 0);
	*ret_priority = ctx.priority;
	return o.retval;
}

/* gw_ingress on frame f, as if it came in on ifindex: its verdict, and
 * the priority it set. */
static uint32_t run_ingress(struct gwbpf *g, uint8_t *f, size_t n, int ifindex,
			    uint32_t *ret_priority)
{
	struct __sk_buff ctx = { .ifindex = (uint32_t)ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f, .data_size_in = (uint32_t)n,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .ctx_out = &ctx,
		    .ctx_size_out = sizeof(ctx), .repeat = 1);
	assert_int_equal(bpf_prog_test_run_opts(gwbpf_ingress_prog_fd(g), &o), 0);
	*ret_priority = ctx.priority;
	return o.retval;
}

struct asks {
	struct gwbpf *g;
	unsigned n, made;
};

static int on_ask(const struct gwbpf_event *e, void *arg)
{
	struct asks *a = arg;
	if (e->kind != GWBPF_EV_SHAPE)
		return 0;
	a->n++;
	int r = gwbpf_shape(a->g, e);
	assert_true(r >= 0);
	a->made += r == 1;
	return 0;
}

/* `tc class show dev DEV` has class C (text: "6777:N"). */
static bool has_class(const char *dev, const char *c)
{
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "tc class show dev %s | grep -q 'htb %s '", dev, c);
	return system(cmd) == 0;
}

static bool root_is_htb(const char *dev)
{
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "tc qdisc show dev %s | grep -q '^qdisc htb 6777: root'", dev);
	return system(cmd) == 0;
}

/* Rates shape (issue 14): a rated flow's packets are policed until the
 * programs' request for its class is answered (gwbpf_shape, what gwd does
 * with a GWBPF_EV_SHAPE event); then they go to the class, an HTB class of
 * the rate on the ifb (upload) or on the port (download), and none is
 * dropped for the rate any more.  Classes go with their flows, their
 * slot, and their port.  Before, a 100 ms token bucket dropped what went
 * over, and one TCP flow got half its rate. */
static void shaper(void **state)
{
	struct gwbpf *g = NULL;
	assert_int_equal(gwbpf_open(root, &g), 0);
	addr_cmd("add 10.5.0.1/24 dev b0");
	assert_int_equal(gwbpf_attach(g, "b0"), 0);
	assert_int_equal(gwbpf_port_mode(g, "b0"), GWBPF_XDP_NATIVE);
	const char *text = "device a mac 02:00:00:00:00:01\n"
			   "rule slow allow device a rate 80kbit\n"
			   "default allow\n";
	struct pol_ir *ir = rp_load(text);
	struct pol_tables *t = NULL;
	struct gwbpf_bitmap active;
	assert_non_null(ir);
	assert_int_equal(gwbpf_tables_build(ir, &t), 0);
	assert_true(t->head.flags & POL_TABLES_F_RATES);
	gwbpf_active_mask(ir, (struct pol_when){ 2, 720 }, &active);
	assert_int_equal(gwbpf_stage(g, t, &active), 0);
	assert_int_equal(gwbpf_commit(g), 0);
	const int b0 = ifindex("b0");

	/* 80 kbit/s is 10 000 bytes a second, a 3000-byte bucket: the
	 * fourth 1000-byte frame at once is over, while there is no class. */
	uint8_t f[1000];
	uint32_t prio = 0;
	struct asks a = { .g = g };
	uint64_t drops = counter(g, GWBPF_CNT_RATE_DROP);
	for (int i = 0; i < 3; i++)
		assert_int_equal(run_frame(g, f, rated_frame(f, 1000, false), b0, false, NULL),
				 XDP_PASS);
	assert_int_equal(run_frame(g, f, rated_frame(f, 1000, false), b0, false, NULL), XDP_DROP);
	assert_int_equal(counter(g, GWBPF_CNT_RATE_DROP), drops + 1);
	/* One request, however many packets asked. */
	assert_int_equal(counter(g, GWBPF_CNT_SHAPE_ASK), 1);
	assert_true(gwbpf_events_drain(g, on_ask, &a) >= 1);
	assert_int_equal(a.n, 1);
	assert_int_equal(a.made, 1);
	assert_true(has_class(GWBPF_IFB, "6777:1"));
	assert_true(root_is_htb(GWBPF_IFB));
	struct gwbpf_shape_key up = { .rule = 0, .device = 0, .slot = 1, .dir = GWBPF_DIR_UP };
	uint32_t classid = 0;
	int dev = 0;
	assert_int_equal(gwbpf_shape_info(g, &up, &classid, &dev), 0);
	assert_int_equal(classid, 0x67770001);
	assert_int_equal(dev, ifindex(GWBPF_IFB));
	/* Now into the class: nothing more is dropped for the rate; TC
	 * ingress sends each to the ifb, in its class. */
	uint64_t shaped = counter(g, GWBPF_CNT_SHAPED);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(run_frame(g, f, rated_frame(f, 1000, false), b0, false, NULL),
				 XDP_PASS);
		prio = 0;
		assert_int_equal(run_ingress(g, f, rated_frame(f, 1000, false), b0, &prio),
				 TC_ACT_REDIRECT);
		assert_int_equal(prio, 0x67770001);
	}
	assert_int_equal(counter(g, GWBPF_CNT_RATE_DROP), drops + 1);
	assert_int_equal(counter(g, GWBPF_CNT_SHAPED), shaped + 20);
	/* What has no rate passes TC ingress untouched. */
	uint8_t syn[64];
	memcpy(syn, f, sizeof(syn));
	syn[14 + 9] = IPPROTO_TCP;
	assert_int_equal(run_ingress(g, syn, sizeof(syn), b0, &prio), TC_ACT_OK);
	/* Asked and answered once: a second answer changes nothing. */
	a = (struct asks){ .g = g };
	gwbpf_events_drain(g, on_ask, &a);
	assert_int_equal(a.made, 0);

	/* The download: the class on the port, which gets gw's HTB. */
	assert_false(root_is_htb("b0"));
	for (int i = 0; i < 3; i++)
		assert_int_equal(run_frame(g, f, rated_frame(f, 1000, true), b0, true, &prio),
				 TC_ACT_OK);
	assert_int_equal(run_frame(g, f, rated_frame(f, 1000, true), b0, true, &prio), TC_ACT_SHOT);
	a = (struct asks){ .g = g };
	gwbpf_events_drain(g, on_ask, &a);
	assert_int_equal(a.made, 1);
	assert_true(root_is_htb("b0"));
	assert_true(has_class("b0", "6777:2"));
	for (int i = 0; i < 20; i++) {
		prio = 0;
		assert_int_equal(run_frame(g, f, rated_frame(f, 1000, true), b0, true, &prio),
				 TC_ACT_OK);
		assert_int_equal(prio, 0x67770002);
	}

	/* The device's flows gone: its classes go too. */
	uint32_t n = 0;
	assert_int_equal(gwbpf_shapes_expire(g, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(gwbpf_flows_expire(g, 0, NULL), 0);
	assert_int_equal(gwbpf_shapes_expire(g, &n), 0);
	assert_int_equal(n, 2);
	assert_false(has_class(GWBPF_IFB, "6777:1"));
	assert_false(has_class("b0", "6777:2"));

	/* Made again; then a new generation in the other slot, and one more
	 * in this slot, which takes this slot's classes away. */
	run_frame(g, f, rated_frame(f, 1000, false), b0, false, NULL);
	a = (struct asks){ .g = g };
	gwbpf_events_drain(g, on_ask, &a);
	assert_int_equal(a.made, 1);
	assert_true(has_class(GWBPF_IFB, "6777:1"));
	assert_int_equal(gwbpf_stage(g, t, &active), 0);
	assert_int_equal(gwbpf_commit(g), 0);
	assert_true(has_class(GWBPF_IFB, "6777:1"));
	assert_int_equal(gwbpf_stage(g, t, &active), 0);
	assert_false(has_class(GWBPF_IFB, "6777:1"));
	assert_int_equal(gwbpf_commit(g), 0);

	/* Detach takes gw's HTB off the port. */
	run_frame(g, f, rated_frame(f, 1000, true), b0, true, &prio);
	a = (struct asks){ .g = g };
	gwbpf_events_drain(g, on_ask, &a);
	assert_int_equal(a.made, 1);
	assert_true(root_is_htb("b0"));
	assert_int_equal(gwbpf_detach(g, "b0"), 0);
	assert_false(root_is_htb("b0"));
	addr_cmd("flush dev b0");
	assert_int_equal(gwbpf_unpin(g), 0);
	assert_false(if_nametoindex(GWBPF_IFB));
	gwbpf_free(g);
	pol_tables_free(t);
	pol_ir_free(ir);
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
	if (geteuid() != 0)
		return gwtest_cannot_run("needs root");
	if (unshare(CLONE_NEWNET) < 0)
		return gwtest_cannot_run("no network namespace (%s)", strerror(errno));
	snprintf(root, sizeof(root), "/sys/fs/bpf/gw-test-%d", (int)getpid());
	snprintf(root2, sizeof(root2), "/sys/fs/bpf/gw-test-%d-b", (int)getpid());
	/* Skipped only where no BPF program loads at all: once a trivial
	 * one does, the verifier refusing the classifier is a failure. */
	struct bpf_insn probe[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int pfd = bpf_prog_load(BPF_PROG_TYPE_XDP, "gw_probe", "GPL", probe, 2, NULL);
	if (pfd < 0)
		return gwtest_cannot_run("BPF is not permitted here (%s)", strerror(errno));
	close(pfd);
	struct gwbpf *g = NULL;
	int r = gwbpf_new(&g);
	if (r < 0) {
		fprintf(stderr, "cannot load the classifier: %s\n", strerror(-r));
		return 1;
	}
	gwbpf_free(g);
	if (system("ip link add b0 type veth peer name b1 && ip link set b0 up && "
		   "ip link set b1 up && ip link add br0 type bridge && ip link set br0 up") != 0) {
		fprintf(stderr, "cannot make a veth pair and a bridge\n");
		return 1;
	}
	atexit(remove_pins);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pins_and_adoption),
		cmocka_unit_test(flow_table_size),
		cmocka_unit_test(events_ring_size),
		cmocka_unit_test(attach_detach),
		cmocka_unit_test(generic_fallback),
		cmocka_unit_test(hooks),
		cmocka_unit_test(port_sources),
		cmocka_unit_test(shaper),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
