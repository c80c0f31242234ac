/* SPDX-License-Identifier: MIT */
/*
 * The gwd API's boundary (docs/api.md), shared by gwd (control/) and its
 * clients (tools/: gwctl, gwtop).  Both sides take the version, the
 * default socket and every limit from here, so they cannot drift apart.
 *
 * The exchange: a client connects to gwd's unix stream socket and writes
 * requests, one JSON object a line; gwd answers each with one reply line,
 * in order, carrying the request's id:
 *
 *   {"v":1,"id":7,"cmd":"flows","device":"leo-tablet","limit":2}
 *   {"v":1,"id":7,"ok":true,"flows":[...],"now_ms":...,"generation":5}
 *   {"v":1,"id":8,"ok":false,"error":{"code":"bad_argument","message":"..."}}
 *
 * A request line is at most GWD_API_MAX_LINE bytes; a reply may be longer
 * (policy.get carries a whole image), up to GWD_API_MAX_REPLY, which is
 * what a client reads before it gives up.  A policy_invalid error and an
 * apply's warnings carry diagnostics, the objects gwd_api_diags_json
 * (api_diag.h) writes for both gwd and `gwctl policy check --json`.
 *
 * The messages are text, not structs: what this header fixes is the
 * numbers both sides must agree on.
 */
#ifndef GW_CONTROL_GWD_API_H
#define GW_CONTROL_GWD_API_H

/* A request with any other "v" is refused ("version"). */
#define GWD_API_VERSION 1
/* Where gwd listens unless gwd.conf's `socket` says otherwise, and where
 * a client looks unless --socket or $GWD_SOCKET says otherwise. */
#define GWD_API_DEFAULT_SOCKET "/run/gw/gwd.sock"
/* The environment variable a client reads for the socket's path. */
#define GWD_API_SOCKET_ENV "GWD_SOCKET"

/* A request line longer than this (without its '\n') is refused and the
 * connection closed: policies with large lists fit well below. */
#define GWD_API_MAX_LINE (4u << 20)
/* The longest reply line a client reads: a policy.get reply carries a
 * whole compiled image in base64. */
#define GWD_API_MAX_REPLY (256u << 20)
_Static_assert(GWD_API_MAX_REPLY >= GWD_API_MAX_LINE,
	       "a client must read any line gwd may send");

#define GWD_API_MAX_MESSAGE 1024   /* policy.apply: bytes of the message */
#define GWD_API_MAX_CONFIRM 86400  /* policy.apply: confirm_seconds, at most a day */
#define GWD_API_FLOWS_LIMIT 1000   /* flows: the default 'limit' */
#define GWD_API_FLOWS_MAX 65536    /* flows: the largest 'limit' */
#define GWD_API_MAX_ADDRS 64       /* domains.learn: addresses per request */
#define GWD_API_MAX_TTL 604800     /* domains.learn: seconds, a week */
#define GWD_API_MAX_NAME 253       /* domains.learn: a DNS name's length */

/*
 * events.subscribe: after its reply, gwd writes event lines on that
 * connection as things happen, each an object with "event" (one of the
 * names below), "seq" (gwd's count of events, from 1 at its start: a gap
 * is events this subscriber did not want or lost) and "time_ms":
 *
 *   {"event":"flow.blocked","seq":812,"time_ms":1795756801000,"device":...}
 *
 * A subscriber that reads too slowly is never waited for: past
 * GWD_API_EVENTS_QUEUE bytes unread, its events are dropped and counted,
 * and once it has read down it first gets {"event":"lost","count":N}.
 * X(ENUM, "name", what it says)
 */
#define GWD_API_EVENTS(X)                                                          \
	X(FLOW_START, "flow.start")           /* a flow decided allow */            \
	X(FLOW_BLOCKED, "flow.blocked")       /* a flow decided block or reject */  \
	X(FLOW_DECIDED, "flow.decided")       /* a live flow decided again, otherwise */ \
	X(FLOW_END, "flow.end")               /* a flow left gwd's table, its totals */ \
	X(RATE_DROP, "rate.drop")             /* an engine dropped packets over a rate */ \
	X(DEVICE_NEW, "device.new")           /* a MAC no device statement names, first seen */ \
	X(POLICY_APPLIED, "policy.applied")   /* a new generation in force */       \
	X(POLICY_CONFIRMED, "policy.confirmed") /* a pending generation confirmed */ \
	X(POLICY_ROLLED_BACK, "policy.rolled_back") /* an earlier one restored */    \
	X(POLICY_REVERTED, "policy.reverted") /* not confirmed in time: restored */ \
	X(ENGINE_STATE, "engine.state")       /* an engine's health changed */

enum gwd_api_event {
#define GWD_API_EVENT_ENUM(e, n) GWD_API_EV_##e,
	GWD_API_EVENTS(GWD_API_EVENT_ENUM)
#undef GWD_API_EVENT_ENUM
	GWD_API_EV_COUNT
};
_Static_assert(GWD_API_EV_COUNT <= 32, "a subscription's types are a 32-bit mask");

/* An event's name, or NULL past the list. */
static inline const char *gwd_api_event_name(unsigned e)
{
	static const char *const names[GWD_API_EV_COUNT] = {
#define GWD_API_EVENT_NAME(e, n) n,
		GWD_API_EVENTS(GWD_API_EVENT_NAME)
#undef GWD_API_EVENT_NAME
	};
	return e < GWD_API_EV_COUNT ? names[e] : NULL;
}

/* The unread bytes a subscriber may have before its events are dropped
 * (counted, then told as "lost"). */
#define GWD_API_EVENTS_QUEUE (1u << 20)

#endif
