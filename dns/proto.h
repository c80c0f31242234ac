/* SPDX-License-Identifier: MIT */
/*
 * The gwd <-> gw-dns protocol: what gwd (root) and the DNS service
 * (gw-dns, unprivileged) say to each other.
 *
 * The exchange
 * ------------
 * gwd starts gw-dns with three kinds of inherited descriptors: the port-53
 * sockets it opened on the LAN side (`--udp-fd N`, `--tcp-fd N`, a
 * listening TCP socket), and one end of a unix stream socketpair
 * (`--control-fd N`).  gw-dns confines itself (its own user, no
 * capabilities, no_new_privs, an empty read-only root) before it reads a
 * byte from any of them, so nothing it parses from the network, nor from
 * this socket, runs with privileges.
 *
 * Both ends may send requests; every request gets exactly one reply, and
 * each side's replies come in the order of that side's requests.  Every
 * message is a struct gwdns_hdr followed by exactly hdr.length bytes of
 * body.  Integers are little-endian and fixed-width; padding is zero when
 * sent and ignored when read; strings are NUL-terminated inside their
 * fixed field (a field with no NUL is refused).
 *
 *   request: gwdns_hdr { magic, version, type, flags = 0, length, id }
 *            body of the type
 *   reply:   gwdns_hdr { magic, version, type | GWDNS_MSG_REPLY, 0,
 *                        length, id (the request's) }
 *            gwdns_reply { status }, then the type's reply body
 *            (only when status == 0)
 *
 * gwd -> gw-dns:
 *   CONFIG   struct gwdns_config, then n_upstreams struct gwdns_prefix
 *            (port set; prefix_len is the full length), n_clients
 *            struct gwdns_prefix (the household's source prefixes: a
 *            query from anywhere else is REFUSED), n_self struct
 *            gwdns_prefix (the gateway's own LAN addresses: the zone's
 *            NS `gw.<zone>` and what _dns.resolver.arpa designates),
 *            n_rebind_allow struct gwdns_name (names, and the names under
 *            them, whose upstream answers may point at private or LAN
 *            addresses)                                   -> empty
 *            Replaces the whole configuration; the cache is emptied when
 *            the upstreams change.  gw-dns answers every query with
 *            REFUSED until its first CONFIG.
 *   ZONE     struct gwdns_zone_head, then count struct gwdns_record
 *            (0..GWDNS_ZONE_MAX)                          -> empty
 *            Replaces the household zone's records: each record is a name
 *            relative to the zone ("laptop", "android-5f2a.new") and one
 *            address; a name with several addresses comes once per
 *            address.  PTR records of the reverse zones follow from them.
 *   STATS    empty -> struct gwdns_stats_head, then count struct
 *            gwdns_counter (every counter of dns/stats.h, zeros included)
 *   CLIENTS  struct gwdns_clients_head, then count struct gwdns_client_map
 *            (0..GWDNS_CLIENTS_MAX)                       -> empty
 *            Replaces which device asks from which address: the MAC of
 *            each address the household's devices use (the identity
 *            registry's knowledge).  gw-dns finds the device in the
 *            policy by MAC; an address not listed is a new device.
 *   POLICY   the current generation's compiled image (policy/image.h), or
 *            empty for none                               -> empty
 *            Its domain lists say which answers gwd must see before they
 *            leave (LEARN below), and its rules which device gets a name
 *            at all: when the policy blocks every connection from the
 *            asking device to every address of an answer (all protocols
 *            and ports, at this moment), the device gets the block answer
 *            (config's block_mode) instead, counted and logged with the
 *            deciding rule.  An image that does not load gets
 *            -EINVAL and the previous one stays.
 *
 * gw-dns -> gwd:
 *   LEARN    struct gwdns_learn, then naddrs struct gwdns_learn_addr
 *            (1..GWDNS_LEARN_ADDRS)          -> struct gwdns_learn_reply
 *            An upstream answer for `name` (the question's name or a
 *            CNAME target in its chain) that is in some domain set of the
 *            policy (`sets`, as gw-dns matched it) gave these addresses.
 *            gwd hands them to every engine (control/learn.h) and replies
 *            when it has; gw-dns holds the client's answer until then.
 *            status 0 and failed == 0: every engine has them, the answer
 *            leaves.  Else (or no reply within GWDNS_HOLD_MS) the client
 *            gets SERVFAIL: an engine without the addresses cannot enforce
 *            the name's rules, so the answer is not released as if it could.
 *            ttl is the answer's, bounded to GWDNS_LEARN_TTL_MIN..MAX.
 *
 * Errors: a header with a wrong magic (-EBADMSG) or version
 * (-EPROTONOSUPPORT), flags set or an unknown type (-EINVAL, -EOPNOTSUPP),
 * or a length past GWDNS_MSG_MAX (-EMSGSIZE) gets an error reply and the
 * connection is closed: the reader cannot find the next message.  A framed
 * message whose body is wrong for its type gets -EINVAL and changes
 * nothing: a CONFIG or ZONE is taken whole or not at all.  When the
 * control socket closes, gw-dns exits (gwd restarts it).
 *
 * dns/proto.c checks and decodes these messages; it does no I/O, so the
 * unit tests and fuzz_dns_proto run it as it is.
 */
