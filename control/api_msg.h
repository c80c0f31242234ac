/* SPDX-License-Identifier: MIT */
/*
 * The gwd API's messages (docs/api.md): JSON objects, one a line, over a
 * unix socket.  A client sends requests; gwd answers each with one reply,
 * in order:
 *
 *   {"v":1,"id":7,"cmd":"policy.apply","path":"/etc/gw/home.gw","message":"..."}
 *   {"v":1,"id":7,"ok":true,"generation":4,...}
 *   {"v":1,"id":8,"ok":false,"error":{"code":"policy_invalid","message":"...",
 *                                     "diagnostics":[{"file":...,"line":...}]}}
 *
 * This file is the pure part: a request line in, a checked request (or a
 * refusal with a code and a reason) out, and the reply lines.  Nothing here
 * touches a socket or the disk, so the fuzzer (tests/fuzz/fuzz_api.c) and
 * the unit tests see exactly what gwd sees.
 */
#ifndef GW_CONTROL_API_MSG_H
#define GW_CONTROL_API_MSG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gwd_api.h"

enum gwd_cmd {
	GWD_CMD_STATUS,
	GWD_CMD_POLICY_APPLY,
	GWD_CMD_POLICY_HISTORY,
	GWD_CMD_POLICY_ROLLBACK,
	GWD_CMD_POLICY_CONFIRM,
	GWD_CMD_POLICY_GET,
	GWD_CMD_DEVICES,
	GWD_CMD_FLOWS,
	GWD_CMD_DOMAINS_LEARN,
	GWD_CMD_DHCP_LEASE,
	GWD_CMD_EVENTS_SUBSCRIBE,
	GWD_CMD_DOMAINS,
	GWD_CMD_COUNT,
};

const char *gwd_cmd_name(enum gwd_cmd c);
/* Commands that change something need root or the gw group. */
bool gwd_cmd_changes(enum gwd_cmd c);

struct gwd_api_req {
	json_t *root;     /* owns the strings below */
	int64_t id;
	enum gwd_cmd cmd;
	/* policy.apply: exactly one of text and path */
	const char *text; /* policy text (no include, no list files) */
	size_t text_len;
	const char *path; /* absolute path gwd reads (includes, lists work) */
	const char *message;
	bool dry_run;
	/* devices: only what a live view shows (no groups, no blocked
	 * packets and bytes, no first and last seen) */
	bool brief;
	uint32_t confirm_seconds; /* 0: no confirm */
	/* policy.rollback: 0 = the generation before the current one;
	 * policy.history: 0 = every entry without text, N = entry N with text;
	 * policy.get: 0 = the current generation */
	uint32_t generation;
	/* flows: a device name or MAC (NULL: every device), and how many */
	const char *device;
	uint32_t limit;
	/* domains.learn: a DNS name, its addresses, their TTL in seconds;
	 * domains: the name whose pairs (its own and below it) to list, or
	 * NULL for every pair, and how many (limit, as flows) */
	const char *name;
	uint32_t ttl;
	uint32_t naddrs;
	struct {
		uint8_t family; /* 4 or 6 */
		uint8_t addr[16];
	} addrs[GWD_API_MAX_ADDRS];
	/* dhcp.lease: the lease script's event, as strings (checked by
	 * lease.h when gwd takes it); hostname and client_id may be NULL */
	const char *action, *mac, *addr, *hostname, *client_id;
	int64_t expires;
	/* events.subscribe: bit t for event type t (gwd_api.h); every type
	 * when the request names none */
	uint32_t types;
};

struct gwd_api_err {
	bool have_id;       /* the id could be read: the reply carries it */
	int64_t id;
	const char *code;   /* static: "malformed", "version", ... */
	char message[256];
};

/* 0 and *ret (free with gwd_api_req_free), or -EINVAL and *err. */
int gwd_api_parse(const char *line, size_t len, struct gwd_api_req *ret,
		  struct gwd_api_err *err);
void gwd_api_req_free(struct gwd_api_req *r);

/* Reply lines, each ending in '\n', malloc'd; NULL only without memory.
 * ok: fields (may be NULL) are merged into the reply, and the reference
 * is stolen.  err: diagnostics (may be NULL) is stolen too. */
char *gwd_api_reply_ok(int64_t id, json_t *fields);
/* An ok reply whose members (len bytes of "k":v,... JSON text, no braces)
 * are already written. */
char *gwd_api_reply_raw(int64_t id, const char *members, size_t len);
char *gwd_api_reply_err(bool have_id, int64_t id, const char *code, const char *message,
			json_t *diagnostics);

#endif
