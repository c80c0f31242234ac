/* SPDX-License-Identifier: MIT */
/*
 * gwctl: the household's command line.  `gwctl policy check|show|explain`
 * work on files alone: no daemon, no root.  `gwctl policy apply|history|
 * rollback|confirm` and `gwctl status` talk to gwd over its API socket
 * (docs/api.md; --socket PATH, $GWD_SOCKET, or /run/gw/gwd.sock).  Exit
 * codes: 0 ok, 1 failure (an invalid policy, a refusal), 2 usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "diff.h"
#include "eval.h"
#include "image.h"
#include "policy.h"

#define EXIT_USAGE 2

static const char *const action_names[] = { "allow", "block", "reject" };

static void usage(FILE *out)
{
	fputs("usage: gwctl policy check FILE [--json]\n"
	      "       gwctl policy show FILE\n"
	      "       gwctl policy compile FILE -o IMAGE\n"
	      "       gwctl policy explain FILE --from DEVICE --to HOST[:PORT][/PROTO]\n"
	      "                            [--at TIME] [--domain NAME] [--json]\n"
	      "       gwctl policy apply FILE [--dry-run] [--confirm DUR] [-m MSG]\n"
	      "       gwctl policy history [GEN] [--json]\n"
	      "       gwctl policy rollback [GEN]\n"
	      "       gwctl policy confirm\n"
	      "       gwctl policy diff [OLD] FILE [--json]\n"
	      "       gwctl status [--json]\n"
	      "       gwctl devices [--json]\n"
	      "       gwctl flows [--device NAME|MAC] [--limit N] [--json]\n"
	      "       gwctl domains learn NAME ADDR... [--ttl SECONDS]\n"
	      "\n"
	      "apply, history, rollback, confirm, diff with one file, status, devices,\n"
	      "flows and domains talk to gwd: --socket PATH, or $GWD_SOCKET, or\n"
	      "/run/gw/gwd.sock.  DUR is seconds or 30s, 5m, 1h.\n"
	      "\n"
	      "DEVICE is a device name, a MAC address, or 'new'.  HOST is an address\n"
	      "([v6]:port for IPv6 with a port) or a domain name.  TIME is 'now',\n"
	      "'mon 21:30' or '2026-11-27 21:30' in the policy's time zone.\n", out);
}

static void json_loc(json_t *o, const struct pol_loc *loc)
{
	json_object_set_new(o, "file", loc->file ? json_string(loc->file) : json_null());
	json_object_set_new(o, "line", json_integer(loc->line));
	json_object_set_new(o, "col", json_integer(loc->col));
	json_object_set_new(o, "len", json_integer(loc->len));
}

static int print_json(const char *path, const struct pol_unit *u)
{
	json_t *root = json_object(), *list = json_array();
	if (!root || !list)
		return -ENOMEM;
	json_object_set_new(root, "file", json_string(path));
	json_object_set_new(root, "valid", json_boolean(pol_unit_errors(u) == 0));
	json_object_set_new(root, "errors", json_integer(pol_unit_errors(u)));
	json_object_set_new(root, "warnings", json_integer(pol_unit_warnings(u)));
	for (size_t i = 0; i < pol_unit_ndiags(u); i++) {
		const struct pol_diag *g = pol_unit_diag(u, i);
		json_t *o = json_object();
		json_loc(o, &g->loc);
		json_object_set_new(o, "severity",
				    json_string(g->severity == POL_SEV_ERROR ? "error" : "warning"));
		json_object_set_new(o, "message", json_string(g->message));
		json_object_set_new(o, "hint", g->hint ? json_string(g->hint) : json_null());
		if (g->note_msg) {
			json_t *n = json_object();
			json_loc(n, &g->note);
			json_object_set_new(n, "message", json_string(g->note_msg));
			json_object_set_new(o, "note", n);
		}
		json_array_append_new(list, o);
	}
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
static int compile(const char *path, struct pol_unit **ret)
{
	int r = pol_compile(path, NULL, 0, 0, ret);
	if (r < 0) {
		fprintf(stderr, "gwctl: %s: %s\n", path, strerror(-r));
		return r;
	}
	return pol_unit_errors(*ret) ? 1 : 0;
}

static int load_ir(const struct pol_unit *u, struct pol_ir **ret)
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

static int cmd_check(int argc, char **argv)
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
		usage(stderr);
		return EXIT_USAGE;
	}
	struct pol_unit *u;
	int r = compile(path, &u);
	if (r < 0)
		return 1;
	if (json) {
		if (print_json(path, u) < 0)
			r = 1;
	} else {
		pol_unit_render_diags(u, stderr);
		if (r == 0) {
			struct pol_ir *ir;
			if (load_ir(u, &ir) < 0) {
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

static int cmd_show(int argc, char **argv)
{
	if (argc != 1 || argv[0][0] == '-') {
		usage(stderr);
		return EXIT_USAGE;
	}
	struct pol_unit *u;
	int r = compile(argv[0], &u);
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
static int cmd_compile(int argc, char **argv)
{
	const char *path = NULL, *out = NULL;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "-o") && i + 1 < argc)
			out = argv[++i];
		else if (argv[i][0] != '-' && !path)
			path = argv[i];
		else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!path || !out) {
		usage(stderr);
		return EXIT_USAGE;
	}
	struct pol_unit *u;
	int r = compile(path, &u);
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

/* ---- explain --------------------------------------------------------- */

struct target {
	uint8_t family;
	uint8_t addr[16];
	bool have_addr;
	char domain[256];
	uint8_t proto;
	uint16_t port;
	bool have_port;
};

static int parse_port(const char *s, uint16_t *ret)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < 1 || v > 65535)
		return -EINVAL;
	*ret = (uint16_t)v;
	return 0;
}

/* HOST[:PORT][/PROTO] */
static int parse_target(const char *arg, struct target *t, const char **why)
{
	char buf[300];
	if (strlen(arg) >= sizeof(buf)) {
		*why = "too long";
		return -EINVAL;
	}
	strcpy(buf, arg);
	char *slash = strrchr(buf, '/');
	t->proto = 0;
	if (slash) {
		*slash = '\0';
		const char *p = slash + 1;
		t->proto = !strcmp(p, "tcp") ? IPPROTO_TCP : !strcmp(p, "udp") ? IPPROTO_UDP
			 : !strcmp(p, "icmp") ? IPPROTO_ICMP : 0;
		if (!t->proto) {
			*why = "the protocol is tcp, udp or icmp";
			return -EINVAL;
		}
	}
	char *host = buf, *port = NULL;
	if (buf[0] == '[') {
		char *close = strchr(buf, ']');
		if (!close) {
			*why = "missing ']'";
			return -EINVAL;
		}
		*close = '\0';
		host = buf + 1;
		if (close[1] == ':')
			port = close + 2;
		else if (close[1]) {
			*why = "expected ':' and a port after ']'";
			return -EINVAL;
		}
	} else {
		char *colon = strchr(buf, ':');
		if (colon && !strchr(colon + 1, ':')) {
			*colon = '\0';
			port = colon + 1;
		}
	}
	if (port) {
		if (parse_port(port, &t->port) < 0) {
			*why = "the port is 1-65535";
			return -EINVAL;
		}
		t->have_port = true;
	}
	if (inet_pton(AF_INET, host, t->addr) == 1) {
		t->family = 4;
		t->have_addr = true;
	} else if (inet_pton(AF_INET6, host, t->addr) == 1) {
		t->family = 6;
		t->have_addr = true;
	} else if (strchr(host, '.') && strlen(host) < sizeof(t->domain)) {
		strcpy(t->domain, host);
	} else {
		*why = "the host is an IPv4 or IPv6 address or a domain name";
		return -EINVAL;
	}
	if (!t->proto)
		t->proto = IPPROTO_TCP;
	if (t->proto == IPPROTO_ICMP && t->have_port) {
		*why = "icmp has no ports";
		return -EINVAL;
	}
	if (!t->have_port && t->proto != IPPROTO_ICMP) {
		t->port = 443;
		t->have_port = true;
	}
	if (t->proto == IPPROTO_ICMP && t->family == 6)
		t->proto = IPPROTO_ICMPV6;
	return 0;
}

