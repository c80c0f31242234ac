/* SPDX-License-Identifier: MIT */
/*
 * gwtop's screen (ui.h).  Laid out for 80x24 first (what an ssh session
 * to a router gives): a three-line header, the table, a pane of the
 * latest blocks when there is room, a message line and the function-key
 * bar.  Wider terminals give the flexible columns (names, peers, rules)
 * the room.  Everything shown from gwd is printable ASCII (model.c).
 */
#include <curses.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "table.h"
#include "ui.h"

enum { C_HEAD = 1, C_BAD, C_GOOD, C_WARN, C_BAR, C_KEY };

static bool colour;

/* The rows shown, kept between draws (dev_view, flow_view below). */
struct view_cache {
	size_t *v, n;
	bool valid;
	uint64_t stamp;
	const void *rows;
	char filter[128];
	int sort;
	bool reverse, totals;
};

static struct view_cache cache[2]; /* devices, flows */


/* Attributes as int, the type attron takes. */
#define REV ((int)A_REVERSE)
#define BOLD ((int)A_BOLD)

static int attr_of(int pair, int fallback)
{
	return colour ? (int)COLOR_PAIR(pair) : fallback;
}

int top_ui_start(struct top_ui *u)
{
	setlocale(LC_ALL, "");
	if (!initscr())
		return -1;
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	const char *nc = getenv("NO_COLOR");
	colour = has_colors() && !(nc && *nc);
	if (colour && start_color() == OK) {
		use_default_colors();
		init_pair(C_HEAD, COLOR_BLACK, COLOR_CYAN);
		init_pair(C_BAD, COLOR_RED, -1);
		init_pair(C_GOOD, COLOR_GREEN, -1);
		init_pair(C_WARN, COLOR_YELLOW, -1);
		init_pair(C_BAR, COLOR_BLACK, COLOR_CYAN);
		init_pair(C_KEY, COLOR_WHITE, COLOR_BLACK);
	} else {
		colour = false;
	}
	u->color = colour;
	return 0;
}

void top_ui_stop(void)
{
	endwin();
	for (int i = 0; i < 2; i++) {
		free(cache[i].v);
		cache[i] = (struct view_cache){ 0 };
	}
}

void top_ui_say(struct top_ui *u, uint64_t for_ms, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(u->msg, sizeof(u->msg), fmt, ap);
	va_end(ap);
	u->msg_until_ms = u->now_ms + for_ms;
}

/* ---- the rows shown ------------------------------------------------------
 * A view (filtered, sorted indexes) is made again only when the model or
 * the choices changed: the screen is drawn after every key and event, and
 * sorting 4096 devices each time would be most of gwtop's work. */

static bool cache_fresh(const struct view_cache *c, uint64_t stamp, const void *rows,
			const char *filter, int sort, bool reverse, bool totals)
{
	return c->valid && c->stamp == stamp && c->rows == rows && !strcmp(c->filter, filter) &&
	       c->sort == sort && c->reverse == reverse && c->totals == totals;
}

static const size_t *dev_view(struct top_ui *u, size_t *ret_n)
{
	struct view_cache *c = &cache[0];
	if (!cache_fresh(c, u->m->tick, u->m->devs, u->filter[0], u->dev_sort, u->reverse[0],
			 u->totals)) {
		free(c->v);
		c->v = NULL;
		c->n = 0;
		c->valid = top_model_dev_view(u->m, u->filter[0], u->dev_sort, u->reverse[0],
					      u->totals, &c->v, &c->n) == 0;
		c->stamp = u->m->tick;
		c->rows = u->m->devs;
		snprintf(c->filter, sizeof(c->filter), "%s", u->filter[0]);
		c->sort = u->dev_sort;
		c->reverse = u->reverse[0];
		c->totals = u->totals;
	}
	*ret_n = c->valid ? c->n : 0;
	return c->v;
}

static const size_t *flow_view(struct top_ui *u, size_t *ret_n)
{
	struct view_cache *c = &cache[1];
	if (!cache_fresh(c, u->m->flows_tick, u->m->flows, u->filter[1], u->flow_sort,
			 u->reverse[1], u->totals)) {
		free(c->v);
		c->v = NULL;
		c->n = 0;
		c->valid = top_model_flow_view(u->m, u->filter[1], u->flow_sort, u->reverse[1],
					       u->totals, &c->v, &c->n) == 0;
		c->stamp = u->m->flows_tick;
		c->rows = u->m->flows;
		snprintf(c->filter, sizeof(c->filter), "%s", u->filter[1]);
		c->sort = u->flow_sort;
		c->reverse = u->reverse[1];
		c->totals = u->totals;
	}
	*ret_n = c->valid ? c->n : 0;
	return c->v;
}

