/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: a netlink message as the nft engine reads it from its
 * NFLOG group (control/nflog.c, gwd_nflog_parse).  Input: the message,
 * nlmsghdr first.  Promises checked:
 *   - anything else than a whole NFLOG packet message with a gw prefix and
 *     a payload is -EINVAL, and *ret is untouched then;
 *   - an accepted record has family 4 or 6, an action of the policy
 *     language, ports only for TCP and UDP, and a length within the input;
 *   - parsing is a function of the bytes (the same input twice, the same
 *     record).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "nflog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of its own size, so ASan sees any read past the end. */
	uint8_t *msg = malloc(size ? size : 1);
	if (!msg)
		return 0;
	memcpy(msg, data, size);
	struct gwd_nflog_rec a, b;
	memset(&a, 0x5a, sizeof(a));
	memset(&b, 0x5a, sizeof(b));
	struct gwd_nflog_rec untouched;
	memcpy(&untouched, &a, sizeof(a));
	int r = gwd_nflog_parse(msg, size, &a);
	int r2 = gwd_nflog_parse(msg, size, &b);
	if (r != r2)
		abort();
	if (r < 0) {
		if (r != -EINVAL || memcmp(&a, &untouched, sizeof(a)))
			abort();
	} else {
		if (memcmp(&a, &b, sizeof(a)))
			abort();
		if (a.family != 4 && a.family != 6)
			abort();
		if (a.action >= POL_ACTION_COUNT)
			abort();
		if ((a.sport || a.dport) && a.proto != IPPROTO_TCP && a.proto != IPPROTO_UDP)
			abort();
		if (a.len > size)
			abort();
	}
	free(msg);
	return 0;
}
