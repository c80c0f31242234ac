/* SPDX-License-Identifier: MIT */
/*
 * `gwctl policy explain` (docs/gwctl.md): one connection's facts from the
 * command line, the reference evaluator's verdict and the trace of every
 * earlier rule, as text or one JSON object.  Files alone: no gwd.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eval.h"
#include "gwctl.h"
#include "image.h"
#include "names.h"
#include "policy.h"


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
	return pol_day_by_name(s, strlen(s));
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
	json_object_set_new(verdict, "action", json_string(pol_action_name(v->action)));
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
		"at", "day", pol_day_name(f->when.wday), "time", at, "timezone",
		pol_ir_str(ir, ir->meta->timezone), "verdict", verdict, "earlier", earlier);
	char *out = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(root);
	if (!out)
		return -ENOMEM;
	puts(out);
	free(out);
	return 0;
}

int gwctl_cmd_explain(int argc, char **argv)
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
		gwctl_usage(stderr);
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
	int r = gwctl_compile(path, &u);
	if (r < 0)
		return 1;
	if (r > 0) {
		pol_unit_render_diags(u, stderr);
		pol_unit_free(u);
		return 1;
	}
	struct pol_ir *ir;
	if (gwctl_load_ir(u, &ir) < 0) {
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
	if (!strcmp(from, "new")) {
		f.device = POL_NONE;
	} else if ((f.device = pol_device_by_name(ir, from)) != POL_NONE) {
	} else if (pol_mac_parse(from, strlen(from), mac) == 0) {
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
	printf("at:      %s %02u:%02u (%s)\n", pol_day_name(f.when.wday), f.when.minute / 60,
	       f.when.minute % 60, pol_ir_str(ir, ir->meta->timezone));
	printf("verdict: %s", pol_action_name(v.action));
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

