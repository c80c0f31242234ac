/* SPDX-License-Identifier: MIT */
/*
 * A policy compile off gwd's event loop, under the client's credentials.
 *
 * gwd runs as root, and a policy path comes from a client (a member of
 * the gw group): opening it, its includes and its list files as root
 * would let the client read, and have quoted back in diagnostics, files
 * it cannot read itself.  And a compile may take long (a huge policy) or
 * hang (a file on a dead mount), which must not stall the event loop that
 * serves DNS, schedules, health checks and the API.  So every compile
 * runs in a child process:
 *   - forked from gwd, with only the result pipe and stdio open;
 *   - with the client's uid, gid and supplementary groups (from the API
 *     socket's SO_PEERCRED and SO_PEERGROUPS), no capabilities left when
 *     the client is not root, no_new_privs, killed when gwd dies;
 *   - with at most GWD_COMPILE_MAX_AS bytes of address space (not under
 *     AddressSanitizer, whose shadow memory needs terabytes of it), and
 *     killed after the timeout;
 * and it writes back one JSON line {"errors":E,"warnings":W,
 * "diagnostics":[...],"text":T,"image":I,"compile_ms":..,"text_ms":..}
 * followed by T bytes of the flattened policy text and I bytes of image.
 * gwd treats that as untrusted input: sizes are bounded before they are
 * read, the JSON is checked, and the image is loaded by pol_image_load
 * before any engine sees it.
 */
#ifndef GW_CONTROL_COMPILER_H
#define GW_CONTROL_COMPILER_H

#include <event2/event.h>
#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

#define GWD_COMPILE_MAX_AS (1ull << 30) /* bytes of address space a compile may map */
#define GWD_COMPILE_MAX_DIAGS (64u << 20) /* bytes of the JSON line */
#define GWD_COMPILE_MAX_TEXT (512u << 20) /* bytes of the flattened text */
#define GWD_COMPILE_RUNNING 2 /* compiles at once; more: -EBUSY */

/* Whose rights the compile has. */
struct gwd_compile_who {
	uid_t uid;
	gid_t gid;
	const gid_t *groups; /* supplementary */
	size_t ngroups;
};

struct gwd_compiled {
	unsigned errors, warnings;
	json_t *diagnostics; /* every diagnostic, as gwd_api_diags_json writes them */
	char *text;          /* no errors: the policy as pol_unit_print flattened it */
	size_t text_len;
	void *image;         /* no errors: the image (not loaded yet) */
	size_t image_size;
	double compile_ms, text_ms; /* in the child */
};
void gwd_compiled_clear(struct gwd_compiled *c);

/* One per gwd: the running compiles and the children still to reap. */
struct gwd_compiler;
int gwd_compiler_new(struct event_base *base, struct gwd_compiler **ret);
/* Kills what still runs. */
void gwd_compiler_free(struct gwd_compiler *cc);

struct gwd_compile;

/*
 * r == 0: the child compiled; *c is its result (the callback owns it:
 * gwd_compiled_clear), errors or not.  r < 0: no result, why says why
 * (-ETIMEDOUT: killed at the timeout; -ENOMEM: it ran out of its memory
 * bound; -EIO: it failed otherwise or its output was malformed).
 */
typedef void (*gwd_compile_done_fn)(int r, struct gwd_compiled *c, const char *why, void *arg);

/*
 * Compile `path` (text NULL), or `text` (len bytes, named "policy.gw",
 * without include or list files), as `who`, for at most timeout_s
 * seconds; done is called from the event loop, never from inside this
 * call.  -EBUSY when GWD_COMPILE_RUNNING compiles run; -errno when no
 * child could be started.
 */
int gwd_compile_start(struct gwd_compiler *cc, const char *path, const char *text, size_t len,
		      const struct gwd_compile_who *who, unsigned timeout_s,
		      gwd_compile_done_fn done, void *arg, struct gwd_compile **ret);
/* Stops it (the child is killed) and frees it; done is never called.
 * NULL is fine. */
void gwd_compile_cancel(struct gwd_compile *c);

#endif
