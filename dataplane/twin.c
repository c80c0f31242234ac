/* SPDX-License-Identifier: MIT */
/*
 * The TAP twins (see twin.h).  A plain TAP file descriptor rather than
 * DPDK's net_tap PMD: the PMD would make every worker poll the TAP with a
 * read() system call per loop and write() per punted packet, and it adds
 * tc qdiscs and rules of its own to the interface.  Here the workers only
 * touch two rte_rings; the main lcore does the system calls.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_ring.h>

#include "twin.h"

/* Ring sizes (a power of two; one slot stays free).  Towards the kernel,
 * a burst of ARP or a flood to the gateway beyond this is dropped and
 * counted, never waited for. */
#define RING_SIZE 1024u
/* Frames read from one TAP per poll, so a chatty kernel cannot starve the
 * main lcore's other duties; and frames of the ordinary ring written per
 * poll, the urgent ring looked at again between their batches. */
#define READ_BUDGET 256
#define WRITE_BUDGET 512u
#define BURST 32u

struct dp_twin {
	int fd;
	int ifindex;
	char name[IFNAMSIZ];
	struct rte_mempool *pool;
	struct rte_ring *urgent;    /* MP enqueue (workers), SC dequeue (main) */
	struct rte_ring *to_kernel; /* the same, for the rest */
	struct rte_ring *to_port;   /* SP enqueue (main), MC dequeue (workers) */
	struct dp_twin_stats stats;
};

static int ifreq_ioctl(unsigned long req, struct ifreq *ifr)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	int r = ioctl(s, req, ifr) < 0 ? -errno : 0;
	close(s);
	return r;
}

int dp_twin_new(const char *name, const uint8_t mac[6], struct rte_mempool *pool,
		struct dp_twin **ret)
{
	struct dp_twin *t;
	struct ifreq ifr;
	char rname[RTE_RING_NAMESIZE];
	int r;
	if (!name[0] || strlen(name) >= IFNAMSIZ)
		return -EINVAL;
	t = rte_zmalloc("dp_twin", sizeof(*t), 0);
	if (!t)
		return -ENOMEM;
	t->fd = -1;
	t->pool = pool;
	snprintf(t->name, sizeof(t->name), "%s", name);
	/* The TAP first: a name in use is -EBUSY from the kernel, whoever
	 * holds it. */
	t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (t->fd < 0) {
		r = -errno;
		goto fail;
	}
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, t->name, strlen(t->name));
	/* No packet-information header, no offloads: the kernel hands us
	 * whole frames with finished checksums, ready for the wire. */
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
		r = -errno;
		goto fail;
	}
	/* The kernel's ARP and ND answers must carry the port's MAC. */
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, t->name, strlen(t->name));
	ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
	memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
	r = ifreq_ioctl(SIOCSIFHWADDR, &ifr);
	if (r < 0)
		goto fail;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, t->name, strlen(t->name));
	r = ifreq_ioctl(SIOCGIFFLAGS, &ifr);
	if (r < 0)
		goto fail;
	ifr.ifr_flags |= IFF_UP;
	r = ifreq_ioctl(SIOCSIFFLAGS, &ifr);
	if (r < 0)
		goto fail;
	r = ifreq_ioctl(SIOCGIFINDEX, &ifr);
	if (r < 0)
		goto fail;
	t->ifindex = ifr.ifr_ifindex;
	snprintf(rname, sizeof(rname), "twu_%s", name);
	t->urgent = rte_ring_create(rname, RING_SIZE, (int)rte_socket_id(), RING_F_SC_DEQ);
	snprintf(rname, sizeof(rname), "twk_%s", name);
	t->to_kernel = rte_ring_create(rname, RING_SIZE, (int)rte_socket_id(), RING_F_SC_DEQ);
	snprintf(rname, sizeof(rname), "twp_%s", name);
	t->to_port = rte_ring_create(rname, RING_SIZE, (int)rte_socket_id(), RING_F_SP_ENQ);
	if (!t->urgent || !t->to_kernel || !t->to_port) {
		r = -rte_errno;
		goto fail;
	}
	*ret = t;
	return 0;
fail:
	dp_twin_free(t);
	return r;
}

void dp_twin_free(struct dp_twin *t)
{
	struct rte_mbuf *ms[BURST];
	unsigned n;
	if (!t)
		return;
	if (t->fd >= 0)
		close(t->fd);
	struct rte_ring *rings[] = { t->urgent, t->to_kernel };
	for (unsigned i = 0; i < RTE_DIM(rings); i++) {
		if (!rings[i])
			continue;
		while ((n = rte_ring_dequeue_burst(rings[i], (void **)ms, BURST, NULL)))
			rte_pktmbuf_free_bulk(ms, n);
		rte_ring_free(rings[i]);
	}
	if (t->to_port) {
		while ((n = rte_ring_dequeue_burst(t->to_port, (void **)ms, BURST, NULL)))
			rte_pktmbuf_free_bulk(ms, n);
		rte_ring_free(t->to_port);
	}
	rte_free(t);
}

int dp_twin_ifindex(const struct dp_twin *t)
{
	return t->ifindex;
}

const char *dp_twin_name(const struct dp_twin *t)
{
	return t->name;
}

int dp_twin_fd(const struct dp_twin *t)
{
	return t->fd;
}

