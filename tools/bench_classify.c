/* SPDX-License-Identifier: MIT */
/*
 * gw-bench-classify: the fast path's classifier alone (dp_classify_flow),
 * on the dataplane bench's traffic and policies (tools/bench-dataplane.py
 * case 2 runs it; not a test).
 *
 *   gw-bench-classify [--rounds R] [--repeat N] LAN.pcap IMAGE...
 *
 * Every frame of LAN.pcap (gw-dp-traffic's LAN side: one first packet a
 * flow) is parsed with the fast path's parser (dp_parse) into what
 * classification looks at, as the pipeline does for a new flow; each
 * IMAGE (dp-mkimage) is loaded as gw-dataplane loads it
 * (dp_classify_load).  Then R rounds (default 9), the images taking turns
 * in an order that rotates each round: each image classifies every flow
 * of the file N times (default 1) in the file's order (devices and
 * destinations interleaved, as on the link), timed by this thread's CPU
 * clock (CLOCK_THREAD_CPUTIME_ID: a loaded host's run-queue waits left
 * out).  Prints each image's load time (dp_classify_load: reading the
 * file, pol_image_load and dp_classify_new, wall clock), one line per
 * round and image, then per image
 *
 *   image=PATH rules=N ns_per_flow=MEDIAN min=.. max=.. last_rule=SHARE
 *
 * (last_rule: the share of flows the policy's last rule decided; the
 * bench's policies are made so that it is 1).  Exit 0, 1 on an error,
 * 2 on bad arguments.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pcap/pcap.h>

#include "classify.h"
#include "parse.h"

#define MAX_IMAGES 8
#define MAX_ROUNDS 101

static int usage(void)
{
	fputs("usage: gw-bench-classify [--rounds R] [--repeat N] LAN.pcap IMAGE...\n", stderr);
	return 2;
}

static double thread_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The flows' first packets, as the pipeline hands them to the classifier. */
static int read_flows(const char *path, struct dp_classify_in **ret, size_t *ret_n)
{
	char err[PCAP_ERRBUF_SIZE];
	pcap_t *pc = pcap_open_offline(path, err);
	if (!pc) {
		fprintf(stderr, "gw-bench-classify: %s: %s\n", path, err);
		return -1;
	}
	struct dp_classify_in *v = NULL;
	size_t n = 0, cap = 0;
	struct pcap_pkthdr *h;
	const u_char *data;
	int r, rc = -1;
	while ((r = pcap_next_ex(pc, &h, &data)) == 1) {
		struct dp_pkt p;
		if (dp_parse(data, h->caplen, &p) != 0 || (p.family != 4 && p.family != 6))
			continue;
		if (n == cap) {
			size_t c = cap ? 2 * cap : 4096;
			struct dp_classify_in *nv = realloc(v, c * sizeof(*nv));
			if (!nv) {
				fputs("gw-bench-classify: out of memory\n", stderr);
				goto out;
			}
			v = nv;
			cap = c;
		}
		struct dp_classify_in *ci = &v[n++];
		*ci = (struct dp_classify_in){ .family = p.family, .proto = p.proto };
		memcpy(ci->mac, data + 6, 6); /* the source MAC */
		memcpy(ci->dst, p.dst, 16);
		ci->dport = p.proto == 6 || p.proto == 17 ? p.dport : 0;
	}
	if (r != PCAP_ERROR_BREAK) {
		fprintf(stderr, "gw-bench-classify: %s: %s\n", path, pcap_geterr(pc));
		goto out;
	}
	if (!n) {
		fprintf(stderr, "gw-bench-classify: %s: no IP packets\n", path);
		goto out;
	}
	*ret = v;
	*ret_n = n;
	v = NULL;
	rc = 0;
out:
	free(v);
	pcap_close(pc);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rounds", required_argument, NULL, 'r' },
		{ "repeat", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned rounds = 9, repeat = 1;
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'r': rounds = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'n': repeat = (unsigned)strtoul(optarg, NULL, 10); break;
		default: return usage();
		}
	}
	int nimg = argc - optind - 1;
	if (nimg < 1 || nimg > MAX_IMAGES || !rounds || rounds > MAX_ROUNDS || !repeat)
		return usage();

	struct dp_classify_in *flows = NULL;
	size_t nflows = 0;
	if (read_flows(argv[optind], &flows, &nflows) < 0)
		return 1;
	struct dp_classify *c[MAX_IMAGES] = { NULL };
	int rc = 1;
	for (int i = 0; i < nimg; i++) {
		char err[256];
		const char *path = argv[optind + 1 + i];
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (dp_classify_load(path, 1, &c[i], err, sizeof(err)) < 0) {
			fprintf(stderr, "gw-bench-classify: %s: %s\n", path, err);
			goto out;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		printf("load image=%s ms=%.2f\n", path,
		       (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	}
	static double ns[MAX_IMAGES][MAX_ROUNDS];
	uint64_t last[MAX_IMAGES] = { 0 };
	printf("flows=%zu images=%d rounds=%u repeat=%u\n", nflows, nimg, rounds, repeat);
	for (unsigned t = 0; t < rounds; t++) {
		for (int k = 0; k < nimg; k++) {
			int i = (int)((t + (unsigned)k) % (unsigned)nimg);
			uint32_t lastrule = dp_classify_nrules(c[i]) - 1;
			uint64_t hit = 0;
			double t0 = thread_ns();
			for (unsigned n = 0; n < repeat; n++) {
				for (size_t f = 0; f < nflows; f++) {
					struct dp_verdict v;
					dp_classify_flow(c[i], &flows[f], &v);
					hit += v.rule == lastrule;
				}
			}
			ns[i][t] = (thread_ns() - t0) / ((double)nflows * repeat);
			last[i] = hit;
			printf("round=%u image=%s ns_per_flow=%.2f\n", t + 1, argv[optind + 1 + i],
			       ns[i][t]);
		}
	}
	for (int i = 0; i < nimg; i++) {
		qsort(ns[i], rounds, sizeof(double), cmp_double);
		printf("image=%s rules=%u ns_per_flow=%.2f min=%.2f max=%.2f last_rule=%.3f\n",
		       argv[optind + 1 + i], dp_classify_nrules(c[i]), ns[i][rounds / 2], ns[i][0],
		       ns[i][rounds - 1], (double)last[i] / ((double)nflows * repeat));
	}
	rc = 0;
out:
	for (int i = 0; i < nimg; i++)
		dp_classify_free(c[i]);
	free(flows);
	return rc;
}
