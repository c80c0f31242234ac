/* SPDX-License-Identifier: MIT */
/*
 * The guard (nft_guard.h): builds its chains, sets and counters into a
 * batch, checks that they are in place, reads its drop counters.  Names
 * only the guard's own objects of gwd's table.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter_ipv4.h>

#include "nft_guard.h"
#include "nft_match.h"
#include "nft_policy.h"

static const char *const guard_chains[] = {
	"guard_lan_src", "guard_wan_src", "guard_in", "guard_lan_in", "guard_wan_in",
	"guard_out", "guard_fwd",
};

/* An older gwd's chains: its prerouting hook and the chains it jumped to
 * (the source checks now run from the input and forward chains). */
static const char *const legacy_chains[] = { "guard_pre", "guard_lan_pre", "guard_wan_pre" };

static const char *const drop_counters[] = {
	GWD_NFT_DROP_SPOOFED, GWD_NFT_DROP_WAN_SPOOFED, GWD_NFT_DROP_LAN_CLOSED,
	GWD_NFT_DROP_WAN_CLOSED, GWD_NFT_DROP_WAN_INVALID, GWD_NFT_DROP_OUT_INVALID,
	GWD_NFT_DROP_FORWARD,
};

/* ICMPv6 types that reach the gateway from either side (RFC 4890 4.4.1:
 * errors, echo, ND and router selection, inverse ND, MLD, SEND
 * certificate paths, multicast router discovery).  Time exceeded and
 * parameter problem are narrowed to the codes it names by their own
 * rules. */
static const uint8_t icmpv6_ok[] = {
	1, 2, 128, 129, 130, 131, 132, 133, 134, 135, 136, 141, 142, 143, 148, 149, 151, 152, 153,
};
/* What an address-less host sends from :: (DAD, MLD reports). */
static const uint8_t icmpv6_unspec[] = { 131, 135, 143 };

static void ifset(struct gwd_nft_batch *b, const char *name, char ports[][GWD_IFNAME_MAX],
		  unsigned n, char more[][GWD_IFNAME_MAX], unsigned nmore,
		  char more2[][GWD_IFNAME_MAX], unsigned nmore2)
{
	struct gwd_nft_set *s = gwd_nft_set_new(name, 0, GWD_NFT_TYPE_IFNAME, GWD_IFNAME_MAX);
	struct { char (*p)[GWD_IFNAME_MAX]; unsigned n; } lists[] = {
		{ ports, n }, { more, nmore }, { more2, nmore2 },
	};
	for (unsigned l = 0; l < 3; l++)
		for (unsigned i = 0; i < lists[l].n; i++) {
			char key[GWD_IFNAME_MAX] = { 0 };
			memcpy(key, lists[l].p[i], strnlen(lists[l].p[i], GWD_IFNAME_MAX - 1));
			gwd_nft_elem(s, key, 0, 0);
		}
	/* Existing: kept (rules use it); its elements replaced. */
	gwd_nft_add_set(b, gwd_nft_set_new(name, 0, GWD_NFT_TYPE_IFNAME, GWD_IFNAME_MAX));
	gwd_nft_flush_set(b, name);
	gwd_nft_add_elems(b, s);
}

static void open_set(struct gwd_nft_batch *b, const char *name, const struct gwd_open_port *v,
		     unsigned n, uint8_t proto)
{
	struct gwd_nft_ranges r;
	gwd_nft_ranges_init(&r, 2);
	for (unsigned i = 0; i < n; i++)
		if (v[i].proto == proto)
			gwd_nft_ranges_add16(&r, v[i].lo, v[i].hi);
	gwd_nft_add_set(b, gwd_nft_set_new(name, NFT_SET_INTERVAL, GWD_NFT_TYPE_SERVICE, 2));
	gwd_nft_flush_set(b, name);
	struct gwd_nft_set *s = gwd_nft_set_new(name, NFT_SET_INTERVAL, GWD_NFT_TYPE_SERVICE, 2);
	gwd_nft_ranges_elems(&r, s);
	gwd_nft_ranges_free(&r);
	gwd_nft_add_elems(b, s);
}

