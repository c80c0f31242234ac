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

#include "le.h"
#include "names.h"
#include "proto.h"

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
	case DP_MSG_IMAGE_INFO:
		return "image_info";
	case DP_MSG_DOMAIN_SET:
		return "domain_set";
	case DP_MSG_EVENTS:
		return "events";
	case DP_MSG_DEVICE_SET:
		return "device_set";
	case DP_MSG_SET_ACTIVE_FOR:
		return "set_active_for";
	case DP_MSG_DEVICE_USAGE:
		return "device_usage";
	}
	return "unknown";
}

/* The largest body a request of this type may have. */
static uint32_t body_max(uint16_t type)
{
	switch (type) {
	case DP_MSG_HEALTH:
	case DP_MSG_STATS:
	case DP_MSG_IMAGE_INFO:
		return 0;
	case DP_MSG_DOMAIN_SET:
		return sizeof(struct dp_domain_head) + DP_DOMAIN_MAX * sizeof(struct dp_domain_entry);
	case DP_MSG_EVENTS:
		return sizeof(struct dp_events_req);
	case DP_MSG_DEVICE_SET:
		return sizeof(struct dp_device_head) + DP_DEVICE_MAX * sizeof(struct dp_device_entry);
	case DP_MSG_LOAD_IMAGE:
		return DP_IMAGE_MAX;
	case DP_MSG_SET_ACTIVE:
		return sizeof(struct dp_set_active) + DP_MASK_RULES / 8;
	case DP_MSG_SET_ACTIVE_FOR:
		return sizeof(struct dp_set_active_for) + DP_MASK_RULES / 8;
	case DP_MSG_FLOWS:
		return sizeof(struct dp_flows_req);
	case DP_MSG_DEVICE_USAGE:
		return sizeof(struct dp_usage_req);
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
		.magic = dp_get32(p),
		.version = dp_get16(p + 4),
		.type = dp_get16(p + 6),
		.flags = dp_get32(p + 8),
		.length = dp_get32(p + 12),
		.id = dp_get64(p + 16),
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
	if (h.type < DP_MSG_HEALTH || h.type > DP_MSG_DEVICE_USAGE) {
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

/* SET_ACTIVE (head 8 bytes) or SET_ACTIVE_FOR (head 16: valid_s too). */
static int parse_set_active(const uint8_t *b, uint32_t len, size_t head, struct dp_request *r,
			    char *err, size_t errlen)
{
	if (len < head) {
		snprintf(err, errlen, "set_active body of %u bytes, at least %zu", len, head);
		return -EINVAL;
	}
	uint32_t nrules = dp_get32(b + 4);
	if (nrules > DP_MASK_RULES) {
		snprintf(err, errlen, "set_active for %u rules, at most %u", nrules, DP_MASK_RULES);
		return -EINVAL;
	}
	uint32_t words = (nrules + 63) / 64;
	if (len != head + words * 8) {
		snprintf(err, errlen, "set_active for %u rules takes %zu bytes, not %u", nrules,
			 head + words * 8, len);
		return -EINVAL;
	}
	r->u.active.generation = dp_get32(b);
	r->u.active.nrules = nrules;
	r->u.active.valid_s = 0;
	if (head == sizeof(struct dp_set_active_for)) {
		r->u.active.valid_s = dp_get32(b + 8);
		if (r->u.active.valid_s < 1 || r->u.active.valid_s > DP_ACTIVE_VALID_MAX) {
			snprintf(err, errlen, "set_active_for for %u seconds, want 1 to %u",
				 r->u.active.valid_s, DP_ACTIVE_VALID_MAX);
			return -EINVAL;
		}
	}
	memset(r->u.active.mask, 0, sizeof(r->u.active.mask));
	for (uint32_t w = 0; w < words; w++)
		r->u.active.mask[w] = dp_get64(b + head + 8 * w);
	if (nrules % 64 && r->u.active.mask[words - 1] >> (nrules % 64)) {
		snprintf(err, errlen, "set_active mask has bits past rule %u", nrules - 1);
		return -EINVAL;
	}
	return 0;
}

/* One dp_domain_entry at p, unchecked. */
static void get_domain_entry(const uint8_t *p, struct dp_domain_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->family = p[0];
	e->ttl_s = dp_get32(p + 4);
	memcpy(e->addr, p + 8, 16);
	e->sets = dp_get64(p + 24);
}

static int parse_domain_set(const uint8_t *b, uint32_t len, struct dp_request *r, char *err,
			    size_t errlen)
{
	const size_t esz = sizeof(struct dp_domain_entry);
	if (len < sizeof(struct dp_domain_head)) {
		snprintf(err, errlen, "domain_set body of %u bytes, at least %zu", len,
			 sizeof(struct dp_domain_head));
		return -EINVAL;
	}
	uint32_t count = dp_get32(b);
	if (count < 1 || count > DP_DOMAIN_MAX) {
		snprintf(err, errlen, "domain_set of %u entries, want 1 to %u", count,
			 DP_DOMAIN_MAX);
		return -EINVAL;
	}
	if (len != sizeof(struct dp_domain_head) + count * esz) {
		snprintf(err, errlen, "domain_set of %u entries takes %zu bytes, not %u", count,
			 sizeof(struct dp_domain_head) + count * esz, len);
		return -EINVAL;
	}
	const uint8_t *v = b + sizeof(struct dp_domain_head);
	for (uint32_t i = 0; i < count; i++) {
		struct dp_domain_entry e;
		get_domain_entry(v + i * esz, &e);
		if (e.family != 4 && e.family != 6) {
			snprintf(err, errlen, "domain_set entry %u: family %u, want 4 or 6", i,
				 e.family);
			return -EINVAL;
		}
		if (e.family == 4) {
			for (int k = 4; k < 16; k++) {
				if (e.addr[k]) {
					snprintf(err, errlen,
						 "domain_set entry %u: IPv4 address with nonzero "
						 "byte %d (bytes 4..15 must be 0)",
						 i, k);
					return -EINVAL;
				}
			}
		}
	}
	r->u.domains.entries = v;
	r->u.domains.count = count;
	return 0;
}

void dp_proto_domain_entry(const struct dp_request *r, uint32_t i, struct dp_domain_entry *ret)
{
	get_domain_entry(r->u.domains.entries + (size_t)i * sizeof(struct dp_domain_entry), ret);
}

/* One dp_device_entry at p, unchecked. */
static void get_device_entry(const uint8_t *p, struct dp_device_entry *e)
{
	memset(e, 0, sizeof(*e));
	memcpy(e->mac, p, 6);
	e->op = p[6];
	e->device = e->op == DP_DEVICE_UNBIND ? 0 : dp_get32(p + 8);
}

static int parse_device_set(const uint8_t *b, uint32_t len, struct dp_request *r, char *err,
			    size_t errlen)
{
	static const uint8_t zero[6];
	const size_t esz = sizeof(struct dp_device_entry);
	if (len < sizeof(struct dp_device_head)) {
		snprintf(err, errlen, "device_set body of %u bytes, at least %zu", len,
			 sizeof(struct dp_device_head));
		return -EINVAL;
	}
	uint32_t count = dp_get32(b);
	if (count < 1 || count > DP_DEVICE_MAX) {
		snprintf(err, errlen, "device_set of %u entries, want 1 to %u", count,
			 DP_DEVICE_MAX);
		return -EINVAL;
	}
	if (len != sizeof(struct dp_device_head) + count * esz) {
		snprintf(err, errlen, "device_set of %u entries takes %zu bytes, not %u", count,
			 sizeof(struct dp_device_head) + count * esz, len);
		return -EINVAL;
	}
	const uint8_t *v = b + sizeof(struct dp_device_head);
	for (uint32_t i = 0; i < count; i++) {
		struct dp_device_entry e;
		get_device_entry(v + i * esz, &e);
		if (e.op != DP_DEVICE_BIND && e.op != DP_DEVICE_UNBIND) {
			snprintf(err, errlen, "device_set entry %u: op %u, want 1 (bind) or 2 (unbind)",
				 i, e.op);
			return -EINVAL;
		}
		if (e.mac[0] & 1 || !memcmp(e.mac, zero, 6)) {
			char text[POL_MAC_TEXT];
			snprintf(err, errlen, "device_set entry %u: MAC %s is %s", i,
				 pol_mac_format(e.mac, text), e.mac[0] & 1 ? "multicast" : "all zero");
			return -EINVAL;
		}
	}
	r->u.devices.entries = v;
	r->u.devices.count = count;
	r->u.devices.generation = dp_get32(b + 4);
	return 0;
}

void dp_proto_device_entry(const struct dp_request *r, uint32_t i, struct dp_device_entry *ret)
{
	get_device_entry(r->u.devices.entries + (size_t)i * sizeof(struct dp_device_entry), ret);
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
	case DP_MSG_IMAGE_INFO:
		break; /* the header check allowed no body */
	case DP_MSG_DOMAIN_SET:
		if ((r = parse_domain_set(b, h.length, &q, err, errlen)) < 0)
			return r;
		break;
	case DP_MSG_DEVICE_SET:
		if ((r = parse_device_set(b, h.length, &q, err, errlen)) < 0)
			return r;
		break;
	case DP_MSG_EVENTS:
		if (h.length != sizeof(struct dp_events_req)) {
			snprintf(err, errlen, "events body of %u bytes, want %zu", h.length,
				 sizeof(struct dp_events_req));
			return -EINVAL;
		}
		q.u.events.max = dp_get32(b);
		if (q.u.events.max < 1 || q.u.events.max > DP_EVENTS_MAX) {
			snprintf(err, errlen, "events max %u, want 1 to %u", q.u.events.max,
				 DP_EVENTS_MAX);
			return -EINVAL;
		}
		break;
	case DP_MSG_LOAD_IMAGE:
		if (h.length == 0) {
			snprintf(err, errlen, "load_image without an image");
			return -EINVAL;
		}
		q.u.image.data = b;
		q.u.image.size = h.length;
		break;
	case DP_MSG_SET_ACTIVE:
		if ((r = parse_set_active(b, h.length, sizeof(struct dp_set_active), &q, err,
					  errlen)) < 0)
			return r;
		break;
	case DP_MSG_SET_ACTIVE_FOR:
		if ((r = parse_set_active(b, h.length, sizeof(struct dp_set_active_for), &q, err,
					  errlen)) < 0)
			return r;
		break;
	case DP_MSG_FLOWS:
		if (h.length != sizeof(struct dp_flows_req)) {
			snprintf(err, errlen, "flows body of %u bytes, want %zu", h.length,
				 sizeof(struct dp_flows_req));
			return -EINVAL;
		}
		q.u.flows.cursor = dp_get64(b);
		q.u.flows.max = dp_get32(b + 8);
		if (q.u.flows.max < 1 || q.u.flows.max > DP_FLOWS_MAX) {
			snprintf(err, errlen, "flows max %u, want 1 to %u", q.u.flows.max,
				 DP_FLOWS_MAX);
			return -EINVAL;
		}
		break;
	case DP_MSG_DEVICE_USAGE:
		if (h.length != sizeof(struct dp_usage_req)) {
			snprintf(err, errlen, "device_usage body of %u bytes, want %zu", h.length,
				 sizeof(struct dp_usage_req));
			return -EINVAL;
		}
		q.u.usage.cursor = dp_get64(b);
		q.u.usage.max = dp_get32(b + 8);
		if (q.u.usage.max < 1 || q.u.usage.max > DP_USAGE_MAX) {
			snprintf(err, errlen, "device_usage max %u, want 1 to %u", q.u.usage.max,
				 DP_USAGE_MAX);
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
	dp_put32(p, DP_MSG_MAGIC);
	dp_put16(p + 4, DP_MSG_VERSION);
	dp_put16(p + 6, (uint16_t)(type | DP_MSG_REPLY));
	dp_put32(p + 8, 0);
	dp_put32(p + 12, (uint32_t)(n - sizeof(struct dp_msg_hdr)) + payload_len);
	dp_put64(p + 16, id);
	dp_put32(p + 24, (uint32_t)status);
	dp_put16(p + 28, (uint16_t)rlen);
	dp_put16(p + 30, 0);
	memcpy(p + 32, reason ? reason : "", rlen);
	return n;
}

size_t dp_proto_request(void *out, uint16_t type, uint64_t id, uint32_t length)
{
	uint8_t *p = out;
	dp_put32(p, DP_MSG_MAGIC);
	dp_put16(p + 4, DP_MSG_VERSION);
	dp_put16(p + 6, type);
	dp_put32(p + 8, 0);
	dp_put32(p + 12, length);
	dp_put64(p + 16, id);
	return sizeof(struct dp_msg_hdr);
}
