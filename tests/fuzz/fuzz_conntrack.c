/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: a netlink message as the nft engine reads it from
 * conntrack (control/conntrack.c, gwd_ct_parse), then through the tracker
 * that turns records into flow events.  Input: the message, nlmsghdr
 * first.  Promises checked:
 *   - anything else than a conntrack entry of IPv4 or IPv6 with its
 *     original tuple is -EINVAL, and *ret is untouched then;
 *   - an accepted record has a kind, family 4 or 6, ports only for the
 *     protocols that have them, and IPv4 addresses with zero padding;
 *   - parsing is a function of the bytes (the same input twice, the same
 *     record);
 *   - the tracker fed the record (as it came, then as a DESTROY) never
 *     reports more connections than it tracks plus those it ended, and is
 *     empty after the DESTROY.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conntrack.h"
#include "ir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool attr_any(const struct gwd_ct_rec *r, struct gwd_flow_ev *ev, void *arg)
{
	(void)arg;
	memset(ev->mac, 2, 6);
	ev->action = POL_ALLOW;
	ev->rule = r->mark & 0xff;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of its own size, so ASan sees any read past the end. */
	uint8_t *msg = malloc(size ? size : 1);
	if (!msg)
		return 0;
	memcpy(msg, data, size);
	struct gwd_ct_rec a, b, untouched;
	memset(&a, 0x5a, sizeof(a));
	memset(&b, 0x5a, sizeof(b));
	memcpy(&untouched, &a, sizeof(a));
	int r = gwd_ct_parse(msg, size, &a);
	int r2 = gwd_ct_parse(msg, size, &b);
	if (r != r2)
		abort();
	if (r < 0) {
		if (r != -EINVAL || memcmp(&a, &untouched, sizeof(a)))
			abort();
		free(msg);
		return 0;
	}
	if (memcmp(&a, &b, sizeof(a)))
		abort();
	if (a.kind < GWD_CT_NEW || a.kind > GWD_CT_DESTROY)
		abort();
	if (a.family != 4 && a.family != 6)
		abort();
	if ((a.sport || a.dport) && a.proto != IPPROTO_TCP && a.proto != IPPROTO_UDP &&
	    a.proto != IPPROTO_SCTP && a.proto != IPPROTO_UDPLITE)
		abort();
	static const uint8_t zero[12];
	if (a.family == 4 && (memcmp(a.src + 4, zero, 12) || memcmp(a.dst + 4, zero, 12)))
		abort();
	struct gwd_ct_tracker *t;
	if (gwd_ct_tracker_new(4, 0, 0, NULL, attr_any, NULL, &t) == 0) {
		struct gwd_ct_stats st;
		gwd_ct_tracker_feed(t, &a, 1);
		gwd_ct_tracker_stats(t, &st);
		if (st.tracked > 1 || st.tracked > st.reported)
			abort();
		a.kind = GWD_CT_DESTROY;
		gwd_ct_tracker_feed(t, &a, 2);
		gwd_ct_tracker_dump_begin(t, (a.status & 1) != 0);
		gwd_ct_tracker_dump_end(t, 3);
		gwd_ct_tracker_stats(t, &st);
		if (st.tracked != 0)
			abort();
		gwd_ct_tracker_free(t);
	}
	free(msg);
	return 0;
}
