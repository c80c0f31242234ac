/* SPDX-License-Identifier: MIT */
/*
 * The bit-vector tables: the compile stage of a policy generation (struct
 * pol_ir) that both fast engines classify with.  The DPDK fast path walks
 * them in memory (dataplane/classify.c); the eBPF loader copies them into
 * its maps and classify.bpf.c walks the maps (ebpf/gw_bpf_abi.h says how
 * they are laid out there).  pol_tables_classify() below is the plain walk
 * that both are tested to equal, and the tables are tested against the
 * reference evaluator (eval.h).  Neither engine includes the other's
 * headers: this one, and policy/pktlimits.h, are what they share.
 *
 * The technique
 * -------------
 * A rule set is a bitmap of `words` u64, bit r of word r / 64 for rule r.
 * Each field of a flow's first packet maps to one bitmap: the rules that
 * field does not rule out.
 *
 *   subject   source MAC -> macs (sorted) -> bitmap index; a MAC not there
 *             is a never-seen device and uses header.subj_new
 *   protocol  TCP, UDP, ICMP/ICMPv6, other -> the fixed bitmaps
 *             POL_TABLES_BM_TCP.. (for ICMP and other, the bitmap also
 *             rules out every rule that lists ports, which only TCP/UDP can
 *             match)
 *   port      TCP/UDP destination port -> ports[port] -> bitmap index
 *             (ranges are cut into elementary intervals at every boundary)
 *   address   destination -> the longest matching prefix among all the
 *             policy's prefixes (the LAN's included) -> bitmap index, so all
 *             addresses of a class match the same rules; no prefix matches:
 *             header.addr_miss
 *   domains   the destination's domain-set bits (the engine's domain table,
 *             fed by DNS); for each set s, bitmap POL_TABLES_BM_DOMAIN0 + s
 *             (the rules naming s) is OR'ed into the address bitmap, since a
 *             rule's destinations are alternatives
 *   schedule  the rules whose schedule is active now (pol_active_rules())
 *
 * The first set bit of subject & proto & port & (address | domains) &
 * active is the deciding rule: rules[] holds its action, flags and rate.
 * No bit set: header.default_action (known device) or default_new.
 * Identical bitmaps are stored once, so an index names an equivalence
 * class, not a device, interval or prefix.
 *
 * The records below have fixed-width fields and explicit padding: the eBPF
 * maps hold some of them as they are.  This header is also compiled by
 * clang -target bpf, where vmlinux.h gives the integer types; the part
 * that needs the C library and the IR is userspace only.  Bump
 * POL_TABLES_VERSION on any change of a record.
 */
#ifndef GW_POLICY_TABLES_H
#define GW_POLICY_TABLES_H

#ifndef __bpf__
#include <stdint.h>
#endif

#define POL_TABLES_VERSION 1

/* Fixed bitmap indices; the compiler allocates the rest. */
#define POL_TABLES_BM_TCP        0
#define POL_TABLES_BM_UDP        1
#define POL_TABLES_BM_ICMP       2 /* ICMP and ICMPv6 */
#define POL_TABLES_BM_OTHER      3
#define POL_TABLES_BM_DOMAIN0    4 /* + domain set s, s < 64 */
#define POL_TABLES_BM_FIRST_FREE (POL_TABLES_BM_DOMAIN0 + 64)
/* A bitmap index is a u16. */
#define POL_TABLES_MAX_BITMAPS   65535
/* ports[] has one entry per port, host order. */
#define POL_TABLES_PORTS         65536

/* Actions: enum pol_action's values (ir.h). */
#define POL_TABLES_ALLOW  0
#define POL_TABLES_BLOCK  1
#define POL_TABLES_REJECT 2

/* The deciding rule when none matched: POL_RULE_DEFAULT* (eval.h). */
#define POL_TABLES_RULE_DEFAULT     0xfffffffeu
#define POL_TABLES_RULE_DEFAULT_NEW 0xfffffffdu

/* A rule's rate as both engines meter it: a token bucket of
 * POL_TABLES_RATE_BURST_MS of the rate, and at least
 * POL_TABLES_RATE_BURST_MIN bytes. */
#define POL_TABLES_RATE_BURST_MS  100
#define POL_TABLES_RATE_BURST_MIN 3000

/* The tables' header. */
struct pol_tables_header {
	uint32_t nrules;
	uint16_t nbitmaps;       /* bitmaps in the table */
	uint16_t subj_new;       /* bitmap of never-seen devices */
	uint16_t addr_miss;      /* bitmap of addresses outside every prefix */
	uint8_t default_action;  /* POL_TABLES_ALLOW.. for known devices */
	uint8_t default_new;     /* for never-seen devices */
	uint32_t flags;          /* POL_TABLES_F_* */
};
/* Some rule names a domain set: without, the domain table need not be
 * looked at (the domain bitmaps are all empty). */