/* ---- small drawing helpers ---------------------------------------------- */

/* s at (y, x), at most w columns, padded with spaces to w. */
static void put(int y, int x, int w, const char *s)
{
	if (w <= 0 || y < 0 || y >= LINES || x >= COLS)
		return;
	if (x + w > COLS)
		w = COLS - x;
	int n = (int)strlen(s);
	mvaddnstr(y, x, s, n < w ? n : w);
	for (int i = n; i < w; i++)
		addch(' ');
}

/* Right-aligned in w columns. */
static void put_r(int y, int x, int w, const char *s)
{
	int n = (int)strlen(s);
	if (n >= w) {
		put(y, x, w, s);
		return;
	}
	char buf[256];
	snprintf(buf, sizeof(buf), "%*s", w, s);
	put(y, x, w, buf);
}

static void line_fill(int y, int attr)
{
	attron(attr);
	move(y, 0);
	for (int i = 0; i < COLS; i++)
		addch(' ');
	attroff(attr);
}

static void fmt_ms_left(char *buf, size_t n, int64_t s)
{
	if (s < 0)
		s = 0;
	if (s >= 3600)
		snprintf(buf, n, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
	else if (s >= 60)
		snprintf(buf, n, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
	else
		snprintf(buf, n, "%llds", (long long)s);
}

/* ---- header --------------------------------------------------------------- */

static void draw_header(struct top_ui *u)
{
	const struct top_status *s = &u->m->status;
	char buf[700], when[16];
	time_t t = time(NULL);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	if (s->known && s->generation)
		snprintf(buf, sizeof(buf), " gwtop  policy generation %llu (%.15s)%s",
			 (unsigned long long)s->generation,
			 strncmp(s->hash, "sha256:", 7) ? s->hash : s->hash + 7,
			 u->paused ? "  PAUSED" : "");
	else if (s->known)
		snprintf(buf, sizeof(buf), " gwtop  no policy applied yet%s",
			 u->paused ? "  PAUSED" : "");
	else
		snprintf(buf, sizeof(buf), " gwtop%s", u->paused ? "  PAUSED" : "");
	line_fill(0, attr_of(C_HEAD, REV));
	attron(attr_of(C_HEAD, REV));
	put(0, 0, COLS - 9, buf);
	put_r(0, COLS - 9, 9, when);
	attroff(attr_of(C_HEAD, REV));

	/* Line 1: gwd unreachable, or the engines. */
	move(1, 0);
	clrtoeol();
	if (!u->f->up) {
		attron(attr_of(C_BAD, BOLD) | BOLD);
		snprintf(buf, sizeof(buf), " gwd not answering: %s; trying again every %.3gs",
			 u->f->err[0] ? u->f->err : "not connected yet", u->delay_s);
		put(1, 0, COLS, buf);
		attroff(attr_of(C_BAD, BOLD) | BOLD);
	} else {
		int x = 0;
		put(1, x, 9, " engines:");
		x += 9;
		for (unsigned i = 0; i < s->nengines && x < COLS; i++) {
			const struct top_engine *e = &s->engines[i];
			bool ok = !strcmp(e->state, "ok");
			snprintf(buf, sizeof(buf), " %s ", e->name);
			put(1, x, (int)strlen(buf), buf);
			x += (int)strlen(buf);
			int a = ok ? attr_of(C_GOOD, 0) : attr_of(C_BAD, BOLD) | BOLD;
			attron(a);
			snprintf(buf, sizeof(buf), "%s", e->state);
			if (!ok && e->generation != s->generation)
				snprintf(buf, sizeof(buf), "%s (gen %llu)", e->state,
					 (unsigned long long)e->generation);
			int w = (int)strlen(buf);
			if (x + w > COLS)
				w = COLS - x;
			put(1, x, w, buf);
			attroff(a);
			x += w + 1;
		}
	}

	/* Line 2: a pending --confirm, else the gateway's totals. */
	move(2, 0);
	clrtoeol();
	if (s->pending) {
		char left[32];
		int64_t gone = (int64_t)((u->now_ms - s->fetched_ms) / 1000);
		fmt_ms_left(left, sizeof(left), s->seconds_left - gone);
		snprintf(buf, sizeof(buf),
			 " pending: generation %llu returns to %llu in %s unless confirmed "
			 "(gwctl policy confirm)", (unsigned long long)s->pending_gen,
			 (unsigned long long)s->pending_prev, left);
		attron(attr_of(C_WARN, BOLD) | BOLD);
		put(2, 0, COLS, buf);
		attroff(attr_of(C_WARN, BOLD) | BOLD);
	} else {
		char up[24], down[24];
		uint64_t flows = 0, out = 0, in = 0;
		for (size_t i = 0; i < u->m->ndevs; i++) {
			flows += u->m->devs[i].flows_live;
			out += u->m->devs[i].bytes_out;
			in += u->m->devs[i].bytes_in;
		}
		if (u->totals) {
			gwc_fmt_size(up, sizeof(up), out);
			gwc_fmt_size(down, sizeof(down), in);
		} else {
			top_fmt_rate(up, sizeof(up), u->m->up_bps);
			top_fmt_rate(down, sizeof(down), u->m->down_bps);
		}
		snprintf(buf, sizeof(buf),
			 " %s up %s down %s   devices %zu   flows %llu   blocked/1m %llu",
			 u->totals ? "total" : "rate", up, down, u->m->ndevs,
			 (unsigned long long)flows, (unsigned long long)u->m->blocked_1m);
		put(2, 0, COLS, buf);
	}
}

/* ---- tables --------------------------------------------------------------- */

struct col {
	const char *title;
	int w;
	bool right;
};

/* Widths for COLS: fixed columns as given, the flexible one (w == 0)
 * takes what is left (at least min). */
static void layout(struct col *c, int n, int min_flex)
{
	int fixed = 0, flex = -1;
	for (int i = 0; i < n; i++) {
		if (c[i].w)
			fixed += c[i].w + 1;
		else
			flex = i;
	}
	if (flex >= 0) {
		c[flex].w = COLS - fixed;
		if (c[flex].w < min_flex)
			c[flex].w = min_flex;
	}
}

static void draw_cols_title(int y, const struct col *c, int n, int sorted)
{
	line_fill(y, attr_of(C_HEAD, REV));
	attron(attr_of(C_HEAD, REV));
	int x = 0;
	for (int i = 0; i < n && x < COLS; i++) {
		if (i == sorted)
			attron(A_BOLD | A_UNDERLINE);
		if (c[i].right)
			put_r(y, x, c[i].w, c[i].title);
		else
			put(y, x, c[i].w, c[i].title);
		if (i == sorted)
			attroff(A_BOLD | A_UNDERLINE);
		x += c[i].w + 1;
	}
	attroff(attr_of(C_HEAD, REV));
}

static void draw_row(int y, const struct col *c, int n, const char *const *cells, int attr)
{
	if (attr)
		line_fill(y, attr);
	attron(attr);
	int x = 0;
	for (int i = 0; i < n && x < COLS; i++) {
		if (c[i].right)
			put_r(y, x, c[i].w, cells[i]);
		else
			put(y, x, c[i].w, cells[i]);
		x += c[i].w + 1;
	}
	attroff(attr);
}

/* Keeps the selection within n rows and on screen (h rows shown). */
static void clamp(struct top_ui *u, int v, size_t n, int h)
{
	if (n == 0) {
		u->sel[v] = u->top[v] = 0;
		return;
	}
	if (u->sel[v] >= n)
		u->sel[v] = n - 1;
	if (h < 1)
		h = 1;
	if (u->sel[v] < u->top[v])
		u->top[v] = u->sel[v];
	if (u->sel[v] >= u->top[v] + (size_t)h)
		u->top[v] = u->sel[v] - (size_t)h + 1;
	if (u->top[v] + (size_t)h > n)
		u->top[v] = n > (size_t)h ? n - (size_t)h : 0;
}

static int rows_for_blocks(void)
{
	return LINES >= 20 ? 4 : LINES >= 16 ? 2 : 0;
}

/* Which devices' column the sort key shows under. */
static int dev_sort_col(int sort, bool wide)
{
	static const int cols[TOP_DEV_SORTS] = {
		[TOP_SORT_RATE] = -1, [TOP_SORT_NAME] = 0, [TOP_SORT_OWNER] = 1,
		[TOP_SORT_UP] = 3, [TOP_SORT_DOWN] = 4, [TOP_SORT_FLOWS] = 5,
		[TOP_SORT_BLOCKED] = 6, [TOP_SORT_TOTAL] = -1,
	};
	int c = cols[sort];
	return c >= 3 && wide ? c + 1 : c;
}

static void draw_devices(struct top_ui *u, int y0, int y1)
{
	bool wide = COLS >= 100;
	struct col c[8];
	int n = 0;
	c[n++] = (struct col){ "NAME", 0, false };
	c[n++] = (struct col){ "OWNER", 10, false };
	c[n++] = (struct col){ "ADDRESS", 15, false };
	if (wide)
		c[n++] = (struct col){ "MAC", 17, false };
	c[n++] = (struct col){ u->totals ? "OUT" : "UP", 10, true };
	c[n++] = (struct col){ u->totals ? "IN" : "DOWN", 10, true };
	c[n++] = (struct col){ "FLOWS", 6, true };
	c[n++] = (struct col){ "BLK/1M", 6, true };
	layout(c, n, 12);
	draw_cols_title(y0, c, n, dev_sort_col(u->dev_sort, wide));
	size_t nv = 0;
	const size_t *v = dev_view(u, &nv);
	/* Keep the selected device selected as the order changes. */
	for (size_t i = 0; u->sel_key[0] && i < nv; i++)
		if (!strcmp(u->m->devs[v[i]].key, u->sel_key)) {
			u->sel[TOP_VIEW_DEVICES] = i;
			break;
		}
	int h = y1 - y0 - 1;
	clamp(u, TOP_VIEW_DEVICES, nv, h);
	if (nv)
		snprintf(u->sel_key, sizeof(u->sel_key), "%s", u->m->devs[v[u->sel[0]]].key);
	for (int r = 0; r < h; r++) {
		size_t i = u->top[0] + (size_t)r;
		int y = y0 + 1 + r;
		move(y, 0);
		clrtoeol();
		if (i >= nv)
			continue;
		const struct top_dev *d = &u->m->devs[v[i]];
		char name[80], up[24], down[24], flows[24], blk[24], addr[64];
		/* A device the policy does not name: its MAC, and "(new)"
		 * where the owner would be. */
		snprintf(name, sizeof(name), "%s", d->is_new ? d->mac : d->name);
		if (d->addr4[0])
			snprintf(addr, sizeof(addr), "%s", d->addr4);
		else
			snprintf(addr, sizeof(addr), "%s", d->addr6[0] ? d->addr6 : "-");
		if (u->totals) {
			gwc_fmt_size(up, sizeof(up), d->bytes_out);
			gwc_fmt_size(down, sizeof(down), d->bytes_in);
		} else {
			top_fmt_rate(up, sizeof(up), d->up_bps);
			top_fmt_rate(down, sizeof(down), d->down_bps);
		}
		snprintf(flows, sizeof(flows), "%llu", (unsigned long long)d->flows_live);
		snprintf(blk, sizeof(blk), "%llu", (unsigned long long)d->blocked_1m);
		const char *cells[8];
		int k = 0;
		cells[k++] = name;
		cells[k++] = d->is_new ? "(new)" : d->owner[0] ? d->owner : "-";
		cells[k++] = addr;
		if (wide)
			cells[k++] = d->mac;
		cells[k++] = up;
		cells[k++] = down;
		cells[k++] = flows;
		cells[k++] = blk;
		int attr = i == u->sel[0] ? REV : d->blocked_1m ? attr_of(C_BAD, 0) : 0;
		draw_row(y, c, n, cells, attr);
	}
}

static void peer_of(const struct top_flow *f, char *buf, size_t n)
{
	snprintf(buf, n, "%s", f->domain[0] ? f->domain : f->dst);
}

static void draw_flows(struct top_ui *u, int y0, int y1)
{
	/* At 80 columns: peer, port, rates, age, verdict, rule; the engine
	 * from 90, the address beside a domain from 110. */
	bool eng = COLS >= 90, wide = COLS >= 110;
	struct col c[10];
	int n = 0;
	c[n++] = (struct col){ "PEER", 0, false };
	c[n++] = (struct col){ "PORT", 9, false };
	c[n++] = (struct col){ u->totals ? "OUT" : "UP", 9, true };
	c[n++] = (struct col){ u->totals ? "IN" : "DOWN", 9, true };
	c[n++] = (struct col){ "AGE", 6, true };
	c[n++] = (struct col){ "VERDICT", 7, false };
	c[n++] = (struct col){ "RULE", wide ? 22 : 16, false };
	if (eng)
		c[n++] = (struct col){ "ENGINE", 9, false };
	if (wide)
		c[n++] = (struct col){ "ADDRESS", 15, false };
	layout(c, n, 10);
	static const int sort_col[TOP_FLOW_SORTS] = {
		[TOP_FSORT_RATE] = -1, [TOP_FSORT_PEER] = 0, [TOP_FSORT_PORT] = 1,
		[TOP_FSORT_UP] = 2, [TOP_FSORT_DOWN] = 3, [TOP_FSORT_TOTAL] = -1,
		[TOP_FSORT_AGE] = 4, [TOP_FSORT_VERDICT] = 5, [TOP_FSORT_RULE] = 6,
	};
	draw_cols_title(y0, c, n, sort_col[u->flow_sort]);
	size_t nv = 0;
	const size_t *v = NULL;
	bool mine = !strcmp(u->m->flows_of, u->flows_of);
	if (mine)
		v = flow_view(u, &nv);
	int h = y1 - y0 - 1;
	clamp(u, TOP_VIEW_FLOWS, nv, h);
	for (int r = 0; r < h; r++) {
		size_t i = u->top[1] + (size_t)r;
		int y = y0 + 1 + r;
		move(y, 0);
		clrtoeol();
		if (i >= nv)
			continue;
		const struct top_flow *f = &u->m->flows[v[i]];
		char peer[300], port[32], up[24], down[24], age[24];
		peer_of(f, peer, sizeof(peer));
		if (!strcmp(f->proto, "tcp") || !strcmp(f->proto, "udp"))
			snprintf(port, sizeof(port), "%u/%s", f->dport, f->proto);
		else
			snprintf(port, sizeof(port), "%s", f->proto);
		if (u->totals) {
			gwc_fmt_size(up, sizeof(up), f->bytes_out);
			gwc_fmt_size(down, sizeof(down), f->bytes_in);
		} else {
			top_fmt_rate(up, sizeof(up), f->up_bps);
			top_fmt_rate(down, sizeof(down), f->down_bps);
		}
		gwc_fmt_age(age, sizeof(age), f->age_ms);
		const char *cells[10] = { peer, port, up, down, age, f->verdict, f->rule,
					  eng ? f->engine : f->dst, f->dst };
		bool blocked = strcmp(f->verdict, "allow") != 0;
		int attr = i == u->sel[1] ? REV : blocked ? attr_of(C_BAD, 0) : 0;
		draw_row(y, c, n, cells, attr);
	}
	if (!mine || !nv) {
		attron(A_DIM);
		put(y0 + 1, 1, COLS - 2, !mine ? "(fetching its flows)" : "(no live flows)");
		attroff(A_DIM);
	}
}

static void block_cells(const struct top_block *b, char *when, size_t wn, char *port,
			size_t pn)
{
	time_t t = (time_t)(b->time_ms / 1000);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(when, wn, "%H:%M:%S", &tm);
	if (!strcmp(b->proto, "tcp") || !strcmp(b->proto, "udp"))
		snprintf(port, pn, "%u/%s", b->dport, b->proto);
	else
		snprintf(port, pn, "%s", b->proto);
}

/* The latest blocks, newest first: rows y0+1.. y1-1 (y0: the title). */
static void draw_blocks(struct top_ui *u, int y0, int y1, bool full)
{
	/* At 80 columns without the engine; from 100 with it. */
	bool eng = COLS >= 100;
	struct col c[7] = {
		{ "TIME", 8, false }, { "DEVICE", 17, false }, { "PEER", 0, false },
		{ "PORT", 9, false }, { "VERDICT", 7, false }, { "RULE", eng ? 22 : 16, false },
		{ "ENGINE", 9, false },
	};
	int nc = eng ? 7 : 6;
	layout(c, nc, 10);
	if (full) {
		draw_cols_title(y0, c, nc, -1);
	} else {
		line_fill(y0, BOLD);
		attron(BOLD);
		put(y0, 0, COLS, " latest blocks (F5 for all)");
		attroff(BOLD);
	}
	int h = y1 - y0 - 1;
	size_t n = u->m->nblocks;
	if (full)
		clamp(u, TOP_VIEW_BLOCKS, n, h);
	for (int r = 0; r < h; r++) {
		size_t i = (full ? u->top[2] : 0) + (size_t)r;
		int y = y0 + 1 + r;
		move(y, 0);
		clrtoeol();
		if (i >= n) {
			if (i == 0) {
				attron(A_DIM);
				put(y, 1, COLS - 2, "(none since gwtop started)");
				attroff(A_DIM);
			}
			continue;
		}
		const struct top_block *b =
			&u->m->blocks[(u->m->block_next + TOP_BLOCKS - 1 - i) % TOP_BLOCKS];
		char when[16], port[32];
		block_cells(b, when, sizeof(when), port, sizeof(port));
		const char *cells[7] = { when, b->device, b->peer, port, b->verdict, b->rule,
					 b->engine };
		int attr = full && i == u->sel[2] ? REV : attr_of(C_BAD, 0);
		draw_row(y, c, nc, cells, attr);
	}
}

/* ---- bar, help, sort menu ------------------------------------------------- */

static void draw_bar(struct top_ui *u)
{
	static const struct {
		const char *key, *label;
	} keys[] = {
		{ "F1", "Help" }, { "F3", "Filter" }, { "F5", "Blocks" }, { "F6", "SortBy" },
		{ "p", "Pause" }, { "t", "Totals" }, { "F10", "Quit" },
	};
	int y = LINES - 1;
	move(y, 0);
	clrtoeol();
	int x = 0;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]) && x < COLS; i++) {
		int kw = (int)strlen(keys[i].key), lw = (int)strlen(keys[i].label) + 1;
		attron(attr_of(C_KEY, BOLD));
		put(y, x, kw, keys[i].key);
		attroff(attr_of(C_KEY, BOLD));
		x += kw;
		attron(attr_of(C_BAR, REV));
		put(y, x, lw, keys[i].label);
		attroff(attr_of(C_BAR, REV));
		x += lw;
	}
	if (x < COLS) {
		attron(attr_of(C_BAR, REV));
		put(y, x, COLS - x, u->view == TOP_VIEW_DEVICES ? " Enter:flows" : " Esc:back");
		attroff(attr_of(C_BAR, REV));
	}
	/* The line above: the filter being typed, or a message. */
	int m = LINES - 2;
	move(m, 0);
	clrtoeol();
	int f = u->view == TOP_VIEW_FLOWS;
	char buf[300];
	if (u->editing) {
		snprintf(buf, sizeof(buf), " filter: %s_   (Enter: keep, Esc: clear)", u->edit);
		attron(A_BOLD);
		put(m, 0, COLS, buf);
		attroff(A_BOLD);
	} else if (u->msg[0] && u->now_ms < u->msg_until_ms) {
		snprintf(buf, sizeof(buf), " %s", u->msg);
		put(m, 0, COLS, buf);
	} else if (u->view != TOP_VIEW_BLOCKS && u->filter[f][0]) {
		snprintf(buf, sizeof(buf), " filter: %s   (/ to change, Esc to clear)", u->filter[f]);
		put(m, 0, COLS, buf);
	}
}

