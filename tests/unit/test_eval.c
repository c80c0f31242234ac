/* SPDX-License-Identifier: MIT */
/* The reference evaluator: the language's meaning, case by case. */
#include <netinet/in.h>
#include <arpa/inet.h>

#include "helpers.h"

static struct pol_facts facts(const struct pol_ir *ir, const char *device, const char *dst,
			      uint8_t proto, uint16_t port)
{
	struct pol_facts f = { .proto = proto, .dport = port };
	f.device = device ? pol_device_by_name(ir, device) : POL_NONE;
	if (device)
		assert_int_not_equal(f.device, POL_NONE);
	if (inet_pton(AF_INET, dst, f.dst) == 1)
		f.family = 4;
	else {
		assert_int_equal(inet_pton(AF_INET6, dst, f.dst), 1);
		f.family = 6;
	}
	f.when = (struct pol_when){ 2, 12 * 60 }; /* Wednesday noon */
	return f;
}

static const char *decided(const struct pol_ir *ir, const struct pol_facts *f, uint8_t *action)
{
	struct pol_verdict v;
	pol_eval(ir, f, &v, NULL);
	*action = v.action;
	if (v.rule == POL_RULE_DEFAULT)
		return "default";
	if (v.rule == POL_RULE_DEFAULT_NEW)
		return "default new";
	return pol_ir_str(ir, ir->rules[v.rule].name);
}

#define EXPECT(ir, f, rule, act)                                   \
	do {                                                       \
		uint8_t a_;                                        \
		assert_string_equal(decided((ir), (f), &a_), rule); \
		assert_int_equal(a_, act);                         \
	} while (0)

static const char *home =
	"person ann\nperson bob\ngroup kids\ngroup iot\n"
	"device tab mac 02:00:00:00:00:01 owner bob group kids\n"
	"device lap mac 02:00:00:00:00:02 owner ann\n"
	"device cam mac 02:00:00:00:00:03 group iot\n"
	"list vendor prefixes { 203.0.113.0/24, 2001:db8::/32 }\n"
	"list ads domains { ads.example, *.track.example }\n"
	"rule no-ads block any to list ads\n"
	"rule cam-cloud allow device cam to list vendor proto tcp port 443\n"
	"rule cam-else reject device cam\n"
	"rule kids-web allow group kids to internet port 80, 443, 8000-8999\n"
	"rule kids-rest block group kids\n"
	"rule bob-dns allow person bob to lan proto udp port 53\n"
	"rule ping allow any proto icmp\n"
	"rule newbie allow new to internet rate 1mbit log\n"
	"default allow\ndefault new block\n";

static void first_match_and_subjects(void **state)
{
	struct pol_ir *ir = compile_ok(home);
	struct pol_facts f = facts(ir, "cam", "203.0.113.9", IPPROTO_TCP, 443);
	EXPECT(ir, &f, "cam-cloud", POL_ALLOW);
	f.dport = 80;
	EXPECT(ir, &f, "cam-else", POL_REJECT);
	f = facts(ir, "cam", "2001:db8::1", IPPROTO_TCP, 443);
	EXPECT(ir, &f, "cam-cloud", POL_ALLOW);
	f = facts(ir, "tab", "198.51.100.1", IPPROTO_TCP, 8080);
	EXPECT(ir, &f, "kids-web", POL_ALLOW);
	f.dport = 22;
	EXPECT(ir, &f, "kids-rest", POL_BLOCK);
	f = facts(ir, "lap", "198.51.100.1", IPPROTO_TCP, 22);
	EXPECT(ir, &f, "default", POL_ALLOW);
	pol_ir_free(ir);
}

static void new_devices_only_match_new(void **state)
{
	struct pol_ir *ir = compile_ok(home);
	/* `any` rules do not apply to a device nobody has named. */
	struct pol_facts f = facts(ir, NULL, "198.51.100.1", IPPROTO_ICMP, 0);
	struct pol_verdict v;
	pol_eval(ir, &f, &v, NULL);
	assert_string_equal(pol_ir_str(ir, ir->rules[v.rule].name), "newbie");
	assert_int_equal(v.rate_bps, 1000000);
	assert_true(v.log);
	f = facts(ir, NULL, "192.168.1.10", IPPROTO_TCP, 80);
	EXPECT(ir, &f, "default new", POL_BLOCK);
	/* Unknown MAC looks up as new. */
	uint8_t mac[6] = { 2, 0, 0, 0, 0, 0x99 };
	assert_int_equal(pol_device_by_mac(ir, mac), POL_NONE);
	mac[5] = 3;
	assert_int_equal(pol_device_by_mac(ir, mac), pol_device_by_name(ir, "cam"));
	pol_ir_free(ir);
}

