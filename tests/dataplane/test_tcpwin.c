/* SPDX-License-Identifier: MIT */
/*
 * The TCP window tracker (dataplane/tcpwin.h) against an off-path host:
 * a connection's handshake with and without window scaling, then RSTs,
 * FINs and data at sequence numbers the host guesses, next to the ones
 * the real ends send; SYN-SENT's rules; pick-up mid-stream; wrap-around.
 * No DPDK.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "parse.h"
#include "tcpwin.h"

#define C_ISN 0x10000000u /* the client (direction 0) */
#define S_ISN 0xfffff000u /* the server: wraps past 2^32 in the test */

static struct dp_tcp_seg seg(uint32_t seq, uint32_t ack, uint16_t win, uint16_t len,
			     uint8_t flags)
{
	struct dp_tcp_seg s = { .seq = seq, .ack = ack, .win = win, .len = len, .flags = flags,
				.wscale = DP_TCP_NO_WSCALE };
	return s;
}

/* A handshake; the server's window field is 1000, scaled by 7 (128000
 * bytes) when both ends offer scaling. */
static void handshake(struct dp_tcp_win *w, bool scale_c, bool scale_s)
{
	memset(w, 0, sizeof(*w));
	struct dp_tcp_seg s = seg(C_ISN, 0, 64240, 0, DP_TCP_SYN);
	s.wscale = scale_c ? 7 : DP_TCP_NO_WSCALE;
	assert_int_equal(dp_tcp_win_check(w, 0, &s), DP_TCPW_OK);
	s = seg(S_ISN, C_ISN + 1, 65535, 0, DP_TCP_SYN | DP_TCP_ACK);
	s.wscale = scale_s ? 7 : DP_TCP_NO_WSCALE;
	assert_int_equal(dp_tcp_win_check(w, 1, &s), DP_TCPW_OK);
	s = seg(C_ISN + 1, S_ISN + 1, 1000, 0, DP_TCP_ACK);
	assert_int_equal(dp_tcp_win_check(w, 0, &s), DP_TCPW_OK);
	s = seg(C_ISN + 1, S_ISN + 1, 1000, 100, DP_TCP_ACK | DP_TCP_PSH); /* a request */
	assert_int_equal(dp_tcp_win_check(w, 0, &s), DP_TCPW_OK);
	assert_int_equal(w->end[0], C_ISN + 101);
	assert_int_equal(w->end[1], S_ISN + 1);
}

