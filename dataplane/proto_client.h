/* SPDX-License-Identifier: MIT */
/*
 * The client half of the dataplane control protocol (proto.h): checking
 * what gw-dataplane answers on its control socket, as gwd's DPDK engine
 * (or any client) receives it; requests are written with
 * dp_proto_request (proto.h).  No I/O and no DPDK: with proto.c it is
 * libgwdpproto, which gwd links, and the unit tests and fuzz_dp_reply run
 * it as it is.  Nothing in a reply is used before these pass.
 *
 * The engine reads a reply in two steps and checks after each:
 *   dp_reply_header   the 24-byte dp_msg_hdr: magic, version, the request's
 *                     type | DP_MSG_REPLY, its id, and a length from
 *                     sizeof(struct dp_reply) to DP_REPLY_MAX;
 *   dp_reply_parse    the length bytes after it: dp_reply, a reason that
 *                     fits (at most DP_REASON_MAX), a status 0 or negative;
 * and, for a status-0 reply whose body it reads,
 *   dp_reply_body     the body's size for its type, and the count of a
 *                     counted body (STATS, FLOWS, EVENTS, DEVICE_USAGE)
 *                     against its length.
 * dp_reply_check runs all three on one whole message.
 *
 * Every failure is -EBADMSG with where and what in err; flags and padding
 * are not looked at (receivers ignore them).
 */
#ifndef GW_DATAPLANE_PROTO_CLIENT_H
#define GW_DATAPLANE_PROTO_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* The longest reply body gwd takes: an error's reason, or the largest
 * body it asks for (a full EVENTS page). */
#define DP_REPLY_MAX (sizeof(struct dp_reply) + DP_REASON_MAX + \
		      sizeof(struct dp_events_head) + DP_EVENTS_MAX * sizeof(struct dp_flow_event))

/* A reply as dp_reply_parse found it; reason and body point into the buffer
 * parsed (valid while it is). */
struct dp_reply_msg {
	int32_t status;      /* 0 or the dataplane's -errno */
	uint16_t reason_len; /* bytes at reason, no NUL */
	const char *reason;
	const uint8_t *body; /* the type's reply body (after the reason) */
	size_t body_len;
};

/* hdr: sizeof(struct dp_msg_hdr) bytes, a reply to a request of type with
 * id.  0 and *ret_len, the body bytes that follow the header. */
int dp_reply_header(const uint8_t *hdr, uint16_t type, uint64_t id, uint32_t *ret_len, char *err,
		    size_t errlen);

/* buf: the len body bytes that follow a header dp_reply_header accepted. */
int dp_reply_parse(const uint8_t *buf, size_t len, struct dp_reply_msg *ret, char *err,
		   size_t errlen);

/* The body of a status-0 reply to a request of type. */
int dp_reply_body(uint16_t type, const uint8_t *body, size_t len, char *err, size_t errlen);

/* One whole reply, header and body, exactly len bytes; the body is checked
 * for its type only when status is 0. */
int dp_reply_check(const uint8_t *buf, size_t len, uint16_t type, uint64_t id,
		   struct dp_reply_msg *ret, char *err, size_t errlen);

#endif
