/* SPDX-License-Identifier: MIT */
/*
 * A policy's diagnostics as the gwd API carries them (docs/api.md,
 * policy_invalid and an apply's warnings) and as `gwctl policy check
 * --json` prints them (docs/gwctl.md): the one writer of those objects,
 * linked by gwd and by gwctl (libgwapi: jansson and libgwpolicy, no
 * libevent).
 *
 *   {"file":"home.gw","line":124,"col":31,"len":4,"severity":"error",
 *    "message":"unknown group 'kidz'","hint":"did you mean 'kids'?",
 *    "note":{"file":...,"line":...,"col":...,"len":...,"message":...}}
 *
 * "note" is there only when the diagnostic has one; "hint" is null when
 * it has none.
 */
#ifndef GW_CONTROL_API_DIAG_H
#define GW_CONTROL_API_DIAG_H

#include <jansson.h>

#include "policy.h"

/* Every diagnostic of u, in order, as a new JSON array; NULL without
 * memory. */
json_t *gwd_api_diags_json(const struct pol_unit *u);

#endif
