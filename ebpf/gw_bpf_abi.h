/* SPDX-License-Identifier: MIT */
/*
 * The eBPF classifier's map ABI: the one header shared by the programs
 * (classify.bpf.c) and userspace (loader.c, gwd): its maps, flows, events
 * and counters.  The policy tables the maps hold are the policy's
 * bit-vector tables (policy/tables.h), and the parser's limits are
 * policy/pktlimits.h, which the DPDK fast path shares.
 *
 * What the program does with a packet
 * -----------------------------------
 * XDP on ingress of a kernel LAN port (native XDP, or generic XDP where
 * the driver has none).  It parses Ethernet (up to GW_PKT_MAX_VLAN
 * 802.1Q/802.1ad tags), IPv4 or IPv6 (walking up to GW_PKT_MAX_IP6_EXT
 * extension headers: policy/pktlimits.h), and TCP/UDP/ICMP/ICMPv6.  It
 * fails closed: a frame with more tags or extension headers than that, or
 * cut short, is dropped and counted (VLAN_DEEP, IP6_DEEP, TRUNCATED),
 * never passed as "not IP" nor classified without its ports.  Then it
 * looks the 5-tuple up in gw_flows (a table the program runs itself over
 * an array: see gwbpf_flow_set).  A flow whose epoch equals the current
 * one, and that its device opened on this port, keeps its cached verdict;
 * a missing flow, or one classified under another epoch or on another
 * port, is classified from the policy maps below and (re)cached.  Before
 * that, the source must be in the port's prefixes (gw_src: anti-spoofing,
 * as the fast path's lan_spoofed), else the packet is dropped (SPOOFED).
 * A packet whose reverse tuple is a known flow opened by another device
 * (another source MAC) is a reply and follows that flow's verdict; a
 * device never "replies" to a flow it opened itself, so it cannot prime a
 * flow that makes its own connection a reply.  Packets the policy does not
 * govern (not IP, to the gateway's own addresses, link-local or multicast
 * destinations) pass untouched and are counted.  A later fragment has no
 * transport header: it is its own flow, with ports 0, and rules that list
 * ports do not match it.  Rates (gw_rates) and flow events (gw_events)
 * are described at their structs below.
 *
 * TC egress on the same ports (gw_egress) sees what goes to the devices:
 * it finds the flow by the reversed tuple, counts it (packets_down,
 * bytes_down), classifies it again if its epoch is stale (the device is the
 * frame's destination MAC), drops what a flow no longer allowed receives,
 * and applies the downstream half of a rate.  What has no flow passes.
 *
 * Verdicts: allow is XDP_PASS (the kernel routes the packet), block is
 * XDP_DROP, reject is XDP_TX of an answer built in the packet's buffer: a
 * TCP RST, or an ICMP/ICMPv6 port unreachable quoting the IP headers and 8
 * bytes, from the packet's destination address (what nftables' `reject`
 * answers on the kernel path).  A RST, an ICMP error or a later fragment
 * gets no answer and is dropped.  Headers cut short are dropped.
 *
 * Classification: the bit-vector tables
 * --------------------------------------
 * A flow's first packet is classified by the technique of policy/tables.h
 * over the maps below, which hold the tables of a policy of at most
 * GWBPF_MAX_RULES rules: gw_policy the header, gw_bitmaps the bitmaps
 * (GWBPF_WORDS words each, the words past the policy's zero), gw_rules the
 * rules, gw_macs the MACs, gw_ports the ports, gw_prefixes the prefixes
 * as an LPM trie, and gw_domains the domain-set bits of addresses.  The
 * cost is a fixed number of lookups and at most GWBPF_WORDS word
 * operations, whatever the rule count: each bitmap has a one-word summary
 * of its non-zero words (gw_summaries), and only the words set in all
 * five summaries are read.
 *
 * Generations and epochs
 * ----------------------
 * Every per-policy map holds two slots (0 and 1): either in its key
 * (gw_macs, gw_prefixes, gw_domains, gw_rates) or as index slot * N + i
 * (arrays).
 * gw_epoch[0] is one u64, written with one map update, that says which
 * slot is live, which of the slot's two gw_active buffers is current, and
 * the epoch number.  Userspace (loader.c) applies a new policy by filling
 * the idle slot completely, then writing gw_epoch; a new schedule
 * timeline writes the idle active buffer, then gw_epoch (a boundary
 * within a timeline needs no write: see "Schedules" below).  Every write of gw_epoch
 * takes a new epoch number, so every cached flow is classified again on
 * its next packet.  Before it overwrites the idle slot or buffer, the loader
 * waits an RCU grace period, so that no program run that read the previous
 * gw_epoch still reads them.  One u64 store is atomic for BPF readers on
 * 64-bit machines.
 *
 * Domain sets are per slot because set numbers are per policy: userspace
 * writes an address into the slot(s) whose policy has the domain, with the
 * expiry of the DNS answer (CLOCK_MONOTONIC ns, bpf_ktime_get_ns()).
 *
 * Counters (gw_counters, gw_rule_stats) are per CPU; userspace sums the
 * CPUs.  Per-device totals are not counted per packet: each flow carries
 * its device's MAC and its own totals, and userspace adds them up (see
 * gw_device_stats), which keeps a map lookup off every packet.
 *
 * Flows keep the time of their last packet in jiffies (bpf_jiffies64(),
 * which the verifier inlines: a clock helper call would cost more than the
 * rest of an established flow's work).  gw_clock, a syscall program run by
 * userspace, reads jiffies, CLOCK_MONOTONIC and HZ at one instant,
 * so userspace can convert.  The program never
 * fails a packet for lack of a map entry: it counts the reason and takes
 * the safe path documented at each counter.
 *
 * All addresses and the flow key's ports are in network byte order; every
 * other integer is in host order.  Bump GWBPF_ABI_VERSION on any change.
 */
#ifndef GW_BPF_ABI_H
#define GW_BPF_ABI_H

