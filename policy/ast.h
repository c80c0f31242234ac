/* SPDX-License-Identifier: MIT */
/*
 * The parsed policy: what parse.c builds, sema.c resolves and checks,
 * compile.c turns into an image and print.c prints.  Everything lives in the
 * unit's arena.  Statements keep their source order in `stmts`; the typed
 * vectors hold the definitions in the same order.
 */
#ifndef GW_POLICY_AST_H
#define GW_POLICY_AST_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "diag.h"
#include "ir.h"

struct ast_name {
	const char *s;
	struct pol_span span;
};

struct ast_prefix {
	uint8_t addr[16];
	uint8_t plen, family;
	struct pol_span span;
};

struct ast_domain {
	const char *name; /* lower-case, no "*." */
	uint32_t len;
	bool wildcard;
};

struct ast_mac {
	uint8_t mac[6];
	struct pol_span span;
};

struct ast_person {
	struct ast_name name;
	bool used;
};

struct ast_group {
	struct ast_name name;
	bool used;
};

struct ast_device {
	struct ast_name name;
	struct pol_vec macs;   /* struct ast_mac */
	struct ast_name owner; /* owner.s NULL: none */
	struct pol_vec groups; /* struct ast_name */
	bool has_addr4;        /* `address` given */
	uint8_t addr4[4];      /* its fixed IPv4 address, network order */
	struct pol_span addr4_span;
	uint32_t owner_idx;    /* sema */
	uint64_t group_mask;   /* sema */
};

struct ast_list {
	struct ast_name name;
	bool domains;          /* else prefixes */
	const char *file;      /* list file as printed (relative to the main file), or NULL */
	struct pol_span file_span;
	struct pol_vec items;  /* struct ast_domain or struct ast_prefix */
	uint32_t set;          /* sema: domain or prefix set index */
	bool used;
};

struct ast_window {
	uint8_t days;
	uint16_t start, end;
	struct pol_span span;
};

struct ast_schedule {
	struct ast_name name;
	struct pol_vec windows; /* struct ast_window */
	bool used;
};

enum ast_dst_kind {
	AD_ANY, AD_LAN, AD_INTERNET, AD_LIST, AD_DOMAIN, AD_PREFIX,
};

struct ast_dst {
	enum ast_dst_kind kind;
	struct pol_span span;
	struct ast_name list;     /* AD_LIST */
	struct ast_domain domain; /* AD_DOMAIN */
	struct ast_prefix prefix; /* AD_PREFIX */
};

struct ast_ports {
	uint16_t lo, hi;
	struct pol_span span;
};

struct ast_rule {
	struct ast_name name;
	uint8_t action;
	struct pol_span action_span;
	uint8_t subject_kind;      /* enum pol_subject_kind */
	struct pol_span subject_span;
	struct pol_vec subjects;   /* struct ast_name */
	struct pol_vec dsts;       /* struct ast_dst */
	uint8_t protos;            /* as written */
	struct pol_span proto_span;
	struct pol_vec ports;      /* struct ast_ports */
	struct pol_span port_span;
	struct ast_name during;    /* s NULL: none */
	uint64_t rate_bps;         /* 0: none */
	struct pol_span rate_span;
	bool log;
	/* sema */
	uint32_t *subj_idx;        /* subjects resolved, subjects.n entries */
	uint32_t sched_idx;
	uint32_t domain_set;       /* inline domains' set, or POL_NONE */
	uint32_t prefix_set;       /* inline prefixes' set, or POL_NONE */
};

enum ast_stmt_kind {
	AS_ZONE, AS_TIMEZONE, AS_LAN, AS_DNS_ENFORCE, AS_DNS_PRIVATE, AS_PERSON, AS_GROUP, AS_DEVICE, AS_LIST,
	AS_SCHEDULE, AS_RULE, AS_DEFAULT, AS_DEFAULT_NEW,
};

struct ast_stmt {
	enum ast_stmt_kind kind;
	uint32_t index; /* into the typed vector of its kind */
};

struct ast {
	struct pol_vec stmts;     /* struct ast_stmt */
	struct pol_vec persons;   /* struct ast_person */
	struct pol_vec groups;    /* struct ast_group */
	struct pol_vec devices;   /* struct ast_device */
	struct pol_vec lists;     /* struct ast_list */
	struct pol_vec schedules; /* struct ast_schedule */
	struct pol_vec rules;     /* struct ast_rule */
	struct ast_name zone;     /* s NULL: default */
	struct ast_name timezone; /* s NULL: default; span of the string */
	struct pol_span timezone_kw;
	struct pol_vec lan;       /* struct ast_prefix; empty: default */
	struct pol_span lan_span;
	bool lan_set;
	int default_action;       /* -1: missing */
	struct pol_span default_span;
	bool dns_enforce;         /* `dns enforce`: the implicit rules of compile.c */
	struct pol_span dns_enforce_span;
	struct pol_vec dns_private;  /* struct ast_domain (never wildcard): `dns private` */
	struct pol_span dns_private_span;
	int default_new;          /* -1: same as default_action */
	struct pol_span default_new_span;
	/* sema: the sets the compiler emits, in order */
	uint32_t ndomain_sets, nprefix_sets;
};

#define POL_DEFAULT_ZONE "home.arpa"
#define POL_DEFAULT_TZ   "UTC"

#endif
