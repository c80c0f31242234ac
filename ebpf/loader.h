/* SPDX-License-Identifier: MIT */
/*
 * The eBPF classifier's loader: a library for gwd (and tests).  It loads the
 * program and its maps (classify.bpf.c, through the bpftool skeleton), and
 * keeps the policy maps per gw_bpf_abi.h:
 *
 *   gwbpf_open(GWBPF_PIN_ROOT, &g);      load, maps pinned (or adopted from the pins)
 *   gwbpf_attach(g, "wlan0");            XDP ingress + TC egress on a LAN port
 *   gwbpf_tables_build(ir, &t);          the policy's tables, within the maps' limits
 *   gwbpf_active_mask(ir, when, &a);     its schedule mask
 *   gwbpf_stage(g, t, &a);               fill the idle slot with a generation
 *   gwbpf_stage_timeline(g, s);          and its schedule timeline (below)
 *   gwbpf_domain_set(g, true, ...);      its domain addresses, if any
 *   gwbpf_commit(g);                     one map write: the slot goes live
 *   gwbpf_set_active(g, active);         a schedule mask, for ever
 *   gwbpf_timeline_build(ir, now, ...);  the schedule of the next hours
 *   gwbpf_set_timeline(g, s);            which the kernel follows alone
 *   gwbpf_events_drain(g, fn, arg);      flow events, when gwbpf_events_fd() is readable
 *   gwbpf_flows_expire(g, idle_ns, &n);  idle flows out, their totals to their devices
 *   gwbpf_free(g);                       (attached programs and pins stay)
 *
 * gwbpf_new(&g) loads without pins, for tests and benchmarks.
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
#include <stddef.h>
#include <stdint.h>

#include "eval.h"
#include "gw_bpf_abi.h"
#include "tables.h"

struct gwbpf;

/* Where gwd pins the maps. */
#define GWBPF_PIN_ROOT "/sys/fs/bpf/gw"

/* 0 and *ret, or -errno (-EPERM: BPF is not permitted here).  No pins. */
int gwbpf_new(struct gwbpf **ret);
/* With every map pinned as pin_root/<map name> (GWBPF_MAP_*).  Maps found
 * pinned there are re-used, so a restarted gwd adopts the running state:
 * the live policy, flows, counters.  pin_root is made if missing, and must
 * be on a BPF filesystem (/sys/fs/bpf is mounted if it is not); NULL is
 * gwbpf_new().  Maps pinned by a loader of another ABI make it fail. */
int gwbpf_open(const char *pin_root, struct gwbpf **ret);
/* gwbpf_open with a flow table of `flows` flows (gw_flows: a power of two,
 * GWBPF_FLOWS_MIN..GWBPF_FLOWS_MAX, 128 bytes each; gwbpf_open takes
 * GWBPF_FLOWS_DEFAULT).  A table found pinned keeps its size, whatever
 * flows says (its flows live on; a new size needs the pins removed, as
 * gwbpf_unpin does): compare gwbpf_flows().  -EINVAL: flows out of
 * bounds or not a power of two. */
int gwbpf_open_sized(const char *pin_root, uint32_t flows, struct gwbpf **ret);
/* The flows gw_flows holds. */
uint32_t gwbpf_flows(const struct gwbpf *g);
/* The maps were found pinned (and re-used). */
bool gwbpf_adopted(const struct gwbpf *g);
/* Remove the pins and the pin root; the maps live on while any fd or
 * attached program holds them. */
int gwbpf_unpin(struct gwbpf *g);
/* Frees the loader's fds.  What is attached stays attached (enforcement
 * goes on while gwd is down), and pins stay pinned. */
void gwbpf_free(struct gwbpf *g);

/* gw_classify on the interface's XDP hook, in native mode where the
 * driver has it, else in generic mode, and gw_egress on its TC egress hook
 * (a clsact qdisc is made if missing); first the port's source prefixes
 * (gwbpf_port_sync).  A gw program on this loader's maps already there (an
 * earlier gwd's) is replaced in its mode; someone else's XDP program or TC
 * filter at gw's place: -EBUSY, and nothing changes. */
