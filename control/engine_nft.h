/* SPDX-License-Identifier: MIT */
/*
 * The nft engine: the policy on the forward path of the kernel ports
 * gwd.conf names in nft_ports, as nftables objects in gwd's table
 * (nft_policy.h has the shape).
 *
 *   new:      opens the table; adopts the live build a dead gwd left when
 *             its record (the hook rule's comment) names a build the table
 *             has and a generation gwd's history holds (STATE_DIR/history/,
 *             its image checked against the recorded hash; gwd writes it
 *             durably before any commit): then the engine starts at that
 *             generation and nothing is loaded again.  The engine writes
 *             no file.  Builds no hook points at are removed.
 *   prepare:  the generation's build, one batch beside the live one (which
 *             keeps deciding); the kernel may refuse it: nothing changed.
 *   stage_domains: the learned addresses into the prepared build's sets.
 *   commit:   one batch points the hook at the prepared build (and records
 *             it); the old build is removed after the apply answered.
 *   abort:    the prepared build is removed.
 *   set_active: the schedule's active set and a new epoch, one batch.
 *   set_domains: the live build's domain sets, each address with its TTL.
 * Log rules report through NFLOG group nflog_group: each becomes a flow
 * event (engine "nft", log) and a log line nft_log.  rule_counts: the
 * packets each rule decided (the verdict map's element counters).
 */
#ifndef GW_CONTROL_ENGINE_NFT_H
#define GW_CONTROL_ENGINE_NFT_H

#include <event2/event.h>

#include "config.h"
#include "engine.h"

struct gwd_flows;

/* base, flows: may be NULL (tests): no log listener, no periodic checks.
 * -errno with the reason in err. */
int gwd_engine_nft_new(struct event_base *base, const struct gwd_config *cfg,
		       struct gwd_flows *flows, struct gwd_engine **ret, char *err, size_t errlen);

#endif
