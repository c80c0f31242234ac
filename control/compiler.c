/* SPDX-License-Identifier: MIT */
/*
 * Policy compiles in child processes (compiler.h).  The parent side runs
 * on gwd's event loop: it reads the child's pipe as data comes, bounds
 * it, and reaps the child without ever waiting for it (a child stuck in
 * the kernel on a dead mount cannot even be killed at once: it is reaped
 * whenever it goes).  The child side runs between fork and _exit and
 * touches nothing of gwd's but its own copy of the request.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "api_diag.h"
#include "compiler.h"
#include "ir.h"
#include "policy.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

/* The child's exit codes. */
#define EXIT_SETUP 2   /* could not take the client's credentials */
#define EXIT_NOMEM 3   /* out of its memory bound */
#define EXIT_WRITE 4   /* the pipe broke */

#define MAX_ORPHANS 16 /* killed children not yet reaped */

struct gwd_compiler {
	struct event_base *base;
	unsigned running;
	pid_t orphans[MAX_ORPHANS];
	unsigned norphans;
	struct event *reaper; /* every second while there are orphans */
};

struct gwd_compile {
	struct gwd_compiler *cc;
	pid_t pid;
	int fd;                   /* the pipe's read end */
	struct event *readable;
	struct event *timer;      /* the timeout, then the wait for the exit */
	struct evbuffer *in;
	struct timespec deadline; /* CLOCK_MONOTONIC */
	bool eof, have_header;
	size_t header_len, want; /* the JSON line's length with '\n'; all bytes expected */
	struct gwd_compiled out;
	gwd_compile_done_fn done;
	void *arg;
};

void gwd_compiled_clear(struct gwd_compiled *c)
{
	json_decref(c->diagnostics);
	free(c->text);
	free(c->image);
	memset(c, 0, sizeof(*c));
}

/* ---- the child ----------------------------------------------------------- */

static int write_all(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p = (const char *)p + w;
		n -= (size_t)w;
	}
	return 0;
}

static double ms_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

static char *print_unit(const struct pol_unit *u, size_t *ret_len)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return NULL;
	int r = pol_unit_print(u, f);
	if (fclose(f) != 0 || r < 0) {
		free(text);
		return NULL;
	}
	*ret_len = len;
	return text;
}

/* Takes who's rights for good: groups, gid, uid (root stays root). */
static int become(const struct gwd_compile_who *who)
{
	if (who->uid == 0)
		return 0;
	if (setgroups(who->ngroups, who->groups) < 0 ||
	    setresgid(who->gid, who->gid, who->gid) < 0 ||
	    setresuid(who->uid, who->uid, who->uid) < 0)
		return -1;
	/* No way back: a uid change from root clears every capability. */
	if (setuid(0) == 0)
		return -1;
	return 0;
}

static void __attribute__((noreturn))
child(int wfd, pid_t parent, const char *path, const char *text, size_t len,
      const struct gwd_compile_who *who)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(EXIT_SETUP);
	/* Only stdio and the pipe (as fd 3) stay open. */
	if (wfd != 3 && (dup2(wfd, 3) < 0 || close(wfd) < 0))
		_exit(EXIT_SETUP);
	close_range(4, ~0u, 0);
	/* gwd's handlers (libevent's, writing to a socket closed above) are
	 * not the child's: the default for what a stop or a kill sends. */
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
#ifndef UNDER_ASAN
	struct rlimit as = { GWD_COMPILE_MAX_AS, GWD_COMPILE_MAX_AS };
	if (setrlimit(RLIMIT_AS, &as) < 0)
		_exit(EXIT_SETUP);
#endif
	if (become(who) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		_exit(EXIT_SETUP);
	struct timespec t0, t1, t2;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct pol_unit *u = NULL;
	int r = path ? pol_compile(path, NULL, 0, 0, &u)
		     : pol_compile("policy.gw", text, len, POL_F_NO_FILES, &u);
	if (r < 0)
		_exit(EXIT_NOMEM);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	char *out = NULL;
	size_t out_len = 0;
	const void *img = NULL;
	size_t img_len = 0;
	unsigned errors = pol_unit_errors(u);
	if (!errors && (!(out = print_unit(u, &out_len)) || pol_unit_image(u, &img, &img_len) < 0))
		_exit(EXIT_NOMEM);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	json_t *diags = gwd_api_diags_json(u);
	json_t *h = diags ? json_pack("{s:I,s:I,s:o,s:I,s:I,s:f,s:f}", "errors",
				      (json_int_t)errors, "warnings",
				      (json_int_t)pol_unit_warnings(u), "diagnostics", diags, "text",
				      (json_int_t)out_len, "image", (json_int_t)img_len,
				      "compile_ms", ms_between(&t0, &t1), "text_ms",
				      ms_between(&t1, &t2))
			  : NULL;
	char *line = h ? json_dumps(h, JSON_COMPACT) : NULL;
	if (!line)
		_exit(EXIT_NOMEM);
	if (write_all(3, line, strlen(line)) < 0 || write_all(3, "\n", 1) < 0 ||
	    write_all(3, out, out_len) < 0 || write_all(3, img, img_len) < 0)
		_exit(EXIT_WRITE);
	_exit(0);
}

