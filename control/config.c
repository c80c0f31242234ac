/* SPDX-License-Identifier: MIT */
/* The gwd.conf parser (config.h).  Pure apart from gwd_config_load's read. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "gwd_api.h"

void gwd_config_defaults(struct gwd_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->state_dir, sizeof(c->state_dir), "/var/lib/gw");
	snprintf(c->socket, sizeof(c->socket), "%s", GWD_API_DEFAULT_SOCKET);
	snprintf(c->bpf_pin_root, sizeof(c->bpf_pin_root), "%s", GWD_DEFAULT_PIN_ROOT);
	snprintf(c->dns_user, sizeof(c->dns_user), "gw-dns");
	c->api_max_conns = GWD_API_MAX_CONNS;
	c->api_max_per_uid = GWD_API_MAX_PER_UID;
	c->api_idle_s = GWD_API_IDLE_S;
	c->compile_timeout_s = GWD_COMPILE_TIMEOUT_S;
	c->ebpf_flows = GWD_EBPF_FLOWS_DEFAULT;
	snprintf(c->api_group, sizeof(c->api_group), "gw");
	snprintf(c->nft_table, sizeof(c->nft_table), "%s", GWD_DEFAULT_NFT_TABLE);
	c->guard = true;
	c->nft_flows = true;
	/* Not set: on at TC ingress, where it is measured to pay, off at XDP
	 * (docs/ebpf.md, "Forwarding in XDP", "Measured"). */
	c->ebpf_forward = false;
	c->ebpf_forward_set = false;
	c->nat_lo = GWD_DEFAULT_NAT_LO;
	c->nat_hi = GWD_DEFAULT_NAT_HI;
	c->nflog_group = GWD_DEFAULT_NFLOG_GROUP;
	snprintf(c->dhcp_script, sizeof(c->dhcp_script), "%s", GWD_DHCP_SCRIPT_DEFAULT);
	c->dhcp_lease_s = GWD_DHCP_LEASE_S;
}

bool gwd_config_has_engines(const struct gwd_config *c)
{
	return c->dataplane[0] || c->nebpf_ports || c->nnft_ports;
}

struct errs {
	char *buf;
	size_t size, used;
	unsigned count;
};

static void __attribute__((format(printf, 4, 5)))
add_err(struct errs *e, const char *name, unsigned line, const char *fmt, ...)
{
	e->count++;
	if (!e->buf || e->used + 1 >= e->size)
		return;
	int n = snprintf(e->buf + e->used, e->size - e->used, "%s%s:%u: error: ",
			 e->used ? "\n" : "", name, line);
	if (n < 0 || (size_t)n >= e->size - e->used) {
		e->used = e->size - 1;
		return;
	}
	e->used += (size_t)n;
	va_list ap;
	va_start(ap, fmt);
	n = vsnprintf(e->buf + e->used, e->size - e->used, fmt, ap);
	va_end(ap);
	e->used = n < 0 || (size_t)n >= e->size - e->used ? e->size - 1 : e->used + (size_t)n;
}

enum key {
	K_STATE_DIR, K_SOCKET, K_POLICY, K_DATAPLANE, K_EBPF_PORTS, K_PIN_ROOT,
	K_API_MAX_CONNS, K_API_MAX_PER_UID, K_API_IDLE, K_COMPILE_TIMEOUT, K_API_GROUP,
	K_NFT_TABLE, K_GUARD, K_LAN_PORTS, K_WAN_PORTS, K_NFT_PORTS, K_LAN_OPEN, K_WAN_OPEN,
	K_KERNEL_NAT, K_NFLOG_GROUP, K_METRICS,
	K_DNS, K_DNS_LISTEN, K_DNS_CLIENTS, K_DNS_UPSTREAMS, K_DNS_USER, K_DNS_BLOCK,
	K_DHCP, K_DHCP_RANGES, K_DHCP_LEASE_TIME, K_DHCP_PORTS, K_DHCP_SCRIPT, K_DHCP_RA, K_EBPF_FLOWS,
	K_NFT_FLOWS,
	K_EBPF_FORWARD,
	K_EBPF_FORWARD_NEW,
	K_EBPF_ATTACH,
	K_COUNT
};

