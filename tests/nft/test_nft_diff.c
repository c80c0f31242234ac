/* SPDX-License-Identifier: MIT */
/*
 * The nft engine against the reference evaluator, on a real kernel.
 *
 * Three network namespaces: a LAN side (one kernel port of the gateway,
 * kp0, enforced by the nft engine), the gateway (the guard and the engine
 * of control/, driven through its engine ops as gwd drives it), and a WAN
 * side.  Random policies (tests/lib/c/randpol.c, the generator of the other
 * engines' differential tests) are applied; random packets that open
 * flows (rp_packet) are sent from the LAN side as raw frames with the
 * packet's source MAC, each from a source address of its own, so every
 * packet is a flow of its own to conntrack; each is a well-formed opening
 * of its protocol (TCP SYN, UDP, an ICMP echo request of the protocol the
 * number names, SCTP INIT, GRE, ESP, an unknown protocol's payload).  Each packet's fate is what
 * the namespaces saw: passed (it reached the WAN side), rejected (a TCP
 * reset or an ICMP unreachable came back) or dropped (neither), and it
 * must be the evaluator's: allow, reject, block.  Then, from the WAN
 * side: the reply to every passed packet must reach the LAN side, and
 * packets no LAN device asked for must not.  Schedules: each policy is
 * checked at several moments, the engine given that moment's mask
 * (set_active, pol_active_rules as gwd computes it) and the expected
 * verdict taken from the test's own table of the week (rp_reference); domain sets: the
 * packet's destination is learned (set_domains) with exactly its sets.
 *
 * A mismatch prints the policy, the packet and both verdicts, and the
 * test fails.  Root only (77 otherwise).  Usage: test_nft_diff [SEED [POLICIES]].
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "gwtest.h"
#include "engine.h"
#include "engine_nft.h"
#include "eval.h"
#include "guard.h"
#include "gwtest.h"
#include "image.h"
#include "policy.h"
#include "randpol.h"

extern char **environ;

static const uint8_t GW_LAN_MAC[6] = { 0x02, 0x67, 0x77, 0x00, 0x00, 0x01 };
static const uint8_t GW_WAN_MAC[6] = { 0x02, 0x67, 0x77, 0x00, 0x01, 0x01 };
static const uint8_t WAN_MAC[6] = { 0x02, 0x67, 0x77, 0x00, 0x01, 0x02 };

#define MAX_ADDRS 12000 /* distinct source addresses per family */

static char ns_gw[32], ns_lan[32], ns_wan[32], workdir[64];
static int ns_home = -1;
static bool made[3];

/* --- processes and namespaces ---------------------------------------------- */

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char line[512], *argv[32];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	int argc = 0;
	for (char *t = strtok(line, " "); t && argc < 31; t = strtok(NULL, " "))
		argv[argc++] = t;
	argv[argc] = NULL;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	pid_t pid;
	int r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		return -r;
	int st;
	if (waitpid(pid, &st, 0) < 0)
		return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void must(int r, const char *what)
{
	if (r != 0) {
		fprintf(stderr, "setup failed: %s (%d)\n", what, r);
		exit(1);
	}
}

