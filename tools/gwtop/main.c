/* SPDX-License-Identifier: MIT */
/*
 * gwtop: the home's devices and their connections, live (docs/gwtop.md).
 *
 *   gwtop [-d SECONDS] [-n COUNT] [--socket PATH]       the screen
 *   gwtop -b [-d SECONDS] [-n COUNT] [--json]          batch, as top -b
 *
 * Each tick asks gwd (docs/api.md) for its status and devices, and for the
 * flows of the device being looked at; blocks come as events between
 * ticks.  Exit: 0, 1 when gwd cannot be reached in batch mode (or the
 * terminal cannot be used), 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "fetch.h"
#include "gwd_api.h"
#include "model.h"
#include "table.h"
#include "ui.h"

#define EXIT_USAGE 2

static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
	stop = 1;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: gwtop [-d SECONDS] [-n COUNT] [--socket PATH]\n"
		"       gwtop -b [-d SECONDS] [-n COUNT] [--json] [--socket PATH]\n"
		"\n"
		"  -d SECONDS   time between updates (default 1; 0.2 to 3600)\n"
		"  -n COUNT     stop after COUNT updates\n"
		"  -b           batch mode: text (or NDJSON with --json) on stdout, no screen\n"
		"  --json       batch mode: one JSON object per device and per flow each update\n"
		"  --socket     gwd's API socket (else $%s, else %s)\n"
		"\n"
		"Keys: arrows or j/k move, Enter a device's flows, Esc back, / filter,\n"
		"s or F6 sort, < > sort column, t rates/totals, b blocks, p pause, ? help, q quit.\n",
		GWD_API_SOCKET_ENV, GWD_API_DEFAULT_SOCKET);
}

/* One tick of gwd's data into m: status, devices, and the flows of
 * flows_arg (NULL: none; "": every device's, for batch --json). */
static int fetch_tick(struct top_fetch *f, struct top_model *m, const char *flows_key,
		      const char *flows_arg, uint32_t flows_limit)
{
	json_t *reply;
	uint64_t now = mono_ms();
	int r = top_fetch_call(f, json_pack("{s:s}", "cmd", "status"), &reply);
	if (r < 0)
		return r;
	/* A restarted gwd (its totals start again): rates start again too. */
	top_model_status(m, reply, now);
	json_decref(reply);
	/* brief: only what gwtop shows, a third less to parse each tick. */
	if ((r = top_fetch_call(f, json_pack("{s:s,s:b}", "cmd", "devices", "brief", 1),
				&reply)) < 0)
		return r;
	top_model_devices(m, reply, now);
	json_decref(reply);
	if (flows_arg) {
		json_t *req = json_pack("{s:s,s:I}", "cmd", "flows", "limit", (json_int_t)flows_limit);
		if (*flows_arg)
			json_object_set_new(req, "device", json_string(flows_arg));
		if ((r = top_fetch_call(f, req, &reply)) < 0)
			return r;
		top_model_flows(m, flows_key, reply, now);
		json_decref(reply);
	}
	return 0;
}

/* ---- batch mode --------------------------------------------------------- */

static void print_obj(json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(o);
	if (s)
		puts(s);
	free(s);
}

