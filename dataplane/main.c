/* SPDX-License-Identifier: MIT */
/*
 * gw-dataplane: the DPDK primary process of the fast path (app.h says what
 * it does and where).
 *
 *   gw-dataplane [EAL args] -- --lan PORT --wan PORT [--mode io|full] ...
 *
 * (config.h lists the options.)  Everything is logged as gw's key=value
 * lines on stderr (policy/logline.h), DPDK's own messages beside them,
 * through the log queue (logq.h): the main lcore serves the control
 * socket and must not wait for the disk.  It stops on SIGINT or SIGTERM.
 *
 * Exit status: 0 after a clean stop; 1 on an error after EAL started; 2 for
 * bad arguments; 3 when EAL itself cannot start (no hugepages, no rights),
 * which tests take as "cannot run here".
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_log.h>

#include "app.h"
#include "logline.h"
#include "logq.h"

#define EXIT_USAGE 2
#define EXIT_NO_EAL 3
/* A burst of a few thousand lines (a flood of control errors, a storm of
 * link events) waits here while the disk is stuck; beyond, lines are
 * dropped and counted. */
#define LOG_QUEUE_BYTES (1u << 20)

static struct dp_app app;

static void on_signal(int sig)
{
	(void)sig;
	app.stop = true;
}

/* Everything queued is written; gw_log and DPDK write to stderr again. */
static void log_stop(struct dp_logq *q, FILE *stream)
{
	if (stream) {
		rte_openlog_stream(NULL);
		fclose(stream);
	}
	dp_logq_stop(q);
}

int main(int argc, char **argv)
{
	char err[256], v[GW_LOG_VALUE];
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	/* Without the queue (no memory, no thread) it logs as before. */
	struct dp_logq *q = NULL;
	FILE *stream = NULL;
	int r = dp_logq_start(STDERR_FILENO, LOG_QUEUE_BYTES, &q);
	if (r < 0)
		gw_log("log_queue", "error=%d msg=\"logging straight to stderr\"", r);
	else if ((stream = dp_logq_stream(q)) != NULL)
		rte_openlog_stream(stream);

	int n = rte_eal_init(argc, argv);
	if (n < 0) {
		gw_log("error", "stage=eal error=%d msg=%s", -rte_errno,
		       gw_log_value(v, sizeof(v), rte_strerror(rte_errno)));
		log_stop(q, stream);
		return EXIT_NO_EAL;
	}
	r = dp_config_parse(argc - n, argv + n, &app.cfg, err, sizeof(err));
	if (r < 0) {
		gw_log("error", "stage=args error=%d msg=%s", r, gw_log_value(v, sizeof(v), err));
		rte_eal_cleanup();
		log_stop(q, stream);
		return EXIT_USAGE;
	}
	r = dp_app_setup(&app);
	if (r == 0)
		r = dp_app_run(&app);
	dp_app_teardown(&app);
	rte_eal_cleanup();
	gw_log("exit", "status=%d", r < 0 ? 1 : 0);
	log_stop(q, stream);
	return r < 0 ? 1 : 0;
}
