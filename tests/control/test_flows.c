/* SPDX-License-Identifier: MIT */
/* The flow collector (control/flows.h): event sequences, totals that count
 * growth once, caps that evict the least recent, the blocked split, the
 * per-device view and its order. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "flows.h"
#include "ir.h"

static const uint8_t MAC_A[6] = { 0x02, 0, 0, 0, 0, 0xa };
static const uint8_t MAC_B[6] = { 0x02, 0, 0, 0, 0, 0xb };
static const uint8_t MAC_C[6] = { 0x02, 0, 0, 0, 0, 0xc };

/* A TCP flow from 192.168.1.<host>:<sport> to 198.51.100.7:443. */
static struct gwd_flow_ev ev(uint8_t kind, const uint8_t mac[6], uint8_t host, uint16_t sport,
			     uint64_t pkts_out, uint64_t bytes_out, uint64_t pkts_in,
			     uint64_t bytes_in, uint64_t t)
{
	struct gwd_flow_ev e = {
		.kind = kind, .engine = GWD_ENGINE_DATAPLANE, .family = 4, .proto = 6,
		.action = POL_ALLOW, .src = { 192, 168, 1, host }, .dst = { 198, 51, 100, 7 },
		.sport = sport, .dport = 443, .rule = 3, .generation = 1,
		.pkts = { pkts_out, pkts_in }, .bytes = { bytes_out, bytes_in }, .time_ms = t,
	};
	memcpy(e.mac, mac, 6);
	return e;
}

static struct gwd_flows *mk(uint32_t flows, uint32_t devices)
{
	struct gwd_flows *f;
	assert_int_equal(gwd_flows_new(flows, devices, &f), 0);
	return f;
}

static struct gwd_device_totals dev(const struct gwd_flows *f, const uint8_t mac[6])
{
	struct gwd_device_totals t;
	assert_int_equal(gwd_flows_device(f, mac, &t), 0);
	return t;
}

struct seen {
	size_t n;
	uint16_t sport[16];
	uint8_t kind[16];
	uint64_t bytes0[16];
	size_t stop_after; /* 0: never */
};

static int collect(const struct gwd_flow_info *fi, void *arg)
{
	struct seen *s = arg;
	if (s->n < 16) {
		s->sport[s->n] = fi->last.sport;
		s->kind[s->n] = fi->last.kind;
		s->bytes0[s->n] = fi->last.bytes[0];
	}
	s->n++;
	return s->stop_after && s->n >= s->stop_after;
}

static size_t live(const struct gwd_flows *f, const uint8_t *mac, size_t limit, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	return gwd_flows_each(f, mac, limit, collect, s);
}

static void test_caps_refused(void **state)
{
	struct gwd_flows *f = NULL;
	assert_int_equal(gwd_flows_new(0, 10, &f), -EINVAL);
	assert_int_equal(gwd_flows_new(10, 0, &f), -EINVAL);
	assert_null(f);
	f = mk(65536, 4096);
	size_t big = gwd_flows_memory(f);
	gwd_flows_free(f);
	f = mk(1024, 64);
	size_t small = gwd_flows_memory(f);
	gwd_flows_free(f);
	/* The bound grows with the caps; at least an event's worth a flow. */
	assert_true(big > small);
	assert_true(big >= 65536 * sizeof(struct gwd_flow_ev));
	assert_true(big < 64u << 20);
	gwd_flows_free(NULL);
}

