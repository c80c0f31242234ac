/* SPDX-License-Identifier: MIT */
/*
 * Fairness: what each device holds on one worker (flows, NAT mappings)
 * against its caps, and how often it was refused for being at one, so one
 * device cannot take the gateway's flow table or NAT ports and gwd can say
 * who hit a cap (DEVICE_USAGE, proto.h).
 *
 * A device here is a source MAC: the worker that receives from the LAN
 * brings all of a MAC's IPv4 packets to one worker (lcore.h, steering),
 * so its IPv4 flows and mappings are counted in one table whatever its
 * addresses.  Its IPv6 flows follow their addresses and may be counted
 * on another worker (each worker holds at most the cap).
 *
 * Entries are found by an rte_hash from the MAC (one entry remembered: a
 * burst is mostly one device's), made on a device's first new flow, and
 * recycled, least recently idle first, once the device holds nothing
 * (no flow, no mapping): an O(1) list, so a table full of busy devices
 * refuses a new one at once.  Each flow and mapping keeps its device's
 * index, so releasing one costs no lookup.
 *
 * One table per worker, owned by it: no locks.  Other lcores (the control
 * agent) read entries as a snapshot that may be torn (dp_caps_at).
 */
#ifndef GW_DATAPLANE_CAPS_H
#define GW_DATAPLANE_CAPS_H

#include <stdbool.h>
#include <stdint.h>

#define DP_CAPS_NONE UINT32_MAX
#define DP_CAPS_DEVICES 4096 /* devices a worker tracks at once */

struct dp_caps_entry {
	uint8_t mac[6];
	uint8_t live;   /* 0: a free slot */
	uint8_t pad;
	uint32_t flows; /* flows it holds now */
	uint32_t maps;  /* NAT mappings it holds now */
	uint32_t prev, next; /* the idle list (live, holding nothing) */
	uint64_t refused_flows; /* new flows refused: at its flow cap */
	uint64_t refused_maps;  /* new flows refused: at its NAT mapping cap */
};

struct dp_caps;

struct dp_caps_stats {
	uint64_t full;     /* a new device refused: every slot holds a busy device */
	uint64_t recycled; /* idle devices' slots given to new ones */
	uint32_t devices;  /* live entries */
};

/* name: unique among this process's hashes; flow_cap, nat_cap >= 1.
 * -EINVAL, -ENOMEM. */
int dp_caps_new(const char *name, uint32_t devices, uint32_t flow_cap, uint32_t nat_cap,
		int socket, struct dp_caps **ret);
void dp_caps_free(struct dp_caps *c);

/* The entry of a source MAC, made if needed (by recycling the least
 * recently idle device when the table is full), or DP_CAPS_NONE when
 * every slot holds a device that holds something. */
uint32_t dp_caps_device(struct dp_caps *c, const uint8_t mac[6]);

/* May device dev open one more flow?  false (counted as a refusal of
 * dev) at its flow cap. */
bool dp_caps_flow_ok(struct dp_caps *c, uint32_t dev);
void dp_caps_flow_add(struct dp_caps *c, uint32_t dev);
void dp_caps_flow_del(struct dp_caps *c, uint32_t dev);
/* May device dev be given one more NAT mapping?  (Not counted: the
 * mapping may exist already; count a refusal with dp_caps_nat_refused.) */
bool dp_caps_nat_ok(const struct dp_caps *c, uint32_t dev);
void dp_caps_nat_refused(struct dp_caps *c, uint32_t dev);
void dp_caps_nat_add(struct dp_caps *c, uint32_t dev);
void dp_caps_nat_del(struct dp_caps *c, uint32_t dev);

const uint8_t *dp_caps_mac(const struct dp_caps *c, uint32_t dev);
void dp_caps_limits(const struct dp_caps *c, uint32_t *ret_flows, uint32_t *ret_nat);

/* For readers on other lcores: slots 0..capacity-1, and slot i's entry
 * (a copy), false when the slot is free. */
uint32_t dp_caps_capacity(const struct dp_caps *c);
bool dp_caps_at(const struct dp_caps *c, uint32_t i, struct dp_caps_entry *ret);
void dp_caps_stats(const struct dp_caps *c, struct dp_caps_stats *ret);

#endif