static void test_offpath_rst(void **state)
{
	(void)state;
	struct dp_tcp_win w;
	handshake(&w, true, true);
	assert_true(w.flags & DP_TCPW_SCALED);
	/* The server's download: 200 segments of 1400 bytes. */
	uint32_t sseq = S_ISN + 1;
	for (int i = 0; i < 200; i++, sseq += 1400) {
		struct dp_tcp_seg s = seg(sseq, C_ISN + 101, 500, 1400, DP_TCP_ACK);
		assert_int_equal(dp_tcp_win_check(&w, 1, &s), DP_TCPW_OK);
	}
	assert_int_equal(w.end[1], sseq);
	/* The client's window is 1000 << 7 = 128000 bytes.  An off-path RST
	 * "from the server" at a guessed sequence number: outside the window
	 * it is dropped, inside it passes without ending the flow, and only
	 * the exact next sequence number counts. */
	unsigned out = 0, keep = 0;
	for (uint32_t k = 0; k < 4096; k++) {
		uint32_t guess = sseq + k * 1048573u; /* over the whole space */
		struct dp_tcp_seg s = seg(guess, 0, 0, 0, DP_TCP_RST);
		enum dp_tcp_verdict v = dp_tcp_win_check(&w, 1, &s);
		if (guess == sseq)
			assert_int_equal(v, DP_TCPW_OK);
		else
			assert_int_not_equal(v, DP_TCPW_OK);
		out += v == DP_TCPW_OUT;
		keep += v == DP_TCPW_KEEP;
	}
	assert_true(out >= 4096 - 4);
	struct dp_tcp_seg s = seg(sseq + 50000, 0, 0, 0, DP_TCP_RST);
	assert_int_equal(dp_tcp_win_check(&w, 1, &s), DP_TCPW_KEEP);
	s = seg(sseq + 130000, 0, 0, 0, DP_TCP_RST);
	assert_int_equal(dp_tcp_win_check(&w, 1, &s), DP_TCPW_OUT);
	s = seg(sseq - 127000, 0, 0, 0, DP_TCP_RST | DP_TCP_ACK);
	assert_int_equal(dp_tcp_win_check(&w, 1, &s), DP_TCPW_KEEP);
	s = seg(sseq - 129000, 0, 0, 0, DP_TCP_RST | DP_TCP_ACK);
	assert_int_equal(dp_tcp_win_check(&w, 1, &s), DP_TCPW_OUT);
	/* A FIN likewise, outside; inside it counts. */
	s = seg(sseq + 200000, C_ISN + 101, 500, 0, DP_TCP_FIN | DP_TCP_ACK);
	assert_int_equal(dp_tcp_win_check(&w, 1, &s), DP_TCPW_OUT);
	/* Data far ahead does not move the end (so a RST could not follow
	 * it there). */
	s = seg(sseq + 1000000, C_ISN + 101, 500, 1400, DP_TCP_ACK);
	assert_int_equal(dp_tcp_win_check(&w, 1, &s), DP_TCPW_OUT);
	assert_int_equal(w.end[1], sseq);
	/* A retransmission, a segment past a loss upstream: in. */
	s = seg(sseq - 2800, C_ISN + 101, 500, 1400, DP_TCP_ACK);
	assert_int_equal(dp_tcp_win_check(&w, 1, &s), DP_TCPW_OK);
	s = seg(sseq + 1400, C_ISN + 101, 500, 1400, DP_TCP_ACK);
	assert_int_equal(dp_tcp_win_check(&w, 1, &s), DP_TCPW_OK);
	assert_int_equal(w.end[1], sseq + 2800);
	s = seg(sseq + 2800, C_ISN + 101, 500, 0, DP_TCP_FIN | DP_TCP_ACK);
	assert_int_equal(dp_tcp_win_check(&w, 1, &s), DP_TCPW_OK);
	assert_int_equal(w.end[1], sseq + 2801);
	/* The client's RST, from its end exactly. */
	s = seg(C_ISN + 101, 0, 0, 0, DP_TCP_RST);
	assert_int_equal(dp_tcp_win_check(&w, 0, &s), DP_TCPW_OK);
}

static void test_unscaled(void **state)
{
	(void)state;
	struct dp_tcp_win w;
	/* Only the client offers scaling: neither end scales, the client's
	 * window is its largest field, 64240 bytes (its SYN's). */
	handshake(&w, true, false);
	assert_false(w.flags & DP_TCPW_SCALED);
	assert_int_equal(w.maxwin[0], 64240);
	struct dp_tcp_seg s = seg(S_ISN + 1 + 64000, 0, 0, 0, DP_TCP_RST);
	assert_int_equal(dp_tcp_win_check(&w, 1, &s), DP_TCPW_KEEP);
	s = seg(S_ISN + 1 + 64500, 0, 0, 0, DP_TCP_RST);
	assert_int_equal(dp_tcp_win_check(&w, 1, &s), DP_TCPW_OUT);
	/* Scaled, the SYN's 64240 bytes are 502 units of 128: the window
	 * field 1000 of the later segments (128000 bytes) is the largest. */
	handshake(&w, true, true);
	assert_int_equal(w.maxwin[0], 1000);
	assert_int_equal(w.maxwin[1], 512); /* the SYN-ACK's 65535 bytes */
}