static void u8set(struct gwd_nft_batch *b, const char *name, uint32_t type, const uint8_t *v,
		  size_t n)
{
	gwd_nft_add_set(b, gwd_nft_set_new(name, 0, type, 1));
	gwd_nft_flush_set(b, name);
	struct gwd_nft_set *s = gwd_nft_set_new(name, 0, type, 1);
	for (size_t i = 0; i < n; i++)
		gwd_nft_elem(s, &v[i], 0, 0);
	gwd_nft_add_elems(b, s);
}

/* A rule: its matches, then `counter name C drop` (counter NULL: the
 * verdict alone). */
static struct gwd_nft_rule *R(struct gwd_nft_batch *b, const char *chain)
{
	return gwd_nft_rule_new(b, chain, NULL);
}

static void end_drop(struct gwd_nft_batch *b, struct gwd_nft_rule *r, const char *counter)
{
	gwd_nft_e_counter_ref(r, counter);
	gwd_nft_e_verdict(r, NF_DROP, NULL);
	gwd_nft_add_rule(b, r);
}

static void end_verdict(struct gwd_nft_batch *b, struct gwd_nft_rule *r, int verdict,
			const char *chain)
{
	gwd_nft_e_verdict(r, verdict, chain);
	gwd_nft_add_rule(b, r);
}

/* udp sport SP udp dport DP */
static void udp_ports(struct gwd_nft_rule *r, uint16_t sp, uint16_t dp)
{
	gwd_nft_m_l4proto(r, IPPROTO_UDP);
	gwd_nft_m_th16(r, 0, sp);
	gwd_nft_m_th16(r, 2, dp);
}

/* The source checks of a packet conntrack has not confirmed, by the side
 * it came in on: jumped to from the input and the forward chain. */
static void src_chains(struct gwd_nft_batch *b)
{
	struct gwd_nft_rule *r;
	/* LAN side. */
	r = R(b, "guard_lan_src"); /* a DHCP client without an address yet */
	gwd_nft_m_nfproto(r, NFPROTO_IPV4);
	gwd_nft_m_ip4_zero(r, 12);
	udp_ports(r, 68, 67);
	end_verdict(b, r, NFT_RETURN, NULL);
	r = R(b, "guard_lan_src"); /* DAD and MLD before an address */
	gwd_nft_m_nfproto(r, NFPROTO_IPV6);
	gwd_nft_m_ip6_zero(r, 8);
	gwd_nft_m_l4proto(r, IPPROTO_ICMPV6);
	gwd_nft_m_th8_in(r, 0, "icmpv6_unspec");
	end_verdict(b, r, NFT_RETURN, NULL);
	r = R(b, "guard_lan_src");
	gwd_nft_m_fib_saddr_iif_missing(r);
	end_drop(b, r, GWD_NFT_DROP_SPOOFED);
	r = R(b, "guard_lan_src");
	gwd_nft_m_fib_saddr_local(r);
	end_drop(b, r, GWD_NFT_DROP_SPOOFED);
	/* WAN side: the DHCP clients' answers come before any route. */
	r = R(b, "guard_wan_src");
	udp_ports(r, 67, 68);
	end_verdict(b, r, NFT_RETURN, NULL);
	r = R(b, "guard_wan_src");
	udp_ports(r, 547, 546);
	end_verdict(b, r, NFT_RETURN, NULL);
	r = R(b, "guard_wan_src");
	gwd_nft_m_nfproto(r, NFPROTO_IPV6);
	gwd_nft_m_ip6_zero(r, 8);
	gwd_nft_m_l4proto(r, IPPROTO_ICMPV6);
	gwd_nft_m_th8_in(r, 0, "icmpv6_unspec");
	end_verdict(b, r, NFT_RETURN, NULL);
	r = R(b, "guard_wan_src");
	gwd_nft_m_fib_saddr_iif_missing(r);
	end_drop(b, r, GWD_NFT_DROP_WAN_SPOOFED);
	r = R(b, "guard_wan_src");
	gwd_nft_m_fib_saddr_local(r);
	end_drop(b, r, GWD_NFT_DROP_WAN_SPOOFED);
}

/* `jump guard_<side>_src` for a packet that came in on the side's
 * interfaces (set). */
