/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: datagrams of rtnetlink messages into the fast path's
 * mirror of the twins' neighbours, default route and WAN address
 * (dataplane/netlink.c, dp_nl_input), as its event socket receives them.
 * Promises checked:
 *   - no read outside the buffer (ASan), whatever the lengths claim;
 *   - the answer is consistent: a known next hop has a known gateway, and
 *     its MAC is the one dp_nl_neigh gives for that gateway on the WAN
 *     twin, for IPv4 and IPv6 (dp_nl_neigh6) alike; at most
 *     DP_NL_ADDR6_MAX WAN IPv6 addresses.
 * The mirror watches interfaces 1 (LAN) and 2 (WAN), the ones a seed is
 * most likely to name.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "netlink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int ifindex[DP_ROLE_COUNT] = { 1, 2 };
	struct dp_nl *nl;
	if (dp_nl_new_offline(ifindex, &nl) < 0)
		return 0;
	/* A private, aligned copy: the kernel's buffers are aligned, and the
	 * exact size lets ASan see a read past the end. */
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf) {
		dp_nl_free(nl);
		return 0;
	}
	memcpy(buf, data, size);
	(void)dp_nl_input(nl, buf, size);
	uint8_t gw[4], mac[6], mac2[6];
	if (dp_nl_wan_next_hop(nl, gw, mac)) {
		if (!dp_nl_neigh(nl, DP_ROLE_WAN, gw, mac2) || memcmp(mac, mac2, 6))
			abort();
	}
	uint8_t gw6[16], addrs[DP_NL_ADDR6_MAX][16], plen[DP_NL_ADDR6_MAX];
	if (dp_nl_wan_next_hop6(nl, gw6, mac)) {
		if (!dp_nl_neigh6(nl, DP_ROLE_WAN, gw6, mac2) || memcmp(mac, mac2, 6))
			abort();
	}
	if (dp_nl_wan_addrs6(nl, addrs, plen, DP_NL_ADDR6_MAX) > DP_NL_ADDR6_MAX)
		abort();
	(void)dp_nl_poll(nl, 0); /* offline: no socket touched */
	free(buf);
	dp_nl_free(nl);
	return 0;
}