static const char *const keys[K_COUNT] = {
	[K_STATE_DIR] = "state_dir", [K_SOCKET] = "socket", [K_POLICY] = "policy",
	[K_DATAPLANE] = "dataplane", [K_EBPF_PORTS] = "ebpf_ports",
	[K_PIN_ROOT] = "bpf_pin_root", [K_API_MAX_CONNS] = "api_max_connections",
	[K_API_MAX_PER_UID] = "api_max_per_user", [K_API_IDLE] = "api_idle_timeout",
	[K_COMPILE_TIMEOUT] = "compile_timeout", [K_API_GROUP] = "api_group",
	[K_NFT_TABLE] = "nft_table", [K_GUARD] = "guard",
	[K_LAN_PORTS] = "lan_ports", [K_WAN_PORTS] = "wan_ports", [K_NFT_PORTS] = "nft_ports",
	[K_LAN_OPEN] = "lan_open", [K_WAN_OPEN] = "wan_open", [K_KERNEL_NAT] = "kernel_nat",
	[K_NFLOG_GROUP] = "nflog_group", [K_METRICS] = "metrics",
	[K_DNS] = "dns", [K_DNS_LISTEN] = "dns_listen",
	[K_DNS_CLIENTS] = "dns_clients", [K_DNS_UPSTREAMS] = "dns_upstreams",
	[K_DNS_USER] = "dns_user", [K_DNS_BLOCK] = "dns_block",
	[K_DHCP] = "dhcp", [K_DHCP_RANGES] = "dhcp_ranges", [K_DHCP_LEASE_TIME] = "dhcp_lease_time",
	[K_DHCP_PORTS] = "dhcp_ports", [K_DHCP_SCRIPT] = "dhcp_script", [K_DHCP_RA] = "dhcp_ra",
	[K_EBPF_FLOWS] = "ebpf_flows", [K_NFT_FLOWS] = "nft_flows",
	[K_EBPF_FORWARD] = "ebpf_forward", [K_EBPF_FORWARD_NEW] = "ebpf_forward_new",
	[K_EBPF_ATTACH] = "ebpf_attach",
};

/* The number a key sets and its range, or NULL. */
static unsigned *num_field(struct gwd_config *c, enum key k, unsigned *ret_min, unsigned *ret_max)
{
	*ret_min = 1;
	switch (k) {
	case K_API_MAX_CONNS: *ret_max = 1024; return &c->api_max_conns;
	case K_API_MAX_PER_UID: *ret_max = 1024; return &c->api_max_per_uid;
	case K_API_IDLE: *ret_max = 86400; return &c->api_idle_s;
	case K_COMPILE_TIMEOUT: *ret_max = 3600; return &c->compile_timeout_s;
	case K_DHCP_LEASE_TIME: *ret_min = 120; *ret_max = 31536000; return &c->dhcp_lease_s;
	case K_EBPF_FLOWS:
		*ret_min = GWD_EBPF_FLOWS_MIN;
		*ret_max = GWD_EBPF_FLOWS_MAX;
		return &c->ebpf_flows;
	default: return NULL;
	}
}

/* The path a key sets, or NULL (numbers are number()'s; the others are
 * parsed by parse_value). */
static char *field(struct gwd_config *c, enum key k)
{
	switch (k) {
	case K_STATE_DIR: return c->state_dir;
	case K_SOCKET: return c->socket;
	case K_POLICY: return c->policy;
	case K_DATAPLANE: return c->dataplane;
	case K_PIN_ROOT: return c->bpf_pin_root;
	case K_DNS: return c->dns;
	case K_DHCP: return c->dhcp;
	case K_DHCP_SCRIPT: return c->dhcp_script;
	default: return NULL;
	}
}

/* An on/off value into *ret, else an error naming the key. */
static void on_off(struct errs *e, const char *name, unsigned lineno, const char *key,
		   const char *val, size_t vlen, bool *ret)
{
	if (vlen == 2 && !memcmp(val, "on", 2))
		*ret = true;
	else if (vlen == 3 && !memcmp(val, "off", 3))
		*ret = false;
	else
		add_err(e, name, lineno, "'%s' is on or off, not '%.*s'", key, (int)(vlen > 64 ? 64 : vlen), val);
}

static bool ifname_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '.' || ch == '-' || ch == '_' || ch == '@';
}

static bool space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

