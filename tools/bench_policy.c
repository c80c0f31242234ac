/* SPDX-License-Identifier: MIT */
/*
 * gw-bench-policy: how long the policy compiler takes and how much memory it
 * needs, from a small household to a large one with a million-domain
 * blocklist, and whether it grows linearly.
 *
 *   gw-bench-policy [--quick] [--keep DIR]
 *
 * It writes realistic policies (devices with MACs, owners and groups,
 * schedules, small prefix and domain lists, one big domains list file, and
 * rules mixing every subject, destination and clause) for R rules and D
 * list-file domains, then compiles each case three times, each time in a
 * fresh child that calls pol_compile() on the file path as gwctl does.  The
 * child times its own compile and reports through a pipe; the parent takes
 * the child's peak RSS from wait4().  The child's RSS before compiling is
 * its baseline (what it shares with this process at fork), so the table
 * shows both the peak and the compiler's own share.
 *
 * Files go to a mkdtemp() folder under /tmp, removed at the end, or to DIR
 * with --keep (left there).  Exit status: 0, or 1 when a generated policy
 * does not compile (its diagnostics are printed) or a case cannot be run.
 * Missing a target is reported, not an error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "policy.h"

#define RUNS 3
#define MAX_DOMAIN_SETS 60 /* of the 64 an image allows */
#define IO_BUF (1u << 20)

/* The targets: this many rules and domains compile within these limits. */
#define TARGET_RULES   10000u
#define TARGET_DOMAINS 1000000u
#define TARGET_SECONDS 2.0
#define TARGET_MB      256.0
#define LINEAR_SLACK   1.3 /* a time ratio up to 1.3x the size ratio is linear */

static const unsigned full_rules[] = { 100, 1000, 10000 };
static const unsigned full_domains[] = { 10000, 100000, 1000000 };
static const unsigned quick_rules[] = { 100, 1000 };
static const unsigned quick_domains[] = { 10000, 100000 };

/* What a compiling child reports through its pipe. */
struct child_report {
	int rc;             /* pol_compile's return */
	unsigned errors, warnings;
	double seconds;     /* pol_compile + pol_unit_image, monotonic clock */
	long baseline_kb;   /* the child's peak RSS before compiling */
	uint64_t image_size;
};

struct result {
	unsigned rules, domains;
	double seconds[RUNS];
	double median;
	long peak_kb, baseline_kb; /* the largest of the runs */
	uint64_t image_size;
	unsigned errors, warnings;
};

/* ---- random but repeatable ------------------------------------------- */

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned pick(uint64_t *s, unsigned n)
{
	return (unsigned)(splitmix(s) % n);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- files ------------------------------------------------------------ */

static FILE *open_out(const char *path, char **ret_buf)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return NULL;
	char *buf = malloc(IO_BUF);
	if (buf)
		setvbuf(f, buf, _IOFBF, IO_BUF);
	*ret_buf = buf;
	return f;
}

/* fclose and the buffer it used; -errno. */
static int close_out(FILE *f, char *buf)
{
	int r = ferror(f) ? -EIO : 0;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	free(buf);
	return r;
}

static const char *const words[] = {
	"ads", "track", "metrics", "pixel", "beacon", "cdn", "stat", "promo",
	"click", "banner", "telemetry", "analytics", "tag", "sync", "push", "media",
};
static const char *const seconds_lvl[] = {
	"adnet", "trackhub", "doubleserve", "pixelfarm", "metricsly", "clickworks",
	"bannerbay", "tagmanager", "syncpoint", "statcounter", "promozone", "adcloud",
};
static const char *const tlds[] = { "com", "net", "org", "io", "co.uk", "de", "info", "biz" };
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* A blocklist as they come: mostly hosts, some wildcards, comments, blank
 * lines and the odd duplicate.  Every name is distinct but the duplicates. */