static void draw_help(void)
{
	static const char *const text[] = {
		"gwtop: what the home's devices do, live (docs/gwtop.md)",
		"",
		"  Up/Down, j/k     move          PgUp/PgDn, Home/End (g/G)",
		"  Enter            a device's flows      Esc, Backspace, h   back",
		"  /  or F3         filter (name, owner, address, MAC; peer, rule, port)",
		"  s  or F6         choose the sort column     < >  previous/next column",
		"  I                invert the order",
		"  b  or F5         the latest blocks, with the rule that decided",
		"  t                rates (bit/s, over the last 5 s) or totals (bytes)",
		"  p  or Space      pause (the screen stops changing)",
		"  ?  or F1         this help            q, F10   quit",
		"",
		"Columns: UP is from the device, DOWN is to it.  BLK/1M: its connections",
		"blocked or rejected in the last minute.  FLOWS: its live connections.",
		"A device the policy does not name shows as its MAC, owner (new).",
		"",
		"Press any key to go back.",
	};
	erase();
	for (size_t i = 0; i < sizeof(text) / sizeof(text[0]) && (int)i < LINES - 1; i++)
		put((int)i + 1, 2, COLS - 4, text[i]);
}

static void draw_sort_menu(struct top_ui *u)
{
	bool flows = u->view == TOP_VIEW_FLOWS;
	int n = flows ? TOP_FLOW_SORTS : TOP_DEV_SORTS;
	const char *const *names = flows ? top_flow_sort_names : top_dev_sort_names;
	int w = 18, h = n + 2, y = 4, x = 2;
	if (y + h >= LINES)
		y = 0;
	for (int r = 0; r < h && y + r < LINES; r++) {
		attron(attr_of(C_BAR, REV));
		put(y + r, x, w, r == 0 ? " Sort by" : "");
		attroff(attr_of(C_BAR, REV));
	}
	for (int i = 0; i < n && y + 1 + i < LINES; i++) {
		int a = i == u->menu_pos ? REV | BOLD : attr_of(C_BAR, REV);
		char buf[32];
		snprintf(buf, sizeof(buf), "  %s", names[i]);
		attron(a);
		put(y + 1 + i, x, w, buf);
		attroff(a);
	}
}