/* "IF[, IF...]" of key `key` into ports/count; reports the first problem. */
static void parse_ports(struct errs *e, const char *name, unsigned lineno, const char *key,
			const char *val, size_t vlen, char out[][GWD_IFNAME_MAX],
			unsigned *ret_n)
{
	unsigned n = 0;
	char ports[GWD_MAX_PORTS][GWD_IFNAME_MAX];
	for (size_t at = 0; at <= vlen;) {
		const char *comma = memchr(val + at, ',', vlen - at);
		size_t end = comma ? (size_t)(comma - val) : vlen;
		size_t a = at, b = end;
		while (a < b && space(val[a]))
			a++;
		while (b > a && space(val[b - 1]))
			b--;
		if (a == b) {
			add_err(e, name, lineno, "'%s' has an empty port name", key);
			return;
		}
		for (size_t i = a; i < b; i++) {
			if (!ifname_char(val[i])) {
				add_err(e, name, lineno, "'%s': '%.*s' is not an interface name",
					key, (int)(b - a > 64 ? 64 : b - a), val + a);
				return;
			}
		}
		if (b - a >= GWD_IFNAME_MAX) {
			add_err(e, name, lineno, "'%s': '%.*s' is longer than %d bytes", key,
				(int)(b - a > 64 ? 64 : b - a), val + a, GWD_IFNAME_MAX - 1);
			return;
		}
		if (n == GWD_MAX_PORTS) {
			add_err(e, name, lineno, "'%s' names more than %d ports", key,
				GWD_MAX_PORTS);
			return;
		}
		memcpy(ports[n], val + a, b - a);
		ports[n][b - a] = '\0';
		for (unsigned i = 0; i < n; i++) {
			if (!strcmp(ports[i], ports[n])) {
				add_err(e, name, lineno, "'%s' names '%s' twice", key, ports[n]);
				return;
			}
		}
		n++;
		if (!comma)
			break;
		at = end + 1;
	}
	memcpy(out, ports, sizeof(ports));
	*ret_n = n;
}

/* A decimal number in [min, max] from exactly [p, p + n). */
static bool number(const char *p, size_t n, unsigned long min, unsigned long max,
		   unsigned long *ret)
{
	unsigned long v = 0;
	if (n == 0 || n > 10)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	if (v < min || v > max)
		return false;
	*ret = v;
	return true;
}

/* "LO-HI" or "N", ports 1..65535, into *lo, *hi. */
static bool port_range(const char *p, size_t n, uint16_t *lo, uint16_t *hi)
{
	const char *dash = memchr(p, '-', n);
	unsigned long a, b;
	if (!dash) {
		if (!number(p, n, 1, 65535, &a))
			return false;
		*lo = *hi = (uint16_t)a;
		return true;
	}
	if (!number(p, (size_t)(dash - p), 1, 65535, &a) ||
	    !number(dash + 1, n - (size_t)(dash - p) - 1, 1, 65535, &b) || a > b)
		return false;
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return true;
}

/* "tcp/22, udp/5000-5010" into out/count; reports the first problem. */
static void parse_open(struct errs *e, const char *name, unsigned lineno, const char *key,
		       const char *val, size_t vlen, struct gwd_open_port *out, unsigned *ret_n)
{
	struct gwd_open_port v[GWD_MAX_OPEN];
	unsigned n = 0;
	for (size_t at = 0; at <= vlen;) {
		const char *comma = memchr(val + at, ',', vlen - at);
		size_t end = comma ? (size_t)(comma - val) : vlen;
		size_t a = at, b = end;
		while (a < b && space(val[a]))
			a++;
		while (b > a && space(val[b - 1]))
			b--;
		const char *item = val + a;
		size_t len = b - a;
		int shown = (int)(len > 64 ? 64 : len);
		if (n == GWD_MAX_OPEN) {
			add_err(e, name, lineno, "'%s' opens more than %d ports", key, GWD_MAX_OPEN);
			return;
		}
		uint8_t proto = 0;
		if (len > 4 && !memcmp(item, "tcp/", 4))
			proto = 6;
		else if (len > 4 && !memcmp(item, "udp/", 4))
			proto = 17;
		if (!proto || !port_range(item + 4, len - 4, &v[n].lo, &v[n].hi)) {
			add_err(e, name, lineno,
				"'%s': '%.*s' is not tcp/PORT, udp/PORT or PROTO/LO-HI (ports "
				"1..65535)", key, shown, item);
			return;
		}
		v[n++].proto = proto;
		if (!comma)
			break;
		at = end + 1;
	}
	memcpy(out, v, sizeof(v[0]) * n);
	*ret_n = n;
}

