/* SPDX-License-Identifier: MIT */
/* Port set-up (see port.h). */
#include <errno.h>
#include <string.h>

#include <rte_ethdev.h>

#include "port.h"

#define RX_DESC 1024
#define TX_DESC 1024

int dp_port_start(uint16_t port, uint16_t nq, struct rte_mempool *pool, uint8_t ret_mac[6])
{
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf;
	struct rte_ether_addr mac;
	int r;
	if (!rte_eth_dev_is_valid_port(port))
		return -ENODEV;
	r = rte_eth_dev_info_get(port, &info);
	if (r < 0)
		return r;
	if (nq > info.max_rx_queues || nq > info.max_tx_queues)
		return -EINVAL;
	memset(&conf, 0, sizeof(conf));
	if (nq > 1) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf =
			RTE_ETH_RSS_IP & info.flow_type_rss_offloads;
	}
	r = rte_eth_dev_configure(port, nq, nq, &conf);
	if (r < 0)
		return r;
	uint16_t nrx = RX_DESC, ntx = TX_DESC;
	r = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nrx, &ntx);
	if (r < 0)
		return r;
	int socket = rte_eth_dev_socket_id(port);
	if (socket < 0)
		socket = 0;
	for (uint16_t q = 0; q < nq; q++) {
		r = rte_eth_rx_queue_setup(port, q, nrx, (unsigned)socket, NULL, pool);
		if (r < 0)
			return r;
		r = rte_eth_tx_queue_setup(port, q, ntx, (unsigned)socket, NULL);
		if (r < 0)
			return r;
	}
	r = rte_eth_dev_start(port);
	if (r < 0)
		return r;
	/* A port that cannot be promiscuous (a vdev that always is) is fine. */
	rte_eth_promiscuous_enable(port);
	r = rte_eth_macaddr_get(port, &mac);
	if (r < 0) {
		rte_eth_dev_stop(port);
		return r;
	}
	memcpy(ret_mac, mac.addr_bytes, 6);
	return 0;
}

void dp_port_stop(uint16_t port)
{
	if (!rte_eth_dev_is_valid_port(port))
		return;
	rte_eth_dev_stop(port);
	rte_eth_dev_close(port);
}
