/* SPDX-License-Identifier: MIT */
/* What every engine shares: its state text. */
#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "log.h"

void gwd_engine_vset_state(char *state, size_t cap, const char *engine, const char *fmt,
			   va_list ap)
{
	char s[512];
	vsnprintf(s, sizeof(s) < cap ? sizeof(s) : cap, fmt, ap);
	if (strcmp(s, state)) {
		char q[sizeof(s) + 40];
		gwd_log("engine_state", "engine=%s state=%s", engine, gwd_log_value(q, sizeof(q), s));
		snprintf(state, cap, "%s", s);
	}
}
