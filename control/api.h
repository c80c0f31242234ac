/* SPDX-License-Identifier: MIT */
/*
 * The API socket (docs/api.md): a unix stream socket, mode 0660 and group
 * gw when that group exists.  Each connection sends request lines and gets
 * one reply line each.  Peer credentials (SO_PEERCRED) decide who may
 * change things: root or a member of the gw group; anyone who can connect
 * may read.
 */
#ifndef GW_CONTROL_API_H
#define GW_CONTROL_API_H

#include <event2/event.h>

#include "daemon.h"

#define GWD_API_MAX_CONNS 64

struct gwd_api;

/* Refuses to take over a socket another gwd still answers on. */
int gwd_api_new(struct event_base *base, struct gwd *d, const char *path, struct gwd_api **ret,
		char *err, size_t errlen);
/* Closes every connection and removes the socket file. */
void gwd_api_free(struct gwd_api *a);

#endif