static bool table_name(const char *p, size_t n)
{
	if (n == 0 || n >= GWD_NFT_TABLE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
		      (p[i] >= '0' && p[i] <= '9') || p[i] == '_' || p[i] == '-'))
			return false;
	return true;
}

/* "A-B[, A-B ...]": IPv4 ranges, first address not after the last. */
static void parse_ranges(struct errs *e, const char *name, unsigned lineno, const char *val,
			 size_t vlen, struct gwd_config *out)
{
	struct gwd_dhcp_range r[GWD_DHCP_RANGES];
	unsigned n = 0;
	for (size_t at = 0; at <= vlen;) {
		const char *comma = memchr(val + at, ',', vlen - at);
		size_t end = comma ? (size_t)(comma - val) : vlen;
		size_t a = at, b = end;
		char buf[40];
		while (a < b && space(val[a]))
			a++;
		while (b > a && space(val[b - 1]))
			b--;
		int shown = (int)(b - a > 64 ? 64 : b - a);
		if (n == GWD_DHCP_RANGES) {
			add_err(e, name, lineno, "'dhcp_ranges' has more than %d ranges",
				GWD_DHCP_RANGES);
			return;
		}
		const char *dash = memchr(val + a, '-', b - a);
		size_t l1 = dash ? (size_t)(dash - (val + a)) : 0, l2 = dash ? (size_t)(val + b - dash - 1) : 0;
		bool ok = dash && l1 && l1 < sizeof(buf) && l2 && l2 < sizeof(buf);
		if (ok) {
			memcpy(buf, val + a, l1);
			buf[l1] = '\0';
			ok = inet_pton(AF_INET, buf, r[n].lo) == 1;
		}
		if (ok) {
			memcpy(buf, dash + 1, l2);
			buf[l2] = '\0';
			ok = inet_pton(AF_INET, buf, r[n].hi) == 1;
		}
		if (!ok) {
			add_err(e, name, lineno,
				"'dhcp_ranges': '%.*s' is not FIRST-LAST of IPv4 addresses", shown,
				val + a);
			return;
		}
		if (memcmp(r[n].lo, r[n].hi, 4) > 0) {
			add_err(e, name, lineno, "'dhcp_ranges': '%.*s' ends before it starts", shown,
				val + a);
			return;
		}
		n++;
		if (!comma)
			break;
		at = end + 1;
	}
	memcpy(out->dhcp_ranges, r, n * sizeof(r[0]));
	out->ndhcp_ranges = n;
}

/* "127.0.0.1:PORT" or "[::1]:PORT", a loopback address: the metrics name
 * the household's devices, so they are for this machine only. */
static void parse_metrics(struct errs *e, const char *name, unsigned lineno, const char *val,
			  size_t vlen, struct gwd_config *out)
{
	char buf[80], *host, *port;
	if (vlen >= sizeof(buf)) {
		add_err(e, name, lineno, "'metrics' is ADDRESS:PORT, e.g. 127.0.0.1:9477");
		return;
	}
	memcpy(buf, val, vlen);
	buf[vlen] = '\0';
	if (buf[0] == '[') {
		char *close = strchr(buf, ']');
		if (!close || close[1] != ':') {
			add_err(e, name, lineno, "'metrics': expected [::1]:PORT");
			return;
		}
		*close = '\0';
		host = buf + 1;
		port = close + 2;
	} else {
		char *colon = strrchr(buf, ':');
		if (!colon) {
			add_err(e, name, lineno, "'metrics' is ADDRESS:PORT, e.g. 127.0.0.1:9477");
			return;
		}
		*colon = '\0';
		host = buf;
		port = colon + 1;
	}
	char *end;
	errno = 0;
	unsigned long p = strtoul(port, &end, 10);
	if (errno || *end || end == port || port[0] == '-' || p < 1 || p > 65535) {
		add_err(e, name, lineno, "'metrics': the port is 1-65535");
		return;
	}
	uint8_t a[16];
	bool loop4 = inet_pton(AF_INET, host, a) == 1 && a[0] == 127;
	bool loop6 = !loop4 && inet_pton(AF_INET6, host, a) == 1 &&
		     !memcmp(a, (uint8_t[16]){ [15] = 1 }, 16);
	if (!loop4 && !loop6) {
		add_err(e, name, lineno,
			"'metrics': '%s' is not a loopback address (127.0.0.0/8 or [::1]): "
			"the metrics name the household's devices", host);
		return;
	}
	snprintf(out->metrics_addr, sizeof(out->metrics_addr), "%s", host);
	out->metrics_port = (unsigned short)p;
}

