/* SPDX-License-Identifier: MIT */
/*
 * The compiled policy: the one boundary between the policy compiler and every
 * enforcement engine (the DPDK fast path, the eBPF classifier, nftables) and
 * the reference evaluator.
 *
 * An image is a byte string: a header, a section table, then the sections.
 * Every section is an array of fixed-size entries; all integers are
 * little-endian on the wire; every offset is from the start of the image and
 * 8-byte aligned; nothing holds a pointer.  Names and domains live in the
 * STRINGS section (NUL-terminated) and are referred to by byte offset.
 *
 * Producer: pol_compile() (compile.c) writes the image.  Consumers:
 * pol_image_load() (image.c) copies it, converts it to host byte order, and
 * checks every count, offset and index before anyone reads a table, so an
 * image from a file or a socket is untrusted until it loads.  A loaded image
 * (struct pol_ir) is immutable: one generation of the household's policy.
 *
 * The checksum is CRC-32 (IEEE 802.3) over the whole image with the checksum
 * field taken as zero.  Bump POL_IMAGE_VERSION on any layout change.
 */
#ifndef GW_POLICY_IR_H
#define GW_POLICY_IR_H

#include <stdint.h>

#define POL_IMAGE_MAGIC   0x31495747u /* "GWI1" as little-endian bytes */
#define POL_IMAGE_VERSION 2u /* 2: struct pol_device has addr4 and flags */
#define POL_NONE          0xffffffffu /* "no index" in any u32 index field */

#define POL_MAX_GROUPS      64 /* device.groups is a bitmask */
#define POL_MAX_DOMAIN_SETS 64 /* the facts' domain_sets is a bitmask */
#define POL_MAX_NAME        63

/*
 * The most a policy may hold (docs/policy.md, "Limits").  The compiler
 * refuses a policy past one of them with an error at the item that passes
 * it; pol_image_load refuses an image past one before it copies anything.
 * So no policy or image can make gwd, gw-dataplane or a tool work or
 * allocate more than these allow.  Chosen with the engines: the fast path
 * holds POL_MAX_RULES rules (DP_CLASSIFY_MAX_RULES, DP_MASK_RULES); the
 * eBPF classifier takes at most 4096 (GWBPF_MAX_RULES) and refuses more in
 * its prepare; gwd's flow collector and the fast path's runtime bindings
 * know 4096 devices.
 */
#define POL_MAX_RULES       16384
#define POL_MAX_DEVICES     4096
#define POL_MAX_PERSONS     4096
#define POL_MAX_MACS        16384   /* over all devices */
#define POL_MAX_LISTS       1024
#define POL_MAX_DOMAINS     2097152 /* domain items, in lists and rules together */
#define POL_MAX_PREFIXES    262144  /* prefixes, the LAN's, lists' and rules' together */
#define POL_MAX_LAN_PREFIXES 64     /* in the `lan` statement */
#define POL_MAX_SCHEDULES   1024
#define POL_MAX_WINDOWS     4096    /* over all schedules */
#define POL_MAX_SCHEDULE_WINDOWS 64 /* in one schedule */
#define POL_MAX_RULE_ITEMS  262144  /* subjects, destinations or ports, over all rules */
#define POL_MAX_IMAGE       (128u << 20) /* bytes of a whole image */
#define POL_MAX_FILE        (128u << 20) /* bytes of one policy, include or list file */

enum pol_section_id {
	POL_SEC_STRINGS,     /* u8 blob; offset 0 is the empty string */
	POL_SEC_META,        /* exactly one struct pol_meta */
	POL_SEC_PERSONS,     /* struct pol_person */
	POL_SEC_GROUPS,      /* struct pol_group */
	POL_SEC_DEVICES,     /* struct pol_device */
	POL_SEC_MACS,        /* struct pol_mac, sorted by mac, unique */
	POL_SEC_PREFIX_SETS, /* struct pol_set over PREFIXES; set 0 is the LAN */
	POL_SEC_PREFIXES,    /* struct pol_prefix */
	POL_SEC_DOMAIN_SETS, /* struct pol_set over DOMAINS */
	POL_SEC_DOMAINS,     /* struct pol_domain, sorted by (name, flags) within a set */
	POL_SEC_SCHEDULES,   /* struct pol_set over WINDOWS */
	POL_SEC_WINDOWS,     /* struct pol_window */
	POL_SEC_RULES,       /* struct pol_rule, in evaluation order */
	POL_SEC_SUBJECTS,    /* struct pol_subject */
	POL_SEC_DSTS,        /* struct pol_dst */
	POL_SEC_PORTS,       /* struct pol_port_range */
	POL_SEC_COUNT
};