static void default_new_defaults_to_default(void **state)
{
	struct pol_ir *ir = compile_ok("default reject\n");
	struct pol_facts f = facts(ir, NULL, "8.8.8.8", IPPROTO_UDP, 53);
	EXPECT(ir, &f, "default new", POL_REJECT);
	pol_ir_free(ir);
}

static void lan_and_internet(void **state)
{
	struct pol_ir *ir = compile_ok(home);
	/* bob's tablet is a kid's device: kids-rest decides before bob-dns. */
	struct pol_facts f = facts(ir, "tab", "192.168.1.1", IPPROTO_UDP, 53);
	EXPECT(ir, &f, "kids-rest", POL_BLOCK);
	pol_ir_free(ir);

	ir = compile_ok("lan 192.168.7.0/24, fd00::/8\ndevice a mac 02:00:00:00:00:01\n"
			"rule l allow device a to lan\nrule i block device a to internet\n"
			"default reject\n");
	f = facts(ir, "a", "192.168.7.200", IPPROTO_TCP, 1);
	EXPECT(ir, &f, "l", POL_ALLOW);
	f = facts(ir, "a", "192.168.8.1", IPPROTO_TCP, 1); /* outside the declared LAN */
	EXPECT(ir, &f, "i", POL_BLOCK);
	f = facts(ir, "a", "10.1.2.3", IPPROTO_TCP, 1); /* private, but not this home's */
	EXPECT(ir, &f, "i", POL_BLOCK);
	f = facts(ir, "a", "fd12::1", IPPROTO_TCP, 1);
	EXPECT(ir, &f, "l", POL_ALLOW);
	f = facts(ir, "a", "2a00::1", IPPROTO_TCP, 1);
	EXPECT(ir, &f, "i", POL_BLOCK);
	pol_ir_free(ir);
}

static void domains_and_wildcards(void **state)
{
	struct pol_ir *ir = compile_ok(home);
	uint64_t ads = 1; /* the first domain set */
	assert_int_equal(pol_domain_sets_of(ir, "ads.example"), ads);
	assert_int_equal(pol_domain_sets_of(ir, "ADS.Example."), ads);
	assert_int_equal(pol_domain_sets_of(ir, "x.ads.example"), 0);  /* exact only */
	assert_int_equal(pol_domain_sets_of(ir, "track.example"), 0);  /* strict subdomains */
	assert_int_equal(pol_domain_sets_of(ir, "a.track.example"), ads);
	assert_int_equal(pol_domain_sets_of(ir, "a.b.track.example"), ads);
	assert_int_equal(pol_domain_sets_of(ir, "atrack.example"), 0);
	struct pol_facts f = facts(ir, "lap", "198.51.100.1", IPPROTO_TCP, 443);
	f.domain_sets = ads;
	EXPECT(ir, &f, "no-ads", POL_BLOCK);
	f.domain_sets = 0;
	EXPECT(ir, &f, "default", POL_ALLOW);
	pol_ir_free(ir);
}

static void ports_and_protocols(void **state)
{
	struct pol_ir *ir = compile_ok(
		"device a mac 02:00:00:00:00:01\n"
		"rule web allow device a port 443\n"            /* tcp and udp */
		"rule ssh allow device a proto tcp port 22\n"
		"rule icmp allow device a proto icmp\n"
		"rule rng allow device a proto udp port 5000-5010\n"
		"default block\n");
	struct pol_facts f = facts(ir, "a", "8.8.8.8", IPPROTO_UDP, 443);
	EXPECT(ir, &f, "web", POL_ALLOW);
	f.proto = IPPROTO_TCP;
	EXPECT(ir, &f, "web", POL_ALLOW);
	f.proto = IPPROTO_ICMP;
	EXPECT(ir, &f, "icmp", POL_ALLOW);
	f = facts(ir, "a", "2001:db8::1", IPPROTO_ICMPV6, 0);
	EXPECT(ir, &f, "icmp", POL_ALLOW);
	f.proto = 47; /* GRE: no rule names it */
	EXPECT(ir, &f, "default", POL_BLOCK);
	f = facts(ir, "a", "8.8.8.8", IPPROTO_UDP, 22);
	EXPECT(ir, &f, "default", POL_BLOCK);
	f.dport = 5000;
	EXPECT(ir, &f, "rng", POL_ALLOW);
	f.dport = 5010;
	EXPECT(ir, &f, "rng", POL_ALLOW);
	f.dport = 5011;
	EXPECT(ir, &f, "default", POL_BLOCK);
	uint8_t trace[8];
	struct pol_verdict v;
	pol_eval(ir, &f, &v, trace);
	assert_int_equal(trace[0], POL_MISS_PORT);
	assert_int_equal(trace[1], POL_MISS_PROTO);
	assert_int_equal(trace[2], POL_MISS_PROTO);
	assert_int_equal(trace[3], POL_MISS_PORT);
	pol_ir_free(ir);
}

