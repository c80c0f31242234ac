/* SPDX-License-Identifier: MIT */
/*
 * gwd's nftables link: one netlink socket to the kernel's nf_tables, one
 * table (family inet) that gwd owns, and batches that land whole or not at
 * all.  Built on libnftnl (objects, expressions) and libmnl (the socket).
 *
 * Every change is a batch: gwd_nft_batch_new, any number of messages
 * (tables, chains, sets, elements, rules, counters), gwd_nft_commit.  The
 * kernel runs a batch as one transaction: either every message applies or
 * none does, and the error names the first message it refused (each
 * message carries a short label for that).  Nothing here ever names a
 * table other than the one given to gwd_nft_open.
 *
 * Rules are built with the gwd_nft_e_* helpers, one per nf_tables
 * expression, on a rule from gwd_nft_rule_new; the batch
 * takes the rule over.  Register numbers are NFT_REG_* / NFT_REG32_*;
 * data is in the byte order the kernel compares it in (network order for
 * packet fields, host order for marks and meta keys).
 *
 * No logging and no exit: functions return -errno, with a reason in err
 * where they take one.
 */
#ifndef GW_CONTROL_NFT_H
#define GW_CONTROL_NFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GWD_NFT_NAME_MAX 64 /* table, chain, set and object names, with the NUL */

struct gwd_nft;
struct gwd_nft_batch;
struct gwd_nft_rule;

/* A socket for `table` (family inet).  -errno (-EPERM without
 * CAP_NET_ADMIN, -EINVAL for a bad name). */
int gwd_nft_open(const char *table, struct gwd_nft **ret);
void gwd_nft_close(struct gwd_nft *n);
const char *gwd_nft_table(const struct gwd_nft *n);

/* --- batches ----------------------------------------------------------- */

int gwd_nft_batch_new(struct gwd_nft *n, struct gwd_nft_batch **ret);
void gwd_nft_batch_free(struct gwd_nft_batch *b);
/* Messages so far (begin and end not counted). */
size_t gwd_nft_batch_count(const struct gwd_nft_batch *b);
/* Sends the batch and waits for the kernel's answer: 0 when it applied,
 * else -errno with "LABEL: reason" in err.  The batch can be freed after. */
int gwd_nft_commit(struct gwd_nft_batch *b, char *err, size_t errlen);

/* The table, created when missing (an existing one is left as it is). */
void gwd_nft_add_table(struct gwd_nft_batch *b);
void gwd_nft_del_table(struct gwd_nft_batch *b);

/* A base chain's hook: NF_INET_* hook number, priority, and the verdict
 * for what no rule decides (NF_ACCEPT or NF_DROP). */
struct gwd_nft_hook {
	const char *type; /* "filter" or "nat" */
	uint32_t hooknum;
	int32_t prio;
	uint32_t policy;
};
/* A chain (hook NULL: a regular chain, for jumps).  An existing chain is
 * left as it is (its rules too): flush it first to replace them. */
void gwd_nft_add_chain(struct gwd_nft_batch *b, const char *name, const struct gwd_nft_hook *hook);
void gwd_nft_flush_chain(struct gwd_nft_batch *b, const char *name);
void gwd_nft_del_chain(struct gwd_nft_batch *b, const char *name);

/*
 * A set or map being described: gwd_nft_set_new, options, elements, then
 * gwd_nft_add_set (creates it with its elements) or gwd_nft_add_elems /
 * gwd_nft_del_elems (only the elements, to an existing set of that name).
 * The batch takes s over in every case (also after an error, which it
 * keeps and reports at commit).  Elements go in messages of at most a few
 * hundred, all in the same batch.
 */
struct gwd_nft_set;
struct gwd_nft_set *gwd_nft_set_new(const char *name, uint32_t flags, uint32_t key_type,
				    uint32_t key_len);
