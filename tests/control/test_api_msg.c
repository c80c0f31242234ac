/* SPDX-License-Identifier: MIT */
/* The API message parser: every field checked, every refusal with a code
 * and a reason, replies one line each; and the content hash (SHA-256). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api_msg.h"
#include "sha256.h"

static int parse(const char *line, struct gwd_api_req *r, struct gwd_api_err *e)
{
	return gwd_api_parse(line, strlen(line), r, e);
}

static void test_good(void **state)
{
	struct gwd_api_req r;
	struct gwd_api_err e;
	assert_int_equal(parse("{\"v\":1,\"id\":7,\"cmd\":\"status\"}", &r, &e), 0);
	assert_int_equal(r.id, 7);
	assert_int_equal(r.cmd, GWD_CMD_STATUS);
	assert_false(gwd_cmd_changes(r.cmd));
	gwd_api_req_free(&r);
	assert_int_equal(parse("{\"v\":1,\"id\":8,\"cmd\":\"policy.apply\",\"path\":\"/p.gw\","
			       "\"message\":\"hi\",\"confirm_seconds\":30}", &r, &e), 0);
	assert_int_equal(r.cmd, GWD_CMD_POLICY_APPLY);
	assert_true(gwd_cmd_changes(r.cmd));
	assert_string_equal(r.path, "/p.gw");
	assert_null(r.text);
	assert_string_equal(r.message, "hi");
	assert_int_equal(r.confirm_seconds, 30);
	assert_false(r.dry_run);
	gwd_api_req_free(&r);
	assert_int_equal(parse("{\"v\":1,\"id\":9,\"cmd\":\"policy.apply\",\"text\":\"a\\u0000b\","
			       "\"dry_run\":true}", &r, &e), 0);
	assert_int_equal(r.text_len, 3);
	assert_true(r.dry_run);
	gwd_api_req_free(&r);
	assert_int_equal(parse("{\"cmd\":\"policy.rollback\",\"id\":-3,\"v\":1,\"generation\":4}",
			       &r, &e), 0);
	assert_int_equal(r.generation, 4);
	assert_int_equal(r.id, -3);
	gwd_api_req_free(&r);
}

static void refused(const char *line, const char *code, const char *reason, bool have_id)
{
	struct gwd_api_req r;
	struct gwd_api_err e;
	assert_int_equal(parse(line, &r, &e), -EINVAL);
	assert_string_equal(e.code, code);
	if (!strstr(e.message, reason))
		fail_msg("'%s': reason '%s' lacks '%s'", line, e.message, reason);
	assert_int_equal(e.have_id, have_id);
}

static void test_refused(void **state)
{
	refused("", "malformed", "not JSON", false);
	refused("{\"v\":1,", "malformed", "not JSON", false);
	refused("[1,2]", "malformed", "JSON object", false);
	refused("{\"v\":1,\"cmd\":\"status\"}", "malformed", "'id'", false);
	refused("{\"v\":1,\"id\":\"1\",\"cmd\":\"status\"}", "malformed", "'id'", false);
	refused("{\"v\":2,\"id\":1,\"cmd\":\"status\"}", "version", "'v' must be 1", true);
	refused("{\"id\":1,\"cmd\":\"status\"}", "version", "'v'", true);
	refused("{\"v\":1,\"id\":1}", "malformed", "'cmd'", true);
	refused("{\"v\":1,\"id\":1,\"cmd\":\"reboot\"}", "unknown_command", "'reboot'", true);
	refused("{\"v\":1,\"id\":1,\"cmd\":\"status\\u0000x\"}", "unknown_command", "unknown", true);
	refused("{\"v\":1,\"id\":1,\"cmd\":\"status\",\"cmd\":\"policy.apply\"}", "malformed",
		"duplicate", false);
	refused("{\"v\":1,\"id\":1,\"cmd\":\"status\",\"x\":1}", "bad_argument", "no field 'x'",
		true);
	refused("{\"v\":1,\"id\":1,\"cmd\":\"policy.apply\"}", "bad_argument", "either", true);
	refused("{\"v\":1,\"id\":1,\"cmd\":\"policy.apply\",\"text\":\"x\",\"path\":\"/y\"}",
		"bad_argument", "either", true);
	refused("{\"v\":1,\"id\":1,\"cmd\":\"policy.apply\",\"path\":\"rel.gw\"}", "bad_argument",
		"absolute", true);
	refused("{\"v\":1,\"id\":1,\"cmd\":\"policy.apply\",\"path\":\"/a\\u0000b\"}",
		"bad_argument", "NUL", true);
	refused("{\"v\":1,\"id\":1,\"cmd\":\"policy.apply\",\"path\":5}", "bad_argument",
		"string", true);
	refused("{\"v\":1,\"id\":1,\"cmd\":\"policy.apply\",\"path\":\"/a\",\"dry_run\":1}",
		"bad_argument", "dry_run", true);
	refused("{\"v\":1,\"id\":1,\"cmd\":\"policy.apply\",\"path\":\"/a\",\"confirm_seconds\":0}",
		"bad_argument", "confirm_seconds", true);
	refused("{\"v\":1,\"id\":1,\"cmd\":\"policy.apply\",\"path\":\"/a\","
		"\"confirm_seconds\":86401}", "bad_argument", "confirm_seconds", true);
	refused("{\"v\":1,\"id\":1,\"cmd\":\"policy.apply\",\"path\":\"/a\",\"dry_run\":true,"
		"\"confirm_seconds\":5}", "bad_argument", "do not mix", true);
	refused("{\"v\":1,\"id\":1,\"cmd\":\"policy.rollback\",\"generation\":0}", "bad_argument",
		"generation", true);
	refused("{\"v\":1,\"id\":1,\"cmd\":\"policy.rollback\",\"generation\":4294967296}",
		"bad_argument", "generation", true);
	refused("{\"v\":1,\"id\":1,\"cmd\":\"policy.confirm\",\"generation\":1}", "bad_argument",
		"no field", true);

	char *msg = malloc(GWD_API_MAX_MESSAGE + 100);
	if (!msg)
		abort(); /* also tells gcc's -Warray-bounds msg is not NULL */
	int n = sprintf(msg, "{\"v\":1,\"id\":1,\"cmd\":\"policy.apply\",\"path\":\"/a\","
			"\"message\":\"");
	memset(msg + n, 'm', GWD_API_MAX_MESSAGE + 1);
	strcpy(msg + n + GWD_API_MAX_MESSAGE + 1, "\"}");
	refused(msg, "bad_argument", "'message'", true);
	free(msg);

	struct gwd_api_req r;
	struct gwd_api_err e;
	assert_int_equal(gwd_api_parse("{}", GWD_API_MAX_LINE + 1, &r, &e), -EINVAL);
	assert_string_equal(e.code, "too_long");
}

