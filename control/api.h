/* SPDX-License-Identifier: MIT */
/*
 * The API socket (docs/api.md): a unix stream socket, mode 0660 and group
 * gw when that group exists.  Each connection sends request lines and gets
 * one reply line each.  Peer credentials (SO_PEERCRED) decide who may
 * change things: root or a member of the gw group; anyone who can connect
 * may read.  Connections, output and idle time are bounded per client
 * (api.c's top comment).
 */
#ifndef GW_CONTROL_API_H
#define GW_CONTROL_API_H

#include <event2/event.h>

#include "config.h"
#include "daemon.h"

struct gwd_api;

/* The socket cfg->socket with cfg's connection limits and idle timeout.
 * Refuses to take over a socket another gwd still answers on. */
int gwd_api_new(struct event_base *base, struct gwd *d, const struct gwd_config *cfg,
		struct gwd_api **ret, char *err, size_t errlen);
/* Closes every connection and removes the socket file. */
void gwd_api_free(struct gwd_api *a);

#endif
