/* SPDX-License-Identifier: MIT */
/*
 * The DPDK engine: gwd as a client of gw-dataplane's control socket
 * (dataplane/proto.h).  No DPDK is linked: only the protocol.
 *
 *   prepare: the image fits the dataplane (size, rule count) and the
 *            socket answers HEALTH; a copy is kept.
 *   commit:  LOAD_IMAGE, then IMAGE_INFO must show the image's CRC.
 *            The first prepare after start adopts instead when IMAGE_INFO
 *            already shows exactly that image (a restarted gwd reloads
 *            nothing, so forwarding has no gap).
 *   set_active: SET_ACTIVE;  set_active_for: SET_ACTIVE_FOR (gwd renews it
 *   every minute, so the pin lapses within its lifetime once gwd is gone);
 *   set_domains: DOMAIN_SET.
 * Every request has a deadline (about a second without progress; a
 * LOAD_IMAGE reply may take a few while the dataplane builds its
 * classifier), so the one loop never hangs on a dead dataplane; the engine
 * is then "degraded: no answer from PATH".
 *
 * On the loop: HEALTH every second (a restarted dataplane, seen as its
 * generation or uptime going back, a lost connection coming back, or a
 * different image, asks gwd to push its state again through e->resync),
 * and EVENTS every 200 ms into the flow collector.
 */
#ifndef GW_CONTROL_ENGINE_DPDK_H
#define GW_CONTROL_ENGINE_DPDK_H

#include <event2/event.h>

#include "engine.h"

struct gwd_flows;

/* flows may be NULL (events are then drained and dropped). */
int gwd_engine_dpdk_new(struct event_base *base, const char *path, struct gwd_flows *flows,
			struct gwd_engine **ret);

#endif