static int day_of(const char *s)
{
	static const char *const days[] = { "mon", "tue", "wed", "thu", "fri", "sat", "sun" };
	for (int i = 0; i < 7; i++)
		if (!strcmp(s, days[i]))
			return i;
	return -1;
}

/* now | DAY HH:MM | YYYY-MM-DD HH:MM (local to the policy). */
static int parse_when(const struct pol_ir *ir, const char *s, struct pol_when *w)
{
	if (!strcmp(s, "now"))
		return pol_when_at(ir, time(NULL), w);
	char day[8];
	unsigned h, m, y, mo, d;
	char tail;
	if (sscanf(s, "%7s %u:%u%c", day, &h, &m, &tail) == 3 && day_of(day) >= 0) {
		if (h > 23 || m > 59)
			return -EINVAL;
		w->wday = (uint8_t)day_of(day);
		w->minute = (uint16_t)(h * 60 + m);
		return 0;
	}
	if (sscanf(s, "%u-%u-%u %u:%u%c", &y, &mo, &d, &h, &m, &tail) == 5) {
		if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || m > 59 || y < 1970)
			return -EINVAL;
		/* Weekday of a civil date (Sakamoto), Monday = 0. */
		static const int t[] = { 0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4 };
		unsigned yy = mo < 3 ? y - 1 : y;
		int sun0 = (int)((yy + yy / 4 - yy / 100 + yy / 400 + (unsigned)t[mo - 1] + d) % 7);
		w->wday = (uint8_t)((sun0 + 6) % 7);
		w->minute = (uint16_t)(h * 60 + m);
		return 0;
	}
	return -EINVAL;
}

static void print_loc(const struct pol_unit *u, uint32_t rule)
{
	struct pol_loc loc;
	if (pol_unit_rule_loc(u, rule, &loc) == 0)
		printf("%s:%u", loc.file, loc.line);
}

static json_t *rule_loc_json(const struct pol_unit *u, const struct pol_ir *ir, uint32_t rule)
{
	struct pol_loc loc = { 0 };
	json_t *o = json_object();
	if (rule < ir->nrules) {
		json_object_set_new(o, "rule", json_string(pol_ir_str(ir, ir->rules[rule].name)));
		pol_unit_rule_loc(u, rule, &loc);
	} else {
		json_object_set_new(o, "rule", json_string(rule == POL_RULE_DEFAULT_NEW
								   ? "default new" : "default"));
	}
	json_object_set_new(o, "file", loc.file ? json_string(loc.file) : json_null());
	json_object_set_new(o, "line", loc.file ? json_integer(loc.line) : json_null());
	return o;
}

/* `policy explain --json`: the same facts as the text, one object. */
static int explain_json(const struct pol_unit *u, const struct pol_ir *ir,
			const struct pol_facts *f, const struct pol_verdict *v,
			const uint8_t *trace, const struct target *tg, const char *domain)
{
	static const char *const daynames[] = { "mon", "tue", "wed", "thu", "fri", "sat", "sun" };
	char addr[INET6_ADDRSTRLEN], at[8];
	inet_ntop(f->family == 4 ? AF_INET : AF_INET6, f->dst, addr, sizeof(addr));
	bool icmp = f->proto == IPPROTO_ICMP || f->proto == IPPROTO_ICMPV6;
	json_t *lists = json_array();
	for (uint32_t s = 0; s < ir->ndomain_sets; s++)
		if (f->domain_sets >> s & 1)
			json_array_append_new(lists,
					      json_string(pol_ir_str(ir, ir->domain_sets[s].name)));
	snprintf(at, sizeof(at), "%02u:%02u", f->when.minute / 60, f->when.minute % 60);
	json_t *verdict = rule_loc_json(u, ir, v->rule);
	json_object_set_new(verdict, "action", json_string(action_names[v->action]));
	json_object_set_new(verdict, "rate_bps",
			    v->rate_bps ? json_integer((json_int_t)v->rate_bps) : json_null());
	json_object_set_new(verdict, "log", json_boolean(v->log));
	json_t *earlier = json_array();
	uint32_t upto = v->rule < ir->nrules ? v->rule : ir->nrules;
	for (uint32_t i = 0; i < upto; i++) {
		json_t *o = rule_loc_json(u, ir, i);
		json_object_set_new(o, "why", json_string(pol_miss_name((enum pol_miss)trace[i])));
		json_array_append_new(earlier, o);
	}
	json_t *root = json_pack(
		"{s:{s:o,s:b},s:{s:o,s:s,s:o},s:o,s:o,s:{s:s,s:s,s:s},s:o,s:o}",
		"from", "device",
		f->device == POL_NONE ? json_null()
				      : json_string(pol_ir_str(ir, ir->devices[f->device].name)),
		"new", f->device == POL_NONE,
		"to", "address", tg->have_addr ? json_string(addr) : json_null(), "proto",
		icmp ? "icmp" : f->proto == IPPROTO_UDP ? "udp" : "tcp", "port",
		icmp ? json_null() : json_integer(f->dport),
		"domain", domain ? json_string(domain) : json_null(), "domain_lists", lists,
		"at", "day", daynames[f->when.wday], "time", at, "timezone",
		pol_ir_str(ir, ir->meta->timezone), "verdict", verdict, "earlier", earlier);
	char *out = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(root);
	if (!out)
		return -ENOMEM;
	puts(out);
	free(out);
	return 0;
}

