/* SPDX-License-Identifier: MIT */
/* The fast path's wire parsing (fast.h).  Every read is bounds-checked. */
#include <errno.h>

#include "fast.h"

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

int gwdns_fast_parse(const uint8_t *w, size_t len, struct gwdns_fastq *ret)
{
	struct gwdns_fastq q;
	size_t o = 12, arcount;

	if (len < 12 + 5 || (w[2] & 0xfa) != 0) /* QR, opcode, AA, TC */
		return -EINVAL;
	if ((w[3] & 0x0f) != 0 || get16(w + 4) != 1 || get16(w + 6) != 0 || get16(w + 8) != 0)
		return -EINVAL;
	arcount = get16(w + 10);
	if (arcount > 1)
		return -EINVAL;
	q.qname = w + o;
	while (o < len && w[o] != 0) {
		if (w[o] > 63)
			return -EINVAL; /* a pointer or an extended label type */
		o += (size_t)w[o] + 1;
		if (o - 12 > 254)
			return -EINVAL;
	}
	if (o >= len)
		return -EINVAL;
	o++;
	q.qname_len = (uint8_t)(o - 12);
	if (len - o < 4)
		return -EINVAL;
	q.qtype = get16(w + o);
	if (get16(w + o + 2) != 1 || q.qtype == 41 || q.qtype == 250 || q.qtype == 251 || q.qtype == 252)
		return -EINVAL; /* class IN; no OPT, TSIG, IXFR or AXFR question */
	o += 4;
	q.edns = 0;
	q.udp_size = 0;
	if (arcount == 1) {
		/* root owner, type OPT, class = size, ttl = ext rcode 0, version 0, flags; rdlen 0 */
		if (len - o != 11 || w[o] != 0 || get16(w + o + 1) != 41 || w[o + 5] != 0 ||
		    w[o + 6] != 0 || get16(w + o + 9) != 0)
			return -EINVAL;
		q.edns = 1;
		q.udp_size = get16(w + o + 3);
		o += 11;
	}
	if (o != len)
		return -EINVAL;
	q.id = get16(w);
	q.rd = w[2] & 0x01;
	q.cd = (w[3] >> 4) & 0x01;
	*ret = q;
	return 0;
}

/* The offset past the name at o, or 0 when it runs off the end. */
static size_t skip_name(const uint8_t *w, size_t len, size_t o)
{
	while (o < len) {
		if ((w[o] & 0xc0) == 0xc0)
			return o + 2 <= len ? o + 2 : 0;
		if (w[o] & 0xc0)
			return 0;
		if (w[o] == 0)
			return o + 1;
		o += (size_t)w[o] + 1;
	}
	return 0;
}

int gwdns_fast_ttl_offsets(const uint8_t *w, size_t len, uint16_t *offs, size_t max, size_t *ret_n)
{
	size_t o = 12, i, n = 0, records;

	if (len < 12 || get16(w + 4) != 1)
		return -EINVAL;
	o = skip_name(w, len, o);
	if (!o || len - o < 4)
		return -EINVAL;
	o += 4;
	records = (size_t)get16(w + 6) + get16(w + 8);
	for (i = 0; i < records; i++) {
		o = skip_name(w, len, o);
		if (!o || len - o < 10)
			return -EINVAL;
		if (n == max)
			return -EINVAL;
		offs[n++] = (uint16_t)(o + 4);
		o += 10 + (size_t)get16(w + o + 8);
		if (o > len)
			return -EINVAL;
	}
	*ret_n = n;
	return 0;
}