static void schedules_cross_midnight(void **state)
{
	struct pol_ir *ir = compile_ok(
		"timezone \"Europe/London\"\n"
		"device a mac 02:00:00:00:00:01\n"
		"schedule bed sun-thu 21:00-07:00\n"
		"schedule day sat 10:00-12:00\n"
		"rule night block device a during bed\n"
		"rule sat block device a during day\n"
		"default allow\n");
	struct pol_facts f = facts(ir, "a", "8.8.8.8", IPPROTO_TCP, 443);
	struct { uint8_t wday; int h, m; const char *rule; } cases[] = {
		{ 0, 21, 0, "night" },   /* Monday evening */
		{ 0, 20, 59, "default" },
		{ 1, 6, 59, "night" },   /* Tuesday morning, after Monday night */
		{ 1, 7, 0, "default" },
		{ 4, 6, 0, "night" },    /* Friday morning, after Thursday */
		{ 4, 21, 0, "default" }, /* Friday evening is not listed */
		{ 5, 6, 0, "default" },  /* Saturday morning */
		{ 5, 11, 59, "sat" },
		{ 5, 12, 0, "default" },
		{ 6, 23, 30, "night" },  /* Sunday evening */
		{ 0, 3, 0, "night" },    /* Monday morning, after Sunday: wraps the week */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		f.when = (struct pol_when){ cases[i].wday, (uint16_t)(cases[i].h * 60 + cases[i].m) };
		uint8_t a;
		const char *got = decided(ir, &f, &a);
		if (strcmp(got, cases[i].rule))
			fail_msg("day %u %02d:%02d: got %s, want %s", cases[i].wday, cases[i].h,
				 cases[i].m, got, cases[i].rule);
		/* The engines' active-rule mask agrees with the evaluator. */
		uint64_t mask[1];
		pol_active_rules(ir, f.when, mask);
		for (uint32_t r = 0; r < ir->nrules; r++) {
			bool active = mask[0] >> r & 1;
			bool sched = pol_schedule_active(ir, ir->rules[r].schedule, f.when);
			assert_int_equal(active, sched);
		}
	}
	pol_ir_free(ir);
}

static void local_time_in_policy_zone(void **state)
{
	struct pol_ir *ir = compile_ok("timezone \"Europe/London\"\ndefault allow\n");
	struct pol_when w;
	/* 2026-07-01 12:00 UTC is a Wednesday, 13:00 in London (BST). */
	assert_int_equal(pol_when_at(ir, 1782907200, &w), 0);
	assert_int_equal(w.wday, 2);
	assert_int_equal(w.minute, 13 * 60);
	/* 2026-01-04 23:30 UTC is a Sunday, 23:30 in London (GMT). */
	assert_int_equal(pol_when_at(ir, 1767569400, &w), 0);
	assert_int_equal(w.wday, 6);
	assert_int_equal(w.minute, 23 * 60 + 30);
	pol_ir_free(ir);
	ir = compile_ok("timezone \"Asia/Tokyo\"\ndefault allow\n");
	/* The same instant is Monday 08:30 in Tokyo. */
	assert_int_equal(pol_when_at(ir, 1767569400, &w), 0);
	assert_int_equal(w.wday, 0);
	assert_int_equal(w.minute, 8 * 60 + 30);
	pol_ir_free(ir);
}

static void rate_and_log(void **state)
{
	struct pol_ir *ir = compile_ok("device a mac 02:00:00:00:00:01\n"
				       "rule tv allow device a rate 2.5mbit log\n"
				       "default block\n");
	struct pol_facts f = facts(ir, "a", "8.8.8.8", IPPROTO_TCP, 443);
	struct pol_verdict v;
	pol_eval(ir, &f, &v, NULL);
	assert_int_equal(v.action, POL_ALLOW);
	assert_int_equal(v.rate_bps, 2500000);
	assert_true(v.log);
	pol_ir_free(ir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(first_match_and_subjects),
		cmocka_unit_test(new_devices_only_match_new),
		cmocka_unit_test(default_new_defaults_to_default),
		cmocka_unit_test(lan_and_internet),
		cmocka_unit_test(domains_and_wildcards),
		cmocka_unit_test(ports_and_protocols),
		cmocka_unit_test(schedules_cross_midnight),
		cmocka_unit_test(local_time_in_policy_zone),
		cmocka_unit_test(rate_and_log),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
