/* SPDX-License-Identifier: MIT */
/*
 * Checking control messages and writing reply headers (see proto.h).
 * Pure functions over byte buffers: no DPDK, no I/O, no allocation, so the
 * unit tests and the fuzzer run exactly what gw-dataplane runs.  Every
 * field is read byte by byte as little-endian; nothing is trusted until
 * its size was checked against what the buffer holds.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proto.h"

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

const char *dp_proto_type_name(uint16_t type)
{
	switch (type & ~DP_MSG_REPLY) {
	case DP_MSG_HEALTH:
		return "health";
	case DP_MSG_STATS:
		return "stats";
	case DP_MSG_LOAD_IMAGE:
		return "load_image";
	case DP_MSG_SET_ACTIVE:
		return "set_active";
	case DP_MSG_FLOWS:
		return "flows";
	}
	return "unknown";
}

/* The largest body a request of this type may have. */
static uint32_t body_max(uint16_t type)
{
	switch (type) {
	case DP_MSG_HEALTH:
	case DP_MSG_STATS:
		return 0;
	case DP_MSG_LOAD_IMAGE:
		return DP_IMAGE_MAX;
	case DP_MSG_SET_ACTIVE:
		return sizeof(struct dp_set_active) + DP_MASK_RULES / 8;
	case DP_MSG_FLOWS:
		return sizeof(struct dp_flows_req);
	}
	return 0;
}

int dp_proto_header(const void *buf, size_t len, struct dp_msg_hdr *ret, uint64_t *ret_id,
		    char *err, size_t errlen)
{
	const uint8_t *p = buf;
	if (len < sizeof(struct dp_msg_hdr)) {
		snprintf(err, errlen, "header cut short: %zu of %zu bytes", len,
			 sizeof(struct dp_msg_hdr));
		return -EAGAIN;
	}
	struct dp_msg_hdr h = {
		.magic = get32(p),
		.version = get16(p + 4),
		.type = get16(p + 6),
		.flags = get32(p + 8),
		.length = get32(p + 12),
		.id = get64(p + 16),
	};
	*ret_id = h.id;
	if (h.magic != DP_MSG_MAGIC) {
		snprintf(err, errlen, "bad magic 0x%08x", h.magic);
		return -EBADMSG;
	}
	if (h.version != DP_MSG_VERSION) {
		snprintf(err, errlen, "protocol version %u, this dataplane speaks %u", h.version,
			 DP_MSG_VERSION);
		return -EPROTONOSUPPORT;
	}
	if (h.flags) {
		snprintf(err, errlen, "unknown flags 0x%x", h.flags);
		return -EINVAL;
	}
	if (h.type < DP_MSG_HEALTH || h.type > DP_MSG_FLOWS) {
		snprintf(err, errlen, "unknown request type %u", h.type);
		return -EOPNOTSUPP;
	}
	if (h.length > body_max(h.type)) {
		snprintf(err, errlen, "%s body of %u bytes, at most %u", dp_proto_type_name(h.type),
			 h.length, body_max(h.type));
		return -EMSGSIZE;
	}
	*ret = h;
	return 0;
}

static int parse_set_active(const uint8_t *b, uint32_t len, struct dp_request *r, char *err,
			    size_t errlen)
{
	if (len < sizeof(struct dp_set_active)) {
		snprintf(err, errlen, "set_active body of %u bytes, at least %zu", len,
			 sizeof(struct dp_set_active));
		return -EINVAL;
	}
	uint32_t nrules = get32(b + 4);
	if (nrules > DP_MASK_RULES) {
		snprintf(err, errlen, "set_active for %u rules, at most %u", nrules, DP_MASK_RULES);
		return -EINVAL;
	}
	uint32_t words = (nrules + 63) / 64;
	if (len != sizeof(struct dp_set_active) + words * 8) {
		snprintf(err, errlen, "set_active for %u rules takes %zu bytes, not %u", nrules,
			 sizeof(struct dp_set_active) + words * 8, len);
		return -EINVAL;
	}
	r->u.active.generation = get32(b);
	r->u.active.nrules = nrules;
	memset(r->u.active.mask, 0, sizeof(r->u.active.mask));
	for (uint32_t w = 0; w < words; w++)
		r->u.active.mask[w] = get64(b + sizeof(struct dp_set_active) + 8 * w);
	if (nrules % 64 && r->u.active.mask[words - 1] >> (nrules % 64)) {
		snprintf(err, errlen, "set_active mask has bits past rule %u", nrules - 1);
		return -EINVAL;
	}
	return 0;
}

