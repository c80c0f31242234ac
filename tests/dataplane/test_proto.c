/* SPDX-License-Identifier: MIT */
/*
 * The control protocol's checker (dataplane/proto.c) on valid messages and
 * on every kind of malformed one: cut short, bad magic, wrong version,
 * flags, unknown type, oversized, length mismatch, bad bodies; and the
 * reply header's bytes.  DEVICE_SET: every refusal of the checker, the
 * table it builds (devices.c: last word per MAC, all or nothing) and the
 * classifier honouring it.  No DPDK.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "classify.h"
#include "devices.h"
#include "image.h"
#include "ir.h"
#include "le.h"
#include "policy.h"
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
	n = msg(DP_MSG_DEVICE_USAGE, 4, fl, sizeof(fl));
	assert_int_equal(dp_proto_parse(buf, n, &q, err, sizeof(err)), 0);
	assert_int_equal(q.type, DP_MSG_DEVICE_USAGE);
	assert_true(q.u.usage.cursor == 0x0100000005ull);
	assert_int_equal(q.u.usage.max, 7);

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
	assert_int_equal(q.u.active.valid_s, 0);
	/* No rules: an empty mask. */
	n = msg(DP_MSG_SET_ACTIVE, 6, sa, 8);
	dp_put32(buf + 24 + 4, 0);
	assert_int_equal(dp_proto_parse(buf, n, &q, err, sizeof(err)), 0);
	assert_int_equal(q.u.active.nrules, 0);

	/* SET_ACTIVE_FOR: the same with a lifetime before the mask. */
	uint8_t sf[16 + 16] = { 0 };
	dp_put32(sf, 9);
	dp_put32(sf + 4, 70);
	dp_put32(sf + 8, 180);
	sf[16] = 1;
	sf[24] = 1 << 5;
	n = msg(DP_MSG_SET_ACTIVE_FOR, 7, sf, sizeof(sf));
	assert_int_equal(dp_proto_parse(buf, n, &q, err, sizeof(err)), 0);
	assert_int_equal(q.type, DP_MSG_SET_ACTIVE_FOR);
	assert_int_equal(q.u.active.generation, 9);
	assert_int_equal(q.u.active.nrules, 70);
	assert_int_equal(q.u.active.valid_s, 180);
	assert_true(q.u.active.mask[0] == 1 && q.u.active.mask[1] == 1u << 5);
	/* A lifetime of 0 or past a day, and SET_ACTIVE's length, are refused. */
	dp_put32(sf + 8, 0);
	n = msg(DP_MSG_SET_ACTIVE_FOR, 8, sf, sizeof(sf));
	expect_err(n, -EINVAL, "set_active_for for 0 seconds");
	dp_put32(sf + 8, DP_ACTIVE_VALID_MAX + 1);
	n = msg(DP_MSG_SET_ACTIVE_FOR, 8, sf, sizeof(sf));
	expect_err(n, -EINVAL, "want 1 to 86400");
	n = msg(DP_MSG_SET_ACTIVE_FOR, 8, sa, sizeof(sa));
	expect_err(n, -EINVAL, "takes 32 bytes, not 24");
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
	n = msg(DP_MSG_DEVICE_USAGE + 1, 1, NULL, 0);
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
	dp_put32(fl + 8, 0);
	n = msg(DP_MSG_DEVICE_USAGE, 1, fl, sizeof(fl));
	expect_err(n, -EINVAL, "device_usage max 0");
	dp_put32(fl + 8, DP_USAGE_MAX + 1);
	n = msg(DP_MSG_DEVICE_USAGE, 1, fl, sizeof(fl));
	expect_err(n, -EINVAL, "device_usage max");
	n = msg(DP_MSG_DEVICE_USAGE, 1, fl, 8);
	expect_err(n, -EINVAL, "device_usage body of 8 bytes");
	n = msg(DP_MSG_DEVICE_USAGE, 1, NULL, 17);
	expect_err(n, -EMSGSIZE, "at most 16");

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