void top_ui_draw(struct top_ui *u)
{
	erase();
	if (LINES < 8 || COLS < 40) {
		put(0, 0, COLS, "gwtop: the terminal is too small (40x8 at least)");
		refresh();
		return;
	}
	if (u->help) {
		draw_help();
		refresh();
		return;
	}
	draw_header(u);
	int y0 = 3, y1 = LINES - 2;
	if (u->view == TOP_VIEW_DEVICES) {
		int nb = rows_for_blocks();
		if (nb) {
			draw_devices(u, y0, y1 - nb - 1);
			draw_blocks(u, y1 - nb - 1, y1, false);
		} else {
			draw_devices(u, y0, y1);
		}
	} else if (u->view == TOP_VIEW_FLOWS) {
		char title[200];
		snprintf(title, sizeof(title), " flows of %s", u->flows_arg);
		/* The totals line becomes whose flows these are. */
		move(2, 0);
		clrtoeol();
		attron(A_BOLD);
		put(2, 0, COLS, title);
		attroff(A_BOLD);
		draw_flows(u, y0, y1);
	} else {
		draw_blocks(u, y0, y1, true);
	}
	if (u->sort_menu)
		draw_sort_menu(u);
	draw_bar(u);
	refresh();
}

/* ---- keys ----------------------------------------------------------------- */

