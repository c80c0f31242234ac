/* SPDX-License-Identifier: MIT */
/*
 * The eBPF engine: the XDP/TC classifier of the kernel LAN ports, through
 * the loader library (ebpf/loader.h).
 *
 *   new:     gwbpf_open_sized(pin_root, ebpf_flows) (a restarted gwd
 *            adopts the pinned maps: the live policy, flows and counters;
 *            a pinned flow table keeps its size), gwbpf_attach on each
 *            port.  When the pins were adopted and the live epoch is the
 *            one gwd last wrote to STATE_DIR/engine-ebpf/live, the engine
 *            starts at that generation: nothing is staged again (the
 *            policy, for the schedule timeline, comes from gwd's history).
 *   prepare: gwbpf_tables_build + gwbpf_stage (the idle slot, with the
 *            clock's active-rule mask) + gwbpf_stage_timeline (the next
 *            24 h of schedule boundaries, ebpf/gw_bpf_abi.h "Schedules");
 *            stage_domains fills that slot's domain table.  The live slot
 *            is untouched: abort is simply not committing.
 *   commit:  gwbpf_commit, one map write.
 *   set_active: a timeline from gwd's mask (gwbpf_set_timeline, written
 *            only where it differs from the live one);  set_domains: the
 *            live slot's entries, expiring with their TTL.
 * On the loop: flow events drained when gwbpf_events_fd() is readable,
 * into the flow collector; every 10 s idle flows (5 min without a
 * packet) are expired, and ports that could not be attached are tried
 * again; each minute the timeline is computed again and written where it
 * moved (a clock step, DST, a boundary entering the day ahead, an hour).
 */
#ifndef GW_CONTROL_ENGINE_EBPF_H
#define GW_CONTROL_ENGINE_EBPF_H

#include <event2/event.h>

#include "config.h"
#include "engine.h"

struct gwd_flows;

/* -errno with the reason in err (-EPERM: BPF is not permitted here). */
int gwd_engine_ebpf_new(struct event_base *base, const struct gwd_config *cfg,
			struct gwd_flows *flows, struct gwd_engine **ret, char *err,
			size_t errlen);

#endif
