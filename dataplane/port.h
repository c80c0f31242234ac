/* SPDX-License-Identifier: MIT */
/* Bringing a DPDK port up with n RX/TX queue pairs, and down again. */
#ifndef GW_DATAPLANE_PORT_H
#define GW_DATAPLANE_PORT_H

#include <stdint.h>

#include <rte_mempool.h>

/* -errno (-ENODEV for a port id that does not exist). */
int dp_port_start(uint16_t port, uint16_t nqueues, struct rte_mempool *pool,
		  uint8_t ret_mac[6]);
/* Stops (net_pcap flushes and closes its output here) and closes. */
void dp_port_stop(uint16_t port);

#endif
