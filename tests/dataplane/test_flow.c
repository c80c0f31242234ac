/* SPDX-License-Identifier: MIT */
/*
 * The flow table and NAT mappings on a real EAL (--no-huge, its own
 * --file-prefix): both directions, TCP states and classes, idle expiry
 * with a made-up clock, eviction order under a SYN flood, NAT port
 * preservation, endpoint-independent mapping, exhaustion and release.
 * Skips (77) where EAL cannot start.
 */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <rte_eal.h>

#include "flow.h"
#include "nat.h"
#include "parse.h"

static unsigned released;

static void on_release(void *ctx, struct dp_flow *f)
{
	(void)ctx;
	(void)f;
	released++;
}

static struct dp_flow_key key(uint32_t n, uint8_t role, int reverse)
{
	struct dp_flow_key k;
	memset(&k, 0, sizeof(k));
	uint8_t a[4] = { 192, 168, (uint8_t)(n >> 8), (uint8_t)n }, b[4] = { 198, 51, 100, 7 };
	memcpy(reverse ? k.dst : k.src, a, 4);
	memcpy(reverse ? k.src : k.dst, b, 4);
	k.sport = reverse ? 443 : (uint16_t)(1000 + n);
	k.dport = reverse ? (uint16_t)(1000 + n) : 443;
	k.proto = IPPROTO_TCP;
	k.family = 4;
	k.role = role;
	return k;
}

static uint32_t add(struct dp_flow_table *t, uint32_t n, uint64_t now)
{
	struct dp_flow_key k0 = key(n, 0, 0), k1 = key(n, 1, 1);
	uint32_t idx;
	assert_int_equal(dp_flow_insert(t, &k0, &k1, IPPROTO_TCP, now, &idx), 0);
	return idx;
}

static uint32_t find(struct dp_flow_table *t, uint32_t n, int reverse, unsigned *dir)
{
	struct dp_flow_key k = key(n, (uint8_t)reverse, reverse);
	return dp_flow_lookup(t, &k, dir);
}

static void handshake(struct dp_flow_table *t, uint32_t idx, uint64_t now)
{
	dp_flow_touch(t, idx, 0, 60, DP_TCP_SYN, now);
	dp_flow_touch(t, idx, 1, 60, DP_TCP_SYN | DP_TCP_ACK, now);
	dp_flow_touch(t, idx, 0, 52, DP_TCP_ACK, now);
}

static void test_both_directions(void **state)
{
	(void)state;
	struct dp_flow_table *t;
	assert_int_equal(dp_flow_table_new("t_dirs", 16, 0, on_release, NULL, &t), 0);
	uint32_t idx = add(t, 1, 1000);
	unsigned d = 9;
	assert_int_equal(find(t, 1, 0, &d), idx);
	assert_int_equal(d, 0);
	assert_int_equal(find(t, 1, 1, &d), idx);
	assert_int_equal(d, 1);
	assert_int_equal(find(t, 2, 0, &d), DP_FLOW_NONE);
	struct dp_flow_key k0 = key(1, 0, 0), k1 = key(1, 1, 1);
	uint32_t dup;
	assert_int_equal(dp_flow_insert(t, &k0, &k1, IPPROTO_TCP, 1000, &dup), -EEXIST);
	handshake(t, idx, 1000);
	struct dp_flow *f = dp_flow_get(t, idx);
	assert_int_equal(f->tcp, DP_TCP_EST);
	assert_int_equal(f->cls, DP_FC_TCP_EST);
	assert_int_equal(f->pkts[0], 2);
	assert_int_equal(f->pkts[1], 1);
	assert_int_equal(f->bytes[0], 112);
	dp_flow_touch(t, idx, 1, 40, DP_TCP_FIN | DP_TCP_ACK, 1001);
	assert_int_equal(f->cls, DP_FC_TCP_FIN);
	dp_flow_touch(t, idx, 0, 40, DP_TCP_FIN | DP_TCP_ACK, 1002);
	assert_int_equal(f->tcp, DP_TCP_CLOSING);
	assert_int_equal(f->cls, DP_FC_TCP_CLOSED);
	released = 0;
	dp_flow_remove(t, idx);
	assert_int_equal(released, 1);
	assert_int_equal(find(t, 1, 1, &d), DP_FLOW_NONE);
	dp_flow_table_free(t);
}

static void test_expiry(void **state)
{
	(void)state;
	struct dp_flow_table *t;
	assert_int_equal(dp_flow_table_new("t_exp", 64, 0, on_release, NULL, &t), 0);
	uint32_t a = add(t, 1, 0), b = add(t, 2, 0);
	handshake(t, a, 0);
	dp_flow_touch(t, b, 0, 60, DP_TCP_SYN, 0);
	/* The half-open one goes after 60 s; the established one stays. */
	assert_int_equal(dp_flow_expire(t, 59999, 100), 0);
	assert_int_equal(dp_flow_expire(t, 60000, 100), 1);
	unsigned d;
	assert_int_equal(find(t, 2, 0, &d), DP_FLOW_NONE);
	assert_int_equal(find(t, 1, 0, &d), a);
	/* Activity pushes expiry back. */
	dp_flow_touch(t, a, 1, 60, DP_TCP_ACK, 7000000);
	assert_int_equal(dp_flow_expire(t, 7440000 + 1000, 100), 0);
	assert_int_equal(dp_flow_expire(t, 7000000 + 7440000, 100), 1);
	struct dp_flow_stats s;
	dp_flow_stats(t, &s);
	assert_int_equal(s.expired, 2);
	assert_int_equal(s.active, 0);
	dp_flow_table_free(t);
}

