/* SPDX-License-Identifier: MIT */
/*
 * The interface every enforcement engine offers gwd's apply transaction.
 *
 * One apply, over all engines:
 *   prepare(gen, image) on each, in order: build the state for generation
 *       gen beside the running one; the running one keeps working.  An
 *       engine may refuse (a reason in err): then abort() on every engine
 *       that prepared, and nothing changed anywhere.
 *   commit() on each: flip to the prepared generation.  If one fails, the
 *       ones that already flipped are given the previous generation again
 *       (prepare + commit), so all engines run the same generation.
 *   abort(): drop what prepare built.  Also after a dry run.
 * The image is a policy image (policy/ir.h), already checked by
 * pol_image_load; engines may keep a copy, never the pointer.  ir is that
 * image loaded (gwd loads each image once, for every engine), or NULL:
 * then an engine that needs the tables loads the image itself.  ir lives
 * only for the call.
 *
 * stage_domains(entries, n) (optional), between prepare and commit: the
 *   learned addresses with the prepared generation's domain-set bits, for
 *   an engine whose domain table belongs to the generation.
 * Between applies (optional ops, NULL where an engine has no such state):
 *   set_active(mask, nrules): the committed generation's active-rule mask
 *       (bit r of mask[r / 64]: rule r may match), at a schedule boundary
 *       and after every commit;
 *   set_active_for(mask, nrules, valid_s) (optional): set_active for at
 *       most valid_s seconds: unless it is given again before then, the
 *       engine computes the schedules from its own clock again.  gwd
 *       renews it every minute; an engine without it keeps a mask until
 *       the next one;
 *   set_domains(entries, n): addresses of learned names with the committed
 *       generation's domain-set bits (sets == 0 removes one);
 *   set_domains_start(entries, n) then set_domains_finish() (optional,
 *       both or neither): set_domains in two halves, for an engine that
 *       waits for another process's answer (the dataplane's DOMAIN_SET):
 *       start sends, finish waits for the answer; gwd tells the other
 *       engines in between, so the round trip overlaps their updates.
 *       Nothing else is called on the engine between the two; finish is
 *       called after every start that returned 0, and its result is the
 *       update's.
 * An engine that finds its enforcer lost state behind gwd's back (a
 * restarted dataplane) calls e->resync(e, e->resync_arg): gwd then pushes
 * the current generation, mask and domain entries to that engine again.
 */
#ifndef GW_CONTROL_ENGINE_H
#define GW_CONTROL_ENGINE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct gwd_engine;
struct pol_ir;

/* One learned address with the domain sets of the running generation. */
struct gwd_domain_entry {
	uint8_t family;   /* 4 or 6 */
	uint8_t addr[16]; /* IPv4 in [0..3] */
	uint32_t ttl_s;   /* seconds left */
	uint64_t sets;    /* 0: remove */
};

/* One of an engine's counters (the counters op): kind is "packets" (every
 * packet seen there), "drop" or "punt" (name: the reason, as the engine
 * names it); where is the engine's port or hook ("lan", "wan" for the
 * dataplane, "ingress", "egress" for the eBPF classifier). */
typedef void (*gwd_counter_fn)(const char *kind, const char *where, const char *name,
			       uint64_t value, void *arg);

struct gwd_engine_ops {
	const char *name;
	int (*prepare)(struct gwd_engine *e, uint32_t gen, const void *image, size_t size,
		       const struct pol_ir *ir, char *err, size_t errlen);
	int (*stage_domains)(struct gwd_engine *e, const struct gwd_domain_entry *v, size_t n,
			     char *err, size_t errlen);
	int (*commit)(struct gwd_engine *e, char *err, size_t errlen);
	void (*abort)(struct gwd_engine *e);
	int (*set_active)(struct gwd_engine *e, const uint64_t *mask, uint32_t nrules,
			  char *err, size_t errlen);
	int (*set_active_for)(struct gwd_engine *e, const uint64_t *mask, uint32_t nrules,
			      uint32_t valid_s, char *err, size_t errlen);
	int (*set_domains)(struct gwd_engine *e, const struct gwd_domain_entry *v, size_t n,
			   char *err, size_t errlen);
	int (*set_domains_start)(struct gwd_engine *e, const struct gwd_domain_entry *v, size_t n,
				 char *err, size_t errlen);
	int (*set_domains_finish)(struct gwd_engine *e, char *err, size_t errlen);
	/* Optional: the engine's counters now, for metrics and rate.drop
	 * events (they only grow while the engine runs). */
	int (*counters)(struct gwd_engine *e, gwd_counter_fn fn, void *arg, char *err,
			size_t errlen);
	/* "ok" or "degraded: why", for status. */
	const char *(*state)(const struct gwd_engine *e);
	/* Optional: how the engine enforces one of its ports now (the eBPF
	 * engine: "native", "generic", "tc" or "none"), or NULL for a port
	 * not its own; for status. */
	const char *(*port_mode)(const struct gwd_engine *e, const char *port);
	/* Optional: what the committed generation's rules decided so far,
	 * fn(rule index or POL_RULE_DEFAULT*, packets, bytes) per rule that
	 * decided anything; for status. */
	int (*rule_counts)(struct gwd_engine *e,
			   int (*fn)(uint32_t rule, uint64_t pkts, uint64_t bytes, void *arg),
			   void *arg);
	void (*free)(struct gwd_engine *e);
};

struct gwd_engine {
	const struct gwd_engine_ops *ops;
	uint32_t generation; /* the committed one, 0 for none */
	void (*resync)(struct gwd_engine *e, void *arg); /* set by gwd */
	void *resync_arg;
};

/* The mask schedules take while the wall clock cannot be believed
 * (schedules.c): every scheduled block or reject rule on, every scheduled
 * allow rule off, rules without a schedule on; (nrules + 63) / 64 words of
 * m, which the caller zeroed.  An engine that follows schedules on its own
 * (the eBPF classifier's timeline) takes it past what gwd computed. */
void gwd_sched_restrictive(const struct pol_ir *ir, uint64_t *m);

/* An engine's "ok" / "degraded: why" text, in state (cap bytes), from a
 * printf format; a change is logged as engine_state engine=NAME state=... */
void gwd_engine_vset_state(char *state, size_t cap, const char *engine, const char *fmt,
			   va_list ap) __attribute__((format(printf, 4, 0)));

#endif