static void src_jump(struct gwd_nft_batch *b, const char *chain, const char *set,
		     const char *src)
{
	struct gwd_nft_rule *r = R(b, chain);
	gwd_nft_m_iif_in(r, set);
	end_verdict(b, r, NFT_JUMP, src);
}

/* ICMPv6 the gateway takes from either side. */
static void icmpv6_rules(struct gwd_nft_batch *b, const char *chain)
{
	struct gwd_nft_rule *r = R(b, chain);
	gwd_nft_m_l4proto(r, IPPROTO_ICMPV6);
	gwd_nft_m_th8_in(r, 0, "icmpv6_ok");
	end_verdict(b, r, NF_ACCEPT, NULL);
	r = R(b, chain); /* time exceeded in transit */
	gwd_nft_m_l4proto(r, IPPROTO_ICMPV6);
	gwd_nft_m_th8(r, 0, 3);
	gwd_nft_m_th8(r, 1, 0);
	end_verdict(b, r, NF_ACCEPT, NULL);
	for (uint8_t code = 1; code <= 2; code++) { /* parameter problem 1, 2 */
		r = R(b, chain);
		gwd_nft_m_l4proto(r, IPPROTO_ICMPV6);
		gwd_nft_m_th8(r, 0, 4);
		gwd_nft_m_th8(r, 1, code);
		end_verdict(b, r, NF_ACCEPT, NULL);
	}
}

static void in_chains(struct gwd_nft_batch *b)
{
	struct gwd_nft_rule *r;
	/* LAN: DNS, DHCP, ICMP echo and ND, and what lan_open opens. */
	r = R(b, "guard_lan_in");
	gwd_nft_m_ct_state(r, GWD_CT_ESTABLISHED | GWD_CT_RELATED);
	end_verdict(b, r, NF_ACCEPT, NULL);
	icmpv6_rules(b, "guard_lan_in");
	r = R(b, "guard_lan_in");
	gwd_nft_m_l4proto(r, IPPROTO_ICMP);
	gwd_nft_m_th8(r, 0, 8); /* echo request */
	end_verdict(b, r, NF_ACCEPT, NULL);
	static const uint16_t udp_svc[] = { 53, 67, 547 };
	for (size_t i = 0; i < sizeof(udp_svc) / sizeof(udp_svc[0]); i++) {
		r = R(b, "guard_lan_in");
		gwd_nft_m_l4proto(r, IPPROTO_UDP);
		gwd_nft_m_th16(r, 2, udp_svc[i]);
		end_verdict(b, r, NF_ACCEPT, NULL);
	}
	r = R(b, "guard_lan_in");
	gwd_nft_m_l4proto(r, IPPROTO_TCP);
	gwd_nft_m_th16(r, 2, 53);
	end_verdict(b, r, NF_ACCEPT, NULL);
	r = R(b, "guard_lan_in");
	gwd_nft_m_l4proto(r, IPPROTO_TCP);
	gwd_nft_m_th16_in(r, 2, "lan_tcp_open");
	end_verdict(b, r, NF_ACCEPT, NULL);
	r = R(b, "guard_lan_in");
	gwd_nft_m_l4proto(r, IPPROTO_UDP);
	gwd_nft_m_th16_in(r, 2, "lan_udp_open");
	end_verdict(b, r, NF_ACCEPT, NULL);
	end_drop(b, R(b, "guard_lan_in"), GWD_NFT_DROP_LAN_CLOSED);

	/* WAN: ICMPv6 first (ND is never a tracked connection), then
	 * replies, the DHCP clients' answers, what wan_open opens. */
	icmpv6_rules(b, "guard_wan_in");
	r = R(b, "guard_wan_in");
	gwd_nft_m_ct_state(r, GWD_CT_ESTABLISHED | GWD_CT_RELATED);
	end_verdict(b, r, NF_ACCEPT, NULL);
	r = R(b, "guard_wan_in");
	gwd_nft_m_ct_state(r, GWD_CT_INVALID);
	end_drop(b, r, GWD_NFT_DROP_WAN_INVALID);
	r = R(b, "guard_wan_in");
	udp_ports(r, 67, 68);
	end_verdict(b, r, NF_ACCEPT, NULL);
	r = R(b, "guard_wan_in");
	gwd_nft_m_nfproto(r, NFPROTO_IPV6);
	udp_ports(r, 547, 546);
	end_verdict(b, r, NF_ACCEPT, NULL);
	r = R(b, "guard_wan_in");
	gwd_nft_m_l4proto(r, IPPROTO_TCP);
	gwd_nft_m_th16_in(r, 2, "wan_tcp_open");
	end_verdict(b, r, NF_ACCEPT, NULL);
	r = R(b, "guard_wan_in");
	gwd_nft_m_l4proto(r, IPPROTO_UDP);
	gwd_nft_m_th16_in(r, 2, "wan_udp_open");
	end_verdict(b, r, NF_ACCEPT, NULL);
	end_drop(b, R(b, "guard_wan_in"), GWD_NFT_DROP_WAN_CLOSED);

	/* The hook: a packet of a flow conntrack has confirmed (its first
	 * packet passed the source checks) to its side's rules at once;
	 * another one through its side's source checks first. */
	static const struct { const char *set, *src, *in; } side[] = {
		{ GWD_NFT_SET_LAN, "guard_lan_src", "guard_lan_in" },
		{ GWD_NFT_SET_WAN, "guard_wan_src", "guard_wan_in" },
	};
	for (size_t i = 0; i < 2; i++) {
		r = R(b, "guard_in");
		gwd_nft_m_iif_in(r, side[i].set);
		gwd_nft_m_ct_confirmed(r);
		end_verdict(b, r, NFT_GOTO, side[i].in);
		src_jump(b, "guard_in", side[i].set, side[i].src);
		r = R(b, "guard_in");
		gwd_nft_m_iif_in(r, side[i].set);
		end_verdict(b, r, NFT_GOTO, side[i].in);
	}
}

