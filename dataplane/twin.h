/* SPDX-License-Identifier: MIT */
/*
 * A port's kernel twin: a TAP interface (gw-lan, gw-wan) that holds the
 * gateway's addresses, so the kernel answers ARP, ND, ICMP and the
 * gateway's own services, and a DHCP client can run on the WAN twin.
 *
 * The exchange, and who may call what:
 *
 *   worker --dp_twin_punt--> [urgent ring] --dp_twin_poll: write(fd)--> kernel
 *                            [to_kernel ring]  (the urgent one first)
 *   kernel --dp_twin_poll: read(fd)--> [to_port ring] --dp_twin_take--> worker TX
 *
 * Workers never make a system call for the twin: they only enqueue (a full
 * ring is their caller's drop, DP_DROP_TWIN_FULL) and dequeue.  The TAP
 * file descriptor is read and written by one thread, the main lcore's
 * (dp_twin_poll), non-blocking.  The rings are multi-producer towards the
 * kernel and multi-consumer towards the port, so any number of workers
 * share one twin.  The TAP is not persistent: it goes away with the
 * process, even after SIGKILL.  ARP, ND and DHCP take the urgent ring,
 * which the main lcore empties before each batch of the other: a flood of
 * anything else (policed, punt.h) cannot delay them.
 *
 * The kernel must never forward between a twin and its other interfaces
 * on its own: dp_twin_harden turns off what a LAN twin must not do (IPv4
 * forwarding of what arrives on it, redirects, router advertisements
 * from the LAN), and the main lcore checks it again once a second, since
 * writing the global net.ipv4.ip_forward resets every interface's
 * forwarding.
 */
#ifndef GW_DATAPLANE_TWIN_H
#define GW_DATAPLANE_TWIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_mbuf.h>
#include <rte_mempool.h>

struct dp_twin;

/* Kept by the main lcore only. */
struct dp_twin_stats {
	uint64_t urgent;        /* of to_kernel, from the urgent ring */
	uint64_t to_kernel;     /* frames written to the TAP */
	uint64_t to_kernel_err; /* write refused (counted, freed) */
	uint64_t from_kernel;   /* frames read from the TAP, queued for the port */
	uint64_t from_kernel_drop; /* no mbuf, to_port ring full, or not Ethernet */
};

/* Creates (or attaches to a leftover persistent) TAP named name, sets its
 * MAC to mac, and brings it up.  pool gives the mbufs for what the kernel
 * sends.  -errno; -EBUSY when another process holds that TAP, -EINVAL
 * when name is too long or names an interface that is not a TAP. */
int dp_twin_new(const char *name, const uint8_t mac[6], struct rte_mempool *pool,
		struct dp_twin **ret);
/* Closes the TAP (the kernel removes the interface) and frees whatever is
 * still queued.  Only once no worker runs.  Accepts NULL. */
void dp_twin_free(struct dp_twin *t);

int dp_twin_ifindex(const struct dp_twin *t);
const char *dp_twin_name(const struct dp_twin *t);
int dp_twin_fd(const struct dp_twin *t);
const struct dp_twin_stats *dp_twin_stats(const struct dp_twin *t);

/* Worker side.  Hands m to the kernel, on the urgent ring or the other;
 * false when that ring is full (m is still the caller's). */
bool dp_twin_punt(struct dp_twin *t, struct rte_mbuf *m, bool urgent);
/* Worker side.  Up to n frames the kernel sent, to transmit on the port. */
unsigned dp_twin_take(struct dp_twin *t, struct rte_mbuf **ms, unsigned n);

/* Main lcore.  Writes what the workers punted to the TAP and reads what
 * the kernel sent (a bounded amount per call).  Never blocks. */
void dp_twin_poll(struct dp_twin *t);

/* Main lcore.  Sets the twin's sysctls (net.ipv4.conf.NAME.*,
 * net.ipv6.conf.NAME.*) that must be so for its role, where they are not:
 * on the LAN twin IPv4 forwarding off (what the kernel gets from the LAN
 * is for the gateway itself), no redirects sent or accepted, no router
 * advertisements accepted; on both, ARP answered only for the twin's own
 * addresses and redirects ignored.  The WAN twin keeps forwarding: the
 * kernel ports' replies arrive there.  IPv6 forwarding is left alone
 * (per interface it only makes the twin act as a host, and its neighbour
 * advertisements would tell the LAN the gateway is no router).  Returns
 * how many it changed (their names in changed, comma separated), or
 * -errno when one could not be written (a sysctl the kernel lacks, such
 * as IPv6's when IPv6 is off, is skipped). */
int dp_twin_harden(const struct dp_twin *t, bool lan, char *changed, size_t len);

#endif