static int write_domains(const char *path, unsigned n)
{
	char *buf;
	FILE *f = open_out(path, &buf);
	if (!f)
		return -errno;
	uint64_t s = n;
	fprintf(f, "# generated blocklist, %u domains\n", n);
	for (unsigned i = 0; i < n; i++) {
		if (i % 5000 == 0)
			fprintf(f, "\n# part %u\n", i / 5000);
		unsigned r = pick(&s, 1000);
		unsigned id = r < 2 && i ? i - 1 : i; /* 0.2% duplicates */
		fprintf(f, "%s%s%x.%s.%s\n", r < 50 ? "*." : "", words[id % NELEM(words)], id,
			seconds_lvl[(id / 16) % NELEM(seconds_lvl)], tlds[(id / 7) % NELEM(tlds)]);
	}
	return close_out(f, buf);
}

static const char *const device_kinds[] = {
	"phone", "laptop", "tablet", "tv", "camera", "thermostat", "console",
	"printer", "speaker", "watch", "desktop", "doorbell",
};
static const char *const group_names[] = {
	"kids", "adults", "iot", "guests", "media", "work", "cameras", "gaming",
};
static const char *const schedule_names[] = { "bedtime", "school", "weekend", "homework" };
static const char *const dlist_names[] = {
	"social", "streaming", "games", "news", "shopping", "ads-extra", "updates",
	"cloud", "voip", "education",
};
static const char *const plist_names[] = {
	"vendor-cams", "vendor-tv", "cloud-dns", "work-vpn", "game-servers", "backup",
};
static const char *const site_words[] = {
	"youtube", "tiktok", "netflix", "twitch", "roblox", "steam", "reddit",
	"instagram", "discord", "spotify", "zoom", "github", "wikipedia", "bbc",
};
static const uint16_t common_ports[] = { 22, 53, 80, 123, 443, 853, 1935, 3389, 5060, 8080, 8443 };
static const char *const rates[] = { "500kbit", "1.5mbit", "5mbit", "20mbit", "1gbit" };

struct shape {
	unsigned devices, persons;
	unsigned groups; /* the named ones, then group-N */
};

static void write_group(FILE *f, const char *before, unsigned g, const char *after)
{
	if (g < NELEM(group_names))
		fprintf(f, "%s%s%s", before, group_names[g], after);
	else
		fprintf(f, "%sgroup-%u%s", before, g, after);
}

static void write_header(FILE *f, const struct shape *sh, const char *domains_file)
{
	fputs("# generated by gw-bench-policy\n"
	      "zone home.arpa\n"
	      "timezone \"Europe/London\"\n"
	      "lan 192.168.0.0/16, 10.0.0.0/8, fd00::/8, fe80::/10\n\n", f);
	for (unsigned i = 0; i < sh->persons; i++)
		fprintf(f, "person p%u\n", i);
	for (unsigned i = 0; i < sh->groups; i++)
		write_group(f, "group ", i, "\n");
	for (unsigned i = 0; i < sh->devices; i++) {
		fprintf(f, "device %s-%u mac 02:00:%02x:%02x:%02x:00",
			device_kinds[i % NELEM(device_kinds)], i, (i >> 16) & 0xff, (i >> 8) & 0xff,
			i & 0xff);
		if (i % 3 == 0)
			fprintf(f, ", 02:00:%02x:%02x:%02x:01", (i >> 16) & 0xff, (i >> 8) & 0xff,
				i & 0xff);
		if (i % 8 != 7) /* a few devices nobody owns */
			fprintf(f, " owner p%u", i % sh->persons);
		write_group(f, " group ", i % sh->groups, "");
		if (i % 4 == 0) /* another group than the first */
			write_group(f, ", ", (i + 1 + (i / 4) % (sh->groups - 1)) % sh->groups, "");
		fputc('\n', f);
	}
	fputs("\nschedule bedtime {\n\tmon-thu,sun 21:00-07:00\n\tfri,sat 23:00-08:00\n}\n"
	      "schedule school mon-fri 08:00-15:00\n"
	      "schedule weekend sat,sun 09:00-21:00\n"
	      "schedule homework mon-fri 16:00-18:00\n\n", f);
	fprintf(f, "list blocklist domains file \"%s\"\n", domains_file);
	for (size_t l = 0; l < NELEM(dlist_names); l++) {
		fprintf(f, "list %s domains {\n", dlist_names[l]);
		for (size_t k = 0; k < 6; k++) {
			const char *w = site_words[(l * 3 + k) % NELEM(site_words)];
			fprintf(f, "\t%s%s-%zu.%s\n", k % 3 == 0 ? "*." : "", w, l, tlds[k % NELEM(tlds)]);
		}
		fputs("}\n", f);
	}
	for (size_t l = 0; l < NELEM(plist_names); l++) {
		fprintf(f, "list %s prefixes {\n", plist_names[l]);
		for (unsigned k = 0; k < 4; k++)
			fprintf(f, "\t198.%u.%u.0/24\n", 18 + (unsigned)l % 2, (unsigned)l * 16 + k);
		fprintf(f, "\t2001:db8:%zx::/48\n}\n", l + 1);
	}
	fputc('\n', f);
}

