/* SPDX-License-Identifier: MIT */
/*
 * gw-dataplane: the DPDK primary process of the fast path (app.h says what
 * it does and where).
 *
 *   gw-dataplane [EAL args] -- --lan PORT --wan PORT [--mode io|full] ...
 *
 * (config.h lists the options.)  Everything is logged as gw's key=value
 * lines on stderr (policy/logline.h).  It stops on SIGINT or SIGTERM.
 *
 * Exit status: 0 after a clean stop; 1 on an error after EAL started; 2 for
 * bad arguments; 3 when EAL itself cannot start (no hugepages, no rights),
 * which tests take as "cannot run here".
 */
#include <signal.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_errno.h>

#include "app.h"
#include "logline.h"

#define EXIT_USAGE 2
#define EXIT_NO_EAL 3

static struct dp_app app;

static void on_signal(int sig)
{
	(void)sig;
	app.stop = true;
}

int main(int argc, char **argv)
{
	char err[256], v[GW_LOG_VALUE];
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	int n = rte_eal_init(argc, argv);
	if (n < 0) {
		gw_log("error", "stage=eal error=%d msg=%s", -rte_errno,
		       gw_log_value(v, sizeof(v), rte_strerror(rte_errno)));
		return EXIT_NO_EAL;
	}
	int r = dp_config_parse(argc - n, argv + n, &app.cfg, err, sizeof(err));
	if (r < 0) {
		gw_log("error", "stage=args error=%d msg=%s", r, gw_log_value(v, sizeof(v), err));
		rte_eal_cleanup();
		return EXIT_USAGE;
	}
	r = dp_app_setup(&app);
	if (r == 0)
		r = dp_app_run(&app);
	dp_app_teardown(&app);
	rte_eal_cleanup();
	gw_log("exit", "status=%d", r < 0 ? 1 : 0);
	return r < 0 ? 1 : 0;
}
