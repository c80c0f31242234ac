/* SPDX-License-Identifier: MIT */
/*
 * What gwctl's files share (main.c dispatches to the gwctl_cmd_* of each
 * duty).  A command takes argv after its own name; the ones that talk to
 * gwd get the socket's path, with --socket already taken out.  A command
 * returns the exit status: 0 ok, 1 failure, EXIT_USAGE for a wrong
 * command line (diff has its own convention, see diff.c).
 */
#ifndef GW_TOOLS_GWCTL_H
#define GW_TOOLS_GWCTL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "policy.h"

#define EXIT_USAGE 2

struct pol_ir;

void gwctl_usage(FILE *out);

/* policy.c: files alone */
int gwctl_cmd_check(int argc, char **argv);
int gwctl_cmd_show(int argc, char **argv);
int gwctl_cmd_compile(int argc, char **argv);
/* Compiles FILE; 0 valid, 1 invalid (diagnostics not yet shown), -errno
 * (said on stderr). */
int gwctl_compile(const char *path, struct pol_unit **ret);
/* A valid unit's image loaded as the engines load it. */
int gwctl_load_ir(const struct pol_unit *u, struct pol_ir **ret);
/* Compiles FILE as `policy check` does, diagnostics on stderr; NULL when
 * it cannot be read or has errors. */
struct pol_ir *gwctl_compile_ir(const char *path);

/* explain.c */
int gwctl_cmd_explain(int argc, char **argv);

/* diff.c */
int gwctl_cmd_diff(int argc, char **argv, const char *sock);

/* generations.c */
int gwctl_cmd_apply(int argc, char **argv, const char *sock);
int gwctl_cmd_history(int argc, char **argv, const char *sock);
int gwctl_cmd_rollback(int argc, char **argv, const char *sock);
int gwctl_cmd_confirm(int argc, char **argv, const char *sock);
int gwctl_cmd_status(int argc, char **argv, const char *sock);

/* devices.c: devices, devices show, devices name */
int gwctl_cmd_devices(int argc, char **argv, const char *sock);

/* traffic.c */
int gwctl_cmd_flows(int argc, char **argv, const char *sock);
int gwctl_cmd_domains(int argc, char **argv, const char *sock);

/* events.c */
int gwctl_cmd_events(int argc, char **argv, const char *sock);

/* reply.c */
/* One request (stolen), one reply; NULL after saying why on stderr. */
json_t *gwctl_call(const char *sock, json_t *req);
/* 0 for an ok reply; otherwise prints gwd's error with its diagnostics
 * and returns 1. */
int gwctl_check_reply(json_t *reply, const char *what);
/* One diagnostic object from a reply, on stderr as the compiler shows it. */
void gwctl_print_diag(json_t *g);
/* While a request names a file by the absolute path `sent`, diagnostics
 * about it show `user` (the path as typed); NULL, NULL to stop. */
void gwctl_diag_paths(const char *sent, const char *user);
/* The reply without v, id and ok, indented, on stdout. */
void gwctl_print_json_reply(json_t *reply);

#endif
