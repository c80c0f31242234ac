/* SPDX-License-Identifier: MIT */
/* How a C test says that this machine cannot run it, and cleans up after
 * DPDK's EAL (see gwtest.h). */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gwtest.h"
#include "image.h"
#include "policy.h"

int gwtest_cannot_run(const char *fmt, ...)
{
	const char *strict = getenv("GW_TEST_STRICT");
	bool must = strict && strcmp(strict, "1") == 0;
	va_list ap;

	fputs(must ? "FAIL: " : "skipped: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(must ? "; GW_TEST_STRICT=1 says this machine must run it\n" : "\n", stderr);
	return must ? 1 : GWTEST_SKIP;
}

void gwtest_remove_dpdk_runtime(const char *prefix)
{
	char cmd[200];

	if (!prefix[0] || strchr(prefix, '/') || strchr(prefix, '\'') ||
	    snprintf(cmd, sizeof(cmd), "rm -rf -- '/var/run/dpdk/%s'", prefix) >= (int)sizeof(cmd)) {
		fprintf(stderr, "not a DPDK file prefix: %s\n", prefix);
		return;
	}
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove /var/run/dpdk/%s\n", prefix);
}

long gwtest_read_seed(const char *dir, const char *name, void *buf, size_t cap)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	FILE *f = fopen(p, "rb");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, cap, f);
	fclose(f);
	return (long)n;
}

struct pol_ir *gwtest_policy_ir(const char *name, const char *text)
{
	struct pol_unit *u = NULL;
	struct pol_ir *ir = NULL;
	const void *img;
	size_t size;
	char err[256];
	if (pol_compile(name, text, strlen(text), POL_F_NO_FILES, &u) < 0 || !u) {
		fprintf(stderr, "%s: cannot compile\n", name);
		goto out;
	}
	if (pol_unit_errors(u)) {
		pol_unit_render_diags(u, stderr);
		goto out;
	}
	if (pol_unit_image(u, &img, &size) < 0 ||
	    pol_image_load(img, size, &ir, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: the image does not load: %s\n", name, err);
		ir = NULL;
	}
out:
	pol_unit_free(u);
	return ir;
}