static size_t view_rows(struct top_ui *u)
{
	size_t n = 0;
	if (u->view == TOP_VIEW_DEVICES)
		dev_view(u, &n);
	else if (u->view == TOP_VIEW_FLOWS)
		flow_view(u, &n);
	else
		n = u->m->nblocks;
	return n;
}

static void move_sel(struct top_ui *u, long by)
{
	int v = (int)u->view;
	size_t n = view_rows(u);
	long s = (long)u->sel[v] + by;
	if (s < 0 || !n)
		s = 0;
	if (n && s >= (long)n)
		s = (long)n - 1;
	u->sel[v] = (size_t)s;
	if (u->view == TOP_VIEW_DEVICES) {
		size_t nv;
		const size_t *vv = dev_view(u, &nv);
		if (u->sel[0] < nv)
			snprintf(u->sel_key, sizeof(u->sel_key), "%s", u->m->devs[vv[u->sel[0]]].key);
	}
}

static void open_flows(struct top_ui *u)
{
	const struct top_dev *d = NULL;
	for (size_t i = 0; i < u->m->ndevs; i++)
		if (!strcmp(u->m->devs[i].key, u->sel_key))
			d = &u->m->devs[i];
	if (!d)
		return;
	snprintf(u->flows_of, sizeof(u->flows_of), "%s", d->key);
	snprintf(u->flows_arg, sizeof(u->flows_arg), "%s", top_dev_arg(d));
	u->view = TOP_VIEW_FLOWS;
	u->sel[1] = u->top[1] = 0;
	u->want_fetch = true;
}