#ifndef __bpf__
#include <linux/types.h>
#endif

#include "tables.h"

#define GWBPF_ABI_VERSION 11

#define GWBPF_MAX_RULES 4096
#define GWBPF_WORDS     (GWBPF_MAX_RULES / 64)
#define GWBPF_SLOTS     2

/* Bitmaps per slot in gw_bitmaps (512 bytes each: 8 MiB for both slots);
 * index i of a slot is the tables' bitmap i (POL_TABLES_BM_* fixed). */
#define GWBPF_MAX_BITMAPS 8192

#define GWBPF_MAX_MACS     65536 /* per both slots */
#define GWBPF_MAX_PREFIXES 1048576
#define GWBPF_MAX_DOMAIN_ADDRS 262144
#define GWBPF_MAX_LOCAL    256
#define GWBPF_MAX_SRC      1024 /* source prefixes of all ports */
#define GWBPF_MAX_SHAPES   16384 /* shaper classes, all ports and the ifb */
/* Flows in gw_flows: a power of two the loader is given (gwd.conf's
 * ebpf_flows), 128 bytes of kernel memory each (a set of 4 is 512). */
#define GWBPF_FLOWS_DEFAULT 262144
#define GWBPF_FLOWS_MIN     4096
#define GWBPF_FLOWS_MAX     4194304
#define GWBPF_MAX_RATES    16384
#define GWBPF_MAX_DEVICE_STATS 4096
#define GWBPF_MAX_FWD_IFS  64 /* egresses an allowed flow may be forwarded to in XDP */

/* Map names (as classify.bpf.c names them, and the pin names). */
#define GWBPF_MAP_EPOCH    "gw_epoch"
#define GWBPF_MAP_POLICY   "gw_policy"
#define GWBPF_MAP_BITMAPS  "gw_bitmaps"
#define GWBPF_MAP_SUMMARIES "gw_summaries"
#define GWBPF_MAP_ACTIVE   "gw_active"
#define GWBPF_MAP_RULES    "gw_rules"
#define GWBPF_MAP_MACS     "gw_macs"
#define GWBPF_MAP_PORTS    "gw_ports"
#define GWBPF_MAP_PREFIXES "gw_prefixes"
#define GWBPF_MAP_DOMAINS  "gw_domains"
#define GWBPF_MAP_LOCAL    "gw_local"
#define GWBPF_MAP_FLOWS    "gw_flows"
#define GWBPF_MAP_FLOW_SEED "gw_flow_seed"
#define GWBPF_MAP_COUNTERS "gw_counters"
#define GWBPF_MAP_RULE_STATS "gw_rule_stats"
#define GWBPF_MAP_RATES    "gw_rates"
#define GWBPF_MAP_EVENTS   "gw_events"
#define GWBPF_MAP_DEVICE_STATS "gw_device_stats"
#define GWBPF_MAP_RETIRED  "gw_retired"
#define GWBPF_MAP_SRC      "gw_src"
#define GWBPF_MAP_SHAPES   "gw_shapes"
#define GWBPF_MAP_TIMELINE "gw_timeline"
#define GWBPF_MAP_FWD_IFS  "gw_fwd_ifs"
#define GWBPF_MAP_FWD_CONF "gw_fwd_conf"

/* gw_epoch[0]: a u64. */
#define GWBPF_EPOCH_NUMBER  0xffffffffull /* compared with gwbpf_flow.epoch */
#define GWBPF_EPOCH_SLOT    (1ull << 32)  /* live policy slot */
#define GWBPF_EPOCH_ACTIVE  (1ull << 33)  /* live gw_active buffer of that slot */
#define GWBPF_EPOCH_VALID   (1ull << 34)  /* a policy is loaded; else all passes */

/* gw_policy[slot]: the slot's struct pol_tables_header.  Without
 * POL_TABLES_F_DOMAINS, a new flow's classification skips gw_domains. */

/* gw_bitmaps[slot * GWBPF_MAX_BITMAPS + i] and gw_active (see "Schedules"
 * below): the tables' rows, zero past their words. */
struct gwbpf_bitmap {
	__u64 w[GWBPF_WORDS];
};
_Static_assert(sizeof(struct gwbpf_bitmap) == 512, "gwbpf_bitmap layout");

/* Schedules: the timeline.  An active buffer is not one mask but a
 * timeline of up to GWBPF_TIMELINE masks, each from a time on, so the
 * programs follow the policy's schedules while gwd is down: gwd pushes
 * the schedule boundaries of the next 24 hours with the full mask from
 * each (computed by the same function as its minute-by-minute mask, in
 * the policy's time zone), and the programs take the last entry whose
 * start is not after now.  gw_timeline[slot * 2 + buf] is the buffer's
 * struct gwbpf_timeline; gw_active[(slot * 2 + buf) * GWBPF_TIMELINE + i]
 * its entry i's mask.
 *
 * The clock is jiffies (bpf_jiffies64(), which the programs read for
 * every packet already and the verifier inlines): the same rate as
 * CLOCK_MONOTONIC, in ticks of 1/HZ s.  CLOCK_BOOTTIME would go on counting
 * while the machine is suspended, but reading it is a helper call on every
 * packet, and a gateway is not suspended; after a resume gwd converts
 * again within a minute (it re-pushes when the conversion moved by more
 * than a second).  The loader converts wall-clock starts to jiffies once
 * per push (gw_clock and CLOCK_REALTIME read side by side), so a clock
 * step or a DST change is followed at gwd's next minute.
 *
 * The last entry is the fail-closed mask from the timeline's end on (the
 * restrictive one gwd uses while the clock cannot be believed: every
 * scheduled block or reject rule on, every scheduled allow rule off,
 * rules without a schedule as always): past the end of what gwd
 * computed, nothing a schedule forbids gets through, and nothing a
 * schedule allows only at times is allowed.  gwd re-pushes every hour
 * and at every apply, adopt or clock step, so the end (24 h ahead) is
 * reached only when gwd has been down for a day.
 *
 * A cached flow holds the epoch number plus the index of the timeline
 * entry it was decided under (gwbpf_flow.epoch); the loader steps epoch
 * numbers by GWBPF_TIMELINE, so a flow decided under another entry, as
 * under another epoch, is decided again on its next packet. */