/* A DEVICE_SET body of count entries for generation gen: entry i binds
 * 02:00:00:00:x:y (i = x * 256 + y) to device i % 7. */
static uint32_t device_body(uint8_t *b, uint32_t count, uint32_t gen)
{
	memset(b, 0, 8 + (size_t)count * 12);
	dp_put32(b, count);
	dp_put32(b + 4, gen);
	for (uint32_t i = 0; i < count; i++) {
		uint8_t *e = b + 8 + 12 * i;
		e[0] = 0x02, e[4] = (uint8_t)(i >> 8), e[5] = (uint8_t)i;
		e[6] = DP_DEVICE_BIND;
		e[7] = 0xee; /* padding: ignored */
		dp_put32(e + 8, i % 7);
	}
	return 8 + count * 12;
}

static void test_device_set(void **state)
{
	(void)state;
	struct dp_request q;
	struct dp_device_entry e;
	static uint8_t b[8 + (DP_DEVICE_MAX + 1) * 12];
	uint32_t len = device_body(b, 3, 5);
	b[8 + 12 + 6] = DP_DEVICE_UNBIND; /* entry 1: an unbind, its device ignored */
	size_t n = msg(DP_MSG_DEVICE_SET, 21, b, len);
	assert_int_equal(dp_proto_parse(buf, n, &q, err, sizeof(err)), 0);
	assert_int_equal(q.type, DP_MSG_DEVICE_SET);
	assert_int_equal(q.u.devices.count, 3);
	assert_int_equal(q.u.devices.generation, 5);
	dp_proto_device_entry(&q, 0, &e);
	static const uint8_t mac0[6] = { 2, 0, 0, 0, 0, 0 }, mac2[6] = { 2, 0, 0, 0, 0, 2 };
	assert_memory_equal(e.mac, mac0, 6);
	assert_int_equal(e.op, DP_DEVICE_BIND);
	assert_int_equal(e.device, 0);
	assert_int_equal(e.pad, 0);
	dp_proto_device_entry(&q, 1, &e);
	assert_int_equal(e.op, DP_DEVICE_UNBIND);
	assert_int_equal(e.device, 0);
	dp_proto_device_entry(&q, 2, &e);
	assert_memory_equal(e.mac, mac2, 6);
	assert_int_equal(e.device, 2);
	/* The most entries, and one more. */
	len = device_body(b, DP_DEVICE_MAX, 0);
	n = msg(DP_MSG_DEVICE_SET, 22, b, len);
	assert_int_equal(dp_proto_parse(buf, n, &q, err, sizeof(err)), 0);
	assert_int_equal(q.u.devices.count, DP_DEVICE_MAX);
	dp_proto_device_entry(&q, DP_DEVICE_MAX - 1, &e);
	assert_int_equal(e.mac[4], (DP_DEVICE_MAX - 1) >> 8);
	assert_int_equal(e.device, (DP_DEVICE_MAX - 1) % 7);
	len = device_body(b, DP_DEVICE_MAX + 1, 0);
	n = msg(DP_MSG_DEVICE_SET, 22, b, len);
	expect_err(n, -EMSGSIZE, "device_set body of 12308 bytes, at most 12296");
	/* A count past the cap in a body within it, a count of 0. */
	len = device_body(b, 2, 0);
	dp_put32(b, DP_DEVICE_MAX + 1);
	n = msg(DP_MSG_DEVICE_SET, 23, b, len);
	expect_err(n, -EINVAL, "device_set of 1025 entries, want 1 to 1024");
	dp_put32(b, 0);
	n = msg(DP_MSG_DEVICE_SET, 23, b, 8);
	expect_err(n, -EINVAL, "device_set of 0 entries");
	/* Lengths: no head, a head that promises more or fewer entries. */
	n = msg(DP_MSG_DEVICE_SET, 23, b, 4);
	expect_err(n, -EINVAL, "device_set body of 4 bytes, at least 8");
	n = msg(DP_MSG_DEVICE_SET, 23, NULL, 0);
	expect_err(n, -EINVAL, "at least 8");
	dp_put32(b, 2);
	n = msg(DP_MSG_DEVICE_SET, 23, b, len - 1);
	expect_err(n, -EINVAL, "device_set of 2 entries takes 32 bytes, not 31");
	dp_put32(b, 3);
	n = msg(DP_MSG_DEVICE_SET, 23, b, len);
	expect_err(n, -EINVAL, "device_set of 3 entries takes 44 bytes, not 32");
	/* Ops that are neither, and MACs no device sends from: the first
	 * bad entry is named. */
	static const uint8_t bad_ops[] = { 0, 3, 0xff };
	for (size_t k = 0; k < sizeof(bad_ops); k++) {
		len = device_body(b, 2, 0);
		b[8 + 12 + 6] = bad_ops[k];
		n = msg(DP_MSG_DEVICE_SET, 24, b, len);
		char want[64];
		snprintf(want, sizeof(want), "entry 1: op %u, want 1 (bind) or 2 (unbind)", bad_ops[k]);
		expect_err(n, -EINVAL, want);
	}
	len = device_body(b, 2, 0);
	b[8 + 12] = 0x01; /* multicast */
	n = msg(DP_MSG_DEVICE_SET, 24, b, len);
	expect_err(n, -EINVAL, "entry 1: MAC 01:00:00:00:00:01 is multicast");
	len = device_body(b, 2, 0);
	b[8] = 0xff; /* broadcast, entry 0 */
	memset(b + 8, 0xff, 6);
	n = msg(DP_MSG_DEVICE_SET, 24, b, len);
	expect_err(n, -EINVAL, "entry 0: MAC ff:ff:ff:ff:ff:ff is multicast");
	len = device_body(b, 1, 0);
	b[8] = 0; /* 00:00:00:00:00:00 */
	n = msg(DP_MSG_DEVICE_SET, 24, b, len);
	expect_err(n, -EINVAL, "entry 0: MAC 00:00:00:00:00:00 is all zero");
	assert_string_equal(dp_proto_type_name(DP_MSG_DEVICE_SET | DP_MSG_REPLY), "device_set");
}

