/* SPDX-License-Identifier: MIT */
/* The `devices` and `flows` replies (control/flows_json.h) over a real
 * compiled policy and a fed collector: names from the policy, totals summed
 * over a device's MACs, unknown MACs as new devices, rule names by the
 * generation that decided. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "eval.h"
#include "flows_json.h"
#include "policy.h"

static const char POLICY[] =
	"person sarah\n"
	"group kids\n"
	"group adults\n"
	"device laptop mac 02:00:00:00:00:01, 02:00:00:00:00:02 owner sarah group adults\n"
	"device tablet mac 02:00:00:00:00:03 group kids\n"
	"rule kids-web allow group kids to internet port 443\n"
	"rule adults-all allow group adults\n"
	"default block\n";

static const char POLICY2[] =
	"device laptop mac 02:00:00:00:00:01\n"
	"rule first block device laptop to internet port 25\n"
	"rule second allow device laptop\n"
	"default block\n";

static struct pol_ir *compile(const char *text)
{
	struct pol_unit *u;
	assert_int_equal(pol_compile("t.gw", text, strlen(text), POL_F_NO_FILES, &u), 0);
	if (pol_unit_errors(u)) {
		pol_unit_render_diags(u, stderr);
		fail();
	}
	const void *img;
	size_t size;
	struct pol_ir *ir;
	char err[256];
	assert_int_equal(pol_unit_image(u, &img, &size), 0);
	assert_int_equal(pol_image_load(img, size, &ir, err, sizeof(err)), 0);
	pol_unit_free(u);
	return ir;
}

static void feed(struct gwd_flows *f, uint8_t kind, uint8_t last_mac_byte, uint16_t sport,
		 uint32_t rule, uint32_t gen, uint8_t action, uint64_t bytes, uint64_t t)
{
	struct gwd_flow_ev e = {
		.kind = kind, .engine = GWD_ENGINE_EBPF, .family = 4, .proto = 6, .action = action,
		.mac = { 2, 0, 0, 0, 0, last_mac_byte }, .src = { 192, 168, 1, 10 },
		.dst = { 198, 51, 100, 7 }, .sport = sport, .dport = 443, .rule = rule,
		.generation = gen, .pkts = { 1, 1 }, .bytes = { bytes, bytes * 2 }, .time_ms = t,
	};
	gwd_flows_feed(f, &e);
}

static json_t *find(json_t *list, const char *key, const char *val)
{
	size_t i;
	json_t *o;
	json_array_foreach(list, i, o) {
		json_t *v = json_object_get(o, key);
		if (json_is_string(v) && !strcmp(json_string_value(v), val))
			return o;
	}
	return NULL;
}

static json_int_t num(json_t *o, const char *path1, const char *path2)
{
	json_t *v = json_object_get(o, path1);
	if (path2)
		v = json_object_get(v, path2);
	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static const struct pol_ir *old_ir;

static const struct pol_ir *lookup(uint32_t gen, void *arg)
{
	assert_ptr_equal(arg, &old_ir);
	return gen == 1 ? old_ir : NULL;
}

static void test_devices(void **state)
{
	struct pol_ir *ir = compile(POLICY);
	struct gwd_flows *f;
	assert_int_equal(gwd_flows_new(64, 16, &f), 0);
	/* The laptop on both its MACs, the tablet not at all, a stranger. */
	feed(f, GWD_FLOW_NEW, 1, 1000, 1, 2, POL_ALLOW, 100, 5000);
	feed(f, GWD_FLOW_NEW, 2, 1001, 1, 2, POL_ALLOW, 50, 6000);
	feed(f, GWD_FLOW_END, 2, 1002, POL_RULE_DEFAULT, 2, POL_BLOCK, 7, 6500);
	feed(f, GWD_FLOW_NEW, 0x99, 1003, POL_RULE_DEFAULT_NEW, 2, POL_ALLOW, 10, 7000);
	json_t *r = gwd_devices_json(ir, f, 8000);
	json_t *list = json_object_get(r, "devices");
	assert_int_equal(json_array_size(list), 3);
	/* Declared devices first, in the policy's order. */
	json_t *laptop = json_array_get(list, 0);
	assert_string_equal(json_string_value(json_object_get(laptop, "name")), "laptop");
	assert_true(json_is_false(json_object_get(laptop, "new")));
	assert_string_equal(json_string_value(json_object_get(laptop, "owner")), "sarah");
	assert_string_equal(json_string_value(json_array_get(json_object_get(laptop, "groups"), 0)),
			    "adults");
	assert_int_equal(json_array_size(json_object_get(laptop, "macs")), 2);
	assert_int_equal(num(laptop, "totals", "bytes_out"), 157);
	assert_int_equal(num(laptop, "totals", "bytes_in"), 314);
	assert_int_equal(num(laptop, "totals", "blocked_bytes"), 7 + 14);
	assert_int_equal(num(laptop, "totals", "flows_live"), 2);
	assert_int_equal(num(laptop, "totals", "flows_total"), 3);
	assert_int_equal(num(laptop, "totals", "first_seen_ms"), 5000);
	assert_int_equal(num(laptop, "totals", "last_seen_ms"), 6500);
	/* The flow that ended blocked counts as one blocked flow. */
	assert_int_equal(num(laptop, "totals", "blocked_flows"), 1);
	json_t *addrs = json_object_get(laptop, "addrs");
	assert_int_equal(json_array_size(addrs), 1);
	assert_string_equal(json_string_value(json_array_get(addrs, 0)), "192.168.1.10");
	json_t *tablet = json_array_get(list, 1);
	assert_string_equal(json_string_value(json_object_get(tablet, "name")), "tablet");
	assert_true(json_is_null(json_object_get(tablet, "owner")));
	assert_int_equal(num(tablet, "totals", "bytes_out"), 0);
	assert_true(json_is_null(json_object_get(json_object_get(tablet, "totals"),
						 "last_seen_ms")));
	assert_int_equal(json_array_size(json_object_get(tablet, "addrs")), 0);
	json_t *stranger = json_array_get(list, 2);
	assert_true(json_is_null(json_object_get(stranger, "name")));
	assert_true(json_is_true(json_object_get(stranger, "new")));
	assert_string_equal(json_string_value(json_array_get(json_object_get(stranger, "macs"), 0)),
			    "02:00:00:00:00:99");
	assert_int_equal(num(stranger, "totals", "bytes_out"), 10);
	assert_int_equal(num(stranger, "totals", "blocked_flows"), 0);
	json_decref(r);
	/* A live flow decided again: allow to block counts once, block to
	 * block again not; an IPv6 flow adds the device's IPv6 address. */
	feed(f, GWD_FLOW_UPDATE, 0x99, 1003, 3, 2, POL_BLOCK, 11, 7100);
	feed(f, GWD_FLOW_UPDATE, 0x99, 1003, 3, 2, POL_BLOCK, 12, 7200);
	struct gwd_flow_ev e6 = {
		.kind = GWD_FLOW_NEW, .engine = GWD_ENGINE_EBPF, .family = 6, .proto = 6,
		.mac = { 2, 0, 0, 0, 0, 0x99 }, .src = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x99 },
		.dst = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 }, .sport = 5, .dport = 443,
		.rule = POL_RULE_DEFAULT_NEW, .generation = 2, .time_ms = 7300,
	};
	gwd_flows_feed(f, &e6);
	r = gwd_devices_json(ir, f, 8000);
	stranger = json_array_get(json_object_get(r, "devices"), 2);
	assert_int_equal(num(stranger, "totals", "blocked_flows"), 1);
	addrs = json_object_get(stranger, "addrs");
	assert_int_equal(json_array_size(addrs), 2);
	assert_string_equal(json_string_value(json_array_get(addrs, 0)), "192.168.1.10");
	assert_string_equal(json_string_value(json_array_get(addrs, 1)), "2001:db8::99");
	json_decref(r);
	/* brief: what gwtop shows, without groups, blocked packets and bytes,
	 * first and last seen; the same figures otherwise. */
	char *text;
	size_t len;
	assert_int_equal(gwd_devices_text(ir, f, 8000, true, &text, &len), 0);
	char *obj = malloc(len + 3);
	assert_non_null(obj);
	snprintf(obj, len + 3, "{%s}", text);
	json_t *b = json_loads(obj, 0, NULL);
	assert_non_null(b);
	json_t *bl = json_array_get(json_object_get(b, "devices"), 0);
	assert_null(json_object_get(bl, "groups"));
	assert_null(json_object_get(json_object_get(bl, "totals"), "blocked_pkts"));
	assert_null(json_object_get(json_object_get(bl, "totals"), "last_seen_ms"));
	assert_int_equal(num(bl, "totals", "bytes_out"), 157);
	assert_int_equal(num(bl, "totals", "blocked_flows"), 1);
	assert_string_equal(json_string_value(json_object_get(bl, "owner")), "sarah");
	assert_null(json_object_get(json_array_get(json_object_get(b, "devices"), 2), "groups"));
	json_decref(b);
	free(obj);
	free(text);
	/* Nothing applied yet: only what the collector saw, all new. */
	r = gwd_devices_json(NULL, f, 8000);
	assert_int_equal(json_array_size(json_object_get(r, "devices")), 3);
	json_decref(r);
	gwd_flows_free(f);
	pol_ir_free(ir);
}