static void write_subject(FILE *f, uint64_t *s, const struct shape *sh, unsigned i, bool *is_new)
{
	unsigned r = pick(s, 100), n = 1 + pick(s, 3);
	*is_new = false;
	if (r < 2) {
		fputs("any", f);
	} else if (r < 4) {
		fputs("new", f);
		*is_new = true;
	} else if (r < 16) {
		unsigned g = pick(s, sh->groups);
		write_group(f, "group ", g, "");
		if (n > 1)
			write_group(f, ", ", (g + 1) % sh->groups, "");
	} else if (r < 36) {
		unsigned p = pick(s, sh->persons);
		fprintf(f, "person p%u", p);
		if (n > 1 && sh->persons > 1)
			fprintf(f, ", p%u", (p + 1) % sh->persons);
	} else {
		/* Mostly the devices of rule i's neighbourhood: each device gets a
		 * handful of rules, as in a real household. */
		unsigned d = (i / 10 + pick(s, 3)) % sh->devices;
		for (unsigned k = 0; k < n && k < sh->devices; k++) {
			unsigned x = (d + k) % sh->devices;
			fprintf(f, "%s%s-%u", k ? ", " : "device ",
				device_kinds[x % NELEM(device_kinds)], x);
		}
	}
}

/* Destinations: lists, inline domains (while the budget of domain sets
 * lasts), prefixes, internet, lan, or none (any); each at most once.
 * `narrow`: no internet or lan, for rules without a port. */
static void write_dsts(FILE *f, uint64_t *s, unsigned i, bool is_new, bool narrow,
		       unsigned *inline_left)
{
	if (is_new) {
		fputs(" to internet", f);
		return;
	}
	if (!narrow && pick(s, 100) < 4)
		return; /* any destination */
	enum { D_INTERNET, D_LAN, D_BLOCKLIST, D_DOMAINS, D_PREFIXES, D_INLINE_DOMAIN,
	       D_INLINE_PREFIX };
	uint64_t used = 0; /* bit per kind, and per list after the kinds */
	unsigned n = 1 + pick(s, 3), written = 0;
	bool inline_domains = false;
	for (unsigned tries = 0; written < n && tries < 10; tries++) {
		unsigned r = pick(s, 100), kind, bit;
		unsigned dl = pick(s, NELEM(dlist_names)), pl = pick(s, NELEM(plist_names));
		kind = r < 15 ? D_INTERNET : r < 22 ? D_BLOCKLIST : r < 47 ? D_DOMAINS
		     : r < 62 ? D_PREFIXES : r < 77 ? D_INLINE_DOMAIN : r < 90 ? D_INLINE_PREFIX
		     : D_LAN;
		bit = kind == D_DOMAINS ? 8 + dl : kind == D_PREFIXES ? 8 + NELEM(dlist_names) + pl
		    : kind;
		if ((used >> bit & 1) || (narrow && (kind == D_INTERNET || kind == D_LAN)) ||
		    (kind == D_INLINE_DOMAIN && !inline_domains && !*inline_left))
			continue;
		used |= 1ull << bit;
		fputs(written++ ? ", " : " to ", f);
		switch (kind) {
		case D_INTERNET: fputs("internet", f); break;
		case D_LAN: fputs("lan", f); break;
		case D_BLOCKLIST: fputs("list blocklist", f); break;
		case D_DOMAINS: fprintf(f, "list %s", dlist_names[dl]); break;
		case D_PREFIXES: fprintf(f, "list %s", plist_names[pl]); break;
		case D_INLINE_DOMAIN:
			if (!inline_domains)
				(*inline_left)--;
			inline_domains = true;
			fprintf(f, "%s%s-r%u.%s", pick(s, 2) ? "*." : "",
				site_words[pick(s, NELEM(site_words))], i, tlds[pick(s, NELEM(tlds))]);
			break;
		case D_INLINE_PREFIX:
			if (pick(s, 3))
				fprintf(f, "203.0.%u.%u/26", i % 256, pick(s, 4) * 64);
			else
				fprintf(f, "2001:db8:ff:%x::/64", i);
			break;
		}
	}
	if (!written)
		fputs(" to list blocklist", f);
}