static void batch_text(const struct top_model *m, uint64_t tick)
{
	const struct top_status *s = &m->status;
	char when[32], up[24], down[24];
	time_t t = time(NULL);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	printf("gwtop %s  tick %llu  policy generation %llu\n", when, (unsigned long long)tick,
	       (unsigned long long)s->generation);
	if (s->pending)
		printf("pending: generation %llu returns to %llu in %llds unless confirmed\n",
		       (unsigned long long)s->pending_gen, (unsigned long long)s->pending_prev,
		       (long long)s->seconds_left);
	printf("engines:");
	for (unsigned i = 0; i < s->nengines; i++)
		printf(" %s %s%s", s->engines[i].name, s->engines[i].state,
		       i + 1 < s->nengines ? "," : "");
	top_fmt_rate(up, sizeof(up), m->up_bps);
	top_fmt_rate(down, sizeof(down), m->down_bps);
	printf("\nrate up %s down %s   devices %zu   blocked in the last minute %llu\n\n", up,
	       down, m->ndevs, (unsigned long long)m->blocked_1m);
	size_t *v, n;
	if (top_model_dev_view(m, NULL, TOP_SORT_RATE, false, false, &v, &n) < 0)
		return;
	struct gwc_table tb = { .ncols = 9, .right = { [4] = true, [5] = true, [6] = true,
						     [7] = true, [8] = true } };
	gwc_table_row(&tb, (const char *[]){ "NAME", "OWNER", "ADDRESS", "MAC", "UP", "DOWN",
					     "OUT", "IN", "FLOWS" });
	for (size_t i = 0; i < n; i++) {
		const struct top_dev *d = &m->devs[v[i]];
		char name[80], r1[24], r2[24], t1[24], t2[24], fl[24];
		snprintf(name, sizeof(name), d->is_new ? "(new)" : "%s", d->name);
		top_fmt_rate(r1, sizeof(r1), d->up_bps);
		top_fmt_rate(r2, sizeof(r2), d->down_bps);
		gwc_fmt_size(t1, sizeof(t1), d->bytes_out);
		gwc_fmt_size(t2, sizeof(t2), d->bytes_in);
		snprintf(fl, sizeof(fl), "%llu", (unsigned long long)d->flows_live);
		gwc_table_row(&tb, (const char *[]){ name, d->owner[0] ? d->owner : NULL,
						     d->addr4[0] ? d->addr4 : d->addr6[0] ? d->addr6 : NULL,
						     d->mac, r1, r2, t1, t2, fl });
	}
	free(v);
	gwc_table_print(&tb, stdout);
	putchar('\n');
}

static int batch(const char *sock, double delay, long count, bool json)
{
	struct top_fetch f;
	struct top_model m;
	top_fetch_init(&f, sock, false);
	top_model_init(&m);
	int ret = 0;
	uint64_t next = mono_ms();
	for (long tick = 1; !stop && (count <= 0 || tick <= count); tick++) {
		int r = fetch_tick(&f, &m, "", json ? "" : NULL, GWD_API_FLOWS_MAX);
		if (r < 0) {
			fprintf(stderr, "gwtop: %s\n", f.err);
			ret = 1;
			break;
		}
		uint64_t t = wall_ms();
		if (json) {
			print_obj(top_gateway_json(&m, (uint64_t)tick, t));
			size_t *v, n;
			if (top_model_dev_view(&m, NULL, TOP_SORT_RATE, false, false, &v, &n) == 0) {
				for (size_t i = 0; i < n; i++)
					print_obj(top_dev_json(&m.devs[v[i]], (uint64_t)tick, t));
				free(v);
			}
			if (top_model_flow_view(&m, NULL, TOP_FSORT_RATE, false, false, &v, &n) == 0) {
				for (size_t i = 0; i < n; i++)
					print_obj(top_flow_json(&m.flows[v[i]], (uint64_t)tick, t));
				free(v);
			}
		} else {
			batch_text(&m, (uint64_t)tick);
		}
		fflush(stdout);
		if (count > 0 && tick == count)
			break;
		next += (uint64_t)(delay * 1000);
		while (!stop) {
			uint64_t now = mono_ms();
			if (now >= next)
				break;
			uint64_t left = next - now;
			struct timespec ts = { .tv_sec = (time_t)(left / 1000),
					       .tv_nsec = (long)(left % 1000) * 1000000 };
			nanosleep(&ts, NULL);
		}
	}
	top_fetch_close(&f);
	top_model_free(&m);
	return ret;
}

/* ---- the screen --------------------------------------------------------- */

