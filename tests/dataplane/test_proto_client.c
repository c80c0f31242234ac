/* SPDX-License-Identifier: MIT */
/* The protocol's client half: the checks of gw-dataplane's replies that
 * gwd runs (dataplane/proto_client.c): replies
 * built as the dataplane builds them (dp_proto_reply) pass with their body
 * in place; each kind of damage is refused with -EBADMSG and says what. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto_client.h"
#include "le.h"
#include "proto.h"

#define ID 0x0102030405060708ull

static uint8_t msg[sizeof(struct dp_msg_hdr) + DP_REPLY_MAX + 64];

/* A reply as gw-dataplane writes it: header, dp_reply, reason, body. */
static size_t build(uint16_t type, uint64_t id, int32_t status, const char *reason,
		    const void *body, uint32_t body_len)
{
	size_t n = dp_proto_reply(msg, sizeof(msg), type, id, status, reason, body_len);
	assert_true(n >= sizeof(struct dp_msg_hdr) + sizeof(struct dp_reply));
	assert_true(n + body_len <= sizeof(msg));
	if (body_len)
		memcpy(msg + n, body, body_len);
	return n + body_len;
}

static void refused(size_t len, uint16_t type, uint64_t id, const char *says)
{
	struct dp_reply_msg m = { .status = 12345 };
	char err[256] = "";
	assert_int_equal(dp_reply_check(msg, len, type, id, &m, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, says));
	assert_int_equal(m.status, 12345); /* ret untouched */
}

static void good_fixed(void **state)
{
	static const struct { uint16_t type; uint32_t size; } v[] = {
		{ DP_MSG_HEALTH, sizeof(struct dp_health) },
		{ DP_MSG_LOAD_IMAGE, sizeof(struct dp_load_reply) },
		{ DP_MSG_SET_ACTIVE, sizeof(struct dp_load_reply) },
		{ DP_MSG_IMAGE_INFO, sizeof(struct dp_image_info) },
		{ DP_MSG_DOMAIN_SET, sizeof(struct dp_domain_reply) },
		{ DP_MSG_DEVICE_SET, sizeof(struct dp_device_reply) },
	};
	uint8_t body[64];
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i + 1);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t len = build(v[i].type, ID, 0, NULL, body, v[i].size);
		struct dp_reply_msg m;
		char err[256];
		assert_int_equal(dp_reply_check(msg, len, v[i].type, ID, &m, err, sizeof(err)), 0);
		assert_int_equal(m.status, 0);
		assert_int_equal(m.reason_len, 0);
		assert_int_equal(m.body_len, v[i].size);
		assert_ptr_equal(m.body, msg + sizeof(struct dp_msg_hdr) + sizeof(struct dp_reply));
		assert_memory_equal(m.body, body, v[i].size);
		/* One byte short or long is the wrong body for the type. */
		len = build(v[i].type, ID, 0, NULL, body, v[i].size - 1);
		refused(len, v[i].type, ID, "body of");
		len = build(v[i].type, ID, 0, NULL, body, v[i].size + 1);
		refused(len, v[i].type, ID, "body of");
	}
}

static void good_error(void **state)
{
	size_t len = build(DP_MSG_LOAD_IMAGE, ID, -EINVAL, "image: bad checksum", NULL, 0);
	struct dp_reply_msg m;
	char err[256];
	assert_int_equal(dp_reply_check(msg, len, DP_MSG_LOAD_IMAGE, ID, &m, err, sizeof(err)), 0);
	assert_int_equal(m.status, -EINVAL);
	assert_int_equal(m.reason_len, strlen("image: bad checksum"));
	assert_memory_equal(m.reason, "image: bad checksum", m.reason_len);
	/* An error has no body to check for its type. */
	assert_int_equal(m.body_len, 0);
}

static size_t events(uint32_t count, uint32_t present)
{
	static uint8_t body[sizeof(struct dp_events_head) + 4 * sizeof(struct dp_flow_event)];
	assert_true(present <= 4);
	memset(body, 0, sizeof(body));
	dp_put32(body, count);
	dp_put32(body + 4, 3);
	for (uint32_t i = 0; i < present; i++)
		body[8 + i * sizeof(struct dp_flow_event)] = DP_EV_NEW;
	return build(DP_MSG_EVENTS, ID, 0, NULL, body,
		     (uint32_t)(sizeof(struct dp_events_head) +
				present * sizeof(struct dp_flow_event)));
}

