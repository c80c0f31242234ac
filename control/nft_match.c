/* SPDX-License-Identifier: MIT */
/* Common matches and interval ranges of gwd's nftables rules (nft_match.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/rtnetlink.h>

#include "nft_match.h"

void gwd_nft_m_nfproto(struct gwd_nft_rule *r, uint8_t nfproto)
{
	gwd_nft_e_meta(r, NFT_META_NFPROTO, NFT_REG_1);
	gwd_nft_e_cmp_u8(r, NFT_REG_1, NFT_CMP_EQ, nfproto);
}

void gwd_nft_m_l4proto(struct gwd_nft_rule *r, uint8_t proto)
{
	gwd_nft_e_meta(r, NFT_META_L4PROTO, NFT_REG_1);
	gwd_nft_e_cmp_u8(r, NFT_REG_1, NFT_CMP_EQ, proto);
}

void gwd_nft_m_l4proto_in(struct gwd_nft_rule *r, const char *set)
{
	gwd_nft_e_meta(r, NFT_META_L4PROTO, NFT_REG_1);
	gwd_nft_e_lookup(r, NFT_REG_1, set, GWD_NFT_SET_ONLY, false);
}

void gwd_nft_m_th8(struct gwd_nft_rule *r, uint32_t off, uint8_t v)
{
	gwd_nft_e_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, off, 1, NFT_REG_1);
	gwd_nft_e_cmp_u8(r, NFT_REG_1, NFT_CMP_EQ, v);
}

void gwd_nft_m_th8_in(struct gwd_nft_rule *r, uint32_t off, const char *set)
{
	gwd_nft_e_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, off, 1, NFT_REG_1);
	gwd_nft_e_lookup(r, NFT_REG_1, set, GWD_NFT_SET_ONLY, false);
}

void gwd_nft_m_th16(struct gwd_nft_rule *r, uint32_t off, uint16_t v)
{
	uint8_t be[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	gwd_nft_e_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, off, 2, NFT_REG_1);
	gwd_nft_e_cmp(r, NFT_REG_1, NFT_CMP_EQ, be, 2);
}

void gwd_nft_m_th16_range(struct gwd_nft_rule *r, uint32_t off, uint16_t lo, uint16_t hi)
{
	uint8_t a[2] = { (uint8_t)(lo >> 8), (uint8_t)lo };
	uint8_t z[2] = { (uint8_t)(hi >> 8), (uint8_t)hi };
	gwd_nft_e_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, off, 2, NFT_REG_1);
	gwd_nft_e_range(r, NFT_REG_1, a, z, 2);
}

void gwd_nft_m_th16_in(struct gwd_nft_rule *r, uint32_t off, const char *set)
{
	gwd_nft_e_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, off, 2, NFT_REG_1);
	gwd_nft_e_lookup(r, NFT_REG_1, set, GWD_NFT_SET_ONLY, false);
}

void gwd_nft_m_iif_in(struct gwd_nft_rule *r, const char *set)
{
	gwd_nft_e_meta(r, NFT_META_IIFNAME, NFT_REG_1);
	gwd_nft_e_lookup(r, NFT_REG_1, set, GWD_NFT_SET_ONLY, false);
}

void gwd_nft_m_oif_in(struct gwd_nft_rule *r, const char *set)
{
	gwd_nft_e_meta(r, NFT_META_OIFNAME, NFT_REG_1);
	gwd_nft_e_lookup(r, NFT_REG_1, set, GWD_NFT_SET_ONLY, false);
}

void gwd_nft_m_ct_state(struct gwd_nft_rule *r, uint32_t bits)
{
	uint32_t zero = 0;
	gwd_nft_e_ct(r, NFT_CT_STATE, -1, NFT_REG_1);
	gwd_nft_e_bitwise(r, NFT_REG_1, NFT_REG_1, 4, &bits, &zero);
	gwd_nft_e_cmp_u32(r, NFT_REG_1, NFT_CMP_NEQ, 0);
}

void gwd_nft_m_ct_confirmed(struct gwd_nft_rule *r)
{
	uint32_t bits = IPS_CONFIRMED, zero = 0;
	gwd_nft_e_ct(r, NFT_CT_STATUS, -1, NFT_REG_1);
	gwd_nft_e_bitwise(r, NFT_REG_1, NFT_REG_1, 4, &bits, &zero);
	gwd_nft_e_cmp_u32(r, NFT_REG_1, NFT_CMP_NEQ, 0);
}

void gwd_nft_m_ip4_zero(struct gwd_nft_rule *r, uint32_t off)
{
	static const uint8_t zero[4];
	gwd_nft_e_payload(r, NFT_PAYLOAD_NETWORK_HEADER, off, 4, NFT_REG_1);
	gwd_nft_e_cmp(r, NFT_REG_1, NFT_CMP_EQ, zero, 4);
}

void gwd_nft_m_ip6_zero(struct gwd_nft_rule *r, uint32_t off)
{
	static const uint8_t zero[16];
	gwd_nft_e_payload(r, NFT_PAYLOAD_NETWORK_HEADER, off, 16, NFT_REG_1);
	gwd_nft_e_cmp(r, NFT_REG_1, NFT_CMP_EQ, zero, 16);
}

void gwd_nft_m_fib_saddr_iif_missing(struct gwd_nft_rule *r)
{
	gwd_nft_e_fib(r, NFTA_FIB_F_SADDR | NFTA_FIB_F_IIF | NFTA_FIB_F_PRESENT,
		      NFT_FIB_RESULT_OIF, NFT_REG_1);
	gwd_nft_e_cmp_u32(r, NFT_REG_1, NFT_CMP_EQ, 0);
}

void gwd_nft_m_fib_saddr_local(struct gwd_nft_rule *r)
{
	gwd_nft_e_fib(r, NFTA_FIB_F_SADDR, NFT_FIB_RESULT_ADDRTYPE, NFT_REG_1);
	gwd_nft_e_cmp_u32(r, NFT_REG_1, NFT_CMP_EQ, RTN_LOCAL);
}

void gwd_nft_m_fib_saddr_not_local(struct gwd_nft_rule *r)
{
	gwd_nft_e_fib(r, NFTA_FIB_F_SADDR, NFT_FIB_RESULT_ADDRTYPE, NFT_REG_1);
	gwd_nft_e_cmp_u32(r, NFT_REG_1, NFT_CMP_NEQ, RTN_LOCAL);
}

/* --- ranges ------------------------------------------------------------- */

