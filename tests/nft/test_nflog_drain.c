/* SPDX-License-Identifier: MIT */
/*
 * gwd's NFLOG reader (control/nflog.c) under a flood, on a real kernel, in
 * a network namespace of this process's own (unshare; it goes with the
 * process): an nft table of the test's own logs every UDP packet to port 9
 * on loopback into an NFLOG group with the nft engine's prefix; the test
 * sends FLOOD of them and then:
 *   - one gwd_nflog_drain reads some but not all of them (at most
 *     GWD_NFLOG_DRAIN_MAX reads: gwd's loop gets its turn under a flood;
 *     a drain that reads until empty fails here);
 *   - drains again until nothing is left have read every one of them (the
 *     socket's buffer holds a flood of FLOOD: nothing lost).
 * The kernel batches a group's messages (several in one read), so the
 * first drain's count is not GWD_NFLOG_DRAIN_MAX itself.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
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

#include "gwtest.h"
#include "nflog.h"

#define GROUP 23
#define FLOOD 4000

static void lo_up(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	assert_int_equal(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	assert_int_equal(ioctl(fd, SIOCSIFFLAGS, &ifr), 0);
	close(fd);
}

static void test_flood(void **state)
{
	lo_up();
	/* The namespace is the test's own: the table cannot meet another. */
	FILE *nft = popen("nft -f -", "w");
	assert_non_null(nft);
	fprintf(nft, "table inet gwnflogtest {\n"
		     "  chain out {\n"
		     "    type filter hook output priority 0; policy accept;\n"
		     "    udp dport 9 log group %d prefix \"gw gen=3 rule=1 action=allow \"\n"
		     "  }\n"
		     "}\n", GROUP);
	assert_int_equal(pclose(nft), 0);

	struct gwd_nflog *l;
	assert_int_equal(gwd_nflog_new(GROUP, &l), 0);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(9),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	for (int i = 0; i < FLOOD; i++)
		assert_int_equal(sendto(fd, "x", 1, 0, (struct sockaddr *)&to, sizeof(to)), 1);
	close(fd);
	/* NFLOG batches a group's messages and sends a partial batch after
	 * its flush timeout (1 s by default): all of them queued by then. */
	usleep(1300 * 1000);

	unsigned first = gwd_nflog_drain(l, NULL);
	fprintf(stderr, "first drain: %u of %d logged packets\n", first, FLOOD);
	assert_true(first > 0);
	assert_true(first < FLOOD);
	unsigned total = first, calls = 1, n;
	while ((n = gwd_nflog_drain(l, NULL)) > 0) {
		total += n;
		calls++;
	}
	fprintf(stderr, "all: %u in %u drains\n", total, calls);
	assert_int_equal(total, FLOOD);
	gwd_nflog_free(l);
}

int main(void)
{
	if (geteuid() != 0)
		return gwtest_cannot_run("needs root (a network namespace, nft, NFLOG)");
	if (unshare(CLONE_NEWNET) != 0)
		return gwtest_cannot_run("unshare(CLONE_NEWNET): %s", strerror(errno));
	if (system("nft --version >/dev/null 2>&1") != 0)
		return gwtest_cannot_run("no nft");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flood),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