/* The keys that are not paths. */
static void parse_value(struct errs *e, const char *name, unsigned lineno, enum key k,
			const char *val, size_t vlen, struct gwd_config *out)
{
	unsigned long v;
	uint16_t lo, hi;
	int shown = (int)(vlen > 64 ? 64 : vlen);
	switch (k) {
	case K_API_GROUP: {
		bool ok = vlen < GWD_GROUP_MAX;
		for (size_t i = 0; ok && i < vlen; i++)
			ok = (val[i] >= 'a' && val[i] <= 'z') || val[i] == '_' ||
			     (i && ((val[i] >= '0' && val[i] <= '9') || val[i] == '-'));
		if (!ok) {
			add_err(e, name, lineno,
				"'api_group' must be a group name (lower-case letters, digits, "
				"'_', '-'; at most %d bytes)", GWD_GROUP_MAX - 1);
			break;
		}
		memcpy(out->api_group, val, vlen);
		out->api_group[vlen] = '\0';
		break;
	}
	case K_EBPF_PORTS:
		parse_ports(e, name, lineno, keys[k], val, vlen, out->ebpf_ports, &out->nebpf_ports);
		break;
	case K_LAN_PORTS:
		parse_ports(e, name, lineno, keys[k], val, vlen, out->lan_ports, &out->nlan_ports);
		break;
	case K_WAN_PORTS:
		parse_ports(e, name, lineno, keys[k], val, vlen, out->wan_ports, &out->nwan_ports);
		break;
	case K_NFT_PORTS:
		parse_ports(e, name, lineno, keys[k], val, vlen, out->nft_ports, &out->nnft_ports);
		break;
	case K_DHCP_PORTS:
		parse_ports(e, name, lineno, keys[k], val, vlen, out->dhcp_ports, &out->ndhcp_ports);
		break;
	case K_DHCP_RANGES:
		parse_ranges(e, name, lineno, val, vlen, out);
		break;
	case K_LAN_OPEN:
		parse_open(e, name, lineno, keys[k], val, vlen, out->lan_open, &out->nlan_open);
		break;
	case K_WAN_OPEN:
		parse_open(e, name, lineno, keys[k], val, vlen, out->wan_open, &out->nwan_open);
		break;
	case K_NFT_TABLE:
		if (!table_name(val, vlen)) {
			add_err(e, name, lineno,
				"'nft_table': '%.*s' is not a table name (1..%d letters, digits, "
				"'_', '-')", shown, val, GWD_NFT_TABLE_MAX - 1);
			break;
		}
		memcpy(out->nft_table, val, vlen);
		out->nft_table[vlen] = '\0';
		break;
	case K_GUARD:
		on_off(e, name, lineno, keys[k], val, vlen, &out->guard);
		break;
	case K_NFT_FLOWS:
		on_off(e, name, lineno, keys[k], val, vlen, &out->nft_flows);
		break;
	case K_EBPF_FORWARD:
		on_off(e, name, lineno, keys[k], val, vlen, &out->ebpf_forward);
		out->ebpf_forward_set = true;
		break;
	case K_EBPF_FORWARD_NEW:
		on_off(e, name, lineno, keys[k], val, vlen, &out->ebpf_forward_new);
		break;
	case K_EBPF_ATTACH:
		if (vlen == 4 && !memcmp(val, "auto", 4))
			out->ebpf_attach = GWD_EBPF_ATTACH_AUTO;
		else if (vlen == 3 && !memcmp(val, "xdp", 3))
			out->ebpf_attach = GWD_EBPF_ATTACH_XDP;
		else if (vlen == 2 && !memcmp(val, "tc", 2))
			out->ebpf_attach = GWD_EBPF_ATTACH_TC;
		else
			add_err(e, name, lineno, "'ebpf_attach' is auto, xdp or tc, not '%.*s'", shown,
				val);
		break;
	case K_DHCP_RA:
		on_off(e, name, lineno, keys[k], val, vlen, &out->dhcp_ra);
		break;
	case K_KERNEL_NAT:
		if (vlen == 3 && !memcmp(val, "off", 3)) {
			out->nat_lo = out->nat_hi = 0;
		} else if (port_range(val, vlen, &lo, &hi) && lo < hi) {
			out->nat_lo = lo;
			out->nat_hi = hi;
		} else {
			add_err(e, name, lineno,
				"'kernel_nat' is off or a port range LO-HI (1..65535), not '%.*s'",
				shown, val);
		}
		break;
	case K_NFLOG_GROUP:
		if (number(val, vlen, 1, 65535, &v))
			out->nflog_group = (uint16_t)v;
		else
			add_err(e, name, lineno, "'nflog_group' is 1..65535, not '%.*s'", shown, val);
		break;
	case K_METRICS:
		parse_metrics(e, name, lineno, val, vlen, out);
		break;
	default:
		break;
	}
}

