/* SPDX-License-Identifier: MIT */
/*
 * gwd's log: gw's log line (policy/logline.h), one `key=value` line per
 * event on stderr, e.g.
 *   t=2026-11-27T05:10:00Z event=apply gen=3 user=root msg="new kids rule"
 * gwd_log and gwd_log_value are gw_log and gw_log_value under gwd's prefix.
 */
#ifndef GW_CONTROL_LOG_H
#define GW_CONTROL_LOG_H

#include "logline.h"

#define gwd_log gw_log
#define gwd_log_value gw_log_value

#endif
