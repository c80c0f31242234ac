/* SPDX-License-Identifier: MIT */
/*
 * gwd's clocks.  Deadlines (a --confirm's revert) run on CLOCK_MONOTONIC,
 * which no clock step moves; they are kept on disk with the boot they
 * belong to, since the monotonic clock starts again at each boot.  The
 * wall clock is used only for what is defined by it (schedules, the times
 * shown to people), and only once it can be believed: a router without a
 * real-time clock boots in 1970 until NTP sets the time.
 *
 * "Synchronised" here means: the wall clock reads later than GWD_CLOCK_FLOOR,
 * the time of the newest commit gwd was built from (a clock before the
 * code existed was never set).  The kernel's NTP status (adjtimex,
 * STA_UNSYNC) is not required: a router with a battery-backed clock and
 * no NTP keeps good time and would otherwise never run its schedules.
 */
#ifndef GW_CONTROL_CLOCK_H
#define GW_CONTROL_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifndef GWD_CLOCK_FLOOR
#define GWD_CLOCK_FLOOR 1767225600 /* 2026-01-01T00:00:00Z, when the build gives none */
#endif

#define GWD_BOOT_ID_LEN 36 /* "8-4-4-4-12" */

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t gwd_clock_mono_ms(void);

/* This boot's id (/proc/sys/kernel/random/boot_id), NUL-terminated;
 * -errno when it cannot be read. */
int gwd_clock_boot_id(char out[GWD_BOOT_ID_LEN + 1]);

/* Whether `now` (wall clock, unix seconds) can be believed; if not, why,
 * in why (for status and the log). */
bool gwd_clock_synchronised(time_t now, char *why, size_t whylen);

#endif