static void test_new_update_end(void **state)
{
	struct gwd_flows *f = mk(16, 4);
	struct gwd_device_totals t;
	assert_int_equal(gwd_flows_device(f, MAC_A, &t), -ENOENT);
	struct gwd_flow_ev e = ev(GWD_FLOW_NEW, MAC_A, 10, 40000, 1, 60, 0, 0, 1000);
	gwd_flows_feed(f, &e);
	t = dev(f, MAC_A);
	assert_int_equal(t.pkts[0], 1);
	assert_int_equal(t.bytes[0], 60);
	assert_int_equal(t.flows_live, 1);
	assert_int_equal(t.flows_total, 1);
	assert_int_equal(t.first_ms, 1000);
	e = ev(GWD_FLOW_UPDATE, MAC_A, 10, 40000, 10, 1000, 8, 9000, 2000);
	gwd_flows_feed(f, &e);
	t = dev(f, MAC_A);
	assert_int_equal(t.pkts[0], 10);
	assert_int_equal(t.bytes[0], 1000);
	assert_int_equal(t.pkts[1], 8);
	assert_int_equal(t.bytes[1], 9000);
	assert_int_equal(t.last_ms, 2000);
	struct seen s;
	assert_int_equal(live(f, NULL, 0, &s), 1);
	assert_int_equal(s.kind[0], GWD_FLOW_UPDATE);
	assert_int_equal(s.bytes0[0], 1000);
	e = ev(GWD_FLOW_END, MAC_A, 10, 40000, 12, 1100, 9, 9500, 3000);
	gwd_flows_feed(f, &e);
	/* END keeps the device's totals, with the final growth. */
	t = dev(f, MAC_A);
	assert_int_equal(t.pkts[0], 12);
	assert_int_equal(t.bytes[0], 1100);
	assert_int_equal(t.pkts[1], 9);
	assert_int_equal(t.bytes[1], 9500);
	assert_int_equal(t.flows_live, 0);
	assert_int_equal(t.flows_total, 1);
	assert_int_equal(t.first_ms, 1000);
	assert_int_equal(t.last_ms, 3000);
	assert_int_equal(live(f, NULL, 0, &s), 0);
	gwd_flows_free(f);
}

static void test_repeated_update(void **state)
{
	struct gwd_flows *f = mk(16, 4);
	struct gwd_flow_ev e = ev(GWD_FLOW_NEW, MAC_A, 10, 40000, 2, 200, 1, 100, 1000);
	gwd_flows_feed(f, &e);
	for (int i = 0; i < 5; i++) {
		e = ev(GWD_FLOW_UPDATE, MAC_A, 10, 40000, 5, 500, 4, 400, 2000 + i);
		gwd_flows_feed(f, &e);
	}
	struct gwd_device_totals t = dev(f, MAC_A);
	assert_int_equal(t.pkts[0], 5);
	assert_int_equal(t.bytes[0], 500);
	assert_int_equal(t.pkts[1], 4);
	assert_int_equal(t.bytes[1], 400);
	assert_int_equal(t.flows_total, 1);
	/* The END with the same totals adds nothing either. */
	e = ev(GWD_FLOW_END, MAC_A, 10, 40000, 5, 500, 4, 400, 3000);
	gwd_flows_feed(f, &e);
	t = dev(f, MAC_A);
	assert_int_equal(t.bytes[0], 500);
	assert_int_equal(t.bytes[1], 400);
	gwd_flows_free(f);
}

static void test_counter_restart(void **state)
{
	struct gwd_flows *f = mk(16, 4);
	struct gwd_flow_ev e = ev(GWD_FLOW_NEW, MAC_A, 10, 40000, 10, 1000, 0, 0, 1000);
	gwd_flows_feed(f, &e);
	/* The engine restarted and reuses the key: its counters start over. */
	e = ev(GWD_FLOW_UPDATE, MAC_A, 10, 40000, 3, 300, 0, 0, 2000);
	gwd_flows_feed(f, &e);
	assert_int_equal(dev(f, MAC_A).bytes[0], 1300);
	/* A NEW for a live key: a new flow, counted from zero. */
	e = ev(GWD_FLOW_NEW, MAC_A, 10, 40000, 1, 50, 0, 0, 3000);
	gwd_flows_feed(f, &e);
	struct gwd_device_totals t = dev(f, MAC_A);
	assert_int_equal(t.bytes[0], 1350);
	assert_int_equal(t.flows_total, 2);
	assert_int_equal(t.flows_live, 1);
	gwd_flows_free(f);
}