void gwd_nft_ranges_init(struct gwd_nft_ranges *r, unsigned width)
{
	memset(r, 0, sizeof(*r));
	r->width = width;
}

void gwd_nft_ranges_free(struct gwd_nft_ranges *r)
{
	free(r->v);
	r->v = NULL;
	r->n = r->cap = 0;
}

void gwd_nft_ranges_add(struct gwd_nft_ranges *r, const uint8_t *lo, const uint8_t *hi)
{
	if (r->oom)
		return;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 8;
		struct gwd_nft_range *v = realloc(r->v, cap * sizeof(*v));
		if (!v) {
			r->oom = true;
			return;
		}
		r->v = v;
		r->cap = cap;
	}
	struct gwd_nft_range *x = &r->v[r->n++];
	memset(x, 0, sizeof(*x));
	memcpy(x->lo, lo, r->width);
	memcpy(x->hi, hi, r->width);
}

void gwd_nft_ranges_add16(struct gwd_nft_ranges *r, uint16_t lo, uint16_t hi)
{
	uint8_t a[2] = { (uint8_t)(lo >> 8), (uint8_t)lo };
	uint8_t z[2] = { (uint8_t)(hi >> 8), (uint8_t)hi };
	gwd_nft_ranges_add(r, a, z);
}

void gwd_nft_ranges_add_prefix(struct gwd_nft_ranges *r, const uint8_t *addr, unsigned plen)
{
	uint8_t lo[16], hi[16];
	for (unsigned i = 0; i < r->width; i++) {
		unsigned bits = plen >= (i + 1) * 8 ? 8 : plen > i * 8 ? plen - i * 8 : 0;
		uint8_t keep = (uint8_t)(0xff00u >> bits);
		lo[i] = addr[i] & keep;
		hi[i] = (uint8_t)(lo[i] | (uint8_t)~keep);
	}
	gwd_nft_ranges_add(r, lo, hi);
}