int gwbpf_attach(struct gwbpf *g, const char *ifname);
/* The hook the classifier runs at on a port (docs/ebpf.md, "Two hooks"). */
#define GWBPF_HOOK_XDP 1 /* gw_classify on XDP, gw_ingress on TC ingress */
#define GWBPF_HOOK_TC  2 /* gw_classify_tc on TC ingress, no XDP */
/* GWBPF_HOOK_TC where XDP would copy every packet (the port's driver is
 * veth), else GWBPF_HOOK_XDP; -ENODEV: no such interface. */
int gwbpf_hook_auto(const char *ifname);
/* gwbpf_attach at either hook (GWBPF_HOOK_*); gw_egress on TC egress in
 * both.  A port enforced at the other hook by gw is moved: the new hook's
 * program is in place before the old one goes (a packet may be counted
 * twice meanwhile, none is let through unclassified).  -EINVAL: no such
 * hook. */
int gwbpf_attach_hook(struct gwbpf *g, const char *ifname, int hook);
/* Removes exactly what gw attached there: the XDP program and the TC
 * filter if they use this loader's maps (whichever loader attached them),
 * the clsact qdisc if this loader made it, and the port's source
 * prefixes.  -ENOENT: none was there. */
int gwbpf_detach(struct gwbpf *g, const char *ifname);

/* Whether the port is enforced now: GWBPF_XDP_NATIVE or GWBPF_XDP_GENERIC
 * when gw's XDP program (on this loader's maps) and its TC filters are all
 * on the interface, GWBPF_TC when gw_classify_tc and gw_egress are (and
 * no gw XDP program); -ENOENT when one is missing (the interface was
 * recreated, someone detached them); -ENODEV: no such interface. */
#define GWBPF_XDP_NATIVE  1
#define GWBPF_XDP_GENERIC 2
#define GWBPF_TC          3
int gwbpf_port_mode(const struct gwbpf *g, const char *ifname);
/* "native", "generic", "tc", or "none". */
const char *gwbpf_mode_name(int mode);

/* Anti-spoofing (gw_bpf_abi.h, gw_src): the source prefixes the port
 * with this ifindex accepts, replacing its earlier ones.  -EINVAL: a
 * family other than 4 or 6, or a length past it. */
struct gwbpf_src_prefix {
	uint8_t family; /* 4 or 6 */
	uint8_t plen;
	uint8_t addr[16]; /* IPv4 in addr[0..3] */
};
int gwbpf_port_prefixes(struct gwbpf *g, int ifindex, const struct gwbpf_src_prefix *v, size_t n);
/* The port's prefixes from the kernel's addresses on it now (each
 * address's prefix), and fe80::/10.  gwd calls it on every apply and every
 * few seconds: a prefix the port gains is accepted from then on, one it
 * loses refused. */
int gwbpf_port_sync(struct gwbpf *g, const char *ifname);

/* The XDP program (LAN ingress), the TC program on LAN egress, and the
 * one on TC ingress (the rates' uploads). */
int gwbpf_prog_fd(const struct gwbpf *g);
int gwbpf_egress_prog_fd(const struct gwbpf *g);
int gwbpf_ingress_prog_fd(const struct gwbpf *g);
/* The classifier at TC ingress (GWBPF_HOOK_TC: gw_classify_tc). */
int gwbpf_classify_tc_prog_fd(const struct gwbpf *g);
/* A map's fd by its GWBPF_MAP_* name, or -ENOENT. */
int gwbpf_map_fd(const struct gwbpf *g, const char *name);

/* pol_tables_build() within what the maps hold: -E2BIG past
 * GWBPF_MAX_RULES rules or GWBPF_MAX_BITMAPS distinct bitmaps. */
int gwbpf_tables_build(const struct pol_ir *ir, struct pol_tables **ret);
/* The gw_active bitmap of a policy at `when` (all zero past
 * GWBPF_MAX_RULES rules: such a policy never loads). */
void gwbpf_active_mask(const struct pol_ir *ir, struct pol_when when, struct gwbpf_bitmap *ret);

/* -E2BIG: tables wider than the maps (not from gwbpf_tables_build). */
int gwbpf_stage(struct gwbpf *g, const struct pol_tables *t, const struct gwbpf_bitmap *active);
/* -EINVAL when nothing is staged. */
int gwbpf_commit(struct gwbpf *g);
/* The live slot's schedule mask, for ever (a timeline of one entry);
 * every flow is classified again. */
