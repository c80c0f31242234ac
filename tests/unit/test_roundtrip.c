/* SPDX-License-Identifier: MIT */
/* The canonical printer: print, parse again, compile gives the same image,
 * byte for byte, for every valid golden policy and the example household;
 * and printing is idempotent.  argv[1] is the source tree. */
#include <dirent.h>
#include <unistd.h>

#include "helpers.h"

static const char *srcdir;

static char *print_unit(struct pol_unit *u)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(pol_unit_print(u, f), 0);
	fclose(f);
	return buf;
}

/* Returns 1 when the file was checked. */
static int roundtrip(const char *dir, const char *name)
{
	char path[4096], tmp[4200];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	/* Beside the original, so relative list files resolve the same. */
	snprintf(tmp, sizeof(tmp), "%s/.roundtrip-%d-%s", dir, (int)getpid(), name);
	struct pol_unit *a, *b;
	assert_int_equal(pol_compile(path, NULL, 0, 0, &a), 0);
	if (pol_unit_errors(a)) {
		pol_unit_render_diags(a, stderr);
		fail_msg("%s does not compile", path);
	}
	char *text = print_unit(a);
	FILE *f = fopen(tmp, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(pol_compile(tmp, NULL, 0, 0, &b), 0);
	unlink(tmp);
	if (pol_unit_errors(b)) {
		pol_unit_render_diags(b, stderr);
		fail_msg("the canonical form of %s does not compile:\n%s", path, text);
	}
	const void *ia, *ib;
	size_t sa, sb;
	assert_int_equal(pol_unit_image(a, &ia, &sa), 0);
	assert_int_equal(pol_unit_image(b, &ib, &sb), 0);
	if (sa != sb || memcmp(ia, ib, sa))
		fail_msg("%s: the image changed across print and parse", path);
	char *again = print_unit(b);
	if (strcmp(text, again))
		fail_msg("%s: printing is not idempotent:\n%s\n---\n%s", path, text, again);
	/* Normalising can only remove warnings (host bits), never add one. */
	if (pol_unit_warnings(b) > pol_unit_warnings(a))
		fail_msg("%s: the canonical form has more warnings", path);
	free(text);
	free(again);
	pol_unit_free(a);
	pol_unit_free(b);
	return 1;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int roundtrip_dir(const char *rel)
{
	char dir[1024];
	snprintf(dir, sizeof(dir), "%s/%s", srcdir, rel);
	DIR *d = opendir(dir);
	if (!d)
		fail_msg("cannot open %s", dir);
	char *names[1024];
	int n = 0, checked = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < 1024) {
		size_t len = strlen(e->d_name);
		if (e->d_name[0] != '.' && len > 3 && !strcmp(e->d_name + len - 3, ".gw"))
			names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, (size_t)n, sizeof(*names), cmp_str);
	for (int i = 0; i < n; i++) {
		checked += roundtrip(dir, names[i]);
		free(names[i]);
	}
	return checked;
}

static void golden_valid(void **state)
{
	int n = roundtrip_dir("tests/golden/valid");
	print_message("round-tripped %d golden policies\n", n);
	assert_true(n >= 40);
}

static void example_household(void **state)
{
	assert_int_equal(roundtrip_dir("docs/examples"), 1);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s SOURCE_ROOT\n", argv[0]);
		return 2;
	}
	srcdir = argv[1];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(golden_valid),
		cmocka_unit_test(example_household),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
