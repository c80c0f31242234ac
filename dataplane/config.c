/* SPDX-License-Identifier: MIT */
/* gw-dataplane's arguments (see config.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "names.h"

const char *dp_role_name(enum dp_role r)
{
	return r == DP_ROLE_LAN ? "lan" : r == DP_ROLE_WAN ? "wan" : "?";
}

const char *dp_nat_filtering_name(enum dp_nat_filtering f)
{
	switch (f) {
	case DP_FILTER_ENDPOINT: return "endpoint-independent";
	case DP_FILTER_ADDRESS: return "address-dependent";
	case DP_FILTER_ADDRESS_PORT: return "address-port-dependent";
	}
	return "?";
}

static bool number(const char *s, unsigned long max, unsigned long *ret)
{
	char *end;
	if (!*s || *s == '-' || *s == '+')
		return false;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*ret = v;
	return true;
}

static bool prefix(const char *s, int af, uint8_t addr[16], uint8_t *plen)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	unsigned long n;
	size_t len = slash ? (size_t)(slash - s) : 0;
	if (!slash || len >= sizeof(buf) || !number(slash + 1, af == AF_INET ? 32 : 128, &n))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(addr, 0, 16);
	if (inet_pton(af, buf, addr) != 1)
		return false;
	*plen = (uint8_t)n;
	return true;
}

static bool mac(const char *s, uint8_t m[6])
{
	return pol_mac_parse(s, strlen(s), m) == 0;
}

static bool port_range(const char *s, unsigned long *lo, unsigned long *hi)
{
	const char *dash = strchr(s, '-');
	char a[8];
	if (!dash)
		return number(s, 65535, lo) && *lo >= 1 && (*hi = *lo, true);
	if ((size_t)(dash - s) >= sizeof(a))
		return false;
	memcpy(a, s, (size_t)(dash - s));
	a[dash - s] = '\0';
	return number(a, 65535, lo) && number(dash + 1, 65535, hi) && *lo >= 1 && *lo <= *hi;
}

/* tcp/22,udp/51820,tcp/8000-8010: as gwd.conf's wan_open writes it. */
static bool open_list(const char *s, uint64_t open[2][65536 / 64])
{
	char item[32];
	while (*s) {
		while (*s == ' ')
			s++;
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);
		while (len && s[len - 1] == ' ')
			len--;
		if (!len || len >= sizeof(item))
			return false;
		memcpy(item, s, len);
		item[len] = '\0';
		int i = !strncmp(item, "tcp/", 4) ? 0 : !strncmp(item, "udp/", 4) ? 1 : -1;
		unsigned long lo, hi;
		if (i < 0 || !port_range(item + 4, &lo, &hi))
			return false;
		for (unsigned long p = lo; p <= hi; p++)
			open[i][p / 64] |= 1ull << (p % 64);
		s = comma ? comma + 1 : s + strlen(s);
		if (comma && !*s)
			return false; /* a trailing comma */
	}
	return true;
}

void dp_config_defaults(struct dp_config *c)
{
	memset(c, 0, sizeof(*c));
	c->mode = DP_MODE_FULL;
	c->nat_lo = 1024;
	c->nat_hi = 32767;
	c->kernel_lo = 32768;
	c->kernel_hi = 65535;
	c->mbufs = 8191;
	c->flows = 65536;
	c->burst = 32;
	c->twin[DP_ROLE_LAN] = "gw-lan";
	c->twin[DP_ROLE_WAN] = "gw-wan";
	memcpy(c->punt_rate, dp_punt_default, sizeof(c->punt_rate));
	c->nat_filtering = DP_FILTER_ADDRESS;
}

