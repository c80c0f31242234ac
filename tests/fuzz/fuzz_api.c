/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: one API request line from anyone who can connect to
 * gwd's socket (control/api_msg.c).  Every input is parsed; a refusal must
 * carry a code and a reason and make a one-line reply; an accepted request
 * must keep the parser's promises (a known command, exactly one of text
 * and path for an apply, ranges held) and make a one-line reply too.
 * Everything is freed, so a leak is reported as one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One line, ending in its only '\n'. */
static void check_line(char *line)
{
	if (!line)
		return; /* out of memory */
	size_t n = strlen(line);
	if (n == 0 || line[n - 1] != '\n' || memchr(line, '\n', n - 1))
		abort();
	free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gwd_api_req r;
	struct gwd_api_err e;
	if (gwd_api_parse((const char *)data, size, &r, &e) < 0) {
		if (!e.code || !e.message[0] || strlen(e.message) >= sizeof(e.message))
			abort();
		check_line(gwd_api_reply_err(e.have_id, e.id, e.code, e.message, NULL));
		return 0;
	}
	if (r.cmd >= GWD_CMD_COUNT || !r.root)
		abort();
	if (r.cmd == GWD_CMD_POLICY_APPLY) {
		if (!r.text == !r.path)
			abort();
		if (r.path && (r.path[0] != '/'))
			abort();
		if (r.confirm_seconds > GWD_API_MAX_CONFIRM || (r.dry_run && r.confirm_seconds))
			abort();
		if (r.message && strlen(r.message) > GWD_API_MAX_MESSAGE)
			abort();
	}
	json_t *echo = json_pack("{s:s,s:b}", "cmd", gwd_cmd_name(r.cmd), "changes",
				 gwd_cmd_changes(r.cmd));
	check_line(gwd_api_reply_ok(r.id, echo));
	gwd_api_req_free(&r);
	return 0;
}