static void sort_step(struct top_ui *u, int by)
{
	if (u->view == TOP_VIEW_FLOWS)
		u->flow_sort = (u->flow_sort + TOP_FLOW_SORTS + by) % TOP_FLOW_SORTS;
	else if (u->view == TOP_VIEW_DEVICES)
		u->dev_sort = (u->dev_sort + TOP_DEV_SORTS + by) % TOP_DEV_SORTS;
	top_ui_say(u, 2000, "sorted by %s", u->view == TOP_VIEW_FLOWS
						? top_flow_sort_names[u->flow_sort]
						: top_dev_sort_names[u->dev_sort]);
}

static void key(struct top_ui *u, int k)
{
	int page = LINES - 8 > 1 ? LINES - 8 : 1;
	if (k == KEY_RESIZE)
		return; /* the next draw lays out for the new size */
	if (u->help) {
		u->help = false;
		return;
	}
	if (u->editing) {
		size_t n = strlen(u->edit);
		int f = u->view == TOP_VIEW_FLOWS;
		if (k == 27) {
			u->editing = false;
			u->filter[f][0] = '\0';
		} else if (k == '\n' || k == '\r' || k == KEY_ENTER) {
			u->editing = false;
			snprintf(u->filter[f], sizeof(u->filter[f]), "%s", u->edit);
			u->sel[u->view] = u->top[u->view] = 0;
		} else if ((k == KEY_BACKSPACE || k == 127 || k == 8) && n) {
			u->edit[n - 1] = '\0';
		} else if (k >= 0x20 && k < 0x7f && n + 1 < sizeof(u->edit)) {
			u->edit[n] = (char)k;
			u->edit[n + 1] = '\0';
		}
		/* Live, as htop filters while typing. */
		if (u->editing)
			snprintf(u->filter[f], sizeof(u->filter[f]), "%s", u->edit);
		return;
	}
	if (u->sort_menu) {
		int n = u->view == TOP_VIEW_FLOWS ? TOP_FLOW_SORTS : TOP_DEV_SORTS;
		if (k == KEY_UP || k == 'k')
			u->menu_pos = (u->menu_pos + n - 1) % n;
		else if (k == KEY_DOWN || k == 'j')
			u->menu_pos = (u->menu_pos + 1) % n;
		else if (k == '\n' || k == '\r' || k == KEY_ENTER) {
			if (u->view == TOP_VIEW_FLOWS)
				u->flow_sort = u->menu_pos;
			else
				u->dev_sort = u->menu_pos;
			u->sort_menu = false;
		} else if (k == 27 || k == 'q' || k == 's' || k == KEY_F(6)) {
			u->sort_menu = false;
		}
		return;
	}
	switch (k) {
	case 'q':
	case KEY_F(10):
		u->quit = true;
		break;
	case '?':
	case KEY_F(1):
		u->help = true;
		break;
	case KEY_UP:
	case 'k':
		move_sel(u, -1);
		break;
	case KEY_DOWN:
	case 'j':
		move_sel(u, 1);
		break;
	case KEY_PPAGE:
		move_sel(u, -page);
		break;
	case KEY_NPAGE:
		move_sel(u, page);
		break;
	case KEY_HOME:
	case 'g':
		move_sel(u, -(long)view_rows(u));
		break;
	case KEY_END:
	case 'G':
		move_sel(u, (long)view_rows(u));
		break;
	case '\n':
	case '\r':
	case KEY_ENTER:
		if (u->view == TOP_VIEW_DEVICES)
			open_flows(u);
		break;
	case 27:
	case KEY_BACKSPACE:
	case 127:
	case 'h':
	case KEY_LEFT:
		if (u->view != TOP_VIEW_DEVICES)
			u->view = TOP_VIEW_DEVICES;
		else if (k == 27 && u->filter[0][0])
			u->filter[0][0] = '\0';
		break;
	case '/':
	case KEY_F(3):
	case KEY_F(4):
		if (u->view != TOP_VIEW_BLOCKS) {
			u->editing = true;
			snprintf(u->edit, sizeof(u->edit), "%s", u->filter[u->view == TOP_VIEW_FLOWS]);
		}
		break;
	case 's':
	case KEY_F(6):
		if (u->view != TOP_VIEW_BLOCKS) {
			u->sort_menu = true;
			u->menu_pos = u->view == TOP_VIEW_FLOWS ? u->flow_sort : u->dev_sort;
		}
		break;
	case '<':
	case ',':
		sort_step(u, -1);
		break;
	case '>':
	case '.':
		sort_step(u, 1);
		break;
	case 'I':
		if (u->view != TOP_VIEW_BLOCKS)
			u->reverse[u->view == TOP_VIEW_FLOWS] ^= true;
		break;
	case 'b':
	case KEY_F(5):
		u->view = u->view == TOP_VIEW_BLOCKS ? TOP_VIEW_DEVICES : TOP_VIEW_BLOCKS;
		break;
	case 't':
		u->totals ^= true;
		top_ui_say(u, 2000, u->totals ? "showing totals (bytes)" : "showing rates (bit/s)");
		break;
	case 'p':
	case ' ':
		u->paused ^= true;
		if (!u->paused)
			u->want_fetch = true;
		break;
	default:
		break;
	}
}

bool top_ui_keys(struct top_ui *u)
{
	bool any = false;
	int k;
	while ((k = getch()) != ERR) {
		key(u, k);
		any = true;
		if (u->quit)
			break;
	}
	return any;
}
