/* SPDX-License-Identifier: MIT */
/*
 * gw-dhcp-event: dnsmasq's lease script (its --dhcp-script) under gwd
 * (docs/dns.md, "DHCP").  dnsmasq runs it, as root, for every lease
 * change:
 *
 *     gw-dhcp-event add|old|del MAC ADDR [HOSTNAME]
 *
 * with the client-id in DNSMASQ_CLIENT_ID and the lease's end (unix
 * seconds; absent or 0 for a lease that never ends) in
 * DNSMASQ_LEASE_EXPIRES.  It hands the event to gwd as one dhcp.lease
 * request on gwd's socket ($GWD_SOCKET, which gwd puts in dnsmasq's
 * environment) and waits for the answer, so the event is in gwd's
 * identity file when this exits.  gwd checks every field: nothing here
 * is trusted or interpreted beyond copying it.
 *
 * Other calls of dnsmasq's (DHCPv6 leases, "init", "tftp", "arp") are not
 * gwd's: exit 0 at once.  gwd not answering (it restarts) is tried again
 * for up to 10 s; then exit 1 with the reason on stderr, which dnsmasq
 * logs.  gwd reads dnsmasq's lease file at its next start, so an event
 * lost that way is not lost for long.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "gwd_api.h"

#define RETRY_S 10

int main(int argc, char **argv)
{
	if (argc < 2)
		return 0;
	const char *action = argv[1];
	if (strcmp(action, "add") && strcmp(action, "old") && strcmp(action, "del"))
		return 0;
	if (argc < 4) {
		fprintf(stderr, "gw-dhcp-event: %s needs MAC and ADDR\n", action);
		return 1;
	}
	/* DHCPv6: dnsmasq sets DNSMASQ_IAID; gw runs DHCPv4 only. */
	if (getenv("DNSMASQ_IAID"))
		return 0;
	const char *sock = getenv(GWD_API_SOCKET_ENV);
	if (!sock || !sock[0])
		sock = GWD_API_DEFAULT_SOCKET;
	const char *exp = getenv("DNSMASQ_LEASE_EXPIRES");
	long long expires = 0;
	if (exp && exp[0]) {
		char *end;
		errno = 0;
		expires = strtoll(exp, &end, 10);
		if (errno || *end || expires < 0)
			expires = -1; /* gwd refuses it, saying why */
	}
	const char *cid = getenv("DNSMASQ_CLIENT_ID");
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	char err[512];
	for (;;) {
		json_t *req = json_pack("{s:s,s:s,s:s,s:s}", "cmd", "dhcp.lease", "action", action,
					"mac", argv[2], "addr", argv[3]);
		if (!req) {
			fprintf(stderr, "gw-dhcp-event: out of memory\n");
			return 1;
		}
		if (argc > 4 && argv[4][0])
			json_object_set_new(req, "hostname", json_string(argv[4]));
		if (cid && cid[0])
			json_object_set_new(req, "client_id", json_string(cid));
		json_object_set_new(req, "expires", json_integer(expires));
		json_t *reply = NULL;
		int r = gwc_call(sock, req, &reply, err, sizeof(err));
		if (r == 0) {
			int ok = json_is_true(json_object_get(reply, "ok"));
			if (!ok) {
				json_t *e = json_object_get(reply, "error");
				fprintf(stderr, "gw-dhcp-event: gwd refused %s %s %s: %s\n", action,
					argv[2], argv[3],
					json_string_value(json_object_get(e, "message")) ?: "?");
			}
			json_decref(reply);
			return ok ? 0 : 1;
		}
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= RETRY_S) {
			fprintf(stderr, "gw-dhcp-event: %s %s %s: %s\n", action, argv[2], argv[3], err);
			return 1;
		}
		usleep(200 * 1000);
	}
}