#define GWBPF_TIMELINE 128
#define GWBPF_TIMELINES (GWBPF_SLOTS * 2)
struct gwbpf_timeline {
	__u64 start[GWBPF_TIMELINE]; /* bpf_jiffies64() from which entry i holds;
				      * start[0] is 0, then ascending */
	__u32 n;    /* entries, 1..GWBPF_TIMELINE (the last the closed one) */
	__u32 hint; /* the entry found last: written by the programs, a hint */
};
_Static_assert(sizeof(struct gwbpf_timeline) == 8 * GWBPF_TIMELINE + 8, "gwbpf_timeline layout");
_Static_assert((GWBPF_TIMELINE & (GWBPF_TIMELINE - 1)) == 0, "GWBPF_TIMELINE: a power of two");

/* gw_summaries: a __u64 per bitmap, bit w set when word w of the bitmap
 * is not zero; index slot * GWBPF_MAX_BITMAPS + i for gw_bitmaps[i] of the
 * slot, GWBPF_SUMMARY_ACTIVE + (slot * 2 + buf) * GWBPF_TIMELINE + i for
 * gw_active.  The AND of
 * the five bitmaps' summaries names the only words where a rule can be
 * set in all five, so the first-rule search reads those words alone
 * (policies whose rules name different devices or destinations have few).
 * Written by the loader with the bitmap it summarises. */
#define GWBPF_SUMMARY_ACTIVE (GWBPF_SLOTS * GWBPF_MAX_BITMAPS)
#define GWBPF_SUMMARIES      (GWBPF_SUMMARY_ACTIVE + GWBPF_TIMELINES * GWBPF_TIMELINE)
_Static_assert(GWBPF_WORDS == 64, "one summary bit per bitmap word");

/* gw_rules[slot * GWBPF_MAX_RULES + rule]: struct pol_tables_rule. */

/* gw_macs: hash, source MAC of a declared device -> its subject bitmap
 * (the tables' struct pol_tables_mac, split into key and value). */
struct gwbpf_mac_key {
	__u8 mac[6];
	__u8 slot;
	__u8 pad;
};
_Static_assert(sizeof(struct gwbpf_mac_key) == 8, "gwbpf_mac_key layout");

struct gwbpf_mac_val {
	__u32 device;  /* device index in the slot's policy */
	__u16 subject; /* bitmap index */
	__u16 pad;
};
_Static_assert(sizeof(struct gwbpf_mac_val) == 8, "gwbpf_mac_val layout");

/* gw_ports[slot * 65536 + port]: a __u16 bitmap index; port in host order.
 * Port 0 and ports in no range share the class of "no port listed". */
#define GWBPF_PORTS_PER_SLOT POL_TABLES_PORTS

/* gw_prefixes: LPM trie.  The matched data is slot, family, pad, then the
 * address, so prefixlen is GWBPF_LPM_HEAD + the prefix length and a lookup
 * never crosses a slot or a family.  Value: a __u32 bitmap index. */
#define GWBPF_LPM_HEAD 32
struct gwbpf_lpm_key {
	__u32 prefixlen;
	__u8 slot;
	__u8 family;  /* 4 or 6 */
	__u8 pad[2];
	__u8 addr[16]; /* IPv4 in addr[0..3], the rest zero */
};
_Static_assert(sizeof(struct gwbpf_lpm_key) == 24, "gwbpf_lpm_key layout");

/* gw_domains (hash) and gw_local (hash; slot 0 only): an address.  gw_local
 * is looked at only when a packet has no flow: write the gateway's
 * addresses before the first policy. */
struct gwbpf_addr_key {
	__u8 slot;
	__u8 family;
	__u8 pad[2];
	__u8 addr[16];
};
_Static_assert(sizeof(struct gwbpf_addr_key) == 20, "gwbpf_addr_key layout");

