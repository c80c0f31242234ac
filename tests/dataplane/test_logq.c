/* SPDX-License-Identifier: MIT */
/*
 * gw-dataplane's log queue (dataplane/logq.h) on a pipe: lines arrive
 * whole and in order; with the pipe full and nobody reading (the disk
 * stuck), gw_log still returns at once, the lines that do not fit are
 * dropped and counted, and the first line written after the gap is
 * preceded by a log_dropped line with that count.  A gw_log that
 * waited for the writer would hang here (meson's timeout fails it).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "logline.h"
#include "logq.h"

struct drain {
	int fd;
	char *buf;
	size_t len, cap;
};

/* Reads fd to EOF into a growing buffer. */
static void *drain(void *arg)
{
	struct drain *d = arg;
	for (;;) {
		if (d->cap - d->len < 65536) {
			d->cap = d->cap * 2 + 65536;
			d->buf = realloc(d->buf, d->cap + 1);
			if (!d->buf)
				abort();
		}
		ssize_t n = read(d->fd, d->buf + d->len, d->cap - d->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		d->len += (size_t)n;
	}
	d->buf[d->len] = '\0';
	return NULL;
}

static unsigned count(const char *s, const char *what)
{
	unsigned n = 0;
	for (const char *p = s; (p = strstr(p, what)) != NULL; p += strlen(what))
		n++;
	return n;
}

static void lines_in_order(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	struct drain d = { .fd = p[0] };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, drain, &d), 0);
	struct dp_logq *q;
	/* Room for all of them: a reader that is slow to start drops none. */
	assert_int_equal(dp_logq_start(p[1], 1u << 20, &q), 0);
	for (int i = 0; i < 500; i++)
		gw_log("test_line", "i=%d", i);
	FILE *f = dp_logq_stream(q);
	assert_non_null(f);
	fprintf(f, "dpdk says hello\n");
	fflush(f);
	fclose(f);
	assert_int_equal(dp_logq_dropped(q), 0);
	dp_logq_stop(q);
	close(p[1]);
	pthread_join(t, NULL);
	const char *at = d.buf;
	for (int i = 0; i < 500; i++) {
		char want[64];
		snprintf(want, sizeof(want), "event=test_line i=%d\n", i);
		const char *hit = strstr(at, want);
		assert_non_null(hit);
		at = hit + strlen(want);
	}
	assert_non_null(strstr(at, "dpdk says hello\n"));
	assert_int_equal(count(d.buf, "\n"), 501);
	free(d.buf);
	close(p[0]);
}

static void stuck_writer_drops_and_counts(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	/* The pipe full before the queue starts: its writer's first write
	 * blocks until the reader below begins. */
	fcntl(p[1], F_SETPIPE_SZ, 4096);
	int fl = fcntl(p[1], F_GETFL);
	fcntl(p[1], F_SETFL, fl | O_NONBLOCK);
	char fill[512];
	memset(fill, '.', sizeof(fill));
	fill[sizeof(fill) - 1] = '\n';
	size_t filled = 0;
	ssize_t n;
	while ((n = write(p[1], fill, sizeof(fill))) > 0)
		filled += (size_t)n;
	assert_true(errno == EAGAIN);
	fcntl(p[1], F_SETFL, fl);

	struct dp_logq *q;
	assert_int_equal(dp_logq_start(p[1], DP_LOGQ_MIN, &q), 0);
	enum { LINES = 2000 };
	for (int i = 0; i < LINES; i++)
		gw_log("test_line", "i=%d pad=%s", i,
		       "................................................................");
	uint64_t dropped = dp_logq_dropped(q);
	/* 16 KB hold about 150 such lines: most are dropped, none waits. */
	assert_true(dropped > LINES / 2);
	assert_true(dropped < LINES);

	struct drain d = { .fd = p[0] };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, drain, &d), 0);
	/* The first line that fits again carries the count before it. */
	unsigned tries = 0;
	uint64_t before;
	do {
		before = dp_logq_dropped(q);
		gw_log("after", "try=%u", tries++);
		if (dp_logq_dropped(q) != before)
			usleep(1000);
	} while (dp_logq_dropped(q) != before);
	uint64_t total = dp_logq_dropped(q);
	dp_logq_stop(q);
	close(p[1]);
	pthread_join(t, NULL);

	unsigned written = count(d.buf, "event=test_line ");
	unsigned after = count(d.buf, "event=after ");
	assert_int_equal(after, 1);
	assert_int_equal(written + after + total, LINES + tries);
	/* Every drop said, in one log_dropped line or two (the writer may
	 * have taken a chunk out before its write blocked, making room for a
	 * while), the last right before the line after the gap. */
	uint64_t said_total = 0;
	const char *last = NULL;
	for (const char *s = d.buf; (s = strstr(s, " event=log_dropped count=")) != NULL; s++) {
		said_total += strtoull(s + strlen(" event=log_dropped count="), NULL, 10);
		last = s;
	}
	assert_non_null(last);
	assert_int_equal(said_total, total);
	const char *next = strchr(last, '\n') + 1;
	assert_true(strncmp(next, "t=", 2) == 0);
	assert_non_null(strstr(next, "event=after try="));
	assert_int_equal(count(last, "event=test_line"), 0);
	assert_true(d.len > filled);
	free(d.buf);
	close(p[0]);
}

static void refuses_a_tiny_buffer(void **state)
{
	(void)state;
	struct dp_logq *q = NULL;
	assert_int_equal(dp_logq_start(2, 100, &q), -EINVAL);
	assert_null(q);
	dp_logq_stop(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lines_in_order),
		cmocka_unit_test(stuck_writer_drops_and_counts),
		cmocka_unit_test(refuses_a_tiny_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