/* The peer's name, as gwd's learned domains would give it. */
static const char *name_of(uint8_t family, const uint8_t *addr, void *arg)
{
	assert_ptr_equal(arg, &old_ir);
	return family == 4 && addr[0] == 198 && addr[3] == 7 ? "cdn.example" : NULL;
}

static void test_flows(void **state)
{
	struct pol_ir *ir = compile(POLICY);
	old_ir = compile(POLICY2);
	struct gwd_flows *f;
	assert_int_equal(gwd_flows_new(64, 16, &f), 0);
	/* Rule 1 of generation 1 is "second"; of generation 2, "adults-all". */
	feed(f, GWD_FLOW_NEW, 1, 1000, 1, 1, POL_ALLOW, 100, 5000);
	feed(f, GWD_FLOW_NEW, 2, 1001, 1, 2, POL_ALLOW, 50, 6000);
	feed(f, GWD_FLOW_NEW, 3, 1002, POL_RULE_DEFAULT, 2, POL_BLOCK, 5, 6100);
	feed(f, GWD_FLOW_UPDATE, 1, 1000, 1, 1, POL_ALLOW, 300, 7000);
	feed(f, GWD_FLOW_NEW, 0x99, 1003, 0, 7, POL_ALLOW, 1, 7100);
	json_t *r = gwd_flows_json(ir, 2, f, NULL, 0, 0, lookup, &old_ir, name_of, &old_ir, 9000);
	json_t *list = json_object_get(r, "flows");
	assert_int_equal(json_array_size(list), 4);
	json_t *o = json_array_get(list, 1); /* most recent first */
	assert_string_equal(json_string_value(json_object_get(o, "device")), "laptop");
	assert_string_equal(json_string_value(json_object_get(o, "rule")), "second");
	assert_int_equal(num(o, "generation", NULL), 1);
	assert_int_equal(num(o, "bytes_out", NULL), 300);
	assert_int_equal(num(o, "bytes_in", NULL), 600);
	assert_int_equal(num(o, "age_ms", NULL), 4000);
	assert_int_equal(num(o, "idle_ms", NULL), 2000);
	assert_int_equal(num(o, "sport", NULL), 1000);
	assert_string_equal(json_string_value(json_object_get(o, "src")), "192.168.1.10");
	assert_string_equal(json_string_value(json_object_get(o, "dst")), "198.51.100.7");
	assert_string_equal(json_string_value(json_object_get(o, "proto")), "tcp");
	assert_string_equal(json_string_value(json_object_get(o, "engine")), "ebpf");
	assert_string_equal(json_string_value(json_object_get(o, "domain")), "cdn.example");
	o = find(list, "rule", "adults-all");
	assert_non_null(o);
	assert_int_equal(num(o, "sport", NULL), 1001);
	o = find(list, "rule", "default");
	assert_string_equal(json_string_value(json_object_get(o, "device")), "tablet");
	assert_string_equal(json_string_value(json_object_get(o, "verdict")), "block");
	/* A generation nobody knows: no name, the index stays. */
	o = json_array_get(list, 0);
	assert_true(json_is_null(json_object_get(o, "device")));
	assert_true(json_is_null(json_object_get(o, "rule")));
	assert_int_equal(num(o, "rule_index", NULL), 0);
	json_decref(r);

	/* One device by name: its two MACs merged, most recent first. */
	uint8_t macs[8][6];
	size_t n;
	assert_int_equal(gwd_device_macs(ir, "laptop", macs, 8, &n), 0);
	assert_int_equal(n, 2);
	r = gwd_flows_json(ir, 2, f, (const uint8_t(*)[6])macs, n, 0, lookup, &old_ir, NULL,
			   NULL, 9000);
	list = json_object_get(r, "flows");
	assert_int_equal(json_array_size(list), 2);
	/* No name source: the domain is null. */
	assert_true(json_is_null(json_object_get(json_array_get(list, 0), "domain")));
	assert_int_equal(num(json_array_get(list, 0), "sport", NULL), 1000);
	assert_int_equal(num(json_array_get(list, 1), "sport", NULL), 1001);
	json_decref(r);
	r = gwd_flows_json(ir, 2, f, (const uint8_t(*)[6])macs, n, 1, lookup, &old_ir, NULL,
			   NULL, 9000);
	assert_int_equal(json_array_size(json_object_get(r, "flows")), 1);
	json_decref(r);
	/* By MAC, and names that are not devices. */
	assert_int_equal(gwd_device_macs(ir, "02:00:00:00:00:99", macs, 8, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(macs[0][5], 0x99);
	assert_int_equal(gwd_device_macs(ir, "toaster", macs, 8, &n), -ENOENT);
	assert_int_equal(gwd_device_macs(ir, "02:00:00:00:00:9", macs, 8, &n), -ENOENT);
	assert_int_equal(gwd_device_macs(ir, "02:00:00:00:00:99:", macs, 8, &n), -ENOENT);
	assert_int_equal(gwd_device_macs(ir, "laptop", macs, 1, &n), -ENOBUFS);
	gwd_flows_free(f);
	pol_ir_free(ir);
	pol_ir_free((struct pol_ir *)old_ir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_devices),
		cmocka_unit_test(test_flows),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
