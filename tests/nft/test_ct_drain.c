/* SPDX-License-Identifier: MIT */
/*
 * gwd's conntrack event reader (control/conntrack.c) under a flood, on a
 * real kernel, in a network namespace of this process's own (unshare; it
 * goes with the process): an nft table of the test's own turns conntrack
 * on; FLOOD UDP flows on loopback (one destination port each) make FLOOD
 * conntrack entries; a flush of the table (ctnetlink's delete without a
 * tuple) ends them all at once, FLOOD DESTROY events.  Then:
 *   - one gwd_ct_drain hands over some but not all of them (at most
 *     DRAIN_MAX reads of DRAIN_BATCH messages: gwd's loop gets its turn);
 *   - drains until the socket is empty hand over every one, each a
 *     DESTROY of a UDP flow to 127.0.0.1 (a read of several messages
 *     passes each of them on, none twice).
 * And gwd's dump of answered connections (status IPS_SEEN_REPLY): of two
 * UDP flows on loopback, one answered and one not, it hands over the
 * answered one only; the full dump both.
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

#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include "conntrack.h"
#include "gwtest.h"

#define FLOOD 3000
#define PORT0 20000

struct seen {
	unsigned n, bad;
	uint8_t port[FLOOD];
};

static void count(const struct gwd_ct_rec *r, void *arg)
{
	struct seen *s = arg;
	static const uint8_t lo[4] = { 127, 0, 0, 1 };
	if (r->kind != GWD_CT_DESTROY || r->proto != IPPROTO_UDP || r->family != 4 ||
	    memcmp(r->dst, lo, 4) || r->dport < PORT0 || r->dport >= PORT0 + FLOOD ||
	    s->port[r->dport - PORT0]++) {
		s->bad++;
		return;
	}
	s->n++;
}

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

/* conntrack's table flushed (IPv4): every entry ends, one DESTROY each. */
static void flush(void)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	assert_non_null(nl);
	assert_int_equal(mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID), 0);
	static _Alignas(struct nlmsghdr) uint8_t buf[8192];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = 1;
	struct nfgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = AF_INET;
	g->version = NFNETLINK_V0;
	assert_true(mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) >= 0);
	ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	assert_true(n > 0);
	assert_true(mnl_cb_run(buf, (size_t)n, 1, mnl_socket_get_portid(nl), NULL, NULL) >= 0);
	mnl_socket_close(nl);
}

/* A ct expression in table `table` turns conntrack on in this (the
 * test's own) namespace. */
static void ct_on(const char *table)
{
	FILE *nft = popen("nft -f -", "w");
	assert_non_null(nft);
	fprintf(nft, "table inet %s {\n"
		     "  chain out {\n"
		     "    type filter hook output priority 0; policy accept;\n"
		     "    ct state new counter\n"
		     "  }\n"
		     "}\n", table);
	assert_int_equal(pclose(nft), 0);
}

static void test_flood(void **state)
{
	lo_up();
	ct_on("gwctdraintest");

	struct gwd_ct *c;
	assert_int_equal(gwd_ct_new(&c), 0);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	for (int i = 0; i < FLOOD; i++) {
		struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(PORT0 + i),
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		assert_int_equal(sendto(fd, "x", 1, 0, (struct sockaddr *)&to, sizeof(to)), 1);
	}
	close(fd);
	flush();

	static struct seen s;
	uint64_t lost, lost_all = 0;
	gwd_ct_drain(c, count, &s, &lost);
	lost_all += lost;
	unsigned first = s.n, calls = 1;
	fprintf(stderr, "first drain: %u of %d DESTROY events\n", first, FLOOD);
	assert_true(first > 0);
	assert_true(first < FLOOD);
	for (;;) {
		unsigned before = s.n;
		gwd_ct_drain(c, count, &s, &lost);
		lost_all += lost;
		calls++;
		if (s.n == before)
			break;
	}
	fprintf(stderr, "all: %u in %u drains, %u wrong, lost %llu\n", s.n, calls, s.bad,
		(unsigned long long)lost_all);
	assert_int_equal(s.bad, 0);
	assert_int_equal(lost_all, 0);
	assert_int_equal(s.n, FLOOD);
	gwd_ct_free(c);
}

struct dumped {
	unsigned answered, unanswered, other;
};

#define PORT_ANSWERED 31001
#define PORT_UNANSWERED 31002

static void dumped(const struct gwd_ct_rec *r, void *arg)
{
	struct dumped *d = arg;
	if (r->proto != IPPROTO_UDP || r->family != 4)
		d->other++;
	else if (r->dport == PORT_ANSWERED)
		d->answered++;
	else if (r->dport == PORT_UNANSWERED)
		d->unanswered++;
	else
		d->other++;
}

static int udp_bound(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static void test_dump_replied(void **state)
{
	lo_up();
	ct_on("gwctdumptest");
	flush();
	int srv1 = udp_bound(PORT_ANSWERED), srv2 = udp_bound(PORT_UNANSWERED);
	int cli = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(cli >= 0);
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	to.sin_port = htons(PORT_ANSWERED);
	assert_int_equal(sendto(cli, "q", 1, 0, (struct sockaddr *)&to, sizeof(to)), 1);
	to.sin_port = htons(PORT_UNANSWERED);
	assert_int_equal(sendto(cli, "q", 1, 0, (struct sockaddr *)&to, sizeof(to)), 1);
	/* The answer: back to the client's address, from the server's. */
	char b[8];
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	assert_int_equal(recvfrom(srv1, b, sizeof(b), 0, (struct sockaddr *)&from, &fl), 1);
	assert_int_equal(sendto(srv1, "a", 1, 0, (struct sockaddr *)&from, fl), 1);
	assert_int_equal(recv(cli, b, sizeof(b), 0), 1);

	struct gwd_ct *c;
	assert_int_equal(gwd_ct_new(&c), 0);
	struct dumped d = { 0 };
	assert_int_equal(gwd_ct_dump(c, 0, 0, IPS_SEEN_REPLY, IPS_SEEN_REPLY, dumped, &d), 0);
	fprintf(stderr, "answered-only dump: answered %u unanswered %u other %u\n", d.answered,
		d.unanswered, d.other);
	assert_int_equal(d.answered, 1);
	assert_int_equal(d.unanswered, 0);
	memset(&d, 0, sizeof(d));
	assert_int_equal(gwd_ct_dump(c, 0, 0, 0, 0, dumped, &d), 0);
	fprintf(stderr, "full dump: answered %u unanswered %u other %u\n", d.answered,
		d.unanswered, d.other);
	assert_int_equal(d.answered, 1);
	assert_int_equal(d.unanswered, 1);
	gwd_ct_free(c);
	close(cli);
	close(srv1);
	close(srv2);
}

int main(void)
{
	if (geteuid() != 0)
		return gwtest_cannot_run("needs root (a network namespace, nft, conntrack)");
	if (unshare(CLONE_NEWNET) != 0)
		return gwtest_cannot_run("unshare(CLONE_NEWNET): %s", strerror(errno));
	if (system("nft --version >/dev/null 2>&1") != 0)
		return gwtest_cannot_run("no nft");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flood),
		cmocka_unit_test(test_dump_replied),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