static void test_unknown_update_and_end(void **state)
{
	struct gwd_flows *f = mk(16, 4);
	/* gwd started while the flow was live: an UPDATE makes it live. */
	struct gwd_flow_ev e = ev(GWD_FLOW_UPDATE, MAC_B, 11, 40001, 7, 700, 6, 600, 500);
	gwd_flows_feed(f, &e);
	struct gwd_device_totals t = dev(f, MAC_B);
	assert_int_equal(t.bytes[0], 700);
	assert_int_equal(t.flows_live, 1);
	assert_int_equal(t.flows_total, 1);
	/* An END of a flow never seen counts its whole life. */
	e = ev(GWD_FLOW_END, MAC_B, 11, 40002, 2, 20, 1, 10, 600);
	gwd_flows_feed(f, &e);
	t = dev(f, MAC_B);
	assert_int_equal(t.bytes[0], 720);
	assert_int_equal(t.bytes[1], 610);
	assert_int_equal(t.flows_live, 1);
	assert_int_equal(t.flows_total, 2);
	/* Nonsense events change nothing. */
	e = ev(9, MAC_B, 11, 40003, 1, 1, 1, 1, 700);
	gwd_flows_feed(f, &e);
	e = ev(GWD_FLOW_NEW, MAC_B, 11, 40003, 1, 1, 1, 1, 700);
	e.family = 5;
	gwd_flows_feed(f, &e);
	assert_int_equal(dev(f, MAC_B).flows_total, 2);
	gwd_flows_free(f);
}

static void test_blocked_split(void **state)
{
	struct gwd_flows *f = mk(16, 4);
	struct gwd_flow_ev e = ev(GWD_FLOW_NEW, MAC_A, 10, 40000, 1, 100, 1, 100, 1000);
	gwd_flows_feed(f, &e);
	e = ev(GWD_FLOW_UPDATE, MAC_A, 10, 40000, 4, 400, 2, 200, 2000);
	gwd_flows_feed(f, &e);
	/* A new generation blocks it: only what grows from now is blocked. */
	e = ev(GWD_FLOW_UPDATE, MAC_A, 10, 40000, 6, 600, 2, 200, 3000);
	e.action = POL_BLOCK;
	e.generation = 2;
	gwd_flows_feed(f, &e);
	/* A rejected flow of its own. */
	e = ev(GWD_FLOW_END, MAC_A, 10, 40009, 1, 40, 0, 0, 3100);
	e.action = POL_REJECT;
	gwd_flows_feed(f, &e);
	struct gwd_device_totals t = dev(f, MAC_A);
	assert_int_equal(t.pkts[0], 7);
	assert_int_equal(t.bytes[0], 640);
	assert_int_equal(t.pkts[1], 2);
	assert_int_equal(t.bytes[1], 200);
	assert_int_equal(t.blocked_pkts, 3);
	assert_int_equal(t.blocked_bytes, 240);
	gwd_flows_free(f);
}

static void test_flow_cap(void **state)
{
	struct gwd_flows *f = mk(3, 4);
	size_t mem = gwd_flows_memory(f);
	struct gwd_flow_ev e;
	for (uint16_t p = 1; p <= 3; p++) {
		e = ev(GWD_FLOW_NEW, MAC_A, 10, p, 1, 100, 0, 0, 1000 + p);
		gwd_flows_feed(f, &e);
	}
	/* Flow 1 is touched again: flow 2 is now the least recent. */
	e = ev(GWD_FLOW_UPDATE, MAC_A, 10, 1, 2, 200, 0, 0, 2000);
	gwd_flows_feed(f, &e);
	e = ev(GWD_FLOW_NEW, MAC_A, 10, 4, 1, 100, 0, 0, 2001);
	gwd_flows_feed(f, &e);
	struct seen s;
	assert_int_equal(live(f, NULL, 0, &s), 3);
	assert_int_equal(s.sport[0], 4);
	assert_int_equal(s.sport[1], 1);
	assert_int_equal(s.sport[2], 3);
	/* Flow 2's bytes stay in the totals after its eviction. */
	struct gwd_device_totals t = dev(f, MAC_A);
	assert_int_equal(t.bytes[0], 500);
	assert_int_equal(t.flows_live, 3);
	assert_int_equal(t.flows_total, 4);
	/* Thousands more flows: never more than the cap, memory unchanged. */
	for (uint32_t p = 5; p < 5000; p++) {
		e = ev(GWD_FLOW_NEW, MAC_A, 10, (uint16_t)p, 1, 1, 0, 0, 3000 + p);
		gwd_flows_feed(f, &e);
	}
	assert_int_equal(live(f, NULL, 0, &s), 3);
	assert_int_equal(s.sport[0], 4999);
	assert_int_equal(dev(f, MAC_A).flows_live, 3);
	assert_int_equal(gwd_flows_memory(f), mem);
	gwd_flows_free(f);
}