static int cmd_explain(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "at", required_argument, NULL, 'a' },
		{ "domain", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ 0 },
	};
	const char *from = NULL, *to = NULL, *at = "now", *domain = NULL;
	bool json = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'f': from = optarg; break;
		case 't': to = optarg; break;
		case 'a': at = optarg; break;
		case 'd': domain = optarg; break;
		case 'j': json = true; break;
		default:
			fprintf(stderr, "gwctl policy explain: unknown or incomplete option '%s'\n",
				argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1 || !from || !to) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *path = argv[optind];
	struct target tg = { 0 };
	const char *why = NULL;
	if (parse_target(to, &tg, &why) < 0) {
		fprintf(stderr, "gwctl policy explain: --to '%s': %s\n", to, why);
		return EXIT_USAGE;
	}
	struct pol_unit *u;
	int r = compile(path, &u);
	if (r < 0)
		return 1;
	if (r > 0) {
		pol_unit_render_diags(u, stderr);
		pol_unit_free(u);
		return 1;
	}
	struct pol_ir *ir;
	if (load_ir(u, &ir) < 0) {
		pol_unit_free(u);
		return 1;
	}
	int ret = 1;
	struct pol_facts f = { .family = tg.family, .proto = tg.proto, .dport = tg.port };
	memcpy(f.dst, tg.addr, 16);
	if (!tg.have_addr) {
		/* A domain alone stands for an internet address in its sets:
		 * 192.0.2.1 (TEST-NET-1) is outside every home's LAN. */
		f.family = 4;
		memcpy(f.dst, (uint8_t[]){ 192, 0, 2, 1 }, 4);
		if (tg.proto == IPPROTO_ICMPV6)
			f.proto = IPPROTO_ICMP;
		domain = tg.domain;
	}
	if (domain)
		f.domain_sets = pol_domain_sets_of(ir, domain);
	if (parse_when(ir, at, &f.when) < 0) {
		fprintf(stderr, "gwctl policy explain: --at '%s': expected now, 'mon 21:30' or "
				"'2026-11-27 21:30'\n", at);
		ret = EXIT_USAGE;
		goto out;
	}
	uint8_t mac[6];
	char macbuf[32];
	snprintf(macbuf, sizeof(macbuf), "%s", from);
	for (char *m = macbuf; *m; m++)
		if (*m == '-')
			*m = ':';
	if (!strcmp(from, "new")) {
		f.device = POL_NONE;
	} else if ((f.device = pol_device_by_name(ir, from)) != POL_NONE) {
	} else if (strlen(from) == 17 &&
		   sscanf(macbuf, "%2hhx:%2hhx:%2hhx:%2hhx:%2hhx:%2hhx", &mac[0], &mac[1], &mac[2],
			  &mac[3], &mac[4], &mac[5]) == 6) {
		f.device = pol_device_by_mac(ir, mac);
	} else {
		fprintf(stderr, "gwctl policy explain: --from '%s': no such device in %s "
				"(give a device name, a MAC address, or 'new')\n", from, path);
		goto out;
	}

	uint8_t *trace = calloc(ir->nrules + 1, 1);
	if (!trace)
		goto out;
	struct pol_verdict v;
	pol_eval(ir, &f, &v, trace);

	if (json) {
		ret = explain_json(u, ir, &f, &v, trace, &tg, domain) < 0 ? 1 : 0;
		free(trace);
		goto out;
	}
	static const char *const daynames[] = { "mon", "tue", "wed", "thu", "fri", "sat", "sun" };
	const char *proto = f.proto == IPPROTO_TCP ? "tcp" : f.proto == IPPROTO_UDP ? "udp" : "icmp";
	char addr[INET6_ADDRSTRLEN];
	inet_ntop(f.family == 4 ? AF_INET : AF_INET6, f.dst, addr, sizeof(addr));
	if (f.device == POL_NONE)
		printf("from:    a new device (never seen before)\n");
	else
		printf("from:    device %s\n", pol_ir_str(ir, ir->devices[f.device].name));
	if (tg.have_addr)
		printf("to:      %s", addr);
	else
		printf("to:      %s (an internet address)", tg.domain);
	if (f.proto == IPPROTO_ICMP || f.proto == IPPROTO_ICMPV6)
		printf(" icmp\n");
	else
		printf(" %s port %u\n", proto, f.dport);
	if (f.domain_sets) {
		printf("domain:  %s is in", domain);
		for (uint32_t s = 0; s < ir->ndomain_sets; s++)
			if (f.domain_sets >> s & 1) {
				const char *n = pol_ir_str(ir, ir->domain_sets[s].name);
				if (!strncmp(n, "rule:", 5))
					printf(" [the domains of rule %s]", n + 5);
				else
					printf(" [list %s]", n);
			}
		putchar('\n');
	} else if (domain) {
		printf("domain:  %s is in no list of the policy\n", domain);
	}
	printf("at:      %s %02u:%02u (%s)\n", daynames[f.when.wday], f.when.minute / 60,
	       f.when.minute % 60, pol_ir_str(ir, ir->meta->timezone));
	printf("verdict: %s", action_names[v.action]);
	if (v.rule < ir->nrules) {
		printf(" by rule %s (", pol_ir_str(ir, ir->rules[v.rule].name));
		print_loc(u, v.rule);
		printf(")");
	} else {
		printf(" by %s: no rule matched",
		       v.rule == POL_RULE_DEFAULT_NEW ? "'default new'" : "'default'");
	}
	if (v.rate_bps)
		printf("; rate limited to %llu bit/s", (unsigned long long)v.rate_bps);
	if (v.log)
		printf("; logged");
	putchar('\n');
	uint32_t upto = v.rule < ir->nrules ? v.rule : ir->nrules;
	if (upto)
		printf("earlier rules:\n");
	for (uint32_t i = 0; i < upto; i++) {
		printf("  ");
		print_loc(u, i);
		printf(" %s: %s\n", pol_ir_str(ir, ir->rules[i].name),
		       pol_miss_name((enum pol_miss)trace[i]));
	}
	free(trace);
	ret = 0;
out:
	pol_ir_free(ir);
	pol_unit_free(u);
	return ret;
}

/* ---- gwd client ------------------------------------------------------ */

/* docs/api.md: the version of the requests gwctl sends, and the longest
 * reply line it reads: more than gwd's limit for a request, since a reply
 * may carry a whole policy image (policy.get). */
#define API_VERSION 1
#define API_MAX_LINE (256u << 20)
#define DEFAULT_SOCKET "/run/gw/gwd.sock"

/* Takes --socket PATH out of argv (in place); NULL: $GWD_SOCKET or the
 * default.  -1 on a --socket without a value. */
static int take_socket(int *argc, char **argv, const char **ret)
{
	const char *path = getenv("GWD_SOCKET");
	int o = 0;
	for (int i = 0; i < *argc; i++) {
		if (!strcmp(argv[i], "--socket")) {
			if (i + 1 >= *argc)
				return -1;
			path = argv[++i];
		} else if (!strncmp(argv[i], "--socket=", 9)) {
			path = argv[i] + 9;
		} else {
			argv[o++] = argv[i];
		}
	}
	*argc = o;
	*ret = path && *path ? path : DEFAULT_SOCKET;
	return 0;
}