int gwbpf_set_active(struct gwbpf *g, const struct gwbpf_bitmap *active);

/* Schedules the kernel follows without gwd (gw_bpf_abi.h, "Schedules"):
 * active[0] from now, active[i] from wall-clock second start_s[i] on
 * (ascending), and closed from end_s on (after the last start). */
#define GWBPF_SCHEDULE_MAX (GWBPF_TIMELINE - 1)
struct gwbpf_schedule {
	uint32_t n; /* 1..GWBPF_SCHEDULE_MAX */
	int64_t start_s[GWBPF_SCHEDULE_MAX];
	struct gwbpf_bitmap active[GWBPF_SCHEDULE_MAX];
	int64_t end_s;
	struct gwbpf_bitmap closed;
};
/* ir's schedule from now_s for horizon_s seconds: first (the mask now)
 * from now, then an entry at every minute whose mask
 * (pol_when_at + gwbpf_active_mask, in the policy's time zone) differs
 * from the one before; closed from the end on.  With more boundaries
 * than GWBPF_SCHEDULE_MAX, the schedule ends at the first that does not
 * fit.  -errno from pol_when_at. */
int gwbpf_timeline_build(const struct pol_ir *ir, int64_t now_s, uint32_t horizon_s,
			 const struct gwbpf_bitmap *first, const struct gwbpf_bitmap *closed,
			 struct gwbpf_schedule *ret);
/* The live slot's timeline: s in jiffies (converted once, now), into the
 * idle active buffer, then gw_epoch.  1: written (every flow is decided
 * again); 0: the live timeline, as this loader last wrote it, is s
 * already (same masks, starts within a second, end within the hour), and
 * nothing was written.  -EINVAL: no policy is live, or s is not ordered. */
int gwbpf_set_timeline(struct gwbpf *g, const struct gwbpf_schedule *s);
/* The same into the staged slot (after gwbpf_stage, whose active mask it
 * replaces), live at gwbpf_commit with the generation: one epoch.
 * -EINVAL: nothing staged, or s is not ordered. */
int gwbpf_stage_timeline(struct gwbpf *g, const struct gwbpf_schedule *s);

/* Domain-set bits of an address, in the live or the staged slot; sets == 0
 * removes the entry.  expires_ns is CLOCK_MONOTONIC. */
int gwbpf_domain_set(struct gwbpf *g, bool staged, uint8_t family, const uint8_t addr[16],
		     uint64_t sets, uint64_t expires_ns);
/* The egresses the classifier may forward allowed flows to (gw_bpf_abi.h,
 * "Forwarding in XDP"): the devices want[0..n) that exist become gw_fwd_ifs,
 * those whose XDP features take redirected frames (NDO_XMIT) flagged
 * GWBPF_FWD_XDP (only they take gw_classify's redirects; the TC classifier
 * redirects skbs, to any), and no other device stays in it; n == 0 empties
 * it.  xdp false: none is flagged (gw_classify forwards nothing, only
 * gw_classify_tc does).  *ret_n: how many it holds, *ret_xdp: how many of
 * them are flagged (either may be NULL).  A device whose check fails is left out
 * (its flows go through the stack) and the first error is returned. */
struct gwbpf_fwd_if {
	int ifindex;
	uint32_t flags; /* GWBPF_FWD_* */
};
int gwbpf_fwd_sync(struct gwbpf *g, const struct gwbpf_fwd_if *want, size_t n, bool xdp,
		   uint32_t *ret_n, uint32_t *ret_xdp);
/* gw_fwd_conf: the UDP timeout (ms) of conntrack entries the programs
 * make for new flows; 0: they make none. */
int gwbpf_fwd_conf(struct gwbpf *g, uint32_t udp_timeout_ms);
/* Whether the programs were built with conntrack's kfuncs (the kernel's
 * BTF had them): without, nothing is forwarded in XDP. */
bool gwbpf_ct_kfuncs(void);
/* An address of the gateway itself: its traffic is not classified. */
int gwbpf_local_add(struct gwbpf *g, uint8_t family, const uint8_t addr[16]);

