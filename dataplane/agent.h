/* SPDX-License-Identifier: MIT */
/*
 * The control agent: gw-dataplane's side of the control socket
 * (dataplane/proto.h), run on the main lcore from its tick.  It owns the
 * listening socket, its clients, the RCU state the workers report to, and
 * the policy generations retired but not yet freed.  It is the one writer
 * of the published policy pointer after start-up.
 */
#ifndef GW_DATAPLANE_AGENT_H
#define GW_DATAPLANE_AGENT_H

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
/* Non-blocking: accepts, reads, answers, frees what RCU allows.  true
 * when a client is in a conversation (this poll read a request or part of
 * one, or a reply waits for its reader): poll again soon, not a tick
 * later, so a multi-megabyte LOAD_IMAGE and the requests that follow its
 * reply are not each held up by the tick. */
bool dp_agent_poll(struct dp_agent *a);
/* After the workers stopped: closes, unlinks the socket, frees retired
 * generations. */
void dp_agent_free(struct dp_agent *a);

#endif
