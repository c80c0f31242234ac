/* SPDX-License-Identifier: MIT */
/*
 * Common matches of gwd's nftables rules (the guard's and the policy's),
 * each the expressions nft itself would emit for it, and address or port
 * ranges turned into interval set elements.  Registers: NFT_REG_1 (and
 * NFT_REG32_* inside it) only, so matches can follow each other freely.
 */
#ifndef GW_CONTROL_NFT_MATCH_H
#define GW_CONTROL_NFT_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nft.h"

/* nft's data type numbers, for sets `nft list` shows readably. */
#define GWD_NFT_TYPE_VERDICT     1
#define GWD_NFT_TYPE_INTEGER     4
#define GWD_NFT_TYPE_IPADDR      7
#define GWD_NFT_TYPE_IP6ADDR     8
#define GWD_NFT_TYPE_ETHERADDR   9
#define GWD_NFT_TYPE_INET_PROTO  12
#define GWD_NFT_TYPE_SERVICE     13
#define GWD_NFT_TYPE_MARK        19
#define GWD_NFT_TYPE_ICMPV6_TYPE 29
#define GWD_NFT_TYPE_IFNAME      41
/* A concatenation "a . b", as nft numbers its type. */
#define GWD_NFT_TYPE_CONCAT2(a, b) ((uint32_t)(a) << 6 | (uint32_t)(b))

/* Conntrack states as `ct state` bits. */
#define GWD_CT_INVALID     0x01u
#define GWD_CT_ESTABLISHED 0x02u
#define GWD_CT_RELATED     0x04u
#define GWD_CT_NEW         0x08u
#define GWD_CT_UNTRACKED   0x40u

void gwd_nft_m_nfproto(struct gwd_nft_rule *r, uint8_t nfproto);
void gwd_nft_m_l4proto(struct gwd_nft_rule *r, uint8_t proto);
void gwd_nft_m_l4proto_in(struct gwd_nft_rule *r, const char *set);
/* Transport header byte / 16-bit field (host value) at off. */
void gwd_nft_m_th8(struct gwd_nft_rule *r, uint32_t off, uint8_t v);
void gwd_nft_m_th8_in(struct gwd_nft_rule *r, uint32_t off, const char *set);
void gwd_nft_m_th16(struct gwd_nft_rule *r, uint32_t off, uint16_t v);
void gwd_nft_m_th16_range(struct gwd_nft_rule *r, uint32_t off, uint16_t lo, uint16_t hi);
void gwd_nft_m_th16_in(struct gwd_nft_rule *r, uint32_t off, const char *set);
void gwd_nft_m_iif_in(struct gwd_nft_rule *r, const char *set);
void gwd_nft_m_oif_in(struct gwd_nft_rule *r, const char *set);
/* ct state in any of the GWD_CT_* bits. */
void gwd_nft_m_ct_state(struct gwd_nft_rule *r, uint32_t bits);
/* ct status confirmed: the flow's first packet went all the way through
 * (so it passed every chain that could drop it). */
void gwd_nft_m_ct_confirmed(struct gwd_nft_rule *r);
/* An all-zero IPv4 (4 bytes) or IPv6 (16 bytes) address at network
 * header offset off. */
void gwd_nft_m_ip4_zero(struct gwd_nft_rule *r, uint32_t off);
void gwd_nft_m_ip6_zero(struct gwd_nft_rule *r, uint32_t off);
/* fib saddr . iif oif missing: no route back to the source through the
 * interface it came in on. */
void gwd_nft_m_fib_saddr_iif_missing(struct gwd_nft_rule *r);
/* fib saddr type local / != local. */
void gwd_nft_m_fib_saddr_local(struct gwd_nft_rule *r);
void gwd_nft_m_fib_saddr_not_local(struct gwd_nft_rule *r);

/*
 * Ranges of big-endian numbers `width` bytes wide (2: ports, 4: IPv4,
 * 16: IPv6), merged into disjoint intervals and written as an interval
 * set's elements the way nft writes them (each start, then an end
 * element one past its last value, except at the top; an end element at
 * zero first when the first range starts above zero).
 */
struct gwd_nft_range {
	uint8_t lo[16], hi[16];
};
struct gwd_nft_ranges {
	unsigned width;
	struct gwd_nft_range *v;
	size_t n, cap;
	bool oom;
};
void gwd_nft_ranges_init(struct gwd_nft_ranges *r, unsigned width);
void gwd_nft_ranges_free(struct gwd_nft_ranges *r);
void gwd_nft_ranges_add(struct gwd_nft_ranges *r, const uint8_t *lo, const uint8_t *hi);
void gwd_nft_ranges_add16(struct gwd_nft_ranges *r, uint16_t lo, uint16_t hi);
/* A prefix (addr of width bytes, plen bits). */
void gwd_nft_ranges_add_prefix(struct gwd_nft_ranges *r, const uint8_t *addr, unsigned plen);
/* Sort and merge (also done by _elems); then v[0..n) are disjoint, in order,
 * and not adjacent. */
void gwd_nft_ranges_merge(struct gwd_nft_ranges *r);
/* Everything of width not in r (r merged first). */
void gwd_nft_ranges_complement(const struct gwd_nft_ranges *r, struct gwd_nft_ranges *ret);
bool gwd_nft_ranges_full(struct gwd_nft_ranges *r);
/* The elements into s (an interval set of key length width). */
int gwd_nft_ranges_elems(struct gwd_nft_ranges *r, struct gwd_nft_set *s);

#endif
