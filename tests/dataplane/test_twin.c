/* SPDX-License-Identifier: MIT */
/*
 * The TAP twins (dataplane/twin.c) with the kernel, in a network namespace
 * of this process's own (unshare; it goes with the process):
 *   - a twin is a TAP that is up, with the port's MAC; a second one of the
 *     same name is refused (-EBUSY), a name too long too (-EINVAL);
 *   - the mirror's request socket puts an address on it;
 *   - ARP requests for that address, through dp_pipeline with the twins
 *     set, are punted into the twin's ring until it is full, and then
 *     dropped as twin_full (the worker never waits); every packet is
 *     counted once;
 *   - dp_twin_poll writes them to the kernel, which answers: its ARP
 *     reply comes back through the ring towards the port, with the twin's
 *     (the port's) MAC and address.
 * Skips (77) unless root, a new netns and EAL are possible here.
 */
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "classify.h"
#include "gwtest.h"
#include "lcore.h"
#include "netlink.h"
#include "twin.h"

#define RING_ROOM 1023 /* twin.c's ring: 1024 slots, one kept free */

static const uint8_t LAN_MAC[6] = { 0x02, 0x00, 0x00, 0x00, 0x77, 0x01 };
static const uint8_t WAN_MAC[6] = { 0x02, 0x00, 0x00, 0x00, 0x77, 0x02 };
static const uint8_t DEV_MAC[6] = { 0x02, 0x00, 0x00, 0x00, 0x77, 0x10 };
static const uint8_t GW_IP[4] = { 10, 77, 0, 1 };
static const uint8_t DEV_IP[4] = { 10, 77, 0, 10 };

static void ifreq_get(const char *name, unsigned long req, struct ifreq *ifr)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	memset(ifr, 0, sizeof(*ifr));
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", name);
	assert_int_equal(ioctl(s, req, ifr), 0);
	close(s);
}

/* who-has GW_IP tell DEV_IP, broadcast, padded to 60 bytes. */
static size_t arp_request(uint8_t f[60])
{
	memset(f, 0, 60);
	memset(f, 0xff, 6);
	memcpy(f + 6, DEV_MAC, 6);
	f[12] = 0x08, f[13] = 0x06;
	static const uint8_t hdr[8] = { 0, 1, 8, 0, 6, 4, 0, 1 };
	memcpy(f + 14, hdr, 8);
	memcpy(f + 22, DEV_MAC, 6);
	memcpy(f + 28, DEV_IP, 4);
	memcpy(f + 38, GW_IP, 4);
	return 60;
}

