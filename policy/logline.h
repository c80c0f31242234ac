/* SPDX-License-Identifier: MIT */
/*
 * gw's log line, for every process of gw (gwd, gw-dns, gw-dataplane): one
 * `key=value` line per event on stderr, e.g.
 *   t=2026-11-27T05:10:00Z event=apply gen=3 user=root msg="new kids rule"
 * The time first (UTC, to the second), then event=, then the event's own
 * keys.  Values that are not plain words are quoted with "..." and
 * \-escapes (gw_log_value), so a line stays one line and one parse whatever
 * a name, a path or a message holds.  One write per line, so lines of
 * concurrent writers never mix.
 *
 * Libraries never log (STYLE.md): this is for the programs' mains and the
 * daemons' event handlers.  It lives here, in libgwpolicy, because every
 * folder may include policy/ and no other (docs/architecture.md).
 */
#ifndef GW_POLICY_LOGLINE_H
#define GW_POLICY_LOGLINE_H

#include <stddef.h>

/* fmt: the rest of the line after event=..., in key=value form (NULL or
 * "": none).  A line is cut at 2047 bytes. */
void gw_log(const char *event, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Where gw_log's lines go instead of stderr, for a process whose logging
 * must never block (gw-dataplane's main lcore: dataplane/logq.h).  line
 * is one whole line with its '\n', len bytes, valid during the call; the
 * sink may be called from any thread and must not block.  NULL: stderr
 * again.  Set it before other threads log, unset it after they stop. */
typedef void gw_log_sink_fn(const char *line, size_t len, void *ctx);
void gw_log_set_sink(gw_log_sink_fn *fn, void *ctx);

/* s as a log value (quoted when needed) in buf; returns buf.  A value
 * that does not fit is cut, still quoted. */
const char *gw_log_value(char *buf, size_t size, const char *s);

/* A buffer for one value: gw_log_value's output for up to 255 bytes of
 * text (each byte at most 4: \xNN), with its quotes. */
#define GW_LOG_VALUE 1024

#endif
