/* SPDX-License-Identifier: MIT */
/*
 * The log queue (logq.h).  One byte ring under a mutex: gw_log's callers
 * (any thread) copy a line in, the writer thread copies a chunk out and
 * writes it with the mutex released, so a caller waits at most for a
 * memcpy, never for the disk.  A line that does not fit is dropped whole;
 * the next line that fits is preceded by a log_dropped line saying how
 * many went, so the count sits where the gap is.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "logline.h"
#include "logq.h"

#define CHUNK (64u << 10) /* the most the writer takes out at once */

struct dp_logq {
	pthread_mutex_t lock;
	pthread_cond_t more;
	pthread_t thread;
	int fd;
	bool stop;
	uint8_t *ring;
	size_t cap, head, used; /* head: where the next byte goes */
	uint64_t dropped;       /* in all */
	uint64_t unsaid;        /* dropped since the last log_dropped line */
	uint8_t chunk[CHUNK];   /* the writer's copy, written unlocked */
};

/* Under the lock: len bytes in at head, wrapping. */
static void put(struct dp_logq *q, const void *p, size_t len)
{
	size_t first = q->cap - q->head < len ? q->cap - q->head : len;
	memcpy(q->ring + q->head, p, first);
	memcpy(q->ring, (const uint8_t *)p + first, len - first);
	q->head = (q->head + len) % q->cap;
	q->used += len;
}

static void sink(const char *line, size_t len, void *ctx)
{
	struct dp_logq *q = ctx;
	char said[128];
	size_t slen = 0;
	pthread_mutex_lock(&q->lock);
	if (q->unsaid) {
		char ts[32];
		time_t now = time(NULL);
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
		int n = snprintf(said, sizeof(said), "t=%s event=log_dropped count=%llu\n", ts,
				 (unsigned long long)q->unsaid);
		slen = n > 0 && (size_t)n < sizeof(said) ? (size_t)n : 0;
	}
	if (q->cap - q->used < slen + len) {
		q->dropped++;
		q->unsaid++;
	} else {
		if (slen) {
			put(q, said, slen);
			q->unsaid = 0;
		}
		put(q, line, len);
		pthread_cond_signal(&q->more);
	}
	pthread_mutex_unlock(&q->lock);
}

static void write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* nowhere to write: the lines are lost, nothing else */
		p += n;
		len -= (size_t)n;
	}
}

static void *writer(void *arg)
{
	struct dp_logq *q = arg;
	/* Signals are the main thread's (gw-dataplane's stop). */
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (!q->used && !q->stop)
			pthread_cond_wait(&q->more, &q->lock);
		if (!q->used)
			break; /* stopping, and all written */
		size_t tail = (q->head + q->cap - q->used) % q->cap;
		size_t n = q->cap - tail < q->used ? q->cap - tail : q->used;
		if (n > CHUNK)
			n = CHUNK;
		memcpy(q->chunk, q->ring + tail, n);
		q->used -= n;
		pthread_mutex_unlock(&q->lock);
		write_all(q->fd, q->chunk, n);
		pthread_mutex_lock(&q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

int dp_logq_start(int fd, size_t cap, struct dp_logq **ret)
{
	if (fd < 0 || cap < DP_LOGQ_MIN)
		return -EINVAL;
	struct dp_logq *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->ring = malloc(cap);
	if (!q->ring) {
		free(q);
		return -ENOMEM;
	}
	q->cap = cap;
	q->fd = fd;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->more, NULL);
	int r = pthread_create(&q->thread, NULL, writer, q);
	if (r) {
		pthread_cond_destroy(&q->more);
		pthread_mutex_destroy(&q->lock);
		free(q->ring);
		free(q);
		return -r;
	}
	pthread_setname_np(q->thread, "gw-log");
	gw_log_set_sink(sink, q);
	*ret = q;
	return 0;
}

static ssize_t stream_write(void *cookie, const char *buf, size_t len)
{
	sink(buf, len, cookie);
	return (ssize_t)len; /* dropped or queued: never an error to the caller */
}

FILE *dp_logq_stream(struct dp_logq *q)
{
	cookie_io_functions_t io = { .write = stream_write };
	return fopencookie(q, "w", io);
}

uint64_t dp_logq_dropped(struct dp_logq *q)
{
	pthread_mutex_lock(&q->lock);
	uint64_t n = q->dropped;
	pthread_mutex_unlock(&q->lock);
	return n;
}

void dp_logq_stop(struct dp_logq *q)
{
	if (!q)
		return;
	gw_log_set_sink(NULL, NULL);
	pthread_mutex_lock(&q->lock);
	q->stop = true;
	pthread_cond_signal(&q->more);
	pthread_mutex_unlock(&q->lock);
	pthread_join(q->thread, NULL);
	/* Drops after the last line that fitted are said here, on stderr. */
	if (q->unsaid)
		gw_log("log_dropped", "count=%llu", (unsigned long long)q->unsaid);
	pthread_cond_destroy(&q->more);
	pthread_mutex_destroy(&q->lock);
	free(q->ring);
	free(q);
}
