/* SPDX-License-Identifier: MIT */
/*
 * gwctl's commands on what gwd sees (docs/api.md): flows as a table or
 * JSON, the learned names (domains), and domains learn, which teaches gwd
 * a name by hand as the DNS service does (devices are devices.c's).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gwctl.h"
#include "gwd_api.h"
#include "table.h"

int gwctl_cmd_flows(int argc, char **argv, const char *sock)
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
			if (gwc_parse_count(argv[++i], GWD_API_FLOWS_MAX, &limit) < 0) {
				fprintf(stderr, "gwctl flows: --limit '%s': expected 1 to %d\n",
					argv[i], GWD_API_FLOWS_MAX);
				return EXIT_USAGE;
			}
		} else {
			gwctl_usage(stderr);
			return EXIT_USAGE;
		}
	}
	json_t *req = json_pack("{s:s}", "cmd", "flows");
	if (device)
		json_object_set_new(req, "device", json_string(device));
	if (limit)
		json_object_set_new(req, "limit", json_integer(limit));
	json_t *reply = gwctl_call(sock, req);
	int r = gwctl_check_reply(reply, "flows");
	if (r == 0 && json) {
		gwctl_print_json_reply(reply);
	} else if (r == 0) {
		struct gwc_table t = { .ncols = 11, .right = { [6] = true, [7] = true, [8] = true,
							   [9] = true, [10] = true } };
		gwc_table_row(&t, (const char *[]){ "DEVICE", "PROTO", "SOURCE", "DESTINATION",
						"VERDICT", "RULE", "GEN", "OUT", "IN", "AGE", "IDLE" });
		size_t i;
		json_t *f;
		json_array_foreach(json_object_get(reply, "flows"), i, f) {
			char src[80], dst[80], gen[24], out[24], in[24], age[32], idle[32], rule[80],
			     proto[24];
			bool v6 = gwc_jnum(f, "family") == 6;
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
					 (unsigned long long)gwc_jnum(f, "sport"));
				snprintf(dst, sizeof(dst), v6 ? "[%s]:%llu" : "%s:%llu", da,
					 (unsigned long long)gwc_jnum(f, "dport"));
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
			snprintf(gen, sizeof(gen), "%llu", (unsigned long long)gwc_jnum(f, "generation"));
			gwc_fmt_size(out, sizeof(out), gwc_jnum(f, "bytes_out"));
			gwc_fmt_size(in, sizeof(in), gwc_jnum(f, "bytes_in"));
			gwc_fmt_age(age, sizeof(age), gwc_jnum(f, "age_ms"));
			gwc_fmt_age(idle, sizeof(idle), gwc_jnum(f, "idle_ms"));
			const char *dev = json_string_value(json_object_get(f, "device"));
			gwc_table_row(&t, (const char *[]){
					      dev ? dev : json_string_value(json_object_get(f, "mac")),
					      proto, src, dst,
					      json_string_value(json_object_get(f, "verdict")), rule, gen,
					      out, in, age, idle });
		}
		gwc_table_print(&t, stdout);
	}
	json_decref(reply);
	return r;
}

/* gwctl domains [NAME] [--limit N] [--json]: what gwd has learned. */
static int domains_list(int argc, char **argv, const char *sock)
{
	bool json = false;
	const char *name = NULL;
	uint32_t limit = 0;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--limit") && i + 1 < argc) {
			if (gwc_parse_count(argv[++i], GWD_API_FLOWS_MAX, &limit) < 0) {
				fprintf(stderr, "gwctl domains: --limit '%s': expected 1 to %d\n",
					argv[i], GWD_API_FLOWS_MAX);
				return EXIT_USAGE;
			}
		} else if (argv[i][0] != '-' && !name) {
			name = argv[i];
		} else {
			gwctl_usage(stderr);
			return EXIT_USAGE;
		}
	}
	json_t *req = json_pack("{s:s}", "cmd", "domains");
	if (name)
		json_object_set_new(req, "name", json_string(name));
	if (limit)
		json_object_set_new(req, "limit", json_integer(limit));
	json_t *reply = gwctl_call(sock, req);
	int r = gwctl_check_reply(reply, "domains");
	if (r == 0 && json) {
		gwctl_print_json_reply(reply);
	} else if (r == 0) {
		/* The header only with rows: print is what frees them. */
		json_t *list = json_object_get(reply, "domains");
		struct gwc_table t = { .ncols = 4, .right = { [2] = true } };
		if (json_array_size(list))
			gwc_table_row(&t, (const char *[]){ "NAME", "ADDRESS", "TTL", "LISTS" });
		size_t i, shown = 0;
		json_t *e;
		json_array_foreach(list, i, e) {
			char ttl[32], lists[256] = "-";
			gwc_fmt_age(ttl, sizeof(ttl), gwc_jnum(e, "ttl") * 1000);
			size_t k, off = 0;
			json_t *l;
			json_array_foreach(json_object_get(e, "lists"), k, l) {
				int w = snprintf(lists + off, sizeof(lists) - off, "%s%s", k ? "," : "",
						 json_string_value(l));
				if (w < 0 || (size_t)w >= sizeof(lists) - off)
					break;
				off += (size_t)w;
			}
			gwc_table_row(&t, (const char *[]){
						  json_string_value(json_object_get(e, "name")),
						  json_string_value(json_object_get(e, "address")), ttl,
						  lists });
			shown++;
		}
		if (shown)
			gwc_table_print(&t, stdout);
		uint64_t count = gwc_jnum(reply, "count");
		if (!count)
			printf("no learned names%s%s\n", name ? " under " : "", name ? name : "");
		else if (count > shown)
			printf("%zu of %llu shown (--limit)\n", shown, (unsigned long long)count);
	}
	json_decref(reply);
	return r;
}

int gwctl_cmd_domains(int argc, char **argv, const char *sock)
{
	if (argc < 1 || strcmp(argv[0], "learn"))
		return domains_list(argc, argv, sock);
	const char *name = NULL;
	uint32_t ttl = 0;
	json_t *addrs = json_array();
	for (int i = 1; i < argc; i++) {
		uint8_t buf[16];
		if (!strcmp(argv[i], "--ttl") && i + 1 < argc) {
			if (gwc_parse_count(argv[++i], GWD_API_MAX_TTL, &ttl) < 0) {
				fprintf(stderr, "gwctl domains learn: --ttl '%s': expected seconds, "
						"1 to %d (a week)\n", argv[i], GWD_API_MAX_TTL);
				json_decref(addrs);
				return EXIT_USAGE;
			}
		} else if (argv[i][0] == '-') {
			json_decref(addrs);
			gwctl_usage(stderr);
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
		gwctl_usage(stderr);
		return EXIT_USAGE;
	}
	size_t n = json_array_size(addrs);
	/* Without --ttl: five minutes, a common TTL of DNS answers. */
	json_t *req = json_pack("{s:s,s:s,s:o,s:I}", "cmd", "domains.learn", "name", name,
				"addrs", addrs, "ttl", (json_int_t)(ttl ? ttl : 300));
	json_t *reply = gwctl_call(sock, req);
	int r = gwctl_check_reply(reply, "domains learn");
	if (r == 0)
		printf("learned %s: %zu address%s\n", name, n, n == 1 ? "" : "es");
	json_decref(reply);
	return r;
}

