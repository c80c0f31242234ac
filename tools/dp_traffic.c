/* SPDX-License-Identifier: MIT */
/*
 * gw-dp-traffic: the benchmark traffic of the fast path, as two pcap files
 * written with libpcap: what the LAN port receives (N devices' packets to
 * the internet, M flows) and what the WAN port receives (the internet's
 * replies to the NAT address).  Replayed forever by net_pcap
 * (infinite_rx=1), the first pass creates the flows and every later pass
 * is established traffic, both directions.
 *
 *   gw-dp-traffic --devices N --flows M --lan FILE --wan FILE [--seed S]
 *
 * Addresses fit `gw-dataplane --lan-ip 10.0.0.1/16 --wan-ip 100.64.0.2
 * --nat-ports 1024-65535`: device d is 10.0.(d / 250).(d % 250 + 2) with
 * MAC 02:10:00:00:(d >> 8):(d & 255); servers are in 198.18.0.0/15.
 * Flows are half TCP (an ACK mid-stream: no handshake to replay), 40 %
 * UDP and 10 % ICMP echo.  The j-th flow of a protocol has source port
 * (or echo identifier) NAT_LO + j % NAT_PORTS, from a device that depends
 * only on that port, so NAT preserves it and a reply goes to that port;
 * past NAT_PORTS flows of a protocol, the flows of one port are one
 * device's endpoint talking to different servers (one NAT mapping, as
 * endpoint-independent mapping shares it), so millions of flows fit the
 * NAT range.  Sizes follow a common Internet mix: upstream mostly
 * ACKs and small requests, downstream mostly full-size segments (frame
 * bytes: up 60 % 64, 25 % 128-576, 15 % 1514; down 30 % 64, 20 % 576,
 * 50 % 1514).  Flows are interleaved, so consecutive packets hit different
 * flows as on a busy link.  Exit 0, 1 on an error, 2 on bad arguments.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#define NAT_LO 1024
#define NAT_PORTS (65536 - NAT_LO)
#define FRAME_MAX 1514

static const uint8_t lan_port_mac[6] = { 0x02, 0x70, 0x63, 0x61, 0x70, 0x00 }; /* net_pcap0 */
static const uint8_t wan_port_mac[6] = { 0x02, 0x70, 0x63, 0x61, 0x70, 0x01 }; /* net_pcap1 */
static const uint8_t wan_gw_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0xfe };
static const uint8_t wan_ip[4] = { 100, 64, 0, 2 };

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t csum(const uint8_t *p, size_t len)
{
	uint32_t s = 0;
	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		s += (uint32_t)p[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static unsigned size_up(void)
{
	unsigned x = (unsigned)(rnd() % 100);
	return x < 60 ? 64 : x < 85 ? 128 + (unsigned)(rnd() % 449) : FRAME_MAX;
}

static unsigned size_down(void)
{
	unsigned x = (unsigned)(rnd() % 100);
	return x < 30 ? 64 : x < 50 ? 576 : FRAME_MAX;
}

struct flow {
	uint8_t proto;
	uint32_t dev;
	uint8_t server[4];
	uint16_t port;  /* the device's port or echo identifier, NAT-preserved */
	uint16_t sport; /* the server's port */
};

/* One IPv4 frame of len bytes (at least the headers; Ethernet FCS not
 * included), from src:sp to dst:dp. */
static unsigned build(uint8_t *f, unsigned len, const uint8_t dmac[6], const uint8_t smac[6],
		      const uint8_t src[4], const uint8_t dst[4], const struct flow *fl,
		      uint16_t sp, uint16_t dp, int reply)
{
	unsigned l4 = fl->proto == IPPROTO_TCP ? 20 : 8;
	if (len < 14 + 20 + l4)
		len = 14 + 20 + l4;
	memset(f, 0, len);
	memcpy(f, dmac, 6);
	memcpy(f + 6, smac, 6);
	put16(f + 12, 0x0800);
	uint8_t *ip = f + 14, *t = ip + 20;
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(len - 14));
	ip[8] = 64;
	ip[9] = fl->proto;
	memcpy(ip + 12, src, 4);
	memcpy(ip + 16, dst, 4);
	put16(ip + 10, csum(ip, 20));
	switch (fl->proto) {
	case IPPROTO_TCP:
		put16(t, sp);
		put16(t + 2, dp);
		t[12] = 5 << 4;
		t[13] = 0x10; /* ACK */
		break;
	case IPPROTO_UDP:
		put16(t, sp);
		put16(t + 2, dp);
		put16(t + 4, (uint16_t)(len - 34));
		break;
	default:
		t[0] = reply ? 0 : 8; /* echo reply, request */
		put16(t + 4, fl->port);
		break;
	}
	return len;
}

static int usage(void)
{
	fputs("usage: gw-dp-traffic --devices N --flows M --lan FILE --wan FILE [--seed S]\n",
	      stderr);
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "devices", required_argument, NULL, 'd' }, { "flows", required_argument, NULL, 'f' },
		{ "lan", required_argument, NULL, 'l' },     { "wan", required_argument, NULL, 'w' },
		{ "seed", required_argument, NULL, 's' },    { 0 },
	};
	unsigned long ndev = 0, nflows = 0;
	const char *lan_path = NULL, *wan_path = NULL;
	int o;
	rng_state = 1;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'd': ndev = strtoul(optarg, NULL, 10); break;
		case 'f': nflows = strtoul(optarg, NULL, 10); break;
		case 'l': lan_path = optarg; break;
		case 'w': wan_path = optarg; break;
		case 's': rng_state = strtoull(optarg, NULL, 0); break;
		default: return usage();
		}
	}
	/* Ports are unique per protocol: TCP takes half the flows, UDP 40 %. */
	if (!ndev || ndev > 65000 || !nflows || nflows > 16ul << 20 || !lan_path ||
	    !wan_path || optind != argc)
		return usage();

	struct flow *flows = calloc(nflows, sizeof(*flows));
	if (!flows) {
		fputs("gw-dp-traffic: out of memory\n", stderr);
		return 1;
	}
	unsigned long next[3] = { 0, 0, 0 }; /* per protocol: TCP, UDP, ICMP */
	for (unsigned long i = 0; i < nflows; i++) {
		struct flow *fl = &flows[i];
		unsigned k = (unsigned)(i % 10), p = k < 5 ? 0 : k < 9 ? 1 : 2;
		fl->proto = p == 0 ? IPPROTO_TCP : p == 1 ? IPPROTO_UDP : IPPROTO_ICMP;
		unsigned long j = next[p]++, port = j % NAT_PORTS, round = j / NAT_PORTS;
		fl->dev = (uint32_t)(port % ndev);
		/* 198.18.0.0/15; the flows of one port go to different servers. */
		uint64_t h = (port * 3 + p) * 0x9e3779b97f4a7c15ull;
		uint32_t s = (uint32_t)((h >> 40) + 2 * round) % 131072;
		fl->server[0] = 198;
		fl->server[1] = (uint8_t)(18 + (s >> 16));
		fl->server[2] = (uint8_t)(s >> 8);
		fl->server[3] = (uint8_t)(s | 1);
		fl->port = (uint16_t)(NAT_LO + port);
		static const uint16_t services[] = { 443, 443, 443, 80, 53, 123, 993, 8080 };
		fl->sport = fl->proto == IPPROTO_UDP && rnd() % 2 ? 443 /* QUIC */
							      : services[rnd() % 8];
	}

	int rc = 1;
	pcap_t *pc = pcap_open_dead(DLT_EN10MB, 65535);
	pcap_dumper_t *lan = pc ? pcap_dump_open(pc, lan_path) : NULL;
	pcap_dumper_t *wan = lan ? pcap_dump_open(pc, wan_path) : NULL;
	if (!wan) {
		fprintf(stderr, "gw-dp-traffic: %s\n", pc ? pcap_geterr(pc) : "pcap_open_dead");
		goto out;
	}
	uint8_t f[FRAME_MAX];
	uint64_t bytes[2] = { 0, 0 };
	for (unsigned long i = 0; i < nflows; i++) {
		const struct flow *fl = &flows[i];
		uint8_t dmac[6] = { 0x02, 0x10, 0, 0, (uint8_t)(fl->dev >> 8), (uint8_t)fl->dev };
		uint8_t dip[4] = { 10, 0, (uint8_t)(fl->dev / 250), (uint8_t)(fl->dev % 250 + 2) };
		struct pcap_pkthdr h = { .ts = { .tv_sec = (time_t)(i / 1000000),
						 .tv_usec = (suseconds_t)(i % 1000000) } };
		h.len = h.caplen = build(f, size_up(), lan_port_mac, dmac, dip, fl->server, fl,
					 fl->port, fl->sport, 0);
		pcap_dump((u_char *)lan, &h, f);
		bytes[0] += h.len;
		h.len = h.caplen = build(f, size_down(), wan_port_mac, wan_gw_mac, fl->server,
					 wan_ip, fl, fl->sport, fl->port, 1);
		pcap_dump((u_char *)wan, &h, f);
		bytes[1] += h.len;
	}
	if (pcap_dump_flush(lan) || pcap_dump_flush(wan)) {
		fputs("gw-dp-traffic: write error\n", stderr);
		goto out;
	}
	printf("devices=%lu flows=%lu lan_packets=%lu lan_bytes=%lu wan_packets=%lu "
	       "wan_bytes=%lu\n", ndev, nflows, nflows, (unsigned long)bytes[0], nflows,
	       (unsigned long)bytes[1]);
	rc = 0;
out:
	if (wan)
		pcap_dump_close(wan);
	if (lan)
		pcap_dump_close(lan);
	if (pc)
		pcap_close(pc);
	free(flows);
	return rc;
}