/* Forwarding in XDP.  gw_classify forwards a packet itself (bpf_fib_lookup,
 * MACs rewritten, TTL or hop limit decremented, bpf_redirect to a device
 * in gw_fwd_ifs) instead of passing it to the kernel's stack when all hold:
 *   - its flow is cached and allowed now, by a rule without log or rate
 *     (flags 0), from the port the flow was opened on (the source was
 *     checked against gw_src then);
 *   - UDP over IPv4 without options or fragments, or over IPv6 without
 *     extension headers, untagged, TTL or hop limit above 1;
 *   - the kernel's conntrack holds a confirmed entry of its tuple, in
 *     either direction (bpf_xdp_ct_lookup): its first packet went through
 *     every netfilter hook, the guard's included, and the guard's forward
 *     chain accepts a confirmed connection's packets at once; the entry
 *     has no NAT (its reply tuple is the inverse of its original);
 *   - the route (bpf_fib_lookup with the packet's length: the MTU is
 *     checked) is resolved, neighbour included, to another device, and
 *     that device is in gw_fwd_ifs;
 *   - one of the flow's packets already went to the stack in this second
 *     (gwbpf_flow.stack_s): else this one goes (GWBPF_CNT_XDP_REFRESH), so
 *     conntrack sees every forwarded flow at least once a second and keeps
 *     its own timeouts and states.
 * Anything else is passed, never dropped.  TCP is never forwarded here:
 * conntrack's window tracking must see every segment.
 *
 * The caches: most forwarded packets make no kfunc or route lookup.  A
 * flow's GWBPF_FLOW_CT says conntrack's confirmed entry was found in
 * stack_s's second (cleared when the next second's packet goes to the
 * stack); a per-CPU table (gw_fwd_routes, the program's own) keeps a
 * route's egress, MACs and gw_fwd_ifs flags for (ingress, source,
 * destination, TOS or flow label) within the second it was looked up in,
 * for packets no longer than the one it was looked up for.  So a
 * `conntrack -D`, a route, neighbour or gw_fwd_ifs change reaches a flow
 * forwarded here within a second; the verdict is the classifier's per
 * packet (a blocking apply cuts at once).
 *
 * The same at TC ingress (gw_classify_tc, docs/ebpf.md "Two hooks"):
 * bpf_skb_ct_lookup and _alloc, a redirect of the skb, which any device
 * of gw_fwd_ifs takes (at XDP only those flagged GWBPF_FWD_XDP).
 *
 * New flows: the first packet of a UDP flow (no flow cached) that the
 * policy allows as above is forwarded at once, its conntrack entry created
 * here (bpf_xdp_ct_alloc, bpf_ct_set_timeout with gw_fwd_conf's timeout,
 * bpf_ct_insert_entry: confirmed), when, besides the above, the guard
 * would accept it: its source is routed back through the port it came in
 * on and is not one of the gateway's own (a bpf_fib_lookup of the source:
 * the guard's `fib saddr . iif oif missing` and `fib saddr type local`
 * drops), the egress is in gw_fwd_ifs without GWBPF_FWD_NAT for IPv4 (the
 * masquerade is made by the stack's NAT hook on a flow's first packet),
 * and gw_fwd_conf's timeout is not 0.  A flow new to the classifier that
 * conntrack holds already (the classifier's table let it go) is forwarded
 * as an established one (only while new flows are made here: else a new
 * flow's first packet goes to the stack without a lookup).  An entry that cannot be made (conntrack's table
 * full, or an insert that loses a race) passes the packet
 * (GWBPF_CNT_XDP_CREATE_LOST): the stack decides.
 * The flow's other netfilter rules (another table's, an administrator's)
 * do not see such a flow's first packet; they see its packet of each
 * second after.
 *
 * gw_fwd_ifs: hash, key the egress's ifindex, value GWBPF_FWD_* flags (a
 * devmap's pin cannot be re-used by libbpf 1.1: the kernel adds
 * BPF_F_RDONLY_PROG to its flags, which a program's map definition may
 * not ask for).  gwd fills it with the devices the guard lets a kernel
 * port's flows out to that take XDP frames (xdp_features
 * NETDEV_XDP_ACT_NDO_XMIT: a redirect to a device without it drops the
 * packet), never a port with gw's TC egress program (whose per-device
 * counts and verdicts a redirect would skip); empty when gwd.conf says
 * ebpf_forward = off.
 * gw_fwd_conf[0]: struct gwbpf_fwd_conf, written by gwd. */
#define GWBPF_FWD_NAT 0x1u /* IPv4 flows out of it are masqueraded (kernel_nat) */
/* It takes XDP frames (NDO_XMIT): gw_classify forwards only to these;
 * gw_classify_tc (TC ingress) to any device of gw_fwd_ifs, since a TC
 * redirect hands the device an skb. */
#define GWBPF_FWD_XDP 0x2u
struct gwbpf_fwd_conf {
	__u32 udp_timeout_ms; /* the netns's nf_conntrack_udp_timeout; 0: create none */
	__u32 pad;
};
_Static_assert(sizeof(struct gwbpf_fwd_conf) == 8, "gwbpf_fwd_conf layout");

/* gw_src: LPM trie, the source prefixes a port accepts (anti-spoofing).
 * The matched data is the port's ifindex, family and pad, then the
 * address, so prefixlen is GWBPF_SRC_HEAD + the prefix length and a lookup
 * never crosses a port or a family.  Value: a __u32, 1.  A port without an
 * entry of a family accepts no source of it: the loader writes the
 * prefixes of the port's own addresses, and fe80::/10, when it attaches
 * (and again on every gwbpf_port_sync()). */
#define GWBPF_SRC_HEAD 64
struct gwbpf_src_key {
	__u32 prefixlen;
	__u32 ifindex;
	__u8 family;  /* 4 or 6 */
	__u8 pad[3];
	__u8 addr[16]; /* IPv4 in addr[0..3], the rest zero */
};
_Static_assert(sizeof(struct gwbpf_src_key) == 28, "gwbpf_src_key layout");

struct gwbpf_domain_val {
	__u64 sets;       /* bit s: in domain set s of the slot's policy */
	__u64 expires_ns; /* bpf_ktime_get_ns() after which the entry is ignored */
};
_Static_assert(sizeof(struct gwbpf_domain_val) == 16, "gwbpf_domain_val layout");

/* The tuple as the device sent it: gw_flows' key.  8-byte aligned, so
 * that it hashes and compares as five u64 words. */
struct __attribute__((aligned(8))) gwbpf_flow_key {
	__u8 family;
	__u8 proto;   /* IPPROTO_*; ICMPv6 stays 58 */
	__be16 sport; /* 0 for ICMP and other protocols */
	__be16 dport;
	__u16 pad;
	__u8 src[16];
	__u8 dst[16];
};
_Static_assert(sizeof(struct gwbpf_flow_key) == 40, "gwbpf_flow_key layout");

#define GWBPF_FLOW_ENDED 0x1 /* a FIN or RST was seen: the end event is sent */
/* The forward found conntrack's confirmed entry in stack_s's second: its
 * packets of that second are forwarded without another lookup ("Forwarding
 * in XDP", the caches). */
