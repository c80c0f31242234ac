/* SPDX-License-Identifier: MIT */
/*
 * gw-dns's I/O loop around the resolver: the port-53 sockets gwd handed
 * over, TCP clients, upstream sockets, and the control socket
 * (dns/proto.h).  When the control socket closes, the loop ends.
 */
#ifndef GW_DNS_SERVER_H
#define GW_DNS_SERVER_H

#include <stddef.h>

struct event_base;
struct gwdns_server;

#define GWDNS_LISTEN_MAX 16

struct gwdns_server_fds {
	int udp[GWDNS_LISTEN_MAX]; /* bound UDP sockets */
	size_t n_udp;
	int tcp[GWDNS_LISTEN_MAX]; /* listening TCP sockets */
	size_t n_tcp;
	int control;               /* the stream socket to gwd */
	/* The source ports of upstream queries: the kernel's ephemeral
	 * range (net.ipv4.ip_local_port_range, read before confinement),
	 * the only ports of the gateway's own that a fast path on the WAN
	 * leaves to the kernel (its NAT owns the others). */
	uint16_t port_lo, port_hi;
};

/* The kernel's ephemeral port range into *lo, *hi (32768-60999, Linux's
 * default, when it cannot be read). */
void gwdns_ephemeral_ports(uint16_t *lo, uint16_t *hi);

int gwdns_server_new(struct event_base *base, const struct gwdns_server_fds *fds,
		     struct gwdns_server **ret);
void gwdns_server_free(struct gwdns_server *s);
/* 1 if the loop ended on a broken control stream (not a plain close). */
int gwdns_server_failed(const struct gwdns_server *s);

#endif
