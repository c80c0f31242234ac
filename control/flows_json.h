/* SPDX-License-Identifier: MIT */
/*
 * The API's view of the flow collector (docs/api.md, `devices` and
 * `flows`): a collector and the running policy in, the reply's JSON out.
 * Devices and rules are named by the policy (the IR's strings), never by
 * index.  Pure: no socket, no clock (the caller passes now), so the unit
 * tests render exactly what gwd sends.
 */
#ifndef GW_CONTROL_FLOWS_JSON_H
#define GW_CONTROL_FLOWS_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "flows.h"
#include "image.h"

/* The IR of a generation, to name the rule that decided a flow of an
 * older generation; NULL when it is not known (the rule is then shown by
 * index only). */
typedef const struct pol_ir *(*gwd_ir_for_gen)(uint32_t generation, void *arg);

/* The name DNS gave an address (the flow's peer), or NULL. */
typedef const char *(*gwd_name_for_addr)(uint8_t family, const uint8_t *addr, void *arg);

/* "devices":[...],"now_ms":N as JSON text (the reply's members, no
 * braces; *ret malloc'd): every device of ir (NULL: nothing applied yet)
 * in the policy's order, then each MAC the collector saw that ir does not
 * declare, as a "new" device, most recently seen first.  brief: without
 * groups, blocked_pkts, blocked_bytes, first_seen_ms and last_seen_ms
 * (docs/api.md).  -ENOMEM. */
int gwd_devices_text(const struct pol_ir *ir, const struct gwd_flows *f, uint64_t now_ms,
		     bool brief, char **ret, size_t *ret_len);
/* The same as an object {"devices":[...],"now_ms":N}; NULL without memory. */
json_t *gwd_devices_json(const struct pol_ir *ir, const struct gwd_flows *f, uint64_t now_ms);

/* A device argument: a device name of ir, or a MAC address (aa:bb:..).
 * 0 and the MACs to show (*ret_n of them, at most max), or -ENOENT. */
int gwd_device_macs(const struct pol_ir *ir, const char *device, uint8_t (*ret)[6],
		    size_t max, size_t *ret_n);

/* {"flows":[...]}: live flows, most recently updated first, of the MACs
 * given (macs NULL: every device), at most limit (0: no limit).  ir names
 * the devices; generation's rules come from ir when it is that
 * generation, else from lookup; name_of (may be NULL) names the peer. */
json_t *gwd_flows_json(const struct pol_ir *ir, uint32_t generation, const struct gwd_flows *f,
		       const uint8_t (*macs)[6], size_t nmacs, size_t limit,
		       gwd_ir_for_gen lookup, void *arg, gwd_name_for_addr name_of,
		       void *name_arg, uint64_t now_ms);

/* One live flow's object, as in the flows reply (for the live events). */
json_t *gwd_flow_json(const struct pol_ir *ir, uint32_t generation,
		      const struct gwd_flow_info *fi, gwd_ir_for_gen lookup, void *arg,
		      gwd_name_for_addr name_of, void *name_arg, uint64_t now_ms);

/* A rule's name in ir ("default", "default new" for the defaults); NULL
 * when ir is NULL or has no such rule. */
const char *gwd_rule_name(const struct pol_ir *ir, uint32_t rule);

#endif