static struct dp_device_entry dev_entry(uint8_t last, uint8_t op, uint32_t device)
{
	struct dp_device_entry e = { .mac = { 0x02, 0, 0, 0, 0, last }, .op = op,
				     .device = device };
	return e;
}

/* The table DEVICE_SET builds: last word per MAC, unbinds, the checks
 * that refuse a request whole. */
static void test_devtab(void **state)
{
	(void)state;
	struct dp_devtab *t = NULL, *t2 = NULL;
	const uint8_t m1[6] = { 2, 0, 0, 0, 0, 1 }, m2[6] = { 2, 0, 0, 0, 0, 2 },
		      m3[6] = { 2, 0, 0, 0, 0, 3 };
	struct dp_device_entry v[4] = {
		dev_entry(3, DP_DEVICE_BIND, 1),
		dev_entry(1, DP_DEVICE_BIND, 0),
		dev_entry(2, DP_DEVICE_UNBIND, 0), /* never bound: nothing to remove */
		dev_entry(1, DP_DEVICE_BIND, 2),   /* the last word for m1 wins */
	};
	assert_int_equal(dp_devtab_apply(NULL, v, 4, 3, 16, &t, err, sizeof(err)), 0);
	assert_non_null(t);
	assert_int_equal(dp_devtab_count(t), 2);
	assert_int_equal(dp_devtab_find(t, m1), 2);
	assert_int_equal(dp_devtab_find(t, m2), POL_NONE);
	assert_int_equal(dp_devtab_find(t, m3), 1);
	assert_int_equal(dp_devtab_find(NULL, m3), POL_NONE);
	uint8_t mac[6];
	uint32_t dev;
	dp_devtab_at(t, 0, mac, &dev); /* MAC order */
	assert_memory_equal(mac, m1, 6);
	assert_int_equal(dev, 2);

	/* A device the image does not have: -ENODEV, nothing built, the
	 * old table as it was. */
	struct dp_device_entry w[2] = { dev_entry(2, DP_DEVICE_BIND, 0),
					dev_entry(4, DP_DEVICE_BIND, 3) };
	t2 = (struct dp_devtab *)1; /* untouched on error */
	assert_int_equal(dp_devtab_apply(t, w, 2, 3, 16, &t2, err, sizeof(err)), -ENODEV);
	assert_true(t2 == (struct dp_devtab *)1);
	assert_non_null(strstr(err, "entry 1: device 3, the running image has 3 devices"));
	assert_int_equal(dp_devtab_count(t), 2);
	assert_int_equal(dp_devtab_find(t, m2), POL_NONE);

	/* Past capacity: -ENOSPC whole; a request that also removes one
	 * fits. */
	assert_int_equal(dp_devtab_apply(t, w, 1, 3, 2, &t2, err, sizeof(err)), -ENOSPC);
	assert_non_null(strstr(err, "holds 2 bindings; this request leaves 3"));
	struct dp_device_entry x[2] = { dev_entry(2, DP_DEVICE_BIND, 0),
					dev_entry(3, DP_DEVICE_UNBIND, 7) };
	t2 = NULL;
	assert_int_equal(dp_devtab_apply(t, x, 2, 3, 2, &t2, err, sizeof(err)), 0);
	assert_int_equal(dp_devtab_count(t2), 2);
	assert_int_equal(dp_devtab_find(t2, m1), 2); /* kept from the old table */
	assert_int_equal(dp_devtab_find(t2, m2), 0);
	assert_int_equal(dp_devtab_find(t2, m3), POL_NONE);
	assert_int_equal(dp_devtab_find(t, m3), 1); /* the old one is not changed */

	/* Unbinding everything leaves no table. */
	struct dp_device_entry y[2] = { dev_entry(1, DP_DEVICE_UNBIND, 0),
					dev_entry(2, DP_DEVICE_UNBIND, 0) };
	struct dp_devtab *t3 = (struct dp_devtab *)1;
	assert_int_equal(dp_devtab_apply(t2, y, 2, 3, 2, &t3, err, sizeof(err)), 0);
	assert_null(t3);
	assert_int_equal(dp_devtab_count(t3), 0);
	dp_devtab_free(t);
	dp_devtab_free(t2);
}

