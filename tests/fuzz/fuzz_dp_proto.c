/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: control socket messages (dataplane/proto.c), as
 * gw-dataplane's agent reads them: the header alone first (all the agent
 * has before it decides to read a body), then the whole message.
 * Promises checked:
 *   - every failure is one of the documented errnos, with a reason;
 *   - the header check and the whole-message check agree: a message the
 *     header check refuses is refused whole with the same error;
 *   - an accepted message's fields are inside the buffer and within the
 *     protocol's limits (image inside the body, flows, device usage and
 *     events max,
 *     mask bits, domain entries' count, family and IPv4 tail, device
 *     entries' count, op and MAC);
 *   - a reply header for the request is well formed.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool documented(int r)
{
	return r == -EAGAIN || r == -EBADMSG || r == -EPROTONOSUPPORT || r == -EINVAL ||
	       r == -EOPNOTSUPP || r == -EMSGSIZE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	struct dp_msg_hdr h;
	uint64_t id;
	err[0] = '\0';
	int hr = dp_proto_header(data, size, &h, &id, err, sizeof(err));
	if (!documented(hr) && hr != 0)
		abort();
	if (hr < 0 && !err[0])
		abort();
	static struct dp_request q;
	err[0] = '\0';
	int r = dp_proto_parse(data, size, &q, err, sizeof(err));
	if (r < 0) {
		if (!documented(r) || r == -EAGAIN || !err[0])
			abort();
		if (hr < 0 && hr != -EAGAIN && r != hr)
			abort();
		return 0;
	}
	if (hr != 0 || size != sizeof(h) + h.length || q.type != h.type || q.id != h.id)
		abort();
	switch (q.type) {
	case DP_MSG_LOAD_IMAGE:
		if (q.u.image.data != data + sizeof(h) || q.u.image.size != h.length ||
		    q.u.image.size == 0 || q.u.image.size > DP_IMAGE_MAX)
			abort();
		break;
	case DP_MSG_FLOWS:
		if (q.u.flows.max < 1 || q.u.flows.max > DP_FLOWS_MAX)
			abort();
		break;
	case DP_MSG_DEVICE_USAGE:
		if (q.u.usage.max < 1 || q.u.usage.max > DP_USAGE_MAX ||
		    h.length != sizeof(struct dp_usage_req))
			abort();
		break;
	case DP_MSG_SET_ACTIVE:
	case DP_MSG_SET_ACTIVE_FOR:
		if (q.u.active.nrules > DP_MASK_RULES)
			abort();
		/* SET_ACTIVE pins for ever; SET_ACTIVE_FOR for a bounded time. */
		if (q.type == DP_MSG_SET_ACTIVE ? q.u.active.valid_s != 0
		    : q.u.active.valid_s < 1 || q.u.active.valid_s > DP_ACTIVE_VALID_MAX)
			abort();
		for (uint32_t b = q.u.active.nrules; b < DP_MASK_RULES; b++)
			if (q.u.active.mask[b / 64] >> (b % 64) & 1)
				abort();
		break;
	case DP_MSG_HEALTH:
	case DP_MSG_STATS:
	case DP_MSG_IMAGE_INFO:
		if (h.length)
			abort();
		break;
	case DP_MSG_EVENTS:
		if (q.u.events.max < 1 || q.u.events.max > DP_EVENTS_MAX)
			abort();
		break;
	case DP_MSG_DOMAIN_SET:
		if (q.u.domains.count < 1 || q.u.domains.count > DP_DOMAIN_MAX ||
		    q.u.domains.entries != data + sizeof(h) + sizeof(struct dp_domain_head) ||
		    h.length != sizeof(struct dp_domain_head) +
					q.u.domains.count * sizeof(struct dp_domain_entry))
			abort();
		for (uint32_t i = 0; i < q.u.domains.count; i++) {
			struct dp_domain_entry e;
			dp_proto_domain_entry(&q, i, &e);
			if (e.family != 4 && e.family != 6)
				abort();
			for (int k = 4; e.family == 4 && k < 16; k++)
				if (e.addr[k])
					abort();
		}
		break;
	case DP_MSG_DEVICE_SET:
		if (q.u.devices.count < 1 || q.u.devices.count > DP_DEVICE_MAX ||
		    q.u.devices.entries != data + sizeof(h) + sizeof(struct dp_device_head) ||
		    h.length != sizeof(struct dp_device_head) +
					q.u.devices.count * sizeof(struct dp_device_entry))
			abort();
		for (uint32_t i = 0; i < q.u.devices.count; i++) {
			static const uint8_t zero[6];
			struct dp_device_entry e;
			dp_proto_device_entry(&q, i, &e);
			if ((e.op != DP_DEVICE_BIND && e.op != DP_DEVICE_UNBIND) || e.mac[0] & 1 ||
			    !memcmp(e.mac, zero, 6) || (e.op == DP_DEVICE_UNBIND && e.device))
				abort();
		}
		break;
	default:
		abort();
	}
	uint8_t out[sizeof(struct dp_msg_hdr) + sizeof(struct dp_reply) + DP_REASON_MAX];
	size_t n = dp_proto_reply(out, sizeof(out), q.type, q.id, -EINVAL, err, 0);
	if (n < sizeof(struct dp_msg_hdr) + sizeof(struct dp_reply) || n > sizeof(out))
		abort();
	return 0;
}