/* ---- the parent ------------------------------------------------------------ */

static void reap_orphans(evutil_socket_t fd, short what, void *arg)
{
	struct gwd_compiler *cc = arg;
	unsigned k = 0;
	for (unsigned i = 0; i < cc->norphans; i++)
		if (waitpid(cc->orphans[i], NULL, WNOHANG) == 0)
			cc->orphans[k++] = cc->orphans[i];
	cc->norphans = k;
	if (k) {
		struct timeval tv = { 1, 0 };
		evtimer_add(cc->reaper, &tv);
	}
}

/* Kills the child and leaves its reaping to the reaper. */
static void kill_child(struct gwd_compile *j)
{
	if (j->pid <= 0)
		return;
	kill(j->pid, SIGKILL);
	if (waitpid(j->pid, NULL, WNOHANG) == 0) {
		struct gwd_compiler *cc = j->cc;
		if (cc->norphans < MAX_ORPHANS)
			cc->orphans[cc->norphans++] = j->pid;
		/* else: more stuck children than slots; init reaps them when
		 * gwd exits. */
		reap_orphans(-1, 0, cc);
	}
	j->pid = -1;
}

static void job_free(struct gwd_compile *j)
{
	if (!j)
		return;
	kill_child(j);
	if (j->readable)
		event_free(j->readable);
	if (j->timer)
		event_free(j->timer);
	if (j->fd >= 0)
		close(j->fd);
	if (j->in)
		evbuffer_free(j->in);
	gwd_compiled_clear(&j->out);
	j->cc->running--;
	free(j);
}

void gwd_compile_cancel(struct gwd_compile *j)
{
	job_free(j);
}

static void finish(struct gwd_compile *j, int r, const char *why)
{
	gwd_compile_done_fn done = j->done;
	void *arg = j->arg;
	struct gwd_compiled out = j->out;
	memset(&j->out, 0, sizeof(j->out));
	job_free(j);
	if (r < 0)
		gwd_compiled_clear(&out);
	done(r, &out, why, arg);
}

static bool get_size(json_t *h, const char *key, size_t max, size_t *ret)
{
	json_t *v = json_object_get(h, key);
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > max)
		return false;
	*ret = (size_t)json_integer_value(v);
	return true;
}

/* The JSON line, once it is all there: checks it and sets j->want. */
static int parse_header(struct gwd_compile *j)
{
	struct evbuffer_ptr nl = evbuffer_search(j->in, "\n", 1, NULL);
	if (nl.pos < 0)
		return evbuffer_get_length(j->in) > GWD_COMPILE_MAX_DIAGS ? -EIO : 0;
	char *line = (char *)evbuffer_pullup(j->in, nl.pos + 1);
	if (!line)
		return -ENOMEM;
	json_error_t e;
	json_t *h = json_loadb(line, (size_t)nl.pos, JSON_REJECT_DUPLICATES, &e);
	size_t errors, warnings, text, image;
	json_t *diags = h ? json_object_get(h, "diagnostics") : NULL;
	json_t *cms = h ? json_object_get(h, "compile_ms") : NULL;
	json_t *tms = h ? json_object_get(h, "text_ms") : NULL;
	if (!h || !json_is_array(diags) || !json_is_number(cms) || !json_is_number(tms) ||
	    !get_size(h, "errors", UINT32_MAX, &errors) ||
	    !get_size(h, "warnings", UINT32_MAX, &warnings) ||
	    !get_size(h, "text", GWD_COMPILE_MAX_TEXT, &text) ||
	    !get_size(h, "image", POL_MAX_IMAGE, &image) || (errors && (text || image)) ||
	    (!errors && !image)) {
		json_decref(h);
		return -EIO;
	}
	j->out.errors = (unsigned)errors;
	j->out.warnings = (unsigned)warnings;
	j->out.diagnostics = json_incref(diags);
	j->out.text_len = text;
	j->out.image_size = image;
	j->out.compile_ms = json_number_value(cms);
	j->out.text_ms = json_number_value(tms);
	json_decref(h);
	j->header_len = (size_t)nl.pos + 1;
	j->want = j->header_len + text + image;
	j->have_header = true;
	return 0;
}

