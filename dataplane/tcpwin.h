/* SPDX-License-Identifier: MIT */
/*
 * TCP window tracking for a flow, as netfilter's conntrack does it
 * (tcp_in_window, after Guido van Rooij's "Real Stateful TCP Packet
 * Filtering in IP Filter"): per direction, the end of what it sent (the
 * sequence number past its last byte, SYN and FIN counting one) and the
 * largest window it advertised, with its window scale once the handshake
 * shows both ends use one (RFC 7323).  A segment of direction d is in the
 * window when it starts no further than the receiver's largest window
 * past d's end and ends no further than that window before it (a
 * retransmission); only segments in the window teach the tracker.
 *
 * So that a host off the path, who does not know the sequence numbers,
 * cannot end a connection:
 *  - a RST or FIN outside the window is dropped (DP_TCPW_OUT; the caller
 *    counts it as tcp_window);
 *  - a RST inside the window but not exactly at the end of what its
 *    sender sent goes on to the endpoint, which answers it with a
 *    challenge ACK (RFC 5961), but does not change the flow's state
 *    (DP_TCPW_KEEP): a true RST comes back exactly in place;
 *  - in SYN-SENT, a RST counts only when its ACK acknowledges the SYN,
 *    and a SYN-ACK only when it does (RFC 793).
 * A flow picked up mid-stream (no handshake seen: after a restart) does
 * not know the window scale; it is tracked liberally, with the largest
 * scale, as conntrack's loose pickup does.  No DPDK here.
 */
#ifndef GW_DATAPLANE_TCPWIN_H
#define GW_DATAPLANE_TCPWIN_H

#include <stdint.h>

/* 16 bytes in each flow. */
struct dp_tcp_win {
	uint32_t end[2];    /* direction d's end (valid with DP_TCPW_KNOWN(d)) */
	uint16_t maxwin[2]; /* the largest window field d sent, at least 1 */
	uint8_t scale[2];   /* d's window shift (0 unless DP_TCPW_SCALED) */
	uint8_t flags;      /* DP_TCPW_* */
	uint8_t pad;
};
_Static_assert(sizeof(struct dp_tcp_win) == 16, "dp_tcp_win is 16 bytes");

#define DP_TCPW_KNOWN(d) (1u << (d)) /* a segment of direction d was taken in */
#define DP_TCPW_WS(d)    (4u << (d)) /* d's SYN carried a window scale */
#define DP_TCPW_SCALED   0x10u       /* both did: the shifts apply */
#define DP_TCPW_LIBERAL  0x20u       /* picked up mid-stream: scale unknown */

/* What a TCP segment says, from the parser (parse.h). */
struct dp_tcp_seg {
	uint32_t seq, ack;
	uint16_t win;    /* the window field */
	uint16_t len;    /* payload bytes */
	uint8_t flags;   /* DP_TCP_* */
	uint8_t wscale;  /* a SYN's window scale option, or DP_TCP_NO_WSCALE */
};

enum dp_tcp_verdict {
	DP_TCPW_OK,   /* in the window: counts */
	DP_TCPW_KEEP, /* in the window, but must not change the flow's state */
	DP_TCPW_OUT,  /* outside the window */
};

/* Checks a segment of direction d (0: the opener's) against w, and takes
 * it in when it is in the window. */
enum dp_tcp_verdict dp_tcp_win_check(struct dp_tcp_win *w, unsigned d, const struct dp_tcp_seg *s);

#endif