static int count_devices(const struct gwd_device_totals *d, void *arg)
{
	uint8_t (*macs)[6] = arg;
	size_t i = 0;
	while (macs[i][0])
		i++;
	memcpy(macs[i], d->mac, 6);
	return 0;
}

static void test_device_cap(void **state)
{
	struct gwd_flows *f = mk(16, 2);
	struct gwd_flow_ev e = ev(GWD_FLOW_NEW, MAC_A, 10, 1, 1, 100, 0, 0, 1000);
	gwd_flows_feed(f, &e);
	e = ev(GWD_FLOW_NEW, MAC_B, 11, 1, 1, 200, 0, 0, 1001);
	gwd_flows_feed(f, &e);
	/* A is seen again, so B is the least recent when C comes. */
	e = ev(GWD_FLOW_UPDATE, MAC_A, 10, 1, 2, 150, 0, 0, 1002);
	gwd_flows_feed(f, &e);
	e = ev(GWD_FLOW_NEW, MAC_C, 12, 1, 1, 300, 0, 0, 1003);
	gwd_flows_feed(f, &e);
	struct gwd_device_totals t;
	assert_int_equal(gwd_flows_device(f, MAC_B, &t), -ENOENT);
	assert_int_equal(dev(f, MAC_A).bytes[0], 150);
	assert_int_equal(dev(f, MAC_C).bytes[0], 300);
	uint8_t macs[4][6] = { { 0 } };
	assert_int_equal(gwd_flows_devices(f, count_devices, macs), 2);
	assert_memory_equal(macs[0], MAC_C, 6); /* most recently seen first */
	assert_memory_equal(macs[1], MAC_A, 6);
	/* B's flow is still live, detached; the device filter finds it. */
	struct seen s;
	assert_int_equal(live(f, MAC_B, 0, &s), 1);
	assert_int_equal(live(f, NULL, 0, &s), 3);
	/* Its next event makes B a device again (evicting A, now the least
	 * recent), with only what grew since. */
	e = ev(GWD_FLOW_UPDATE, MAC_B, 11, 1, 3, 260, 0, 0, 1004);
	gwd_flows_feed(f, &e);
	t = dev(f, MAC_B);
	assert_int_equal(t.bytes[0], 60);
	assert_int_equal(t.flows_live, 1);
	assert_int_equal(gwd_flows_device(f, MAC_A, &t), -ENOENT);
	assert_int_equal(live(f, MAC_A, 0, &s), 1);
	assert_int_equal(live(f, MAC_B, 0, &s), 1);
	gwd_flows_free(f);
}

static void test_device_filter_limit(void **state)
{
	struct gwd_flows *f = mk(64, 8);
	struct gwd_flow_ev e;
	/* A: ports 1..5, B: ports 101..103, interleaved in time. */
	for (uint16_t p = 1; p <= 5; p++) {
		e = ev(GWD_FLOW_NEW, MAC_A, 10, p, 1, 1, 0, 0, 1000 + p * 10);
		gwd_flows_feed(f, &e);
		if (p <= 3) {
			e = ev(GWD_FLOW_NEW, MAC_B, 11, (uint16_t)(100 + p), 1, 1, 0, 0,
			       1000 + p * 10 + 5);
			gwd_flows_feed(f, &e);
		}
	}
	/* Port 2 is updated last: it leads A's list. */
	e = ev(GWD_FLOW_UPDATE, MAC_A, 10, 2, 2, 2, 0, 0, 5000);
	gwd_flows_feed(f, &e);
	struct seen s;
	assert_int_equal(live(f, MAC_A, 0, &s), 5);
	uint16_t want_a[] = { 2, 5, 4, 3, 1 };
	for (int i = 0; i < 5; i++)
		assert_int_equal(s.sport[i], want_a[i]);
	assert_int_equal(live(f, MAC_A, 3, &s), 3);
	assert_int_equal(s.sport[2], 4);
	assert_int_equal(live(f, MAC_B, 2, &s), 2);
	assert_int_equal(s.sport[0], 103);
	assert_int_equal(s.sport[1], 102);
	assert_int_equal(live(f, MAC_C, 0, &s), 0);
	assert_int_equal(live(f, NULL, 4, &s), 4);
	uint16_t want_all[] = { 2, 5, 4, 103 };
	for (int i = 0; i < 4; i++)
		assert_int_equal(s.sport[i], want_all[i]);
	/* fn stops the walk. */
	memset(&s, 0, sizeof(s));
	s.stop_after = 2;
	assert_int_equal(gwd_flows_each(f, NULL, 0, collect, &s), 2);
	/* IPv6 and IPv4 flows with the same ports are different flows. */
	e = ev(GWD_FLOW_NEW, MAC_C, 10, 1, 1, 1, 0, 0, 6000);
	e.family = 6;
	gwd_flows_feed(f, &e);
	assert_int_equal(live(f, MAC_C, 0, &s), 1);
	assert_int_equal(live(f, MAC_A, 0, &s), 5);
	gwd_flows_free(f);
}