static void write_rule(FILE *f, uint64_t *s, const struct shape *sh, unsigned i,
		       unsigned *inline_left)
{
	unsigned a = pick(s, 100);
	const char *action = a < 50 ? "allow" : a < 90 ? "block" : "reject";
	fprintf(f, "rule r%u-%s %s ", i, action, action);
	bool is_new;
	write_subject(f, s, sh, i, &is_new);

	/* Protocols and ports: most rules name a port of their own, as rules
	 * for one service do, so few rules cover each other; a rule without a
	 * port names narrow destinations. */
	unsigned p = pick(s, 100);
	bool icmp = p < 5, ported = !icmp && pick(s, 100) < 90;
	write_dsts(f, s, i, is_new, !ported, inline_left);
	if (icmp)
		fputs(" proto icmp", f);
	else if (p < 40)
		fputs(" proto tcp", f);
	else if (p < 50)
		fputs(" proto udp", f);
	else if (p < 60)
		fputs(" proto tcp, udp", f);
	if (ported) {
		unsigned k = pick(s, 10);
		if (k < 4)
			fprintf(f, " port %u", 10000 + i);
		else if (k < 7)
			fprintf(f, " port %u, %u", common_ports[pick(s, NELEM(common_ports))], 10000 + i);
		else if (k < 9)
			fprintf(f, " port %u-%u", 20000 + i, 20000 + i + pick(s, 50));
		else
			fprintf(f, " port %u", common_ports[pick(s, NELEM(common_ports))]);
	}
	if (pick(s, 100) < 20)
		fprintf(f, " during %s", schedule_names[pick(s, NELEM(schedule_names))]);
	if (a < 50 && pick(s, 100) < 15)
		fprintf(f, " rate %s", rates[pick(s, NELEM(rates))]);
	if (pick(s, 100) < 20)
		fputs(" log", f);
	fputc('\n', f);
}

static int write_policy(const char *path, unsigned rules, const char *domains_file)
{
	struct shape sh = { .devices = rules / 10 > 4 ? rules / 10 : 4 };
	sh.persons = sh.devices / 4 > 2 ? sh.devices / 4 : 2;
	/* A few groups in a home, more in a large site, about 16 devices each:
	 * the subjects of group rules then vary as the policy grows, as they
	 * would, instead of 8 groups of a thousand devices each. */
	sh.groups = sh.devices / 16;
	sh.groups = sh.groups < NELEM(group_names) ? (unsigned)NELEM(group_names)
		  : sh.groups > 64 ? 64 : sh.groups;
	/* Domain sets: the blocklist, the small lists, and one per rule with
	 * inline domains, up to the budget. */
	unsigned inline_left = MAX_DOMAIN_SETS - 1 - (unsigned)NELEM(dlist_names);
	char *buf;
	FILE *f = open_out(path, &buf);
	if (!f)
		return -errno;
	uint64_t s = rules * 2654435761u;
	write_header(f, &sh, domains_file);
	for (unsigned i = 0; i < rules; i++)
		write_rule(f, &s, &sh, i, &inline_left);
	fputs("\ndefault allow\ndefault new block\n", f);
	return close_out(f, buf);
}

