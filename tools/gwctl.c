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
	      "                            [--at TIME] [--domain NAME]\n"
	      "       gwctl policy apply FILE [--dry-run] [--confirm DUR] [-m MSG]\n"
	      "       gwctl policy history [GEN] [--json]\n"
	      "       gwctl policy rollback [GEN]\n"
	      "       gwctl policy confirm\n"
	      "       gwctl status [--json]\n"
	      "\n"
	      "The last five talk to gwd: --socket PATH, or $GWD_SOCKET, or\n"
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

static int cmd_explain(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "at", required_argument, NULL, 'a' },
		{ "domain", required_argument, NULL, 'd' },
		{ 0 },
	};
	const char *from = NULL, *to = NULL, *at = "now", *domain = NULL;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'f': from = optarg; break;
		case 't': to = optarg; break;
		case 'a': at = optarg; break;
		case 'd': domain = optarg; break;
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
 * reply line it reads (gwd's limit for a line). */
#define API_VERSION 1
#define API_MAX_LINE (4u << 20)
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

/* The source line and a caret under the span, as pol_unit_render_diags
 * shows them, when the file is readable here. */
static void show_source(const char *file, unsigned line, unsigned col, unsigned len)
{
	FILE *f = file && line ? fopen(file, "r") : NULL;
	if (!f)
		return;
	char buf[4096];
	unsigned n = 0;
	while (fgets(buf, sizeof(buf), f))
		if (++n == line) {
			buf[strcspn(buf, "\n")] = '\0';
			fprintf(stderr, "    %s\n    ", buf);
			for (unsigned i = 1; i < col && buf[i - 1]; i++)
				fputc(buf[i - 1] == '\t' ? '\t' : ' ', stderr);
			fputc('^', stderr);
			for (unsigned i = 1; i < len; i++)
				fputc('~', stderr);
			fputc('\n', stderr);
			break;
		}
	fclose(f);
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
	}
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
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	if (!strcmp(argv[1], "status"))
		return with_socket(cmd_status, argc - 2, argv + 2);
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
	fprintf(stderr, "gwctl policy: unknown command '%s'\n", sub);
	usage(stderr);
	return EXIT_USAGE;
}