static void test_replies(void **state)
{
	char *s = gwd_api_reply_ok(5, json_pack("{s:s}", "x", "a\nb"));
	assert_string_equal(s, "{\"v\":1,\"id\":5,\"ok\":true,\"x\":\"a\\nb\"}\n");
	free(s);
	s = gwd_api_reply_err(false, 0, "malformed", "why", NULL);
	assert_string_equal(s, "{\"v\":1,\"id\":null,\"ok\":false,"
			       "\"error\":{\"code\":\"malformed\",\"message\":\"why\"}}\n");
	free(s);
	/* A reason quoting invalid UTF-8 still makes a reply. */
	s = gwd_api_reply_err(true, 2, "unknown_command", "bad \xff", json_array());
	assert_non_null(strstr(s, "\"id\":2"));
	assert_non_null(strstr(s, "\"diagnostics\":[]"));
	assert_int_equal(strchr(s, '\n') - s, (long)strlen(s) - 1);
	free(s);
}

static void test_sha256(void **state)
{
	char hex[72];
	gwd_sha256_hex("", 0, hex);
	assert_string_equal(hex, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b"
				 "7852b855");
	gwd_sha256_hex("abc", 3, hex);
	assert_string_equal(hex, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61"
				 "f20015ad");
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	gwd_sha256_hex(two, strlen(two), hex);
	assert_string_equal(hex, "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd4"
				 "19db06c1");
	/* 55, 56 and 64 bytes: the padding's edge cases. */
	char a[64];
	memset(a, 'a', sizeof(a));
	gwd_sha256_hex(a, 55, hex);
	assert_string_equal(hex, "sha256:9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e91"
				 "0f734318");
	gwd_sha256_hex(a, 56, hex);
	assert_string_equal(hex, "sha256:b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef797068"
				 "6ec6738a");
	gwd_sha256_hex(a, 64, hex);
	assert_string_equal(hex, "sha256:ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df"
				 "154668eb");
}

