/* SPDX-License-Identifier: MIT */
/*
 * gwd.conf: one `key = value` a line; '#' starts a comment; blank lines are
 * fine.  Keys:
 *   state_dir = /var/lib/gw        generations, history, pending confirm
 *   socket    = /run/gw/gwd.sock   the API socket (docs/api.md)
 *   policy    = /etc/gw/home.gw    applied as generation 1 when there is none
 *   dataplane = /run/gw/dp.sock    gw-dataplane's control socket (unset: no
 *                                  DPDK engine)
 *   ebpf_ports = wlan0, wlan1      kernel LAN ports the eBPF classifier is
 *                                  attached to (unset: no eBPF engine)
 *   bpf_pin_root = /sys/fs/bpf/gw  where the eBPF maps are pinned
 *   dns = /usr/sbin/gw-dns         the DNS service's program (unset: no DNS
 *                                  service; docs/dns.md)
 *   dns_listen = 10.0.0.1, fd00::1 the LAN addresses it serves on (port 53,
 *                                  UDP and TCP); never a WAN address
 *   dns_clients = 10.0.0.0/24, fd00::/64  the household's prefixes: the only
 *                                  sources it answers (others get REFUSED)
 *   dns_upstreams = 192.0.2.53     the resolvers it forwards to (port 53)
 *   dns_user = gw-dns              the user it runs as
 *   dns_block = nxdomain | null    what a device gets for a name its policy
 *                                  blocks (null: A 0.0.0.0, AAAA ::)
 *   api_group = gw                 the group whose members may change things
 *                                  through the API (and the socket's group)
 *   metrics   = 127.0.0.1:9477     Prometheus metrics over HTTP (docs/metrics.md)
 *                                  on a loopback address (127.0.0.0/8 or
 *                                  [::1]); unset: none
 *   api_max_connections = 64       API connections at once (1..1024); the
 *                                  last GWD_API_ROOT_SLOTS are root's only
 *   api_max_per_user = 16          connections of one non-root uid (1..1024)
 *   api_idle_timeout = 60          seconds a connection may go without a
 *                                  request (none running), or with replies
 *                                  the client does not read (1..86400)
 * dns needs dns_listen and dns_clients; address lists are separated by
 * commas, at most GWD_DNS_ADDRS each.
 *   compile_timeout = 60           seconds a policy compile may take (1..3600)
 *   ebpf_flows = 262144            flows the eBPF classifier's table holds (a
 *                                  power of two, 4096..4194304; 128 bytes each)
 *   ebpf_forward = on              on | off: the eBPF ports forward allowed UDP
 *                                  flows that conntrack holds in XDP or at TC
 *                                  (docs/ebpf.md, "Forwarding in XDP"); not
 *                                  set: the ports at TC ingress do, those at
 *                                  XDP not
 *   ebpf_attach = auto             auto | xdp | tc: the hook the eBPF classifier
 *                                  runs at (docs/ebpf.md, "Two hooks"); auto:
 *                                  TC ingress on a veth, XDP elsewhere
 *   ebpf_forward_new = off         on: with ebpf_forward, a new allowed UDP flow's
 *                                  conntrack entry is made in XDP where the
 *                                  guard would accept it, and its first packet
 *                                  forwarded there
 * The nftables table, the guard and the nft engine (docs/nft.md):
 *   nft_table  = gw                the table gwd owns (family inet)
 *   guard      = on                on | off (off: tests and development only)
 *   lan_ports  = gw-lan            the gateway's LAN-side kernel interfaces
 *                                  (the kernel ports are added by themselves)
 *   wan_ports  = gw-wan            its WAN-side kernel interfaces
 *   nft_ports  = wlan1             kernel LAN ports the nft engine enforces
 *                                  the policy on (unset: no nft engine)
 *   lan_open   = tcp/22, udp/123   gateway ports open to the LAN besides DNS,
 *                                  DHCP and ICMP (proto/port or proto/lo-hi)
 *   wan_open   = udp/51820         gateway ports open to the WAN
 *   kernel_nat = 32768-65535       source ports of the kernel ports'
 *                                  masquerade out the WAN ports, or off
 *   nflog_group = 17               the NFLOG group of the nft engine's logs
 *   nft_flows  = on                on | off: the nft engine's connections in
 *                                  gwd's flows (read from conntrack)
 * DHCP through dnsmasq (docs/dns.md, "DHCP"):
 *   dhcp = /usr/sbin/dnsmasq       dnsmasq, started DHCP-only by gwd (unset: no
 *                                  DHCP service)
 *   dhcp_ranges = 192.168.1.100-192.168.1.199, ...  the IPv4 addresses handed
 *                                  out (at most GWD_DHCP_RANGES); required with dhcp
 *   dhcp_lease_time = 43200        seconds a lease lasts (120..31536000)
 *   dhcp_ports = gw-lan, wlan0     the interfaces it serves (default: every
 *                                  LAN-side port: lan_ports, ebpf_ports, nft_ports)
 *   dhcp_script = /usr/libexec/gw-dhcp-event  the lease script dnsmasq runs,
 *                                  which hands each lease event to gwd
 *   dhcp_ra = off                  on: dnsmasq also sends IPv6 router
 *                                  advertisements (SLAAC only, no DHCPv6) on
 *                                  each port it serves that has an IPv6 /64
 *                                  (its prefix from the port's address)
 * Numbers are decimal within the ranges above.  Paths are absolute; port names are interface names (1..15 bytes of
 * letters, digits, '.', '-', '_', '@'), separated by commas, at most
 * GWD_MAX_PORTS, each once.  An unknown key, a repeated key, a line without '='
 * or an empty value is an error naming file:line; every such line is
 * reported, and nothing of a bad file is used.  Across keys: a port is
 * enforced by one engine (ebpf_ports and nft_ports do not share one), is on
 * one side (LAN or WAN), and with the guard on, a gwd with any engine
 * needs wan_ports and at least one LAN-side port.
 */
