/* SPDX-License-Identifier: MIT */
/* gwtop's model (tools/gwtop/model.h) fed with gwd's JSON as gwd sends it:
 * rates over the window, a restarted gwd's totals, blocked flows in the
 * last minute, blocks from events, filters and sorts, the batch objects,
 * and names that must not steer the terminal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "model.h"

static json_t *parse(const char *s)
{
	json_error_t e;
	json_t *o = json_loads(s, 0, &e);
	if (!o)
		fail_msg("bad test JSON: %s: %s", e.text, s);
	return o;
}

/* A devices reply: the laptop (declared) and a new device. */
static json_t *devices(uint64_t laptop_out, uint64_t laptop_in, uint64_t laptop_blocked,
		       uint64_t new_out)
{
	char buf[2048];
	snprintf(buf, sizeof(buf),
		 "{\"ok\":true,\"devices\":["
		 "{\"name\":\"sarah-laptop\",\"new\":false,\"owner\":\"sarah\",\"groups\":[],"
		 "\"macs\":[\"02:00:00:00:00:10\"],\"addrs\":[\"192.168.1.10\",\"2001:db8::10\"],"
		 "\"totals\":{\"pkts_out\":1,\"bytes_out\":%llu,\"pkts_in\":2,\"bytes_in\":%llu,"
		 "\"blocked_flows\":%llu,\"flows_live\":3,\"flows_total\":9}},"
		 "{\"name\":null,\"new\":true,\"owner\":null,\"groups\":[],"
		 "\"macs\":[\"02:00:00:00:00:99\"],\"addrs\":[],"
		 "\"totals\":{\"bytes_out\":%llu,\"bytes_in\":0,\"flows_live\":1}}],"
		 "\"now_ms\":1}",
		 (unsigned long long)laptop_out, (unsigned long long)laptop_in,
		 (unsigned long long)laptop_blocked, (unsigned long long)new_out);
	return parse(buf);
}

static const struct top_dev *dev(const struct top_model *m, const char *key)
{
	for (size_t i = 0; i < m->ndevs; i++)
		if (!strcmp(m->devs[i].key, key))
			return &m->devs[i];
	fail_msg("no device %s", key);
	return NULL;
}

static void feed(struct top_model *m, json_t *reply, uint64_t now)
{
	assert_int_equal(top_model_devices(m, reply, now), 0);
	json_decref(reply);
}

static void test_rates(void **state)
{
	struct top_model m;
	top_model_init(&m);
	feed(&m, devices(0, 0, 0, 0), 1000);
	const struct top_dev *d = dev(&m, "sarah-laptop");
	assert_true(d->up_bps < 0); /* one sample: not known yet */
	assert_string_equal(d->addr4, "192.168.1.10");
	assert_string_equal(d->addr6, "2001:db8::10");
	assert_string_equal(d->owner, "sarah");
	assert_false(d->is_new);
	const struct top_dev *n = dev(&m, "mac:02:00:00:00:00:99");
	assert_true(n->is_new);
	assert_string_equal(top_dev_arg(n), "02:00:00:00:00:99");
	/* The engines report about every 2 s: growth at 3 s and 5 s only,
	 * and the rate stays the average over the window, not 0 then 2x. */
	feed(&m, devices(0, 0, 0, 0), 2000);
	/* A second of history is less than the engines' period: not known
	 * yet, rather than a false 0. */
	assert_true(dev(&m, "sarah-laptop")->up_bps < 0);
	feed(&m, devices(250000, 500000, 0, 0), 3000);
	d = dev(&m, "sarah-laptop");
	assert_int_equal((int64_t)d->up_bps, 250000 * 8 / 2);
	feed(&m, devices(250000, 500000, 0, 0), 4000);
	feed(&m, devices(500000, 1000000, 0, 0), 5000);
	feed(&m, devices(500000, 1000000, 0, 0), 6000);
	d = dev(&m, "sarah-laptop");
	/* Over 1000..6000 ms: 500 kB up in 5 s. */
	assert_int_equal((int64_t)d->up_bps, 500000 * 8 / 5);
	assert_int_equal((int64_t)d->down_bps, 1000000 * 8 / 5);
	assert_int_equal((int64_t)m.up_bps, 500000 * 8 / 5);
	/* gwd restarted: totals went down; no negative rate, history again. */
	feed(&m, devices(100, 100, 0, 0), 7000);
	d = dev(&m, "sarah-laptop");
	assert_true(d->up_bps < 0);
	feed(&m, devices(1100, 100, 0, 0), 8000);
	feed(&m, devices(2100, 100, 0, 0), 9000);
	d = dev(&m, "sarah-laptop");
	assert_int_equal((int64_t)d->up_bps, 8000);
	/* A long delay (-d 10): the previous sample, though older than the
	 * window. */
	feed(&m, devices(12100, 100, 0, 0), 19000);
	d = dev(&m, "sarah-laptop");
	assert_int_equal((int64_t)d->up_bps, 8000);
	top_model_free(&m);
}