void gwd_nft_set_free(struct gwd_nft_set *s);
/* A map: data_type NFT_DATA_VERDICT for verdicts, else an nft type id. */
void gwd_nft_set_map(struct gwd_nft_set *s, uint32_t data_type, uint32_t data_len);
/* An object map (flags gets NFT_SET_OBJECT). */
void gwd_nft_set_objmap(struct gwd_nft_set *s, uint32_t obj_type);
void gwd_nft_set_timeout(struct gwd_nft_set *s, uint64_t ms);
/* A concatenation of fields (lengths in bytes, each padded to 4 in the
 * key); matters for interval sets only (flags gets NFT_SET_CONCAT). */
void gwd_nft_set_concat(struct gwd_nft_set *s, const uint8_t *field_len, unsigned n);
/* Every element counts the packets that found it (`counter` in nft). */
void gwd_nft_set_counters(struct gwd_nft_set *s);
void gwd_nft_set_size(struct gwd_nft_set *s, uint32_t n);
size_t gwd_nft_set_count(const struct gwd_nft_set *s);

/* key is key_len bytes as the set holds them; flags NFT_SET_ELEM_*;
 * timeout_ms 0: the set's own (or none). */
int gwd_nft_elem(struct gwd_nft_set *s, const void *key, uint32_t flags, uint64_t timeout_ms);
/* An element of an interval concatenation: [key, key_end]. */
int gwd_nft_elem_range(struct gwd_nft_set *s, const void *key, const void *key_end);
/* A map element whose data is a value, with a timeout (0: none). */
int gwd_nft_elem_data_timeout(struct gwd_nft_set *s, const void *key, const void *data,
			      uint64_t timeout_ms);
/* A map element whose data is a verdict (NFT_JUMP or NFT_GOTO to chain). */
int gwd_nft_elem_verdict(struct gwd_nft_set *s, const void *key, int verdict, const char *chain);
/* A map element whose data is a value of the map's data_len. */
int gwd_nft_elem_data(struct gwd_nft_set *s, const void *key, const void *data);
/* An object map element naming an object. */
int gwd_nft_elem_obj(struct gwd_nft_set *s, const void *key, const char *obj);

void gwd_nft_add_set(struct gwd_nft_batch *b, struct gwd_nft_set *s);
void gwd_nft_add_elems(struct gwd_nft_batch *b, struct gwd_nft_set *s);
void gwd_nft_del_elems(struct gwd_nft_batch *b, struct gwd_nft_set *s);
void gwd_nft_flush_set(struct gwd_nft_batch *b, const char *name);
void gwd_nft_del_set(struct gwd_nft_batch *b, const char *name);

/* A named counter; an existing one keeps its count. */
void gwd_nft_add_counter(struct gwd_nft_batch *b, const char *name);
void gwd_nft_del_counter(struct gwd_nft_batch *b, const char *name);

/* A rule for `chain`, to be filled with gwd_nft_e_* and handed to
 * gwd_nft_add_rule (appended), which takes it over.  comment may be NULL.
 * NULL only without memory; the e_ helpers and add_rule accept NULL (the
 * batch then fails at commit with -ENOMEM). */
struct gwd_nft_rule *gwd_nft_rule_new(const struct gwd_nft_batch *b, const char *chain,
				      const char *comment);
void gwd_nft_add_rule(struct gwd_nft_batch *b, struct gwd_nft_rule *r);

/* --- expressions --------------------------------------------------------- */

void gwd_nft_e_meta(struct gwd_nft_rule *r, uint32_t key, uint32_t dreg);
void gwd_nft_e_payload(struct gwd_nft_rule *r, uint32_t base, uint32_t off, uint32_t len,
		       uint32_t dreg);
void gwd_nft_e_cmp(struct gwd_nft_rule *r, uint32_t sreg, uint32_t op, const void *data,
		   uint32_t len);
void gwd_nft_e_cmp_u32(struct gwd_nft_rule *r, uint32_t sreg, uint32_t op, uint32_t host);
void gwd_nft_e_cmp_u8(struct gwd_nft_rule *r, uint32_t sreg, uint32_t op, uint8_t v);
/* [lo, hi] inclusive, data in the register's byte order. */
void gwd_nft_e_range(struct gwd_nft_rule *r, uint32_t sreg, const void *lo, const void *hi,
		     uint32_t len);
