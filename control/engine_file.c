/* SPDX-License-Identifier: MIT */
/* The file engine (engine_file.h).  Touches only its own folder. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine_file.h"
#include "store.h"

struct file_engine {
	struct gwd_engine base;
	char dir[1024];
	uint32_t prepared; /* generation written to the .tmp files, 0: none */
};

static void paths(const struct file_engine *f, const char *name, char *out, size_t size)
{
	snprintf(out, size, "%s/%s", f->dir, name);
}

static int prepare(struct gwd_engine *e, uint32_t gen, const void *image, size_t size,
		   const struct pol_ir *ir, char *err, size_t errlen)
{
	struct file_engine *f = (struct file_engine *)e;
	char p[1100];
	paths(f, "prepared.img", p, sizeof(p));
	int r = gwd_write_file(p, image, size, false);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", p, strerror(-r));
		return r;
	}
	f->prepared = gen;
	return 0;
}

static int commit(struct gwd_engine *e, char *err, size_t errlen)
{
	struct file_engine *f = (struct file_engine *)e;
	char from[1100], to[1100], gen[1100], num[16];
	paths(f, "prepared.img", from, sizeof(from));
	paths(f, "active.img", to, sizeof(to));
	paths(f, "active.gen", gen, sizeof(gen));
	if (!f->prepared) {
		snprintf(err, errlen, "nothing prepared");
		return -EINVAL;
	}
	/* The image first: a crash between the two renames leaves the new
	 * image with the old number, which gwd's start-up push corrects. */
	if (rename(from, to) < 0) {
		int r = -errno;
		snprintf(err, errlen, "%s: %s", to, strerror(errno));
		return r;
	}
	int n = snprintf(num, sizeof(num), "%u\n", f->prepared);
	int r = gwd_write_file(gen, num, (size_t)n, true);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", gen, strerror(-r));
		return r;
	}
	e->generation = f->prepared;
	f->prepared = 0;
	return 0;
}

static void abort_(struct gwd_engine *e)
{
	struct file_engine *f = (struct file_engine *)e;
	char p[1100];
	paths(f, "prepared.img", p, sizeof(p));
	unlink(p);
	f->prepared = 0;
}

static const char *state(const struct gwd_engine *e)
{
	return "ok";
}

static void free_(struct gwd_engine *e)
{
	free(e);
}

static const struct gwd_engine_ops file_ops = {
	.name = "file",
	.prepare = prepare,
	.commit = commit,
	.abort = abort_,
	.state = state,
	.free = free_,
};

int gwd_engine_file_new(const char *dir, struct gwd_engine **ret)
{
	struct file_engine *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	if (snprintf(f->dir, sizeof(f->dir), "%s", dir) >= (int)sizeof(f->dir)) {
		free(f);
		return -ENAMETOOLONG;
	}
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		int r = -errno;
		free(f);
		return r;
	}
	f->base.ops = &file_ops;
	char p[1100], buf[32];
	paths(f, "active.gen", p, sizeof(p));
	FILE *g = fopen(p, "r");
	if (g) {
		if (fgets(buf, sizeof(buf), g))
			f->base.generation = (uint32_t)strtoul(buf, NULL, 10);
		fclose(g);
	}
	*ret = &f->base;
	return 0;
}
