/* SPDX-License-Identifier: MIT */
/*
 * gwctl: the household's command line.  `gwctl policy check|show|explain|
 * compile` and `diff` of two files work on files alone: no daemon, no
 * root (policy.c, explain.c, diff.c).  The rest talks to gwd over its API
 * socket (docs/api.md; --socket PATH, $GWD_SOCKET, or /run/gw/gwd.sock):
 * generations (generations.c), what the gateway sees (traffic.c).  Exit
 * codes: 0 ok, 1 failure (an invalid policy, a refusal), 2 usage.
 * This file: the usage text and the dispatch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "gwctl.h"
#include "gwd_api.h"

void gwctl_usage(FILE *out)
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
	      "       gwctl devices show DEVICE [--json]\n"
	      "       gwctl devices name MAC|NEW-NAME NAME [--owner PERSON] [--group GROUP]...\n"
	      "                          [--file DEVICES-FILE] [-m MSG]\n"
	      "       gwctl flows [--device NAME|MAC] [--limit N] [--json]\n"
	      "       gwctl domains [NAME] [--limit N] [--json]\n"
	      "       gwctl domains learn NAME ADDR... [--ttl SECONDS]\n"
	      "       gwctl events [--type TYPE[,TYPE...]] [--json]\n"
	      "\n"
	      "apply, history, rollback, confirm, diff with one file, status, devices,\n"
	      "flows, domains and events talk to gwd: --socket PATH, or $GWD_SOCKET, or\n"
	      GWD_API_DEFAULT_SOCKET ".  DUR is seconds or 30s, 5m, 1h.\n"
	      "\n"
	      "DEVICE is a device name, a MAC address, or 'new'.  HOST is an address\n"
	      "([v6]:port for IPv6 with a port) or a domain name.  TIME is 'now',\n"
	      "'mon 21:30' or '2026-11-27 21:30' in the policy's time zone.\n"
	      "devices name writes a device statement into devices.gw beside the policy\n"
	      "file in force (or DEVICES-FILE), includes it from the policy the first\n"
	      "time, and applies the policy as policy apply does.\n", out);
}

/* The commands that talk to gwd: argv after the command's name. */
static int with_socket(int (*fn)(int, char **, const char *), int argc, char **argv)
{
	const char *sock;
	if (gwc_take_socket(&argc, argv, &sock) < 0) {
		fprintf(stderr, "gwctl: --socket needs a path\n");
		return EXIT_USAGE;
	}
	return fn(argc, argv, sock);
}

int main(int argc, char **argv)
{
	/* --socket PATH may also come before the command. */
	while (argc >= 3 && !strcmp(argv[1], "--socket")) {
		setenv(GWD_API_SOCKET_ENV, argv[2], 1);
		argv[2] = argv[0];
		argv += 2;
		argc -= 2;
	}
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		gwctl_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	if (!strcmp(argv[1], "status"))
		return with_socket(gwctl_cmd_status, argc - 2, argv + 2);
	if (!strcmp(argv[1], "devices"))
		return with_socket(gwctl_cmd_devices, argc - 2, argv + 2);
	if (!strcmp(argv[1], "flows"))
		return with_socket(gwctl_cmd_flows, argc - 2, argv + 2);
	if (!strcmp(argv[1], "domains"))
		return with_socket(gwctl_cmd_domains, argc - 2, argv + 2);
	if (!strcmp(argv[1], "events"))
		return with_socket(gwctl_cmd_events, argc - 2, argv + 2);
	if (strcmp(argv[1], "policy") || argc < 3) {
		fprintf(stderr, "gwctl: unknown command '%s'\n", argv[1]);
		gwctl_usage(stderr);
		return EXIT_USAGE;
	}
	const char *sub = argv[2];
	if (!strcmp(sub, "check"))
		return gwctl_cmd_check(argc - 3, argv + 3);
	if (!strcmp(sub, "show"))
		return gwctl_cmd_show(argc - 3, argv + 3);
	if (!strcmp(sub, "compile"))
		return gwctl_cmd_compile(argc - 3, argv + 3);
	if (!strcmp(sub, "explain"))
		return gwctl_cmd_explain(argc - 2, argv + 2);
	if (!strcmp(sub, "apply"))
		return with_socket(gwctl_cmd_apply, argc - 3, argv + 3);
	if (!strcmp(sub, "history"))
		return with_socket(gwctl_cmd_history, argc - 3, argv + 3);
	if (!strcmp(sub, "rollback"))
		return with_socket(gwctl_cmd_rollback, argc - 3, argv + 3);
	if (!strcmp(sub, "confirm"))
		return with_socket(gwctl_cmd_confirm, argc - 3, argv + 3);
	if (!strcmp(sub, "diff"))
		return with_socket(gwctl_cmd_diff, argc - 3, argv + 3);
	fprintf(stderr, "gwctl policy: unknown command '%s'\n", sub);
	gwctl_usage(stderr);
	return EXIT_USAGE;
}