/* One request, one reply.  NULL after printing why on stderr. */
static json_t *call(const char *sock, json_t *req)
{
	static int64_t next_id = 1;
	json_t *reply = NULL;
	char *line = NULL, *buf = NULL;
	int fd = -1;
	json_object_set_new(req, "v", json_integer(API_VERSION));
	json_object_set_new(req, "id", json_integer(next_id++));
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(sock) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "gwctl: %s: socket path too long\n", sock);
		goto out;
	}
	strcpy(sun.sun_path, sock);
	line = json_dumps(req, JSON_COMPACT);
	if (!line)
		goto out;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "gwctl: cannot reach gwd at %s: %s\n", sock, strerror(errno));
		goto out;
	}
	size_t len = strlen(line);
	line[len] = '\n'; /* json_dumps's NUL becomes the line's end */
	for (size_t off = 0; off < len + 1;) {
		ssize_t n = write(fd, line + off, len + 1 - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "gwctl: %s: %s\n", sock, strerror(errno));
			goto out;
		}
		off += (size_t)n;
	}
	size_t have = 0, cap = 65536;
	buf = malloc(cap);
	while (buf) {
		char *nl = memchr(buf, '\n', have);
		if (nl) {
			json_error_t je;
			reply = json_loadb(buf, (size_t)(nl - buf), 0, &je);
			if (!json_is_object(reply)) {
				fprintf(stderr, "gwctl: gwd's reply is not a JSON object: %s\n",
					je.text);
				json_decref(reply);
				reply = NULL;
			}
			break;
		}
		if (have == cap) {
			if (cap > API_MAX_LINE) {
				fprintf(stderr, "gwctl: gwd's reply is longer than %u bytes\n",
					API_MAX_LINE);
				break;
			}
			char *b = realloc(buf, cap * 2);
			if (!b)
				break;
			buf = b;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + have, cap - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "gwctl: gwd closed the connection without a reply\n");
			break;
		}
		have += (size_t)n;
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	free(line);
	json_decref(req);
	return reply;
}

/* The files diagnostics name, each read once with its line starts: a
 * reply may carry hundreds of warnings into one file. */
struct src_file {
	char *path;
	char *text; /* NULL: not readable here */
	size_t size;
	size_t *starts; /* starts[i]: offset of line i + 1 */
	size_t nlines;
};
#define SRC_CACHE 8
static struct src_file src_cache[SRC_CACHE];
static unsigned src_next; /* the slot to replace when all are taken */

static void src_load(struct src_file *s, const char *path)
{
	*s = (struct src_file){ .path = strdup(path) };
	FILE *f = s->path ? fopen(path, "r") : NULL;
	if (!f)
		return;
	char *text = NULL;
	size_t size = 0, cap = 0;
	for (;;) {
		if (cap - size < 65536) {
			char *t = cap < ((size_t)1 << 30) ? realloc(text, cap * 2 + 65536) : NULL;
			if (!t)
				goto fail;
			text = t;
			cap = cap * 2 + 65536;
		}
		size_t n = fread(text + size, 1, cap - size, f);
		size += n;
		if (n == 0)
			break;
	}
	if (ferror(f))
		goto fail;
	size_t nl = 1;
	for (size_t i = 0; i < size; i++)
		nl += text[i] == '\n';
	s->starts = malloc(nl * sizeof(*s->starts));
	if (!s->starts)
		goto fail;
	s->starts[s->nlines++] = 0;
	for (size_t i = 0; i < size; i++)
		if (text[i] == '\n')
			s->starts[s->nlines++] = i + 1;
	s->text = text;
	s->size = size;
	fclose(f);
	return;
fail:
	free(text);
	fclose(f);
}

static const struct src_file *src_get(const char *path)
{
	for (unsigned i = 0; i < SRC_CACHE; i++)
		if (src_cache[i].path && !strcmp(src_cache[i].path, path))
			return &src_cache[i];
	struct src_file *s = &src_cache[src_next];
	src_next = (src_next + 1) % SRC_CACHE;
	free(s->path);
	free(s->text);
	free(s->starts);
	src_load(s, path);
	return s;
}

/* The source line and a caret under the span, as pol_unit_render_diags
 * shows them, when the file is readable here; one write. */
static void show_source(const char *file, unsigned line, unsigned col, unsigned len)
{
	const struct src_file *s = file && line ? src_get(file) : NULL;
	if (!s || !s->text || line > s->nlines)
		return;
	const char *text = s->text + s->starts[line - 1];
	size_t n = (line < s->nlines ? s->starts[line] - 1 : s->size) - s->starts[line - 1];
	if (n > 4095)
		n = 4095; /* as the line buffer of the compiler's own rendering */
	char *out = NULL;
	size_t outlen = 0;
	FILE *o = open_memstream(&out, &outlen);
	if (!o)
		return;
	fprintf(o, "    %.*s\n    ", (int)n, text);
	for (unsigned i = 1; i < col && i - 1 < n; i++)
		fputc(text[i - 1] == '\t' ? '\t' : ' ', o);
	fputc('^', o);
	for (unsigned i = 1; i < len; i++)
		fputc('~', o);
	fputc('\n', o);
	if (fclose(o) == 0)
		fwrite(out, 1, outlen, stderr);
	free(out);
}

/* gwd names the file by the absolute path gwctl sent; diagnostics show
 * it as the user wrote it. */
static const char *sent_path, *user_path;

static void print_diag(json_t *g)
{
	const char *file = json_string_value(json_object_get(g, "file"));
	if (file && sent_path && !strcmp(file, sent_path))
		file = user_path;
	unsigned line = (unsigned)json_integer_value(json_object_get(g, "line"));
	unsigned col = (unsigned)json_integer_value(json_object_get(g, "col"));
	unsigned len = (unsigned)json_integer_value(json_object_get(g, "len"));
	const char *sev = json_string_value(json_object_get(g, "severity"));
	const char *msg = json_string_value(json_object_get(g, "message"));
	const char *hint = json_string_value(json_object_get(g, "hint"));
	if (file && line)
		fprintf(stderr, "%s:%u:%u: ", file, line, col);
	else if (file)
		fprintf(stderr, "%s: ", file);
	fprintf(stderr, "%s: %s\n", sev ? sev : "error", msg ? msg : "?");
	show_source(file, line, col, len);
	if (hint)
		fprintf(stderr, "hint: %s\n", hint);
	json_t *note = json_object_get(g, "note");
	if (note) {
		const char *nf = json_string_value(json_object_get(note, "file"));
		unsigned nl = (unsigned)json_integer_value(json_object_get(note, "line"));
		unsigned nc = (unsigned)json_integer_value(json_object_get(note, "col"));
		fprintf(stderr, "%s:%u:%u: note: %s\n", nf ? nf : "?", nl, nc,
			json_string_value(json_object_get(note, "message")));
	}
}

/* 0 for an ok reply; otherwise prints gwd's error and returns 1. */
static int check_reply(json_t *reply, const char *what)
{
	if (!reply)
		return 1;
	if (json_is_true(json_object_get(reply, "ok")))
		return 0;
	json_t *e = json_object_get(reply, "error");
	json_t *diags = json_object_get(e, "diagnostics");
	size_t i;
	json_t *g;
	json_array_foreach(diags, i, g)
		print_diag(g);
	fprintf(stderr, "gwctl %s: %s (%s)\n", what,
		json_string_value(json_object_get(e, "message")) ?: "refused",
		json_string_value(json_object_get(e, "code")) ?: "?");
	return 1;
}

