/* SPDX-License-Identifier: MIT */
/* Classification through the reference evaluator (see classify.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "classify.h"

#define IMAGE_MAX (256u << 20)

struct dp_classify {
	struct pol_ir *ir;
	uint32_t generation;
	uint32_t when; /* struct pol_when packed: wday << 16 | minute; atomic */
};

int dp_classify_new(struct pol_ir *ir, uint32_t generation, struct dp_classify **ret)
{
	struct dp_classify *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->ir = ir;
	c->generation = generation;
	*ret = c;
	return 0;
}

void dp_classify_free(struct dp_classify *c)
{
	if (!c)
		return;
	pol_ir_free(c->ir);
	free(c);
}

int dp_classify_load(const char *path, uint32_t generation, struct dp_classify **ret, char *err,
		     size_t errlen)
{
	struct pol_ir *ir = NULL;
	struct dp_classify *c = NULL;
	uint8_t *buf = NULL;
	struct stat st;
	int r, fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s", strerror(errno));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t)st.st_size > IMAGE_MAX) {
		r = -EINVAL;
		snprintf(err, errlen, "not a regular file of 1 byte to %u MiB", IMAGE_MAX >> 20);
		goto out;
	}
	size_t size = (size_t)st.st_size, got = 0;
	buf = malloc(size);
	if (!buf) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			snprintf(err, errlen, "short read");
			goto out;
		}
		got += (size_t)n;
	}
	r = pol_image_load(buf, size, &ir, err, errlen);
	if (r < 0)
		goto out;
	r = dp_classify_new(ir, generation, &c);
	if (r < 0) {
		snprintf(err, errlen, "out of memory");
		pol_ir_free(ir);
		goto out;
	}
	*ret = c;
out:
	free(buf);
	close(fd);
	return r;
}

uint32_t dp_classify_generation(const struct dp_classify *c)
{
	return c->generation;
}

void dp_classify_set_when(struct dp_classify *c, struct pol_when when)
{
	__atomic_store_n(&c->when, (uint32_t)when.wday << 16 | when.minute, __ATOMIC_RELAXED);
}

const struct pol_ir *dp_classify_ir(const struct dp_classify *c)
{
	return c->ir;
}

void dp_classify_flow(const struct dp_classify *c, const struct dp_classify_in *in,
		      struct dp_verdict *ret)
{
	if (!c->ir) {
		*ret = (struct dp_verdict){ .action = POL_ALLOW, .rule = POL_NONE,
					    .device = POL_NONE };
		return;
	}
	struct pol_facts f = {
		.device = pol_device_by_mac(c->ir, in->mac),
		.family = in->family,
		.proto = in->proto,
		.dport = in->dport,
	};
	uint32_t w = __atomic_load_n(&c->when, __ATOMIC_RELAXED);
	f.when = (struct pol_when){ .wday = (uint8_t)(w >> 16), .minute = (uint16_t)w };
	memcpy(f.dst, in->dst, 16);
	struct pol_verdict v;
	pol_eval(c->ir, &f, &v, NULL);
	*ret = (struct dp_verdict){
		.action = v.action,
		.log = v.log,
		.rule = v.rule,
		.device = f.device,
		.rate_bps = v.rate_bps,
	};
}
