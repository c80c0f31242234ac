/* SPDX-License-Identifier: MIT */
/*
 * gw-dataplane's log queue: gw_log's lines (policy/logline.h) go into a
 * bounded buffer, and a thread of their own writes them to a file
 * descriptor (stderr).  The main lcore, which serves the control socket,
 * logs without ever waiting for the disk: a write(2) to a log file can
 * sleep for seconds when the host's I/O stalls (dirty-page throttling, a
 * journal commit), and gwd took such a stall for a dataplane that no
 * longer answered.  When the buffer is full a line is dropped and counted,
 * and the writer says how many before the next line it writes:
 *   t=... event=log_dropped count=N
 * Lines in the buffer when the process dies abruptly are lost; a clean
 * stop (dp_logq_stop) writes them all.
 */
#ifndef GW_DATAPLANE_LOGQ_H
#define GW_DATAPLANE_LOGQ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct dp_logq;

/* The smallest buffer dp_logq_start takes: a few whole lines. */
#define DP_LOGQ_MIN (16u << 10)

/* Starts the writer thread on fd (not closed here) with a buffer of cap
 * bytes (>= DP_LOGQ_MIN) and makes it gw_log's sink.  -errno. */
int dp_logq_start(int fd, size_t cap, struct dp_logq **ret);
/* A stream whose flushed writes go into the queue as gw_log's lines do
 * (for DPDK's own log: rte_openlog_stream), or NULL (-errno in errno).
 * fclose it before dp_logq_stop. */
FILE *dp_logq_stream(struct dp_logq *q);
/* Lines dropped so far (the buffer was full). */
uint64_t dp_logq_dropped(struct dp_logq *q);
/* gw_log writes to stderr again; every queued line is written (this may
 * wait for the disk), the thread joined, q freed.  NULL is fine. */
void dp_logq_stop(struct dp_logq *q);

#endif
