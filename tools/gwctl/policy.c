/* SPDX-License-Identifier: MIT */
/*
 * gwctl's commands on policy files alone (docs/gwctl.md): check, show,
 * compile, and the compile step the other commands share.  Diagnostics
 * go to stderr as the compiler renders them, or as JSON written by
 * gwd_api_diags_json, the same objects gwd's API carries.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_diag.h"
#include "gwctl.h"
#include "image.h"
#include "policy.h"

static int print_json(const char *path, const struct pol_unit *u)
{
	json_t *root = json_object(), *list = gwd_api_diags_json(u);
	if (!root || !list) {
		json_decref(root);
		json_decref(list);
		return -ENOMEM;
	}
	json_object_set_new(root, "file", json_string(path));
	json_object_set_new(root, "valid", json_boolean(pol_unit_errors(u) == 0));
	json_object_set_new(root, "errors", json_integer(pol_unit_errors(u)));
	json_object_set_new(root, "warnings", json_integer(pol_unit_warnings(u)));
	json_object_set_new(root, "diagnostics", list);
	char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (!s)
		return -ENOMEM;
	puts(s);
	free(s);
	return 0;
}

/* Compile and report; 0 valid, 1 invalid, -errno. */
int gwctl_compile(const char *path, struct pol_unit **ret)
{
	int r = pol_compile(path, NULL, 0, 0, ret);
	if (r < 0) {
		fprintf(stderr, "gwctl: %s: %s\n", path, strerror(-r));
		return r;
	}
	return pol_unit_errors(*ret) ? 1 : 0;
}

int gwctl_load_ir(const struct pol_unit *u, struct pol_ir **ret)
{
	const void *img;
	size_t size;
	char err[256];
	int r = pol_unit_image(u, &img, &size);
	if (r == 0)
		r = pol_image_load(img, size, ret, err, sizeof(err));
	if (r < 0)
		fprintf(stderr, "gwctl: internal error: the compiled image does not load: %s\n",
			r == -EINVAL ? err : strerror(-r));
	return r;
}

int gwctl_cmd_check(int argc, char **argv)
{
	bool json = false;
	const char *path = NULL;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "gwctl policy check: unknown option '%s'\n", argv[i]);
			return EXIT_USAGE;
		} else if (!path)
			path = argv[i];
		else {
			fprintf(stderr, "gwctl policy check: one file at a time\n");
			return EXIT_USAGE;
		}
	}
	if (!path) {
		gwctl_usage(stderr);
		return EXIT_USAGE;
	}
	struct pol_unit *u;
	int r = gwctl_compile(path, &u);
	if (r < 0)
		return 1;
	if (json) {
		if (print_json(path, u) < 0)
			r = 1;
	} else {
		pol_unit_render_diags(u, stderr);
		if (r == 0) {
			struct pol_ir *ir;
			if (gwctl_load_ir(u, &ir) < 0) {
				r = 1;
			} else {
				printf("%s: valid: %u rule%s, %u device%s, %u schedule%s",
				       path, ir->nrules, ir->nrules == 1 ? "" : "s",
				       ir->ndevices, ir->ndevices == 1 ? "" : "s",
				       ir->nschedules, ir->nschedules == 1 ? "" : "s");
				if (pol_unit_warnings(u))
					printf(", %u warning%s", pol_unit_warnings(u),
					       pol_unit_warnings(u) == 1 ? "" : "s");
				putchar('\n');
				pol_ir_free(ir);
			}
		} else {
			fprintf(stderr, "%s: invalid: %u error%s\n", path, pol_unit_errors(u),
				pol_unit_errors(u) == 1 ? "" : "s");
		}
	}
	pol_unit_free(u);
	return r ? 1 : 0;
}

int gwctl_cmd_show(int argc, char **argv)
{
	if (argc != 1 || argv[0][0] == '-') {
		gwctl_usage(stderr);
		return EXIT_USAGE;
	}
	struct pol_unit *u;
	int r = gwctl_compile(argv[0], &u);
	if (r < 0)
		return 1;
	if (r == 0) {
		r = pol_unit_print(u, stdout) < 0;
	} else {
		pol_unit_render_diags(u, stderr);
	}
	pol_unit_free(u);
	return r ? 1 : 0;
}

/* The compiled image to a file, for gw-dataplane --policy (until gwd
 * pushes generations itself).  Written to IMAGE.tmp, then renamed, so a
 * reader never sees half an image. */
int gwctl_cmd_compile(int argc, char **argv)
{
	const char *path = NULL, *out = NULL;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "-o") && i + 1 < argc)
			out = argv[++i];
		else if (argv[i][0] != '-' && !path)
			path = argv[i];
		else {
			gwctl_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!path || !out) {
		gwctl_usage(stderr);
		return EXIT_USAGE;
	}
	struct pol_unit *u;
	int r = gwctl_compile(path, &u);
	if (r < 0)
		return 1;
	pol_unit_render_diags(u, stderr);
	if (r > 0) {
		pol_unit_free(u);
		return 1;
	}
	const void *img;
	size_t size;
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", out);
	FILE *f = NULL;
	r = pol_unit_image(u, &img, &size);
	if (r == 0 && (!(f = fopen(tmp, "wb")) || fwrite(img, 1, size, f) != size))
		r = errno ? -errno : -EIO;
	if (f && fclose(f) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, out) < 0)
		r = -errno;
	if (r < 0) {
		fprintf(stderr, "gwctl: %s: %s\n", out, strerror(-r));
		unlink(tmp);
	}
	pol_unit_free(u);
	return r < 0 ? 1 : 0;
}

/* Compiles FILE as `policy check` does; diagnostics on stderr.  NULL
 * when it cannot be read or has errors. */
struct pol_ir *gwctl_compile_ir(const char *path)
{
	struct pol_unit *u;
	int r = gwctl_compile(path, &u);
	if (r < 0)
		return NULL;
	struct pol_ir *ir = NULL;
	if (r == 0) {
		if (gwctl_load_ir(u, &ir) < 0)
			ir = NULL;
	} else {
		pol_unit_render_diags(u, stderr);
		fprintf(stderr, "%s: invalid: %u error%s\n", path, pol_unit_errors(u),
			pol_unit_errors(u) == 1 ? "" : "s");
	}
	pol_unit_free(u);
	return ir;
}