#define GWBPF_FLOW_CT 0x2
struct gwbpf_flow {
	__u32 epoch;    /* gw_epoch's number + the timeline entry when classified */
	__u32 rule;     /* deciding rule or POL_TABLES_RULE_DEFAULT* */
	__u32 device;   /* device index in that policy, or ~0u: never seen */
	__u8 action;    /* POL_TABLES_ALLOW.. */
	__u8 flags;     /* POL_TABLES_RULE_* of the deciding rule */
	__u8 state;     /* GWBPF_FLOW_* */
	__u8 stack_s;   /* low byte of the second (CLOCK_MONOTONIC_COARSE) in which
			 * one of its packets last went to the kernel's stack
			 * ("Forwarding in XDP") */
	__u8 mac[6];    /* source MAC of the packet that opened it: its device */
	__u16 stats;    /* gw_rule_stats index of (slot, rule) when classified */
	__u32 ifindex;  /* the port the device sends it from (XDP's ingress) */
	__u32 first_s;  /* CLOCK_MONOTONIC_COARSE seconds when it was opened */
	__u64 last_jiffies; /* bpf_jiffies64() at its last packet, either way */
	__u64 packets;  /* the device's, on LAN ingress (XDP), dropped too */
	__u64 bytes;
	__u64 packets_down; /* to the device (TC egress), dropped ones too */
	__u64 bytes_down;
};
_Static_assert(sizeof(struct gwbpf_flow) == 72, "gwbpf_flow layout");

/* gw_flows: the flow table, an array of flows / GWBPF_FLOW_WAYS sets that the
 * programs and userspace run as a set-associative hash table (not a BPF
 * hash map: here a kernel hash map costs about 30 ns per lookup and 300 ns
 * per LRU insert, where an array element is a direct load).
 *
 * A set (struct gwbpf_flow_set, 512 bytes) holds GWBPF_FLOW_WAYS flows:
 * a first cache line with each way's ver and tag, then the ways' keys and
 * flows.  gwbpf_flow_hash() gives a key its set and its tag; the set is the
 * same for a tuple and its reverse, so a reply is found in the set that
 * was read for the packet's own tuple.  A lookup reads the first line and
 * compares the key only where a valid way's tag matches, so a packet of a
 * new flow reads one line.  The hash is seeded with gw_flow_seed[0], a
 * random u64 the loader writes when it creates the maps, so that no one
 * can aim flows at another device's set.  An insert takes an empty way of
 * the set, else evicts the way whose flow has the oldest last_jiffies
 * (counted: GWBPF_CNT_FLOW_EVICT; its totals go with it, as they would
 * from an LRU: gwd expires idle flows well before the table fills).
 *
 * ver orders the writers of a way (XDP and TC on every CPU, and userspace
 * through the mmap'ed array: BPF_F_MMAPABLE):
 *   bit 0 (BUSY)   one writer owns the way: taken by compare-and-swap,
 *                  so no two writers fill one way at once
 *   bit 1 (VALID)  tag, key and flow are a flow
 *   bits 2..63     a count, bumped when the way is filled or emptied, so a
 *                  reader that reads ver before and after it reads the way
 *                  knows that the way held one flow all along
 * An insert takes BUSY, writes tag, key and flow, and releases with one
 * compare-and-swap to (count + 1) << 2 | VALID; a removal (userspace) takes
 * BUSY, reads the flow's totals and stores (count + 1) << 2.  A new epoch's
 * verdict is written in place under BUSY, released with ver unchanged (the
 * same flow).  Counters and the last-seen time of a valid flow are updated
 * in place without BUSY: a packet counted in the instant its way changes
 * hands may count to the next flow.  packets and bytes count what the
 * flow's device sends, on one CPU (the one that takes the flow's packets
 * from its port: a NIC's receive hashing sends one flow to one queue), so
 * with plain adds; a reply that arrives on XDP ingress (a flow between two
 * devices of kernel ports) only marks the flow seen, and is counted on its
 * way down, by TC egress on the first device's port, with every other
 * flow's downstream (packets_down, bytes_down: atomic adds, as a flow's
 * downstream can leave from any CPU).  A device that sends one flow through
 * two ports at once (a bond spreading by packet) could lose a count to
 * the race of the plain adds; no count is ever made up.  A program run that finds
 * a way changed between its two reads of ver decides the packet afresh
 * without caching it (GWBPF_CNT_FLOW_UNCACHED).  Two CPUs that see the
 * same new flow at once may each insert it; the second copy is never found
 * first, and goes when it ages out.  The programs' reads are plain loads
 * (BPF has no load-acquire with this clang): exact on x86-64, whose loads
 * are not reordered with each other; on a weakly ordered CPU (arm64) a
 * read racing an insert into the same way is not fenced, a window of a
 * few instructions in which one packet could see the way's previous flow. */
#define GWBPF_FLOW_WAYS 4
/* log2 of the sets of a table of `flows` (a power of two): the set index's
 * bits, which the loader hands the programs as a load-time constant. */
static inline __u32 gwbpf_flow_set_bits(__u32 flows)
{
	__u32 b = 0;
	while (b < 31 && (1u << (b + 1)) * GWBPF_FLOW_WAYS <= flows)
		b++;
	return b;
}
#define GWBPF_FLOW_BUSY  0x1ull
#define GWBPF_FLOW_VALID 0x2ull
struct gwbpf_flow_entry {
	struct gwbpf_flow_key key;
	struct gwbpf_flow flow;
};
_Static_assert(sizeof(struct gwbpf_flow_entry) == 112, "gwbpf_flow_entry layout");

struct gwbpf_flow_set {
	__u64 ver[GWBPF_FLOW_WAYS];
	__u64 tag[GWBPF_FLOW_WAYS];
	struct gwbpf_flow_entry way[GWBPF_FLOW_WAYS];
};
_Static_assert(sizeof(struct gwbpf_flow_set) == 512, "gwbpf_flow_set layout");
_Static_assert((GWBPF_FLOWS_DEFAULT & (GWBPF_FLOWS_DEFAULT - 1)) == 0 &&
	       GWBPF_FLOWS_MIN <= GWBPF_FLOWS_DEFAULT && GWBPF_FLOWS_DEFAULT <= GWBPF_FLOWS_MAX,
	       "flows: a power of two within the bounds");

#define GWBPF_HASH_K 0x9e3779b97f4a7c15ull