/* domains.learn: a name, its addresses, a TTL; all checked here. */
static void test_learn(void **state)
{
	struct gwd_api_req r;
	struct gwd_api_err e;
	const char *ok = "{\"v\":1,\"id\":3,\"cmd\":\"domains.learn\",\"name\":\"Tracker.example.\","
			 "\"addrs\":[\"203.0.113.7\",\"2001:db8::7\"],\"ttl\":300}";
	assert_int_equal(gwd_api_parse(ok, strlen(ok), &r, &e), 0);
	assert_int_equal(r.cmd, GWD_CMD_DOMAINS_LEARN);
	assert_true(gwd_cmd_changes(r.cmd));
	assert_string_equal(r.name, "Tracker.example.");
	assert_int_equal(r.ttl, 300);
	assert_int_equal(r.naddrs, 2);
	assert_int_equal(r.addrs[0].family, 4);
	assert_memory_equal(r.addrs[0].addr, "\xcb\x00\x71\x07", 4);
	assert_int_equal(r.addrs[1].family, 6);
	assert_int_equal(r.addrs[1].addr[15], 7);
	gwd_api_req_free(&r);
	static const struct { const char *line, *what; } bad[] = {
		{ "{\"v\":1,\"id\":1,\"cmd\":\"domains.learn\",\"addrs\":[\"1.2.3.4\"],\"ttl\":1}",
		  "'name' must be a DNS name" },
		{ "{\"v\":1,\"id\":1,\"cmd\":\"domains.learn\",\"name\":\"a..b\",\"addrs\":[\"1.2.3.4\"],"
		  "\"ttl\":1}", "'name' must be a DNS name" },
		{ "{\"v\":1,\"id\":1,\"cmd\":\"domains.learn\",\"name\":\"a b\",\"addrs\":[\"1.2.3.4\"],"
		  "\"ttl\":1}", "'name' must be a DNS name" },
		{ "{\"v\":1,\"id\":1,\"cmd\":\"domains.learn\",\"name\":\"a\",\"addrs\":[\"1.2.3.4\"]}",
		  "needs 'ttl'" },
		{ "{\"v\":1,\"id\":1,\"cmd\":\"domains.learn\",\"name\":\"a\",\"addrs\":[\"1.2.3.4\"],"
		  "\"ttl\":0}", "'ttl' must be 1..604800" },
		{ "{\"v\":1,\"id\":1,\"cmd\":\"domains.learn\",\"name\":\"a\",\"addrs\":[],\"ttl\":5}",
		  "array of 1..64" },
		{ "{\"v\":1,\"id\":1,\"cmd\":\"domains.learn\",\"name\":\"a\",\"addrs\":\"1.2.3.4\","
		  "\"ttl\":5}", "array of 1..64" },
		{ "{\"v\":1,\"id\":1,\"cmd\":\"domains.learn\",\"name\":\"a\",\"addrs\":[\"1.2.3.4\","
		  "\"1.2.3.256\"],\"ttl\":5}", "'addrs'[1]: '1.2.3.256' is not an IPv4 or IPv6" },
		{ "{\"v\":1,\"id\":1,\"cmd\":\"domains.learn\",\"name\":\"a\",\"addrs\":[4],\"ttl\":5}",
		  "'addrs'[0] must be an address string" },
		{ "{\"v\":1,\"id\":1,\"cmd\":\"domains.learn\",\"name\":\"a\",\"addrs\":[\"::1\"],"
		  "\"ttl\":5,\"sets\":1}", "takes no field 'sets'" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(gwd_api_parse(bad[i].line, strlen(bad[i].line), &r, &e), -EINVAL);
		assert_string_equal(e.code, "bad_argument");
		if (!strstr(e.message, bad[i].what))
			fail_msg("case %zu: '%s' lacks '%s'", i, e.message, bad[i].what);
	}
}

/* dhcp.lease: strings and an expiry taken as they come (lease.h checks
 * their content); the parts that must be there, and their types. */
static void test_dhcp_lease(void **state)
{
	struct gwd_api_req r;
	struct gwd_api_err e;
	(void)state;
	const char *ok = "{\"v\":1,\"id\":4,\"cmd\":\"dhcp.lease\",\"action\":\"add\","
			 "\"mac\":\"02:5e:11:aa:03:09\",\"addr\":\"192.168.1.57\",\"hostname\":"
			 "\"android-5f2a\",\"client_id\":\"01:02:5e:11:aa:03:09\",\"expires\":1795756800}";
	assert_int_equal(gwd_api_parse(ok, strlen(ok), &r, &e), 0);
	assert_int_equal(r.cmd, GWD_CMD_DHCP_LEASE);
	assert_true(gwd_cmd_changes(r.cmd));
	assert_string_equal(r.action, "add");
	assert_string_equal(r.mac, "02:5e:11:aa:03:09");
	assert_string_equal(r.addr, "192.168.1.57");
	assert_string_equal(r.hostname, "android-5f2a");
	assert_string_equal(r.client_id, "01:02:5e:11:aa:03:09");
	assert_int_equal(r.expires, 1795756800);
	gwd_api_req_free(&r);
	const char *bare = "{\"v\":1,\"id\":4,\"cmd\":\"dhcp.lease\",\"action\":\"del\","
			   "\"mac\":\"02:5e:11:aa:03:09\",\"addr\":\"192.168.1.57\"}";
	assert_int_equal(gwd_api_parse(bare, strlen(bare), &r, &e), 0);
	assert_null(r.hostname);
	assert_null(r.client_id);
	assert_int_equal(r.expires, 0);
	gwd_api_req_free(&r);
	static const struct { const char *line, *what; } bad[] = {
		{ "{\"v\":1,\"id\":1,\"cmd\":\"dhcp.lease\",\"mac\":\"02:5e:11:aa:03:09\","
		  "\"addr\":\"192.168.1.57\"}", "needs 'action', 'mac' and 'addr'" },
		{ "{\"v\":1,\"id\":1,\"cmd\":\"dhcp.lease\",\"action\":\"add\",\"mac\":7,"
		  "\"addr\":\"192.168.1.57\"}", "'mac' must be a string" },
		{ "{\"v\":1,\"id\":1,\"cmd\":\"dhcp.lease\",\"action\":\"add\",\"mac\":\"x\","
		  "\"addr\":\"192.168.1.57\",\"expires\":-1}", "'expires' must be unix seconds" },
		{ "{\"v\":1,\"id\":1,\"cmd\":\"dhcp.lease\",\"action\":\"add\",\"mac\":\"x\","
		  "\"addr\":\"192.168.1.57\",\"expires\":\"soon\"}", "'expires' must be unix seconds" },
		{ "{\"v\":1,\"id\":1,\"cmd\":\"dhcp.lease\",\"action\":\"add\",\"mac\":\"x\","
		  "\"addr\":\"192.168.1.57\",\"hostname\":\"a\\u0000b\"}", "contains a NUL" },
		{ "{\"v\":1,\"id\":1,\"cmd\":\"dhcp.lease\",\"action\":\"add\",\"mac\":\"x\","
		  "\"addr\":\"192.168.1.57\",\"iaid\":1}", "takes no field 'iaid'" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(gwd_api_parse(bad[i].line, strlen(bad[i].line), &r, &e), -EINVAL);
		assert_string_equal(e.code, "bad_argument");
		if (!strstr(e.message, bad[i].what))
			fail_msg("case %zu: '%s' lacks '%s'", i, e.message, bad[i].what);
	}
}

/* devices: brief or not. */
static void test_devices_brief(void **state)
{
	struct gwd_api_req r;
	struct gwd_api_err e;
	assert_int_equal(parse("{\"v\":1,\"id\":1,\"cmd\":\"devices\",\"brief\":true}", &r, &e), 0);
	assert_true(r.brief);
	gwd_api_req_free(&r);
	assert_int_equal(parse("{\"v\":1,\"id\":1,\"cmd\":\"devices\"}", &r, &e), 0);
	assert_false(r.brief);
	gwd_api_req_free(&r);
	assert_int_equal(parse("{\"v\":1,\"id\":1,\"cmd\":\"devices\",\"brief\":1}", &r, &e),
			 -EINVAL);
	assert_string_equal(e.code, "bad_argument");
	assert_non_null(strstr(e.message, "'brief' must be true or false"));
}

/* domains: an optional name (checked as domains.learn checks it) and a
 * limit as flows'; a read, not a change. */
static void test_domains_list(void **state)
{
	struct gwd_api_req r;
	struct gwd_api_err e;
	assert_int_equal(parse("{\"v\":1,\"id\":1,\"cmd\":\"domains\"}", &r, &e), 0);
	assert_int_equal(r.cmd, GWD_CMD_DOMAINS);
	assert_false(gwd_cmd_changes(r.cmd));
	assert_null(r.name);
	assert_int_equal(r.limit, GWD_API_FLOWS_LIMIT);
	gwd_api_req_free(&r);
	assert_int_equal(parse("{\"v\":1,\"id\":1,\"cmd\":\"domains\",\"name\":\"Example.com.\","
			       "\"limit\":5}", &r, &e), 0);
	assert_string_equal(r.name, "Example.com.");
	assert_int_equal(r.limit, 5);
	gwd_api_req_free(&r);
	static const struct { const char *line, *what; } bad[] = {
		{ "{\"v\":1,\"id\":1,\"cmd\":\"domains\",\"name\":\"a..b\"}",
		  "'name' must be a DNS name" },
		{ "{\"v\":1,\"id\":1,\"cmd\":\"domains\",\"name\":7}", "'name' must be a string" },
		{ "{\"v\":1,\"id\":1,\"cmd\":\"domains\",\"limit\":0}", "'limit' must be 1..65536" },
		{ "{\"v\":1,\"id\":1,\"cmd\":\"domains\",\"ttl\":5}", "takes no field 'ttl'" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i].line, &r, &e), -EINVAL);
		assert_string_equal(e.code, "bad_argument");
		if (!strstr(e.message, bad[i].what))
			fail_msg("case %zu: '%s' lacks '%s'", i, e.message, bad[i].what);
	}
}

