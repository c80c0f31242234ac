/* SPDX-License-Identifier: MIT */
/* gwd.conf: good files give the values; every bad line is reported with
 * file:line and nothing of a bad file is used. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"

static int parse(const char *text, struct gwd_config *c, char *err, size_t errlen)
{
	gwd_config_defaults(c);
	return gwd_config_parse("gwd.conf", text, strlen(text), c, err, errlen);
}

static void test_defaults_and_values(void **state)
{
	struct gwd_config c;
	char err[512];
	assert_int_equal(parse("", &c, err, sizeof(err)), 0);
	assert_string_equal(c.state_dir, "/var/lib/gw");
	assert_string_equal(c.socket, "/run/gw/gwd.sock");
	assert_string_equal(c.policy, "");
	assert_int_equal(parse("# gw\n\n  state_dir=/tmp/s  \n"
			       "socket = /tmp/x y.sock # a comment\n"
			       "\tpolicy\t=\t/etc/gw/home.gw\r\n", &c, err, sizeof(err)), 0);
	assert_string_equal(c.state_dir, "/tmp/s");
	assert_string_equal(c.socket, "/tmp/x y.sock");
	assert_string_equal(c.policy, "/etc/gw/home.gw");
	/* No final newline. */
	assert_int_equal(parse("policy = /p", &c, err, sizeof(err)), 0);
	assert_string_equal(c.policy, "/p");
	assert_int_equal(c.api_max_conns, 64);
	assert_int_equal(c.api_max_per_uid, 16);
	assert_int_equal(c.api_idle_s, 60);
	assert_int_equal(c.compile_timeout_s, 60);
	assert_string_equal(c.api_group, "gw");
	assert_int_equal(parse("api_group = nogroup\n", &c, err, sizeof(err)), 0);
	assert_string_equal(c.api_group, "nogroup");
	assert_int_equal(parse("api_group = Wheel\n", &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "'api_group' must be a group name"));
	assert_int_equal(parse("api_max_connections = 8\napi_max_per_user=2\n"
			       "api_idle_timeout = 86400\ncompile_timeout = 3600\n", &c, err,
			       sizeof(err)), 0);
	assert_int_equal(c.api_max_conns, 8);
	assert_int_equal(c.api_max_per_uid, 2);
	assert_int_equal(c.api_idle_s, 86400);
	assert_int_equal(c.compile_timeout_s, 3600);
	assert_int_equal(parse("compile_timeout = 3601\n", &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "'compile_timeout' must be a number from 1 to 3600"));
}

static void test_numbers_in_range(void **state)
{
	struct gwd_config c;
	char err[1024];
	const char *text = "api_max_connections = 0\n"
			   "api_max_per_user = 1025\n"
			   "api_idle_timeout = 10s\n"
			   "api_max_per_user = -1\n"
			   "api_idle_timeout = 5\n";
	assert_int_equal(parse(text, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "gwd.conf:1: error: 'api_max_connections' must be a number "
				    "from 1 to 1024"));
	assert_non_null(strstr(err, "gwd.conf:2: error: 'api_max_per_user' must be"));
	assert_non_null(strstr(err, "gwd.conf:3: error: 'api_idle_timeout' must be"));
	assert_non_null(strstr(err, "gwd.conf:4: error: 'api_max_per_user' is set twice"));
	assert_non_null(strstr(err, "gwd.conf:5: error: 'api_idle_timeout' is set twice"));
	assert_int_equal(c.api_max_conns, 64);
	assert_int_equal(parse("api_idle_timeout = 99999999999999999999999\n", &c, err,
			       sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "'api_idle_timeout' must be a number"));
	assert_int_equal(parse("api_idle_timeout =   42  \n", &c, err, sizeof(err)), 0);
	assert_int_equal(c.api_idle_s, 42);
}

