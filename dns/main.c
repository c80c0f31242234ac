/* SPDX-License-Identifier: MIT */
/*
 * gw-dns: the household's DNS service (docs/dns.md).  Started by gwd with
 * its sockets inherited:
 *
 *   gw-dns --control-fd N [--udp-fd N]... [--tcp-fd N]... [--user NAME] [--chroot DIR]
 *
 * It confines itself first (dns/confine.h), then serves until the control
 * socket closes.  Logs key=value lines on stderr; never a query's name
 * unless an event is about it (a rebinding answer dropped).
 * Exit: 0 when gwd closed the control socket, 1 on a failure, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "confine.h"
#include "log.h"
#include "server.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: gw-dns --control-fd N [--udp-fd N]... [--tcp-fd N]... "
		   "[--user NAME] [--chroot DIR]\n");
}

/* fd as a number naming an open socket of type; -1 when it is not. */
static int socket_fd(const char *arg, int type)
{
	char *end;
	long v = strtol(arg, &end, 10);
	int t;
	socklen_t len = sizeof(t);

	if (*arg == '\0' || *end != '\0' || v < 0 || v > 65535)
		return -1;
	if (getsockopt((int)v, SOL_SOCKET, SO_TYPE, &t, &len) < 0 || t != type)
		return -1;
	return (int)v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "control-fd", required_argument, NULL, 'c' },
		{ "udp-fd", required_argument, NULL, 'u' },
		{ "tcp-fd", required_argument, NULL, 't' },
		{ "user", required_argument, NULL, 'U' },
		{ "chroot", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct gwdns_server_fds fds = { .control = -1 };
	const char *user = "gw-dns", *root = "/var/empty", *err = NULL;
	struct event_base *base = NULL;
	struct gwdns_server *s = NULL;
	char v[200];
	int c, fd, r, ret = 1;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if ((fds.control = socket_fd(optarg, SOCK_STREAM)) < 0) {
				fprintf(stderr, "gw-dns: --control-fd %s: not a stream socket\n", optarg);
				return 2;
			}
			break;
		case 'u':
		case 't':
			fd = socket_fd(optarg, c == 'u' ? SOCK_DGRAM : SOCK_STREAM);
			if (fd < 0) {
				fprintf(stderr, "gw-dns: --%s-fd %s: not a %s socket\n",
					c == 'u' ? "udp" : "tcp", optarg, c == 'u' ? "UDP" : "TCP");
				return 2;
			}
			if ((c == 'u' ? fds.n_udp : fds.n_tcp) == GWDNS_LISTEN_MAX) {
				fprintf(stderr, "gw-dns: at most %d sockets of a kind\n", GWDNS_LISTEN_MAX);
				return 2;
			}
			if (c == 'u')
				fds.udp[fds.n_udp++] = fd;
			else
				fds.tcp[fds.n_tcp++] = fd;
			break;
		case 'U': user = optarg; break;
		case 'r': root = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || fds.control < 0) {
		usage(stderr);
		return 2;
	}

	gwdns_ephemeral_ports(&fds.port_lo, &fds.port_hi);
	r = gwdns_confine(user, root, &err);
	if (r < 0) {
		gwd_log("start_failed", "step=%s reason=%s", gwd_log_value(v, sizeof(v), err),
			gwd_log_value(v + 100, 100, strerror(-r)));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	if (!base) {
		gwd_log("start_failed", "step=event_base_new");
		return 1;
	}
	r = gwdns_server_new(base, &fds, &s);
	if (r < 0) {
		gwd_log("start_failed", "step=server reason=%s", gwd_log_value(v, sizeof(v), strerror(-r)));
		goto out;
	}
	gwd_log("ready", "pid=%d uid=%d udp=%zu tcp=%zu", (int)getpid(), (int)getuid(), fds.n_udp,
		fds.n_tcp);
	event_base_dispatch(base);
	ret = gwdns_server_failed(s) ? 1 : 0;
	gwd_log("stop", "status=%d", ret);
out:
	gwdns_server_free(s);
	event_base_free(base);
	return ret;
}
