/* SPDX-License-Identifier: MIT */
/*
 * What every C test of gw shares with the Python harness (tests/lib/gwtest):
 * how a test says that this machine cannot run it, and small file helpers.
 *
 * A test that cannot run here (not root, no network namespace, no BPF, EAL
 * cannot start) exits 77 and meson counts it skipped.  Under
 * GW_TEST_STRICT=1, which tools/gw test sets when it runs as root (a
 * machine that can run everything, as CI's), the same test fails instead:
 * a fast path that no longer starts must not pass as skipped.  A test whose
 * input data is missing (the shared corpus) still exits 77 on its own.
 */
#ifndef GW_TEST_GWTEST_H
#define GW_TEST_GWTEST_H

#include <stddef.h>

#define GWTEST_SKIP 77

/* Prints why (a printf format: "EAL cannot start here") on stderr and
 * returns the exit status for main: 77, or 1 under GW_TEST_STRICT=1. */
int gwtest_cannot_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Removes the runtime folder DPDK's EAL leaves behind for --file-prefix
 * PREFIX (/var/run/dpdk/PREFIX, after rte_eal_cleanup); says so on stderr
 * when it cannot.  PREFIX is the test's own, PID-tagged. */
void gwtest_remove_dpdk_runtime(const char *prefix);

/* Reads at most cap bytes of the file NAME in folder DIR (a checked-in
 * corpus seed, say) into buf: the bytes read, or -1 when it cannot be
 * opened. */
long gwtest_read_seed(const char *dir, const char *name, void *buf, size_t cap);

struct pol_ir;

/* A policy text (NAME for its diagnostics) compiled, through its image,
 * into the IR the engines load: NULL, with the diagnostics on stderr,
 * when it does not compile or load.  pol_ir_free it. */
struct pol_ir *gwtest_policy_ir(const char *name, const char *text);

#endif
