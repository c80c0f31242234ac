/* SPDX-License-Identifier: MIT */
/* conntrack's messages as the nft engine reads them (control/conntrack.c):
 * the fuzz corpus's real seeds (tests/fuzz/corpus/conntrack, the folder
 * is argv[1]) parse to what they are and the damaged ones are refused;
 * the tracker turns records into flow events in a real collector: the
 * cap (attribution never called past it), the end of a connection a dump
 * no longer shows (a DESTROY lost) without a second flow when the
 * DESTROY comes late, a TCP close, counters that grow; a dump of
 * answered connections only ends none that was never seen answered. */
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tcp.h>

#include "conntrack.h"
#include "flows.h"
#include "gwtest.h"
#include "ir.h"

static const char *dir;

static size_t seed(const char *name, uint8_t *buf, size_t cap)
{
	long n = gwtest_read_seed(dir, name, buf, cap);
	assert_true(n >= 0);
	return (size_t)n;
}

static void test_seeds(void **state)
{
	(void)state;
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *de;
	unsigned good = 0, bad = 0, counted = 0, v6 = 0;
	while ((de = readdir(d))) {
		uint8_t b[4096];
		struct gwd_ct_rec r;
		if (!strncmp(de->d_name, "bad-", 4)) {
			size_t n = seed(de->d_name, b, sizeof(b));
			assert_int_equal(gwd_ct_parse(b, n, &r), -EINVAL);
			bad++;
			continue;
		}
		if (strncmp(de->d_name, "ct-", 3))
			continue;
		size_t n = seed(de->d_name, b, sizeof(b));
		assert_int_equal(gwd_ct_parse(b, n, &r), 0);
		const char *kind = de->d_name + 3;
		if (!strncmp(kind, "new", 3))
			assert_int_equal(r.kind, GWD_CT_NEW);
		else if (!strncmp(kind, "destroy", 7))
			assert_int_equal(r.kind, GWD_CT_DESTROY);
		else
			assert_int_equal(r.kind, GWD_CT_UPDATE);
		assert_true(r.family == 4 || r.family == 6);
		assert_true(r.id != 0);
		if (r.family == 4) {
			static const uint8_t lo[4] = { 127, 0, 0, 1 };
			assert_memory_equal(r.src, lo, 4);
		} else {
			v6++;
		}
		/* The capture marked every connection 0x80004001 on output. */
		if (r.has_mark)
			assert_int_equal(r.mark, 0x80004001u);
		if (!strncmp(kind, "dump", 4)) {
			/* The dump was filtered by that mark, with accounting on. */
			assert_true(r.has_mark && r.has_counters && r.pkts[0] > 0);
			counted++;
		}
		if (r.proto == IPPROTO_TCP || r.proto == IPPROTO_UDP)
			assert_true(r.sport && r.dport);
		else
			assert_true(!r.sport && !r.dport);
		good++;
	}
	closedir(d);
	assert_true(good >= 20 && bad >= 9 && counted >= 4 && v6 >= 6);
}

struct attr_state {
	unsigned calls;
};

static bool attr(const struct gwd_ct_rec *r, struct gwd_flow_ev *ev, void *arg)
{
	struct attr_state *a = arg;
	a->calls++;
	memset(ev->mac, 0, 6);
	ev->mac[0] = 2;
	ev->mac[5] = (uint8_t)r->src[3];
	ev->action = POL_ALLOW;
	ev->rule = 7;
	ev->generation = 3;
	return true;
}

static struct gwd_ct_rec rec(uint8_t kind, uint32_t id, uint64_t bytes_in)
{
	struct gwd_ct_rec r = {
		.kind = kind, .family = 4, .proto = IPPROTO_TCP, .has_mark = true,
		.has_counters = true, .id = id, .mark = 0x80004000u, .sport = (uint16_t)(40000 + id),
		.dport = 443, .pkts = { 2, 3 }, .bytes = { 100, bytes_in },
	};
	r.src[0] = 10, r.src[3] = 10;
	r.dst[0] = 198, r.dst[1] = 51, r.dst[2] = 100, r.dst[3] = 1;
	return r;
}

static uint64_t flows_total(struct gwd_flows *f)
{
	struct gwd_device_totals t;
	static const uint8_t mac[6] = { 2, 0, 0, 0, 0, 10 };
	assert_int_equal(gwd_flows_device(f, mac, &t), 0);
	return t.flows_total;
}

