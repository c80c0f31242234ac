/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: gw-dataplane's replies as gwd's DPDK engine checks them
 * (dataplane/proto_client.c).  Input: one byte, the type of the request the
 * reply answers, then the reply message; the request's id is FUZZ_ID (the
 * corpus's replies carry it).  The engine's two steps (header, then the
 * body the header announces) run beside the whole-message check.
 * Promises checked:
 *   - every failure is -EBADMSG with a reason;
 *   - the two steps and dp_reply_check agree;
 *   - an accepted reply's reason and body lie inside the buffer, the
 *     reason within DP_REASON_MAX, the status 0 or negative, and a status-0
 *     body has the size its type says (counted bodies: count entries);
 *   - an accepted error reply is what dp_proto_reply writes for it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto_client.h"
#include "le.h"
#include "proto.h"

#define FUZZ_ID 42

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t body_size(uint16_t type, const uint8_t *b, size_t len)
{
	switch (type) {
	case DP_MSG_HEALTH:
		return sizeof(struct dp_health);
	case DP_MSG_LOAD_IMAGE:
	case DP_MSG_SET_ACTIVE:
	case DP_MSG_SET_ACTIVE_FOR:
		return sizeof(struct dp_load_reply);
	case DP_MSG_IMAGE_INFO:
		return sizeof(struct dp_image_info);
	case DP_MSG_DOMAIN_SET:
		return sizeof(struct dp_domain_reply);
	case DP_MSG_DEVICE_SET:
		return sizeof(struct dp_device_reply);
	case DP_MSG_DEVICE_USAGE:
		return len < sizeof(struct dp_usage_head) ?
			       sizeof(struct dp_usage_head) :
			       sizeof(struct dp_usage_head) +
				       (size_t)dp_get32(b + 8) * sizeof(struct dp_device_usage);
	case DP_MSG_STATS:
		return len < 8 ? 8 : 8 + (size_t)dp_get32(b) * sizeof(struct dp_counter);
	case DP_MSG_FLOWS:
		return len < 16 ? 16 : 16 + (size_t)dp_get32(b + 8) * sizeof(struct dp_flow_info);
	case DP_MSG_EVENTS:
		return len < 8 ? 8 : 8 + (size_t)dp_get32(b) * sizeof(struct dp_flow_event);
	}
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint16_t type = data[0];
	const uint8_t *buf = data + 1;
	size_t len = size - 1;
	char err[256];
	struct dp_reply_msg m;

	/* The whole message. */
	err[0] = '\0';
	int r = dp_reply_check(buf, len, type, FUZZ_ID, &m, err, sizeof(err));
	if (r != 0 && (r != -EBADMSG || !err[0]))
		abort();

	/* The engine's steps. */
	int s = -EBADMSG;
	struct dp_reply_msg m2;
	if (len >= sizeof(struct dp_msg_hdr)) {
		uint32_t blen = 0;
		err[0] = '\0';
		s = dp_reply_header(buf, type, FUZZ_ID, &blen, err, sizeof(err));
		if (s < 0 && (s != -EBADMSG || !err[0]))
			abort();
		if (s == 0 && (blen < sizeof(struct dp_reply) || blen > DP_REPLY_MAX ||
			       blen != dp_get32(buf + 12)))
			abort();
		if (s == 0 && blen != len - sizeof(struct dp_msg_hdr))
			s = -EBADMSG; /* the engine would wait for more, or read the next reply */
		if (s == 0) {
			err[0] = '\0';
			s = dp_reply_parse(buf + sizeof(struct dp_msg_hdr), blen, &m2, err,
					   sizeof(err));
			if (s < 0 && (s != -EBADMSG || !err[0]))
				abort();
		}
		if (s == 0 && m2.status == 0) {
			err[0] = '\0';
			s = dp_reply_body(type, m2.body, m2.body_len, err, sizeof(err));
			if (s < 0 && (s != -EBADMSG || !err[0]))
				abort();
		}
	}
	if ((r == 0) != (s == 0))
		abort();
	if (r < 0)
		return 0;

	if (m.status != m2.status || m.reason_len != m2.reason_len || m.reason != m2.reason ||
	    m.body != m2.body || m.body_len != m2.body_len)
		abort();
	const uint8_t *end = buf + len;
	const uint8_t *after = buf + sizeof(struct dp_msg_hdr) + sizeof(struct dp_reply);
	if (m.status > 0 || m.reason_len > DP_REASON_MAX ||
	    (const uint8_t *)m.reason != after || m.body != after + m.reason_len ||
	    m.body + m.body_len != end)
		abort();
	if (m.status == 0 && m.body_len != body_size(type, m.body, m.body_len))
		abort();
	if (m.status < 0 && m.body_len == 0 && m.reason_len && !memchr(m.reason, 0, m.reason_len)) {
		/* What the dataplane would have written for it, byte for byte
		 * but for flags and padding, which receivers ignore. */
		static uint8_t out[sizeof(struct dp_msg_hdr) + sizeof(struct dp_reply) +
				   DP_REASON_MAX + 1];
		char reason[DP_REASON_MAX + 1];
		memcpy(reason, m.reason, m.reason_len);
		reason[m.reason_len] = '\0';
		size_t n = dp_proto_reply(out, sizeof(out), type, FUZZ_ID, m.status, reason, 0);
		if (n != len || memcmp(out, buf, 8) || memcmp(out + 12, buf + 12, 18) ||
		    memcmp(out + 32, buf + 32, n - 32))
			abort();
	}
	return 0;
}