static void good_events(void **state)
{
	for (uint32_t k = 0; k <= 4; k++) {
		size_t len = events(k, k);
		struct dp_reply_msg m;
		char err[256];
		assert_int_equal(dp_reply_check(msg, len, DP_MSG_EVENTS, ID, &m, err, sizeof(err)),
				 0);
		assert_int_equal(m.body_len, 8 + k * sizeof(struct dp_flow_event));
		assert_int_equal(dp_get32(m.body), k);
	}
}

static void bad_events(void **state)
{
	/* count beyond what the length holds, and short of it */
	refused(events(3, 2), DP_MSG_EVENTS, ID, "count 3");
	refused(events(1, 2), DP_MSG_EVENTS, ID, "count 1");
	/* a count that would overflow 32-bit arithmetic */
	refused(events(0xffffffffu, 1), DP_MSG_EVENTS, ID, "count 4294967295");
	/* no head at all */
	size_t len = build(DP_MSG_EVENTS, ID, 0, NULL, "\0\0\0", 4);
	refused(len, DP_MSG_EVENTS, ID, "under its 8-byte head");
	/* a cut event */
	len = events(1, 1);
	dp_put32(msg + 12, dp_get32(msg + 12) - 1);
	refused(len - 1, DP_MSG_EVENTS, ID, "count 1");
}

/* DEVICE_USAGE: a head whose count (at byte 8) counts the devices after
 * it. */
static void device_usage(void **state)
{
	static uint8_t body[sizeof(struct dp_usage_head) + 3 * sizeof(struct dp_device_usage)];
	char err[256];
	struct dp_reply_msg m;
	for (uint32_t k = 0; k <= 3; k++) {
		memset(body, 0, sizeof(body));
		dp_put32(body + 8, k);
		uint32_t n = (uint32_t)(sizeof(struct dp_usage_head) + k * sizeof(struct dp_device_usage));
		size_t len = build(DP_MSG_DEVICE_USAGE, ID, 0, NULL, body, n);
		assert_int_equal(dp_reply_check(msg, len, DP_MSG_DEVICE_USAGE, ID, &m, err,
						sizeof(err)), 0);
		assert_int_equal(m.body_len, n);
		dp_put32(body + 8, k + 1);
		len = build(DP_MSG_DEVICE_USAGE, ID, 0, NULL, body, n);
		refused(len, DP_MSG_DEVICE_USAGE, ID, "count");
	}
	size_t len = build(DP_MSG_DEVICE_USAGE, ID, 0, NULL, body, 16);
	refused(len, DP_MSG_DEVICE_USAGE, ID, "under its 32-byte head");
}

static void bad_header(void **state)
{
	uint8_t h[sizeof(struct dp_health)] = { 0 };
	size_t len = build(DP_MSG_HEALTH, ID, 0, NULL, h, sizeof(h));
	msg[0] ^= 1;
	refused(len, DP_MSG_HEALTH, ID, "magic");
	msg[0] ^= 1;
	msg[4] = 2;
	refused(len, DP_MSG_HEALTH, ID, "version 2");
	msg[4] = 1;
	/* the id of another request, another type, a request's type */
	refused(len, DP_MSG_HEALTH, ID + 1, "id 72623859790382856, not the request's");
	refused(len, DP_MSG_IMAGE_INFO, ID, "type 0x8001, not 0x8006");
	dp_put16(msg + 6, DP_MSG_HEALTH);
	refused(len, DP_MSG_HEALTH, ID, "type 0x0001, not 0x8001");
	dp_put16(msg + 6, DP_MSG_HEALTH | DP_MSG_REPLY);
	/* a length that is not what follows */
	refused(len - 1, DP_MSG_HEALTH, ID, "bytes follow it");
	refused(10, DP_MSG_HEALTH, ID, "under the 24-byte header");
	/* a length under dp_reply, and over the most gwd takes */
	uint8_t hdr[sizeof(struct dp_msg_hdr)];
	memcpy(hdr, msg, sizeof(hdr));
	uint32_t got;
	char err[256];
	dp_put32(hdr + 12, 7);
	assert_int_equal(dp_reply_header(hdr, DP_MSG_HEALTH, ID, &got, err, sizeof(err)),
			 -EBADMSG);
	assert_non_null(strstr(err, "length 7"));
	dp_put32(hdr + 12, (uint32_t)DP_REPLY_MAX + 1);
	assert_int_equal(dp_reply_header(hdr, DP_MSG_HEALTH, ID, &got, err, sizeof(err)),
			 -EBADMSG);
	assert_non_null(strstr(err, "over the"));
	dp_put32(hdr + 12, (uint32_t)DP_REPLY_MAX);
	assert_int_equal(dp_reply_header(hdr, DP_MSG_HEALTH, ID, &got, err, sizeof(err)), 0);
	assert_int_equal(got, DP_REPLY_MAX);
}