static int enter(const char *ns)
{
	int fd;
	if (!ns) {
		fd = dup(ns_home);
	} else {
		char p[96];
		snprintf(p, sizeof(p), "/run/netns/%s", ns);
		fd = open(p, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	int r = setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
	close(fd);
	return r;
}

static void cleanup(void)
{
	enter(NULL);
	if (getenv("NFTDIFF_KEEP")) {
		/* For a look at a failure: ip netns exec gwtPIDd-gw nft list ruleset */
		fprintf(stderr, "kept: %s %s %s %s\n", ns_gw, ns_lan, ns_wan, workdir);
		return;
	}
	const char *names[3] = { ns_gw, ns_lan, ns_wan };
	for (int i = 0; i < 3; i++)
		if (made[i])
			run("ip netns del %s", names[i]);
	if (workdir[0]) {
		char p[128];
		const char *files[] = { "neigh", "engine-nft/live.img", "engine-nft/live.gen" };
		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
			snprintf(p, sizeof(p), "%s/%s", workdir, files[i]);
			unlink(p);
		}
		snprintf(p, sizeof(p), "%s/engine-nft", workdir);
		rmdir(p);
		rmdir(workdir);
	}
}

static void on_signal(int sig)
{
	cleanup();
	_exit(128 + sig);
}

/* Namespaces of earlier runs whose process is gone. */
static void remove_leftovers(void)
{
	FILE *f = popen("ip netns list", "r");
	char line[256];
	while (f && fgets(line, sizeof(line), f)) {
		int pid;
		char rest[64];
		if (sscanf(line, "gwt%dd-%63s", &pid, rest) == 2 && kill(pid, 0) < 0 && errno == ESRCH) {
			char name[96];
			sscanf(line, "%95s", name);
			run("ip netns del %s", name);
		}
	}
	if (f)
		pclose(f);
}

static void sysctl(const char *ns, const char *kv)
{
	run("ip netns exec %s sysctl -qw %s", ns, kv);
}

static void setup(void)
{
	int pid = (int)getpid();
	/* The harness's naming (tests/lib/gwtest/net.py): its sweep knows them. */
	snprintf(ns_gw, sizeof(ns_gw), "gwt%dd-gw", pid);
	snprintf(ns_lan, sizeof(ns_lan), "gwt%dd-lan", pid);
	snprintf(ns_wan, sizeof(ns_wan), "gwt%dd-wan", pid);
	const char *names[3] = { ns_gw, ns_lan, ns_wan };
	for (int i = 0; i < 3; i++) {
		must(run("ip netns add %s", names[i]), "ip netns add");
		made[i] = true;
		sysctl(names[i], "net.ipv6.conf.all.accept_dad=0");
		sysctl(names[i], "net.ipv6.conf.default.accept_dad=0");
		run("ip -n %s link set lo up", names[i]);
	}
	must(run("ip -n %s link add kp0 address 02:67:77:00:00:01 type veth peer name eth0 "
		 "address 02:67:77:00:00:02 netns %s", ns_gw, ns_lan), "lan veth");
	must(run("ip -n %s link add up0 address 02:67:77:00:01:01 type veth peer name eth0 "
		 "address 02:67:77:00:01:02 netns %s", ns_gw, ns_wan), "wan veth");
	must(run("ip -n %s addr add 100.64.0.1/16 dev kp0", ns_gw), "addr");
	must(run("ip -n %s addr add fd64::1/64 dev kp0 nodad", ns_gw), "addr");
	must(run("ip -n %s addr add 100.127.0.1/30 dev up0", ns_gw), "addr");
	must(run("ip -n %s addr add fd7f::1/64 dev up0 nodad", ns_gw), "addr");
	must(run("ip -n %s addr add 100.64.0.2/16 dev eth0", ns_lan), "addr");
	must(run("ip -n %s addr add 100.127.0.2/30 dev eth0", ns_wan), "addr");
	must(run("ip -n %s addr add fd7f::2/64 dev eth0 nodad", ns_wan), "addr");
	for (int i = 0; i < 3; i++)
		run("ip -n %s link set %s up", names[i], i == 0 ? "kp0" : "eth0");
	run("ip -n %s link set up0 up", ns_gw);
	must(run("ip -n %s route add default via 100.127.0.2 dev up0", ns_gw), "route");
	must(run("ip -n %s -6 route add default via fd7f::2 dev up0", ns_gw), "route");
	must(run("ip -n %s neigh replace 100.127.0.2 lladdr 02:67:77:00:01:02 dev up0 nud permanent",
		 ns_gw), "neigh");
	must(run("ip -n %s -6 neigh replace fd7f::2 lladdr 02:67:77:00:01:02 dev up0 nud permanent",
		 ns_gw), "neigh");
	sysctl(ns_gw, "net.ipv4.ip_forward=1");
	sysctl(ns_gw, "net.ipv6.conf.all.forwarding=1");
	/* Every reject must answer, however many come at once. */
	sysctl(ns_gw, "net.ipv4.icmp_ratelimit=0");
	sysctl(ns_gw, "net.ipv4.icmp_ratemask=0");
	sysctl(ns_gw, "net.ipv4.icmp_msgs_per_sec=100000");
	sysctl(ns_gw, "net.ipv4.icmp_msgs_burst=100000");
	sysctl(ns_gw, "net.ipv6.icmp.ratelimit=0");
	/* The devices' addresses answer from the LAN side's MAC. */
	snprintf(workdir, sizeof(workdir), "/tmp/gwt%dd", pid);
	must(mkdir(workdir, 0700) < 0 ? errno : 0, "work folder");
	char p[128];
	snprintf(p, sizeof(p), "%s/neigh", workdir);
	FILE *f = fopen(p, "w");
	if (!f)
		must(errno, "neigh file");
	for (unsigned i = 0; i < MAX_ADDRS; i++) {
		fprintf(f, "neigh replace 100.64.%u.%u lladdr 02:67:77:00:00:02 dev kp0 nud permanent\n",
			1 + i / 250, 1 + i % 250);
		fprintf(f, "neigh replace fd64::1:%x lladdr 02:67:77:00:00:02 dev kp0 nud permanent\n",
			i);
	}
	fclose(f);
	must(run("ip -n %s -batch %s", ns_gw, p), "neighbours");
}

/* --- packets ---------------------------------------------------------------- */

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t s)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)(p[n - 1] << 8);
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static uint32_t crc32c(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = c >> 1 ^ (0x82f63b78u & (0u - (c & 1)));
	}
	return ~c;
}

