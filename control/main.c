/* SPDX-License-Identifier: MIT */
/*
 * gwd: the control daemon's main.  Reads gwd.conf (-c PATH, default
 * /etc/gw/gwd.conf), starts the generations and the API socket on one
 * libevent loop, and runs until SIGTERM or SIGINT.  Logs key=value lines
 * on stderr.  Exit: 0 after a signal, 1 when it cannot start, 2 usage.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "api.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	gwd_log("stop", "signal=%s", strsignal((int)sig));
	event_base_loopbreak(arg);
}

static void notify(const char *state, int r)
{
	if (r < 0)
		gwd_log("notify_failed", "state=%s reason=%s", state, strerror(-r));
}

static void reloaded(void *arg)
{
	notify("READY", gwd_notify("READY=1"));
}

/* SIGHUP: the policy file again, compiled off the event loop; READY=1
 * once it was applied or refused. */
static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct gwd *d = arg;
	if (gwd_reloading(d)) {
		gwd_log("reload_refused", "reason=\"a reload runs already\"");
		return;
	}
	notify("RELOADING", gwd_notify_reloading());
	gwd_reload(d, reloaded, NULL);
}

int main(int argc, char **argv)
{
	const char *conf = NULL;
	int c;
	while ((c = getopt(argc, argv, "c:h")) != -1) {
		switch (c) {
		case 'c': conf = optarg; break;
		case 'h':
			printf("usage: gwd [-c CONFIG]   (default %s)\n", GWD_DEFAULT_CONFIG);
			return 0;
		default:
			fprintf(stderr, "usage: gwd [-c CONFIG]\n");
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "usage: gwd [-c CONFIG]\n");
		return 2;
	}
	struct gwd_config cfg;
	gwd_config_defaults(&cfg);
	char err[4096];
	const char *path = conf ? conf : GWD_DEFAULT_CONFIG;
	int r = gwd_config_load(path, &cfg, err, sizeof(err));
	if (r == -ENOENT && !conf) {
		gwd_log("config", "file=%s missing=1 using=defaults", path);
	} else if (r < 0) {
		/* Each bad line on its own line, as a compiler reports. */
		fprintf(stderr, "%s\n", err);
		gwd_log("config_invalid", "file=%s", path);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	int ret = 1;
	struct gwd *d = NULL;
	struct gwd_api *api = NULL;
	struct gwd_metrics *metrics = NULL;
	struct event *sigterm = NULL, *sigint = NULL, *sighup = NULL;
	struct event_base *base = event_base_new();
	if (!base) {
		gwd_log("start_failed", "reason=event_base_new");
		return 1;
	}
	char q[4200];
	if (gwd_new(base, &cfg, &d, err, sizeof(err)) < 0) {
		gwd_log("start_failed", "reason=%s", gwd_log_value(q, sizeof(q), err));
		goto out;
	}
	if (gwd_api_new(base, d, &cfg, &api, err, sizeof(err)) < 0) {
		gwd_log("start_failed", "reason=%s", gwd_log_value(q, sizeof(q), err));
		goto out;
	}
	if (gwd_metrics_new(base, d, &cfg, &metrics, err, sizeof(err)) < 0) {
		gwd_log("start_failed", "reason=%s", gwd_log_value(q, sizeof(q), err));
		goto out;
	}
	sigterm = evsignal_new(base, SIGTERM, on_signal, base);
	sigint = evsignal_new(base, SIGINT, on_signal, base);
	sighup = evsignal_new(base, SIGHUP, on_hup, d);
	if (!sigterm || !sigint || !sighup || evsignal_add(sigterm, NULL) < 0 ||
	    evsignal_add(sigint, NULL) < 0 || evsignal_add(sighup, NULL) < 0) {
		gwd_log("start_failed", "reason=signals");
		goto out;
	}
	gwd_log("ready", "pid=%d socket=%s state_dir=%s", (int)getpid(), cfg.socket,
		cfg.state_dir);
	/* gwd_new pushed the current generation to every engine. */
	notify("READY", gwd_notify("READY=1"));
	event_base_dispatch(base);
	notify("STOPPING", gwd_notify("STOPPING=1"));
	ret = 0;
out:
	if (sigterm)
		event_free(sigterm);
	if (sigint)
		event_free(sigint);
	if (sighup)
		event_free(sighup);
	gwd_metrics_free(metrics);
	gwd_api_free(api);
	gwd_free(d);
	event_base_free(base);
	return ret;
}
