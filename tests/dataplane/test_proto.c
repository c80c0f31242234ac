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

#include "le.h"
#include "proto.h"

static uint8_t buf[sizeof(struct dp_msg_hdr) + sizeof(struct dp_domain_head) +
		   (DP_DOMAIN_MAX + 1) * sizeof(struct dp_domain_entry)];
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
	dp_put32(sa, 9);
	dp_put32(sa + 4, 70);
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
	dp_put32(buf + 24 + 4, 0);
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
	n = msg(DP_MSG_EVENTS + 1, 1, NULL, 0);
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
	dp_put32(fl + 8, DP_FLOWS_MAX + 1);
	n = msg(DP_MSG_FLOWS, 1, fl, sizeof(fl));
	expect_err(n, -EINVAL, "flows max");
	n = msg(DP_MSG_FLOWS, 1, fl, 8);
	expect_err(n, -EINVAL, "flows body of 8 bytes");

	uint8_t sa[8 + 16] = { 0 };
	n = msg(DP_MSG_SET_ACTIVE, 1, sa, 4);
	expect_err(n, -EINVAL, "at least 8");
	dp_put32(sa + 4, DP_MASK_RULES + 1);
	n = msg(DP_MSG_SET_ACTIVE, 1, sa, 8);
	expect_err(n, -EINVAL, "at most 16384");
	dp_put32(sa + 4, 70);
	n = msg(DP_MSG_SET_ACTIVE, 1, sa, 16); /* one word for 70 rules */
	expect_err(n, -EINVAL, "takes 24 bytes, not 16");
	sa[16] = 1 << 6; /* rule 70 of 70 */
	n = msg(DP_MSG_SET_ACTIVE, 1, sa, sizeof(sa));
	expect_err(n, -EINVAL, "bits past rule 69");
}

/* A DOMAIN_SET body of count entries: entry i is 10.0.x.y (i = x * 256 +
 * y), ttl 60 + i, sets i + 1. */
static uint32_t domain_body(uint8_t *b, uint32_t count)
{
	memset(b, 0, 8 + (size_t)count * 32);
	dp_put32(b, count);
	for (uint32_t i = 0; i < count; i++) {
		uint8_t *e = b + 8 + 32 * i;
		e[0] = 4;
		e[1] = 0xee; /* padding: ignored */
		dp_put32(e + 4, 60 + i);
		e[8] = 10, e[10] = (uint8_t)(i >> 8), e[11] = (uint8_t)i;
		dp_put32(e + 24, i + 1);
		dp_put32(e + 28, i == 1 ? 0x80000000u : 0);
	}
	return 8 + count * 32;
}