struct pkt {
	uint8_t mac[6];
	uint8_t family, proto;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint16_t icmp_id;
};

/* How a frame of a packet goes: the packet itself (device to far end),
 * its reply (far end to device), or a new flow of the far end's. */
enum kind { OPEN, REPLY, FROM_FAR };

/* An Ethernet frame of p; its length. */
static size_t frame(const struct pkt *p, enum kind kind, const uint8_t *dmac, const uint8_t *smac,
		    uint8_t *out)
{
	bool reply = kind == REPLY, back = kind != OPEN;
	memcpy(out, dmac, 6);
	memcpy(out + 6, smac, 6);
	bool v4 = p->family == 4;
	out[12] = v4 ? 0x08 : 0x86;
	out[13] = v4 ? 0x00 : 0xdd;
	uint8_t *ip = out + 14, *l4 = ip + (v4 ? 20 : 40);
	const uint8_t *s = back ? p->dst : p->src, *d = back ? p->src : p->dst;
	uint16_t sp = back ? p->dport : p->sport, dp = back ? p->sport : p->dport;
	size_t l4len = 0;
	static const uint8_t tag[8] = { 'g', 'w', 'n', 'f', 't', 'd', 'i', 'f' };
	switch (p->proto) {
	case IPPROTO_TCP:
		memset(l4, 0, 20);
		l4[0] = (uint8_t)(sp >> 8), l4[1] = (uint8_t)sp;
		l4[2] = (uint8_t)(dp >> 8), l4[3] = (uint8_t)dp;
		l4[4] = reply ? 0x51 : 0x10; /* seq */
		if (reply)
			l4[11] = 1; /* ack = 0x10000000 + 1 */
		if (reply)
			l4[8] = 0x10;
		l4[12] = 0x50;
		l4[13] = reply ? 0x12 : 0x02; /* SYN-ACK, or SYN */
		l4[14] = 0xff, l4[15] = 0xff;
		l4len = 20;
		break;
	case IPPROTO_UDP:
		l4[0] = (uint8_t)(sp >> 8), l4[1] = (uint8_t)sp;
		l4[2] = (uint8_t)(dp >> 8), l4[3] = (uint8_t)dp;
		memcpy(l4 + 8, tag, 8);
		l4len = 16;
		l4[4] = 0, l4[5] = (uint8_t)l4len;
		l4[6] = l4[7] = 0;
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		/* An echo of the protocol the number names, also in the other
		 * family (conntrack follows ICMP by its number). */
		memset(l4, 0, 8);
		if (p->proto == IPPROTO_ICMP)
			l4[0] = reply ? 0 : 8;
		else
			l4[0] = reply ? 129 : 128;
		l4[4] = (uint8_t)(p->icmp_id >> 8), l4[5] = (uint8_t)p->icmp_id;
		l4[7] = 1;
		memcpy(l4 + 8, tag, 8);
		l4len = 16;
		break;
	case IPPROTO_SCTP:
		memset(l4, 0, 32);
		l4[0] = (uint8_t)(sp >> 8), l4[1] = (uint8_t)sp;
		l4[2] = (uint8_t)(dp >> 8), l4[3] = (uint8_t)dp;
		/* vtag 0, then an INIT chunk. */
		l4[12] = 1, l4[15] = 20;
		l4[16] = 0x12, l4[17] = 0x34, l4[18] = 0x56, l4[19] = 0x78; /* initiate tag */
		l4[22] = 0x10;                                              /* a_rwnd */
		l4[25] = 1, l4[27] = 1;                                     /* streams */
		l4[28] = 0x01;                                              /* TSN */
		l4len = 32;
		break;
	case IPPROTO_GRE:
		memset(l4, 0, 4);
		l4[2] = 0x08; /* carries IPv4 */
		memcpy(l4 + 4, tag, 8);
		l4len = 12;
		break;
	default:
		memcpy(l4, tag, 8);
		l4[0] = (uint8_t)(p->icmp_id >> 8), l4[1] = (uint8_t)p->icmp_id; /* ESP's SPI */
		l4[2] = l4[3] = 0; /* the checksum below, when there is one */
		l4len = 8;
		break;
	}
	size_t iplen;
	if (v4) {
		iplen = 20 + l4len;
		memset(ip, 0, 20);
		ip[0] = 0x45;
		ip[2] = (uint8_t)(iplen >> 8), ip[3] = (uint8_t)iplen;
		ip[8] = 64;
		ip[9] = p->proto;
		memcpy(ip + 12, s, 4);
		memcpy(ip + 16, d, 4);
		uint16_t c = fold(sum16(ip, 20, 0));
		ip[10] = (uint8_t)(c >> 8), ip[11] = (uint8_t)c;
	} else {
		iplen = 40 + l4len;
		memset(ip, 0, 8);
		ip[0] = 0x60;
		ip[4] = (uint8_t)(l4len >> 8), ip[5] = (uint8_t)l4len;
		ip[6] = p->proto;
		ip[7] = 64;
		memcpy(ip + 8, s, 16);
		memcpy(ip + 24, d, 16);
	}
	/* Checksums, as a real stack would have them. */
	uint32_t ph = 0;
	if (v4) {
		ph = sum16(s, 4, sum16(d, 4, 0)) + p->proto + (uint32_t)l4len;
	} else {
		ph = sum16(s, 16, sum16(d, 16, 0)) + p->proto + (uint32_t)l4len;
	}
	int coff = -1;
	bool pseudo = true;
	if (p->proto == IPPROTO_TCP)
		coff = 16;
	else if (p->proto == IPPROTO_UDP)
		coff = 6;
	else if (p->proto == IPPROTO_ICMPV6)
		coff = 2;
	else if (p->proto == IPPROTO_ICMP)
		coff = 2, pseudo = false;
	else if (p->proto != IPPROTO_SCTP && p->proto != IPPROTO_GRE && p->proto != IPPROTO_ESP)
		/* The kernel answers a packet of a protocol it does not know
		 * with an ICMP error only when its payload sums as a checksum
		 * would (nf_reject_verify_csum): give it one, in bytes 2-3. */
		coff = 2, pseudo = !v4;
	if (coff >= 0) {
		uint16_t c = fold(sum16(l4, l4len, pseudo ? ph : 0));
		if (p->proto == IPPROTO_UDP && c == 0)
			c = 0xffff;
		l4[coff] = (uint8_t)(c >> 8), l4[coff + 1] = (uint8_t)c;
	}
	if (p->proto == IPPROTO_SCTP) {
		uint32_t c = crc32c(l4, l4len);
		memcpy(l4 + 8, &c, 4); /* little-endian on the wire, as SCTP has it */
	}
	return 14 + iplen;
}

