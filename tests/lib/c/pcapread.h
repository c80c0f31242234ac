/* SPDX-License-Identifier: MIT */
/*
 * Ethernet frames of a capture file (pcap or pcapng), one callback each.
 * Its own file because pcap.h and linux/bpf.h both define struct bpf_insn.
 */
#ifndef GW_TEST_PCAPREAD_H
#define GW_TEST_PCAPREAD_H

#include <stddef.h>
#include <stdint.h>

/* 1: the file is Ethernet and fn saw every frame; 0: not Ethernet (fn
 * never called); -1: the file cannot be read (err says why). */
int pcap_each_ether(const char *path, void (*fn)(const uint8_t *frame, size_t len, void *arg),
		    void *arg, char *err, size_t errlen);

#endif
