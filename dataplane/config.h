/* SPDX-License-Identifier: MIT */
/*
 * gw-dataplane's own arguments (those after EAL's `--`):
 *
 *   --lan PORT --wan PORT      DPDK port ids and their roles
 *   --mode io|full             io: forward lan<->wan untouched (the benchmark
 *                              reference); full: the pipeline (default)
 *   --policy IMAGE             a compiled policy image; none: allow all
 *   --nat-ports LO-HI          the fast path's NAT ports (default 1024-32767;
 *                              the kernel keeps the rest)
 *   --kernel-ports LO-HI       the kernel's own ports on the WAN address (its
 *                              connections, its NAT): replies to them are
 *                              punted (default: above --nat-ports, to 65535)
 *   --wan-open LIST            what the WAN may reach on the gateway itself:
 *                              tcp/PORT[-PORT] and udp/PORT[-PORT], comma
 *                              separated, as gwd.conf's wan_open (default:
 *                              nothing)
 *   --punt-rate CLASS=PPS/SRC  a punt class's rate and one source's share
 *                              (punt.h), packets a second; repeatable
 *   --lan-ip A.B.C.D/N         the gateway's LAN address and prefix (full)
 *   --lan-ip6 ADDR/N           its IPv6 LAN address and prefix (optional)
 *   --wan-ip A.B.C.D[/N]       the WAN address NAT masquerades as, with its
 *                              subnet's length for the twin (32); without
 *                              it, the WAN twin's address is followed
 *                              (full mode; required with --no-twins)
 *   --wan-gw-mac MAC           the WAN next hop, overriding the one
 *                              mirrored from the kernel (netlink.c)
 *   --lan-twin NAME            the LAN port's kernel twin (default gw-lan)
 *   --wan-twin NAME            the WAN port's kernel twin (default gw-wan)
 *   --no-twins                 no twins, no netlink: punted packets are
 *                              counted and freed (captures, benchmarks)
 *   --mbufs N                  mbuf pool size (default 8191)
 *   --flows N                  flow table size per worker (default 65536)
 *   --burst N                  RX burst size, 1..64 (default 32)
 *   --idle-exit MS             stop after MS ms without any packet (replays)
 *   --control PATH             serve the control protocol (proto.h) on a
 *                              unix socket at PATH
 *   --nat-filtering MODE       which WAN packets a NAT mapping lets in
 *                              (RFC 4787 REQ-8): endpoint-independent,
 *                              address-dependent (default) or
 *                              address-port-dependent
 *   --device-flows N           flows one device may hold on a worker
 *                              (default: a quarter of the IPv4 flows)
 *   --device-nat N             NAT mappings one device may hold (default:
 *                              a quarter of the --nat-ports range)
 *
 * No DPDK here.
 */
#ifndef GW_DATAPLANE_CONFIG_H
#define GW_DATAPLANE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "punt.h"

enum dp_role { DP_ROLE_LAN = 0, DP_ROLE_WAN = 1, DP_ROLE_COUNT };
enum dp_mode { DP_MODE_FULL = 0, DP_MODE_IO = 1 };

#define DP_BURST_MAX 64

/* Which packets from the WAN a NAT mapping lets in (RFC 4787 section 5,
 * RFC 5382 section 4.3), beyond the replies of its flows: from any host
 * (endpoint-independent), from the addresses its flows go to
 * (address-dependent), or only from the exact address and port of one of
 * its flows (address-and-port-dependent). */
enum dp_nat_filtering {
	DP_FILTER_ENDPOINT = 0,
	DP_FILTER_ADDRESS = 1,
	DP_FILTER_ADDRESS_PORT = 2,
};

struct dp_config {
	uint16_t port[DP_ROLE_COUNT];
	uint8_t mode; /* enum dp_mode */
	const char *policy;
	const char *control; /* the control socket's path, or NULL */
	uint16_t nat_lo, nat_hi;
	uint32_t mbufs, flows;
	uint16_t burst;
	uint32_t idle_exit_ms; /* 0: run until a signal */
	uint8_t nat_filtering; /* enum dp_nat_filtering */
	/* Per-device caps (0: the default, derived from --flows and
	 * --nat-ports by the worker: dp_worker_init). */
	uint32_t device_flows, device_nat;
	bool has_lan4, has_lan6, has_wan4, has_wan_gw;
	bool no_twins;
	const char *twin[DP_ROLE_COUNT]; /* TAP names (full mode, unless no_twins) */
	uint8_t lan4_plen, lan6_plen, wan4_plen;
	uint8_t lan4[16], lan6[16], wan4[16]; /* IPv4 in [0..3] */
	uint8_t wan_gw_mac[6];
	/* The kernel's ports (kernel_lo 0: none). */
	uint16_t kernel_lo, kernel_hi;
	/* --wan-open: bit p of [0] TCP port p, of [1] UDP port p. */
	uint64_t wan_open[2][65536 / 64];
	struct dp_punt_rate punt_rate[DP_PUNT_COUNT];
};

/* Whether --wan-open opens this TCP or UDP port (any family). */
static inline bool dp_config_open(const struct dp_config *c, uint8_t proto, uint16_t port)
{
	int i = proto == 6 ? 0 : proto == 17 ? 1 : -1;
	return i >= 0 && (c->wan_open[i][port / 64] >> (port % 64)) & 1;
}

/* Whether a port of the WAN address is the kernel's (--kernel-ports). */
static inline bool dp_config_kernel_port(const struct dp_config *c, uint16_t port)
{
	return c->kernel_lo && port >= c->kernel_lo && port <= c->kernel_hi;
}

/* The defaults of every option (what dp_config_parse starts from), for
 * tests that fill a config by hand. */
void dp_config_defaults(struct dp_config *c);

const char *dp_role_name(enum dp_role r);
/* "endpoint-independent", "address-dependent", "address-port-dependent". */
const char *dp_nat_filtering_name(enum dp_nat_filtering f);

/* 0, or -EINVAL with the reason in err. */
int dp_config_parse(int argc, char **argv, struct dp_config *ret, char *err, size_t errlen);

#endif