static void test_twins(void **state)
{
	(void)state;
	struct rte_mempool *pool = rte_pktmbuf_pool_create("twin_pool", 4095, 0, 0,
							   RTE_MBUF_DEFAULT_BUF_SIZE,
							   (int)rte_socket_id());
	assert_non_null(pool);
	struct dp_twin *lan = NULL, *wan = NULL, *again = NULL;
	assert_int_equal(dp_twin_new("gwt-lan", LAN_MAC, pool, &lan), 0);
	assert_int_equal(dp_twin_new("gwt-wan", WAN_MAC, pool, &wan), 0);
	assert_int_equal(dp_twin_new("gwt-lan", LAN_MAC, pool, &again), -EBUSY);
	assert_int_equal(dp_twin_new("name-too-long-xx", LAN_MAC, pool, &again), -EINVAL);
	assert_null(again);

	struct ifreq ifr;
	ifreq_get("gwt-lan", SIOCGIFHWADDR, &ifr);
	assert_memory_equal(ifr.ifr_hwaddr.sa_data, LAN_MAC, 6);
	ifreq_get("gwt-lan", SIOCGIFFLAGS, &ifr);
	assert_true(ifr.ifr_flags & IFF_UP);
	assert_int_equal(dp_twin_ifindex(lan), (int)if_nametoindex("gwt-lan"));
	assert_string_equal(dp_twin_name(wan), "gwt-wan");

	const int ifindex[DP_ROLE_COUNT] = { dp_twin_ifindex(lan), dp_twin_ifindex(wan) };
	struct dp_nl *nl = NULL;
	assert_int_equal(dp_nl_new(ifindex, &nl), 0);
	assert_int_equal(dp_nl_addr_add(nl, ifindex[DP_ROLE_LAN], AF_INET, GW_IP, 24), 0);
	/* Again: replaced, not an error. */
	assert_int_equal(dp_nl_addr_add(nl, ifindex[DP_ROLE_LAN], AF_INET, GW_IP, 24), 0);

	struct dp_config cfg = {
		.mode = DP_MODE_FULL, .nat_lo = 1024, .nat_hi = 32767, .flows = 1024, .burst = 32,
		.has_lan4 = true, .has_wan4 = true, .lan4_plen = 24,
		.lan4 = { 10, 77, 0, 1 }, .wan4 = { 198, 51, 100, 2 },
	};
	struct dp_classify *c = NULL;
	assert_int_equal(dp_classify_new(NULL, 1, &c), 0);
	struct dp_worker w = { .cfg = &cfg, .pool = pool, .policy = &c,
			       .twin = { lan, wan } };
	memcpy(w.port_mac[DP_ROLE_LAN], LAN_MAC, 6);
	memcpy(w.port_mac[DP_ROLE_WAN], WAN_MAC, 6);
	assert_int_equal(dp_worker_init(&w), 0);

	/* More than the ring holds, with nobody draining it. */
	uint8_t frame[60];
	size_t len = arp_request(frame);
	const unsigned sent = RING_ROOM + 77;
	for (unsigned i = 0; i < sent; i++) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
		assert_non_null(m);
		memcpy(rte_pktmbuf_append(m, (uint16_t)len), frame, len);
		dp_pipeline(&w, DP_ROLE_LAN, m, 0);
	}
	const struct dp_port_stats *s = &w.stats[DP_ROLE_LAN];
	assert_int_equal(s->punted, RING_ROOM);
	assert_int_equal(s->punt[DP_PUNT_ARP], RING_ROOM);
	assert_int_equal(s->drop[DP_DROP_TWIN_FULL], sent - RING_ROOM);

	/* The main lcore's side: to the kernel, and its answers back. */
	struct rte_mbuf *ms[32];
	struct rte_mbuf *reply = NULL;
	for (int round = 0; round < 200 && !reply; round++) {
		dp_twin_poll(lan);
		unsigned n = dp_twin_take(lan, ms, 32);
		for (unsigned i = 0; i < n; i++) {
			const uint8_t *f = rte_pktmbuf_mtod(ms[i], const uint8_t *);
			if (!reply && rte_pktmbuf_data_len(ms[i]) >= 42 && f[12] == 0x08 &&
			    f[13] == 0x06 && f[21] == 2)
				reply = ms[i];
			else
				rte_pktmbuf_free(ms[i]);
		}
		usleep(5000);
	}
	const struct dp_twin_stats *ts = dp_twin_stats(lan);
	assert_int_equal(ts->to_kernel, RING_ROOM);
	assert_int_equal(ts->to_kernel_err, 0);
	assert_non_null(reply);
	assert_true(ts->from_kernel >= 1);
	const uint8_t *f = rte_pktmbuf_mtod(reply, const uint8_t *);
	assert_memory_equal(f, DEV_MAC, 6);      /* to the asker */
	assert_memory_equal(f + 6, LAN_MAC, 6);  /* from the port's MAC */
	assert_memory_equal(f + 22, LAN_MAC, 6); /* is-at */
	assert_memory_equal(f + 28, GW_IP, 4);
	assert_memory_equal(f + 38, DEV_IP, 4);
	rte_pktmbuf_free(reply);

	/* Drain what the kernel still sends, then take everything down. */
	for (int round = 0; round < 5; round++) {
		dp_twin_poll(lan);
		unsigned n;
		while ((n = dp_twin_take(lan, ms, 32)))
			rte_pktmbuf_free_bulk(ms, n);
	}
	dp_worker_fini(&w);
	dp_classify_free(c);
	dp_nl_free(nl);
	dp_twin_free(lan);
	dp_twin_free(wan);
	dp_twin_free(NULL);
	assert_int_equal(if_nametoindex("gwt-lan"), 0); /* the TAP went with its fd */
	/* Every mbuf came back. */
	assert_int_equal(rte_mempool_avail_count(pool), 4095);
	rte_mempool_free(pool);
}

int main(void)
{
	char prefix[64];
	if (geteuid() != 0)
		return gwtest_cannot_run("needs root (a network namespace, a TAP)");
	if (unshare(CLONE_NEWNET) != 0)
		return gwtest_cannot_run("unshare(CLONE_NEWNET): %s", strerror(errno));
	if (access("/dev/net/tun", R_OK | W_OK) != 0)
		return gwtest_cannot_run("no /dev/net/tun");
	snprintf(prefix, sizeof(prefix), "--file-prefix=gwdp-twin-%d", (int)getpid());
	char *eal[] = { "test_dp_twin", "--no-huge", "-m", "256", "--no-pci", "-l", "0",
			"--log-level", "lib.eal:error", prefix, NULL };
	if (rte_eal_init(10, eal) < 0)
		return gwtest_cannot_run("EAL cannot start here");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_twins),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	rte_eal_cleanup();
	gwtest_remove_dpdk_runtime(prefix + strlen("--file-prefix="));
	return r;
}
