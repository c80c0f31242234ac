/* SPDX-License-Identifier: MIT */
/* The front end: normal forms, diagnostics, recovery, limits. */
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"

static char *show(const char *text)
{
	struct pol_unit *u;
	assert_int_equal(pol_compile("t.gw", text, strlen(text), POL_F_NO_FILES, &u), 0);
	if (pol_unit_errors(u)) {
		pol_unit_render_diags(u, stderr);
		fail_msg("did not compile");
	}
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(pol_unit_print(u, f), 0);
	fclose(f);
	pol_unit_free(u);
	return buf;
}

static void normal_forms(void **state)
{
	char *s = show("lan 192.168.1.7/24, FD00::/8\n"
		       "device a mac 02-AB-cd-00-00-01\n"
		       "schedule s { fri-mon 07:30-9:00\n daily 22:00-00:00 }\n"
		       "schedule w weekends 00:00-24:00\n"
		       "rule r allow device a to WWW.Example.COM., 198.51.100.7, 2001:DB8::1 "
		       "proto icmp, tcp during s rate 2500kbit log\n"
		       "rule q allow device a during w rate 1000000bit\n"
		       "default block\n");
	assert_contains(s, "lan 192.168.1.0/24, fd00::/8\n");
	assert_contains(s, "device a mac 02:ab:cd:00:00:01\n");
	assert_contains(s, "\tmon,fri-sun 07:30-09:00\n");
	assert_contains(s, "\tdaily 22:00-24:00\n");
	assert_contains(s, "schedule w sat,sun 00:00-24:00\n");
	assert_contains(s, "to www.example.com, 198.51.100.7, 2001:db8::1 proto tcp, icmp "
			   "during s rate 2500kbit log\n");
	assert_contains(s, "rate 1mbit\n");
	free(s);
}

static void diagnostic_format(void **state)
{
	unsigned errors;
	char *d = compile_diags("group kids\n"
				"device t mac 02:00:00:00:00:01 group kids\n"
				"rule r block group kidz to internet\n"
				"default block\n", &errors);
	assert_int_equal(errors, 1);
	assert_string_equal(d, "test.gw:3:20: error: unknown group 'kidz'\n"
			       "    rule r block group kidz to internet\n"
			       "                       ^~~~\n"
			       "hint: did you mean 'kids'?\n");
	free(d);
}

static void duplicate_shows_first(void **state)
{
	unsigned errors;
	char *d = compile_diags("person ann\nperson bob\nperson ann\ndefault allow\n", &errors);
	assert_int_equal(errors, 1);
	assert_contains(d, "test.gw:3:8: error: duplicate person 'ann'\n");
	assert_contains(d, "test.gw:1:8: note: first defined here\n    person ann\n           ^~~\n");
	free(d);
}

static void all_errors_in_one_run(void **state)
{
	unsigned errors;
	char *d = compile_diags("devce x\n"
				"rule r deny any\n"
				"schedule s mon 25:00-07:00\n"
				"rule q allow any port 0\n"
				"default allow\n", &errors);
	assert_int_equal(errors, 4);
	assert_contains(d, "test.gw:1:1: error: unknown statement 'devce'");
	assert_contains(d, "hint: did you mean 'device'?");
	assert_contains(d, "test.gw:2:8: error: unknown action 'deny'");
	assert_contains(d, "hint: did you mean 'block'?");
	assert_contains(d, "test.gw:3:16: error: invalid time range '25:00-07:00'");
	assert_contains(d, "test.gw:4:23: error: invalid port '0'");
	free(d);
}

static void errors_are_capped(void **state)
{
	char text[4096] = "";
	for (int i = 0; i < 30; i++)
		strcat(text, "bogus\n");
	strcat(text, "default allow\n");
	unsigned errors;
	char *d = compile_diags(text, &errors);
	assert_int_equal(errors, 30);
	size_t shown = 0;
	for (const char *p = d; (p = strstr(p, ": error: ")); p++)
		shown++;
	assert_int_equal(shown, 20);
	assert_contains(d, "too many errors (30); stopped after 20\n");
	free(d);
}

static void missing_default(void **state)
{
	unsigned errors;
	char *d = compile_diags("person a\n", &errors);
	assert_int_equal(errors, 1);
	assert_contains(d, "test.gw: error: no default action");
	free(d);
}

static void no_files_mode_refuses_includes(void **state)
{
	unsigned errors;
	char *d = compile_diags("include \"x.gw\"\nlist l domains file \"l.txt\"\ndefault allow\n",
				&errors);
	assert_int_equal(errors, 2);
	assert_contains(d, "include is not allowed");
	assert_contains(d, "list files are not allowed");
	free(d);
}

static void unreadable_main_file(void **state)
{
	struct pol_unit *u;
	assert_int_equal(pol_compile("/nonexistent/home.gw", NULL, 0, 0, &u), 0);
	assert_int_equal(pol_unit_errors(u), 1);
	const struct pol_diag *g = pol_unit_diag(u, 0);
	assert_string_equal(g->loc.file, "/nonexistent/home.gw");
	assert_int_equal(g->loc.line, 0);
	assert_string_equal(g->message, "cannot read: No such file or directory");
	pol_unit_free(u);
}

