/* SPDX-License-Identifier: MIT */
/* The gwd.conf parser (config.h).  Pure apart from gwd_config_load's read. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "gwd_api.h"

void gwd_config_defaults(struct gwd_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->state_dir, sizeof(c->state_dir), "/var/lib/gw");
	snprintf(c->socket, sizeof(c->socket), "%s", GWD_API_DEFAULT_SOCKET);
	snprintf(c->bpf_pin_root, sizeof(c->bpf_pin_root), "%s", GWD_DEFAULT_PIN_ROOT);
	c->api_max_conns = GWD_API_MAX_CONNS;
	c->api_max_per_uid = GWD_API_MAX_PER_UID;
	c->api_idle_s = GWD_API_IDLE_S;
}

struct errs {
	char *buf;
	size_t size, used;
	unsigned count;
};

static void __attribute__((format(printf, 4, 5)))
add_err(struct errs *e, const char *name, unsigned line, const char *fmt, ...)
{
	e->count++;
	if (!e->buf || e->used + 1 >= e->size)
		return;
	int n = snprintf(e->buf + e->used, e->size - e->used, "%s%s:%u: error: ",
			 e->used ? "\n" : "", name, line);
	if (n < 0 || (size_t)n >= e->size - e->used) {
		e->used = e->size - 1;
		return;
	}
	e->used += (size_t)n;
	va_list ap;
	va_start(ap, fmt);
	n = vsnprintf(e->buf + e->used, e->size - e->used, fmt, ap);
	va_end(ap);
	e->used = n < 0 || (size_t)n >= e->size - e->used ? e->size - 1 : e->used + (size_t)n;
}

enum key {
	K_STATE_DIR, K_SOCKET, K_POLICY, K_DATAPLANE, K_EBPF_PORTS, K_PIN_ROOT,
	K_API_MAX_CONNS, K_API_MAX_PER_UID, K_API_IDLE, K_METRICS, K_COUNT
};

static const char *const keys[K_COUNT] = {
	[K_STATE_DIR] = "state_dir", [K_SOCKET] = "socket", [K_POLICY] = "policy",
	[K_DATAPLANE] = "dataplane", [K_EBPF_PORTS] = "ebpf_ports",
	[K_PIN_ROOT] = "bpf_pin_root", [K_API_MAX_CONNS] = "api_max_connections",
	[K_API_MAX_PER_UID] = "api_max_per_user", [K_API_IDLE] = "api_idle_timeout",
	[K_METRICS] = "metrics",
};

/* The number a key sets and its range, or NULL. */
static unsigned *number(struct gwd_config *c, enum key k, unsigned *ret_min, unsigned *ret_max)
{
	*ret_min = 1;
	switch (k) {
	case K_API_MAX_CONNS: *ret_max = 1024; return &c->api_max_conns;
	case K_API_MAX_PER_UID: *ret_max = 1024; return &c->api_max_per_uid;
	case K_API_IDLE: *ret_max = 86400; return &c->api_idle_s;
	default: return NULL;
	}
}

/* The path a key sets, or NULL (ebpf_ports is a list). */
static char *field(struct gwd_config *c, enum key k)
{
	switch (k) {
	case K_STATE_DIR: return c->state_dir;
	case K_SOCKET: return c->socket;
	case K_POLICY: return c->policy;
	case K_DATAPLANE: return c->dataplane;
	case K_PIN_ROOT: return c->bpf_pin_root;
	default: return NULL;
	}
}

static bool ifname_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '.' || ch == '-' || ch == '_' || ch == '@';
}

static bool space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