#ifndef GW_CONTROL_CONFIG_H
#define GW_CONTROL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GWD_DEFAULT_CONFIG "/etc/gw/gwd.conf"
#define GWD_PATH_MAX 1024
#define GWD_MAX_PORTS 8
#define GWD_IFNAME_MAX 16 /* IFNAMSIZ */
#define GWD_DEFAULT_PIN_ROOT "/sys/fs/bpf/gw"
#define GWD_DNS_ADDRS 8
#define GWD_USER_MAX 32

/* An address, or a prefix (plen < full length) in dns_clients. */
struct gwd_addr {
	unsigned char family; /* 4 or 6 */
	unsigned char plen;
	unsigned char addr[16];
};
#define GWD_GROUP_MAX 33 /* a group name: 1..32 bytes */
/* Defaults of the numeric keys (docs/gwd.md). */
#define GWD_API_MAX_CONNS 64
#define GWD_API_MAX_PER_UID 16
#define GWD_API_ROOT_SLOTS 4 /* of api_max_connections, kept for uid 0 */
#define GWD_API_IDLE_S 60
#define GWD_COMPILE_TIMEOUT_S 60
/* The eBPF flow table (ebpf/gw_bpf_abi.h GWBPF_FLOWS_*: the same). */
#define GWD_EBPF_FLOWS_DEFAULT 262144u
/* ebpf_attach (0, auto, is the default). */
#define GWD_EBPF_ATTACH_AUTO 0
#define GWD_EBPF_ATTACH_XDP  1
#define GWD_EBPF_ATTACH_TC   2
#define GWD_EBPF_FLOWS_MIN     4096u
#define GWD_EBPF_FLOWS_MAX     4194304u
#define GWD_MAX_OPEN 32           /* lan_open, wan_open entries */
#define GWD_NFT_TABLE_MAX 32      /* nft_table, with its NUL */
#define GWD_DEFAULT_NFT_TABLE "gw"
#define GWD_DEFAULT_NFLOG_GROUP 17
#define GWD_DEFAULT_NAT_LO 32768  /* the kernel's share of the WAN ports; */
#define GWD_DEFAULT_NAT_HI 65535  /* gw-dataplane takes 1024-32767 */

#define GWD_DHCP_RANGES 8
#define GWD_DHCP_LEASE_S 43200    /* dhcp_lease_time's default: 12 h */
#ifndef GWD_DHCP_SCRIPT_DEFAULT
#define GWD_DHCP_SCRIPT_DEFAULT "/usr/libexec/gw-dhcp-event"
#endif

/* An IPv4 range of dhcp_ranges, first and last address. */
struct gwd_dhcp_range {
	uint8_t lo[4], hi[4];
};

