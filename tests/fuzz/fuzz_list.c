/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: list files.  A household downloads block lists from the
 * internet and names them with `list NAME domains|prefixes file "..."`, so
 * their lines are untrusted input that fuzz_parse (POL_F_NO_FILES) never
 * reaches.  Each input is written as list.txt in a scratch folder and read
 * through two fixed policies, one per kind of list.  A policy that compiles
 * must load and be safe to read (readers.c).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image.h"
#include "policy.h"
#include "readers.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/gw-fuzz-list-XXXXXX";
static char list_path[64], policy_path[2][64];
static FILE *null_out;

static void write_file(const char *path, const void *data, size_t size)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
}

static void cleanup(void)
{
	unlink(list_path);
	unlink(policy_path[0]);
	unlink(policy_path[1]);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const policies[2] = {
		"list l domains file \"list.txt\"\nrule r block any to list l\ndefault allow\n",
		"list l prefixes file \"list.txt\"\nrule r block any to list l\ndefault allow\n",
	};
	null_out = fopen("/dev/null", "w");
	if (!null_out || !mkdtemp(dir))
		abort();
	snprintf(list_path, sizeof(list_path), "%s/list.txt", dir);
	for (int i = 0; i < 2; i++) {
		snprintf(policy_path[i], sizeof(policy_path[i]), "%s/p%d.gw", dir, i);
		write_file(policy_path[i], policies[i], strlen(policies[i]));
	}
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	write_file(list_path, data, size);
	for (int i = 0; i < 2; i++) {
		struct pol_unit *u;
		if (pol_compile(policy_path[i], NULL, 0, 0, &u) < 0)
			continue;
		pol_unit_render_diags(u, null_out);
		const void *img;
		size_t img_size;
		if (pol_unit_errors(u) == 0) {
			struct pol_ir *ir = NULL;
			char err[256];
			if (pol_unit_image(u, &img, &img_size) < 0 ||
			    pol_image_load(img, img_size, &ir, err, sizeof(err)) < 0)
				abort();
			fuzz_read_ir(ir, true);
			pol_ir_free(ir);
		} else if (pol_unit_image(u, &img, &img_size) == 0) {
			abort(); /* never a partial policy */
		}
		pol_unit_free(u);
	}
	return 0;
}
