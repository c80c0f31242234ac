/* SPDX-License-Identifier: MIT */
/*
 * The eBPF classifier's loader: a library for gwd (and tests).  It loads the
 * program and its maps (classify.bpf.c, through the bpftool skeleton), and
 * keeps the policy maps per gw_bpf_abi.h:
 *
 *   gwbpf_new(&g);                       load; nothing attached, nothing pinned
 *   gwbpf_stage(g, img, active);         fill the idle slot with a generation
 *   gwbpf_domain_set(g, true, ...);      its domain addresses, if any
 *   gwbpf_commit(g);                     one map write: the slot goes live
 *   gwbpf_set_active(g, active);         a schedule boundary
 *   gwbpf_events_drain(g, fn, arg);      flow events, when gwbpf_events_fd() is readable
 *   gwbpf_free(g);
 *
 * libbpf's own messages (a verifier log, say) go where the caller's
 * libbpf_set_print() sends them; the loader itself prints nothing.
 *
 * Staging never disturbs the live slot, so an apply that another engine
 * refuses is abandoned by not committing.  Before it overwrites the idle
 * slot or the idle active buffer, the loader waits for every program run
 * that may still read them (an RCU grace period, see grace() in loader.c).
 */
#ifndef GW_EBPF_LOADER_H
#define GW_EBPF_LOADER_H

#include <stdbool.h>
#include <stdint.h>

#include "compile.h"

struct gwbpf;

/* 0 and *ret, or -errno (-EPERM: BPF is not permitted here). */
int gwbpf_new(struct gwbpf **ret);
void gwbpf_free(struct gwbpf *g);

/* The XDP program (LAN ingress) and the TC program (LAN egress). */
int gwbpf_prog_fd(const struct gwbpf *g);
int gwbpf_egress_prog_fd(const struct gwbpf *g);
/* A map's fd by its GWBPF_MAP_* name, or -ENOENT. */
int gwbpf_map_fd(const struct gwbpf *g, const char *name);

int gwbpf_stage(struct gwbpf *g, const struct gwbpf_image *img,
		const struct gwbpf_bitmap *active);
/* -EINVAL when nothing is staged. */
int gwbpf_commit(struct gwbpf *g);
/* The live slot's schedule mask; every flow is classified again. */
int gwbpf_set_active(struct gwbpf *g, const struct gwbpf_bitmap *active);

/* Domain-set bits of an address, in the live or the staged slot; sets == 0
 * removes the entry.  expires_ns is CLOCK_MONOTONIC. */
int gwbpf_domain_set(struct gwbpf *g, bool staged, uint8_t family, const uint8_t addr[16],
		     uint64_t sets, uint64_t expires_ns);
/* An address of the gateway itself: its traffic is not classified. */
int gwbpf_local_add(struct gwbpf *g, uint8_t family, const uint8_t addr[16]);

/* Flow events (gw_bpf_abi.h, gw_events), without waiting.  fn returns 0 to
 * go on, or a negative errno to stop (that event counts as read), which is
 * then returned; else the number of events fn saw. */
typedef int (*gwbpf_event_fn)(const struct gwbpf_event *e, void *arg);
int gwbpf_events_drain(struct gwbpf *g, gwbpf_event_fn fn, void *arg);
/* Readable (epoll) when events wait: for gwd's event loop. */
int gwbpf_events_fd(const struct gwbpf *g);

/* The current gw_epoch value (GWBPF_EPOCH_*). */
uint64_t gwbpf_epoch(const struct gwbpf *g);
/* Counters summed over CPUs. */
int gwbpf_counters(const struct gwbpf *g, uint64_t ret[GWBPF_CNT_COUNT]);
int gwbpf_rule_stats(const struct gwbpf *g, uint32_t slot, uint32_t index,
		     struct gwbpf_rule_stats *ret);
/* -ENOENT: nothing seen from or to that MAC (or its entry was evicted). */
int gwbpf_device_stats(const struct gwbpf *g, const uint8_t mac[6],
		       struct gwbpf_device_stats *ret);

#endif