static bool listed(char ports[][GWD_IFNAME_MAX], unsigned n, const char *p)
{
	for (unsigned i = 0; i < n; i++)
		if (!strcmp(ports[i], p))
			return true;
	return false;
}

/* What no single line can say: a port under two engines or on both
 * sides, and the guard's interfaces when it is on. */
static void check_across(struct errs *e, const char *name, const unsigned line[K_COUNT],
			 struct gwd_config *c)
{
	for (unsigned i = 0; i < c->nnft_ports; i++)
		if (listed(c->ebpf_ports, c->nebpf_ports, c->nft_ports[i]))
			add_err(e, name, line[K_NFT_PORTS],
				"'%s' is in ebpf_ports and nft_ports: one engine enforces a port",
				c->nft_ports[i]);
	for (unsigned i = 0; i < c->nwan_ports; i++) {
		const char *p = c->wan_ports[i];
		if (listed(c->lan_ports, c->nlan_ports, p) ||
		    listed(c->ebpf_ports, c->nebpf_ports, p) || listed(c->nft_ports, c->nnft_ports, p))
			add_err(e, name, line[K_WAN_PORTS],
				"'%s' is a WAN port and a LAN-side port (lan_ports, ebpf_ports, "
				"nft_ports)", p);
	}
	for (unsigned i = 0; i < c->ndhcp_ports; i++)
		if (listed(c->wan_ports, c->nwan_ports, c->dhcp_ports[i]))
			add_err(e, name, line[K_DHCP_PORTS],
				"'%s' is a WAN port: DHCP is served on the LAN side only",
				c->dhcp_ports[i]);
	if (c->dhcp[0] && !c->ndhcp_ports && !c->nlan_ports && !c->nebpf_ports && !c->nnft_ports)
		add_err(e, name, line[K_DHCP],
			"'dhcp' needs 'dhcp_ports' or a LAN-side port (lan_ports, ebpf_ports, "
			"nft_ports) to serve");
	if (!c->guard || !gwd_config_has_engines(c))
		return;
	unsigned at = line[K_DATAPLANE] > line[K_EBPF_PORTS] ? line[K_DATAPLANE] : line[K_EBPF_PORTS];
	if (line[K_NFT_PORTS] > at)
		at = line[K_NFT_PORTS];
	if (!c->nwan_ports)
		add_err(e, name, at,
			"the guard (guard = on) needs 'wan_ports' before gwd runs an engine: the "
			"gateway's WAN-side interfaces, such as gw-wan (or guard = off, for tests)");
	if (!c->nlan_ports && !c->nebpf_ports && !c->nnft_ports)
		add_err(e, name, at,
			"the guard (guard = on) needs 'lan_ports' before gwd runs an engine: the "
			"gateway's LAN-side interfaces, such as gw-lan (or guard = off, for tests)");
}