/* What the watcher (gwd's events and metrics) is told, event by event. */
struct notes {
	size_t n;
	struct {
		bool start, decided, end, evicted, new_mac;
		uint16_t sport;
		uint64_t bytes0;
	} v[16];
};

static void watch(const struct gwd_flow_note *n, void *arg)
{
	struct notes *s = arg;
	assert_true(s->n < 16);
	s->v[s->n].start = n->start;
	s->v[s->n].decided = n->decided;
	s->v[s->n].end = n->end;
	s->v[s->n].evicted = n->evicted;
	s->v[s->n].new_mac = n->new_mac;
	s->v[s->n].sport = n->ev->sport;
	s->v[s->n].bytes0 = n->bytes[0];
	s->n++;
}

static void test_watch(void **state)
{
	struct gwd_flows *f = mk(1, 4);
	struct notes s = { 0 };
	gwd_flows_watch(f, watch, &s);
	struct gwd_flow_ev e = ev(GWD_FLOW_NEW, MAC_A, 10, 1000, 1, 100, 0, 0, 10);
	gwd_flows_feed(f, &e);
	e = ev(GWD_FLOW_UPDATE, MAC_A, 10, 1000, 2, 250, 1, 60, 20);
	gwd_flows_feed(f, &e);
	e.action = POL_BLOCK;
	e.bytes[0] = 260;
	gwd_flows_feed(f, &e);
	e.kind = GWD_FLOW_END;
	gwd_flows_feed(f, &e);
	/* The table holds one flow: the second pushes the third out. */
	e = ev(GWD_FLOW_NEW, MAC_A, 10, 2000, 1, 10, 0, 0, 30);
	gwd_flows_feed(f, &e);
	e = ev(GWD_FLOW_NEW, MAC_B, 11, 3000, 1, 10, 0, 0, 40);
	gwd_flows_feed(f, &e);
	assert_int_equal(s.n, 7);
	assert_true(s.v[0].start && s.v[0].new_mac && !s.v[0].end && !s.v[0].decided);
	assert_int_equal(s.v[0].bytes0, 100);
	assert_true(!s.v[1].start && !s.v[1].new_mac && !s.v[1].decided && !s.v[1].end);
	assert_int_equal(s.v[1].bytes0, 150);
	assert_true(s.v[2].decided && !s.v[2].end);
	assert_int_equal(s.v[2].bytes0, 10);
	assert_true(s.v[3].end && !s.v[3].evicted && !s.v[3].decided);
	assert_true(s.v[4].start && !s.v[4].new_mac && s.v[4].sport == 2000);
	assert_true(s.v[5].end && s.v[5].evicted && s.v[5].sport == 2000);
	assert_true(s.v[6].start && s.v[6].new_mac && s.v[6].sport == 3000);
	assert_int_equal(gwd_flows_live(f), 1);
	assert_int_equal(gwd_flows_ndevices(f), 2);
	gwd_flows_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_watch),
		cmocka_unit_test(test_caps_refused),
		cmocka_unit_test(test_new_update_end),
		cmocka_unit_test(test_repeated_update),
		cmocka_unit_test(test_counter_restart),
		cmocka_unit_test(test_unknown_update_and_end),
		cmocka_unit_test(test_blocked_split),
		cmocka_unit_test(test_flow_cap),
		cmocka_unit_test(test_device_cap),
		cmocka_unit_test(test_device_filter_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
