/* SPDX-License-Identifier: MIT */
/*
 * gwctl's commands on gwd's generations (docs/gwd.md, docs/api.md):
 * policy apply, history, rollback, confirm, and status.
 */
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gwctl.h"
#include "gwd_api.h"

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
	if (!mul || v == 0 || v > GWD_API_MAX_CONFIRM / mul)
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

int gwctl_cmd_apply(int argc, char **argv, const char *sock)
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
			gwctl_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!path || (dry && confirm)) {
		if (dry && confirm)
			fprintf(stderr, "gwctl policy apply: --dry-run and --confirm do not mix\n");
		else
			gwctl_usage(stderr);
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
	gwctl_diag_paths(abs, path);
	json_t *reply = gwctl_call(sock, req);
	int r = gwctl_check_reply(reply, "policy apply");
	if (r == 0) {
		json_t *w;
		size_t i;
		json_array_foreach(json_object_get(reply, "warnings"), i, w)
			gwctl_print_diag(w);
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
	gwctl_diag_paths(NULL, NULL);
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

int gwctl_cmd_history(int argc, char **argv, const char *sock)
{
	bool json = false;
	uint32_t gen = 0;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!gen && parse_gen(argv[i], &gen) == 0)
			continue;
		else {
			gwctl_usage(stderr);
			return EXIT_USAGE;
		}
	}
	json_t *req = json_pack("{s:s}", "cmd", "policy.history");
	if (gen)
		json_object_set_new(req, "generation", json_integer(gen));
	json_t *reply = gwctl_call(sock, req);
	int r = gwctl_check_reply(reply, "policy history");
	if (r == 0 && json) {
		gwctl_print_json_reply(reply);
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

int gwctl_cmd_rollback(int argc, char **argv, const char *sock)
{
	uint32_t gen = 0;
	if (argc > 1 || (argc == 1 && parse_gen(argv[0], &gen) < 0)) {
		gwctl_usage(stderr);
		return EXIT_USAGE;
	}
	json_t *req = json_pack("{s:s}", "cmd", "policy.rollback");
	if (gen)
		json_object_set_new(req, "generation", json_integer(gen));
	json_t *reply = gwctl_call(sock, req);
	int r = gwctl_check_reply(reply, "policy rollback");
	if (r == 0)
		printf("restored generation %lld as generation %lld\n",
		       (long long)json_integer_value(json_object_get(reply, "restores")),
		       (long long)json_integer_value(json_object_get(reply, "generation")));
	json_decref(reply);
	return r;
}

int gwctl_cmd_confirm(int argc, char **argv, const char *sock)
{
	if (argc) {
		gwctl_usage(stderr);
		return EXIT_USAGE;
	}
	json_t *reply = gwctl_call(sock, json_pack("{s:s}", "cmd", "policy.confirm"));
	int r = gwctl_check_reply(reply, "policy confirm");
	if (r == 0)
		printf("generation %lld confirmed\n",
		       (long long)json_integer_value(json_object_get(reply, "generation")));
	json_decref(reply);
	return r;
}

int gwctl_cmd_status(int argc, char **argv, const char *sock)
{
	bool json = argc == 1 && !strcmp(argv[0], "--json");
	if (argc > 1 || (argc == 1 && !json)) {
		gwctl_usage(stderr);
		return EXIT_USAGE;
	}
	json_t *reply = gwctl_call(sock, json_pack("{s:s}", "cmd", "status"));
	int r = gwctl_check_reply(reply, "status");
	if (r == 0 && json) {
		gwctl_print_json_reply(reply);
	} else if (r == 0) {
		json_int_t gen = json_integer_value(json_object_get(reply, "generation"));
		const char *hash = json_string_value(json_object_get(reply, "hash"));
		const char *degraded = json_string_value(json_object_get(reply, "degraded"));
		if (gen)
			printf("generation: %lld (%s)\n", (long long)gen, hash ? hash : "not running");
		else
			printf("generation: none applied yet\n");
		if (degraded)
			printf("degraded:   %s\n", degraded);
		const char *sched = json_string_value(json_object_get(reply, "schedules"));
		if (sched && strcmp(sched, "running"))
			printf("schedules:  %s\n", sched);
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
		json_array_foreach(json_object_get(reply, "ports"), i, e) {
			const char *m = json_string_value(json_object_get(e, "mode"));
			printf("port:       %-15s %s side, %s%s%s\n",
			       json_string_value(json_object_get(e, "name")),
			       json_string_value(json_object_get(e, "side")),
			       json_string_value(json_object_get(e, "engine")), m ? " at " : "",
			       m ? m : "");
		}
		json_t *g = json_object_get(reply, "guard");
		if (json_is_object(g)) {
			const char *st = json_string_value(json_object_get(g, "state"));
			const char *why = json_string_value(json_object_get(g, "reason"));
			const char *table = json_string_value(json_object_get(g, "table"));
			if (table)
				printf("guard:      %s (table %s)\n", st ? st : "?", table);
			else
				printf("guard:      %s\n", st ? st : "?");
			if (why)
				printf("            %s\n", why);
			const char *k;
			json_t *v;
			json_object_foreach(json_object_get(g, "drops"), k, v)
				if (json_integer_value(v))
					printf("            dropped %lld: %s\n",
					       (long long)json_integer_value(v), k);
		}
		json_t *dns = json_object_get(reply, "dns");
		if (json_is_object(dns)) {
			const char *last = json_string_value(json_object_get(dns, "last_exit"));
			printf("dns:        %s, pid %lld, %lld restarts%s%s\n",
			       json_string_value(json_object_get(dns, "state")),
			       (long long)json_integer_value(json_object_get(dns, "pid")),
			       (long long)json_integer_value(json_object_get(dns, "restarts")),
			       last ? ", last exit: " : "", last ? last : "");
		}
		/* The identity registry and its DHCP service (dnsmasq). */
		json_t *idn = json_object_get(reply, "identity");
		if (json_is_object(idn)) {
			printf("identity:   %lld devices known\n",
			       (long long)json_integer_value(json_object_get(idn, "devices")));
			json_t *dh = json_object_get(idn, "dhcp");
			const char *last = json_string_value(json_object_get(dh, "last_exit"));
			if (json_is_object(dh))
				printf("dhcp:       %s, pid %lld, %lld restarts%s%s\n",
				       json_string_value(json_object_get(dh, "state")),
				       (long long)json_integer_value(json_object_get(dh, "pid")),
				       (long long)json_integer_value(json_object_get(dh, "restarts")),
				       last ? ", last exit: " : "", last ? last : "");
		}
	}
	json_decref(reply);
	return r;
}