struct pol_section {
	uint32_t offset;  /* from the start of the image, multiple of 8 */
	uint32_t count;   /* entries (bytes for STRINGS) */
	uint32_t entsize; /* must equal the size this version expects */
	uint32_t pad;
};
_Static_assert(sizeof(struct pol_section) == 16, "pol_section layout");

struct pol_image_header {
	uint32_t magic;
	uint32_t version;
	uint32_t size;      /* whole image in bytes */
	uint32_t checksum;  /* CRC-32 of the image with this field zero */
	uint32_t nsections; /* POL_SEC_COUNT */
	uint32_t pad;
	struct pol_section sections[POL_SEC_COUNT];
};
_Static_assert(sizeof(struct pol_image_header) == 24 + 16 * POL_SEC_COUNT,
	       "pol_image_header layout");

enum pol_action {
	POL_ALLOW = 0,
	POL_BLOCK = 1,  /* drop silently */
	POL_REJECT = 2, /* drop and answer: TCP RST or ICMP unreachable */
	POL_ACTION_COUNT
};

/*
 * dns of struct pol_meta.  POL_META_DNS_ENFORCE: the policy says `dns
 * enforce`.  Its rules need no engine to know it: the compiler put them
 * first in RULES (POL_DNS_ENFORCE_RULES of them, named "dns:..."); gwd and
 * gw-dns read the flag for what only the DNS service does (the canaries
 * and the DoH names answered NXDOMAIN).
 */
#define POL_META_DNS_ENFORCE 0x1u
#define POL_DNS_ENFORCE_RULES 4u

struct pol_meta {
	uint32_t zone;           /* string: the household's DNS zone */
	uint32_t timezone;       /* string: IANA zone name for schedules */
	uint8_t default_action;  /* enum pol_action, known devices */
	uint8_t default_new;     /* enum pol_action, never-seen devices */
	uint8_t dns;             /* POL_META_DNS_* */
	uint8_t pad;
	uint32_t lan_set;        /* prefix set index of the LAN (always 0) */
};
_Static_assert(sizeof(struct pol_meta) == 16, "pol_meta layout");

struct pol_person {
	uint32_t name;
};
_Static_assert(sizeof(struct pol_person) == 4, "pol_person layout");

struct pol_group {
	uint32_t name;
};
_Static_assert(sizeof(struct pol_group) == 4, "pol_group layout");

/* flags of a device.  POL_DEVICE_ADDR4: the policy gives it a fixed IPv4
 * address (`address`), addr4; gwd's DHCP server hands it to the device's
 * MACs.  Without the flag addr4 is zero. */
#define POL_DEVICE_ADDR4 0x1u

struct pol_device {
	uint32_t name;
	uint32_t owner;   /* person index or POL_NONE */
	uint64_t groups;  /* bit g set: member of group g */
	uint8_t addr4[4]; /* network order; a LAN host address, unique (sema) */
	uint32_t flags;   /* POL_DEVICE_* */
};
_Static_assert(sizeof(struct pol_device) == 24, "pol_device layout");

struct pol_mac {
	uint8_t mac[6];
	uint8_t pad[2];
	uint32_t device; /* device index */
};
_Static_assert(sizeof(struct pol_mac) == 12, "pol_mac layout");

/* A named run of entries in another section: lists, schedules. */
struct pol_set {
	uint32_t name;  /* string; anonymous sets are named "rule:<rule name>" */
	uint32_t first; /* index of the first entry */
	uint32_t count;
	uint32_t flags; /* POL_SET_*; 0 in prefix sets and schedules */
};

/*
 * flags of a domain set.  POL_SET_DNS_PRIVATE: not a destination but the
 * policy's `dns private` names (set "dns:private", the last domain set, at
 * most one, at most POL_MAX_DNS_PRIVATE names, none wildcard): their
 * upstream answers may point at private and LAN addresses (gw-dns's
 * rebinding protection lets them through).  No rule names it, and
 * pol_domain_sets_of() never reports it, so no name is learned for it.
 */
