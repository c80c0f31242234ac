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
 *   metrics   = 127.0.0.1:9477     Prometheus metrics over HTTP (docs/metrics.md)
 *                                  on a loopback address (127.0.0.0/8 or
 *                                  [::1]); unset: none
 *   api_max_connections = 64       API connections at once (1..1024); the
 *                                  last GWD_API_ROOT_SLOTS are root's only
 *   api_max_per_user = 16          connections of one non-root uid (1..1024)
 *   api_idle_timeout = 60          seconds a connection may go without a
 *                                  request (none running), or with replies
 *                                  the client does not read (1..86400)
 * Numbers are decimal within the ranges above.  Paths are absolute; port names are interface names (1..15 bytes of
 * letters, digits, '.', '-', '_', '@'), separated by commas, at most
 * GWD_MAX_PORTS, each once.  An unknown key, a repeated key, a line without '='
 * or an empty value is an error naming file:line; every such line is
 * reported, and nothing of a bad file is used.
 */
#ifndef GW_CONTROL_CONFIG_H
#define GW_CONTROL_CONFIG_H

#include <stddef.h>

#define GWD_DEFAULT_CONFIG "/etc/gw/gwd.conf"
#define GWD_PATH_MAX 1024
#define GWD_MAX_PORTS 8
#define GWD_IFNAME_MAX 16 /* IFNAMSIZ */
#define GWD_DEFAULT_PIN_ROOT "/sys/fs/bpf/gw"
/* Defaults of the numeric keys (docs/gwd.md). */
#define GWD_API_MAX_CONNS 64
#define GWD_API_MAX_PER_UID 16
#define GWD_API_ROOT_SLOTS 4 /* of api_max_connections, kept for uid 0 */
#define GWD_API_IDLE_S 60

struct gwd_config {
	char state_dir[GWD_PATH_MAX];
	char socket[GWD_PATH_MAX];
	char policy[GWD_PATH_MAX]; /* "" when not set */
	char dataplane[GWD_PATH_MAX]; /* "" when not set: no DPDK engine */
	char ebpf_ports[GWD_MAX_PORTS][GWD_IFNAME_MAX];
	unsigned nebpf_ports;         /* 0: no eBPF engine */
	char bpf_pin_root[GWD_PATH_MAX];
	unsigned api_max_conns;       /* GWD_API_MAX_CONNS */
	unsigned api_max_per_uid;     /* GWD_API_MAX_PER_UID */
	unsigned api_idle_s;          /* GWD_API_IDLE_S */
	char metrics_addr[80];        /* "" when not set: no metrics */
	unsigned short metrics_port;
};

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