int dp_config_parse(int argc, char **argv, struct dp_config *ret, char *err, size_t errlen)
{
	enum { O_LAN = 256, O_WAN, O_MODE, O_POLICY, O_NAT, O_LAN_IP, O_LAN_IP6, O_WAN_IP,
	       O_WAN_GW, O_MBUFS, O_FLOWS, O_BURST, O_IDLE, O_CONTROL, O_LAN_TWIN, O_WAN_TWIN,
	       O_NO_TWINS, O_KERNEL_PORTS, O_WAN_OPEN, O_PUNT_RATE, O_FILTERING, O_DEV_FLOWS,
	       O_DEV_NAT };
	static const struct option opts[] = {
		{ "lan", required_argument, NULL, O_LAN },
		{ "wan", required_argument, NULL, O_WAN },
		{ "mode", required_argument, NULL, O_MODE },
		{ "policy", required_argument, NULL, O_POLICY },
		{ "nat-ports", required_argument, NULL, O_NAT },
		{ "lan-ip", required_argument, NULL, O_LAN_IP },
		{ "lan-ip6", required_argument, NULL, O_LAN_IP6 },
		{ "wan-ip", required_argument, NULL, O_WAN_IP },
		{ "wan-gw-mac", required_argument, NULL, O_WAN_GW },
		{ "mbufs", required_argument, NULL, O_MBUFS },
		{ "flows", required_argument, NULL, O_FLOWS },
		{ "burst", required_argument, NULL, O_BURST },
		{ "idle-exit", required_argument, NULL, O_IDLE },
		{ "control", required_argument, NULL, O_CONTROL },
		{ "lan-twin", required_argument, NULL, O_LAN_TWIN },
		{ "wan-twin", required_argument, NULL, O_WAN_TWIN },
		{ "no-twins", no_argument, NULL, O_NO_TWINS },
		{ "nat-filtering", required_argument, NULL, O_FILTERING },
		{ "device-flows", required_argument, NULL, O_DEV_FLOWS },
		{ "device-nat", required_argument, NULL, O_DEV_NAT },
		{ "kernel-ports", required_argument, NULL, O_KERNEL_PORTS },
		{ "wan-open", required_argument, NULL, O_WAN_OPEN },
		{ "punt-rate", required_argument, NULL, O_PUNT_RATE },
		{ 0 },
	};
	static struct dp_config c; /* 16 KiB of open ports: not on the stack */
	dp_config_defaults(&c);
	bool have[DP_ROLE_COUNT] = { false, false }, have_kernel = false;
	unsigned long n, n2;
	int o;
	optind = 1;
	opterr = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		const char *a = optarg;
		switch (o) {
		case O_LAN:
		case O_WAN:
			if (!number(a, UINT16_MAX - 1, &n))
				goto bad;
			c.port[o - O_LAN] = (uint16_t)n;
			have[o - O_LAN] = true;
			break;
		case O_MODE:
			if (!strcmp(a, "io"))
				c.mode = DP_MODE_IO;
			else if (!strcmp(a, "full"))
				c.mode = DP_MODE_FULL;
			else
				goto bad;
			break;
		case O_POLICY:
			c.policy = a;
			break;
		case O_NAT: {
			const char *dash = strchr(a, '-');
			char lo[8];
			if (!dash || (size_t)(dash - a) >= sizeof(lo))
				goto bad;
			memcpy(lo, a, (size_t)(dash - a));
			lo[dash - a] = '\0';
			if (!number(lo, 65535, &n) || !number(dash + 1, 65535, &n2) || n < 1 || n > n2)
				goto bad;
			c.nat_lo = (uint16_t)n;
			c.nat_hi = (uint16_t)n2;
			break;
		}
		case O_LAN_IP:
			if (!prefix(a, AF_INET, c.lan4, &c.lan4_plen) || c.lan4_plen == 0 ||
			    c.lan4_plen > 30)
				goto bad;
			c.has_lan4 = true;
			break;
		case O_LAN_IP6:
			if (!prefix(a, AF_INET6, c.lan6, &c.lan6_plen) || c.lan6_plen == 0)
				goto bad;
			c.has_lan6 = true;
			break;
		case O_WAN_IP:
			if (strchr(a, '/')) {
				if (!prefix(a, AF_INET, c.wan4, &c.wan4_plen) || c.wan4_plen == 0)
					goto bad;
			} else {
				memset(c.wan4, 0, 16);
				if (inet_pton(AF_INET, a, c.wan4) != 1)
					goto bad;
				c.wan4_plen = 32;
			}
			c.has_wan4 = true;
			break;
		case O_WAN_GW:
			if (!mac(a, c.wan_gw_mac))
				goto bad;
			c.has_wan_gw = true;
			break;
		case O_MBUFS:
			if (!number(a, 1u << 24, &n) || n < 1023)
				goto bad;
			c.mbufs = (uint32_t)n;
			break;
		case O_FLOWS:
			if (!number(a, 1u << 26, &n) || n < 16)
				goto bad;
			c.flows = (uint32_t)n;
			break;
		case O_BURST:
			if (!number(a, DP_BURST_MAX, &n) || n < 1)
				goto bad;
			c.burst = (uint16_t)n;
			break;
		case O_IDLE:
			if (!number(a, 86400000, &n))
				goto bad;
			c.idle_exit_ms = (uint32_t)n;
			break;
		case O_CONTROL:
			if (!*a)
				goto bad;
			c.control = a;
			break;
		case O_LAN_TWIN:
		case O_WAN_TWIN:
			/* An interface name: 1..15 bytes, no '/', no space. */
			if (!*a || strlen(a) > 15 || strpbrk(a, "/ \t\n:") || !strcmp(a, ".") ||
			    !strcmp(a, ".."))
				goto bad;
			c.twin[o - O_LAN_TWIN] = a;
			break;
		case O_NO_TWINS:
			c.no_twins = true;
			break;
		case O_FILTERING: {
			int f;
			for (f = DP_FILTER_ENDPOINT; f <= DP_FILTER_ADDRESS_PORT; f++)
				if (!strcmp(a, dp_nat_filtering_name((enum dp_nat_filtering)f)))
					break;
			if (f > DP_FILTER_ADDRESS_PORT)
				goto bad;
			c.nat_filtering = (uint8_t)f;
			break;
		}
		case O_DEV_FLOWS:
		case O_DEV_NAT:
			if (!number(a, 1u << 26, &n) || n < 1)
				goto bad;
			if (o == O_DEV_FLOWS)
				c.device_flows = (uint32_t)n;
			else
				c.device_nat = (uint32_t)n;
			break;
		case O_KERNEL_PORTS:
			if (!port_range(a, &n, &n2) || !strchr(a, '-'))
				goto bad;
			c.kernel_lo = (uint16_t)n;
			c.kernel_hi = (uint16_t)n2;
			have_kernel = true;
			break;
		case O_WAN_OPEN:
			if (!open_list(a, c.wan_open))
				goto bad;
			break;
		case O_PUNT_RATE:
			if (dp_punt_rate_parse(a, c.punt_rate, err, errlen) < 0)
				return -EINVAL;
			break;
		default:
			snprintf(err, errlen, "unknown option '%s'", argv[optind - 1]);
			return -EINVAL;
		}
		continue;
	bad:
		snprintf(err, errlen, "bad value '%s' for %s", a, argv[optind - 1]);
		return -EINVAL;
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	if (!have[DP_ROLE_LAN] || !have[DP_ROLE_WAN] || c.port[0] == c.port[1]) {
		snprintf(err, errlen, "--lan PORT and --wan PORT are required and must differ");
		return -EINVAL;
	}
	if (c.mode == DP_MODE_FULL && !c.has_lan4) {
		snprintf(err, errlen, "full mode needs --lan-ip");
		return -EINVAL;
	}
	if (c.mode == DP_MODE_FULL && !c.has_wan4 && c.no_twins) {
		snprintf(err, errlen, "--no-twins needs --wan-ip (without twins there is no WAN "
			 "address to follow)");
		return -EINVAL;
	}
	if (!have_kernel) {
		/* Above the fast path's NAT ports, as Linux's own ephemeral
		 * range (32768-60999) is above the default 1024-32767. */
		c.kernel_lo = c.nat_hi < 65535 ? (uint16_t)(c.nat_hi + 1) : 0;
		c.kernel_hi = 65535;
	} else if (c.kernel_lo <= c.nat_hi && c.kernel_hi >= c.nat_lo) {
		snprintf(err, errlen, "--kernel-ports %u-%u overlaps --nat-ports %u-%u", c.kernel_lo,
			 c.kernel_hi, c.nat_lo, c.nat_hi);
		return -EINVAL;
	}
	if (!c.no_twins && !strcmp(c.twin[DP_ROLE_LAN], c.twin[DP_ROLE_WAN])) {
		snprintf(err, errlen, "--lan-twin and --wan-twin must differ");
		return -EINVAL;
	}
	*ret = c;
	return 0;
}