static void print_json_reply(json_t *reply)
{
	json_object_del(reply, "v");
	json_object_del(reply, "id");
	json_object_del(reply, "ok");
	char *s = json_dumps(reply, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (s)
		puts(s);
	free(s);
}

/* Seconds, or a number with s, m or h. */
static int parse_duration(const char *s, uint32_t *ret)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return -EINVAL;
	unsigned long mul = !*end || !strcmp(end, "s") ? 1 : !strcmp(end, "m") ? 60
			  : !strcmp(end, "h") ? 3600 : 0;
	if (!mul || v == 0 || v > 86400 / mul)
		return -EINVAL;
	*ret = (uint32_t)(v * mul);
	return 0;
}

static void print_time(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char buf[40];
	localtime_r(&tt, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
	fputs(buf, stdout);
}

static int cmd_apply(int argc, char **argv, const char *sock)
{
	const char *path = NULL, *msg = NULL;
	bool dry = false;
	uint32_t confirm = 0;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--dry-run")) {
			dry = true;
		} else if (!strcmp(argv[i], "--confirm") && i + 1 < argc) {
			if (parse_duration(argv[++i], &confirm) < 0) {
				fprintf(stderr, "gwctl policy apply: --confirm '%s': expected "
						"seconds or 30s, 5m, 1h (at most 24h)\n", argv[i]);
				return EXIT_USAGE;
			}
		} else if (!strcmp(argv[i], "-m") && i + 1 < argc) {
			msg = argv[++i];
		} else if (argv[i][0] != '-' && !path) {
			path = argv[i];
		} else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!path || (dry && confirm)) {
		if (dry && confirm)
			fprintf(stderr, "gwctl policy apply: --dry-run and --confirm do not mix\n");
		else
			usage(stderr);
		return EXIT_USAGE;
	}
	/* gwd compiles the file itself, by its absolute path, so includes
	 * and list files resolve as for `gwctl policy check`. */
	char *abs = realpath(path, NULL);
	if (!abs) {
		fprintf(stderr, "gwctl: %s: %s\n", path, strerror(errno));
		return 1;
	}
	json_t *req = json_pack("{s:s,s:s,s:b}", "cmd", "policy.apply", "path", abs, "dry_run",
				dry);
	if (msg)
		json_object_set_new(req, "message", json_string(msg));
	if (confirm)
		json_object_set_new(req, "confirm_seconds", json_integer(confirm));
	sent_path = abs;
	user_path = path;
	json_t *reply = call(sock, req);
	int r = check_reply(reply, "policy apply");
	if (r == 0) {
		json_t *w;
		size_t i;
		json_array_foreach(json_object_get(reply, "warnings"), i, w)
			print_diag(w);
		json_int_t gen = json_integer_value(json_object_get(reply, "generation"));
		const char *hash = json_string_value(json_object_get(reply, "hash"));
		if (dry)
			printf("%s: valid; would be generation %lld (%s); nothing changed\n", path,
			       (long long)gen, hash);
		else
			printf("applied %s as generation %lld (%s)\n", path, (long long)gen, hash);
		if (json_object_get(reply, "confirm_deadline")) {
			printf("confirm within %us (gwctl policy confirm) or gwd returns to "
			       "generation %lld at ", confirm,
			       (long long)json_integer_value(json_object_get(reply, "previous")));
			print_time(json_integer_value(json_object_get(reply, "confirm_deadline")));
			putchar('\n');
		}
	}
	json_decref(reply);
	sent_path = user_path = NULL;
	free(abs);
	return r;
}

static int parse_gen(const char *s, uint32_t *ret)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || end == s || s[0] == '-' || v == 0 || v > UINT32_MAX)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

static int cmd_history(int argc, char **argv, const char *sock)
{
	bool json = false;
	uint32_t gen = 0;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!gen && parse_gen(argv[i], &gen) == 0)
			continue;
		else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	json_t *req = json_pack("{s:s}", "cmd", "policy.history");
	if (gen)
		json_object_set_new(req, "generation", json_integer(gen));
	json_t *reply = call(sock, req);
	int r = check_reply(reply, "policy history");
	if (r == 0 && json) {
		print_json_reply(reply);
	} else if (r == 0 && gen) {
		json_t *e = json_object_get(reply, "entry");
		printf("# generation %u by %s at ", gen,
		       json_string_value(json_object_get(e, "user")));
		print_time(json_integer_value(json_object_get(e, "time")));
		printf(" (%s)\n%s", json_string_value(json_object_get(e, "hash")),
		       json_string_value(json_object_get(e, "text")));
	} else if (r == 0) {
		json_int_t cur = json_integer_value(json_object_get(reply, "current"));
		size_t i;
		json_t *e;
		json_array_foreach(json_object_get(reply, "generations"), i, e) {
			json_int_t g = json_integer_value(json_object_get(e, "generation"));
			const char *m = json_string_value(json_object_get(e, "message"));
			printf("%c %4lld  ", g == cur ? '*' : ' ', (long long)g);
			print_time(json_integer_value(json_object_get(e, "time")));
			printf("  %-10s %.19s  %s\n", json_string_value(json_object_get(e, "user")),
			       json_string_value(json_object_get(e, "hash")), m ? m : "");
		}
	}
	json_decref(reply);
	return r;
}

static int cmd_rollback(int argc, char **argv, const char *sock)
{
	uint32_t gen = 0;
	if (argc > 1 || (argc == 1 && parse_gen(argv[0], &gen) < 0)) {
		usage(stderr);
		return EXIT_USAGE;
	}
	json_t *req = json_pack("{s:s}", "cmd", "policy.rollback");
	if (gen)
		json_object_set_new(req, "generation", json_integer(gen));
	json_t *reply = call(sock, req);
	int r = check_reply(reply, "policy rollback");
	if (r == 0)
		printf("restored generation %lld as generation %lld\n",
		       (long long)json_integer_value(json_object_get(reply, "restores")),
		       (long long)json_integer_value(json_object_get(reply, "generation")));
	json_decref(reply);
	return r;
}