#ifndef GW_DNS_PROTO_H
#define GW_DNS_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define GWDNS_MSG_MAGIC   0x4e445747u /* "GWDN" as little-endian bytes */
#define GWDNS_MSG_VERSION 1
#define GWDNS_MSG_REPLY   0x8000u
#define GWDNS_MSG_MAX     (64u << 20) /* the largest body either way (a POLICY image) */

#define GWDNS_NAME_MAX     256 /* a name field: up to 253 characters and the NUL */
#define GWDNS_UPSTREAM_MAX 8
#define GWDNS_PREFIX_MAX   64  /* client prefixes, and self addresses */
#define GWDNS_ALLOW_MAX    1024
#define GWDNS_ZONE_MAX     16384

enum gwdns_msg_type {
	GWDNS_MSG_CONFIG = 1,
	GWDNS_MSG_ZONE = 2,
	GWDNS_MSG_STATS = 3,
	GWDNS_MSG_POLICY = 4,
	GWDNS_MSG_LEARN = 5,
	GWDNS_MSG_CLIENTS = 6,
};

#define GWDNS_CLIENTS_MAX 16384

#define GWDNS_LEARN_ADDRS   64    /* addresses per LEARN (gwd's GWD_LEARN_MAX_ADDRS) */
#define GWDNS_LEARN_TTL_MIN 30    /* seconds: a shorter TTL is learned as this */
#define GWDNS_LEARN_TTL_MAX 86400 /* seconds: a longer TTL is learned as this */
#define GWDNS_HOLD_MS       1000  /* how long an answer waits for gwd's LEARN reply */

struct gwdns_hdr {
	uint32_t magic;   /* GWDNS_MSG_MAGIC */
	uint16_t version; /* GWDNS_MSG_VERSION */
	uint16_t type;    /* enum gwdns_msg_type, | GWDNS_MSG_REPLY in replies */
	uint32_t flags;   /* 0 */
	uint32_t length;  /* body bytes after this header */
	uint64_t id;      /* chosen by the requester, echoed in the reply */
};
_Static_assert(sizeof(struct gwdns_hdr) == 24, "gwdns_hdr is 24 bytes");

struct gwdns_reply {
	int32_t status; /* 0 or -errno */
	uint32_t pad;
};
_Static_assert(sizeof(struct gwdns_reply) == 8, "gwdns_reply is 8 bytes");

/* An address with a prefix length (a client range) or a port (an upstream). */
struct gwdns_prefix {
	uint8_t family;     /* 4 or 6 */
	uint8_t prefix_len; /* 0..32 or 0..128 */
	uint16_t port;      /* upstreams: the server's port (0: 53); else 0 */
	uint8_t addr[16];   /* IPv4 in the first 4 bytes */
};
_Static_assert(sizeof(struct gwdns_prefix) == 20, "gwdns_prefix is 20 bytes");

struct gwdns_name {
	char name[GWDNS_NAME_MAX];
};
_Static_assert(sizeof(struct gwdns_name) == 256, "gwdns_name is 256 bytes");

/* block_mode of struct gwdns_config: what a device gets for a name its policy blocks */
#define GWDNS_BLOCK_NXDOMAIN 0 /* NXDOMAIN, no records */
#define GWDNS_BLOCK_NULL     1 /* A 0.0.0.0, AAAA ::, other types NODATA (Pi-hole's NULL) */

/* flags of struct gwdns_config */
#define GWDNS_CONF_ENFORCE 0x1u /* the bypass canaries and the DoH names (policy/doh.txt) answer NXDOMAIN */
#define GWDNS_CONF_REBIND  0x2u /* drop upstream answers pointing at private or LAN addresses */

