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
 * pol_image_load; engines may keep a copy, never the pointer.
 */
#ifndef GW_CONTROL_ENGINE_H
#define GW_CONTROL_ENGINE_H

#include <stddef.h>
#include <stdint.h>

struct gwd_engine;

struct gwd_engine_ops {
	const char *name;
	int (*prepare)(struct gwd_engine *e, uint32_t gen, const void *image, size_t size,
		       char *err, size_t errlen);
	int (*commit)(struct gwd_engine *e, char *err, size_t errlen);
	void (*abort)(struct gwd_engine *e);
	/* "ok" or "degraded: why", for status. */
	const char *(*state)(const struct gwd_engine *e);
	void (*free)(struct gwd_engine *e);
};

struct gwd_engine {
	const struct gwd_engine_ops *ops;
	uint32_t generation; /* the committed one, 0 for none */
};

#endif