/* Key k's set, its tag (*ret_tag) and the tag of its reverse tuple
 * (*ret_rtag).  Each end (address, port) is hashed on its own by
 * multiply-shift with odd multipliers made from the secret seed (the two
 * 8-byte halves of an address multiply side by side, so a packet waits for
 * one multiply per end, not a chain of them); the set is the high bits of
 * the product of the two ends' hashes (the same for a tuple and its
 * reverse, and not something a sender can aim, as a sum of the two would
 * be by trading source port for destination port), the tags mix the two
 * ends in order.  Like any multiply-shift hash it takes the product's top
 * bits, the ones every input bit reaches. */
static inline void gwbpf_flow_mults(__u64 seed, __u64 *m1, __u64 *m2)
{
	*m1 = seed | 1;
	*m2 = (seed * GWBPF_HASH_K) | 1;
}

/* gwbpf_flow_hash() with the seed's multipliers (gwbpf_flow_mults())
 * given: the programs take them as load-time constants. */
static inline __u32 gwbpf_flow_hash_m(const struct gwbpf_flow_key *k, __u64 m1, __u64 m2,
				      __u32 set_bits, __u64 *ret_tag, __u64 *ret_rtag)
{
	const __u64 base = ((__u64)k->family << 8 | k->proto) << 48;
	__u64 s0, s1, d0, d1;
	__builtin_memcpy(&s0, k->src, 8);
	__builtin_memcpy(&s1, k->src + 8, 8);
	__builtin_memcpy(&d0, k->dst, 8);
	__builtin_memcpy(&d1, k->dst + 8, 8);
	__u64 s = (s0 ^ base ^ (__u64)k->sport << 32) * m1 + s1 * m2;
	__u64 d = (d0 ^ base ^ (__u64)k->dport << 32) * m1 + d1 * m2;
	/* Without this fold a few seeds in a hundred crowd runs of
	 * consecutive ports into a few sets (28 flows in one, for 6 000). */
	s ^= s >> 29;
	d ^= d >> 29;
	*ret_tag = s * GWBPF_HASH_K ^ d;
	*ret_rtag = d * GWBPF_HASH_K ^ s;
	return (__u32)(((s | 1) * (d | 1)) >> (64 - (set_bits & 31)));
}

static inline __u32 gwbpf_flow_hash(const struct gwbpf_flow_key *k, __u64 seed, __u32 set_bits,
				    __u64 *ret_tag, __u64 *ret_rtag)
{
	__u64 m1, m2;
	gwbpf_flow_mults(seed, &m1, &m2);
	return gwbpf_flow_hash_m(k, m1, m2, set_bits, ret_tag, ret_rtag);
}

/* gw_clock's context: what it writes, at one instant. */
struct gwbpf_clock {
	__u64 jiffies; /* bpf_jiffies64() */
	__u64 mono_ns; /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 hz;      /* CONFIG_HZ, or 0 where the kernel's config is unknown */
	__u32 pad;
};
_Static_assert(sizeof(struct gwbpf_clock) == 24, "gwbpf_clock layout");

/* gw_events: ring buffer of struct gwbpf_event, to gwd's flow collector.
 * NEW when a flow is first decided, DECIDED when a new epoch decides it
 * again, END at the first FIN or RST of a TCP flow (other flows end when
 * userspace finds them idle in gw_flows).  A full ring loses the event and
 * counts GWBPF_CNT_EVENT_LOST; the packet is decided all the same.
 *
 * Wakeups: a program wakes the reader (BPF_RB_FORCE_WAKEUP) when the last
 * wakeup is GWBPF_EVENTS_WAKE_NS old (by the coarse clock), or when the
 * ring holds GWBPF_EVENTS_WAKE_BYTES or more; every other event goes in
 * without one (BPF_RB_NO_WAKEUP).  So the first event after a quiet spell
 * wakes the reader at once, and a stream of new flows wakes it about every
 * GWBPF_EVENTS_WAKE_NS instead of once an event (an irq_work in the
 * softirq and a context switch of the reader each).  The reader, after a
 * read that found events, reads again GWBPF_EVENTS_WAKE_NS later, which
 * picks up the last events of a burst: none waits longer than about twice
 * that.  A SHAPE event always wakes the reader (rare; the rate is policed
 * until it is read). */
/* 1 MiB: 8 700 events, 45 ms of the paths bench's 190 000 new flows a
 * second (256 KiB lost 1 % of them when gwd waited for a CPU).  A ring
 * pinned by an older gwd keeps its size until the pins go. */
#define GWBPF_EVENTS_BYTES (1024 * 1024)
#define GWBPF_EVENTS_WAKE_NS (10 * 1000 * 1000ull)
#define GWBPF_EVENTS_WAKE_BYTES (GWBPF_EVENTS_BYTES / 16)
#define GWBPF_EV_NEW     1
#define GWBPF_EV_DECIDED 2
#define GWBPF_EV_END     3
#define GWBPF_EV_SHAPE   4 /* a rate's shaper class is wanted: see gw_shapes */
struct gwbpf_event {
	__u8 kind;      /* GWBPF_EV_* */
	__u8 action;
	__u8 flags;     /* POL_TABLES_RULE_*: LOG asks gwd to log the decision */
	__u8 pad;
	__u32 rule;
	__u32 device;
	__u32 epoch;
	__u8 mac[6];    /* source MAC of the packet that raised the event */
	__u8 pad2[2];
	__u64 time_ns;  /* CLOCK_MONOTONIC_COARSE */
	__u64 packets;  /* the flow's totals so far (gwbpf_flow) */
	__u64 bytes;
	__u64 packets_down;
	__u64 bytes_down;
	struct gwbpf_flow_key key; /* as the device that opened it sent it */
	/* GWBPF_EV_SHAPE: the class's key (struct gwbpf_shape_key) is rule,
	 * device, mac above and these; the rest is the flow's. */
	__u32 ifindex;  /* the port (GWBPF_DIR_DOWN), 0 (GWBPF_DIR_UP) */
	__u8 dir;
	__u8 slot;
	__u8 pad3[2];
};
_Static_assert(sizeof(struct gwbpf_event) == 112, "gwbpf_event layout");