static void test_syn_flood(void **state)
{
	(void)state;
	struct dp_flow_table *t;
	const uint32_t cap = 64, est = 20;
	assert_int_equal(dp_flow_table_new("t_flood", cap, 0, on_release, NULL, &t), 0);
	for (uint32_t n = 0; n < est; n++)
		handshake(t, add(t, n, 1000), 1000);
	/* Ten times the table of half-open flows, each newer than the last
	 * activity of the established ones. */
	for (uint32_t n = est; n < est + 10 * cap; n++) {
		uint32_t idx = add(t, n, 2000 + n);
		dp_flow_touch(t, idx, 0, 60, DP_TCP_SYN, 2000 + n);
	}
	unsigned d;
	for (uint32_t n = 0; n < est; n++)
		assert_int_not_equal(find(t, n, 0, &d), DP_FLOW_NONE);
	/* The newest half-open ones are there, the oldest gone. */
	assert_int_not_equal(find(t, est + 10 * cap - 1, 0, &d), DP_FLOW_NONE);
	assert_int_equal(find(t, est, 0, &d), DP_FLOW_NONE);
	struct dp_flow_stats s;
	dp_flow_stats(t, &s);
	assert_int_equal(s.active, cap);
	assert_int_equal(s.evicted, est + 10 * cap - cap);
	/* With only established flows left, the least recent goes first. */
	dp_flow_table_free(t);
	assert_int_equal(dp_flow_table_new("t_flood2", 4, 0, on_release, NULL, &t), 0);
	for (uint32_t n = 0; n < 4; n++)
		handshake(t, add(t, n, 100 + n), 100 + n);
	handshake(t, add(t, 9, 200), 200);
	assert_int_equal(find(t, 0, 0, &d), DP_FLOW_NONE);
	assert_int_not_equal(find(t, 1, 0, &d), DP_FLOW_NONE);
	dp_flow_table_free(t);
}

static void test_nat(void **state)
{
	(void)state;
	struct dp_nat *n;
	const uint8_t a[4] = { 192, 168, 1, 10 }, b[4] = { 192, 168, 1, 11 };
	const uint8_t mac[6] = { 2, 0, 0, 0, 0, 1 };
	assert_int_equal(dp_nat_new("t_nat", 16, 5000, 5002, 0, &n), 0);
	uint32_t ma, ma2, mb, mb2, mc, mx;
	/* Preserved when in range and free. */
	assert_int_equal(dp_nat_acquire(n, IPPROTO_UDP, a, 5000, mac, &ma), 0);
	assert_int_equal(dp_nat_get(n, ma)->ext, 5000);
	/* The same endpoint: the same mapping (endpoint-independent). */
	assert_int_equal(dp_nat_acquire(n, IPPROTO_UDP, a, 5000, mac, &ma2), 0);
	assert_int_equal(ma2, ma);
	/* Another host on the same port: another port of the range. */
	assert_int_equal(dp_nat_acquire(n, IPPROTO_UDP, b, 5000, mac, &mb), 0);
	uint16_t eb = dp_nat_get(n, mb)->ext;
	assert_true(eb == 5001 || eb == 5002);
	assert_int_equal(dp_nat_by_ext(n, IPPROTO_UDP, eb), mb);
	/* TCP has its own ports; out of range is never preserved. */
	assert_int_equal(dp_nat_acquire(n, IPPROTO_TCP, b, 5000, mac, &mc), 0);
	assert_int_equal(dp_nat_get(n, mc)->ext, 5000);
	assert_int_equal(dp_nat_acquire(n, IPPROTO_UDP, b, 80, mac, &mb2), 0);
	assert_true(dp_nat_get(n, mb2)->ext >= 5000 && dp_nat_get(n, mb2)->ext <= 5002);
	/* The range is full now. */
	assert_int_equal(dp_nat_acquire(n, IPPROTO_UDP, b, 81, mac, &mx), -ENOSPC);
	/* Released by every holder, the port is free again. */
	dp_nat_release(n, ma);
	assert_int_equal(dp_nat_by_ext(n, IPPROTO_UDP, 5000), ma);
	dp_nat_release(n, ma);
	assert_int_equal(dp_nat_by_ext(n, IPPROTO_UDP, 5000), DP_NAT_NONE);
	assert_int_equal(dp_nat_acquire(n, IPPROTO_UDP, b, 81, mac, &mx), 0);
	assert_int_equal(dp_nat_get(n, mx)->ext, 5000);
	assert_int_equal(dp_nat_by_ext(n, IPPROTO_UDP, 4999), DP_NAT_NONE);
	struct dp_nat_stats s;
	dp_nat_stats(n, &s);
	assert_int_equal(s.active, 4);
	assert_int_equal(s.exhausted, 1);
	dp_nat_free(n);
}

int main(void)
{
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "--file-prefix=gwdp-unit-%d", (int)getpid());
	char *eal[] = { "test_dp_flow", "--no-huge", "-m", "256", "--no-pci", "-l", "0",
			"--log-level", "lib.eal:error", prefix, NULL };
	if (rte_eal_init(10, eal) < 0) {
		fprintf(stderr, "EAL cannot start here; skipping\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_both_directions),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_syn_flood),
		cmocka_unit_test(test_nat),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	rte_eal_cleanup();
	char dir[128];
	snprintf(dir, sizeof(dir), "/var/run/dpdk/gwdp-unit-%d", (int)getpid());
	char cmd[160];
	/* EAL leaves its runtime folder behind. */
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return r;
}