#define POL_TABLES_F_DOMAINS 0x1
/* Some rule has a rate. */
#define POL_TABLES_F_RATES   0x2
_Static_assert(sizeof(struct pol_tables_header) == 16, "pol_tables_header layout");

/* rules[r]. */
#define POL_TABLES_RULE_LOG  0x1 /* POL_RULE_LOG */
#define POL_TABLES_RULE_RATE 0x2 /* POL_RULE_RATE: rate_bps is a limit */
struct pol_tables_rule {
	uint8_t action;
	uint8_t flags;
	uint8_t pad[6];
	uint64_t rate_bps;
};
_Static_assert(sizeof(struct pol_tables_rule) == 16, "pol_tables_rule layout");

/* macs[]: a declared device's MAC, its device index and subject bitmap. */
struct pol_tables_mac {
	uint8_t mac[6];
	uint16_t subject; /* bitmap index */
	uint32_t device;  /* device index in the policy */
};
_Static_assert(sizeof(struct pol_tables_mac) == 12, "pol_tables_mac layout");

/* prefixes[]: every prefix the policy names, with the class of the
 * addresses whose longest match it is. */
struct pol_tables_prefix {
	uint8_t family; /* 4 or 6 */
	uint8_t plen;
	uint16_t bitmap; /* index */
	uint8_t addr[16]; /* IPv4 in addr[0..3], the rest zero */
};
_Static_assert(sizeof(struct pol_tables_prefix) == 20, "pol_tables_prefix layout");

#ifndef __bpf__
#include "eval.h"
#include "image.h"

struct pol_tables {
	struct pol_tables_header head;
	/* u64 per bitmap: a multiple of 8, at least (nrules + 63) / 64; the
	 * words past the rules are 0. */
	uint32_t words;
	uint64_t *bitmaps;                 /* head.nbitmaps rows of `words` */
	struct pol_tables_rule *rules;     /* head.nrules */
	struct pol_tables_mac *macs;       /* sorted by MAC, unique */
	uint32_t nmacs;
	uint16_t *ports;                   /* POL_TABLES_PORTS bitmap indices */
	struct pol_tables_prefix *prefixes; /* sorted by family, addr, plen */
	uint32_t nprefixes;
};

/* The tables of ir.  0 and *ret; -E2BIG when it has more than max_rules
 * rules, more than 64 domain sets, or needs more than max_bitmaps distinct
 * bitmaps; -EINVAL when max_bitmaps is below POL_TABLES_BM_FIRST_FREE + 3
 * or above POL_TABLES_MAX_BITMAPS; -ENOMEM. */
int pol_tables_build(const struct pol_ir *ir, uint32_t max_rules, uint32_t max_bitmaps,
		     struct pol_tables **ret);
void pol_tables_free(struct pol_tables *t);

/* Bitmap i (t->words u64). */
static inline const uint64_t *pol_tables_row(const struct pol_tables *t, uint32_t i)
{
	return t->bitmaps + (size_t)i * t->words;
}

/* The macs[] entry of a MAC (binary search), or NULL: never seen. */
const struct pol_tables_mac *pol_tables_mac(const struct pol_tables *t, const uint8_t mac[6]);

/* Longest-prefix match over prefixes[]: the bitmap index, or
 * head.addr_miss. */
uint16_t pol_tables_addr_class(const struct pol_tables *t, uint8_t family, const uint8_t addr[16]);

/* What classification looks at in a flow's first packet. */
struct pol_tables_packet {
	uint8_t src_mac[6];
	uint8_t family;       /* 4 or 6 */
	uint8_t proto;        /* IPPROTO_* */
	uint16_t dport;       /* host order; 0 when not TCP/UDP */
	uint8_t dst[16];
	uint64_t domain_sets; /* the domain table's bits for dst, 0 if none */
};

struct pol_tables_verdict {
	uint8_t action;
	uint8_t flags;     /* POL_TABLES_RULE_* */
	uint32_t rule;     /* rule index or POL_TABLES_RULE_DEFAULT* */
	uint32_t device;   /* device index, or POL_NONE: never seen */
	uint64_t rate_bps; /* 0: no limit */
};

/* The plain walk of the tables, lookup for lookup what the engines do on a
 * flow's first packet.  active: t->words words (pol_active_rules() of the
 * moment, the rest 0). */
void pol_tables_classify(const struct pol_tables *t, const uint64_t *active,
			 const struct pol_tables_packet *p, struct pol_tables_verdict *ret);
#endif

#endif