static int interactive(const char *sock, double delay, long count)
{
	struct top_fetch f;
	struct top_model m;
	struct top_ui u = { .m = &m, .f = &f, .delay_s = delay };
	top_fetch_init(&f, sock, true);
	top_model_init(&m);
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "gwtop: not a terminal (use -b for batch mode)\n");
		return 1;
	}
	if (top_ui_start(&u) < 0) {
		fprintf(stderr, "gwtop: cannot use this terminal\n");
		return 1;
	}
	uint64_t next = 0;
	long ticks = 0;
	bool was_up = false, ever_up = false;
	while (!stop && !u.quit) {
		u.now_ms = mono_ms();
		if ((!u.paused && u.now_ms >= next) || u.want_fetch) {
			bool flows = u.view == TOP_VIEW_FLOWS && u.flows_of[0];
			int r = fetch_tick(&f, &m, u.flows_of, flows ? u.flows_arg : NULL, 4096);
			if (r == 0) {
				top_fetch_events(&f, &m);
				if (ever_up && !was_up) {
					top_model_forget_rates(&m);
					top_ui_say(&u, 5000, "gwd is back: connected to %s again", sock);
				}
				was_up = ever_up = true;
			} else if (was_up || !ever_up) {
				was_up = false;
			}
			u.want_fetch = false;
			next = u.now_ms + (uint64_t)(delay * 1000);
			if (count > 0 && ++ticks >= count) {
				top_ui_draw(&u);
				break;
			}
		}
		top_ui_draw(&u);
		/* Until the next tick, a key, an event, or a second (the
		 * countdown of a pending confirm moves). */
		struct pollfd p[2] = { { .fd = STDIN_FILENO, .events = POLLIN },
				       { .fd = top_fetch_fd(&f), .events = POLLIN } };
		uint64_t now = mono_ms();
		int wait = u.paused ? 1000 : next > now ? (int)(next - now) : 0;
		if (wait > 1000)
			wait = 1000;
		int n = poll(p, p[1].fd >= 0 ? 2 : 1, wait);
		if (n > 0 && p[1].fd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    !u.paused)
			top_fetch_events(&f, &m);
		top_ui_keys(&u);
	}
	top_ui_stop();
	top_fetch_close(&f);
	top_model_free(&m);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 'S' },
		{ "batch", no_argument, NULL, 'b' },
		{ "delay", required_argument, NULL, 'd' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *sock = NULL;
	double delay = 1;
	long count = 0;
	bool json = false, batch_mode = false;
	int c;
	while ((c = getopt_long(argc, argv, "bd:n:h", opts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 'b': batch_mode = true; break;
		case 'j': json = true; break;
		case 'S': sock = optarg; break;
		case 'd':
			errno = 0;
			delay = strtod(optarg, &end);
			if (errno || *end || end == optarg || !(delay >= 0.2 && delay <= 3600)) {
				fprintf(stderr, "gwtop: -d '%s': seconds from 0.2 to 3600\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'n':
			errno = 0;
			count = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || count < 1) {
				fprintf(stderr, "gwtop: -n '%s': a count of 1 or more\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc || (json && !batch_mode)) {
		if (json && !batch_mode)
			fprintf(stderr, "gwtop: --json is for batch mode (-b)\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!sock) {
		const char *env = getenv(GWD_API_SOCKET_ENV);
		sock = env && *env ? env : GWD_API_DEFAULT_SOCKET;
	}
	/* Each tick parses a reply of up to some 1.4 MB (4096 devices) into
	 * small objects and frees them: glibc's fast bins then consolidate at
	 * the next large allocation, a fifth of gwtop's time.  Without them
	 * gwtop takes 20-30 % less CPU (tools/bench-gwtop.py). */
	mallopt(M_MXFAST, 0);
	struct sigaction sa = { .sa_handler = on_stop };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return batch_mode ? batch(sock, delay, count, json) : interactive(sock, delay, count);
}