#define POL_SET_DNS_PRIVATE 0x1u
#define POL_MAX_DNS_PRIVATE 1024
_Static_assert(sizeof(struct pol_set) == 16, "pol_set layout");

struct pol_prefix {
	uint8_t addr[16]; /* IPv4 in addr[0..3]; host bits are zero */
	uint8_t plen;     /* 0..32 or 0..128 */
	uint8_t family;   /* 4 or 6 */
	uint8_t pad[2];
};
_Static_assert(sizeof(struct pol_prefix) == 20, "pol_prefix layout");

#define POL_DOMAIN_WILDCARD 0x1u /* matches strict subdomains of name only */

struct pol_domain {
	uint32_t name;  /* string: lower-case, no trailing dot, no "*." */
	uint32_t flags; /* POL_DOMAIN_* */
};
_Static_assert(sizeof(struct pol_domain) == 8, "pol_domain layout");

/* A weekly window in the policy's time zone.  It starts on each day in
 * `days` at start_min; if end_min <= start_min it ends the next day. */
struct pol_window {
	uint8_t days;       /* bit 0 Monday .. bit 6 Sunday */
	uint8_t pad;
	uint16_t start_min; /* 0..1439 */
	uint16_t end_min;   /* 1..1440 */
	uint16_t pad2;
};
_Static_assert(sizeof(struct pol_window) == 8, "pol_window layout");

enum pol_subject_kind {
	POL_SUBJ_ANY = 0,    /* every declared device */
	POL_SUBJ_NEW = 1,    /* a device never seen before */
	POL_SUBJ_DEVICE = 2, /* subjects[] are device indices */
	POL_SUBJ_PERSON = 3, /* subjects[] are person indices (owners) */
	POL_SUBJ_GROUP = 4,  /* subjects[] are group indices */
	POL_SUBJ_COUNT
};

struct pol_subject {
	uint32_t index;
};
_Static_assert(sizeof(struct pol_subject) == 4, "pol_subject layout");

enum pol_dst_kind {
	POL_DST_ANY = 0,
	POL_DST_LAN = 1,        /* inside prefix set meta.lan_set */
	POL_DST_INTERNET = 2,   /* outside it */
	POL_DST_PREFIXES = 3,   /* inside prefix set `index` */
	POL_DST_DOMAINS = 4,    /* destination is in domain set `index` */
	POL_DST_COUNT
};

struct pol_dst {
	uint8_t kind; /* enum pol_dst_kind */
	uint8_t pad[3];
	uint32_t index;
};
_Static_assert(sizeof(struct pol_dst) == 8, "pol_dst layout");

struct pol_port_range {
	uint16_t lo, hi; /* inclusive, 1..65535 */
};
_Static_assert(sizeof(struct pol_port_range) == 4, "pol_port_range layout");

#define POL_PROTO_TCP  0x1u
#define POL_PROTO_UDP  0x2u
#define POL_PROTO_ICMP 0x4u /* ICMP and ICMPv6 */

#define POL_RULE_LOG    0x1u
#define POL_RULE_RATE   0x2u /* rate_bps is a limit */
#define POL_RULE_DURING 0x4u /* active only inside schedule `schedule` */

struct pol_rule {
	uint32_t name;
	uint8_t action;       /* enum pol_action */
	uint8_t subject_kind; /* enum pol_subject_kind */
	uint8_t protos;       /* POL_PROTO_* mask; 0 = every protocol */
	uint8_t flags;        /* POL_RULE_* */
	uint32_t subj_first, subj_count; /* into SUBJECTS (DEVICE/PERSON/GROUP) */
	uint32_t dst_first, dst_count;   /* into DSTS; 0 entries = any destination */
	uint32_t port_first, port_count; /* into PORTS; 0 entries = any port */
	uint32_t schedule;    /* schedule index, or POL_NONE */
	uint32_t pad;
	uint64_t rate_bps;    /* bits per second when POL_RULE_RATE */
};
_Static_assert(sizeof(struct pol_rule) == 48, "pol_rule layout");

#endif