struct gwdns_config {
	uint32_t flags;               /* GWDNS_CONF_* */
	uint32_t cache_bytes;         /* the cache's bound (0: GWDNS_DEFAULT_CACHE) */
	uint32_t ttl_max;             /* seconds a cached answer lives at most (0: 86400) */
	uint32_t neg_ttl_max;         /* seconds a cached negative answer lives at most (0: 900) */
	uint32_t rate_qps;            /* queries a second one client may ask (0: 200) */
	uint32_t rate_burst;          /* and in a burst (0: 2 * rate_qps) */
	uint32_t max_outstanding;     /* upstream queries in flight at most (0: 512) */
	uint32_t upstream_timeout_ms; /* per try (0: 1000); SERVFAIL after 3 tries at most */
	uint32_t zone_ttl;            /* TTL of the zone's answers (0: 60) */
	uint16_t n_upstreams;         /* 0..GWDNS_UPSTREAM_MAX */
	uint16_t n_clients;           /* 0..GWDNS_PREFIX_MAX */
	uint16_t n_self;              /* 0..GWDNS_PREFIX_MAX */
	uint16_t n_rebind_allow;      /* 0..GWDNS_ALLOW_MAX */
	uint32_t block_mode;          /* GWDNS_BLOCK_* */
	char zone[GWDNS_NAME_MAX];    /* the household's zone ("" : home.arpa) */
};
_Static_assert(sizeof(struct gwdns_config) == 304, "gwdns_config is 304 bytes");

struct gwdns_clients_head {
	uint32_t count;
	uint32_t pad;
};
_Static_assert(sizeof(struct gwdns_clients_head) == 8, "gwdns_clients_head is 8 bytes");

struct gwdns_client_map {
	uint8_t family;  /* 4 or 6 */
	uint8_t pad;
	uint8_t mac[6];  /* the device's MAC (policy/ir.h's devices by MAC) */
	uint8_t addr[16];
};
_Static_assert(sizeof(struct gwdns_client_map) == 24, "gwdns_client_map is 24 bytes");

struct gwdns_zone_head {
	uint32_t count; /* struct gwdns_record entries that follow */
	uint32_t pad;
};
_Static_assert(sizeof(struct gwdns_zone_head) == 8, "gwdns_zone_head is 8 bytes");

struct gwdns_record {
	char name[128];   /* relative to the zone: one or more labels, no trailing dot */
	uint8_t family;   /* 4 or 6 */
	uint8_t pad[3];
	uint8_t addr[16];
	uint32_t pad2;
};
_Static_assert(sizeof(struct gwdns_record) == 152, "gwdns_record is 152 bytes");

struct gwdns_stats_head {
	uint32_t count;
	uint32_t pad;
};
_Static_assert(sizeof(struct gwdns_stats_head) == 8, "gwdns_stats_head is 8 bytes");

struct gwdns_counter {
	char name[48]; /* "query.udp", "drop.ratelimit", ... */
	uint64_t value;
};
_Static_assert(sizeof(struct gwdns_counter) == 56, "gwdns_counter is 56 bytes");

struct gwdns_learn {
	char name[GWDNS_NAME_MAX]; /* lower case, no trailing dot */
	uint64_t sets;             /* the policy's domain sets of name, as gw-dns matched them */
	uint32_t ttl;              /* seconds, GWDNS_LEARN_TTL_MIN..GWDNS_LEARN_TTL_MAX */
	uint8_t client_family;     /* the asking client (4 or 6), for gwd's log */
	uint8_t pad[1];
	uint16_t naddrs;           /* struct gwdns_learn_addr entries that follow */
	uint8_t client[16];
};
_Static_assert(sizeof(struct gwdns_learn) == 288, "gwdns_learn is 288 bytes");

struct gwdns_learn_addr {
	uint8_t family; /* 4 or 6 */
	uint8_t pad[3];
	uint8_t addr[16];
};
_Static_assert(sizeof(struct gwdns_learn_addr) == 20, "gwdns_learn_addr is 20 bytes");

struct gwdns_learn_reply {
	uint32_t engines; /* engines that keep domain sets */
	uint32_t failed;  /* of them, those that do not have the addresses */
};
_Static_assert(sizeof(struct gwdns_learn_reply) == 8, "gwdns_learn_reply is 8 bytes");

#endif