/* Destinations the kernel would not forward at all, and the test's own. */
static bool routable(const struct pol_facts *f)
{
	const uint8_t *d = f->dst;
	if (f->family == 4) {
		if (d[0] == 0 || d[0] == 127 || d[0] >= 224 || (d[0] == 169 && d[1] == 254) ||
		    (d[0] == 100 && (d[1] == 64 || d[1] == 127)))
			return false;
		return true;
	}
	static const uint8_t zero[12];
	if (!memcmp(d, zero, 12) || d[0] == 0xff || (d[0] == 0xfe && (d[1] & 0xc0) == 0x80))
		return false;
	if (!memcmp(d, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12))
		return false;
	if (d[0] == 0xfd && (d[1] == 0x64 || d[1] == 0x7f))
		return false;
	return true;
}

/* ICMP under the other family's number (an IPv4 packet of protocol 58, an
 * IPv6 packet of protocol 1): conntrack follows ICMP by its number and
 * calls these invalid, and what conntrack cannot follow the nft engine
 * drops (fail closed), whatever the policy says.  The evaluator counts
 * them as icmp; the eBPF and DPDK engines pass them by the policy. */
static bool conntrack_refuses(const struct pol_facts *f)
{
	return (f->family == 4 && f->proto == IPPROTO_ICMPV6) ||
	       (f->family == 6 && f->proto == IPPROTO_ICMP);
}

/* --- capture ----------------------------------------------------------------- */

static int packet_socket(const char *ns)
{
	if (enter(ns) < 0)
		return -1;
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (fd >= 0) {
		struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
					   .sll_ifindex = (int)if_nametoindex("eth0") };
		if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
			close(fd);
			fd = -1;
		}
	}
	enter(NULL);
	return fd;
}

static int send_frame(int fd, const uint8_t *f, size_t n)
{
	return send(fd, f, n, 0) == (ssize_t)n ? 0 : -errno;
}

/* What one side saw of a packet, by its unique source address. */
enum seen { SEEN_PASS = 1, SEEN_REJECT = 2, SEEN_REPLY = 4 };

struct slot {
	struct pkt p;
	struct pol_facts f;
	struct pol_verdict v;
	uint8_t seen;
	bool sent, unsolicited;
};