/* events.subscribe: the types as a mask of gwd_api.h's list; every one
 * by default; names checked here. */
static void test_subscribe(void **state)
{
	struct gwd_api_req r;
	struct gwd_api_err e;
	assert_int_equal(parse("{\"v\":1,\"id\":1,\"cmd\":\"events.subscribe\"}", &r, &e), 0);
	assert_int_equal(r.cmd, GWD_CMD_EVENTS_SUBSCRIBE);
	assert_false(gwd_cmd_changes(r.cmd));
	assert_int_equal(r.types, (1u << GWD_API_EV_COUNT) - 1);
	gwd_api_req_free(&r);
	assert_int_equal(parse("{\"v\":1,\"id\":2,\"cmd\":\"events.subscribe\",\"types\":"
			       "[\"flow.blocked\",\"engine.state\",\"flow.blocked\"]}", &r, &e), 0);
	assert_int_equal(r.types, 1u << GWD_API_EV_FLOW_BLOCKED | 1u << GWD_API_EV_ENGINE_STATE);
	gwd_api_req_free(&r);
	assert_string_equal(gwd_api_event_name(GWD_API_EV_POLICY_APPLIED), "policy.applied");
	assert_null(gwd_api_event_name(GWD_API_EV_COUNT));
	static const struct { const char *line, *what; } bad[] = {
		{ "{\"v\":1,\"id\":1,\"cmd\":\"events.subscribe\",\"types\":[]}", "array of 1.." },
		{ "{\"v\":1,\"id\":1,\"cmd\":\"events.subscribe\",\"types\":\"flow.start\"}",
		  "array of 1.." },
		{ "{\"v\":1,\"id\":1,\"cmd\":\"events.subscribe\",\"types\":[\"flow.begin\"]}",
		  "'flow.begin' is not an event" },
		{ "{\"v\":1,\"id\":1,\"cmd\":\"events.subscribe\",\"types\":[7]}",
		  "'(not a string)' is not an event" },
		{ "{\"v\":1,\"id\":1,\"cmd\":\"events.subscribe\",\"types\":[\"lost\"]}",
		  "'lost' is not an event" },
		{ "{\"v\":1,\"id\":1,\"cmd\":\"events.subscribe\",\"follow\":true}",
		  "takes no field 'follow'" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i].line, &r, &e), -EINVAL);
		assert_string_equal(e.code, "bad_argument");
		if (!strstr(e.message, bad[i].what))
			fail_msg("case %zu: '%s' lacks '%s'", i, e.message, bad[i].what);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_dhcp_lease),
		cmocka_unit_test(test_learn),
		cmocka_unit_test(test_subscribe),
		cmocka_unit_test(test_devices_brief),
		cmocka_unit_test(test_domains_list),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
