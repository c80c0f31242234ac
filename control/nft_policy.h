/* SPDX-License-Identifier: MIT */
/*
 * A compiled policy (policy/ir.h) as nftables objects: what the nft
 * engine loads into gwd's table for one generation.
 *
 * A *build* is one generation's objects, all named with the prefix
 * "p<id>_" (id counts builds, so a generation prepared twice never meets
 * itself).  The chain fwd_policy, which the guard's forward chain goes to
 * for what it lets through (nft_guard.h), jumps to the live build; a
 * commit is one batch that points it at another build.
 *
 * How a build decides (first match wins, as policy/eval.c):
 *   p<id>_main     original-direction packets from the nft ports:
 *                  invalid -> drop; a flow already decided in the current
 *                  epoch -> accept (rate-limited ones through their meter);
 *                  else by source MAC to the device's chain (vmap dev),
 *                  or to p<id>_new for a MAC no device has.
 *   p<id>_d<k>     a device chain: sets ct mark to "default", jumps to the
 *                  rule lists the device is in (every device: lany; its
 *                  own ld<d>; its owner's lp<p>; each group's lg<g>), then
 *                  ct mark vmap act.  Rule j of a list that comes after
 *                  another in some chain matches only when ct mark > j;
 *                  every rule that matches sets ct mark = j and returns:
 *                  so after all lists ct mark is the first rule that
 *                  matched, whichever list held it.  The device's own list,
 *                  when it is the chain's last, is written into the chain
 *                  (a rule that matches goes to decide at once; the
 *                  default is set after it).  (p<id>_new likewise, with
 *                  the rules for new devices written in, "default new".)
 *   act            rule index -> its action chain: allow / block / reject
 *                  (counted per rule through the counter map cnt), or the
 *                  rule's own chain a<j> when it logs (nflog) or has a
 *                  rate; allow sets ct mark to the epoch's final mark.
 *   p<id>_reply    reply-direction packets to the nft ports: decided
 *                  flows pass (through their meter when rate-limited).
 * The final ct mark of an allowed flow is GWD_NFT_EPOCH_BITS(epoch) | slot,
 * slot 0 for no rate, else the rule's meter chains rt<slot>u / rt<slot>d.
 * A new generation or schedule change takes a new epoch: a flow decided
 * before it is decided again at its next packet (DESIGN.md "Live flows
 * obey a change").  Scheduled rules also look their index up in the set
 * active, which set_active refills with the epoch in one batch.
 *
 * Destinations: LAN, internet, prefix lists as interval sets (v4 and v6,
 * shared by content); domain sets as sets with per-element timeouts
 * (dom<s>4, dom<s>6), fed by gwd's learned names.  Ports: a value, a
 * range or an interval set.  Protocols: meta l4proto (ICMP is 1 and 58).
 */
#ifndef GW_CONTROL_NFT_POLICY_H
#define GW_CONTROL_NFT_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "image.h"
#include "nft.h"

/* The chain the guard's forward chain goes to for what it lets through
 * (a regular chain: the guard's hook is the only forward hook). */
#define GWD_NFT_POLICY_CHAIN "fwd_policy"
#define GWD_NFT_LEGACY_CHAIN "policy_fwd" /* an older gwd's hook chain, removed */
#define GWD_NFT_LIVE_SET "live_epoch" /* the live epoch's mark, one element */
#define GWD_NFT_DROP_POLICY_INVALID "drop_policy_invalid" /* invalid from an nft port */
#define GWD_NFT_DROP_RATE "drop_rate"                     /* over a rule's rate */

/* The ct mark of a flow the nft engine allowed. */
#define GWD_NFT_EPOCH_MASK  0xffffc000u
#define GWD_NFT_SLOT_MASK   0x00003fffu
#define GWD_NFT_MAX_RATED   0x3fffu  /* rules with a rate, per generation */
#define GWD_NFT_EPOCH_LIMIT 0x1ffffu /* epochs run 1 .. GWD_NFT_EPOCH_LIMIT - 1 */
#define GWD_NFT_EPOCH_BITS(e) (0x80000000u | ((uint32_t)(e) & 0x1ffffu) << 14)

struct gwd_nft_policy_stats {
	uint32_t rules, chains, sets, counters, elements;
};

/* Which domain sets of ir some rule uses (bit s: dom<s>4/6 exist). */
uint64_t gwd_nft_policy_domsets(const struct pol_ir *ir);

/*
 * Every object of build `id` for generation `gen` of ir into b, with the
 * schedule state of mask (the active-rule mask, pol_active_rules) and
 * epoch.  Refuses (-E2BIG) more rated rules than GWD_NFT_MAX_RATED.
 */
int gwd_nft_policy_build(struct gwd_nft_batch *b, const struct pol_ir *ir, uint32_t gen,
			 uint32_t id, uint32_t epoch, const uint64_t *mask, uint16_t nflog_group,
			 struct gwd_nft_policy_stats *st, char *err, size_t errlen);

/* A new schedule state of build id: its active set, epoch sets and final
 * marks, replaced in b. */
void gwd_nft_policy_active(struct gwd_nft_batch *b, const struct pol_ir *ir, uint32_t id,
			   uint32_t epoch, const uint64_t *mask);

/* The policy chain and the policy's drop counters (idempotent), and the
 * chain pointed at build id (id 0: at nothing) in epoch `epoch`.  comment
 * is the record a restarted gwd reads back (gwd_nft_policy_record). */
void gwd_nft_policy_hook(struct gwd_nft_batch *b, uint32_t id, uint32_t epoch,
			 const char *comment);

/* The live build's record: the policy chain's first comment (an older
 * gwd's: its hook chain's), "" when none. */
int gwd_nft_policy_record(struct gwd_nft *n, char *out, size_t outlen);

/* Is an older gwd's hook chain (GWD_NFT_LEGACY_CHAIN) in the table?  The
 * next gwd_nft_policy_hook removes it. */
int gwd_nft_policy_legacy(struct gwd_nft *n, bool *ret);

/* The 16-byte key both families' destinations are matched on. */
void gwd_nft_policy_key(uint8_t family, const uint8_t *addr, uint8_t key[16]);

/* Build id's set of learned addresses: elements "s . key" (domain set s,
 * big-endian; the key of gwd_nft_policy_key), each with a timeout.  An
 * empty description to put elements in (gwd_nft_elem, then
 * gwd_nft_add_elems or gwd_nft_del_elems). */
struct gwd_nft_set *gwd_nft_policy_domset(uint32_t id);

/* Every build id found in the table (ids[0..*ret_n), at most max). */
int gwd_nft_policy_builds(struct gwd_nft *n, uint32_t *ids, size_t max, size_t *ret_n);

/* Delete every object of build id into b (the table is read to find
 * them).  Never the live one: the caller knows which that is. */
int gwd_nft_policy_drop(struct gwd_nft *n, struct gwd_nft_batch *b, uint32_t id);

/* Per-rule counters of build id: the flows each rule decided (their first
 * packets), fn(rule, packets, bytes) for each rule (POL_RULE_DEFAULT,
 * POL_RULE_DEFAULT_NEW for the defaults). */
int gwd_nft_policy_counters(struct gwd_nft *n, uint32_t id,
			    int (*fn)(uint32_t rule, uint64_t pkts, uint64_t bytes, void *arg),
			    void *arg);

#endif