static int cmd_confirm(int argc, char **argv, const char *sock)
{
	if (argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	json_t *reply = call(sock, json_pack("{s:s}", "cmd", "policy.confirm"));
	int r = check_reply(reply, "policy confirm");
	if (r == 0)
		printf("generation %lld confirmed\n",
		       (long long)json_integer_value(json_object_get(reply, "generation")));
	json_decref(reply);
	return r;
}

static int cmd_status(int argc, char **argv, const char *sock)
{
	bool json = argc == 1 && !strcmp(argv[0], "--json");
	if (argc > 1 || (argc == 1 && !json)) {
		usage(stderr);
		return EXIT_USAGE;
	}
	json_t *reply = call(sock, json_pack("{s:s}", "cmd", "status"));
	int r = check_reply(reply, "status");
	if (r == 0 && json) {
		print_json_reply(reply);
	} else if (r == 0) {
		json_int_t gen = json_integer_value(json_object_get(reply, "generation"));
		if (gen)
			printf("generation: %lld (%s)\n", (long long)gen,
			       json_string_value(json_object_get(reply, "hash")));
		else
			printf("generation: none applied yet\n");
		json_t *p = json_object_get(reply, "pending");
		if (json_is_object(p))
			printf("pending:    generation %lld awaits confirmation; returns to %lld "
			       "in %llds\n",
			       (long long)json_integer_value(json_object_get(p, "generation")),
			       (long long)json_integer_value(json_object_get(p, "previous")),
			       (long long)json_integer_value(json_object_get(p, "seconds_left")));
		size_t i;
		json_t *e;
		json_array_foreach(json_object_get(reply, "engines"), i, e)
			printf("engine:     %-8s generation %lld, %s\n",
			       json_string_value(json_object_get(e, "name")),
			       (long long)json_integer_value(json_object_get(e, "generation")),
			       json_string_value(json_object_get(e, "state")));
		json_t *dns = json_object_get(reply, "dns");
		if (json_is_object(dns)) {
			const char *last = json_string_value(json_object_get(dns, "last_exit"));
			printf("dns:        %s, pid %lld, %lld restarts%s%s\n",
			       json_string_value(json_object_get(dns, "state")),
			       (long long)json_integer_value(json_object_get(dns, "pid")),
			       (long long)json_integer_value(json_object_get(dns, "restarts")),
			       last ? ", last exit: " : "", last ? last : "");
		}
	}
	json_decref(reply);
	return r;
}

/* ---- devices, flows, diff, domains ------------------------------------- */

/* 1.2 MB: decimal units, as network people count bytes. */
static void fmt_size(char *buf, size_t n, uint64_t v)
{
	static const char *const units[] = { "kB", "MB", "GB", "TB", "PB" };
	if (v < 1000) {
		snprintf(buf, n, "%llu B", (unsigned long long)v);
		return;
	}
	double x = (double)v;
	int u = -1;
	while (x >= 999.95 && u < 4) {
		x /= 1000;
		u++;
	}
	snprintf(buf, n, x < 10 ? "%.1f %s" : "%.0f %s", x, units[u]);
}

/* 3m12s, 2h05m, 4d03h: two units at most. */
static void fmt_age(char *buf, size_t n, uint64_t ms)
{
	uint64_t s = ms / 1000;
	if (s < 60)
		snprintf(buf, n, "%llus", (unsigned long long)s);
	else if (s < 3600)
		snprintf(buf, n, "%llum%02llus", (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60));
	else if (s < 86400)
		snprintf(buf, n, "%lluh%02llum", (unsigned long long)(s / 3600),
			 (unsigned long long)(s % 3600 / 60));
	else
		snprintf(buf, n, "%llud%02lluh", (unsigned long long)(s / 86400),
			 (unsigned long long)(s % 86400 / 3600));
}

/* Aligned columns, as `ip` and `ps` print them: a header row, then rows;
 * each cell is copied. */
#define TABLE_COLS 12
struct table {
	size_t ncols, nrows, cap;
	char *(*rows)[TABLE_COLS];
	bool right[TABLE_COLS]; /* numbers align right */
};

static void table_row(struct table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 32;
		void *r = realloc(t->rows, cap * sizeof(*t->rows));
		if (!r)
			return;
		t->rows = r;
		t->cap = cap;
	}
	for (size_t c = 0; c < t->ncols; c++)
		t->rows[t->nrows][c] = strdup(cells[c] ? cells[c] : "-");
	t->nrows++;
}

static void table_print(struct table *t)
{
	size_t w[TABLE_COLS] = { 0 };
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++)
			if (t->rows[r][c] && strlen(t->rows[r][c]) > w[c])
				w[c] = strlen(t->rows[r][c]);
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *cell = t->rows[r][c] ? t->rows[r][c] : "?";
			bool last = c + 1 == t->ncols;
			if (t->right[c])
				printf("%*s", (int)w[c], cell);
			else
				printf("%-*s", last ? 0 : (int)w[c], cell);
			if (!last)
				fputs("  ", stdout);
		}
		putchar('\n');
	}
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++)
			free(t->rows[r][c]);
	free(t->rows);
}

static uint64_t jnum(json_t *o, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(o, key));
	return v > 0 ? (uint64_t)v : 0;
}

static int cmd_devices(int argc, char **argv, const char *sock)
{
	bool json = argc == 1 && !strcmp(argv[0], "--json");
	if (argc > 1 || (argc == 1 && !json)) {
		usage(stderr);
		return EXIT_USAGE;
	}
	json_t *reply = call(sock, json_pack("{s:s}", "cmd", "devices"));
	int r = check_reply(reply, "devices");
	if (r == 0 && json) {
		print_json_reply(reply);
	} else if (r == 0) {
		uint64_t now = jnum(reply, "now_ms");
		struct table t = { .ncols = 9, .right = { [4] = true, [5] = true, [6] = true,
							  [7] = true } };
		table_row(&t, (const char *[]){ "NAME", "OWNER", "GROUPS", "MAC", "OUT", "IN",
						"BLOCKED", "FLOWS", "LAST SEEN" });
		size_t i;
		json_t *d;
		json_array_foreach(json_object_get(reply, "devices"), i, d) {
			json_t *tot = json_object_get(d, "totals"), *macs = json_object_get(d, "macs");
			char groups[256] = "", mac[48] = "", out[24], in[24], blk[24], flows[24],
			     seen[32];
			size_t k;
			json_t *g;
			json_array_foreach(json_object_get(d, "groups"), k, g) {
				size_t l = strlen(groups);
				snprintf(groups + l, sizeof(groups) - l, "%s%s", k ? "," : "",
					 json_string_value(g));
			}
			/* The first MAC, and how many more (`devices --json` lists all). */
			const char *m0 = json_string_value(json_array_get(macs, 0));
			if (json_array_size(macs) > 1)
				snprintf(mac, sizeof(mac), "%s +%zu", m0, json_array_size(macs) - 1);
			else
				snprintf(mac, sizeof(mac), "%s", m0 ? m0 : "-");
			fmt_size(out, sizeof(out), jnum(tot, "bytes_out"));
			fmt_size(in, sizeof(in), jnum(tot, "bytes_in"));
			fmt_size(blk, sizeof(blk), jnum(tot, "blocked_bytes"));
			snprintf(flows, sizeof(flows), "%llu", (unsigned long long)jnum(tot, "flows_live"));
			uint64_t last = jnum(tot, "last_seen_ms");
			if (last) {
				fmt_age(seen, sizeof(seen), now > last ? now - last : 0);
				strcat(seen, " ago");
			} else {
				snprintf(seen, sizeof(seen), "never");
			}
			const char *name = json_string_value(json_object_get(d, "name"));
			table_row(&t, (const char *[]){
					      name ? name : "(new)",
					      json_string_value(json_object_get(d, "owner")),
					      groups[0] ? groups : NULL, mac, out, in, blk, flows,
					      seen });
		}
		table_print(&t);
	}
	json_decref(reply);
	return r;
}