static int first_bytes_in(const struct gwd_flow_info *fi, void *arg)
{
	*(uint64_t *)arg = fi->last.bytes[1];
	return 1;
}

static void test_tracker(void **state)
{
	(void)state;
	struct gwd_flows *f;
	struct gwd_ct_tracker *t;
	struct attr_state a = { 0 };
	struct gwd_ct_stats st;
	assert_int_equal(gwd_flows_new(64, 16, &f), 0);
	assert_int_equal(gwd_ct_tracker_new(2, 0x80000000u, 0x80000000u, f, attr, &a, &t), 0);

	/* Not the engine's (no mark bit): passed over. */
	struct gwd_ct_rec r = rec(GWD_CT_NEW, 9, 0);
	r.mark = 0x4000;
	gwd_ct_tracker_feed(t, &r, 1);
	assert_int_equal(a.calls, 0);
	assert_int_equal(gwd_flows_live(f), 0);

	/* The cap: two tracked, the third refused before attribution. */
	r = rec(GWD_CT_NEW, 1, 0);
	gwd_ct_tracker_feed(t, &r, 1);
	r = rec(GWD_CT_NEW, 2, 0);
	gwd_ct_tracker_feed(t, &r, 1);
	r = rec(GWD_CT_NEW, 3, 0);
	gwd_ct_tracker_feed(t, &r, 1);
	gwd_ct_tracker_stats(t, &st);
	assert_int_equal(a.calls, 2);
	assert_int_equal(st.tracked, 2);
	assert_int_equal(st.over_cap, 1);
	assert_int_equal(gwd_flows_live(f), 2);

	/* Counters that grew: the flow carries them. */
	r = rec(GWD_CT_UPDATE, 1, 5000);
	gwd_ct_tracker_feed(t, &r, 2);
	uint64_t in = 0;
	static const uint8_t mac[6] = { 2, 0, 0, 0, 0, 10 };
	gwd_flows_each(f, mac, 1, first_bytes_in, &in);
	assert_int_equal(in, 5000);

	/* A dump that shows only connection 1: 2 ended (its DESTROY lost). */
	gwd_ct_tracker_dump_begin(t, false);
	r = rec(GWD_CT_UPDATE, 1, 6000);
	gwd_ct_tracker_feed(t, &r, 3);
	gwd_ct_tracker_dump_end(t, 3);
	assert_int_equal(gwd_flows_live(f), 1);
	uint64_t total = flows_total(f);
	/* ...and its DESTROY, late, is not a connection of its own. */
	r = rec(GWD_CT_DESTROY, 2, 0);
	gwd_ct_tracker_feed(t, &r, 4);
	assert_int_equal(gwd_flows_live(f), 1);
	assert_int_equal(flows_total(f), total);
	assert_int_equal(a.calls, 2);

	/* Dump after dump: shown, it stays; then not shown, it ends. */
	gwd_ct_tracker_dump_begin(t, false);
	r = rec(GWD_CT_UPDATE, 1, 6500);
	gwd_ct_tracker_feed(t, &r, 5);
	gwd_ct_tracker_dump_end(t, 5);
	assert_int_equal(gwd_flows_live(f), 1);
	gwd_ct_tracker_dump_begin(t, false);
	gwd_ct_tracker_dump_end(t, 6);
	assert_int_equal(gwd_flows_live(f), 0);
	gwd_ct_tracker_dump_begin(t, false);
	gwd_ct_tracker_dump_end(t, 6); /* its tombstone goes */
	total = flows_total(f);

	/* A TCP close ends it at once; a later dump does not start it again. */
	r = rec(GWD_CT_NEW, 5, 0);
	gwd_ct_tracker_feed(t, &r, 7);
	assert_int_equal(gwd_flows_live(f), 1);
	r = rec(GWD_CT_UPDATE, 5, 7000);
	r.has_tcp_state = true;
	r.tcp_state = TCP_CONNTRACK_TIME_WAIT;
	gwd_ct_tracker_feed(t, &r, 8);
	assert_int_equal(gwd_flows_live(f), 0);
	gwd_ct_tracker_dump_begin(t, false);
	gwd_ct_tracker_feed(t, &r, 9);
	gwd_ct_tracker_dump_end(t, 9);
	assert_int_equal(gwd_flows_live(f), 0);
	assert_int_equal(flows_total(f), total + 1);
	gwd_ct_tracker_stats(t, &st);
	assert_int_equal(st.tracked, 0);
	gwd_ct_tracker_dump_begin(t, false);
	gwd_ct_tracker_dump_end(t, 10);

	/* A failed dump ends nothing. */
	r = rec(GWD_CT_NEW, 6, 0);
	gwd_ct_tracker_feed(t, &r, 11);
	assert_int_equal(gwd_flows_live(f), 1);
	gwd_ct_tracker_dump_begin(t, false);
	gwd_ct_tracker_dump_cancel(t);
	gwd_ct_tracker_dump_end(t, 12);
	assert_int_equal(gwd_flows_live(f), 1);
	gwd_ct_tracker_stats(t, &st);
	assert_int_equal(st.over_cap, 1);

	gwd_ct_tracker_free(t);
	gwd_flows_free(f);
}

