/* SPDX-License-Identifier: MIT */
/*
 * dp-mkimage POLICY.gw IMAGE: compile a policy file and write its image,
 * for the dataplane tests (gw-dataplane --policy loads images only).
 * Exit 0, or 1 with the diagnostics on stderr.
 */
#include <stdio.h>

#include "policy.h"

int main(int argc, char **argv)
{
	struct pol_unit *u = NULL;
	const void *img;
	size_t size;
	if (argc != 3) {
		fputs("usage: dp-mkimage POLICY IMAGE\n", stderr);
		return 2;
	}
	if (pol_compile(argv[1], NULL, 0, 0, &u) < 0) {
		fputs("dp-mkimage: out of memory\n", stderr);
		return 1;
	}
	int rc = 1;
	if (pol_unit_errors(u)) {
		pol_unit_render_diags(u, stderr);
		goto out;
	}
	if (pol_unit_image(u, &img, &size) < 0)
		goto out;
	FILE *f = fopen(argv[2], "wb");
	if (!f) {
		perror(argv[2]);
		goto out;
	}
	if (fwrite(img, 1, size, f) == size)
		rc = 0;
	if (fclose(f) != 0)
		rc = 1;
out:
	pol_unit_free(u);
	return rc;
}