static void test_new_messages(void **state)
{
	(void)state;
	struct dp_request q;
	static uint8_t b[8 + (DP_DOMAIN_MAX + 1) * 32];
	/* IMAGE_INFO: no body. */
	size_t n = msg(DP_MSG_IMAGE_INFO, 9, NULL, 0);
	assert_int_equal(dp_proto_parse(buf, n, &q, err, sizeof(err)), 0);
	assert_int_equal(q.type, DP_MSG_IMAGE_INFO);
	n = msg(DP_MSG_IMAGE_INFO, 9, NULL, 1);
	expect_err(n, -EMSGSIZE, "image_info body of 1 bytes, at most 0");

	/* DOMAIN_SET: three entries, one IPv6, decoded in host order. */
	uint32_t len = domain_body(b, 3);
	uint8_t *e2 = b + 8 + 64;
	e2[0] = 6;
	memset(e2 + 8, 0x20, 16);
	n = msg(DP_MSG_DOMAIN_SET, 10, b, len);
	assert_int_equal(dp_proto_parse(buf, n, &q, err, sizeof(err)), 0);
	assert_int_equal(q.u.domains.count, 3);
	struct dp_domain_entry e;
	dp_proto_domain_entry(&q, 1, &e);
	assert_int_equal(e.family, 4);
	assert_int_equal(e.pad[0], 0);
	assert_int_equal(e.ttl_s, 61);
	assert_true(e.sets == (0x8000000000000000ull | 2));
	static const uint8_t a1[16] = { 10, 0, 0, 1 };
	assert_memory_equal(e.addr, a1, 16);
	dp_proto_domain_entry(&q, 2, &e);
	assert_int_equal(e.family, 6);
	assert_int_equal(e.addr[15], 0x20);
	/* The most entries, and one more. */
	len = domain_body(b, DP_DOMAIN_MAX);
	n = msg(DP_MSG_DOMAIN_SET, 11, b, len);
	assert_int_equal(dp_proto_parse(buf, n, &q, err, sizeof(err)), 0);
	assert_int_equal(q.u.domains.count, DP_DOMAIN_MAX);
	dp_proto_domain_entry(&q, DP_DOMAIN_MAX - 1, &e);
	assert_int_equal(e.addr[2], (DP_DOMAIN_MAX - 1) >> 8);
	assert_int_equal(e.addr[3], (DP_DOMAIN_MAX - 1) & 0xff);
	len = domain_body(b, DP_DOMAIN_MAX + 1);
	n = msg(DP_MSG_DOMAIN_SET, 12, b, len);
	expect_err(n, -EMSGSIZE, "domain_set body");
	dp_put32(b, DP_DOMAIN_MAX + 1);
	n = msg(DP_MSG_DOMAIN_SET, 12, b, 8 + 32);
	expect_err(n, -EINVAL, "domain_set of 4097 entries, want 1 to 4096");
	/* Count 0, cut short, count and length disagreeing. */
	len = domain_body(b, 2);
	dp_put32(b, 0);
	n = msg(DP_MSG_DOMAIN_SET, 13, b, 8);
	expect_err(n, -EINVAL, "domain_set of 0 entries");
	n = msg(DP_MSG_DOMAIN_SET, 13, b, 4);
	expect_err(n, -EINVAL, "at least 8");
	dp_put32(b, 2);
	n = msg(DP_MSG_DOMAIN_SET, 13, b, len - 1);
	expect_err(n, -EINVAL, "takes 72 bytes, not 71");
	dp_put32(b, 3);
	n = msg(DP_MSG_DOMAIN_SET, 13, b, len);
	expect_err(n, -EINVAL, "takes 104 bytes, not 72");
	/* A family that is neither, an IPv4 address with a tail. */
	domain_body(b, 2);
	b[8 + 32] = 5;
	n = msg(DP_MSG_DOMAIN_SET, 14, b, len);
	expect_err(n, -EINVAL, "entry 1: family 5, want 4 or 6");
	domain_body(b, 2);
	b[8 + 32 + 8 + 15] = 1;
	n = msg(DP_MSG_DOMAIN_SET, 14, b, len);
	expect_err(n, -EINVAL, "entry 1: IPv4 address with nonzero byte 15");
	domain_body(b, 2);
	b[8 + 8 + 4] = 1;
	n = msg(DP_MSG_DOMAIN_SET, 14, b, len);
	expect_err(n, -EINVAL, "entry 0: IPv4 address with nonzero byte 4");

	/* EVENTS: max 1..DP_EVENTS_MAX, an 8-byte body. */
	uint8_t ev[8] = { 0 };
	dp_put32(ev, 1);
	n = msg(DP_MSG_EVENTS, 15, ev, 8);
	assert_int_equal(dp_proto_parse(buf, n, &q, err, sizeof(err)), 0);
	assert_int_equal(q.u.events.max, 1);
	dp_put32(ev, DP_EVENTS_MAX);
	n = msg(DP_MSG_EVENTS, 15, ev, 8);
	assert_int_equal(dp_proto_parse(buf, n, &q, err, sizeof(err)), 0);
	assert_int_equal(q.u.events.max, DP_EVENTS_MAX);
	dp_put32(ev, DP_EVENTS_MAX + 1);
	n = msg(DP_MSG_EVENTS, 15, ev, 8);
	expect_err(n, -EINVAL, "events max 513, want 1 to 512");
	dp_put32(ev, 0);
	n = msg(DP_MSG_EVENTS, 15, ev, 8);
	expect_err(n, -EINVAL, "events max 0");
	n = msg(DP_MSG_EVENTS, 15, ev, 4);
	expect_err(n, -EINVAL, "events body of 4 bytes, want 8");
	n = msg(DP_MSG_EVENTS, 15, NULL, 9);
	expect_err(n, -EMSGSIZE, "events body of 9 bytes, at most 8");
	assert_string_equal(dp_proto_type_name(DP_MSG_EVENTS | DP_MSG_REPLY), "events");
	assert_string_equal(dp_proto_type_name(DP_MSG_DOMAIN_SET), "domain_set");
	assert_string_equal(dp_proto_type_name(DP_MSG_IMAGE_INFO), "image_info");
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
		cmocka_unit_test(test_new_messages),
		cmocka_unit_test(test_reply),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
