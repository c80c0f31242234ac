/* SPDX-License-Identifier: MIT */
/*
 * gwnft-tool: gwd's nftables pieces driven by hand, for the nft tests.
 *   gwnft-tool guard GWD.CONF     install the guard of that config
 *   gwnft-tool check GWD.CONF     exit 0 when the guard is in place
 *   gwnft-tool drops GWD.CONF     print "reason packets" per drop counter
 *   gwnft-tool apply GWD.CONF POLICY GEN
 *                                 the guard, then POLICY as generation GEN
 *                                 through the nft engine (prepare, commit);
 *                                 prints the milliseconds of each step, and
 *                                 the CPU milliseconds it took (the kernel's
 *                                 work on a batch included), and the
 *                                 kernel's part of them (sys)
 * Runs in the caller's network namespace; root.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "config.h"
#include "engine_nft.h"
#include "guard.h"
#include "image.h"
#include "nft.h"
#include "nft_guard.h"
#include "policy.h"

static double ms(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

/* CPU milliseconds this process used so far, user and system (the
 * kernel's work on a batch runs inside sendmsg, so it is ours); the
 * system part alone in *sys. */
static double cpu_ms(double *sys)
{
	struct rusage u;
	getrusage(RUSAGE_SELF, &u);
	*sys = (double)u.ru_stime.tv_sec * 1e3 + (double)u.ru_stime.tv_usec / 1e3;
	return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 +
	       (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

static int apply(const struct gwd_config *cfg, const char *path, uint32_t gen)
{
	struct pol_unit *u = NULL;
	const void *img;
	size_t size;
	char err[1024];
	struct timespec t0, t1, t2, t3;
	if (pol_compile(path, NULL, 0, 0, &u) < 0 || pol_unit_errors(u) ||
	    pol_unit_image(u, &img, &size) < 0) {
		if (u)
			pol_unit_render_diags(u, stderr);
		pol_unit_free(u);
		return 1;
	}
	struct gwd_guard *g = NULL;
	struct gwd_engine *e = NULL;
	int rc = 1;
	if (gwd_guard_new(NULL, cfg, &g, err, sizeof(err)) < 0) {
		fprintf(stderr, "guard: %s\n", err);
		goto out;
	}
	if (gwd_engine_nft_new(NULL, cfg, NULL, &e, err, sizeof(err)) < 0) {
		fprintf(stderr, "engine: %s\n", err);
		goto out;
	}
	printf("adopted %u\n", e->generation);
	double s0, s1, s2;
	double c0 = cpu_ms(&s0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (e->ops->prepare(e, gen, img, size, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "prepare: %s\n", err);
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double c1 = cpu_ms(&s1);
	if (e->ops->commit(e, err, sizeof(err)) < 0) {
		fprintf(stderr, "commit: %s\n", err);
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t2);
	t3 = t2;
	double c2 = cpu_ms(&s2);
	printf("prepare_ms %.1f commit_ms %.1f prepare_cpu_ms %.1f commit_cpu_ms %.1f "
	       "prepare_sys_ms %.1f commit_sys_ms %.1f\n",
	       ms(&t0, &t1), ms(&t1, &t3), c1 - c0, c2 - c1, s1 - s0, s2 - s1);
	rc = 0;
out:
	if (e)
		e->ops->free(e);
	gwd_guard_free(g);
	pol_unit_free(u);
	return rc;
}

static int print_drop(const char *reason, uint64_t pkts, uint64_t bytes, void *arg)
{
	printf("%s %" PRIu64 "\n", reason, pkts);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3 && !(argc == 5 && !strcmp(argv[1], "apply"))) {
		fprintf(stderr, "usage: gwnft-tool guard|check|drops GWD.CONF\n"
			"       gwnft-tool apply GWD.CONF POLICY GEN\n");
		return 2;
	}
	struct gwd_config cfg;
	char err[1024];
	gwd_config_defaults(&cfg);
	if (gwd_config_load(argv[2], &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (!strcmp(argv[1], "apply"))
		return apply(&cfg, argv[3], (uint32_t)strtoul(argv[4], NULL, 10));
	struct gwd_nft *n;
	int r = gwd_nft_open(cfg.nft_table, &n);
	if (r < 0) {
		fprintf(stderr, "nftables: %s\n", strerror(-r));
		return 1;
	}
	int rc = 0;
	if (!strcmp(argv[1], "guard")) {
		struct gwd_nft_batch *b;
		if ((r = gwd_nft_batch_new(n, &b)) < 0) {
			fprintf(stderr, "%s\n", strerror(-r));
			rc = 1;
		} else {
			gwd_nft_guard_build(b, &cfg);
			if (gwd_nft_commit(b, err, sizeof(err)) < 0) {
				fprintf(stderr, "the guard: %s\n", err);
				rc = 1;
			}
			gwd_nft_batch_free(b);
		}
	} else if (!strcmp(argv[1], "check")) {
		bool ok;
		if ((r = gwd_nft_guard_check(n, &cfg, &ok, err, sizeof(err))) < 0) {
			fprintf(stderr, "%s\n", strerror(-r));
			rc = 1;
		} else if (!ok) {
			printf("%s\n", err);
			rc = 1;
		}
	} else if (!strcmp(argv[1], "drops")) {
		if ((r = gwd_nft_guard_drops(n, print_drop, NULL)) < 0) {
			fprintf(stderr, "%s\n", strerror(-r));
			rc = 1;
		}
	} else {
		fprintf(stderr, "unknown command %s\n", argv[1]);
		rc = 2;
	}
	gwd_nft_close(n);
	return rc;
}
