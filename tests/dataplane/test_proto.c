/* SPDX-License-Identifier: MIT */
/*
 * The control protocol's checker (dataplane/proto.c) on valid messages and
 * on every kind of malformed one: cut short, bad magic, wrong version,
 * flags, unknown type, oversized, length mismatch, bad bodies; and the
 * reply header's bytes.  No DPDK.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto.h"

static uint8_t buf[sizeof(struct dp_msg_hdr) + 1024];
static char err[256];

/* A request of type with body bytes of body (or zeros when body is NULL). */
static size_t msg(uint16_t type, uint64_t id, const void *body, uint32_t len)
{
	size_t n = dp_proto_request(buf, type, id, len);
	if (body)
		memcpy(buf + n, body, len);
	else
		memset(buf + n, 0, len);
	return n + len;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void expect_err(size_t len, int want, const char *words)
{
	struct dp_request q;
	err[0] = '\0';
	assert_int_equal(dp_proto_parse(buf, len, &q, err, sizeof(err)), want);
	if (!strstr(err, words))
		fail_msg("reason '%s' lacks '%s'", err, words);
}

static void test_valid(void **state)
{
	(void)state;
	struct dp_request q;
	size_t n = msg(DP_MSG_HEALTH, 0x1122334455667788ull, NULL, 0);
	assert_int_equal(n, 24);
	/* The header's bytes, little-endian whatever the host. */
	static const uint8_t want[24] = { 'G', 'W', 'D', 'P', 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0,
					  0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11 };
	assert_memory_equal(buf, want, 24);
	assert_int_equal(dp_proto_parse(buf, n, &q, err, sizeof(err)), 0);
	assert_int_equal(q.type, DP_MSG_HEALTH);
	assert_true(q.id == 0x1122334455667788ull);

	n = msg(DP_MSG_STATS, 2, NULL, 0);
	assert_int_equal(dp_proto_parse(buf, n, &q, err, sizeof(err)), 0);
	assert_int_equal(q.type, DP_MSG_STATS);

	n = msg(DP_MSG_LOAD_IMAGE, 3, "IMAGEBYTES", 10);
	assert_int_equal(dp_proto_parse(buf, n, &q, err, sizeof(err)), 0);
	assert_int_equal(q.u.image.size, 10);
	assert_ptr_equal(q.u.image.data, buf + 24);

	uint8_t fl[16] = { 0 };
	fl[0] = 0x05, fl[4] = 0x01; /* cursor 0x0100000005 */
	fl[8] = 7;                  /* max 7 */
	n = msg(DP_MSG_FLOWS, 4, fl, sizeof(fl));
	assert_int_equal(dp_proto_parse(buf, n, &q, err, sizeof(err)), 0);
	assert_true(q.u.flows.cursor == 0x0100000005ull);
	assert_int_equal(q.u.flows.max, 7);

	/* 70 rules: two words, rules 0 and 69 on. */
	uint8_t sa[8 + 16] = { 0 };
	put32(sa, 9);
	put32(sa + 4, 70);
	sa[8] = 1;
	sa[16] = 1 << 5;
	n = msg(DP_MSG_SET_ACTIVE, 5, sa, sizeof(sa));
	assert_int_equal(dp_proto_parse(buf, n, &q, err, sizeof(err)), 0);
	assert_int_equal(q.u.active.generation, 9);
	assert_int_equal(q.u.active.nrules, 70);
	assert_true(q.u.active.mask[0] == 1 && q.u.active.mask[1] == 1u << 5 &&
		    q.u.active.mask[2] == 0);
	/* No rules: an empty mask. */
	n = msg(DP_MSG_SET_ACTIVE, 6, sa, 8);
	put32(buf + 24 + 4, 0);
	assert_int_equal(dp_proto_parse(buf, n, &q, err, sizeof(err)), 0);
	assert_int_equal(q.u.active.nrules, 0);
}

static void test_framing(void **state)
{
	(void)state;
	struct dp_msg_hdr h;
	uint64_t id;
	/* Truncated: every length short of a header. */
	msg(DP_MSG_HEALTH, 1, NULL, 0);
	for (size_t n = 0; n < 24; n++) {
		assert_int_equal(dp_proto_header(buf, n, &h, &id, err, sizeof(err)), -EAGAIN);
		expect_err(n, -EINVAL, "cut short");
	}
	size_t n = msg(DP_MSG_HEALTH, 42, NULL, 0);
	buf[0] ^= 0xff;
	expect_err(n, -EBADMSG, "magic");
	assert_int_equal(dp_proto_header(buf, n, &h, &id, err, sizeof(err)), -EBADMSG);
	assert_true(id == 42); /* still there for the error reply */

	n = msg(DP_MSG_HEALTH, 1, NULL, 0);
	buf[4] = 2;
	expect_err(n, -EPROTONOSUPPORT, "version 2");

	n = msg(DP_MSG_HEALTH, 1, NULL, 0);
	buf[8] = 1;
	expect_err(n, -EINVAL, "flags");

	n = msg(0, 1, NULL, 0);
	expect_err(n, -EOPNOTSUPP, "unknown request type 0");
	n = msg(DP_MSG_FLOWS + 1, 1, NULL, 0);
	expect_err(n, -EOPNOTSUPP, "unknown request type");
	n = msg(DP_MSG_HEALTH | DP_MSG_REPLY, 1, NULL, 0);
	expect_err(n, -EOPNOTSUPP, "unknown request type");

	/* Oversized: judged from the header alone, before any body comes. */
	dp_proto_request(buf, DP_MSG_LOAD_IMAGE, 1, DP_IMAGE_MAX + 1);
	assert_int_equal(dp_proto_header(buf, 24, &h, &id, err, sizeof(err)), -EMSGSIZE);
	dp_proto_request(buf, DP_MSG_LOAD_IMAGE, 1, UINT32_MAX);
	assert_int_equal(dp_proto_header(buf, 24, &h, &id, err, sizeof(err)), -EMSGSIZE);
	dp_proto_request(buf, DP_MSG_LOAD_IMAGE, 1, DP_IMAGE_MAX);
	assert_int_equal(dp_proto_header(buf, 24, &h, &id, err, sizeof(err)), 0);
	assert_int_equal(h.length, DP_IMAGE_MAX);
	n = msg(DP_MSG_HEALTH, 1, NULL, 4);
	expect_err(n, -EMSGSIZE, "at most 0");

	/* Length mismatch both ways. */
	n = msg(DP_MSG_LOAD_IMAGE, 1, NULL, 10);
	expect_err(n - 1, -EINVAL, "says 10 body bytes, the message has 9");
	expect_err(n + 1, -EINVAL, "says 10 body bytes, the message has 11");
}

static void test_bodies(void **state)
{
	(void)state;
	size_t n = msg(DP_MSG_LOAD_IMAGE, 1, NULL, 0);
	expect_err(n, -EINVAL, "without an image");

	uint8_t fl[16] = { 0 };
	n = msg(DP_MSG_FLOWS, 1, fl, sizeof(fl));
	expect_err(n, -EINVAL, "flows max 0");
	put32(fl + 8, DP_FLOWS_MAX + 1);
	n = msg(DP_MSG_FLOWS, 1, fl, sizeof(fl));
	expect_err(n, -EINVAL, "flows max");
	n = msg(DP_MSG_FLOWS, 1, fl, 8);
	expect_err(n, -EINVAL, "flows body of 8 bytes");

	uint8_t sa[8 + 16] = { 0 };
	n = msg(DP_MSG_SET_ACTIVE, 1, sa, 4);
	expect_err(n, -EINVAL, "at least 8");
	put32(sa + 4, DP_MASK_RULES + 1);
	n = msg(DP_MSG_SET_ACTIVE, 1, sa, 8);
	expect_err(n, -EINVAL, "at most 4096");
	put32(sa + 4, 70);
	n = msg(DP_MSG_SET_ACTIVE, 1, sa, 16); /* one word for 70 rules */
	expect_err(n, -EINVAL, "takes 24 bytes, not 16");
	sa[16] = 1 << 6; /* rule 70 of 70 */
	n = msg(DP_MSG_SET_ACTIVE, 1, sa, sizeof(sa));
	expect_err(n, -EINVAL, "bits past rule 69");
}

static void test_reply(void **state)
{
	(void)state;
	uint8_t out[512];
	char longer[300];
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	size_t n = dp_proto_reply(out, sizeof(out), DP_MSG_STATS, 77, 0, "ignored", 96);
	assert_int_equal(n, 32);
	assert_int_equal(out[6] | out[7] << 8, DP_MSG_STATS | DP_MSG_REPLY);
	assert_int_equal(out[12] | out[13] << 8, 8 + 96);
	assert_int_equal(out[16], 77);
	assert_int_equal(out[24] | out[28], 0);
	n = dp_proto_reply(out, sizeof(out), DP_MSG_LOAD_IMAGE, 1, -EINVAL, "bad image", 0);
	assert_int_equal(n, 32 + 9);
	assert_int_equal((int32_t)(out[24] | out[25] << 8 | out[26] << 16 | (uint32_t)out[27] << 24),
			 -EINVAL);
	assert_int_equal(out[28], 9);
	assert_memory_equal(out + 32, "bad image", 9);
	/* Reasons are capped. */
	n = dp_proto_reply(out, sizeof(out), DP_MSG_HEALTH, 1, -EIO, longer, 0);
	assert_int_equal(n, 32 + DP_REASON_MAX);
	assert_int_equal(dp_proto_reply(out, 31, DP_MSG_HEALTH, 1, 0, NULL, 0), 0);
	/* A reply is not a request. */
	n = dp_proto_reply(buf, sizeof(buf), DP_MSG_HEALTH, 1, 0, NULL, 0);
	expect_err(n, -EOPNOTSUPP, "unknown request type");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_framing),
		cmocka_unit_test(test_bodies),
		cmocka_unit_test(test_reply),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