static void out_fwd_chains(struct gwd_nft_batch *b)
{
	struct gwd_nft_rule *r;
	/* Nothing conntrack calls invalid leaves by the WAN (ND is not
	 * tracked: it goes first). */
	r = R(b, "guard_out");
	gwd_nft_m_oif_in(r, GWD_NFT_SET_WAN);
	gwd_nft_m_l4proto(r, IPPROTO_ICMPV6);
	end_verdict(b, r, NF_ACCEPT, NULL);
	r = R(b, "guard_out");
	gwd_nft_m_oif_in(r, GWD_NFT_SET_WAN);
	gwd_nft_m_ct_state(r, GWD_CT_INVALID);
	end_drop(b, r, GWD_NFT_DROP_OUT_INVALID);

	/* Forwarding: only the kernel ports' own flows, each then decided by
	 * the nft engine's policy (GWD_NFT_POLICY_CHAIN; empty without it).
	 * First, one rule for every later packet of a flow both have let
	 * through: conntrack confirmed it (its first packet passed every
	 * check below, and the guard's verdict on a flow never changes) and
	 * it carries the live epoch's mark (the policy allowed it in the
	 * policy now in force).  The confirmed bit keeps a mark set before
	 * the first packet got here (another table, an expectation's master)
	 * from skipping the checks. */
	r = R(b, "guard_fwd");
	gwd_nft_e_ct(r, NFT_CT_MARK, -1, NFT_REG_1);
	gwd_nft_e_lookup(r, NFT_REG_1, GWD_NFT_LIVE_SET, GWD_NFT_SET_ONLY, false);
	gwd_nft_m_ct_confirmed(r);
	end_verdict(b, r, NF_ACCEPT, NULL);
	/* Another packet of a confirmed flow: the policy again (a flow
	 * decided in an earlier epoch is decided anew). */
	r = R(b, "guard_fwd");
	gwd_nft_m_ct_confirmed(r);
	end_verdict(b, r, NFT_GOTO, GWD_NFT_POLICY_CHAIN);
	src_jump(b, "guard_fwd", GWD_NFT_SET_LAN, "guard_lan_src");
	src_jump(b, "guard_fwd", GWD_NFT_SET_WAN, "guard_wan_src");
	/* The state first: a valid packet fails it with one read, before
	 * any interface set lookup. */
	r = R(b, "guard_fwd");
	gwd_nft_m_ct_state(r, GWD_CT_INVALID);
	gwd_nft_m_iif_in(r, GWD_NFT_SET_WAN);
	end_drop(b, r, GWD_NFT_DROP_WAN_INVALID);
	r = R(b, "guard_fwd");
	gwd_nft_m_ct_state(r, GWD_CT_INVALID);
	gwd_nft_m_oif_in(r, GWD_NFT_SET_WAN);
	end_drop(b, r, GWD_NFT_DROP_OUT_INVALID);
	r = R(b, "guard_fwd"); /* a kernel port's device to the WAN or the LAN side */
	gwd_nft_m_iif_in(r, GWD_NFT_SET_KERNEL);
	gwd_nft_m_oif_in(r, GWD_NFT_SET_GW);
	end_verdict(b, r, NFT_GOTO, GWD_NFT_POLICY_CHAIN);
	r = R(b, "guard_fwd"); /* the LAN side to a kernel port's device */
	gwd_nft_m_iif_in(r, GWD_NFT_SET_LAN);
	gwd_nft_m_oif_in(r, GWD_NFT_SET_KERNEL);
	end_verdict(b, r, NFT_GOTO, GWD_NFT_POLICY_CHAIN);
	r = R(b, "guard_fwd"); /* the WAN's replies to a kernel port's device */
	gwd_nft_m_iif_in(r, GWD_NFT_SET_WAN);
	gwd_nft_m_oif_in(r, GWD_NFT_SET_KERNEL);
	gwd_nft_m_ct_state(r, GWD_CT_ESTABLISHED | GWD_CT_RELATED);
	end_verdict(b, r, NFT_GOTO, GWD_NFT_POLICY_CHAIN);
	r = R(b, "guard_fwd");
	gwd_nft_m_iif_in(r, GWD_NFT_SET_GW);
	end_drop(b, r, GWD_NFT_DROP_FORWARD);
	r = R(b, "guard_fwd");
	gwd_nft_m_oif_in(r, GWD_NFT_SET_GW);
	end_drop(b, r, GWD_NFT_DROP_FORWARD);
}

