/* SPDX-License-Identifier: MIT */
/* gw's key=value log lines (logline.h).  Writes to stderr, or hands each
 * line to the sink its program set. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "logline.h"

static gw_log_sink_fn *sink;
static void *sink_ctx;

void gw_log_set_sink(gw_log_sink_fn *fn, void *ctx)
{
	sink_ctx = ctx;
	sink = fn;
}

void gw_log(const char *event, const char *fmt, ...)
{
	char ts[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	char line[2048];
	int n = snprintf(line, sizeof(line), "t=%s event=%s", ts, event);
	if (fmt && *fmt && n >= 0 && (size_t)n < sizeof(line) - 1) {
		line[n++] = ' ';
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	if (sink) {
		size_t len = n < 0 ? 0 : strnlen(line, sizeof(line) - 1);
		line[len++] = '\n';
		sink(line, len, sink_ctx);
		return;
	}
	/* One write per line, so lines of concurrent writers never mix. */
	fprintf(stderr, "%s\n", line);
	fflush(stderr);
}

const char *gw_log_value(char *buf, size_t size, const char *s)
{
	if (!s)
		s = "";
	bool plain = *s != '\0';
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("._-/:@+,", *p)))
			plain = false;
	if (plain) {
		snprintf(buf, size, "%s", s);
		return buf;
	}
	size_t o = 0;
	if (size < 3) {
		if (size)
			buf[0] = '\0';
		return buf;
	}
	buf[o++] = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p && o + 6 < size; p++) {
		if (*p == '"' || *p == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)*p;
		} else if (*p < 0x20 || *p == 0x7f) {
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", *p);
		} else {
			buf[o++] = (char)*p;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}