/* A gateway port opened by lan_open or wan_open. */
struct gwd_open_port {
	uint8_t proto; /* IPPROTO_TCP or IPPROTO_UDP */
	uint16_t lo, hi;
};

struct gwd_config {
	char state_dir[GWD_PATH_MAX];
	char socket[GWD_PATH_MAX];
	char policy[GWD_PATH_MAX]; /* "" when not set */
	char dataplane[GWD_PATH_MAX]; /* "" when not set: no DPDK engine */
	char ebpf_ports[GWD_MAX_PORTS][GWD_IFNAME_MAX];
	unsigned nebpf_ports;         /* 0: no eBPF engine */
	char bpf_pin_root[GWD_PATH_MAX];
	char dns[GWD_PATH_MAX];        /* "" when not set: no DNS service */
	char dns_user[GWD_USER_MAX];
	unsigned dns_block_null;       /* dns_block = null */
	struct gwd_addr dns_listen[GWD_DNS_ADDRS], dns_clients[GWD_DNS_ADDRS],
		dns_upstreams[GWD_DNS_ADDRS];
	unsigned ndns_listen, ndns_clients, ndns_upstreams;
	char api_group[GWD_GROUP_MAX];
	unsigned api_max_conns;       /* GWD_API_MAX_CONNS */
	unsigned api_max_per_uid;     /* GWD_API_MAX_PER_UID */
	unsigned api_idle_s;          /* GWD_API_IDLE_S */
	unsigned compile_timeout_s;   /* GWD_COMPILE_TIMEOUT_S */
	unsigned ebpf_flows;          /* GWD_EBPF_FLOWS_DEFAULT */
	/* nftables (docs/nft.md) */
	char nft_table[GWD_NFT_TABLE_MAX];
	bool guard;
	char lan_ports[GWD_MAX_PORTS][GWD_IFNAME_MAX];
	unsigned nlan_ports;
	char wan_ports[GWD_MAX_PORTS][GWD_IFNAME_MAX];
	unsigned nwan_ports;
	char nft_ports[GWD_MAX_PORTS][GWD_IFNAME_MAX];
	unsigned nnft_ports;          /* 0: no nft engine */
	struct gwd_open_port lan_open[GWD_MAX_OPEN], wan_open[GWD_MAX_OPEN];
	unsigned nlan_open, nwan_open;
	uint16_t nat_lo, nat_hi;      /* 0, 0: kernel_nat = off */
	uint16_t nflog_group;
	bool nft_flows;               /* conntrack's connections into gwd's flows */
	bool ebpf_forward;            /* the eBPF ports forward allowed UDP flows in XDP */
	bool ebpf_forward_set;        /* ebpf_forward is in gwd.conf (else: at TC only) */
	bool ebpf_forward_new;        /* and make new ones' conntrack entries there */
	uint8_t ebpf_attach;          /* GWD_EBPF_ATTACH_*: the eBPF ports' hook */
	/* DHCP through dnsmasq */
	char dhcp[GWD_PATH_MAX];        /* "" when not set: no DHCP service */
	char dhcp_script[GWD_PATH_MAX];
	struct gwd_dhcp_range dhcp_ranges[GWD_DHCP_RANGES];
	unsigned ndhcp_ranges;
	unsigned dhcp_lease_s;        /* GWD_DHCP_LEASE_S */
	char dhcp_ports[GWD_MAX_PORTS][GWD_IFNAME_MAX];
	unsigned ndhcp_ports;         /* 0: every LAN-side port */
	bool dhcp_ra;                 /* router advertisements (default off) */
	char metrics_addr[80];        /* "" when not set: no metrics */
	unsigned short metrics_port;
};

/* Does gwd run an enforcement engine with this config (then the guard
 * must be in place first, unless guard = off)? */
bool gwd_config_has_engines(const struct gwd_config *c);

void gwd_config_defaults(struct gwd_config *c);

/*
 * Parse text (len bytes) named `name` over the values already in *c.
 * 0 on success; -EINVAL with one "name:line: error: ..." line per bad line
 * in err (NUL-terminated, truncated to errlen), *c unchanged.
 */
int gwd_config_parse(const char *name, const char *text, size_t len, struct gwd_config *c,
		     char *err, size_t errlen);

/* Read and parse a file; -errno with a reason in err when unreadable. */
int gwd_config_load(const char *path, struct gwd_config *c, char *err, size_t errlen);

#endif