static void warnings_do_not_fail(void **state)
{
	struct pol_unit *u;
	const char *text = "person ann\n"
			   "device a mac 02:00:00:00:00:01\n"
			   "rule all block device a\n"
			   "rule web allow device a port 443\n"
			   "schedule s { mon 10:00-12:00\n mon 11:00-13:00 }\n"
			   "rule p allow any to 10.1.2.3/8 during s\n"
			   "default allow\n";
	assert_int_equal(pol_compile("t.gw", text, strlen(text), POL_F_NO_FILES, &u), 0);
	assert_int_equal(pol_unit_errors(u), 0);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	pol_unit_render_diags(u, f);
	fclose(f);
	assert_contains(buf, "warning: person 'ann' is never used");
	assert_contains(buf, "t.gw:4:6: warning: rule 'web' can never match");
	assert_contains(buf, "t.gw:3:6: note: rule 'all' matches everything it would");
	assert_contains(buf, "warning: windows of schedule 's' overlap");
	assert_contains(buf, "warning: '10.1.2.3/8' has host bits set");
	assert_contains(buf, "warning: schedules are in UTC");
	assert_int_equal(pol_unit_warnings(u), 5);
	free(buf);
	pol_unit_free(u);
}

static void shadowing_is_precise(void **state)
{
	/* None of these later rules is shadowed: each differs somewhere. */
	struct pol_unit *u;
	const char *text = "timezone \"UTC\"\ngroup kids\n"
			   "device a mac 02:00:00:00:00:01 group kids\n"
			   "device b mac 02:00:00:00:00:02\n"
			   "schedule s mon 10:00-12:00\n"
			   "rule r1 block device a to internet port 80\n"
			   "rule r2 block device a to internet port 81\n"
			   "rule r3 block device a, b to internet port 80\n"
			   "rule r4 block any during s\n"
			   "rule r5 block device a to lan proto tcp\n"
			   "rule r6 block new\n"
			   "rule r7 allow group kids to 192.168.1.0/24 proto udp\n"
			   "rule r8 allow device a to 192.168.0.0/16 proto udp\n"
			   "rule r9 allow device a to *.x.example\n"
			   "rule r10 allow device a to y.x.example\n"
			   "rule r11 allow device b to lan proto tcp\n"
			   "default allow\n";
	assert_int_equal(pol_compile("t.gw", text, strlen(text), POL_F_NO_FILES, &u), 0);
	assert_int_equal(pol_unit_errors(u), 0);
	/* r10 is covered by r9's wildcard. */
	assert_int_equal(pol_unit_warnings(u), 1);
	assert_string_equal(pol_unit_diag(u, 0)->message, "rule 'r10' can never match");
	pol_unit_free(u);
}

static void limits(void **state)
{
	char *text = malloc(65536);
	text[0] = '\0';
	for (int i = 0; i < 65; i++)
		sprintf(text + strlen(text), "group g%d\n", i);
	strcat(text, "default allow\n");
	unsigned errors;
	char *d = compile_diags(text, &errors);
	assert_int_equal(errors, 1);
	assert_contains(d, "test.gw:65:7: error: too many groups: at most 64");
	free(d);
	text[0] = '\0';
	for (int i = 0; i < 65; i++)
		sprintf(text + strlen(text), "list l%d domains { d%d.example }\nrule r%d block any to list l%d\n", i, i, i, i);
	strcat(text, "default allow\n");
	d = compile_diags(text, &errors);
	assert_int_equal(errors, 1);
	assert_contains(d, "error: too many domain sets: at most 64");
	free(d);
	free(text);
}

/* A FIFO, as the policy, an include or a list file, is refused at once
 * (opening it for reading would wait for a writer forever). */
static void non_regular_files_refused(void **state)
{
	char dir[64], fifo[96], main_gw[96], text[512];
	snprintf(dir, sizeof(dir), "/tmp/gw-test-parse-%d-XXXXXX", (int)getpid());
	assert_non_null(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	snprintf(main_gw, sizeof(main_gw), "%s/main.gw", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	struct pol_unit *u;
	assert_int_equal(pol_compile(fifo, NULL, 0, 0, &u), 0);
	assert_int_equal(pol_unit_errors(u), 1);
	assert_string_equal(pol_unit_diag(u, 0)->message, "cannot read: not a regular file");
	pol_unit_free(u);
	snprintf(text, sizeof(text), "include \"fifo\"\nlist l domains file \"fifo\"\n"
		 "list d domains file \"/dev/zero\"\nrule r block any to list l, list d\n"
		 "default allow\n");
	FILE *f = fopen(main_gw, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(pol_compile(main_gw, NULL, 0, 0, &u), 0);
	assert_int_equal(pol_unit_errors(u), 3);
	char *buf = NULL;
	size_t len = 0;
	f = open_memstream(&buf, &len);
	pol_unit_render_diags(u, f);
	fclose(f);
	assert_contains(buf, "main.gw:1:9: error: cannot include");
	assert_contains(buf, "fifo': not a regular file");
	assert_contains(buf, "main.gw:2:21: error: cannot read list file");
	assert_contains(buf, "'/dev/zero': not a regular file");
	free(buf);
	pol_unit_free(u);
	unlink(fifo);
	unlink(main_gw);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(normal_forms),
		cmocka_unit_test(diagnostic_format),
		cmocka_unit_test(duplicate_shows_first),
		cmocka_unit_test(all_errors_in_one_run),
		cmocka_unit_test(errors_are_capped),
		cmocka_unit_test(missing_default),
		cmocka_unit_test(no_files_mode_refuses_includes),
		cmocka_unit_test(unreadable_main_file),
		cmocka_unit_test(warnings_do_not_fail),
		cmocka_unit_test(shadowing_is_precise),
		cmocka_unit_test(limits),
		cmocka_unit_test(non_regular_files_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
