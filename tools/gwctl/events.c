/* SPDX-License-Identifier: MIT */
/*
 * `gwctl events [--json] [--type T[,T...]]`: gwd's live events as they
 * happen (docs/api.md, events.subscribe), as `ip monitor` and `nft
 * monitor` print theirs: one line an event, until Ctrl-C or gwd goes.
 * --json prints each event's object as gwd sent it (NDJSON).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "gwctl.h"
#include "gwd_api.h"
#include "table.h"

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "-";
}

/* "leo-tablet 192.168.1.57:50312 > 142.250.180.14:443 tcp (www.youtube.com)" */
static void flow_words(json_t *e, char *buf, size_t n)
{
	const char *dev = json_string_value(json_object_get(e, "device"));
	const char *proto = json_string_value(json_object_get(e, "proto"));
	const char *domain = json_string_value(json_object_get(e, "domain"));
	bool v6 = gwc_jnum(e, "family") == 6;
	bool ports = proto && (!strcmp(proto, "tcp") || !strcmp(proto, "udp"));
	char src[80], dst[80];
	if (ports) {
		snprintf(src, sizeof(src), v6 ? "[%s]:%llu" : "%s:%llu", str(e, "src"),
			 (unsigned long long)gwc_jnum(e, "sport"));
		snprintf(dst, sizeof(dst), v6 ? "[%s]:%llu" : "%s:%llu", str(e, "dst"),
			 (unsigned long long)gwc_jnum(e, "dport"));
	} else {
		snprintf(src, sizeof(src), "%s", str(e, "src"));
		snprintf(dst, sizeof(dst), "%s", str(e, "dst"));
	}
	char p[16];
	if (proto)
		snprintf(p, sizeof(p), "%s", proto);
	else
		snprintf(p, sizeof(p), "proto %lld",
			 (long long)json_integer_value(json_object_get(e, "proto")));
	snprintf(buf, n, "%s %s > %s %s%s%s%s", dev ? dev : str(e, "mac"), src, dst, p,
		 domain ? " (" : "", domain ? domain : "", domain ? ")" : "");
}

static void rule_words(json_t *e, char *buf, size_t n)
{
	const char *rule = json_string_value(json_object_get(e, "rule"));
	if (rule)
		snprintf(buf, n, "%s", rule);
	else
		snprintf(buf, n, "#%lld", (long long)json_integer_value(json_object_get(e, "rule_index")));
}

