/* SPDX-License-Identifier: MIT */
/*
 * systemd's readiness protocol, written by hand (no libsystemd): one
 * datagram of "KEY=VALUE\n" lines to the unix socket $NOTIFY_SOCKET (a
 * path, or '@' for the abstract namespace).  Without $NOTIFY_SOCKET it
 * does nothing, so gwd runs the same outside systemd.
 *   READY=1                          after the first generation is pushed
 *   RELOADING=1 + MONOTONIC_USEC=N   when SIGHUP starts a reload
 *   STOPPING=1                       on the way out
 */
#ifndef GW_CONTROL_NOTIFY_H
#define GW_CONTROL_NOTIFY_H

/* 0, or -errno (logged by the caller); 0 too when there is no socket. */
int gwd_notify(const char *state);
/* "RELOADING=1\nMONOTONIC_USEC=<CLOCK_MONOTONIC now>" */
int gwd_notify_reloading(void);

#endif
