/* SPDX-License-Identifier: MIT */
/*
 * gwtop's screen (ncursesw): the views, the keys, the drawing.  The state
 * of what is shown lives here; what gwd said lives in the model.
 */
#ifndef GW_TOOLS_GWTOP_UI_H
#define GW_TOOLS_GWTOP_UI_H

#include <stdbool.h>
#include <stdint.h>

#include "fetch.h"
#include "model.h"

enum top_view { TOP_VIEW_DEVICES, TOP_VIEW_FLOWS, TOP_VIEW_BLOCKS };

struct top_ui {
	enum top_view view;
	bool help, sort_menu, editing, paused, totals, color;
	size_t sel[3], top[3];     /* selected row and first row shown, per view */
	char sel_key[TOP_NAME];    /* the selected device, by key */
	char flows_of[TOP_NAME];   /* the device whose flows are shown (key) */
	char flows_arg[TOP_NAME];  /* its request argument (name or MAC) */
	char filter[2][128];       /* devices, flows */
	char edit[128];            /* the filter being typed */
	int dev_sort, flow_sort, menu_pos;
	bool reverse[2];
	char msg[256];
	uint64_t msg_until_ms;
	bool quit;
	bool want_fetch;           /* a key asks for fresh data now */
	/* set by main.c before each draw */
	struct top_model *m;
	struct top_fetch *f;
	double delay_s;
	uint64_t now_ms;
	bool was_up;
};

/* Starts curses (colours unless NO_COLOR is set or the terminal has none). */
int top_ui_start(struct top_ui *u);
void top_ui_stop(void);
void top_ui_draw(struct top_ui *u);
/* Every key waiting; true if one was read. */
bool top_ui_keys(struct top_ui *u);
void top_ui_say(struct top_ui *u, uint64_t for_ms, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
