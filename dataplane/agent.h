/* SPDX-License-Identifier: MIT */
/*
 * The control agent: gw-dataplane's side of the control socket
 * (dataplane/proto.h), run on the main lcore as soon as one of its sockets
 * is ready (dp_agent_pollfds), and once a tick.  It owns the
 * listening socket, its clients, the RCU state the workers report to, and
 * the policy generations retired but not yet freed.  It is the one writer
 * of the published policy pointer after start-up.
 */
#ifndef GW_DATAPLANE_AGENT_H
#define GW_DATAPLANE_AGENT_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "classify.h"
#include "config.h"
#include "lcore.h"

struct dp_agent;

/* What the agent serves; all of it outlives the agent. */
struct dp_agent_ctx {
	const struct dp_config *cfg;
	struct dp_classify **policy; /* the published generation */
	struct dp_worker *workers;
	unsigned nworkers;
};

/* Listens on path (a stale socket there is replaced; any other file is
 * -EEXIST) and gives every worker its RCU handle: call before the workers
 * start.  -errno, with the reason in err. */
int dp_agent_new(const char *path, const struct dp_agent_ctx *ctx, struct dp_agent **ret,
		 char *err, size_t errlen);
/* The most descriptors dp_agent_pollfds fills: the listening socket and
 * one per client. */
#define DP_AGENT_POLLFDS 5

/* The agent's sockets as the main loop should wait on them (at most
 * DP_AGENT_POLLFDS into fds; returns how many): the listening socket and
 * each client for POLLIN, a client whose reply waits for its reader for
 * POLLOUT only (its next request is not read before that reply is out, so
 * waiting for its POLLIN would wake the loop for nothing).  Any of them
 * ready (revents) means dp_agent_poll has work now: the loop calls it at
 * once instead of at the next tick. */
unsigned dp_agent_pollfds(const struct dp_agent *a, struct pollfd *fds, unsigned max);
/* Non-blocking: accepts, reads (at most one request per client), answers,
 * frees what RCU allows, sweeps expired domain entries.  Called when
 * dp_agent_pollfds says a socket is ready, and once a tick regardless (the
 * RCU grace periods and the sweeps are not announced on any socket). */
void dp_agent_poll(struct dp_agent *a);
/* After the workers stopped: closes, unlinks the socket, frees retired
 * generations. */
void dp_agent_free(struct dp_agent *a);

#endif
