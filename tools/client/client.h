/* SPDX-License-Identifier: MIT */
/*
 * libgwclient: gwd's API seen from a client (docs/api.md), shared by gwctl
 * and gwtop.  A connection sends request objects (this file adds "v" and a
 * fresh "id") and reads reply lines back, one JSON object each.  The
 * version, the default socket and the line limits come from
 * control/gwd_api.h, which gwd uses too.
 *
 * A library: it never prints.  A failing call returns -errno and leaves
 * a sentence for people in err ("cannot reach gwd at PATH: ..."), which
 * the program shows as it shows its other errors.
 */
#ifndef GW_TOOLS_CLIENT_H
#define GW_TOOLS_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct gwc_conn;

/* Takes --socket PATH and --socket=PATH out of argv (in place, *argc
 * shrinks).  *ret: the last one given, else $GWD_SOCKET, else
 * GWD_API_DEFAULT_SOCKET.  -EINVAL on a --socket without a value. */
int gwc_take_socket(int *argc, char **argv, const char **ret);

int gwc_connect(const char *path, struct gwc_conn **ret, char *err, size_t errlen);
/* Accepts NULL. */
void gwc_close(struct gwc_conn *c);

/* Each read or write waits at most ms milliseconds from now on (0:
 * forever, the default); past it the call fails with -ETIMEDOUT. */
int gwc_set_timeout(struct gwc_conn *c, unsigned ms);
/* The socket, to poll for readable before gwc_read_ready. */
int gwc_fd(const struct gwc_conn *c);
/* The next line if one has come whole, without waiting: -EAGAIN when
 * none has; otherwise as gwc_read. */
int gwc_read_ready(struct gwc_conn *c, json_t **ret, char *err, size_t errlen);

/* Sends one request; steals req.  "v" and "id" are set here; *ret_id (may
 * be NULL) is the id, which the reply carries. */
int gwc_send(struct gwc_conn *c, json_t *req, int64_t *ret_id, char *err, size_t errlen);
/* The next line from gwd, which must be a JSON object.  Blocks until one
 * is there; -EPIPE when gwd closed the connection. */
int gwc_read(struct gwc_conn *c, json_t **ret, char *err, size_t errlen);
/* The next line from gwd as text, without its newline and unparsed:
 * *ret_line is valid until the next read of c.  With nowait, -EAGAIN
 * when no whole line has come; otherwise as gwc_read. */
int gwc_read_text(struct gwc_conn *c, bool nowait, const char **ret_line, size_t *ret_len,
		  char *err, size_t errlen);
/* One request on a fresh connection, and its reply.  Steals req. */
int gwc_call(const char *path, json_t *req, json_t **ret, char *err, size_t errlen);

#endif
