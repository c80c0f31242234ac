/* SPDX-License-Identifier: MIT */
/* Ethernet frames of a capture file (see pcapread.h). */
#include <pcap/pcap.h>
#include <stdio.h>

#include "pcapread.h"

int pcap_each_ether(const char *path, void (*fn)(const uint8_t *frame, size_t len, void *arg),
		    void *arg, char *err, size_t errlen)
{
	char perr[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline(path, perr);
	if (!p) {
		snprintf(err, errlen, "%s", perr);
		return -1;
	}
	int r = 0;
	if (pcap_datalink(p) == DLT_EN10MB) {
		struct pcap_pkthdr *h;
		const u_char *data;
		int n;
		/* A capture cut short mid-record ends the walk, as in tcpdump;
		 * the frames before it count. */
		while ((n = pcap_next_ex(p, &h, &data)) == 1)
			fn(data, h->caplen, arg);
		r = 1;
	}
	pcap_close(p);
	return r;
}