/* "ADDR[/LEN][, ...]" into out (prefixes only when with_len); reports the first problem. */
static void parse_addrs(struct errs *e, const char *name, unsigned lineno, const char *key,
			const char *val, size_t vlen, bool with_len, struct gwd_addr *out,
			unsigned *ret_n)
{
	struct gwd_addr a[GWD_DNS_ADDRS];
	unsigned n = 0;
	for (size_t at = 0; at <= vlen;) {
		const char *comma = memchr(val + at, ',', vlen - at);
		size_t end = comma ? (size_t)(comma - val) : vlen;
		size_t x = at, y = end;
		char buf[64];
		while (x < y && space(val[x]))
			x++;
		while (y > x && space(val[y - 1]))
			y--;
		if (x == y || y - x >= sizeof(buf)) {
			add_err(e, name, lineno, "'%s': an empty or overlong address", key);
			return;
		}
		if (n == GWD_DNS_ADDRS) {
			add_err(e, name, lineno, "'%s' names more than %d addresses", key,
				GWD_DNS_ADDRS);
			return;
		}
		memcpy(buf, val + x, y - x);
		buf[y - x] = '\0';
		char *slash = strchr(buf, '/');
		long plen = -1;
		if (slash) {
			char *endp;
			*slash = '\0';
			plen = strtol(slash + 1, &endp, 10);
			if (!with_len || *endp || slash[1] == '\0' || plen < 0) {
				add_err(e, name, lineno, "'%s': '%.*s' is not %s", key, (int)(y - x),
					val + x, with_len ? "ADDRESS/LENGTH" : "an address");
				return;
			}
		}
		memset(&a[n], 0, sizeof(a[n]));
		if (inet_pton(AF_INET, buf, a[n].addr) == 1) {
			a[n].family = 4;
		} else if (inet_pton(AF_INET6, buf, a[n].addr) == 1) {
			a[n].family = 6;
		} else {
			add_err(e, name, lineno, "'%s': '%s' is not an IPv4 or IPv6 address", key, buf);
			return;
		}
		long full = a[n].family == 4 ? 32 : 128;
		if (plen > full) {
			add_err(e, name, lineno, "'%s': /%ld is longer than %ld bits", key, plen, full);
			return;
		}
		a[n].plen = (unsigned char)(plen < 0 ? full : plen);
		n++;
		if (!comma)
			break;
		at = end + 1;
	}
	memcpy(out, a, n * sizeof(a[0]));
	*ret_n = n;
}