static void test_blocked_last_minute(void **state)
{
	struct top_model m;
	top_model_init(&m);
	uint64_t blocked[] = { 0, 2, 2, 5, 5, 5, 6, 6, 6, 6 };
	for (int i = 0; i < 10; i++)
		feed(&m, devices(0, 0, blocked[i], 0), 10000 * (uint64_t)(i + 1));
	/* At 100 s the minute starts at 40 s, whose snapshot holds 5 (the
	 * ring still has 30 s, holding 2: older than a minute). */
	assert_int_equal(dev(&m, "sarah-laptop")->blocked_1m, 6 - 5);
	assert_int_equal(m.blocked_1m, 1);
	feed(&m, devices(0, 0, 6, 0), 200000);
	assert_int_equal(dev(&m, "sarah-laptop")->blocked_1m, 0);
	top_model_free(&m);
}

static void test_views(void **state)
{
	struct top_model m;
	top_model_init(&m);
	feed(&m, devices(0, 0, 0, 0), 1000);
	feed(&m, devices(1000, 0, 0, 900000), 3000);
	size_t *v, n;
	/* By rate: the new device first. */
	assert_int_equal(top_model_dev_view(&m, NULL, TOP_SORT_RATE, false, false, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_true(m.devs[v[0]].is_new);
	free(v);
	assert_int_equal(top_model_dev_view(&m, NULL, TOP_SORT_RATE, true, false, &v, &n), 0);
	assert_false(m.devs[v[0]].is_new);
	free(v);
	assert_int_equal(top_model_dev_view(&m, NULL, TOP_SORT_NAME, false, false, &v, &n), 0);
	assert_true(m.devs[v[0]].is_new); /* "02:..." sorts before "sarah" */
	free(v);
	assert_int_equal(top_model_dev_view(&m, NULL, TOP_SORT_FLOWS, false, false, &v, &n), 0);
	assert_string_equal(m.devs[v[0]].key, "sarah-laptop");
	free(v);
	/* Filters: owner, address, MAC, "new"; case does not matter. */
	static const struct {
		const char *f;
		size_t n;
	} cases[] = { { "SARAH", 1 }, { "192.168.1", 1 }, { "00:99", 1 }, { "new", 1 },
		      { "2001:db8", 1 }, { "nobody", 0 }, { "", 2 } };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(top_model_dev_view(&m, cases[i].f, TOP_SORT_RATE, false, false, &v,
						    &n), 0);
		if (n != cases[i].n)
			fail_msg("filter '%s': %zu rows, not %zu", cases[i].f, n, cases[i].n);
		free(v);
	}
	top_model_free(&m);
}

#define FLOWS \
	"{\"ok\":true,\"flows\":[" \
	"{\"device\":\"thermostat\",\"mac\":\"02:00:00:00:00:30\",\"engine\":\"dataplane\"," \
	"\"family\":4,\"proto\":\"tcp\",\"src\":\"192.168.1.30\",\"sport\":40000," \
	"\"dst\":\"203.0.113.80\",\"dport\":80,\"domain\":null,\"verdict\":\"block\"," \
	"\"rule\":\"iot-nothing-else\",\"rule_index\":3,\"log\":false,\"generation\":1," \
	"\"pkts_out\":3,\"bytes_out\":%d,\"pkts_in\":0,\"bytes_in\":0,\"age_ms\":1500," \
	"\"idle_ms\":100}," \
	"{\"device\":\"thermostat\",\"mac\":\"02:00:00:00:00:30\",\"engine\":\"dataplane\"," \
	"\"family\":4,\"proto\":\"tcp\",\"src\":\"192.168.1.30\",\"sport\":40001," \
	"\"dst\":\"198.51.100.10\",\"dport\":443,\"domain\":\"cloud.example\"," \
	"\"verdict\":\"allow\",\"rule\":\"thermostat-cloud\",\"rule_index\":2,\"log\":false," \
	"\"generation\":1,\"pkts_out\":3,\"bytes_out\":%d,\"pkts_in\":2,\"bytes_in\":%d," \
	"\"age_ms\":1500,\"idle_ms\":100}]}"

static void test_flows(void **state)
{
	struct top_model m;
	top_model_init(&m);
	char buf[4096];
	snprintf(buf, sizeof(buf), FLOWS, 180, 1000, 2000);
	json_t *r = parse(buf);
	assert_int_equal(top_model_flows(&m, "thermostat", r, 1000), 0);
	json_decref(r);
	snprintf(buf, sizeof(buf), FLOWS, 180, 3000, 6000);
	r = parse(buf);
	assert_int_equal(top_model_flows(&m, "thermostat", r, 3000), 0);
	json_decref(r);
	size_t *v, n;
	assert_int_equal(top_model_flow_view(&m, NULL, TOP_FSORT_RATE, false, false, &v, &n), 0);
	assert_int_equal(n, 2);
	const struct top_flow *f = &m.flows[v[0]];
	assert_string_equal(f->domain, "cloud.example");
	assert_int_equal((int64_t)f->up_bps, 2000 * 8 / 2);
	assert_int_equal((int64_t)f->down_bps, 4000 * 8 / 2);
	free(v);
	assert_int_equal(top_model_flow_view(&m, "iot-nothing", TOP_FSORT_RATE, false, false, &v,
					     &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(m.flows[v[0]].verdict, "block");
	free(v);
	assert_int_equal(top_model_flow_view(&m, "443", TOP_FSORT_RATE, false, false, &v, &n), 0);
	assert_int_equal(n, 1);
	free(v);
	/* Every device's flows (batch mode's key ""), into a fresh model:
	 * nothing to carry over yet (no bsearch in no array: UBSan). */
	struct top_model fresh;
	top_model_init(&fresh);
	r = parse(buf);
	assert_int_equal(top_model_flows(&fresh, "", r, 3000), 0);
	json_decref(r);
	assert_int_equal(fresh.nflows, 2);
	top_model_free(&fresh);
	/* Another device's flows: no history carried over. */
	r = parse(buf);
	assert_int_equal(top_model_flows(&m, "other", r, 3000), 0);
	json_decref(r);
	assert_true(m.flows[0].up_bps < 0);
	/* The batch object says what gwd said. */
	json_t *o = top_flow_json(&m.flows[0], 7, 123);
	assert_string_equal(json_string_value(json_object_get(o, "type")), "flow");
	assert_string_equal(json_string_value(json_object_get(o, "device")), "thermostat");
	assert_int_equal(json_integer_value(json_object_get(o, "tick")), 7);
	assert_true(json_is_null(json_object_get(o, "rate_out_bps")));
	json_decref(o);
	top_model_free(&m);
}

static void test_blocks_and_clean(void **state)
{
	struct top_model m;
	top_model_init(&m);
	json_t *e = parse("{\"event\":\"flow.blocked\",\"seq\":4,\"time_ms\":5,"
			  "\"device\":\"thermo\\u001b[2Jstat\",\"dst\":\"203.0.113.80\","
			  "\"dport\":80,\"proto\":\"tcp\",\"verdict\":\"block\","
			  "\"rule\":\"iot-nothing-else\",\"engine\":\"dataplane\"}");
	assert_int_equal(top_model_event(&m, e), 1);
	json_decref(e);
	e = parse("{\"event\":\"flow.start\",\"verdict\":\"allow\"}");
	assert_int_equal(top_model_event(&m, e), 0);
	json_decref(e);
	e = parse("{\"event\":\"flow.decided\",\"verdict\":\"allow\"}");
	assert_int_equal(top_model_event(&m, e), 0);
	json_decref(e);
	e = parse("{\"event\":\"flow.decided\",\"verdict\":\"reject\",\"rule\":null,"
		  "\"rule_index\":-1,\"mac\":\"02:00:00:00:00:99\",\"dst\":\"::1\",\"proto\":58}");
	assert_int_equal(top_model_event(&m, e), 1);
	json_decref(e);
	assert_int_equal(m.nblocks, 2);
	/* No escape reaches the terminal. */
	assert_string_equal(m.blocks[0].device, "thermo?[2Jstat");
	assert_string_equal(m.blocks[0].rule, "iot-nothing-else");
	assert_string_equal(m.blocks[1].device, "02:00:00:00:00:99");
	assert_string_equal(m.blocks[1].proto, "58");
	for (int i = 0; i < TOP_BLOCKS + 5; i++) {
		e = parse("{\"event\":\"flow.blocked\",\"verdict\":\"block\",\"rule\":\"r\"}");
		top_model_event(&m, e);
		json_decref(e);
	}
	assert_int_equal(m.nblocks, TOP_BLOCKS);
	char buf[32];
	top_fmt_rate(buf, sizeof(buf), -1);
	assert_string_equal(buf, "-");
	top_fmt_rate(buf, sizeof(buf), 999);
	assert_string_equal(buf, "999 b/s");
	top_fmt_rate(buf, sizeof(buf), 1234567);
	assert_string_equal(buf, "1.2 Mb/s");
	top_fmt_rate(buf, sizeof(buf), 25e6);
	assert_string_equal(buf, "25 Mb/s");
	top_model_free(&m);
}

static void test_status(void **state)
{
	struct top_model m;
	top_model_init(&m);
	json_t *r = parse("{\"ok\":true,\"generation\":4,\"hash\":\"sha256:ab\","
			  "\"pending\":{\"generation\":4,\"previous\":3,\"deadline\":9,"
			  "\"seconds_left\":42},\"engines\":[{\"name\":\"dataplane\","
			  "\"generation\":4,\"state\":\"ok\"},{\"name\":\"ebpf\",\"generation\":3,"
			  "\"state\":\"degraded: no\"}]}");
	assert_int_equal(top_model_status(&m, r, 77), 0);
	json_decref(r);
	assert_true(m.status.pending);
	assert_int_equal(m.status.seconds_left, 42);
	assert_int_equal(m.status.nengines, 2);
	assert_string_equal(m.status.engines[1].state, "degraded: no");
	json_t *g = top_gateway_json(&m, 1, 2);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(g, "pending"),
							    "seconds_left")), 42);
	json_decref(g);
	top_model_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rates),
		cmocka_unit_test(test_blocked_last_minute),
		cmocka_unit_test(test_views),
		cmocka_unit_test(test_flows),
		cmocka_unit_test(test_blocks_and_clean),
		cmocka_unit_test(test_status),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
