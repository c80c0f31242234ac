/* SPDX-License-Identifier: MIT */
/*
 * DHCP lease events, as dnsmasq reports them (docs/dns.md, "DHCP"): its
 * lease script (gw-dhcp-event, which hands gwd the event as an API
 * request, dhcp.lease) and its lease file (read at gwd's start).  Both come
 * from a process that reads packets from the LAN, so they are untrusted:
 * every field is checked here, and an event with one bad field is refused
 * whole, so it can never change a device's identity.  No I/O.
 */
#ifndef GW_CONTROL_LEASE_H
#define GW_CONTROL_LEASE_H

#include <stddef.h>
#include <stdint.h>

#define GWD_LEASE_HOSTNAME_MAX  64  /* with its NUL */
#define GWD_LEASE_CLIENT_ID_MAX 192 /* 1..64 hex pairs "01:3c:22:..", with its NUL */

enum gwd_lease_op {
	GWD_LEASE_ADD = 1, /* a new lease */
	GWD_LEASE_OLD = 2, /* a lease renewed, or known at dnsmasq's start */
	GWD_LEASE_DEL = 3, /* released or expired */
};

struct gwd_lease {
	uint8_t op;       /* enum gwd_lease_op */
	uint8_t mac[6];   /* unicast, not zero */
	uint8_t family;   /* 4 (gw runs DHCPv4 only) */
	uint8_t addr[16]; /* a unicast address, not 0.0.0.0 */
	char hostname[GWD_LEASE_HOSTNAME_MAX];   /* "" none: letters, digits, '-', '_', '.' */
	char client_id[GWD_LEASE_CLIENT_ID_MAX]; /* "" none: lower-case hex pairs with ':' */
	int64_t expires;  /* unix seconds; 0: never */
};

/*
 * An event from its parts, as the lease script gives them: op "add",
 * "old" or "del"; mac "aa:bb:cc:dd:ee:ff"; addr an IPv4 address;
 * hostname and client_id (NULL or "": none); expires in unix seconds (0:
 * never).  -EINVAL when any part is wrong; *ret written only on success.
 */
int gwd_lease_from_parts(const char *op, const char *mac, const char *addr,
			 const char *hostname, const char *client_id, int64_t expires,
			 struct gwd_lease *ret);

/*
 * One line of dnsmasq's lease file ("EXPIRY MAC ADDR HOSTNAME|* CLIENTID|*",
 * len bytes, no newline) as an OLD event.  -ENOENT for a line that holds no
 * IPv4 lease (the "duid" line, DHCPv6 leases, an empty line), -EINVAL for
 * one that does not parse.
 */
int gwd_lease_parse_line(const char *line, size_t len, struct gwd_lease *ret);

/* "add", "old", "del". */
const char *gwd_lease_op_name(uint8_t op);

#endif