int dp_proto_parse(const void *buf, size_t len, struct dp_request *ret, char *err,
		   size_t errlen)
{
	const uint8_t *p = buf;
	struct dp_msg_hdr h;
	uint64_t id;
	int r = dp_proto_header(buf, len, &h, &id, err, errlen);
	if (r == -EAGAIN)
		return -EINVAL;
	if (r < 0)
		return r;
	if (len - sizeof(h) != h.length) {
		snprintf(err, errlen, "header says %u body bytes, the message has %zu", h.length,
			 len - sizeof(h));
		return -EINVAL;
	}
	const uint8_t *b = p + sizeof(h);
	struct dp_request q = { .type = h.type, .id = h.id };
	switch (h.type) {
	case DP_MSG_HEALTH:
	case DP_MSG_STATS:
		break; /* the header check allowed no body */
	case DP_MSG_LOAD_IMAGE:
		if (h.length == 0) {
			snprintf(err, errlen, "load_image without an image");
			return -EINVAL;
		}
		q.u.image.data = b;
		q.u.image.size = h.length;
		break;
	case DP_MSG_SET_ACTIVE:
		if ((r = parse_set_active(b, h.length, &q, err, errlen)) < 0)
			return r;
		break;
	case DP_MSG_FLOWS:
		if (h.length != sizeof(struct dp_flows_req)) {
			snprintf(err, errlen, "flows body of %u bytes, want %zu", h.length,
				 sizeof(struct dp_flows_req));
			return -EINVAL;
		}
		q.u.flows.cursor = get64(b);
		q.u.flows.max = get32(b + 8);
		if (q.u.flows.max < 1 || q.u.flows.max > DP_FLOWS_MAX) {
			snprintf(err, errlen, "flows max %u, want 1 to %u", q.u.flows.max,
				 DP_FLOWS_MAX);
			return -EINVAL;
		}
		break;
	}
	*ret = q;
	return 0;
}

size_t dp_proto_reply(void *out, size_t cap, uint16_t type, uint64_t id, int32_t status,
		      const char *reason, uint32_t payload_len)
{
	uint8_t *p = out;
	size_t rlen = status && reason ? strnlen(reason, DP_REASON_MAX) : 0;
	size_t n = sizeof(struct dp_msg_hdr) + sizeof(struct dp_reply) + rlen;
	if (cap < n)
		return 0;
	put32(p, DP_MSG_MAGIC);
	put16(p + 4, DP_MSG_VERSION);
	put16(p + 6, (uint16_t)(type | DP_MSG_REPLY));
	put32(p + 8, 0);
	put32(p + 12, (uint32_t)(n - sizeof(struct dp_msg_hdr)) + payload_len);
	put64(p + 16, id);
	put32(p + 24, (uint32_t)status);
	put16(p + 28, (uint16_t)rlen);
	put16(p + 30, 0);
	memcpy(p + 32, reason ? reason : "", rlen);
	return n;
}

size_t dp_proto_request(void *out, uint16_t type, uint64_t id, uint32_t length)
{
	uint8_t *p = out;
	put32(p, DP_MSG_MAGIC);
	put16(p + 4, DP_MSG_VERSION);
	put16(p + 6, type);
	put32(p + 8, 0);
	put32(p + 12, length);
	put64(p + 16, id);
	return sizeof(struct dp_msg_hdr);
}
