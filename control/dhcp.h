/* SPDX-License-Identifier: MIT */
/*
 * DHCP through dnsmasq (docs/dns.md, "DHCP"): gwd writes dnsmasq's
 * configuration from gwd.conf (dhcp_ranges, dhcp_lease_time, dhcp_ports)
 * and the policy (the zone as the domain name), starts dnsmasq in
 * DHCP-only mode (port=0) as its child, and starts it again when it dies.
 * dnsmasq runs its lease script (gw-dhcp-event) on every lease change,
 * which hands the event to gwd's API (dhcp.lease, root only); its lease
 * file, under state_dir/dhcp/, is read once at gwd's start, so leases
 * handed out while gwd was down are known too.  No DHCP packet is parsed
 * here: dnsmasq does that.
 *
 * Files under state_dir/dhcp/:
 *   dnsmasq.conf   the configuration dnsmasq is started with (gwd's): from
 *                  gwd.conf and the policy in force (its zone, and a
 *                  dhcp-host line for each device with a fixed address);
 *                  when the policy changes it, dnsmasq is started again
 *                  with it (the lease file keeps the leases)
 *   leases         dnsmasq's lease file (dnsmasq's)
 *   dnsmasq.pid    dnsmasq's pid: a dnsmasq gwd started before it was
 *                  killed (kill -9 of gwd leaves it running) is stopped at
 *                  the next start, which starts its own
 *
 * Restarts: at once after the first exit, then after 1, 2, 4 ... 30 s
 * while it keeps dying within 60 s of its start.
 */
#ifndef GW_CONTROL_DHCP_H
#define GW_CONTROL_DHCP_H

#include <jansson.h>
#include <stddef.h>

#include "lease.h"

struct event_base;
struct gwd_config;
struct pol_ir;
struct gwd_dhcp;

/* Writes the configuration for ir (NULL: no policy yet), stops a dnsmasq
 * left by an earlier gwd, and starts dnsmasq (cfg->dhcp set).  err says
 * why not.  0 or -errno. */
int gwd_dhcp_new(struct event_base *base, const struct gwd_config *cfg, const struct pol_ir *ir,
		 struct gwd_dhcp **ret, char *err, size_t errlen);
/* Stops dnsmasq (SIGTERM, waited for) and frees everything.  NULL is fine. */
void gwd_dhcp_free(struct gwd_dhcp *h);

/* The policy in force changed: when the configuration changes with it
 * (its zone, its fixed addresses), dnsmasq is started again with the new
 * one. */
void gwd_dhcp_policy(struct gwd_dhcp *h, const struct pol_ir *ir);

/*
 * Every lease of a dnsmasq lease file (path) to cb, as OLD events;
 * *ret_bad counts the lines refused (each logged by the caller, not
 * here).  A missing file is no lease: 0.  -errno when it cannot be read.
 */
int gwd_dhcp_read_leases(const char *path, void (*cb)(const struct gwd_lease *l, void *arg),
			 void *arg, unsigned *ret_bad);
/* state_dir/dhcp/leases of this config. */
void gwd_dhcp_lease_path(const struct gwd_config *cfg, char *buf, size_t size);

/* {"state": "running"|"restarting"|"stopped", "pid", "restarts", "last_exit"} */
json_t *gwd_dhcp_status(const struct gwd_dhcp *h);

#endif