/* The number of device address a (family f), or -1. */
static int addr_number(uint8_t f, const uint8_t *a)
{
	if (f == 4) {
		if (a[0] != 100 || a[1] != 64 || a[2] == 0 || a[3] == 0 || a[3] > 250)
			return -1;
		return (a[2] - 1) * 250 + (a[3] - 1);
	}
	static const uint8_t pfx[14] = { 0xfd, 0x64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	if (memcmp(a, pfx, 14))
		return -1;
	return a[14] << 8 | a[15];
}

struct batch {
	struct slot *v;
	unsigned n;
	unsigned base4, base6; /* the address numbers of the batch's first */
	int *idx4, *idx6;      /* address number - base -> slot */
};

static int slot_of(const struct batch *b, uint8_t fam, const uint8_t *addr)
{
	int a = addr_number(fam, addr);
	unsigned base = fam == 4 ? b->base4 : b->base6;
	if (a < 0 || (unsigned)a < base || (unsigned)a - base >= MAX_ADDRS)
		return -1;
	return (fam == 4 ? b->idx4 : b->idx6)[(unsigned)a - base];
}

/* Drains fd, marking slots; from_wan: what the WAN side saw. */
static unsigned drain(int fd, struct batch *b, bool at_wan)
{
	uint8_t buf[2048];
	unsigned got = 0;
	for (;;) {
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (n < 0)
			break;
		if (from.sll_pkttype == PACKET_OUTGOING || n < 14 + 20)
			continue;
		got++;
		uint16_t et = (uint16_t)(buf[12] << 8 | buf[13]);
		const uint8_t *ip = buf + 14;
		uint8_t fam, proto;
		const uint8_t *src, *dst, *l4;
		if (et == 0x0800 && (ip[0] >> 4) == 4) {
			fam = 4, proto = ip[9], src = ip + 12, dst = ip + 16, l4 = ip + (ip[0] & 15) * 4;
		} else if (et == 0x86dd && n >= 14 + 40) {
			fam = 6, proto = ip[6], src = ip + 8, dst = ip + 24, l4 = ip + 40;
		} else {
			continue;
		}
		if (at_wan) {
			int s = slot_of(b, fam, src);
			if (s >= 0)
				b->v[s].seen |= SEEN_PASS;
			continue;
		}
		int s = slot_of(b, fam, dst);
		if (s < 0)
			continue;
		struct slot *sl = &b->v[s];
		bool rst = proto == IPPROTO_TCP && (l4[13] & 0x04);
		bool unreach = (fam == 4 && proto == IPPROTO_ICMP && l4[0] == 3) ||
			       (fam == 6 && proto == IPPROTO_ICMPV6 && l4[0] == 1);
		if (rst || unreach)
			sl->seen |= SEEN_REJECT;
		else
			sl->seen |= SEEN_REPLY;
	}
	return got;
}

static void settle(int lan, int wan, struct batch *b)
{
	/* Until nothing more arrives for 120 ms (at most 2 s). */
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p[2] = { { lan, POLLIN, 0 }, { wan, POLLIN, 0 } };
		int r = poll(p, 2, 120);
		unsigned got = 0;
		got += drain(lan, b, false);
		got += drain(wan, b, true);
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((r == 0 && got == 0) || t.tv_sec - t0.tv_sec > 2)
			return;
	}
}

/* --- the test ----------------------------------------------------------------- */

static const char *action_word(uint8_t a)
{
	return a == POL_ALLOW ? "allow" : a == POL_BLOCK ? "block" : "reject";
}

static const char *fate_word(uint8_t seen)
{
	if ((seen & SEEN_PASS) && (seen & SEEN_REJECT))
		return "passed and rejected";
	return seen & SEEN_PASS ? "passed" : seen & SEEN_REJECT ? "rejected" : "dropped";
}

static void describe(const struct pol_ir *ir, const struct slot *s, FILE *o)
{
	char d[INET6_ADDRSTRLEN], src[INET6_ADDRSTRLEN];
	int af = s->f.family == 4 ? AF_INET : AF_INET6;
	inet_ntop(af, s->f.dst, d, sizeof(d));
	inet_ntop(af, s->p.src, src, sizeof(src));
	fprintf(o, "  packet: mac %02x:%02x:%02x:%02x:%02x:%02x (%s) src %s dst %s proto %u "
		"dport %u domain_sets %#" PRIx64 " when day %u minute %u\n", s->p.mac[0],
		s->p.mac[1], s->p.mac[2], s->p.mac[3], s->p.mac[4], s->p.mac[5],
		s->f.device == POL_NONE ? "new device" : pol_ir_str(ir, ir->devices[s->f.device].name),
		src, d, s->f.proto, s->f.dport, s->f.domain_sets, s->f.when.wday, s->f.when.minute);
	const char *rule = s->v.rule == POL_RULE_DEFAULT ? "default" :
			   s->v.rule == POL_RULE_DEFAULT_NEW ? "default new" :
			   pol_ir_str(ir, ir->rules[s->v.rule].name);
	fprintf(o, "  evaluator: %s (rule %s)\n", action_word(s->v.action), rule);
}