static int by_lo(const void *a, const void *b, void *width)
{
	return memcmp(((const struct gwd_nft_range *)a)->lo, ((const struct gwd_nft_range *)b)->lo,
		      *(const unsigned *)width);
}

/* x + 1 in place; true when it wrapped to zero. */
static bool inc(uint8_t *x, unsigned w)
{
	for (unsigned i = w; i-- > 0;)
		if (++x[i] != 0)
			return false;
	return true;
}

/* x - 1 in place (x is not zero). */
static void dec(uint8_t *x, unsigned w)
{
	for (unsigned i = w; i-- > 0;)
		if (x[i]-- != 0)
			return;
}

static bool all(const uint8_t *x, unsigned w, uint8_t v)
{
	for (unsigned i = 0; i < w; i++)
		if (x[i] != v)
			return false;
	return true;
}

void gwd_nft_ranges_merge(struct gwd_nft_ranges *r)
{
	if (r->n < 2)
		return;
	qsort_r(r->v, r->n, sizeof(r->v[0]), by_lo, &r->width);
	size_t out = 0;
	for (size_t i = 1; i < r->n; i++) {
		struct gwd_nft_range *cur = &r->v[out];
		uint8_t next[16];
		memcpy(next, cur->hi, r->width);
		bool top = inc(next, r->width);
		/* Overlapping or adjacent: one interval. */
		if (top || memcmp(r->v[i].lo, next, r->width) <= 0) {
			if (memcmp(r->v[i].hi, cur->hi, r->width) > 0)
				memcpy(cur->hi, r->v[i].hi, r->width);
			continue;
		}
		r->v[++out] = r->v[i];
	}
	r->n = out + 1;
}

void gwd_nft_ranges_complement(const struct gwd_nft_ranges *src, struct gwd_nft_ranges *ret)
{
	struct gwd_nft_ranges m;
	unsigned w = src->width;
	gwd_nft_ranges_init(&m, w);
	for (size_t i = 0; i < src->n; i++)
		gwd_nft_ranges_add(&m, src->v[i].lo, src->v[i].hi);
	gwd_nft_ranges_merge(&m);
	gwd_nft_ranges_init(ret, w);
	ret->oom = m.oom;
	uint8_t at[16] = { 0 }; /* the first value not yet covered */
	bool done = false;
	for (size_t i = 0; i < m.n && !done; i++) {
		if (memcmp(m.v[i].lo, at, w) > 0) {
			uint8_t hi[16];
			memcpy(hi, m.v[i].lo, w);
			dec(hi, w);
			gwd_nft_ranges_add(ret, at, hi);
		}
		memcpy(at, m.v[i].hi, w);
		done = inc(at, w);
	}
	if (!done) {
		uint8_t top[16];
		memset(top, 0xff, sizeof(top));
		gwd_nft_ranges_add(ret, at, top);
	}
	gwd_nft_ranges_free(&m);
}

bool gwd_nft_ranges_full(struct gwd_nft_ranges *r)
{
	gwd_nft_ranges_merge(r);
	return r->n == 1 && all(r->v[0].lo, r->width, 0) && all(r->v[0].hi, r->width, 0xff);
}

int gwd_nft_ranges_elems(struct gwd_nft_ranges *r, struct gwd_nft_set *s)
{
	if (r->oom)
		return -ENOMEM;
	gwd_nft_ranges_merge(r);
	for (size_t i = 0; i < r->n; i++) {
		int e = 0;
		if (i == 0 && !all(r->v[0].lo, r->width, 0)) {
			uint8_t zero[16] = { 0 };
			e = gwd_nft_elem(s, zero, NFT_SET_ELEM_INTERVAL_END, 0);
		}
		if (e == 0)
			e = gwd_nft_elem(s, r->v[i].lo, 0, 0);
		uint8_t end[16];
		memcpy(end, r->v[i].hi, r->width);
		if (e == 0 && !inc(end, r->width))
			e = gwd_nft_elem(s, end, NFT_SET_ELEM_INTERVAL_END, 0);
		if (e < 0)
			return e;
	}
	return 0;
}