/* A GWBPF_EV_SHAPE event's class (gw_bpf_abi.h, "Rates"): the HTB class
 * of the rule's rate made (on the ifb, GWBPF_IFB, made if missing, for an
 * upload; on the port for a download, whose root qdisc becomes gw's HTB)
 * and written into gw_shapes, so the programs hand the device's traffic
 * to it.  1: made; 0: nothing to do (there already, or asked for under a
 * generation since replaced); -errno.  gwd calls it for every such
 * event; without, the programs police the rate. */
int gwbpf_shape(struct gwbpf *g, const struct gwbpf_event *e);
/* Removes the classes (and requests) of rates whose device has no flow
 * left in gw_flows under that rule: gwd calls it after gwbpf_flows_expire,
 * so a device's class goes a few minutes after its last connection.
 * *ret_n, if not NULL: how many went. */
int gwbpf_shapes_expire(struct gwbpf *g, uint32_t *ret_n);
/* A class made for key k: its classid and the interface it is on;
 * -ENOENT: none (yet). */
int gwbpf_shape_info(const struct gwbpf *g, const struct gwbpf_shape_key *k, uint32_t *ret_classid,
		     int *ret_ifindex);

/* Flow events (gw_bpf_abi.h, gw_events), without waiting.  fn returns 0 to
 * go on, or a negative errno to stop (that event counts as read), which is
 * then returned; else the number of events fn saw. */
typedef int (*gwbpf_event_fn)(const struct gwbpf_event *e, void *arg);
int gwbpf_events_drain(struct gwbpf *g, gwbpf_event_fn fn, void *arg);
/* Readable (epoll) when the programs woke the reader: for gwd's event
 * loop.  Not every event wakes it (gw_bpf_abi.h, "Wakeups"): a reader that
 * found events drains again GWBPF_EVENTS_WAKE_NS later. */
int gwbpf_events_fd(const struct gwbpf *g);

/* The current gw_epoch value (GWBPF_EPOCH_*). */
uint64_t gwbpf_epoch(const struct gwbpf *g);
/* Counters summed over CPUs. */
int gwbpf_counters(const struct gwbpf *g, uint64_t ret[GWBPF_CNT_COUNT]);
/* A counter's name in logs and tools ("spoofed", "vlan_deep"...), "?" for
 * none. */
const char *gwbpf_counter_name(enum gwbpf_counter c);
int gwbpf_rule_stats(const struct gwbpf *g, uint32_t slot, uint32_t index,
		     struct gwbpf_rule_stats *ret);
/* A device's totals: its expired flows (gw_device_stats) and its live
 * ones, summed now (a walk of gw_flows).  -ENOENT: nothing seen from or to
 * that MAC (or its entry was evicted). */
int gwbpf_device_stats(const struct gwbpf *g, const uint8_t mac[6],
		       struct gwbpf_device_stats *ret);
/* Remove every flow without a packet for idle_ns or more (0: all), folding
 * its totals into its device's (gw_device_stats); *ret_n, if not NULL, is
 * how many went.  gwd calls it well before gw_flows fills up. */
int gwbpf_flows_expire(struct gwbpf *g, uint64_t idle_ns, uint32_t *ret_n);
/* gw_flows by key (the tuple as the device sent it).  gw_flows is not a
 * BPF hash map (gw_bpf_abi.h, gwbpf_flow_set): look flows up here, not
 * with bpf_map_lookup_elem.  -ENOENT: no such flow. */
int gwbpf_flow_get(const struct gwbpf *g, const struct gwbpf_flow_key *k,
		   struct gwbpf_flow *ret);
/* Remove a flow, folding its totals into its device's (as expiry does):
 * its next packet is a new flow.  -ENOENT: no such flow; -EBUSY: its way
 * kept changing under the remover (a program run writing it each time). */
int gwbpf_flow_delete(struct gwbpf *g, const struct gwbpf_flow_key *k);
/* fn for a copy of every flow; fn returns 0 to go on, or a negative errno
 * to stop, which is returned. */
typedef int (*gwbpf_flow_fn)(const struct gwbpf_flow_key *k, const struct gwbpf_flow *f,
			     void *arg);
int gwbpf_flows_each(const struct gwbpf *g, gwbpf_flow_fn fn, void *arg);
/* A flow's last packet (gwbpf_flow.last_jiffies) in CLOCK_MONOTONIC ns,
 * to within a jiffy. */
int gwbpf_flow_last_ns(struct gwbpf *g, const struct gwbpf_flow *f, uint64_t *ret);

#endif