/* gw_counters: a per-CPU array of one struct gwbpf_counters, a __u64 per
 * reason (one map lookup gives a program all of them).  Every packet
 * gw_classify sees ends in exactly one outcome: PASS, DROP, REJECT,
 * REJECT_DROP, NOT_IP, TRUNCATED, VLAN_DEEP, IP6_DEEP, LOCAL, NO_POLICY,
 * SPOOFED, MAP_MISS or RATE_DROP.  Every packet that reaches the flow
 * table (all but TRUNCATED, VLAN_DEEP, IP6_DEEP, NOT_IP and NO_POLICY) is
 * also exactly one of FLOW_HIT, LOCAL, SPOOFED, FLOW_REPLY, FLOW_NEW,
 * FLOW_RECLASS, FLOW_RACED or MAP_MISS.  Every packet a rule or a default
 * decides is counted once in gw_rule_stats (all of them but LOCAL,
 * SPOOFED, FLOW_REPLY and MAP_MISS, and the five before the flow table).
 * So the program counts neither PACKETS, PASS nor FLOW_HIT, and an
 * established flow's allowed packet touches no reason counter at all;
 * gwbpf_counters() fills them in (their slots in the map stay 0):
 *   PACKETS  = the rule counters' packets, both slots (gw_rule_stats)
 *              + those of generations since replaced (gw_retired)
 *              + TRUNCATED + VLAN_DEEP + IP6_DEEP + NOT_IP + NO_POLICY
 *              + LOCAL + SPOOFED + FLOW_REPLY + MAP_MISS
 *   PASS     = PACKETS - every other outcome
 *   FLOW_HIT = PACKETS - TRUNCATED - VLAN_DEEP - IP6_DEEP - NOT_IP
 *              - NO_POLICY - LOCAL - SPOOFED - FLOW_REPLY - FLOW_NEW
 *              - FLOW_RECLASS - FLOW_RACED - MAP_MISS */
enum gwbpf_counter {
	GWBPF_CNT_PACKETS,      /* every packet seen (derived) */
	GWBPF_CNT_PASS,         /* verdict allow (derived) */
	GWBPF_CNT_DROP,         /* verdict block */
	GWBPF_CNT_REJECT,       /* verdict reject: answered (XDP_TX of a RST or ICMP) */
	GWBPF_CNT_REJECT_DROP,  /* verdict reject, but no answer is due or fits: dropped */
	GWBPF_CNT_NOT_IP,       /* ARP and the like: passed */
	GWBPF_CNT_TRUNCATED,    /* headers cut short: dropped */
	GWBPF_CNT_LOCAL,        /* to the gateway, link-local or multicast: passed */
	GWBPF_CNT_NO_POLICY,    /* no policy loaded yet: passed */
	GWBPF_CNT_FLOW_HIT,     /* cached verdict used (derived) */
	GWBPF_CNT_FLOW_REPLY,   /* reverse tuple of a known flow */
	GWBPF_CNT_FLOW_NEW,     /* classified: no flow */
	GWBPF_CNT_FLOW_RECLASS, /* classified again: epoch or port changed */
	GWBPF_CNT_MAP_MISS,     /* a policy map lacked an entry it should have: dropped */
	GWBPF_CNT_FRAGMENT,     /* IPv4/IPv6 non-first fragment: classified with port 0 */
	GWBPF_CNT_RATE_DROP,    /* allowed, but over its rule's rate: dropped (ingress) */
	GWBPF_CNT_EVENT_LOST,   /* gw_events was full */
	GWBPF_CNT_EGRESS,       /* TC egress: every packet to a device */
	GWBPF_CNT_EGRESS_NO_FLOW, /* TC egress: no flow (the gateway's own, or not IP): passed */
	GWBPF_CNT_EGRESS_DROP,  /* TC egress: its flow is blocked or rejected now: dropped */
	GWBPF_CNT_FLOW_EVICT,   /* a new flow took the entry of the least recent flow of its set */
	GWBPF_CNT_FLOW_UNCACHED,/* decided but not (re)cached: its way was being written
				 * by another CPU (gwbpf_flow_set) at that instant */
	GWBPF_CNT_EGRESS_RATE_DROP, /* TC egress: over its rule's rate: dropped */
	GWBPF_CNT_FLOW_RACED,   /* its flow's way changed hands while read: decided afresh,
				 * not cached (also counted in FLOW_UNCACHED) */
	GWBPF_CNT_EGRESS_RECLASS, /* TC egress: a flow of an older epoch decided again */
	GWBPF_CNT_VLAN_DEEP,    /* more VLAN tags than GW_PKT_MAX_VLAN: dropped */
	GWBPF_CNT_IP6_DEEP,     /* more IPv6 extension headers than GW_PKT_MAX_IP6_EXT: dropped */
	GWBPF_CNT_SPOOFED,      /* source outside the port's prefixes (gw_src): dropped */
	GWBPF_CNT_SHAPE_ASK,    /* a rate's class asked for (GWBPF_EV_SHAPE) */
	GWBPF_CNT_SHAPED,       /* a packet handed to its rate's class (either way) */
	GWBPF_CNT_XDP_FORWARD,  /* allowed, and forwarded in XDP (a redirect to gw_fwd_ifs) */
	GWBPF_CNT_XDP_REFRESH,  /* would have been forwarded in XDP: its flow's packet of
				 * this second, passed to the stack for conntrack */
	GWBPF_CNT_XDP_CREATED,  /* a new flow's conntrack entry made in XDP (and forwarded) */
	GWBPF_CNT_XDP_CREATE_LOST, /* the entry could not be made (conntrack's table full,
				    * or its insert lost a race): passed */
	GWBPF_CNT_COUNT
};

struct gwbpf_counters {
	__u64 n[GWBPF_CNT_COUNT]; /* indexed by enum gwbpf_counter */
};
_Static_assert(sizeof(struct gwbpf_counters) == 8 * GWBPF_CNT_COUNT, "gwbpf_counters layout");