int gwd_config_parse(const char *name, const char *text, size_t len, struct gwd_config *c,
		     char *err, size_t errlen)
{
	struct gwd_config out = *c;
	struct errs e = { .buf = err, .size = errlen };
	bool seen[K_COUNT] = { false };
	unsigned line_of[K_COUNT] = { 0 };
	if (err && errlen)
		err[0] = '\0';
	unsigned lineno = 0;
	for (size_t at = 0; at < len;) {
		const char *line = text + at;
		const char *nl = memchr(line, '\n', len - at);
		size_t n = nl ? (size_t)(nl - line) : len - at;
		at += n + 1;
		lineno++;
		if (memchr(line, '\0', n)) {
			add_err(&e, name, lineno, "a NUL byte in the line");
			continue;
		}
		const char *hash = memchr(line, '#', n);
		if (hash)
			n = (size_t)(hash - line);
		while (n && space(line[n - 1]))
			n--;
		while (n && space(*line)) {
			line++;
			n--;
		}
		if (!n)
			continue;
		const char *eq = memchr(line, '=', n);
		if (!eq) {
			add_err(&e, name, lineno, "expected 'key = value'");
			continue;
		}
		size_t klen = (size_t)(eq - line);
		while (klen && space(line[klen - 1]))
			klen--;
		const char *val = eq + 1;
		size_t vlen = n - (size_t)(val - line);
		while (vlen && space(*val)) {
			val++;
			vlen--;
		}
		enum key k;
		for (k = 0; k < K_COUNT; k++)
			if (strlen(keys[k]) == klen && !memcmp(keys[k], line, klen))
				break;
		if (k == K_COUNT) {
			add_err(&e, name, lineno,
				"unknown key '%.*s' (the keys are state_dir, socket, policy, "
				"dataplane, ebpf_ports, bpf_pin_root, api_max_connections, "
				"api_max_per_user, api_idle_timeout, compile_timeout, api_group, "
				"nft_table, guard, lan_ports, wan_ports, nft_ports, lan_open, wan_open, "
				"kernel_nat, nflog_group, metrics, dns, dns_listen, dns_clients, "
				"dns_upstreams, dns_user, dns_block, dhcp, dhcp_ranges, dhcp_lease_time, "
				"dhcp_ports, dhcp_script, dhcp_ra, ebpf_flows, nft_flows, ebpf_forward, "
				"ebpf_forward_new, ebpf_attach)",
				(int)(klen > 64 ? 64 : klen), line);
			continue;
		}
		if (seen[k]) {
			add_err(&e, name, lineno, "'%s' is set twice", keys[k]);
			continue;
		}
		seen[k] = true;
		line_of[k] = lineno;
		if (!vlen) {
			add_err(&e, name, lineno, "'%s' needs a value", keys[k]);
			continue;
		}
		if (k == K_DNS_LISTEN || k == K_DNS_UPSTREAMS) {
			bool l = k == K_DNS_LISTEN;
			parse_addrs(&e, name, lineno, keys[k], val, vlen, false,
				    l ? out.dns_listen : out.dns_upstreams,
				    l ? &out.ndns_listen : &out.ndns_upstreams);
			continue;
		}
		if (k == K_DNS_CLIENTS) {
			parse_addrs(&e, name, lineno, keys[k], val, vlen, true, out.dns_clients,
				    &out.ndns_clients);
			continue;
		}
		if (k == K_DNS_BLOCK) {
			if (vlen == 8 && !memcmp(val, "nxdomain", 8)) {
				out.dns_block_null = 0;
			} else if (vlen == 4 && !memcmp(val, "null", 4)) {
				out.dns_block_null = 1;
			} else {
				add_err(&e, name, lineno, "'dns_block' is nxdomain or null, not '%.*s'",
					(int)(vlen > 64 ? 64 : vlen), val);
			}
			continue;
		}
		if (k == K_DNS_USER) {
			bool ok = vlen < GWD_USER_MAX;
			for (size_t i = 0; i < vlen && ok; i++)
				ok = ifname_char(val[i]) && val[i] != '@';
			if (!ok) {
				add_err(&e, name, lineno, "'dns_user': '%.*s' is not a user name",
					(int)(vlen > 64 ? 64 : vlen), val);
				continue;
			}
			memcpy(out.dns_user, val, vlen);
			out.dns_user[vlen] = '\0';
			continue;
		}
		unsigned lo, hi, *num = num_field(&out, k, &lo, &hi);
		if (num) {
			unsigned long v = 0;
			size_t i = 0;
			for (; i < vlen && val[i] >= '0' && val[i] <= '9' && v <= hi; i++)
				v = v * 10 + (unsigned long)(val[i] - '0');
			if (i < vlen || v < lo || v > hi)
				add_err(&e, name, lineno, "'%s' must be a number from %u to %u",
					keys[k], lo, hi);
			else if (k == K_EBPF_FLOWS && (v & (v - 1)))
				add_err(&e, name, lineno, "'%s' must be a power of two (4096, 8192, "
					"... %u), not %lu", keys[k], hi, v);
			else
				*num = (unsigned)v;
			continue;
		}
		if (!field(&out, k)) {
			parse_value(&e, name, lineno, k, val, vlen, &out);
			continue;
		}
		if (val[0] != '/') {
			add_err(&e, name, lineno, "'%s' must be an absolute path", keys[k]);
			continue;
		}
		if (vlen >= GWD_PATH_MAX) {
			add_err(&e, name, lineno, "'%s' is longer than %d bytes", keys[k],
				GWD_PATH_MAX - 1);
			continue;
		}
		memcpy(field(&out, k), val, vlen);
		field(&out, k)[vlen] = '\0';
	}
	if (out.dns[0] && (!out.ndns_listen || !out.ndns_clients))
		add_err(&e, name, line_of[K_DNS],
			"'dns' needs 'dns_listen' and 'dns_clients' (docs/dns.md)");
	if (out.dhcp[0] && !out.ndhcp_ranges)
		add_err(&e, name, line_of[K_DHCP],
			"'dhcp' needs 'dhcp_ranges', the addresses it hands out (docs/dns.md)");
	if (!e.count)
		check_across(&e, name, line_of, &out);
	if (e.count)
		return -EINVAL;
	*c = out;
	return 0;
}

int gwd_config_load(const char *path, struct gwd_config *c, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		int r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
		return r;
	}
	char *text = NULL;
	size_t len = 0, cap = 0;
	int r = 0;
	for (;;) {
		if (len + 4096 > cap) {
			if (cap >= (1u << 20)) {
				snprintf(err, errlen, "%s: larger than 1 MiB", path);
				r = -EFBIG;
				goto out;
			}
			cap = cap ? cap * 2 : 8192;
			char *t = realloc(text, cap);
			if (!t) {
				r = -ENOMEM;
				snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
				goto out;
			}
			text = t;
		}
		size_t got = fread(text + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		r = -EIO;
		snprintf(err, errlen, "%s: read error", path);
		goto out;
	}
	r = gwd_config_parse(path, text ? text : "", len, c, err, errlen);
out:
	free(text);
	fclose(f);
	return r;
}