static void test_syn_sent(void **state)
{
	(void)state;
	struct dp_tcp_win w;
	memset(&w, 0, sizeof(w));
	struct dp_tcp_seg s = seg(C_ISN, 0, 64240, 0, DP_TCP_SYN);
	assert_int_equal(dp_tcp_win_check(&w, 0, &s), DP_TCPW_OK);
	/* A RST must acknowledge the SYN; so must a SYN-ACK. */
	s = seg(12345, 0, 0, 0, DP_TCP_RST);
	assert_int_equal(dp_tcp_win_check(&w, 1, &s), DP_TCPW_OUT);
	s = seg(0, C_ISN + 2, 0, 0, DP_TCP_RST | DP_TCP_ACK);
	assert_int_equal(dp_tcp_win_check(&w, 1, &s), DP_TCPW_OUT);
	s = seg(S_ISN, C_ISN + 7, 65535, 0, DP_TCP_SYN | DP_TCP_ACK);
	assert_int_equal(dp_tcp_win_check(&w, 1, &s), DP_TCPW_OUT);
	assert_false(w.flags & DP_TCPW_KNOWN(1));
	/* Nor data before the SYN-ACK. */
	s = seg(S_ISN, C_ISN + 1, 65535, 10, DP_TCP_ACK);
	assert_int_equal(dp_tcp_win_check(&w, 1, &s), DP_TCPW_OUT);
	s = seg(0, C_ISN + 1, 0, 0, DP_TCP_RST | DP_TCP_ACK);
	assert_int_equal(dp_tcp_win_check(&w, 1, &s), DP_TCPW_OK); /* refused */
	/* A new SYN starts over: the old ends are forgotten. */
	s = seg(C_ISN + 5000, 0, 64240, 0, DP_TCP_SYN);
	assert_int_equal(dp_tcp_win_check(&w, 0, &s), DP_TCPW_OK);
	assert_int_equal(w.end[0], C_ISN + 5001);
	assert_int_equal(w.flags, DP_TCPW_KNOWN(0));
}

/* A simultaneous open (RFC 5382 REQ-2: a NAT passes it): each way's SYN,
 * then each way's SYN-ACK acknowledging the other's, in either order;
 * then data both ways.  And a flow the far end opened (the NAT's
 * filtering let its SYN in): its SYN, the device's SYN-ACK.  Once a way's
 * SYN is known, another SYN that way (an off-path guess) is not taken. */