static int parse_count(const char *s, uint32_t max, uint32_t *ret)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || end == s || s[0] == '-' || v == 0 || v > max)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

static int cmd_flows(int argc, char **argv, const char *sock)
{
	bool json = false;
	const char *device = NULL;
	uint32_t limit = 0;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--device") && i + 1 < argc) {
			device = argv[++i];
		} else if (!strcmp(argv[i], "--limit") && i + 1 < argc) {
			if (parse_count(argv[++i], 65536, &limit) < 0) {
				fprintf(stderr, "gwctl flows: --limit '%s': expected 1 to 65536\n",
					argv[i]);
				return EXIT_USAGE;
			}
		} else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	json_t *req = json_pack("{s:s}", "cmd", "flows");
	if (device)
		json_object_set_new(req, "device", json_string(device));
	if (limit)
		json_object_set_new(req, "limit", json_integer(limit));
	json_t *reply = call(sock, req);
	int r = check_reply(reply, "flows");
	if (r == 0 && json) {
		print_json_reply(reply);
	} else if (r == 0) {
		struct table t = { .ncols = 11, .right = { [6] = true, [7] = true, [8] = true,
							   [9] = true, [10] = true } };
		table_row(&t, (const char *[]){ "DEVICE", "PROTO", "SOURCE", "DESTINATION",
						"VERDICT", "RULE", "GEN", "OUT", "IN", "AGE", "IDLE" });
		size_t i;
		json_t *f;
		json_array_foreach(json_object_get(reply, "flows"), i, f) {
			char src[80], dst[80], gen[24], out[24], in[24], age[32], idle[32], rule[80],
			     proto[24];
			bool v6 = jnum(f, "family") == 6;
			json_t *pr = json_object_get(f, "proto");
			if (json_is_string(pr))
				snprintf(proto, sizeof(proto), "%s", json_string_value(pr));
			else
				snprintf(proto, sizeof(proto), "%llu",
					 (unsigned long long)json_integer_value(pr));
			bool ports = json_is_string(pr) && (!strcmp(json_string_value(pr), "tcp") ||
							    !strcmp(json_string_value(pr), "udp"));
			const char *sa = json_string_value(json_object_get(f, "src"));
			const char *da = json_string_value(json_object_get(f, "dst"));
			if (ports) {
				snprintf(src, sizeof(src), v6 ? "[%s]:%llu" : "%s:%llu", sa,
					 (unsigned long long)jnum(f, "sport"));
				snprintf(dst, sizeof(dst), v6 ? "[%s]:%llu" : "%s:%llu", da,
					 (unsigned long long)jnum(f, "dport"));
			} else {
				snprintf(src, sizeof(src), "%s", sa);
				snprintf(dst, sizeof(dst), "%s", da);
			}
			const char *rn = json_string_value(json_object_get(f, "rule"));
			if (rn)
				snprintf(rule, sizeof(rule), "%s", rn);
			else
				snprintf(rule, sizeof(rule), "#%lld",
					 (long long)json_integer_value(json_object_get(f, "rule_index")));
			snprintf(gen, sizeof(gen), "%llu", (unsigned long long)jnum(f, "generation"));
			fmt_size(out, sizeof(out), jnum(f, "bytes_out"));
			fmt_size(in, sizeof(in), jnum(f, "bytes_in"));
			fmt_age(age, sizeof(age), jnum(f, "age_ms"));
			fmt_age(idle, sizeof(idle), jnum(f, "idle_ms"));
			const char *dev = json_string_value(json_object_get(f, "device"));
			table_row(&t, (const char *[]){
					      dev ? dev : json_string_value(json_object_get(f, "mac")),
					      proto, src, dst,
					      json_string_value(json_object_get(f, "verdict")), rule, gen,
					      out, in, age, idle });
		}
		table_print(&t);
	}
	json_decref(reply);
	return r;
}

static int unbase64(const char *s, uint8_t **ret, size_t *ret_len)
{
	size_t n = strlen(s);
	if (n % 4)
		return -EINVAL;
	uint8_t *out = malloc(n / 4 * 3 + 1);
	if (!out)
		return -ENOMEM;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		uint32_t v = 0;
		int pad = 0;
		for (int k = 0; k < 4; k++) {
			char c = s[i + k];
			int x = c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26
				: c >= '0' && c <= '9' ? c - '0' + 52 : c == '+' ? 62 : c == '/' ? 63
				: -1;
			if (c == '=' && i + 4 == n && k >= 2) {
				pad++;
				x = 0;
			} else if (x < 0 || pad) {
				free(out);
				return -EINVAL;
			}
			v = v << 6 | (uint32_t)x;
		}
		out[o++] = (uint8_t)(v >> 16);
		if (pad < 2)
			out[o++] = (uint8_t)(v >> 8);
		if (pad < 1)
			out[o++] = (uint8_t)v;
	}
	*ret = out;
	*ret_len = o;
	return 0;
}

static json_t *diff_json(const struct pol_diff *d, const char *from, const char *to)
{
	json_t *list = json_array();
	for (size_t i = 0; i < pol_diff_count(d); i++) {
		const struct pol_diff_entry *e = pol_diff_entry(d, i);
		json_t *o = json_pack("{s:s,s:s,s:s}", "kind", pol_diff_kind_name(e->kind), "name",
				      e->name, "change", pol_diff_op_name(e->op));
		if (e->op == POL_DIFF_ADDED && e->kind == POL_DIFF_RULE)
			json_object_set_new(o, "position", json_integer(e->position));
		json_t *fields = json_array();
		for (size_t j = 0; j < e->nfields; j++) {
			const struct pol_diff_field *f = &e->fields[j];
			json_t *fo = json_pack("{s:s,s:s,s:s}", "field", f->field, "from", f->from,
					       "to", f->to);
			if (f->is_set) {
				json_object_set_new(fo, "added", json_integer(f->added));
				json_object_set_new(fo, "removed", json_integer(f->removed));
			}
			json_array_append_new(fields, fo);
		}
		json_object_set_new(o, "fields", fields);
		json_array_append_new(list, o);
	}
	return json_pack("{s:s,s:s,s:b,s:o}", "from", from, "to", to, "same",
			 pol_diff_count(d) == 0, "changes", list);
}

/* Compiles FILE as `policy check` does; diagnostics on stderr.  NULL
 * when it cannot be read or has errors. */
static struct pol_ir *compile_ir(const char *path)
{
	struct pol_unit *u;
	int r = compile(path, &u);
	if (r < 0)
		return NULL;
	struct pol_ir *ir = NULL;
	if (r == 0) {
		if (load_ir(u, &ir) < 0)
			ir = NULL;
	} else {
		pol_unit_render_diags(u, stderr);
		fprintf(stderr, "%s: invalid: %u error%s\n", path, pol_unit_errors(u),
			pol_unit_errors(u) == 1 ? "" : "s");
	}
	pol_unit_free(u);
	return ir;
}