/* Bindings hung on a classifier generation: a new MAC bound to a device
 * is classified as that device (its rules, the known-device default),
 * moved, unbound; a MAC the image knows moved to another device. */
static void test_classify_bindings(void **state)
{
	(void)state;
	static const char text[] = "device host-a mac 02:00:00:00:00:0a\n"
				   "device tablet mac 02:00:00:00:00:0b\n"
				   "device kid mac 02:00:00:00:00:0c\n"
				   "list blocked prefixes { 198.51.100.7 }\n"
				   "rule kid-blocked block device kid to list blocked\n"
				   "default allow\n"
				   "default new block\n";
	struct pol_unit *u = NULL;
	assert_int_equal(pol_compile("bindings.gw", text, sizeof(text) - 1, POL_F_NO_FILES, &u), 0);
	assert_int_equal(pol_unit_errors(u), 0);
	const void *data;
	size_t size;
	assert_int_equal(pol_unit_image(u, &data, &size), 0);
	struct pol_ir *ir = NULL;
	assert_int_equal(pol_image_load(data, size, &ir, err, sizeof(err)), 0);
	pol_unit_free(u);
	struct dp_classify *c = NULL;
	assert_int_equal(dp_classify_new(ir, 1, &c), 0);
	assert_int_equal(dp_classify_ndevices(c), 3);
	assert_true(dp_classify_bindable(c, 2));
	assert_false(dp_classify_bindable(c, 3));

	struct dp_classify_in in = { .mac = { 2, 0, 0, 0, 0, 0x55 }, .family = 4,
				     .proto = 6, .dport = 443, .dst = { 198, 51, 100, 7 } };
	struct dp_verdict v;
	dp_classify_flow(c, &in, &v);
	assert_int_equal(v.action, POL_BLOCK);
	assert_int_equal(v.rule, POL_RULE_DEFAULT_NEW);
	assert_int_equal(v.device, POL_NONE);

	/* Bound to the tablet: the known-device default. */
	struct dp_device_entry e = dev_entry(0x55, DP_DEVICE_BIND, 1);
	struct dp_devtab *t = NULL;
	assert_int_equal(dp_devtab_apply(dp_classify_bindings(c), &e, 1, 3, 8, &t, err, sizeof(err)), 0);
	assert_null(dp_classify_swap_bindings(c, t));
	dp_classify_flow(c, &in, &v);
	assert_int_equal(v.action, POL_ALLOW);
	assert_int_equal(v.rule, POL_RULE_DEFAULT);
	assert_int_equal(v.device, 1);
	assert_int_equal(dp_classify_device(c, in.mac), 1);

	/* Moved to the kid: the kid's rule. */
	e = dev_entry(0x55, DP_DEVICE_BIND, 2);
	struct dp_devtab *t2 = NULL;
	assert_int_equal(dp_devtab_apply(dp_classify_bindings(c), &e, 1, 3, 8, &t2, err, sizeof(err)), 0);
	assert_ptr_equal(dp_classify_swap_bindings(c, t2), t);
	dp_devtab_free(t);
	dp_classify_flow(c, &in, &v);
	assert_int_equal(v.action, POL_BLOCK);
	assert_int_equal(v.rule, 0);
	assert_int_equal(v.device, 2);

	/* A MAC the image knows, moved to the kid as well; host-a's other
	 * destinations keep the default. */
	struct dp_classify_in host = in;
	host.mac[5] = 0x0a;
	dp_classify_flow(c, &host, &v);
	assert_int_equal(v.action, POL_ALLOW);
	assert_int_equal(v.device, 0);
	struct dp_device_entry m[2] = { dev_entry(0x0a, DP_DEVICE_BIND, 2),
					dev_entry(0x55, DP_DEVICE_UNBIND, 0) };
	struct dp_devtab *t3 = NULL;
	assert_int_equal(dp_devtab_apply(dp_classify_bindings(c), m, 2, 3, 8, &t3, err, sizeof(err)), 0);
	dp_devtab_free(dp_classify_swap_bindings(c, t3));
	dp_classify_flow(c, &host, &v);
	assert_int_equal(v.action, POL_BLOCK);
	assert_int_equal(v.rule, 0);
	assert_int_equal(v.device, 2);
	host.dst[3] = 8;
	dp_classify_flow(c, &host, &v);
	assert_int_equal(v.action, POL_ALLOW);
	/* Unbound: a new device again. */
	dp_classify_flow(c, &in, &v);
	assert_int_equal(v.rule, POL_RULE_DEFAULT_NEW);
	assert_int_equal(dp_classify_device(c, in.mac), POL_NONE);
	dp_classify_free(c); /* frees the table it holds */

	/* Without a policy there is nothing to bind to. */
	assert_int_equal(dp_classify_new(NULL, 2, &c), 0);
	assert_int_equal(dp_classify_ndevices(c), 0);
	assert_false(dp_classify_bindable(c, 0));
	dp_classify_free(c);
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
		cmocka_unit_test(test_device_set),
		cmocka_unit_test(test_devtab),
		cmocka_unit_test(test_classify_bindings),
		cmocka_unit_test(test_reply),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