struct stats {
	unsigned sent, replies, unsolicited, mismatches, refused;
	unsigned fate[3];
};

static int compile_image(const char *text, const void **img, size_t *size, struct pol_unit **u)
{
	if (pol_compile("random.gw", text, strlen(text), POL_F_NO_FILES, u) < 0 ||
	    pol_unit_errors(*u) || pol_unit_image(*u, img, size) < 0)
		return -1;
	return 0;
}

static void one_batch(struct gwd_engine *e, const struct pol_ir *ir, const char *text,
		      const struct rp_model *model, struct rp_rng *rng, struct pol_when when,
		      unsigned npkts, int lan, int wan, unsigned *next4, unsigned *next6,
		      struct stats *st)
{
	char err[512];
	uint64_t *mask = calloc(ir->nrules / 64 + 1, sizeof(uint64_t));
	struct batch b = { .base4 = *next4, .base6 = *next6 };
	b.v = calloc(npkts + npkts / 8 + 1, sizeof(*b.v));
	b.idx4 = malloc(MAX_ADDRS * sizeof(int));
	b.idx6 = malloc(MAX_ADDRS * sizeof(int));
	struct gwd_domain_entry *dom = calloc(npkts, sizeof(*dom));
	size_t ndom = 0;
	if (!mask || !b.v || !b.idx4 || !b.idx6 || !dom)
		abort();
	for (unsigned i = 0; i < MAX_ADDRS; i++)
		b.idx4[i] = b.idx6[i] = -1;
	pol_active_rules(ir, when, mask);
	if (e->ops->set_active(e, mask, ir->nrules, err, sizeof(err)) < 0) {
		fprintf(stderr, "set_active: %s\n", err);
		exit(1);
	}
	/* The packets: each destination's domain sets are the packet's. */
	while (b.n < npkts) {
		struct slot *s = &b.v[b.n];
		rp_packet(rng, ir, s->p.mac, &s->f);
		s->f.when = when;
		if (!routable(&s->f))
			continue;
		bool clash = false;
		for (size_t k = 0; k < ndom && !clash; k++)
			clash = dom[k].family == s->f.family &&
				!memcmp(dom[k].addr, s->f.dst, s->f.family == 4 ? 4 : 16);
		for (unsigned k = 0; k < b.n && !clash; k++)
			clash = b.v[k].f.family == s->f.family &&
				!memcmp(b.v[k].f.dst, s->f.dst, 16) &&
				b.v[k].f.domain_sets != s->f.domain_sets;
		if (clash)
			continue;
		if (s->f.domain_sets) {
			dom[ndom].family = s->f.family;
			memcpy(dom[ndom].addr, s->f.dst, 16);
			dom[ndom].ttl_s = 3600;
			dom[ndom].sets = s->f.domain_sets;
			ndom++;
		}
		s->p.family = s->f.family;
		s->p.proto = s->f.proto;
		s->p.dport = s->f.dport;
		s->p.sport = (uint16_t)(1024 + rp_below(rng, 60000));
		s->p.icmp_id = (uint16_t)rp_below(rng, 65536);
		memcpy(s->p.dst, s->f.dst, 16);
		unsigned a = s->f.family == 4 ? (*next4)++ : (*next6)++;
		if (a >= MAX_ADDRS) {
			fprintf(stderr, "out of source addresses\n");
			exit(1);
		}
		if (s->f.family == 4) {
			uint8_t src[4] = { 100, 64, (uint8_t)(1 + a / 250), (uint8_t)(1 + a % 250) };
			memcpy(s->p.src, src, 4);
			b.idx4[a - b.base4] = (int)b.n;
		} else {
			static const uint8_t pfx[14] = { 0xfd, 0x64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
			memcpy(s->p.src, pfx, 14);
			s->p.src[14] = (uint8_t)(a >> 8), s->p.src[15] = (uint8_t)a;
			b.idx6[a - b.base6] = (int)b.n;
		}
		/* Schedules by the model's plain table of the week, not by
		 * pol_schedule_active, which the engine's mask comes from. */
		if (!rp_reference(ir, model, &s->f, &s->v)) {
			fprintf(stderr, "when %u/%u: the evaluator and the schedules as written "
				"disagree:\n%s", when.wday, when.minute, text);
			exit(1);
		}
		b.n++;
	}
	if (ndom && e->ops->set_domains(e, dom, ndom, err, sizeof(err)) < 0) {
		fprintf(stderr, "set_domains: %s\n", err);
		exit(1);
	}
	/* From the LAN side. */
	uint8_t fr[256];
	for (unsigned i = 0; i < b.n; i++) {
		struct slot *s = &b.v[i];
		size_t len = frame(&s->p, OPEN, GW_LAN_MAC, s->p.mac, fr);
		if (send_frame(lan, fr, len) < 0) {
			fprintf(stderr, "send: %s\n", strerror(errno));
			exit(1);
		}
		s->sent = true;
		st->sent++;
		if (i % 16 == 15) {
			drain(lan, &b, false);
			drain(wan, &b, true);
			usleep(2000);
		}
	}
	settle(lan, wan, &b);
	/* From the WAN side: the replies, and packets nobody asked for. */
	unsigned first_extra = b.n;
	for (unsigned i = 0; i < first_extra; i++) {
		struct slot *s = &b.v[i];
		if (!(s->seen & SEEN_PASS) || s->p.proto == IPPROTO_SCTP)
			continue;
		size_t len = frame(&s->p, REPLY, GW_WAN_MAC, WAN_MAC, fr);
		send_frame(wan, fr, len);
		st->replies++;
	}
	for (unsigned k = 0; k < npkts / 8; k++) {
		struct slot *s = &b.v[b.n];
		struct pkt *p = &s->p;
		p->family = rp_below(rng, 2) ? 4 : 6;
		static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, 253 };
		p->proto = protos[rp_below(rng, 4)];
		if (p->proto == IPPROTO_ICMP && p->family == 6)
			p->proto = IPPROTO_ICMPV6;
		p->sport = (uint16_t)(1 + rp_below(rng, 65535));
		p->dport = (uint16_t)(1 + rp_below(rng, 65535));
		unsigned a = p->family == 4 ? (*next4)++ : (*next6)++;
		if (p->family == 4) {
			uint8_t dev[4] = { 100, 64, (uint8_t)(1 + a / 250), (uint8_t)(1 + a % 250) };
			uint8_t far[4] = { 198, 18, (uint8_t)k, 7 };
			memcpy(p->src, dev, 4);
			memcpy(p->dst, far, 4);
			b.idx4[a - b.base4] = (int)b.n;
		} else {
			static const uint8_t pfx[14] = { 0xfd, 0x64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
			memcpy(p->src, pfx, 14);
			p->src[14] = (uint8_t)(a >> 8), p->src[15] = (uint8_t)a;
			static const uint8_t far[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0x99 };
			memcpy(p->dst, far, 16);
			p->dst[15] = (uint8_t)k;
			b.idx6[a - b.base6] = (int)b.n;
		}
		/* A new flow from the WAN to a LAN device. */
		s->unsolicited = true;
		size_t len = frame(p, FROM_FAR, GW_WAN_MAC, WAN_MAC, fr);
		send_frame(wan, fr, len);
		st->unsolicited++;
		b.n++;
	}
	settle(lan, wan, &b);
	for (unsigned i = 0; i < b.n; i++) {
		struct slot *s = &b.v[i];
		const char *want, *got;
		bool bad;
		if (s->unsolicited) {
			bad = s->seen & SEEN_REPLY;
			want = "dropped (not asked for)";
			got = bad ? "reached the LAN" : "dropped";
		} else {
			uint8_t fate = s->seen & (SEEN_PASS | SEEN_REJECT);
			uint8_t expect = s->v.action == POL_ALLOW ? SEEN_PASS :
					 s->v.action == POL_REJECT ? SEEN_REJECT : 0;
			want = s->v.action == POL_ALLOW ? "passed" :
			       s->v.action == POL_REJECT ? "rejected" : "dropped";
			if (conntrack_refuses(&s->f)) {
				expect = 0;
				want = "dropped (conntrack calls it invalid)";
				st->refused++;
			}
			bad = fate != expect;
			st->fate[fate == SEEN_PASS ? 0 : fate == SEEN_REJECT ? 2 : 1]++;
			got = fate_word(s->seen);
			if (!bad && fate == SEEN_PASS && s->p.proto != IPPROTO_SCTP &&
			    !(s->seen & SEEN_REPLY)) {
				bad = true;
				want = "its reply to reach the LAN";
				got = "the reply was dropped";
			}
		}
		if (!bad)
			continue;
		if (++st->mismatches <= 5) {
			fprintf(stderr, "MISMATCH: expected %s, got %s\n", want, got);
			if (!s->unsolicited)
				describe(ir, s, stderr);
			fprintf(stderr, "--- the policy:\n%s---\n", text);
		}
	}
	/* The destinations leave the domain sets before the next batch. */
	for (size_t k = 0; k < ndom; k++)
		dom[k].sets = 0;
	if (ndom && e->ops->set_domains(e, dom, ndom, err, sizeof(err)) < 0) {
		fprintf(stderr, "set_domains: %s\n", err);
		exit(1);
	}
	free(dom);
	free(mask);
	free(b.v);
	free(b.idx4);
	free(b.idx6);
}

int main(int argc, char **argv)
{
	if (geteuid() != 0)
		return gwtest_cannot_run("needs root");
	if (run("ip -V") != 0)
		return gwtest_cannot_run("no ip(8)");
	uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 0x6e667464u;
	unsigned policies = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 24;
	ns_home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	remove_leftovers();
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	setup();

	struct gwd_config cfg;
	gwd_config_defaults(&cfg);
	snprintf(cfg.state_dir, sizeof(cfg.state_dir), "%s", workdir);
	snprintf(cfg.nft_ports[0], sizeof(cfg.nft_ports[0]), "kp0");
	cfg.nnft_ports = 1;
	snprintf(cfg.wan_ports[0], sizeof(cfg.wan_ports[0]), "up0");
	cfg.nwan_ports = 1;
	cfg.nat_lo = cfg.nat_hi = 0; /* addresses as sent: the sides see them */
	char err[1024];
	struct gwd_guard *g = NULL;
	struct gwd_engine *e = NULL;
	must(enter(ns_gw), "enter the gateway");
	if (gwd_guard_new(NULL, &cfg, &g, err, sizeof(err)) < 0 ||
	    gwd_engine_nft_new(NULL, &cfg, NULL, &e, err, sizeof(err)) < 0) {
		fprintf(stderr, "the nft engine: %s\n", err);
		return 1;
	}
	enter(NULL);
	int lan = packet_socket(ns_lan), wan = packet_socket(ns_wan);
	if (lan < 0 || wan < 0) {
		fprintf(stderr, "packet sockets: %s\n", strerror(errno));
		return 1;
	}

	struct rp_rng rng = { seed };
	struct stats st = { 0 };
	unsigned next4 = 0, next6 = 0;
	for (unsigned pi = 0; pi < policies; pi++) {
		unsigned size = pi % 6;
		struct rp_shape shape = { .rules = 2 + size * 6, .devices = 1 + size * 2,
					  .lists = size, .narrow = pi % 5 == 4 };
		if (pi % 12 == 11) /* a bigger household now and then */
			shape = (struct rp_shape){ .rules = 150, .devices = 40, .lists = 16 };
		struct rp_model model;
		char *text = rp_policy_model(&rng, &shape, &model);
		struct pol_unit *u = NULL;
		const void *img;
		size_t size_img;
		if (compile_image(text, &img, &size_img, &u) < 0) {
			if (u)
				pol_unit_render_diags(u, stderr);
			fprintf(stderr, "the generator's policy does not compile:\n%s", text);
			return 1;
		}
		struct pol_ir *ir;
		if (pol_image_load(img, size_img, &ir, err, sizeof(err)) < 0) {
			fprintf(stderr, "image: %s\n", err);
			return 1;
		}
		must(enter(ns_gw), "enter the gateway");
		if (e->ops->prepare(e, pi + 1, img, size_img, ir, err, sizeof(err)) < 0 ||
		    e->ops->commit(e, err, sizeof(err)) < 0) {
			fprintf(stderr, "the nft engine refused generation %u: %s\n--- the policy:\n%s",
				pi + 1, err, text);
			return 1;
		}
		for (unsigned w = 0; w < 2; w++) {
			struct pol_when when = { (uint8_t)rp_below(&rng, 7),
						 (uint16_t)rp_below(&rng, 1440) };
			if (ir->nwindows && rp_below(&rng, 2)) {
				const struct pol_window *win = &ir->windows[rp_below(&rng, ir->nwindows)];
				int v[] = { win->start_min, win->start_min - 1, win->end_min,
					    win->end_min - 1 };
				int m = v[rp_below(&rng, 4)];
				when.minute = (uint16_t)(m < 0 ? 0 : m > 1439 ? 1439 : m);
			}
			one_batch(e, ir, text, &model, &rng, when, 120, lan, wan, &next4, &next6,
				  &st);
		}
		enter(NULL);
		pol_ir_free(ir);
		pol_unit_free(u);
		rp_model_free(&model);
		free(text);
		if (st.mismatches > 5)
			break;
	}
	printf("nft-diff: %u policies, %u packets from the LAN side (passed %u, dropped %u, "
	       "rejected %u; %u cross-family ICMP that conntrack refuses), %u replies and %u "
	       "unsolicited from the WAN side, %u mismatches\n", policies, st.sent, st.fate[0],
	       st.fate[1], st.fate[2], st.refused, st.replies, st.unsolicited, st.mismatches);
	enter(ns_gw);
	e->ops->free(e);
	gwd_guard_free(g);
	enter(NULL);
	close(lan);
	close(wan);
	if (st.sent < 5000 && policies >= 24) {
		fprintf(stderr, "only %u packets were sent (at least 5000)\n", st.sent);
		return 1;
	}
	return st.mismatches ? 1 : 0;
}