static void test_simultaneous(void **state)
{
	(void)state;
	for (int far_first = 0; far_first < 2; far_first++) {
		struct dp_tcp_win w;
		memset(&w, 0, sizeof(w));
		struct dp_tcp_seg a = seg(C_ISN, 0, 64240, 0, DP_TCP_SYN);
		struct dp_tcp_seg b = seg(S_ISN, 0, 65535, 0, DP_TCP_SYN);
		a.wscale = b.wscale = 7;
		if (far_first) {
			assert_int_equal(dp_tcp_win_check(&w, 1, &b), DP_TCPW_OK);
			assert_int_equal(dp_tcp_win_check(&w, 0, &a), DP_TCPW_OK);
		} else {
			assert_int_equal(dp_tcp_win_check(&w, 0, &a), DP_TCPW_OK);
			assert_int_equal(dp_tcp_win_check(&w, 1, &b), DP_TCPW_OK);
		}
		assert_int_equal(w.end[0], C_ISN + 1);
		assert_int_equal(w.end[1], S_ISN + 1);
		struct dp_tcp_seg guess = seg(S_ISN + 77, 0, 65535, 0, DP_TCP_SYN);
		assert_int_equal(dp_tcp_win_check(&w, 1, &guess), DP_TCPW_OUT);
		assert_int_equal(dp_tcp_win_check(&w, 1, &b), DP_TCPW_OK); /* again */
		struct dp_tcp_seg sa0 = seg(C_ISN, S_ISN + 1, 64240, 0, DP_TCP_SYN | DP_TCP_ACK);
		struct dp_tcp_seg sa1 = seg(S_ISN, C_ISN + 1, 65535, 0, DP_TCP_SYN | DP_TCP_ACK);
		sa0.wscale = sa1.wscale = 7;
		assert_int_equal(dp_tcp_win_check(&w, far_first, far_first ? &sa1 : &sa0),
				 DP_TCPW_OK);
		assert_int_equal(dp_tcp_win_check(&w, !far_first, far_first ? &sa0 : &sa1),
				 DP_TCPW_OK);
		assert_true(w.flags & DP_TCPW_SCALED);
		assert_int_equal(w.scale[0], 7);
		assert_int_equal(w.scale[1], 7);
		struct dp_tcp_seg d0 = seg(C_ISN + 1, S_ISN + 1, 500, 100, DP_TCP_ACK);
		struct dp_tcp_seg d1 = seg(S_ISN + 1, C_ISN + 101, 500, 100, DP_TCP_ACK);
		assert_int_equal(dp_tcp_win_check(&w, 0, &d0), DP_TCPW_OK);
		assert_int_equal(dp_tcp_win_check(&w, 1, &d1), DP_TCPW_OK);
		struct dp_tcp_seg rst = seg(S_ISN + 5000000, 0, 0, 0, DP_TCP_RST);
		assert_int_equal(dp_tcp_win_check(&w, 1, &rst), DP_TCPW_OUT);
	}
	/* Opened by the far end: its SYN, the device's SYN-ACK, the ACK. */
	struct dp_tcp_win w;
	memset(&w, 0, sizeof(w));
	struct dp_tcp_seg s = seg(S_ISN, 0, 65535, 0, DP_TCP_SYN);
	assert_int_equal(dp_tcp_win_check(&w, 1, &s), DP_TCPW_OK);
	/* Before its SYN-ACK the device may only refuse it. */
	s = seg(C_ISN, S_ISN + 1, 64240, 10, DP_TCP_ACK);
	assert_int_equal(dp_tcp_win_check(&w, 0, &s), DP_TCPW_OUT);
	s = seg(C_ISN, S_ISN + 1, 64240, 0, DP_TCP_SYN | DP_TCP_ACK);
	assert_int_equal(dp_tcp_win_check(&w, 0, &s), DP_TCPW_OK);
	s = seg(S_ISN + 1, C_ISN + 1, 1000, 0, DP_TCP_ACK);
	assert_int_equal(dp_tcp_win_check(&w, 1, &s), DP_TCPW_OK);
	assert_int_equal(w.flags & DP_TCPW_LIBERAL, 0);
}

static void test_pickup(void **state)
{
	(void)state;
	struct dp_tcp_win w;
	memset(&w, 0, sizeof(w));
	/* After a restart: an ACK from the client opens it, the server's
	 * answer follows; the scale is unknown (liberal), yet a RST counts
	 * only at the exact sequence number. */
	struct dp_tcp_seg s = seg(5000, 9000, 300, 10, DP_TCP_ACK);
	assert_int_equal(dp_tcp_win_check(&w, 0, &s), DP_TCPW_OK);
	assert_true(w.flags & DP_TCPW_LIBERAL);
	s = seg(9000, 5010, 300, 1400, DP_TCP_ACK);
	assert_int_equal(dp_tcp_win_check(&w, 1, &s), DP_TCPW_OK);
	s = seg(9000 + 1400 + 77, 0, 0, 0, DP_TCP_RST);
	assert_int_equal(dp_tcp_win_check(&w, 1, &s), DP_TCPW_KEEP);
	s = seg(9000 + 1400, 0, 0, 0, DP_TCP_RST);
	assert_int_equal(dp_tcp_win_check(&w, 1, &s), DP_TCPW_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_offpath_rst),
		cmocka_unit_test(test_unscaled),
		cmocka_unit_test(test_syn_sent),
		cmocka_unit_test(test_simultaneous),
		cmocka_unit_test(test_pickup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
