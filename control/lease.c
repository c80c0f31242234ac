/* SPDX-License-Identifier: MIT */
/* Lease events from dnsmasq, checked field by field (lease.h).  No I/O. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "lease.h"
#include "names.h"

/* The longest client-id taken: 64 bytes as "xx:" pairs. */
#define CLIENT_ID_BYTES 64
_Static_assert(GWD_LEASE_CLIENT_ID_MAX >= CLIENT_ID_BYTES * 3, "room for 64 hex pairs");

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A hostname as DHCP clients send it and dnsmasq passes it on: a letter
 * or digit, then letters, digits, '-', '_', '.'; 1..63 bytes. */
static int take_hostname(const char *s, size_t n, char out[GWD_LEASE_HOSTNAME_MAX])
{
	if (n == 0 || n >= GWD_LEASE_HOSTNAME_MAX || !is_alnum(s[0]))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return -EINVAL;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

/* "01:3c:22:fb:41:8e:07": 1..64 hex pairs separated by ':', kept in lower
 * case. */
static int take_client_id(const char *s, size_t n, char out[GWD_LEASE_CLIENT_ID_MAX])
{
	if (n < 2 || (n + 1) % 3 != 0 || (n + 1) / 3 > CLIENT_ID_BYTES)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (i % 3 == 2 ? s[i] != ':' : !is_hex(s[i]))
			return -EINVAL;
		out[i] = (char)(s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 'a' : s[i]);
	}
	out[n] = '\0';
	return 0;
}

static int take_mac(const char *s, size_t n, uint8_t mac[6])
{
	static const uint8_t zero[6];
	if (pol_mac_parse(s, n, mac) < 0 || (mac[0] & 1) || !memcmp(mac, zero, 6))
		return -EINVAL;
	return 0;
}

/* A unicast IPv4 address a device may hold: not 0.0.0.0/8, not loopback,
 * not multicast or reserved (224/3), not the broadcast. */
static int take_addr(const char *s, size_t n, uint8_t addr[16])
{
	char buf[INET_ADDRSTRLEN];
	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, buf, addr) != 1)
		return -EINVAL;
	if (addr[0] == 0 || addr[0] == 127 || addr[0] >= 224)
		return -EINVAL;
	return 0;
}

static int op_of(const char *s, size_t n)
{
	if (n == 3 && !memcmp(s, "add", 3))
		return GWD_LEASE_ADD;
	if (n == 3 && !memcmp(s, "old", 3))
		return GWD_LEASE_OLD;
	if (n == 3 && !memcmp(s, "del", 3))
		return GWD_LEASE_DEL;
	return -EINVAL;
}

const char *gwd_lease_op_name(uint8_t op)
{
	return op == GWD_LEASE_ADD ? "add" : op == GWD_LEASE_OLD ? "old" :
	       op == GWD_LEASE_DEL ? "del" : "?";
}

int gwd_lease_from_parts(const char *op, const char *mac, const char *addr,
			 const char *hostname, const char *client_id, int64_t expires,
			 struct gwd_lease *ret)
{
	struct gwd_lease l;
	memset(&l, 0, sizeof(l));
	if (!op || !mac || !addr || expires < 0)
		return -EINVAL;
	int o = op_of(op, strlen(op));
	if (o < 0)
		return -EINVAL;
	l.op = (uint8_t)o;
	l.family = 4;
	if (take_mac(mac, strlen(mac), l.mac) < 0 || take_addr(addr, strlen(addr), l.addr) < 0)
		return -EINVAL;
	if (hostname && hostname[0] &&
	    take_hostname(hostname, strlen(hostname), l.hostname) < 0)
		return -EINVAL;
	if (client_id && client_id[0] &&
	    take_client_id(client_id, strlen(client_id), l.client_id) < 0)
		return -EINVAL;
	l.expires = expires;
	*ret = l;
	return 0;
}

/* The next space-separated field of line[*pos..len): its start and length. */
static bool field(const char *line, size_t len, size_t *pos, const char **ret, size_t *ret_n)
{
	size_t i = *pos;
	while (i < len && line[i] == ' ')
		i++;
	if (i == len)
		return false;
	size_t start = i;
	while (i < len && line[i] != ' ')
		i++;
	*ret = line + start;
	*ret_n = i - start;
	*pos = i;
	return true;
}

int gwd_lease_parse_line(const char *line, size_t len, struct gwd_lease *ret)
{
	const char *f[6];
	size_t fn[6], pos = 0, nf = 0;
	for (size_t i = 0; i < len; i++)
		if (line[i] == '\0' || line[i] == '\t' || line[i] == '\r' || line[i] == '\n')
			return -EINVAL;
	while (nf < 6 && field(line, len, &pos, &f[nf], &fn[nf]))
		nf++;
	if (nf == 0)
		return -ENOENT;
	if (fn[0] == 4 && !memcmp(f[0], "duid", 4))
		return -ENOENT;
	if (nf != 5)
		return -EINVAL;
	/* A DHCPv6 lease has an IAID where the MAC stands and an IPv6
	 * address: not gw's (it runs DHCPv4 only). */
	if (memchr(f[2], ':', fn[2]))
		return -ENOENT;
	struct gwd_lease l;
	memset(&l, 0, sizeof(l));
	l.op = GWD_LEASE_OLD;
	l.family = 4;
	int64_t exp = 0;
	if (fn[0] > 18)
		return -EINVAL;
	for (size_t i = 0; i < fn[0]; i++) {
		if (f[0][i] < '0' || f[0][i] > '9')
			return -EINVAL;
		exp = exp * 10 + (f[0][i] - '0');
	}
	l.expires = exp;
	if (take_mac(f[1], fn[1], l.mac) < 0 || take_addr(f[2], fn[2], l.addr) < 0)
		return -EINVAL;
	if (!(fn[3] == 1 && f[3][0] == '*') && take_hostname(f[3], fn[3], l.hostname) < 0)
		return -EINVAL;
	if (!(fn[4] == 1 && f[4][0] == '*') && take_client_id(f[4], fn[4], l.client_id) < 0)
		return -EINVAL;
	*ret = l;
	return 0;
}