/* "IF[, IF...]" into out; reports the first problem. */
static void parse_ports(struct errs *e, const char *name, unsigned lineno, const char *val,
			size_t vlen, struct gwd_config *out)
{
	unsigned n = 0;
	char ports[GWD_MAX_PORTS][GWD_IFNAME_MAX];
	for (size_t at = 0; at <= vlen;) {
		const char *comma = memchr(val + at, ',', vlen - at);
		size_t end = comma ? (size_t)(comma - val) : vlen;
		size_t a = at, b = end;
		while (a < b && space(val[a]))
			a++;
		while (b > a && space(val[b - 1]))
			b--;
		if (a == b) {
			add_err(e, name, lineno, "'ebpf_ports' has an empty port name");
			return;
		}
		for (size_t i = a; i < b; i++) {
			if (!ifname_char(val[i])) {
				add_err(e, name, lineno,
					"'ebpf_ports': '%.*s' is not an interface name",
					(int)(b - a > 64 ? 64 : b - a), val + a);
				return;
			}
		}
		if (b - a >= GWD_IFNAME_MAX) {
			add_err(e, name, lineno, "'ebpf_ports': '%.*s' is longer than %d bytes",
				(int)(b - a > 64 ? 64 : b - a), val + a, GWD_IFNAME_MAX - 1);
			return;
		}
		if (n == GWD_MAX_PORTS) {
			add_err(e, name, lineno, "'ebpf_ports' names more than %d ports",
				GWD_MAX_PORTS);
			return;
		}
		memcpy(ports[n], val + a, b - a);
		ports[n][b - a] = '\0';
		for (unsigned i = 0; i < n; i++) {
			if (!strcmp(ports[i], ports[n])) {
				add_err(e, name, lineno, "'ebpf_ports' names '%s' twice", ports[n]);
				return;
			}
		}
		n++;
		if (!comma)
			break;
		at = end + 1;
	}
	memcpy(out->ebpf_ports, ports, sizeof(ports));
	out->nebpf_ports = n;
}

/* "127.0.0.1:PORT" or "[::1]:PORT", a loopback address: the metrics name
 * the household's devices, so they are for this machine only. */
static void parse_metrics(struct errs *e, const char *name, unsigned lineno, const char *val,
			  size_t vlen, struct gwd_config *out)
{
	char buf[80], *host, *port;
	if (vlen >= sizeof(buf)) {
		add_err(e, name, lineno, "'metrics' is ADDRESS:PORT, e.g. 127.0.0.1:9477");
		return;
	}
	memcpy(buf, val, vlen);
	buf[vlen] = '\0';
	if (buf[0] == '[') {
		char *close = strchr(buf, ']');
		if (!close || close[1] != ':') {
			add_err(e, name, lineno, "'metrics': expected [::1]:PORT");
			return;
		}
		*close = '\0';
		host = buf + 1;
		port = close + 2;
	} else {
		char *colon = strrchr(buf, ':');
		if (!colon) {
			add_err(e, name, lineno, "'metrics' is ADDRESS:PORT, e.g. 127.0.0.1:9477");
			return;
		}
		*colon = '\0';
		host = buf;
		port = colon + 1;
	}
	char *end;
	errno = 0;
	unsigned long p = strtoul(port, &end, 10);
	if (errno || *end || end == port || port[0] == '-' || p < 1 || p > 65535) {
		add_err(e, name, lineno, "'metrics': the port is 1-65535");
		return;
	}
	uint8_t a[16];
	bool loop4 = inet_pton(AF_INET, host, a) == 1 && a[0] == 127;
	bool loop6 = !loop4 && inet_pton(AF_INET6, host, a) == 1 &&
		     !memcmp(a, (uint8_t[16]){ [15] = 1 }, 16);
	if (!loop4 && !loop6) {
		add_err(e, name, lineno,
			"'metrics': '%s' is not a loopback address (127.0.0.0/8 or [::1]): "
			"the metrics name the household's devices", host);
		return;
	}
	snprintf(out->metrics_addr, sizeof(out->metrics_addr), "%s", host);
	out->metrics_port = (unsigned short)p;
}