static void print_event(json_t *e)
{
	const char *type = str(e, "event");
	uint64_t ms = gwc_jnum(e, "time_ms");
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char when[32], flow[400], rule[128], a[24], b[24];
	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	printf("%s.%03u %-18s ", when, (unsigned)(ms % 1000), type);
	if (!strcmp(type, "flow.start") || !strcmp(type, "flow.blocked")) {
		flow_words(e, flow, sizeof(flow));
		rule_words(e, rule, sizeof(rule));
		printf("%s %s by %s (%s)\n", flow, str(e, "verdict"), rule, str(e, "engine"));
	} else if (!strcmp(type, "flow.decided")) {
		json_t *p = json_object_get(e, "previous");
		flow_words(e, flow, sizeof(flow));
		rule_words(e, rule, sizeof(rule));
		printf("%s %s by %s, was %s by %s (%s)\n", flow, str(e, "verdict"), rule,
		       str(p, "verdict"), json_string_value(json_object_get(p, "rule")) ?: "?",
		       str(e, "engine"));
	} else if (!strcmp(type, "flow.end")) {
		flow_words(e, flow, sizeof(flow));
		gwc_fmt_size(a, sizeof(a), gwc_jnum(e, "bytes_out"));
		gwc_fmt_size(b, sizeof(b), gwc_jnum(e, "bytes_in"));
		char age[32];
		gwc_fmt_age(age, sizeof(age), gwc_jnum(e, "age_ms"));
		printf("%s %s, out %s in %s, %s%s\n", flow, str(e, "verdict"), a, b, age,
		       !strcmp(str(e, "reason"), "evicted") ? " (pushed out of gwd's table)" : "");
	} else if (!strcmp(type, "rate.drop")) {
		printf("%s dropped %llu packets over a rate (%llu in all)\n", str(e, "engine"),
		       (unsigned long long)gwc_jnum(e, "packets"),
		       (unsigned long long)gwc_jnum(e, "total"));
	} else if (!strcmp(type, "device.new")) {
		printf("%s at %s, seen by %s\n", str(e, "mac"), str(e, "addr"), str(e, "engine"));
	} else if (!strncmp(type, "policy.", 7)) {
		const char *msg = json_string_value(json_object_get(e, "message"));
		printf("generation %llu", (unsigned long long)gwc_jnum(e, "generation"));
		if (json_object_get(e, "restores"))
			printf(" restores %llu", (unsigned long long)gwc_jnum(e, "restores"));
		printf(" by %s", str(e, "user"));
		if (msg)
			printf(": \"%s\"", msg);
		if (json_object_get(e, "confirm_deadline"))
			printf(" (to confirm)");
		putchar('\n');
	} else if (!strcmp(type, "engine.state")) {
		printf("%s: %s (was %s)\n", str(e, "engine"), str(e, "state"), str(e, "was"));
	} else if (!strcmp(type, "lost")) {
		printf("%llu events lost: this reader was too slow\n",
		       (unsigned long long)gwc_jnum(e, "count"));
	} else {
		/* A type this gwctl does not know: the object as it came. */
		char *s = json_dumps(e, JSON_COMPACT | JSON_PRESERVE_ORDER);
		printf("%s\n", s ? s : "?");
		free(s);
	}
}

int gwctl_cmd_events(int argc, char **argv, const char *sock)
{
	bool json = false;
	json_t *types = NULL;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--type") && i + 1 < argc) {
			char *list = strdup(argv[++i]), *save = NULL;
			if (!types)
				types = json_array();
			for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save))
				json_array_append_new(types, json_string(t));
			free(list);
		} else {
			json_decref(types);
			gwctl_usage(stderr);
			return EXIT_USAGE;
		}
	}
	char err[512];
	struct gwc_conn *c;
	if (gwc_connect(sock, &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "gwctl: %s\n", err);
		json_decref(types);
		return 1;
	}
	json_t *req = json_pack("{s:s}", "cmd", "events.subscribe");
	if (types)
		json_object_set_new(req, "types", types);
	json_t *reply = NULL;
	int r = gwc_send(c, req, NULL, err, sizeof(err));
	if (r == 0)
		r = gwc_read(c, &reply, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "gwctl: %s\n", err);
		gwc_close(c);
		return 1;
	}
	if (gwctl_check_reply(reply, "events")) {
		json_decref(reply);
		gwc_close(c);
		return 1;
	}
	json_decref(reply);
	/* A line as soon as it comes, also into a pipe: what is buffered is
	 * written out whenever no whole line waits, so a burst is written in
	 * few writes and a quiet stream at once. */
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	for (;;) {
		const char *line;
		size_t len;
		r = gwc_read_text(c, true, &line, &len, err, sizeof(err));
		if (r == -EAGAIN) {
			fflush(stdout);
			r = gwc_read_text(c, false, &line, &len, err, sizeof(err));
		}
		if (r < 0) {
			fflush(stdout);
			fprintf(stderr, "gwctl events: %s\n",
				strstr(err, "closed") ? "gwd closed the connection" : err);
			break;
		}
		if (json) {
			/* The object as gwd sent it (one line of NDJSON). */
			fwrite(line, 1, len, stdout);
			putchar('\n');
			continue;
		}
		json_error_t je;
		json_t *e = json_loadb(line, len, 0, &je);
		if (!json_is_object(e)) {
			json_decref(e);
			fflush(stdout);
			fprintf(stderr, "gwctl events: gwd sent a line that is not a JSON object: %s\n",
				je.text);
			break;
		}
		print_event(e);
		json_decref(e);
	}
	gwc_close(c);
	return 1;
}