const struct dp_twin_stats *dp_twin_stats(const struct dp_twin *t)
{
	return &t->stats;
}

bool dp_twin_punt(struct dp_twin *t, struct rte_mbuf *m, bool urgent)
{
	return rte_ring_mp_enqueue(urgent ? t->urgent : t->to_kernel, m) == 0;
}

unsigned dp_twin_take(struct dp_twin *t, struct rte_mbuf **ms, unsigned n)
{
	return rte_ring_mc_dequeue_burst(t->to_port, (void **)ms, n, NULL);
}

/* Up to max frames of one ring to the TAP; how many it took. */
static unsigned write_ring(struct dp_twin *t, struct rte_ring *r, unsigned max, bool urgent)
{
	struct rte_mbuf *ms[BURST];
	unsigned n, done = 0;
	while (done < max &&
	       (n = rte_ring_sc_dequeue_burst(r, (void **)ms, RTE_MIN(BURST, max - done), NULL))) {
		for (unsigned i = 0; i < n; i++) {
			/* Punted mbufs are single-segment (the pipeline drops
			 * the others first). */
			uint16_t len = rte_pktmbuf_data_len(ms[i]);
			ssize_t w = write(t->fd, rte_pktmbuf_mtod(ms[i], void *), len);
			if (w == (ssize_t)len) {
				t->stats.to_kernel++;
				t->stats.urgent += urgent;
			} else {
				t->stats.to_kernel_err++;
			}
		}
		rte_pktmbuf_free_bulk(ms, n);
		done += n;
	}
	return done;
}

void dp_twin_poll(struct dp_twin *t)
{
	/* Workers' punts: all that waits on the urgent ring, then a batch of
	 * the rest, the urgent ring again between batches; a flood that got
	 * past its policer waits (and overflows its own ring), ARP does not. */
	for (unsigned budget = RING_SIZE; budget; ) {
		write_ring(t, t->urgent, RING_SIZE, true);
		unsigned n = write_ring(t, t->to_kernel, RTE_MIN(budget, WRITE_BUDGET), false);
		if (n < RTE_MIN(budget, WRITE_BUDGET))
			break;
		budget -= n;
	}
	for (unsigned i = 0; i < READ_BUDGET; i++) {
		if (rte_ring_free_count(t->to_port) == 0)
			break; /* leave it in the TAP's queue until a worker caught up */
		struct rte_mbuf *m = rte_pktmbuf_alloc(t->pool);
		if (!m) {
			t->stats.from_kernel_drop++;
			break;
		}
		uint16_t room = rte_pktmbuf_tailroom(m);
		ssize_t got = read(t->fd, rte_pktmbuf_mtod(m, void *), room);
		if (got <= 0) { /* EAGAIN: nothing more */
			rte_pktmbuf_free(m);
			break;
		}
		/* Shorter than an Ethernet header, or as long as the buffer
		 * (cut short): not a frame to put on the wire. */
		if (got < 14 || got >= room) {
			t->stats.from_kernel_drop++;
			rte_pktmbuf_free(m);
			continue;
		}
		rte_pktmbuf_append(m, (uint16_t)got);
		if (rte_ring_sp_enqueue(t->to_port, m) != 0) {
			t->stats.from_kernel_drop++;
			rte_pktmbuf_free(m);
			continue;
		}
		t->stats.from_kernel++;
	}
}

/* ------------------------------------------------------------ sysctls */

struct knob {
	const char *family, *key; /* net.FAMILY.conf.TWIN.KEY */
	const char *value;
	bool lan_only;
};

static const struct knob knobs[] = {
	{ "ipv4", "forwarding", "0", true },
	{ "ipv4", "send_redirects", "0", true },
	{ "ipv4", "accept_redirects", "0", false },
	{ "ipv4", "accept_source_route", "0", false },
	{ "ipv4", "arp_ignore", "1", false },
	{ "ipv6", "accept_ra", "0", true },
	{ "ipv6", "accept_redirects", "0", false },
};

int dp_twin_harden(const struct dp_twin *t, bool lan, char *changed, size_t len)
{
	int n = 0;
	if (len)
		changed[0] = '\0';
	for (unsigned i = 0; i < RTE_DIM(knobs); i++) {
		const struct knob *k = &knobs[i];
		char path[128], rel[96], have[16] = "";
		if (k->lan_only && !lan)
			continue;
		snprintf(rel, sizeof(rel), "%s/conf/%s/%s", k->family, t->name, k->key);
		snprintf(path, sizeof(path), "/proc/sys/net/%s", rel);
		int fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT)
				continue; /* IPv6 off in this kernel */
			return -errno;
		}
		ssize_t got = read(fd, have, sizeof(have) - 1);
		if (got > 0 && (size_t)got == strlen(k->value) + 1 &&
		    !strncmp(have, k->value, strlen(k->value))) {
			close(fd);
			continue;
		}
		ssize_t w = pwrite(fd, k->value, strlen(k->value), 0);
		int e = errno;
		close(fd);
		if (w != (ssize_t)strlen(k->value))
			return w < 0 ? -e : -EIO;
		size_t used = strlen(changed);
		if (used < len)
			snprintf(changed + used, len - used, "%snet.%s.conf.%s.%s", n ? "," : "",
				 k->family, t->name, k->key);
		n++;
	}
	return n;
}