static void test_errors_name_the_line(void **state)
{
	struct gwd_config c;
	char err[1024];
	const char *text = "state_dir = /ok\n"
			   "sate_dir = /x\n"
			   "just words\n"
			   "socket =\n"
			   "policy = relative.gw\n"
			   "state_dir = /again\n";
	assert_int_equal(parse(text, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "gwd.conf:2: error: unknown key 'sate_dir'"));
	assert_non_null(strstr(err, "gwd.conf:3: error: expected 'key = value'"));
	assert_non_null(strstr(err, "gwd.conf:4: error: 'socket' needs a value"));
	assert_non_null(strstr(err, "gwd.conf:5: error: 'policy' must be an absolute path"));
	assert_non_null(strstr(err, "gwd.conf:6: error: 'state_dir' is set twice"));
	assert_null(strstr(err, "gwd.conf:1:"));
	/* Nothing of a bad file is used. */
	assert_string_equal(c.state_dir, "/var/lib/gw");
}

static void test_nul_and_long(void **state)
{
	struct gwd_config c;
	char err[256];
	gwd_config_defaults(&c);
	assert_int_equal(gwd_config_parse("f", "socket = /a\0b\n", 14, &c, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "f:1: error: a NUL byte"));
	static char big[GWD_PATH_MAX + 64];
	memset(big, 'a', sizeof(big) - 1);
	memcpy(big, "policy = /", 10);
	assert_int_equal(parse(big, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "longer than"));
	/* A tiny error buffer truncates, never overflows. */
	char tiny[8];
	assert_int_equal(parse("nope\n", &c, tiny, sizeof(tiny)), -EINVAL);
	assert_true(strlen(tiny) < sizeof(tiny));
}