int gwd_config_parse(const char *name, const char *text, size_t len, struct gwd_config *c,
		     char *err, size_t errlen)
{
	struct gwd_config out = *c;
	struct errs e = { .buf = err, .size = errlen };
	bool seen[K_COUNT] = { false };
	if (err && errlen)
		err[0] = '\0';
	unsigned lineno = 0;
	for (size_t at = 0; at < len;) {
		const char *line = text + at;
		const char *nl = memchr(line, '\n', len - at);
		size_t n = nl ? (size_t)(nl - line) : len - at;
		at += n + 1;
		lineno++;
		if (memchr(line, '\0', n)) {
			add_err(&e, name, lineno, "a NUL byte in the line");
			continue;
		}
		const char *hash = memchr(line, '#', n);
		if (hash)
			n = (size_t)(hash - line);
		while (n && space(line[n - 1]))
			n--;
		while (n && space(*line)) {
			line++;
			n--;
		}
		if (!n)
			continue;
		const char *eq = memchr(line, '=', n);
		if (!eq) {
			add_err(&e, name, lineno, "expected 'key = value'");
			continue;
		}
		size_t klen = (size_t)(eq - line);
		while (klen && space(line[klen - 1]))
			klen--;
		const char *val = eq + 1;
		size_t vlen = n - (size_t)(val - line);
		while (vlen && space(*val)) {
			val++;
			vlen--;
		}
		enum key k;
		for (k = 0; k < K_COUNT; k++)
			if (strlen(keys[k]) == klen && !memcmp(keys[k], line, klen))
				break;
		if (k == K_COUNT) {
			add_err(&e, name, lineno,
				"unknown key '%.*s' (the keys are state_dir, socket, policy, "
				"dataplane, ebpf_ports, bpf_pin_root, api_max_connections, "
				"api_max_per_user, api_idle_timeout, metrics)",
				(int)(klen > 64 ? 64 : klen), line);
			continue;
		}
		if (seen[k]) {
			add_err(&e, name, lineno, "'%s' is set twice", keys[k]);
			continue;
		}
		seen[k] = true;
		if (!vlen) {
			add_err(&e, name, lineno, "'%s' needs a value", keys[k]);
			continue;
		}
		if (k == K_EBPF_PORTS) {
			parse_ports(&e, name, lineno, val, vlen, &out);
			continue;
		}
		if (k == K_METRICS) {
			parse_metrics(&e, name, lineno, val, vlen, &out);
			continue;
		}
		unsigned lo, hi, *num = number(&out, k, &lo, &hi);
		if (num) {
			unsigned long v = 0;
			size_t i = 0;
			for (; i < vlen && val[i] >= '0' && val[i] <= '9' && v <= hi; i++)
				v = v * 10 + (unsigned long)(val[i] - '0');
			if (i < vlen || v < lo || v > hi)
				add_err(&e, name, lineno, "'%s' must be a number from %u to %u",
					keys[k], lo, hi);
			else
				*num = (unsigned)v;
			continue;
		}
		if (val[0] != '/') {
			add_err(&e, name, lineno, "'%s' must be an absolute path", keys[k]);
			continue;
		}
		if (vlen >= GWD_PATH_MAX) {
			add_err(&e, name, lineno, "'%s' is longer than %d bytes", keys[k],
				GWD_PATH_MAX - 1);
			continue;
		}
		memcpy(field(&out, k), val, vlen);
		field(&out, k)[vlen] = '\0';
	}
	if (e.count)
		return -EINVAL;
	*c = out;
	return 0;
}

int gwd_config_load(const char *path, struct gwd_config *c, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		int r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
		return r;
	}
	char *text = NULL;
	size_t len = 0, cap = 0;
	int r = 0;
	for (;;) {
		if (len + 4096 > cap) {
			if (cap >= (1u << 20)) {
				snprintf(err, errlen, "%s: larger than 1 MiB", path);
				r = -EFBIG;
				goto out;
			}
			cap = cap ? cap * 2 : 8192;
			char *t = realloc(text, cap);
			if (!t) {
				r = -ENOMEM;
				snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
				goto out;
			}
			text = t;
		}
		size_t got = fread(text + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		r = -EIO;
		snprintf(err, errlen, "%s: read error", path);
		goto out;
	}
	r = gwd_config_parse(path, text ? text : "", len, c, err, errlen);
out:
	free(text);
	fclose(f);
	return r;
}