/* dreg: GWD_NFT_SET_ONLY for a plain set lookup, NFT_REG_VERDICT for a
 * verdict map, else the register a map's value goes to; inv: match when
 * absent (set lookups only). */
#define GWD_NFT_SET_ONLY UINT32_MAX
void gwd_nft_e_lookup(struct gwd_nft_rule *r, uint32_t sreg, const char *set, uint32_t dreg,
		      bool inv);
void gwd_nft_e_imm_data(struct gwd_nft_rule *r, uint32_t dreg, const void *data, uint32_t len);
/* verdict NF_ACCEPT, NF_DROP, NFT_RETURN, NFT_JUMP (chain), NFT_GOTO (chain). */
void gwd_nft_e_verdict(struct gwd_nft_rule *r, int verdict, const char *chain);
void gwd_nft_e_bitwise(struct gwd_nft_rule *r, uint32_t sreg, uint32_t dreg, uint32_t len,
		       const void *mask, const void *xor_);
void gwd_nft_e_byteorder_hton(struct gwd_nft_rule *r, uint32_t reg, uint32_t len, uint32_t size);
/* dir: -1 for none, else IP_CT_DIR_*. */
void gwd_nft_e_ct(struct gwd_nft_rule *r, uint32_t key, int dir, uint32_t dreg);
void gwd_nft_e_ct_set(struct gwd_nft_rule *r, uint32_t key, uint32_t sreg);
void gwd_nft_e_counter(struct gwd_nft_rule *r);
/* A reference to the named counter. */
void gwd_nft_e_counter_ref(struct gwd_nft_rule *r, const char *name);
/* A counter named by the object map `map` looked up with the key in sreg. */
void gwd_nft_e_counter_map(struct gwd_nft_rule *r, uint32_t sreg, const char *map);
void gwd_nft_e_reject(struct gwd_nft_rule *r, uint32_t type, uint8_t code);
void gwd_nft_e_log(struct gwd_nft_rule *r, uint16_t group, const char *prefix);
void gwd_nft_e_fib(struct gwd_nft_rule *r, uint32_t flags, uint32_t result, uint32_t dreg);
/* update @set { key-in-sreg limit rate over `bytes_per_s` burst `burst` bytes } */
void gwd_nft_e_meter_over(struct gwd_nft_rule *r, uint32_t sreg, const char *set,
			  uint64_t bytes_per_s, uint32_t burst);
/* masquerade, source ports [lo, hi] when lo (network order in the regs). */
void gwd_nft_e_masq(struct gwd_nft_rule *r, uint16_t lo, uint16_t hi);

/* --- reading back --------------------------------------------------------- */

/* Does the table exist?  0 and *ret, or -errno. */
int gwd_nft_table_exists(struct gwd_nft *n, bool *ret);

/* Each chain's name: fn(name, has_hook, arg); a nonzero return stops. */
int gwd_nft_each_chain(struct gwd_nft *n, int (*fn)(const char *name, bool base, void *arg),
		       void *arg);
int gwd_nft_each_set(struct gwd_nft *n, int (*fn)(const char *name, void *arg), void *arg);
/* Each named counter: fn(name, packets, bytes, arg). */
int gwd_nft_each_counter(struct gwd_nft *n,
			 int (*fn)(const char *name, uint64_t pkts, uint64_t bytes, void *arg),
			 void *arg);
/* The elements of set `set` that have a counter: fn(key, key_len,
 * packets, bytes, arg). */
int gwd_nft_each_elem_counter(struct gwd_nft *n, const char *set,
			      int (*fn)(const uint8_t *key, uint32_t len, uint64_t pkts,
					uint64_t bytes, void *arg),
			      void *arg);
/* One counter, -ENOENT when there is none of that name. */
int gwd_nft_counter(struct gwd_nft *n, const char *name, uint64_t *ret_pkts, uint64_t *ret_bytes);
/* The comments of the rules of one chain, in order: fn(comment or "",
 * arg).  -ENOENT when the chain does not exist. */
int gwd_nft_each_rule_comment(struct gwd_nft *n, const char *chain,
			      int (*fn)(const char *comment, void *arg), void *arg);

#endif
