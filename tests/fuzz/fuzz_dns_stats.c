/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: gw-dns's reply to STATS as gwd reads it
 * (control/dnsproc.c, gwd_dns_stats_reply), and each counter's name as
 * the metrics page files it (control/metrics.c, gwd_metrics_dns_family).
 * Input: the reply's body (struct gwdns_reply first).  Promises checked:
 *   - on an error the outputs are untouched, and the error is -EBADMSG
 *     or gw-dns's own -errno;
 *   - accepted counters lie inside the input, at most 1024 of them, each
 *     name NUL-terminated within its field;
 *   - reading is a function of the bytes (the same input twice, the same
 *     answer).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dnsproc.h"
#include "metrics.h"
#include "msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of its own size, so ASan sees any read past the end. */
	uint8_t *body = malloc(size ? size : 1);
	if (!body)
		return 0;
	memcpy(body, data, size);
	const struct gwdns_counter *untouched = (const void *)&size, *v = untouched, *v2 = untouched;
	size_t n = 77, n2 = 77;
	int r = gwd_dns_stats_reply(body, size, &v, &n);
	int r2 = gwd_dns_stats_reply(body, size, &v2, &n2);
	if (r != r2 || v != v2 || n != n2)
		abort();
	if (r < 0) {
		if (v != untouched || n != 77 || r < -4095)
			abort();
		free(body);
		return 0;
	}
	if (r != 0 || n > 1024)
		abort();
	const uint8_t *lo = (const uint8_t *)v, *hi = lo + n * sizeof(*v);
	if (n && (lo < body || hi > body + size))
		abort();
	for (size_t i = 0; i < n; i++) {
		if (!memchr(v[i].name, 0, sizeof(v[i].name)))
			abort();
		int f = gwd_metrics_dns_family(v[i].name);
		if (f < -1)
			abort();
	}
	free(body);
	return 0;
}