static void bad_reason(void **state)
{
	/* reason_len past the body: 5 bytes said, 4 there */
	size_t len = build(DP_MSG_DOMAIN_SET, ID, -ENOSPC, "full", NULL, 0);
	dp_put16(msg + sizeof(struct dp_msg_hdr) + 4, 5);
	refused(len, DP_MSG_DOMAIN_SET, ID, "reason_len 5, past the 4 bytes");
	/* over DP_REASON_MAX even though the bytes are there */
	static char big[DP_REASON_MAX + 2];
	memset(big, 'x', sizeof(big) - 1);
	len = build(DP_MSG_DOMAIN_SET, ID, -ENOSPC, "x", big, DP_REASON_MAX + 1);
	dp_put16(msg + sizeof(struct dp_msg_hdr) + 4, DP_REASON_MAX + 1);
	refused(len, DP_MSG_DOMAIN_SET, ID, "over the 200 allowed");
	/* a positive status */
	uint8_t b[sizeof(struct dp_domain_reply)] = { 0 };
	len = build(DP_MSG_DOMAIN_SET, ID, 0, NULL, b, sizeof(b));
	dp_put32(msg + sizeof(struct dp_msg_hdr), 5);
	refused(len, DP_MSG_DOMAIN_SET, ID, "status 5");
	/* dp_reply itself cut */
	char err[256];
	struct dp_reply_msg m;
	assert_int_equal(dp_reply_parse(msg + sizeof(struct dp_msg_hdr), 7, &m, err, sizeof(err)),
			 -EBADMSG);
	assert_non_null(strstr(err, "reply of 7 bytes"));
}

static void counted_bodies(void **state)
{
	uint8_t b[sizeof(struct dp_flows_head) + 2 * sizeof(struct dp_flow_info)] = { 0 };
	char err[256];
	dp_put32(b + 8, 2); /* FLOWS counts at offset 8, after next_cursor */
	assert_int_equal(dp_reply_body(DP_MSG_FLOWS, b, sizeof(b), err, sizeof(err)), 0);
	dp_put32(b + 8, 3);
	assert_int_equal(dp_reply_body(DP_MSG_FLOWS, b, sizeof(b), err, sizeof(err)), -EBADMSG);
	uint8_t s[sizeof(struct dp_stats_head) + sizeof(struct dp_counter)] = { 1 };
	assert_int_equal(dp_reply_body(DP_MSG_STATS, s, sizeof(s), err, sizeof(err)), 0);
	assert_int_equal(dp_reply_body(DP_MSG_STATS, s, sizeof(s) - 1, err, sizeof(err)),
			 -EBADMSG);
	assert_int_equal(dp_reply_body(99, s, sizeof(s), err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "no such request"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good_fixed),
		cmocka_unit_test(good_error),
		cmocka_unit_test(device_usage),
		cmocka_unit_test(good_events),
		cmocka_unit_test(bad_events),
		cmocka_unit_test(bad_header),
		cmocka_unit_test(bad_reason),
		cmocka_unit_test(counted_bodies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