/* gw_rule_stats: per-CPU array, index slot * GWBPF_RULE_STATS + rule, where
 * the two entries after the rules count the defaults (known, new). */
#define GWBPF_RULE_STATS (GWBPF_MAX_RULES + 2)
struct gwbpf_rule_stats {
	__u64 packets;
	__u64 bytes;
};
_Static_assert(sizeof(struct gwbpf_rule_stats) == 16, "gwbpf_rule_stats layout");

/* gw_retired: an array of one __u64, the packets gw_rule_stats counted in
 * generations whose slot has since been cleared for another: the loader
 * adds a slot's packets here before it clears them (then no program
 * writes that slot: the loader has waited a grace period since it stopped
 * being live).  Written by userspace alone; pinned with the rest, so
 * PACKETS and PASS (gw_counters) never go backwards, across restarts too. */

/* Rates: the shaper.  A rule's `rate R` is what each device it matches
 * gets, uploads and downloads each (docs/policy.md): one HTB class of rate
 * and ceil R per (generation slot, rule, device, direction), which all the
 * device's flows under that rule share, queueing what is over the rate
 * (a bfifo of 100 ms at R, at least 64 KiB) rather than dropping it.
 *   download  the class is on the root HTB qdisc (handle GWBPF_HTB_MAJOR:)
 *             of the port the device is on; gw_egress sets skb->priority to
 *             it (HTB takes a priority that names one of its classes)
 *   upload    XDP cannot queue: gw_classify lets the packet in, and
 *             gw_ingress (TC ingress on the port, which looks at flows only
 *             while the live policy has a rate: POL_TABLES_F_RATES) sets
 *             skb->priority to the class and redirects the packet to the
 *             ifb GWBPF_IFB, whose root HTB holds the upload classes; the
 *             ifb hands it back to the port's receive path once shaped, and
 *             the kernel routes it on
 * Traffic without a class goes through HTB's direct queue, unshaped.
 * Classes are made by userspace (the loader, for gwd) when a program asks:
 * a packet of a rated flow whose class is not in gw_shapes adds the key
 * there with classid 0 and sends a GWBPF_EV_SHAPE event (again after
 * GWBPF_SHAPE_ASK_NS without an answer); until the class is there, the
 * token bucket below (gw_rates) polices the rate instead, so the limit
 * holds meanwhile and while gwd is down.  The classes of a slot go when
 * the loader stages a new generation into it.
 *
 * gw_rates: LRU hash, one token bucket per (rule, device, direction) of a
 * rule with a rate: "each device on its own" (docs/policy.md).  A declared
 * device is its index (mac zero), whatever MAC it sends from; a new device
 * is its MAC (device ~0u).  The bucket holds POL_TABLES_RATE_BURST_MS of
 * the rate, and at least POL_TABLES_RATE_BURST_MIN bytes. */
#define GWBPF_DIR_UP   0 /* from the device: XDP ingress */
#define GWBPF_DIR_DOWN 1 /* to the device: TC egress */
struct gwbpf_rate_key {
	__u32 rule;
	__u32 device;
	__u8 mac[6];
	__u8 slot;
	__u8 dir;
};
_Static_assert(sizeof(struct gwbpf_rate_key) == 16, "gwbpf_rate_key layout");

struct gwbpf_rate {
	__u64 tokens;  /* bytes that may pass now */
	__u64 last_ns; /* bpf_ktime_get_ns() of the last refill */
};
_Static_assert(sizeof(struct gwbpf_rate) == 16, "gwbpf_rate layout");

/* gw_shapes: hash, a rate's class (see "Rates" above) by its key.  Written
 * by the programs (a request: classid 0) and by the loader (the class). */
#define GWBPF_HTB_MAJOR   0x6777 /* handle of gw's HTB qdiscs: 6777: */
#define GWBPF_IFB         "gw-ifb"
#define GWBPF_SHAPE_ASK_NS 1000000000ull
struct gwbpf_shape_key {
	__u32 rule;
	__u32 device;   /* as gwbpf_rate_key */
	__u8 mac[6];
	__u8 slot;
	__u8 dir;       /* GWBPF_DIR_* */
	__u32 ifindex;  /* the port, for GWBPF_DIR_DOWN; 0 for GWBPF_DIR_UP */
};
_Static_assert(sizeof(struct gwbpf_shape_key) == 20, "gwbpf_shape_key layout");

struct gwbpf_shape {
	__u32 classid;  /* GWBPF_HTB_MAJOR << 16 | minor; 0: asked for, not made yet */
	__u32 ifindex;  /* where an upload goes to be shaped: the ifb */
	__u64 asked_ns; /* bpf_ktime_get_ns() of the last request */
};
_Static_assert(sizeof(struct gwbpf_shape) == 16, "gwbpf_shape layout");


/* gw_device_stats: LRU hash, MAC -> the totals of that device's flows that
 * are gone from gw_flows, written by userspace only (loader.c folds a flow
 * in when it removes it).  A device's totals are this entry plus its live
 * flows (gwbpf_flow.mac): up is the flows' packets and bytes (what XDP
 * ingress saw, dropped packets included), down their packets_down and
 * bytes_down (TC egress); what another device on the LAN sends back on a
 * flow counts to the device that opened it.  Keyed by MAC, not device
 * index, so totals outlive a policy generation; gwd maps MACs to devices.
 * Pinned, they outlive gwd too.  A flow evicted from a full set of
 * gw_flows takes its counts with it: gwd expires idle flows well before
 * the table fills. */
struct gwbpf_device_key {
	__u8 mac[6];
	__u8 pad[2];
};
_Static_assert(sizeof(struct gwbpf_device_key) == 8, "gwbpf_device_key layout");

struct gwbpf_device_stats {
	__u64 packets_up;
	__u64 bytes_up;
	__u64 packets_down;
	__u64 bytes_down;
};
_Static_assert(sizeof(struct gwbpf_device_stats) == 32, "gwbpf_device_stats layout");

#endif
