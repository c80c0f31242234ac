/* SPDX-License-Identifier: MIT */
/*
 * gwd's log: one `key=value` line per event on stderr, e.g.
 *   t=2026-11-27T05:10:00Z event=apply gen=3 user=root msg="new kids rule"
 * Values that are not plain words are quoted with "..." and \-escapes, so a
 * line stays one line whatever a user wrote into a message.
 */
#ifndef GW_CONTROL_LOG_H
#define GW_CONTROL_LOG_H

#include <stddef.h>

/* fmt: the rest of the line after event=..., in key=value form. */
void gwd_log(const char *event, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* s as a log value (quoted when needed) in buf; returns buf. */
const char *gwd_log_value(char *buf, size_t size, const char *s);

#endif