static void nat_chain(struct gwd_nft_batch *b, const struct gwd_config *cfg)
{
	/* In postrouting the input interface is unknown: what is forwarded
	 * out the WAN has a source that is not the gateway's own (and the
	 * forward guard lets only the kernel ports' flows out). */
	for (int ported = 1; ported >= 0; ported--) {
		struct gwd_nft_rule *r = R(b, "nat_post");
		gwd_nft_m_oif_in(r, GWD_NFT_SET_WAN);
		gwd_nft_m_nfproto(r, NFPROTO_IPV4);
		gwd_nft_m_fib_saddr_not_local(r);
		if (ported) {
			gwd_nft_m_l4proto_in(r, "l4_tcp_udp");
			gwd_nft_e_masq(r, cfg->nat_lo, cfg->nat_hi);
		} else {
			gwd_nft_e_masq(r, 0, 0);
		}
		gwd_nft_add_rule(b, r);
	}
}

void gwd_nft_guard_build(struct gwd_nft_batch *b, const struct gwd_config *cfg)
{
	static const struct gwd_nft_hook in = { "filter", NF_INET_LOCAL_IN, NF_IP_PRI_FILTER - 10, NF_ACCEPT };
	static const struct gwd_nft_hook out = { "filter", NF_INET_LOCAL_OUT, NF_IP_PRI_FILTER - 10, NF_ACCEPT };
	static const struct gwd_nft_hook fwd = { "filter", NF_INET_FORWARD, NF_IP_PRI_FILTER - 10, NF_ACCEPT };
	static const struct gwd_nft_hook nat = { "nat", NF_INET_POST_ROUTING, NF_IP_PRI_NAT_SRC, NF_ACCEPT };
	char none[1][GWD_IFNAME_MAX];

	gwd_nft_add_table(b);
	for (size_t i = 0; i < sizeof(drop_counters) / sizeof(drop_counters[0]); i++)
		gwd_nft_add_counter(b, drop_counters[i]);
	/* The interface sets every chain matches on. */
	char (*lan)[GWD_IFNAME_MAX] = (char (*)[GWD_IFNAME_MAX])cfg->lan_ports;
	char (*wan)[GWD_IFNAME_MAX] = (char (*)[GWD_IFNAME_MAX])cfg->wan_ports;
	char (*bpf)[GWD_IFNAME_MAX] = (char (*)[GWD_IFNAME_MAX])cfg->ebpf_ports;
	char (*nft)[GWD_IFNAME_MAX] = (char (*)[GWD_IFNAME_MAX])cfg->nft_ports;
	ifset(b, GWD_NFT_SET_LAN, lan, cfg->nlan_ports, bpf, cfg->nebpf_ports, nft, cfg->nnft_ports);
	ifset(b, GWD_NFT_SET_WAN, wan, cfg->nwan_ports, none, 0, none, 0);
	ifset(b, GWD_NFT_SET_KERNEL, bpf, cfg->nebpf_ports, nft, cfg->nnft_ports, none, 0);
	ifset(b, GWD_NFT_SET_NFT, nft, cfg->nnft_ports, none, 0, none, 0);
	ifset(b, GWD_NFT_SET_GW, lan, cfg->nlan_ports, wan, cfg->nwan_ports, bpf, cfg->nebpf_ports);
	if (cfg->nnft_ports) {
		/* gw_ifs takes the nft ports too: a second add of the set's
		 * elements (the flush above ran first). */
		struct gwd_nft_set *s = gwd_nft_set_new(GWD_NFT_SET_GW, 0, GWD_NFT_TYPE_IFNAME,
							GWD_IFNAME_MAX);
		for (unsigned i = 0; i < cfg->nnft_ports; i++) {
			char key[GWD_IFNAME_MAX] = { 0 };
			memcpy(key, cfg->nft_ports[i], strnlen(cfg->nft_ports[i], GWD_IFNAME_MAX - 1));
			gwd_nft_elem(s, key, 0, 0);
		}
		gwd_nft_add_elems(b, s);
	}
	open_set(b, "lan_tcp_open", cfg->lan_open, cfg->nlan_open, IPPROTO_TCP);
	open_set(b, "lan_udp_open", cfg->lan_open, cfg->nlan_open, IPPROTO_UDP);
	open_set(b, "wan_tcp_open", cfg->wan_open, cfg->nwan_open, IPPROTO_TCP);
	open_set(b, "wan_udp_open", cfg->wan_open, cfg->nwan_open, IPPROTO_UDP);
	u8set(b, "icmpv6_ok", GWD_NFT_TYPE_ICMPV6_TYPE, icmpv6_ok, sizeof(icmpv6_ok));
	u8set(b, "icmpv6_unspec", GWD_NFT_TYPE_ICMPV6_TYPE, icmpv6_unspec, sizeof(icmpv6_unspec));
	static const uint8_t tcp_udp[] = { IPPROTO_TCP, IPPROTO_UDP };
	u8set(b, "l4_tcp_udp", GWD_NFT_TYPE_INET_PROTO, tcp_udp, 2);

	/* An older gwd's chains go (its hook first: it jumps to the others);
	 * added first, so that a table without them deletes nothing absent. */
	for (size_t i = 0; i < sizeof(legacy_chains) / sizeof(legacy_chains[0]); i++) {
		gwd_nft_add_chain(b, legacy_chains[i], NULL);
		gwd_nft_flush_chain(b, legacy_chains[i]);
	}
	for (size_t i = 0; i < sizeof(legacy_chains) / sizeof(legacy_chains[0]); i++)
		gwd_nft_del_chain(b, legacy_chains[i]);
	/* What the forward chain refers to and the nft engine fills: made
	 * when missing, never emptied here (the engine's policy stays). */
	gwd_nft_add_set(b, gwd_nft_set_new(GWD_NFT_LIVE_SET, 0, GWD_NFT_TYPE_MARK, 4));
	gwd_nft_add_chain(b, GWD_NFT_POLICY_CHAIN, NULL);
	/* Regular chains first, then the hooks that jump to them; every
	 * chain emptied and filled again in this same transaction. */
	for (size_t i = 0; i < sizeof(guard_chains) / sizeof(guard_chains[0]); i++) {
		const char *c = guard_chains[i];
		const struct gwd_nft_hook *h = !strcmp(c, "guard_in") ? &in :
					       !strcmp(c, "guard_out") ? &out :
					       !strcmp(c, "guard_fwd") ? &fwd : NULL;
		gwd_nft_add_chain(b, c, h);
		gwd_nft_flush_chain(b, c);
		if (h) {
			/* A hook chain is made anew (same transaction, so never
			 * absent): a gwd of another version may have hooked it
			 * elsewhere, which the kernel does not change in place. */
			gwd_nft_del_chain(b, c);
			gwd_nft_add_chain(b, c, h);
		}
	}
	src_chains(b);
	in_chains(b);
	out_fwd_chains(b);
	/* An empty NAT chain would still cost every packet a NAT lookup. */
	if (cfg->nat_lo && cfg->nwan_ports) {
		gwd_nft_add_chain(b, "nat_post", &nat);
		gwd_nft_flush_chain(b, "nat_post");
		nat_chain(b, cfg);
	} else {
		/* Off: a chain of an earlier config goes. */
		gwd_nft_add_chain(b, "nat_post", &nat);
		gwd_nft_flush_chain(b, "nat_post");
		gwd_nft_del_chain(b, "nat_post");
	}
}