/* ---- measuring -------------------------------------------------------- */

static void child_compile(const char *path, int fd)
{
	struct child_report rep = { 0 };
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	rep.baseline_kb = ru.ru_maxrss;

	struct pol_unit *u = NULL;
	double t0 = now();
	rep.rc = pol_compile(path, NULL, 0, 0, &u);
	if (rep.rc == 0) {
		const void *img;
		size_t size;
		if (pol_unit_image(u, &img, &size) == 0)
			rep.image_size = size;
		rep.seconds = now() - t0;
		rep.errors = pol_unit_errors(u);
		rep.warnings = pol_unit_warnings(u);
	}
	ssize_t w = write(fd, &rep, sizeof(rep));
	pol_unit_free(u);
	_exit(w == (ssize_t)sizeof(rep) ? 0 : 1);
}

/* One compile in a child: its report and peak RSS; -errno. */
static int run_once(const char *path, struct child_report *ret, long *ret_peak_kb)
{
	int fds[2];
	if (pipe(fds) < 0)
		return -errno;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		int r = -errno;
		close(fds[0]);
		close(fds[1]);
		return r;
	}
	if (pid == 0) {
		close(fds[0]);
		child_compile(path, fds[1]);
	}
	close(fds[1]);
	struct child_report rep = { 0 };
	size_t got = 0;
	while (got < sizeof(rep)) {
		ssize_t n = read(fds[0], (char *)&rep + got, sizeof(rep) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fds[0]);
	int status;
	struct rusage ru;
	while (wait4(pid, &status, 0, &ru) < 0)
		if (errno != EINTR)
			return -errno;
	if (got != sizeof(rep) || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -ECHILD;
	*ret = rep;
	*ret_peak_kb = ru.ru_maxrss;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int measure(const char *path, struct result *res)
{
	for (int k = 0; k < RUNS; k++) {
		struct child_report rep = { 0 };
		long peak = 0;
		int r = run_once(path, &rep, &peak);
		if (r < 0) {
			fprintf(stderr, "gw-bench-policy: compiling %s in a child failed: %s\n", path,
				strerror(-r));
			return r;
		}
		if (rep.rc < 0) {
			fprintf(stderr, "gw-bench-policy: pol_compile(%s): %s\n", path,
				strerror(-rep.rc));
			return rep.rc;
		}
		res->seconds[k] = rep.seconds;
		res->errors = rep.errors;
		res->warnings = rep.warnings;
		res->image_size = rep.image_size;
		if (peak > res->peak_kb)
			res->peak_kb = peak;
		if (rep.baseline_kb > res->baseline_kb)
			res->baseline_kb = rep.baseline_kb;
		if (rep.errors) /* once is enough */
			return 0;
	}
	double sorted[RUNS];
	memcpy(sorted, res->seconds, sizeof(sorted));
	qsort(sorted, RUNS, sizeof(double), cmp_double);
	res->median = sorted[RUNS / 2];
	return 0;
}

/* A generated policy that does not compile is a bug in this program or in
 * the compiler: show why, compiling it once more in this process. */
static void print_diags(const char *path)
{
	struct pol_unit *u;
	fprintf(stderr, "gw-bench-policy: the generated policy %s does not compile:\n", path);
	if (pol_compile(path, NULL, 0, 0, &u) < 0) {
		fprintf(stderr, "gw-bench-policy: out of memory\n");
		return;
	}
	pol_unit_render_diags(u, stderr);
	pol_unit_free(u);
}

/* ---- the report ------------------------------------------------------- */

static double mb(long kb)
{
	return (double)kb / 1024.0;
}

static const struct result *find(const struct result *res, size_t n, unsigned rules,
				 unsigned domains)
{
	for (size_t i = 0; i < n; i++)
		if (res[i].rules == rules && res[i].domains == domains)
			return &res[i];
	return NULL;
}

static void print_table(const struct result *res, size_t n)
{
	printf("\n%7s %9s %10s %9s %8s %10s %8s %8s %6s\n", "rules", "domains", "compile s",
	       "peak MB", "base MB", "compile MB", "image MB", "warnings", "errors");
	for (size_t i = 0; i < n; i++) {
		const struct result *r = &res[i];
		printf("%7u %9u %10.3f %9.1f %8.1f %10.1f %8.2f %8u %6u\n", r->rules, r->domains,
		       r->median, mb(r->peak_kb), mb(r->baseline_kb),
		       mb(r->peak_kb - r->baseline_kb), (double)r->image_size / 1048576.0,
		       r->warnings, r->errors);
	}
	printf("(compile s: median of %d runs; peak MB: the child's peak RSS; base MB: its RSS\n"
	       " before compiling; compile MB: peak minus base)\n", RUNS);
}

static void print_targets(const struct result *res, size_t n)
{
	const struct result *t = find(res, n, TARGET_RULES, TARGET_DOMAINS);
	printf("\ntargets (%u rules, %u domains):\n", TARGET_RULES, TARGET_DOMAINS);
	if (!t) {
		printf("  not measured (--quick)\n");
		return;
	}
	printf("  compile time %.3f s, target < %.0f s: %s\n", t->median, TARGET_SECONDS,
	       t->median < TARGET_SECONDS ? "PASS" : "FAIL");
	printf("  peak RSS %.1f MB (compiler's own %.1f MB), target < %.0f MB: %s\n",
	       mb(t->peak_kb), mb(t->peak_kb - t->baseline_kb), TARGET_MB,
	       mb(t->peak_kb) < TARGET_MB ? "PASS" : "FAIL");
}

static void print_ratio(const char *what, unsigned from, unsigned to, const char *fixed,
			unsigned fixed_n, const struct result *a, const struct result *b)
{
	double size = (double)to / from, ratio = a->median > 0 ? b->median / a->median : 0;
	printf("  %-7s %7u -> %7u at %7u %-7s  %8.4f s -> %8.4f s  x%5.2f (size x%g)  %s\n",
	       what, from, to, fixed_n, fixed, a->median, b->median, ratio, size,
	       ratio <= LINEAR_SLACK * size ? "linear" : "NOT linear");
}

static void print_linearity(const struct result *res, size_t n, const unsigned *rules, size_t nr,
			    const unsigned *domains, size_t nd)
{
	printf("\nlinearity (linear: the time ratio is at most %.1fx the size ratio):\n",
	       LINEAR_SLACK);
	for (size_t d = 0; d < nd; d++)
		for (size_t r = 1; r < nr; r++)
			print_ratio("rules", rules[r - 1], rules[r], "domains", domains[d],
				    find(res, n, rules[r - 1], domains[d]),
				    find(res, n, rules[r], domains[d]));
	for (size_t r = 0; r < nr; r++)
		for (size_t d = 1; d < nd; d++)
			print_ratio("domains", domains[d - 1], domains[d], "rules", rules[r],
				    find(res, n, rules[r], domains[d - 1]),
				    find(res, n, rules[r], domains[d]));
	printf("\nper item (largest cases):\n");
	const struct result *big = find(res, n, rules[nr - 1], domains[0]);
	const struct result *small = find(res, n, rules[0], domains[0]);
	printf("  %.2f us per rule (rules %u -> %u at %u domains)\n",
	       (big->median - small->median) / (rules[nr - 1] - rules[0]) * 1e6, rules[0],
	       rules[nr - 1], domains[0]);
	big = find(res, n, rules[0], domains[nd - 1]);
	small = find(res, n, rules[0], domains[0]);
	printf("  %.0f ns per domain (domains %u -> %u at %u rules)\n",
	       (big->median - small->median) / (domains[nd - 1] - domains[0]) * 1e9, domains[0],
	       domains[nd - 1], rules[0]);
}

/* ---- main ------------------------------------------------------------- */

static void usage(FILE *out)
{
	fputs("usage: gw-bench-policy [--quick] [--keep DIR]\n"
	      "  --quick     a smaller matrix (100 and 1000 rules, 10k and 100k domains)\n"
	      "  --keep DIR  write the generated policies to DIR and leave them there\n", out);
}

static char *path_in(const char *dir, const char *name)
{
	char *p;
	return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "keep", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool quick = false;
	const char *keep = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'q': quick = true; break;
		case 'k': keep = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	const unsigned *rules = quick ? quick_rules : full_rules;
	const unsigned *domains = quick ? quick_domains : full_domains;
	size_t nr = quick ? NELEM(quick_rules) : NELEM(full_rules);
	size_t nd = quick ? NELEM(quick_domains) : NELEM(full_domains);

	char tmpl[] = "/tmp/gw-bench-policy-XXXXXX";
	const char *dir;
	if (keep) {
		if (mkdir(keep, 0755) < 0 && errno != EEXIST) {
			fprintf(stderr, "gw-bench-policy: mkdir %s: %s\n", keep, strerror(errno));
			return 1;
		}
		dir = keep;
	} else if (!(dir = mkdtemp(tmpl))) {
		fprintf(stderr, "gw-bench-policy: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	printf("gw-bench-policy: policies in %s%s\n", dir,
	       keep ? " (kept)" : " (removed at the end)");

	int status = 1;
	size_t ncases = nr * nd, done = 0, nfiles = 0;
	struct result *res = calloc(ncases, sizeof(*res));
	char **files = calloc(nd + ncases, sizeof(*files));
	if (!res || !files) {
		fprintf(stderr, "gw-bench-policy: out of memory\n");
		goto out;
	}
	for (size_t d = 0; d < nd; d++) {
		char name[64], dname[64];
		snprintf(dname, sizeof(dname), "domains-%u.txt", domains[d]);
		char *dpath = files[nfiles++] = path_in(dir, dname);
		if (!dpath)
			goto oom;
		double t0 = now();
		int r = write_domains(dpath, domains[d]);
		if (r < 0) {
			fprintf(stderr, "gw-bench-policy: writing %s: %s\n", dpath, strerror(-r));
			goto out;
		}
		printf("wrote %s in %.2f s\n", dname, now() - t0);
		for (size_t k = 0; k < nr; k++) {
			snprintf(name, sizeof(name), "policy-r%u-d%u.gw", rules[k], domains[d]);
			char *ppath = files[nfiles++] = path_in(dir, name);
			if (!ppath)
				goto oom;
			r = write_policy(ppath, rules[k], dname);
			if (r < 0) {
				fprintf(stderr, "gw-bench-policy: writing %s: %s\n", ppath, strerror(-r));
				goto out;
			}
		}
	}

	/* Rules outer, domains inner: the table reads by household size. */
	for (size_t k = 0; k < nr; k++) {
		for (size_t d = 0; d < nd; d++) {
			struct result *r = &res[done];
			r->rules = rules[k];
			r->domains = domains[d];
			char *ppath = files[d * (nr + 1) + 1 + k];
			printf("compiling %u rules, %u domains ...", rules[k], domains[d]);
			fflush(stdout);
			if (measure(ppath, r) < 0)
				goto out;
			done++;
			if (r->errors) {
				printf(" %u errors\n", r->errors);
				fflush(stdout);
				print_diags(ppath);
				goto out;
			}
			printf(" %.3f s\n", r->median);
		}
	}
	print_table(res, done);
	print_targets(res, done);
	print_linearity(res, done, rules, nr, domains, nd);
	status = 0;
	goto out;
oom:
	fprintf(stderr, "gw-bench-policy: out of memory\n");
out:
	for (size_t i = 0; i < nfiles; i++) {
		if (!keep && files[i])
			unlink(files[i]);
		free(files[i]);
	}
	if (!keep && rmdir(dir) < 0)
		fprintf(stderr, "gw-bench-policy: rmdir %s: %s\n", dir, strerror(errno));
	free(files);
	free(res);
	return status;
}
