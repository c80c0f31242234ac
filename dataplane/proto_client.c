/* SPDX-License-Identifier: MIT */
/*
 * Reply checking for gwd's DPDK engine (proto_client.h).  Pure: reads only the
 * bytes it is given.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "proto_client.h"
#include "le.h"

static int bad(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

int dp_reply_header(const uint8_t *hdr, uint16_t type, uint64_t id, uint32_t *ret_len, char *err,
		    size_t errlen)
{
	const char *name = dp_proto_type_name(type);
	uint32_t magic = dp_get32(hdr);
	uint16_t version = dp_get16(hdr + 4), rtype = dp_get16(hdr + 6);
	uint32_t len = dp_get32(hdr + 12);
	uint64_t rid = dp_get64(hdr + 16);
	if (magic != DP_MSG_MAGIC)
		return bad(err, errlen, "%s reply header: magic 0x%08x, not 0x%08x", name, magic,
			   DP_MSG_MAGIC);
	if (version != DP_MSG_VERSION)
		return bad(err, errlen, "%s reply header: version %u, not %u", name, version,
			   DP_MSG_VERSION);
	if (rtype != (uint16_t)(type | DP_MSG_REPLY))
		return bad(err, errlen, "%s reply header: type 0x%04x, not 0x%04x", name, rtype,
			   (unsigned)(uint16_t)(type | DP_MSG_REPLY));
	if (rid != id)
		return bad(err, errlen, "%s reply header: id %llu, not the request's %llu", name,
			   (unsigned long long)rid, (unsigned long long)id);
	if (len < sizeof(struct dp_reply))
		return bad(err, errlen, "%s reply header: length %u, under the %zu of dp_reply",
			   name, len, sizeof(struct dp_reply));
	if (len > DP_REPLY_MAX)
		return bad(err, errlen, "%s reply header: length %u, over the %zu a reply may have",
			   name, len, (size_t)DP_REPLY_MAX);
	*ret_len = len;
	return 0;
}

int dp_reply_parse(const uint8_t *buf, size_t len, struct dp_reply_msg *ret, char *err,
		   size_t errlen)
{
	if (len < sizeof(struct dp_reply))
		return bad(err, errlen, "reply of %zu bytes, under the %zu of dp_reply", len,
			   sizeof(struct dp_reply));
	int32_t status = (int32_t)dp_get32(buf);
	uint16_t rlen = dp_get16(buf + 4);
	if (rlen > len - sizeof(struct dp_reply))
		return bad(err, errlen, "reply: reason_len %u, past the %zu bytes after dp_reply",
			   rlen, len - sizeof(struct dp_reply));
	if (rlen > DP_REASON_MAX)
		return bad(err, errlen, "reply: reason_len %u, over the %u allowed", rlen,
			   DP_REASON_MAX);
	if (status > 0)
		return bad(err, errlen, "reply: status %d, neither 0 nor a -errno", status);
	*ret = (struct dp_reply_msg){
		.status = status,
		.reason_len = rlen,
		.reason = (const char *)buf + sizeof(struct dp_reply),
		.body = buf + sizeof(struct dp_reply) + rlen,
		.body_len = len - sizeof(struct dp_reply) - rlen,
	};
	return 0;
}

/* A body of a head (whose first u32 at count_at counts entries) and count
 * entries of esize bytes. */
static int counted(const char *name, const uint8_t *body, size_t len, size_t head,
		   size_t count_at, size_t esize, char *err, size_t errlen)
{
	if (len < head)
		return bad(err, errlen, "%s reply: body of %zu bytes, under its %zu-byte head",
			   name, len, head);
	uint32_t count = dp_get32(body + count_at);
	if ((len - head) / esize != count || (len - head) % esize)
		return bad(err, errlen, "%s reply: count %u entries of %zu bytes, body holds %zu "
			   "bytes after its head", name, count, esize, len - head);
	return 0;
}

int dp_reply_body(uint16_t type, const uint8_t *body, size_t len, char *err, size_t errlen)
{
	const char *name = dp_proto_type_name(type);
	size_t want;
	switch (type) {
	case DP_MSG_HEALTH:
		want = sizeof(struct dp_health);
		break;
	case DP_MSG_LOAD_IMAGE:
	case DP_MSG_SET_ACTIVE:
	case DP_MSG_SET_ACTIVE_FOR:
		want = sizeof(struct dp_load_reply);
		break;
	case DP_MSG_IMAGE_INFO:
		want = sizeof(struct dp_image_info);
		break;
	case DP_MSG_DOMAIN_SET:
		want = sizeof(struct dp_domain_reply);
		break;
	case DP_MSG_DEVICE_SET:
		want = sizeof(struct dp_device_reply);
		break;
	case DP_MSG_STATS:
		return counted(name, body, len, sizeof(struct dp_stats_head), 0,
			       sizeof(struct dp_counter), err, errlen);
	case DP_MSG_FLOWS:
		return counted(name, body, len, sizeof(struct dp_flows_head), 8,
			       sizeof(struct dp_flow_info), err, errlen);
	case DP_MSG_EVENTS:
		return counted(name, body, len, sizeof(struct dp_events_head), 0,
			       sizeof(struct dp_flow_event), err, errlen);
	case DP_MSG_DEVICE_USAGE:
		return counted(name, body, len, sizeof(struct dp_usage_head), 8,
			       sizeof(struct dp_device_usage), err, errlen);
	default:
		return bad(err, errlen, "reply to type %u: no such request", type);
	}
	if (len != want)
		return bad(err, errlen, "%s reply: body of %zu bytes, not %zu", name, len, want);
	return 0;
}

int dp_reply_check(const uint8_t *buf, size_t len, uint16_t type, uint64_t id,
		   struct dp_reply_msg *ret, char *err, size_t errlen)
{
	if (len < sizeof(struct dp_msg_hdr))
		return bad(err, errlen, "%s reply of %zu bytes, under the %zu-byte header",
			   dp_proto_type_name(type), len, sizeof(struct dp_msg_hdr));
	uint32_t blen;
	int r = dp_reply_header(buf, type, id, &blen, err, errlen);
	if (r < 0)
		return r;
	if (blen != len - sizeof(struct dp_msg_hdr))
		return bad(err, errlen, "%s reply header: length %u, but %zu bytes follow it",
			   dp_proto_type_name(type), blen, len - sizeof(struct dp_msg_hdr));
	struct dp_reply_msg m;
	if ((r = dp_reply_parse(buf + sizeof(struct dp_msg_hdr), blen, &m, err, errlen)) < 0)
		return r;
	if (m.status == 0 && (r = dp_reply_body(type, m.body, m.body_len, err, errlen)) < 0)
		return r;
	*ret = m;
	return 0;
}