struct seen {
	bool chain[sizeof(guard_chains) / sizeof(guard_chains[0])];
	bool nat;
};

static int seen_chain(const char *name, bool base, void *arg)
{
	struct seen *s = arg;
	for (size_t i = 0; i < sizeof(guard_chains) / sizeof(guard_chains[0]); i++)
		if (!strcmp(name, guard_chains[i]))
			s->chain[i] = true;
	if (!strcmp(name, "nat_post"))
		s->nat = true;
	return 0;
}

static int count_rule(const char *comment, void *arg)
{
	(*(unsigned *)arg)++;
	return 0;
}

int gwd_nft_guard_check(struct gwd_nft *n, const struct gwd_config *cfg, bool *ret_ok,
			char *why, size_t whylen)
{
	bool exists;
	int r = gwd_nft_table_exists(n, &exists);
	if (r < 0)
		return r;
	if (!exists) {
		snprintf(why, whylen, "table inet %s is missing", gwd_nft_table(n));
		*ret_ok = false;
		return 0;
	}
	struct seen s = { { false }, false };
	if ((r = gwd_nft_each_chain(n, seen_chain, &s)) < 0)
		return r;
	for (size_t i = 0; i < sizeof(guard_chains) / sizeof(guard_chains[0]); i++) {
		unsigned rules = 0;
		if (s.chain[i] && (r = gwd_nft_each_rule_comment(n, guard_chains[i], count_rule,
								 &rules)) < 0)
			return r;
		if (!s.chain[i] || !rules) {
			snprintf(why, whylen, "chain %s of table inet %s is %s", guard_chains[i],
				 gwd_nft_table(n), s.chain[i] ? "empty" : "missing");
			*ret_ok = false;
			return 0;
		}
	}
	if (cfg->nat_lo && cfg->nwan_ports) {
		unsigned rules = 0;
		if (s.nat && (r = gwd_nft_each_rule_comment(n, "nat_post", count_rule, &rules)) < 0)
			return r;
		if (!rules) {
			snprintf(why, whylen, "the kernel ports' masquerade (chain nat_post) is %s",
				 s.nat ? "empty" : "missing");
			*ret_ok = false;
			return 0;
		}
	}
	*ret_ok = true;
	return 0;
}

struct drops {
	int (*fn)(const char *reason, uint64_t pkts, uint64_t bytes, void *arg);
	void *arg;
};

static int each_drop(const char *name, uint64_t pkts, uint64_t bytes, void *arg)
{
	struct drops *d = arg;
	for (size_t i = 0; i < sizeof(drop_counters) / sizeof(drop_counters[0]); i++)
		if (!strcmp(name, drop_counters[i]))
			return d->fn(name + 5 /* "drop_" */, pkts, bytes, d->arg);
	return 0;
}

int gwd_nft_guard_drops(struct gwd_nft *n,
			int (*fn)(const char *reason, uint64_t pkts, uint64_t bytes, void *arg),
			void *arg)
{
	struct drops d = { fn, arg };
	return gwd_nft_each_counter(n, each_drop, &d);
}
