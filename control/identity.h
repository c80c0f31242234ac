/* SPDX-License-Identifier: MIT */
/*
 * The identity registry (docs/dns.md, "Devices and their names"): what
 * gwd knows of every device it has seen, and the names it gives them.
 *
 * The registry keeps one record per MAC address seen on the LAN: the
 * addresses it used (from DHCP leases and the kernel's neighbour tables),
 * its DHCP hostnames and client-ids, when it was first and last seen, and
 * the name it has among new devices.  A device is a view over those
 * records: a declared device of the policy in force is every record of
 * its MACs under its name, owner and groups; a MAC no device declares is
 * a new device of its own, named from its DHCP hostname (letters, digits
 * and hyphens, at most GWD_ID_LABEL_MAX bytes, numbered on a collision)
 * under the sub-zone "new": android-5f2a.new.<zone>.
 *
 * An address belongs to one MAC at a time: when another MAC takes it (a
 * lease, a neighbour entry), it stops being current for the one that had
 * it.  An address is current while its lease runs or while the kernel has
 * a live neighbour entry for it; the household's zone and the DNS
 * service's client map are built from current addresses only.  Every
 * address seen is kept (at most GWD_ID_ADDRS a MAC, the least recently
 * seen goes first), for `gwctl devices`.
 *
 * No I/O and no clock: the caller passes the time and stores the JSON
 * (identity.json under state_dir).  Every function that changes the
 * registry says what changed (GWD_ID_*), so gwd knows when to tell the
 * DNS service and when to write the file.  Input is checked before it
 * changes anything: a lease or neighbour event that does not hold
 * together is refused whole (-EINVAL).
 */
#ifndef GW_CONTROL_IDENTITY_H
#define GW_CONTROL_IDENTITY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dnsproc.h"
#include "lease.h"
#include "neigh.h"

struct pol_ir;
struct gwd_identity;

#define GWD_ID_MAX_MACS   4096 /* records; the least recently seen new one goes first */
#define GWD_ID_ADDRS      16   /* addresses kept per MAC */
#define GWD_ID_HOSTNAMES  4    /* hostnames kept per MAC, newest first */
#define GWD_ID_CLIENT_IDS 4    /* client-ids kept per MAC, newest first */
#define GWD_ID_LABEL_MAX  24   /* a new device's label, before a collision's "-N" */

/* What a call changed. */
enum {
	GWD_ID_ZONE = 1,  /* the zone's names or addresses, or the client map */
	GWD_ID_STATE = 2, /* something worth writing to disk */
	GWD_ID_SEEN = 4,  /* only when something was last seen */
};

int gwd_identity_new(struct gwd_identity **ret);
void gwd_identity_free(struct gwd_identity *id);

/*
 * The policy in force (NULL: none), which says which MACs are declared
 * devices, their names, owners and groups.  The registry keeps the
 * pointer: it must stay valid until the next call.  Returns the changes.
 */
unsigned gwd_identity_set_policy(struct gwd_identity *id, const struct pol_ir *ir);

/* A lease event (lease.h).  *ret_changes: what changed. */
int gwd_identity_lease(struct gwd_identity *id, const struct gwd_lease *l, int64_t now_ms,
		       unsigned *ret_changes);

/*
 * A neighbour entry (neigh.h) of a port the registry watches (the caller
 * filters on the interface).  epoch: the caller's dump counter; after a
 * full dump, gwd_identity_neigh_sweep(epoch) takes the neighbour away from
 * every address the dump did not show.
 */
int gwd_identity_neigh(struct gwd_identity *id, const struct gwd_neigh *n, uint32_t epoch,
		       int64_t now_ms, unsigned *ret_changes);
unsigned gwd_identity_neigh_sweep(struct gwd_identity *id, uint32_t epoch);

/* Leases that ran out by now: their addresses are no longer current. */
unsigned gwd_identity_expire(struct gwd_identity *id, int64_t now_ms);

/* The household's zone (relative names) and the client map, from current
 * addresses; malloc'd arrays (NULL when empty), at most the DNS
 * service's bounds (GWDNS_ZONE_MAX, GWDNS_CLIENTS_MAX). */
int gwd_identity_records(const struct gwd_identity *id, int64_t now_ms,
			 struct gwd_dns_record **ret, size_t *ret_n);
int gwd_identity_clients(const struct gwd_identity *id, int64_t now_ms,
			 struct gwd_dns_client **ret, size_t *ret_n);

/* The name a new device's MAC has ("android-5f2a", no ".new"), or NULL
 * when the registry never saw it. */
const char *gwd_identity_new_label(const struct gwd_identity *id, const uint8_t mac[6]);

/*
 * What the registry knows of a device, as members of the devices reply
 * (docs/api.md): "dns_name", "random", "hostnames", "client_ids",
 * "addresses" (each {"addr","current","via","lease_expires","first_seen_ms",
 * "last_seen_ms"}), "first_seen_ms", "last_seen_ms" (null: never seen),
 * added to obj.  macs: the device's MACs.  zone: the zone's name.
 */
int gwd_identity_device_json(const struct gwd_identity *id, const uint8_t (*macs)[6],
			     size_t nmacs, bool declared, const char *name, const char *zone,
			     int64_t now_ms, json_t *obj);
/* Every MAC the registry has that ir (NULL: none) does not declare, most
 * recently seen first: *ret malloc'd. */
int gwd_identity_new_macs(const struct gwd_identity *id, uint8_t (**ret)[6], size_t *ret_n);

/* The registry as identity.json holds it; and back.  Load replaces the
 * records (after checking all of them: -EINVAL with the reason in err,
 * and nothing changed).  Neighbour entries are not kept: they come again
 * with the next dump. */
json_t *gwd_identity_to_json(const struct gwd_identity *id);
int gwd_identity_from_json(struct gwd_identity *id, const json_t *j, char *err, size_t errlen);

/* A DHCP hostname as a DNS label: lower-case letters, digits and single
 * hyphens, up to the first '.', at most GWD_ID_LABEL_MAX bytes; "" when
 * nothing of it is left. */
void gwd_identity_safe_label(const char *hostname, char out[GWD_ID_LABEL_MAX + 1]);

/* How many records (MACs) the registry holds. */
size_t gwd_identity_count(const struct gwd_identity *id);

#endif