static void test_load_missing(void **state)
{
	struct gwd_config c;
	char err[256];
	gwd_config_defaults(&c);
	assert_int_equal(gwd_config_load("/nonexistent/gwd.conf", &c, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/gwd.conf"));
}

/* The engine keys: a dataplane socket, kernel ports, the pin root. */
static void test_engine_keys(void **state)
{
	struct gwd_config c;
	char err[1024];
	assert_int_equal(parse("", &c, err, sizeof(err)), 0);
	assert_string_equal(c.dataplane, "");
	assert_int_equal(c.nebpf_ports, 0);
	assert_string_equal(c.bpf_pin_root, "/sys/fs/bpf/gw");
	assert_int_equal(parse("dataplane = /run/gw/dp.sock\n"
			       "ebpf_ports = wlan0 , veth-a.1,br@x\n"
			       "bpf_pin_root = /sys/fs/bpf/gw-test\n"
			       "wan_ports = gw-wan\n", &c, err, sizeof(err)), 0);
	assert_string_equal(c.dataplane, "/run/gw/dp.sock");
	assert_int_equal(c.nebpf_ports, 3);
	assert_string_equal(c.ebpf_ports[0], "wlan0");
	assert_string_equal(c.ebpf_ports[1], "veth-a.1");
	assert_string_equal(c.ebpf_ports[2], "br@x");
	assert_string_equal(c.bpf_pin_root, "/sys/fs/bpf/gw-test");
	/* The flow table's size: a power of two within bounds. */
	assert_int_equal(c.ebpf_flows, GWD_EBPF_FLOWS_DEFAULT);
	assert_int_equal(parse("ebpf_flows = 1048576\nwan_ports = w\nebpf_ports = a\n", &c, err,
			       sizeof(err)), 0);
	assert_int_equal(c.ebpf_flows, 1048576);
	assert_int_equal(parse("ebpf_flows = 100000\n", &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "gwd.conf:1: error: 'ebpf_flows' must be a power of two"));
	assert_int_equal(parse("ebpf_flows = 2048\n", &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "'ebpf_flows' must be a number from 4096 to 4194304"));
	assert_int_equal(parse("ebpf_flows = 8388608\n", &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "'ebpf_flows' must be a number from 4096 to 4194304"));
	/* The classifier's hook: auto by default, xdp or tc. */
	assert_int_equal(parse("wan_ports = w\nebpf_ports = a\n", &c, err, sizeof(err)), 0);
	assert_int_equal(c.ebpf_attach, GWD_EBPF_ATTACH_AUTO);
	/* ebpf_forward not set (at TC only) is not ebpf_forward = off. */
	assert_false(c.ebpf_forward_set);
	assert_int_equal(parse("wan_ports = w\nebpf_ports = a\nebpf_forward = off\n", &c, err,
			       sizeof(err)), 0);
	assert_true(c.ebpf_forward_set);
	assert_false(c.ebpf_forward);
	assert_int_equal(parse("wan_ports = w\nebpf_ports = a\nebpf_attach = tc\n", &c, err,
			       sizeof(err)), 0);
	assert_int_equal(c.ebpf_attach, GWD_EBPF_ATTACH_TC);
	assert_int_equal(parse("wan_ports = w\nebpf_ports = a\nebpf_attach = xdp\n", &c, err,
			       sizeof(err)), 0);
	assert_int_equal(c.ebpf_attach, GWD_EBPF_ATTACH_XDP);
	assert_int_equal(parse("ebpf_attach = skb\n", &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "gwd.conf:1: error: 'ebpf_attach' is auto, xdp or tc, not 'skb'"));
	const char *bad = "ebpf_ports = wlan0,,eth1\n"
			  "dataplane = dp.sock\n"
			  "bpf_pin_root =\n"
			  "# fine\n"
			  "ebpf_ports = a\n";
	assert_int_equal(parse(bad, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "gwd.conf:1: error: 'ebpf_ports' has an empty port name"));
	assert_non_null(strstr(err, "gwd.conf:2: error: 'dataplane' must be an absolute path"));
	assert_non_null(strstr(err, "gwd.conf:3: error: 'bpf_pin_root' needs a value"));
	assert_non_null(strstr(err, "gwd.conf:5: error: 'ebpf_ports' is set twice"));
	assert_int_equal(c.nebpf_ports, 0);
	assert_int_equal(parse("ebpf_ports = a b\n", &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "gwd.conf:1: error: 'ebpf_ports': 'a b' is not an interface name"));
	assert_int_equal(parse("ebpf_ports = a, b, a\n", &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "names 'a' twice"));
	assert_int_equal(parse("ebpf_ports = abcdefghijklmnop\n", &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "longer than 15 bytes"));
	assert_int_equal(parse("ebpf_ports = a,b,c,d,e,f,g,h,i\n", &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "more than 8 ports"));
}

/* metrics: a loopback address and a port, nothing else (they name the
 * household's devices). */
static void test_metrics(void **state)
{
	struct gwd_config c;
	char err[1024];
	assert_int_equal(parse("metrics = 127.0.0.1:9477\n", &c, err, sizeof(err)), 0);
	assert_string_equal(c.metrics_addr, "127.0.0.1");
	assert_int_equal(c.metrics_port, 9477);
	assert_int_equal(parse("metrics = [::1]:80\n", &c, err, sizeof(err)), 0);
	assert_string_equal(c.metrics_addr, "::1");
	assert_int_equal(c.metrics_port, 80);
	assert_int_equal(parse("", &c, err, sizeof(err)), 0);
	assert_string_equal(c.metrics_addr, "");
	static const struct {
		const char *line, *says;
	} bad[] = {
		{ "metrics = 0.0.0.0:9477", "is not a loopback address" },
		{ "metrics = 192.168.1.1:9477", "is not a loopback address" },
		{ "metrics = [::]:9477", "is not a loopback address" },
		{ "metrics = localhost:9477", "is not a loopback address" },
		{ "metrics = 127.0.0.1", "is ADDRESS:PORT" },
		{ "metrics = 127.0.0.1:0", "the port is 1-65535" },
		{ "metrics = 127.0.0.1:65536", "the port is 1-65535" },
		{ "metrics = 127.0.0.1:-1", "the port is 1-65535" },
		{ "metrics = [::1]9477", "expected [::1]:PORT" },
		{ "metrics = 9477", "is ADDRESS:PORT" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[128];
		snprintf(text, sizeof(text), "%s\n", bad[i].line);
		assert_int_equal(parse(text, &c, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].says) || !strstr(err, "gwd.conf:1: error: 'metrics'"))
			fail_msg("%s: %s", bad[i].line, err);
		assert_string_equal(c.metrics_addr, "");
	}
}

/* nftables: the table, the guard's interfaces and openings, the kernel
 * ports' NAT, the nft engine's ports; and what no single line can say. */
static void test_nft_keys(void **state)
{
	struct gwd_config c;
	char err[2048];
	assert_int_equal(parse("", &c, err, sizeof(err)), 0);
	assert_string_equal(c.nft_table, "gw");
	assert_true(c.guard);
	assert_int_equal(c.nat_lo, 32768);
	assert_int_equal(c.nat_hi, 65535);
	assert_int_equal(c.nflog_group, 17);
	assert_false(gwd_config_has_engines(&c));
	assert_int_equal(parse("nft_table = gw-test_1\n"
			       "lan_ports = gw-lan\n"
			       "wan_ports = gw-wan, ppp0\n"
			       "ebpf_ports = wlan0\n"
			       "nft_ports = wlan1, eth2\n"
			       "lan_open = tcp/22, udp/5000-5010\n"
			       "wan_open = udp/51820\n"
			       "kernel_nat = 40000-50000\n"
			       "nflog_group = 5\n", &c, err, sizeof(err)), 0);
	assert_string_equal(c.nft_table, "gw-test_1");
	assert_int_equal(c.nlan_ports, 1);
	assert_int_equal(c.nwan_ports, 2);
	assert_string_equal(c.wan_ports[1], "ppp0");
	assert_int_equal(c.nnft_ports, 2);
	assert_string_equal(c.nft_ports[1], "eth2");
	assert_int_equal(c.nlan_open, 2);
	assert_int_equal(c.lan_open[0].proto, 6);
	assert_int_equal(c.lan_open[0].lo, 22);
	assert_int_equal(c.lan_open[0].hi, 22);
	assert_int_equal(c.lan_open[1].proto, 17);
	assert_int_equal(c.lan_open[1].lo, 5000);
	assert_int_equal(c.lan_open[1].hi, 5010);
	assert_int_equal(c.nwan_open, 1);
	assert_int_equal(c.wan_open[0].lo, 51820);
	assert_int_equal(c.nat_lo, 40000);
	assert_int_equal(c.nat_hi, 50000);
	assert_int_equal(c.nflog_group, 5);
	assert_true(gwd_config_has_engines(&c));
	assert_true(c.nft_flows);
	assert_int_equal(parse("kernel_nat = off\nguard = off\nnft_flows = off\n", &c, err,
			       sizeof(err)), 0);
	assert_int_equal(c.nat_lo, 0);
	assert_false(c.guard);
	assert_false(c.nft_flows);

	/* Each bad line, named. */
	const char *bad = "nft_table = gw table\n"
			  "guard = maybe\n"
			  "lan_open = tcp/0\n"
			  "wan_open = icmp/8\n"
			  "kernel_nat = 50000-40000\n"
			  "nflog_group = 70000\n"
			  "nft_ports = a,,b\n"
			  "nft_flows = yes\n";
	assert_int_equal(parse(bad, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "gwd.conf:1: error: 'nft_table': 'gw table' is not a table name"));
	assert_non_null(strstr(err, "gwd.conf:2: error: 'guard' is on or off"));
	assert_non_null(strstr(err, "gwd.conf:3: error: 'lan_open': 'tcp/0' is not"));
	assert_non_null(strstr(err, "gwd.conf:4: error: 'wan_open': 'icmp/8' is not"));
	assert_non_null(strstr(err, "gwd.conf:5: error: 'kernel_nat' is off or a port range"));
	assert_non_null(strstr(err, "gwd.conf:6: error: 'nflog_group' is 1..65535"));
	assert_non_null(strstr(err, "gwd.conf:7: error: 'nft_ports' has an empty port name"));
	assert_non_null(strstr(err, "gwd.conf:8: error: 'nft_flows' is on or off, not 'yes'"));
	assert_string_equal(c.nft_table, "gw");

	/* One engine per port, one side per port. */
	assert_int_equal(parse("wan_ports = gw-wan\nebpf_ports = wlan0\nnft_ports = wlan0\n", &c,
			       err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "gwd.conf:3: error: 'wlan0' is in ebpf_ports and nft_ports"));
	assert_int_equal(parse("wan_ports = gw-wan\nlan_ports = gw-wan\n", &c, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "gwd.conf:1: error: 'gw-wan' is a WAN port and a LAN-side port"));
	/* The guard before any engine: its interfaces must be named. */
	assert_int_equal(parse("dataplane = /run/dp.sock\nlan_ports = gw-lan\n", &c, err,
			       sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "gwd.conf:1: error: the guard (guard = on) needs 'wan_ports'"));
	assert_int_equal(parse("nft_ports = wlan1\n", &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "needs 'wan_ports'"));
	assert_int_equal(parse("dataplane = /run/dp.sock\nwan_ports = gw-wan\n", &c, err,
			       sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "gwd.conf:1: error: the guard (guard = on) needs 'lan_ports'"));
	assert_int_equal(parse("dataplane = /run/dp.sock\nguard = off\n", &c, err, sizeof(err)), 0);
}

static void test_dhcp_keys(void **state)
{
	struct gwd_config c;
	char err[2048];
	(void)state;
	assert_int_equal(parse("", &c, err, sizeof(err)), 0);
	assert_string_equal(c.dhcp, "");
	assert_int_equal(c.dhcp_lease_s, 43200);
	assert_false(c.dhcp_ra);
	assert_int_equal(parse("lan_ports = gw-lan\n"
			       "dhcp = /usr/sbin/dnsmasq\n"
			       "dhcp_ranges = 192.168.1.100-192.168.1.199 , 10.0.0.5-10.0.0.5\n"
			       "dhcp_lease_time = 3600\n"
			       "dhcp_ports = gw-lan, wlan0\n"
			       "dhcp_script = /opt/gw/gw-dhcp-event\n"
			       "dhcp_ra = on\n", &c, err, sizeof(err)), 0);
	assert_true(c.dhcp_ra);
	assert_string_equal(c.dhcp, "/usr/sbin/dnsmasq");
	assert_int_equal(c.ndhcp_ranges, 2);
	assert_memory_equal(c.dhcp_ranges[0].lo, ((uint8_t[]){ 192, 168, 1, 100 }), 4);
	assert_memory_equal(c.dhcp_ranges[0].hi, ((uint8_t[]){ 192, 168, 1, 199 }), 4);
	assert_memory_equal(c.dhcp_ranges[1].lo, c.dhcp_ranges[1].hi, 4);
	assert_int_equal(c.dhcp_lease_s, 3600);
	assert_int_equal(c.ndhcp_ports, 2);
	assert_string_equal(c.dhcp_ports[1], "wlan0");
	assert_string_equal(c.dhcp_script, "/opt/gw/gw-dhcp-event");

	const char *bad = "dhcp_ranges = 192.168.1.199-192.168.1.100\n"
			  "dhcp_lease_time = 60\n"
			  "dhcp_ports = a b\n"
			  "dhcp_script = gw-dhcp-event\n"
			  "dhcp_ra = yes\n";
	assert_int_equal(parse(bad, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "gwd.conf:1: error: 'dhcp_ranges': '192.168.1.199-192.168.1.100' "
				    "ends before it starts"));
	assert_non_null(strstr(err, "gwd.conf:2: error: 'dhcp_lease_time' must be a number from 120"));
	assert_non_null(strstr(err, "gwd.conf:3: error: 'dhcp_ports': 'a b' is not an interface"));
	assert_non_null(strstr(err, "gwd.conf:4: error: 'dhcp_script' must be an absolute path"));
	assert_non_null(strstr(err, "gwd.conf:5: error: 'dhcp_ra' is on or off, not 'yes'"));
	assert_int_equal(parse("dhcp_ranges = fd00::1-fd00::9\n", &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "is not FIRST-LAST of IPv4 addresses"));
	/* dhcp needs ranges and a LAN-side port; never a WAN port. */
	assert_int_equal(parse("lan_ports = gw-lan\ndhcp = /usr/sbin/dnsmasq\n", &c, err,
			       sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "gwd.conf:2: error: 'dhcp' needs 'dhcp_ranges'"));
	assert_int_equal(parse("dhcp = /usr/sbin/dnsmasq\ndhcp_ranges = 10.0.0.2-10.0.0.9\n", &c,
			       err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "gwd.conf:1: error: 'dhcp' needs 'dhcp_ports' or a LAN-side port"));
	assert_int_equal(parse("wan_ports = gw-wan\ndhcp_ports = gw-wan\n", &c, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "gwd.conf:2: error: 'gw-wan' is a WAN port: DHCP is served on "
				    "the LAN side only"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_values),
		cmocka_unit_test(test_errors_name_the_line),
		cmocka_unit_test(test_nul_and_long),
		cmocka_unit_test(test_numbers_in_range),
		cmocka_unit_test(test_load_missing),
		cmocka_unit_test(test_engine_keys),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_nft_keys),
		cmocka_unit_test(test_dhcp_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
