/* SPDX-License-Identifier: MIT */
/*
 * The API client (client.h): a unix stream socket, request lines out,
 * reply lines in, with a buffer that keeps what came after the last line
 * read.  Blocking I/O; EINTR is retried.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "gwd_api.h"

struct gwc_conn {
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *buf;       /* buf[off..have): bytes read and not yet handed out */
	size_t off, have, cap;
};

static int64_t next_id = 1;

static int __attribute__((format(printf, 4, 5)))
say(int r, char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}

int gwc_take_socket(int *argc, char **argv, const char **ret)
{
	const char *path = getenv(GWD_API_SOCKET_ENV);
	int o = 0;
	for (int i = 0; i < *argc; i++) {
		if (!strcmp(argv[i], "--socket")) {
			if (i + 1 >= *argc)
				return -EINVAL;
			path = argv[++i];
		} else if (!strncmp(argv[i], "--socket=", 9)) {
			path = argv[i] + 9;
		} else {
			argv[o++] = argv[i];
		}
	}
	*argc = o;
	*ret = path && *path ? path : GWD_API_DEFAULT_SOCKET;
	return 0;
}

int gwc_connect(const char *path, struct gwc_conn **ret, char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sun.sun_path))
		return say(-ENAMETOOLONG, err, errlen, "%s: socket path too long", path);
	strcpy(sun.sun_path, path);
	struct gwc_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return say(-ENOMEM, err, errlen, "out of memory");
	strcpy(c->path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int r = -errno;
		say(r, err, errlen, "cannot reach gwd at %s: %s", path, strerror(errno));
		gwc_close(c);
		return r;
	}
	*ret = c;
	return 0;
}

void gwc_close(struct gwc_conn *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	free(c);
}

int gwc_send(struct gwc_conn *c, json_t *req, int64_t *ret_id, char *err, size_t errlen)
{
	int64_t id = next_id++;
	int r = 0;
	json_object_set_new(req, "v", json_integer(GWD_API_VERSION));
	json_object_set_new(req, "id", json_integer(id));
	char *line = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!line)
		return say(-ENOMEM, err, errlen, "out of memory");
	size_t len = strlen(line);
	line[len] = '\n'; /* json_dumps's NUL becomes the line's end */
	for (size_t off = 0; off < len + 1;) {
		ssize_t n = write(c->fd, line + off, len + 1 - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = say(-errno, err, errlen, "%s: %s", c->path, strerror(errno));
			break;
		}
		off += (size_t)n;
	}
	free(line);
	if (r == 0 && ret_id)
		*ret_id = id;
	return r;
}

int gwc_set_timeout(struct gwc_conn *c, unsigned ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	return 0;
}

int gwc_fd(const struct gwc_conn *c)
{
	return c->fd;
}

/* The next line of c, without its newline, in *ret_line (valid until the
 * next read of c); with nowait, only what has come already.  A line is
 * handed out by moving c->off past it: the rest is moved down only when
 * the buffer needs the room, so a burst of lines costs one copy of the
 * buffer, not one per line. */
static int next_line(struct gwc_conn *c, bool nowait, const char **ret_line, size_t *ret_len,
		     char *err, size_t errlen)
{
	for (size_t scanned = c->off;;) {
		/* Nothing buffered yet (c->buf may still be NULL): read first. */
		char *nl = c->have > scanned ? memchr(c->buf + scanned, '\n', c->have - scanned)
					     : NULL;
		if (nl) {
			*ret_line = c->buf + c->off;
			*ret_len = (size_t)(nl - *ret_line);
			c->off = (size_t)(nl - c->buf) + 1;
			if (c->off == c->have)
				c->off = c->have = 0;
			return 0;
		}
		if (c->have == c->cap && c->off > 0) {
			memmove(c->buf, c->buf + c->off, c->have - c->off);
			c->have -= c->off;
			c->off = 0;
		}
		scanned = c->have;
		if (c->have == c->cap) {
			if (c->cap > GWD_API_MAX_REPLY)
				return say(-EMSGSIZE, err, errlen,
					   "gwd's reply is longer than %u bytes", GWD_API_MAX_REPLY);
			size_t cap = c->cap ? c->cap * 2 : 65536;
			char *b = realloc(c->buf, cap);
			if (!b)
				return say(-ENOMEM, err, errlen, "out of memory");
			c->buf = b;
			c->cap = cap;
		}
		ssize_t n = recv(c->fd, c->buf + c->have, c->cap - c->have, nowait ? MSG_DONTWAIT : 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && nowait && (errno == EAGAIN || errno == EWOULDBLOCK))
			return -EAGAIN;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return say(-ETIMEDOUT, err, errlen, "gwd did not answer in time");
		if (n <= 0)
			return say(n < 0 ? -errno : -EPIPE, err, errlen,
				   "gwd closed the connection without a reply");
		c->have += (size_t)n;
	}
}

/* Reads a line from c as a JSON object; with nowait, only what has come
 * already. */
static int read_line(struct gwc_conn *c, bool nowait, json_t **ret, char *err, size_t errlen)
{
	const char *line;
	size_t len;
	int r = next_line(c, nowait, &line, &len, err, errlen);
	if (r < 0)
		return r;
	json_error_t je;
	json_t *o = json_loadb(line, len, 0, &je);
	if (!json_is_object(o)) {
		json_decref(o);
		return say(-EBADMSG, err, errlen, "gwd's reply is not a JSON object: %s", je.text);
	}
	*ret = o;
	return 0;
}

int gwc_read_text(struct gwc_conn *c, bool nowait, const char **ret_line, size_t *ret_len,
		  char *err, size_t errlen)
{
	return next_line(c, nowait, ret_line, ret_len, err, errlen);
}

int gwc_read(struct gwc_conn *c, json_t **ret, char *err, size_t errlen)
{
	return read_line(c, false, ret, err, errlen);
}

int gwc_read_ready(struct gwc_conn *c, json_t **ret, char *err, size_t errlen)
{
	return read_line(c, true, ret, err, errlen);
}

int gwc_call(const char *path, json_t *req, json_t **ret, char *err, size_t errlen)
{
	struct gwc_conn *c;
	int r = gwc_connect(path, &c, err, errlen);
	if (r < 0) {
		json_decref(req);
		return r;
	}
	r = gwc_send(c, req, NULL, err, errlen);
	if (r == 0)
		r = gwc_read(c, ret, err, errlen);
	gwc_close(c);
	return r;
}
