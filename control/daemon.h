/* SPDX-License-Identifier: MIT */
/*
 * gwd's duties behind the API: the generations (apply as a transaction
 * over the engines, history, rollback, --confirm and its timer), the
 * queries, the schedules and the learned domains (learn.h), each in its
 * own file (daemon_int.h lists them).  Runs on the one event loop; every
 * command finishes before the next.
 */
#ifndef GW_CONTROL_DAEMON_H
#define GW_CONTROL_DAEMON_H

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "api_msg.h"
#include "events.h"
#include "config.h"

struct gwd;
struct gwd_observe;

/* Engines one gwd drives: file, dataplane, ebpf, and room for one more. */
#define GWD_MAX_ENGINES 4

#define GWD_PEER_MAX_GROUPS 256

/* Who asked, from SO_PEERCRED and SO_PEERGROUPS. */
struct gwd_peer {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	gid_t groups[GWD_PEER_MAX_GROUPS]; /* supplementary; the first 256 */
	uint32_t ngroups;
	char user[64];   /* the uid's name, or the number */
	bool may_change; /* root or a member of the gw group */
};

/* What a command produced: fields for an ok reply, or an error. */
struct gwd_result {
	json_t *fields;      /* ok: merged into the reply */
	/* ok, instead of fields: the reply's members already written as JSON
	 * text ("k":v,... without braces; malloc'd), for replies too large to
	 * build as objects each second (devices) */
	char *raw;
	size_t raw_len;
	const char *code;    /* NULL: ok */
	char message[512];
	json_t *diagnostics; /* policy_invalid: the compiler's diagnostics */
};

/* Load the state, start the engines, push the current generation, handle
 * a pending confirm (revert now if expired, else arm the timer). */
int gwd_new(struct event_base *base, const struct gwd_config *cfg, struct gwd **ret,
	    char *err, size_t errlen);
void gwd_free(struct gwd *d);

/* SIGHUP: apply the config's policy file again, as root, compiled off the
 * event loop; done(arg) once it was applied or refused (logged, the
 * running generation stays).  false (logged, done not called) while a
 * reload runs already (gwd_reloading). */
bool gwd_reload(struct gwd *d, void (*done)(void *arg), void *arg);
bool gwd_reloading(const struct gwd *d);

/* The live event hub (events.h), for the API socket's subscribers. */
struct gwd_events *gwd_events(struct gwd *d);
/* What gwd counted (observe.h), for the metrics. */
struct gwd_observe *gwd_observer(struct gwd *d);

/* Runs one command to its end: gwd_submit, then the event loop until the
 * result is there.  Not from inside the event loop (libevent does not
 * nest loops): for tests and gwd_new. */
void gwd_run(struct gwd *d, const struct gwd_api_req *req, const struct gwd_peer *peer,
	     struct gwd_result *res);
void gwd_result_clear(struct gwd_result *res);

/*
 * The API's way in: runs req for peer and hands the result to done(res,
 * arg) exactly once (done may take res->fields and res->diagnostics; gwd
 * clears the rest after it returns).  Most commands finish inside
 * gwd_submit; a command that waits for something (a compile in a child
 * process) returns at once and calls done later from the event loop.
 * *ret_call is then that call, else NULL; req may be freed on return.
 */
struct gwd_call;
typedef void (*gwd_done_fn)(struct gwd_result *res, void *arg);
void gwd_submit(struct gwd *d, const struct gwd_api_req *req, const struct gwd_peer *peer,
		gwd_done_fn done, void *arg, struct gwd_call **ret_call);
/* The client went away: done is never called for this call.  NULL is fine. */
void gwd_call_cancel(struct gwd_call *call);

#endif