/* diff's convention: 0 the same, 1 different, 2 trouble (usage, a file
 * that cannot be read or has errors, gwd refusing or unreachable). */
static int cmd_diff(int argc, char **argv, const char *sock)
{
	const char *files[2] = { NULL, NULL };
	int nfiles = 0;
	bool json = false;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if ((argv[i][0] != '-' || !argv[i][1]) && nfiles < 2)
			files[nfiles++] = argv[i];
		else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!nfiles) {
		usage(stderr);
		return EXIT_USAGE;
	}
	struct pol_ir *from = NULL, *to = NULL;
	struct pol_diff *d = NULL;
	char from_name[64];
	const char *from_label = files[0];
	int ret = 2;
	if (nfiles == 1) {
		/* The generation in force, exactly as gwd compiled it. */
		json_t *reply = call(sock, json_pack("{s:s}", "cmd", "policy.get"));
		if (check_reply(reply, "policy diff")) {
			json_decref(reply);
			return 2;
		}
		uint8_t *img = NULL;
		size_t size = 0;
		char err[256];
		const char *b64 = json_string_value(json_object_get(reply, "image"));
		int r = b64 ? unbase64(b64, &img, &size) : -EINVAL;
		if (r == 0)
			r = pol_image_load(img, size, &from, err, sizeof(err));
		if (r < 0)
			fprintf(stderr, "gwctl policy diff: gwd's image of the running generation "
					"does not load: %s\n", r == -EINVAL ? err : strerror(-r));
		snprintf(from_name, sizeof(from_name), "generation %lld",
			 (long long)json_integer_value(json_object_get(reply, "generation")));
		from_label = from_name;
		free(img);
		json_decref(reply);
		if (r < 0)
			goto out;
	} else {
		from = compile_ir(files[0]);
		if (!from)
			goto out;
	}
	const char *to_path = files[nfiles - 1];
	to = compile_ir(to_path);
	if (!to)
		goto out;
	if (pol_diff_new(from, to, &d) < 0) {
		fprintf(stderr, "gwctl policy diff: out of memory\n");
		goto out;
	}
	if (json) {
		json_t *o = diff_json(d, from_label, to_path);
		char *s = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
		json_decref(o);
		if (!s)
			goto out;
		puts(s);
		free(s);
	} else if (pol_diff_count(d)) {
		printf("--- %s\n+++ %s\n", from_label, to_path);
		pol_diff_print(d, stdout);
	}
	ret = pol_diff_count(d) ? 1 : 0;
out:
	pol_diff_free(d);
	pol_ir_free(from);
	pol_ir_free(to);
	return ret;
}

static int cmd_domains(int argc, char **argv, const char *sock)
{
	if (argc < 1 || strcmp(argv[0], "learn")) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *name = NULL;
	uint32_t ttl = 0;
	json_t *addrs = json_array();
	for (int i = 1; i < argc; i++) {
		uint8_t buf[16];
		if (!strcmp(argv[i], "--ttl") && i + 1 < argc) {
			if (parse_count(argv[++i], 604800, &ttl) < 0) {
				fprintf(stderr, "gwctl domains learn: --ttl '%s': expected seconds, "
						"1 to 604800 (a week)\n", argv[i]);
				json_decref(addrs);
				return EXIT_USAGE;
			}
		} else if (argv[i][0] == '-') {
			json_decref(addrs);
			usage(stderr);
			return EXIT_USAGE;
		} else if (!name) {
			name = argv[i];
		} else if (inet_pton(AF_INET, argv[i], buf) == 1 ||
			   inet_pton(AF_INET6, argv[i], buf) == 1) {
			json_array_append_new(addrs, json_string(argv[i]));
		} else {
			fprintf(stderr, "gwctl domains learn: '%s' is not an IPv4 or IPv6 address\n",
				argv[i]);
			json_decref(addrs);
			return EXIT_USAGE;
		}
	}
	if (!name || !json_array_size(addrs)) {
		json_decref(addrs);
		usage(stderr);
		return EXIT_USAGE;
	}
	size_t n = json_array_size(addrs);
	/* Without --ttl: five minutes, a common TTL of DNS answers. */
	json_t *req = json_pack("{s:s,s:s,s:o,s:I}", "cmd", "domains.learn", "name", name,
				"addrs", addrs, "ttl", (json_int_t)(ttl ? ttl : 300));
	json_t *reply = call(sock, req);
	int r = check_reply(reply, "domains learn");
	if (r == 0)
		printf("learned %s: %zu address%s\n", name, n, n == 1 ? "" : "es");
	json_decref(reply);
	return r;
}

/* The commands that talk to gwd: argv after the command's name. */
static int with_socket(int (*fn)(int, char **, const char *), int argc, char **argv)
{
	const char *sock;
	if (take_socket(&argc, argv, &sock) < 0) {
		fprintf(stderr, "gwctl: --socket needs a path\n");
		return EXIT_USAGE;
	}
	return fn(argc, argv, sock);
}

int main(int argc, char **argv)
{
	/* --socket PATH may also come before the command. */
	while (argc >= 3 && !strcmp(argv[1], "--socket")) {
		setenv("GWD_SOCKET", argv[2], 1);
		argv[2] = argv[0];
		argv += 2;
		argc -= 2;
	}
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	if (!strcmp(argv[1], "status"))
		return with_socket(cmd_status, argc - 2, argv + 2);
	if (!strcmp(argv[1], "devices"))
		return with_socket(cmd_devices, argc - 2, argv + 2);
	if (!strcmp(argv[1], "flows"))
		return with_socket(cmd_flows, argc - 2, argv + 2);
	if (!strcmp(argv[1], "domains"))
		return with_socket(cmd_domains, argc - 2, argv + 2);
	if (strcmp(argv[1], "policy") || argc < 3) {
		fprintf(stderr, "gwctl: unknown command '%s'\n", argv[1]);
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *sub = argv[2];
	if (!strcmp(sub, "check"))
		return cmd_check(argc - 3, argv + 3);
	if (!strcmp(sub, "show"))
		return cmd_show(argc - 3, argv + 3);
	if (!strcmp(sub, "compile"))
		return cmd_compile(argc - 3, argv + 3);
	if (!strcmp(sub, "explain"))
		return cmd_explain(argc - 2, argv + 2);
	if (!strcmp(sub, "apply"))
		return with_socket(cmd_apply, argc - 3, argv + 3);
	if (!strcmp(sub, "history"))
		return with_socket(cmd_history, argc - 3, argv + 3);
	if (!strcmp(sub, "rollback"))
		return with_socket(cmd_rollback, argc - 3, argv + 3);
	if (!strcmp(sub, "confirm"))
		return with_socket(cmd_confirm, argc - 3, argv + 3);
	if (!strcmp(sub, "diff"))
		return with_socket(cmd_diff, argc - 3, argv + 3);
	fprintf(stderr, "gwctl policy: unknown command '%s'\n", sub);
	usage(stderr);
	return EXIT_USAGE;
}
