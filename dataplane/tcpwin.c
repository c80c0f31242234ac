/* SPDX-License-Identifier: MIT */
/* TCP window tracking (see tcpwin.h). */
#include <stdbool.h>
#include <string.h>

#include "parse.h"
#include "tcpwin.h"

/* RFC 7323: no window is larger than 2^30; serial arithmetic needs the
 * bound under 2^31. */
#define MAX_WINDOW (1u << 30)
#define LIBERAL_SHIFT 14

static inline bool seq_after(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

/* The largest window receiver r advertised, in bytes. */
static uint32_t window(const struct dp_tcp_win *w, unsigned r)
{
	unsigned shift = w->flags & DP_TCPW_LIBERAL ? LIBERAL_SHIFT : w->scale[r];
	uint64_t v = (uint64_t)w->maxwin[r] << shift;
	return v > MAX_WINDOW ? MAX_WINDOW : (uint32_t)v;
}

/* Direction d's segment was in the window: what it teaches. */
static void learn(struct dp_tcp_win *w, unsigned d, uint32_t end, uint16_t win)
{
	if (seq_after(end, w->end[d]))
		w->end[d] = end;
	if (win > w->maxwin[d])
		w->maxwin[d] = win;
}

enum dp_tcp_verdict dp_tcp_win_check(struct dp_tcp_win *w, unsigned d, const struct dp_tcp_seg *s)
{
	d &= 1;
	const unsigned r = 1 - d;
	const bool syn = s->flags & DP_TCP_SYN, ack = s->flags & DP_TCP_ACK;
	const bool rst = s->flags & DP_TCP_RST, fin = s->flags & DP_TCP_FIN;
	const uint32_t end = s->seq + s->len + syn + fin;
	const uint16_t win = s->win ? s->win : 1;

	if (syn && !ack && d == 1) {
		/* A SYN the other way: a simultaneous open (RFC 793, which a
		 * NAT must pass, RFC 5382 REQ-2: peers behind two NATs, or
		 * hairpinned, open to each other at once), or the first packet
		 * of a flow the remote end opened (NAT filtering let it in).
		 * Taken while that way has sent nothing; then only again. */
		if (w->flags & DP_TCPW_KNOWN(1))
			return end == w->end[1] ? DP_TCPW_OK : DP_TCPW_OUT;
		w->end[1] = end;
		w->maxwin[1] = win;
		w->flags = (uint8_t)((w->flags & ~DP_TCPW_LIBERAL) | DP_TCPW_KNOWN(1));
		if (s->wscale != DP_TCP_NO_WSCALE) {
			w->flags |= DP_TCPW_WS(1);
			w->scale[1] = s->wscale;
		}
		return DP_TCPW_OK;
	}
	if (syn && !ack) {
		/* The opener's SYN, again or for a new connection on this
		 * tuple: the tracker starts over; but after the other way's
		 * SYN alone (a simultaneous open whose far SYN came first), it
		 * keeps that one. */
		uint8_t keep = w->flags & (DP_TCPW_KNOWN(0) | DP_TCPW_KNOWN(1) | DP_TCPW_LIBERAL);
		if (keep == DP_TCPW_KNOWN(1)) {
			w->end[0] = end;
			w->maxwin[0] = win;
			w->flags |= DP_TCPW_KNOWN(0);
			if (s->wscale != DP_TCP_NO_WSCALE) {
				w->flags |= DP_TCPW_WS(0);
				w->scale[0] = s->wscale;
			}
			return DP_TCPW_OK;
		}
		memset(w, 0, sizeof(*w));
		w->end[0] = end;
		w->maxwin[0] = win;
		w->flags = DP_TCPW_KNOWN(0);
		if (s->wscale != DP_TCP_NO_WSCALE) {
			w->flags |= DP_TCPW_WS(0);
			w->scale[0] = s->wscale;
		}
		return DP_TCPW_OK;
	}
	if (syn) {
		/* A SYN-ACK counts when it acknowledges the other way's SYN
		 * (the opener's; in a simultaneous open, each way's). */
		if (!(w->flags & DP_TCPW_KNOWN(r)) || s->ack != w->end[r])
			return DP_TCPW_OUT;
		w->end[d] = end;
		w->flags = (uint8_t)((w->flags & ~DP_TCPW_LIBERAL) | DP_TCPW_KNOWN(d));
		if (w->flags & DP_TCPW_SCALED) {
			/* The second SYN-ACK of a simultaneous open: its window
			 * in the units the first one set. */
			uint16_t sw = (uint16_t)(((uint32_t)win + (1u << w->scale[d]) - 1) >>
						 w->scale[d]);
			if (sw > w->maxwin[d])
				w->maxwin[d] = sw;
			return DP_TCPW_OK;
		}
		w->maxwin[d] = win;
		if (s->wscale != DP_TCP_NO_WSCALE && (w->flags & DP_TCPW_WS(r))) {
			w->flags |= DP_TCPW_WS(d) | DP_TCPW_SCALED;
			w->scale[d] = s->wscale;
			/* The handshake's own windows are not scaled: in the
			 * units of the later ones, rounded up. */
			for (unsigned i = 0; i < 2; i++)
				w->maxwin[i] = (uint16_t)(((uint32_t)w->maxwin[i] +
							   (1u << w->scale[i]) - 1) >> w->scale[i]);
		} else {
			/* One end did not offer it: neither scales (RFC 7323). */
			w->scale[0] = w->scale[1] = 0;
		}
		return DP_TCPW_OK;
	}
	if (!(w->flags & DP_TCPW_KNOWN(d))) {
		if ((w->flags & DP_TCPW_KNOWN(r)) && !(w->flags & DP_TCPW_LIBERAL)) {
			/* SYN-SENT: only a RST that acknowledges the SYN (the
			 * connection refused) may come before the SYN-ACK. */
			return rst && ack && s->ack == w->end[r] ? DP_TCPW_OK : DP_TCPW_OUT;
		}
		/* No handshake seen this way: picked up mid-stream. */
		w->end[d] = end;
		w->maxwin[d] = win;
		w->flags |= DP_TCPW_KNOWN(d) | DP_TCPW_LIBERAL;
		return DP_TCPW_OK;
	}
	if (!(w->flags & DP_TCPW_KNOWN(r))) {
		/* Nothing heard the other way yet: no window to hold it to. */
		learn(w, d, end, win);
		return DP_TCPW_OK;
	}
	uint32_t wnd = window(w, r);
	if (seq_after(s->seq, w->end[d] + wnd) || seq_after(w->end[d] - wnd, end))
		return DP_TCPW_OUT;
	if (rst && s->seq != w->end[d])
		return DP_TCPW_KEEP;
	learn(w, d, end, win);
	return DP_TCPW_OK;
}