/* What the child's exit says, once all its output is in. */
static void exited(struct gwd_compile *j, int status)
{
	j->pid = -1;
	char why[160];
	if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_NOMEM) {
		snprintf(why, sizeof(why), "the compile ran out of its memory bound (%llu MiB)",
			 GWD_COMPILE_MAX_AS >> 20);
		finish(j, -ENOMEM, why);
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_SETUP) {
		finish(j, -EIO, "the compile could not take the client's credentials");
		return;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (WIFSIGNALED(status))
			snprintf(why, sizeof(why), "the compile died (signal %d)", WTERMSIG(status));
		else
			snprintf(why, sizeof(why), "the compile failed (exit %d)",
				 WEXITSTATUS(status));
		finish(j, -EIO, why);
		return;
	}
	if (!j->have_header || evbuffer_get_length(j->in) != j->want) {
		finish(j, -EIO, "the compile's output was cut short or malformed");
		return;
	}
	evbuffer_drain(j->in, j->header_len);
	struct gwd_compiled *o = &j->out;
	if (o->text_len) {
		o->text = malloc(o->text_len + 1);
		if (!o->text) {
			finish(j, -ENOMEM, "out of memory for the compiled text");
			return;
		}
		evbuffer_remove(j->in, o->text, o->text_len);
		o->text[o->text_len] = '\0';
	}
	if (o->image_size) {
		o->image = malloc(o->image_size);
		if (!o->image) {
			finish(j, -ENOMEM, "out of memory for the compiled image");
			return;
		}
		evbuffer_remove(j->in, o->image, o->image_size);
	}
	finish(j, 0, NULL);
}

static bool past(const struct timespec *deadline)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > deadline->tv_sec ||
	       (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

/* At the deadline; and, once the pipe closed, every 10 ms until the
 * child's exit can be collected. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct gwd_compile *j = arg;
	if (j->eof) {
		int status;
		pid_t p = waitpid(j->pid, &status, WNOHANG);
		if (p == j->pid) {
			exited(j, status);
			return;
		}
		if (p < 0 && errno == ECHILD) {
			/* Reaped by someone else: its output must speak for it. */
			exited(j, 0);
			return;
		}
	}
	if (past(&j->deadline)) {
		finish(j, -ETIMEDOUT, "the compile took longer than compile_timeout and was stopped");
		return;
	}
	struct timeval tv = { 0, 10000 };
	evtimer_add(j->timer, &tv);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct gwd_compile *j = arg;
	int n = evbuffer_read(j->in, fd, 1 << 20);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	int r = 0;
	if (!j->have_header)
		r = parse_header(j);
	if (r == 0 && j->have_header && evbuffer_get_length(j->in) > j->want)
		r = -EIO;
	if (r == 0 && !j->have_header &&
	    evbuffer_get_length(j->in) > GWD_COMPILE_MAX_DIAGS)
		r = -EIO;
	if (r < 0) {
		finish(j, r, r == -ENOMEM ? "out of memory reading the compile"
					  : "the compile's output was malformed or too large");
		return;
	}
	if (n <= 0) {
		/* The child closed its end: it is on its way out. */
		j->eof = true;
		event_del(j->readable);
		evtimer_del(j->timer);
		on_timer(-1, 0, j);
	}
}

int gwd_compiler_new(struct event_base *base, struct gwd_compiler **ret)
{
	struct gwd_compiler *cc = calloc(1, sizeof(*cc));
	if (!cc)
		return -ENOMEM;
	cc->base = base;
	cc->reaper = evtimer_new(base, reap_orphans, cc);
	if (!cc->reaper) {
		free(cc);
		return -ENOMEM;
	}
	*ret = cc;
	return 0;
}

void gwd_compiler_free(struct gwd_compiler *cc)
{
	if (!cc)
		return;
	for (unsigned i = 0; i < cc->norphans; i++)
		waitpid(cc->orphans[i], NULL, WNOHANG);
	event_free(cc->reaper);
	free(cc);
}

int gwd_compile_start(struct gwd_compiler *cc, const char *path, const char *text, size_t len,
		      const struct gwd_compile_who *who, unsigned timeout_s,
		      gwd_compile_done_fn done, void *arg, struct gwd_compile **ret)
{
	if (cc->running >= GWD_COMPILE_RUNNING)
		return -EBUSY;
	struct gwd_compile *j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	cc->running++;
	j->cc = cc;
	j->fd = -1;
	j->pid = -1;
	j->done = done;
	j->arg = arg;
	int r, p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		r = -errno;
		goto fail;
	}
	j->fd = p[0];
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		r = -errno;
		close(p[1]);
		goto fail;
	}
	if (pid == 0)
		child(p[1], parent, path, text, len, who);
	close(p[1]);
	j->pid = pid;
	evutil_make_socket_nonblocking(j->fd);
	clock_gettime(CLOCK_MONOTONIC, &j->deadline);
	j->deadline.tv_sec += timeout_s;
	j->in = evbuffer_new();
	j->readable = event_new(cc->base, j->fd, EV_READ | EV_PERSIST, on_readable, j);
	j->timer = evtimer_new(cc->base, on_timer, j);
	if (!j->in || !j->readable || !j->timer || event_add(j->readable, NULL) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	struct timeval tv = { timeout_s, 0 };
	evtimer_add(j->timer, &tv);
	*ret = j;
	return 0;
fail:
	job_free(j);
	return r;
}