/* gwd dumps answered connections (IPS_SEEN_REPLY) only, but for one dump
 * in CT_FULL_EVERY: a connection never seen answered lives on through the
 * answered-only dumps (they cannot show it), an answered one that such a
 * dump does not show has ended, and a full dump ends either. */
static void test_tracker_replied(void **state)
{
	(void)state;
	struct gwd_flows *f;
	struct gwd_ct_tracker *t;
	struct attr_state a = { 0 };
	assert_int_equal(gwd_flows_new(64, 16, &f), 0);
	assert_int_equal(gwd_ct_tracker_new(8, 0x80000000u, 0x80000000u, f, attr, &a, &t), 0);

	/* 1 unanswered, 2 answered, both from a full dump. */
	gwd_ct_tracker_dump_begin(t, false);
	struct gwd_ct_rec r = rec(GWD_CT_UPDATE, 1, 0);
	r.has_status = true;
	r.status = IPS_CONFIRMED;
	gwd_ct_tracker_feed(t, &r, 1);
	r = rec(GWD_CT_UPDATE, 2, 900);
	r.has_status = true;
	r.status = IPS_CONFIRMED | IPS_SEEN_REPLY;
	gwd_ct_tracker_feed(t, &r, 1);
	gwd_ct_tracker_dump_end(t, 1);
	assert_int_equal(gwd_flows_live(f), 2);

	/* An answered-only dump that shows 2: 1 stays. */
	gwd_ct_tracker_dump_begin(t, true);
	gwd_ct_tracker_feed(t, &r, 2);
	gwd_ct_tracker_dump_end(t, 2);
	assert_int_equal(gwd_flows_live(f), 2);

	/* 1 answered since (its update says so); an answered-only dump
	 * that shows neither ends both. */
	r = rec(GWD_CT_UPDATE, 1, 300);
	r.has_status = true;
	r.status = IPS_CONFIRMED | IPS_SEEN_REPLY;
	gwd_ct_tracker_feed(t, &r, 3);
	gwd_ct_tracker_dump_begin(t, true);
	gwd_ct_tracker_dump_end(t, 4);
	assert_int_equal(gwd_flows_live(f), 0);

	/* 3 unanswered: answered-only dumps keep it, a full one ends it. */
	r = rec(GWD_CT_NEW, 3, 0);
	r.has_status = true;
	r.status = IPS_CONFIRMED;
	gwd_ct_tracker_feed(t, &r, 5);
	gwd_ct_tracker_dump_begin(t, true);
	gwd_ct_tracker_dump_end(t, 6);
	gwd_ct_tracker_dump_begin(t, true);
	gwd_ct_tracker_dump_end(t, 7);
	assert_int_equal(gwd_flows_live(f), 1);
	gwd_ct_tracker_dump_begin(t, false);
	gwd_ct_tracker_dump_end(t, 8);
	assert_int_equal(gwd_flows_live(f), 0);
	struct gwd_ct_stats st;
	gwd_ct_tracker_stats(t, &st);
	assert_int_equal(st.tracked, 0);
	assert_int_equal(st.reported, 3);

	gwd_ct_tracker_free(t);
	gwd_flows_free(f);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test_conntrack CORPUS_DIR\n");
		return 2;
	}
	dir = argv[1];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seeds),
		cmocka_unit_test(test_tracker),
		cmocka_unit_test(test_tracker_replied),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
