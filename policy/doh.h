/* SPDX-License-Identifier: MIT */
/*
 * The shipped list of public DNS-over-HTTPS resolvers (policy/doh.txt,
 * turned into these tables by policy/mk_doh.py at build time) that the
 * policy's `dns enforce` blocks: the compiler puts the addresses into the
 * prefix set "dns:doh" of the implicit rule of the same name, and gw-dns
 * answers NXDOMAIN for the names (docs/dns.md, "Bypass defence").
 */
#ifndef GW_POLICY_DOH_H
#define GW_POLICY_DOH_H

#include <stddef.h>
#include <stdint.h>

struct pol_doh_addr {
	uint8_t family;   /* 4 or 6 */
	uint8_t addr[16]; /* IPv4 in addr[0..3] */
};

extern const char *const pol_doh_names[];  /* lower case, no trailing dot */
extern const size_t pol_doh_nnames;
extern const struct pol_doh_addr pol_doh_addrs[]; /* sorted, unique */
extern const size_t pol_doh_naddrs;

#endif
