/* SPDX-License-Identifier: MIT */
/*
 * dnsmasq, DHCP only, as gwd's child (dhcp.h): its files under
 * state_dir/dhcp/, its start, its restarts, and the lease file read at
 * gwd's start.  Everything on gwd's loop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "dhcp.h"
#include "image.h"
#include "log.h"
#include "store.h"

#define RESTART_MAX_S 30
#define STABLE_S      60
#define LEASES_MAX    (16u << 20) /* bytes of a lease file gwd reads */

struct gwd_dhcp {
	struct event_base *base;
	struct gwd_config cfg;
	char dir[GWD_PATH_MAX + 16];
	char conf[GWD_PATH_MAX + 32], pidfile[GWD_PATH_MAX + 32], leases[GWD_PATH_MAX + 32];
	char *conf_text;      /* what dnsmasq.conf holds now */
	bool reconf;          /* dnsmasq was stopped to start with a new conf */
	pid_t pid;            /* 0: not running */
	int pidfd;
	struct event *exit_ev, *restart_timer;
	time_t started;
	unsigned restarts, backoff_s;
	char last_exit[64];
};

static time_t mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

void gwd_dhcp_lease_path(const struct gwd_config *cfg, char *buf, size_t size)
{
	snprintf(buf, size, "%s/dhcp/leases", cfg->state_dir);
}

/* ---------------------------------------------------------------- files */

static int write_text(const char *path, const char *text)
{
	return gwd_write_file(path, text, strlen(text), false);
}

/*
 * dnsmasq.conf: DHCP only, gwd.conf's ranges and ports; the policy's zone
 * as the domain name and search list; the gateway as the DNS server when
 * gw-dns runs (0.0.0.0: the address of the interface the request came in
 * on); a dhcp-host line for every device the policy gives a fixed address
 * (`address`): all its MACs, then the address.  dnsmasq reads it as root
 * before it drops to its own user, so state_dir stays gwd's alone (a
 * dhcp-hostsfile, which SIGHUP would re-read, is read after the drop: it
 * would have to be readable by dnsmasq's user, and state_dir is not); a
 * change is a restart, and the lease file keeps the leases across it.
 * NULL without memory.
 */
static char *conf_for(const struct gwd_dhcp *h, const struct pol_ir *ir)
{
	const struct gwd_config *c = &h->cfg;
	const char *zone = ir ? pol_ir_str(ir, ir->meta->zone) : NULL;
	size_t cap = 8192, n = 0;
	/* Room for every fixed address: a MAC is 18 bytes, a line's rest 32. */
	for (uint32_t d = 0; ir && d < ir->ndevices; d++)
		if (ir->devices[d].flags & POL_DEVICE_ADDR4)
			cap += 32;
	if (ir)
		cap += (size_t)ir->nmacs * 18;
	char *t = malloc(cap);
	if (!t)
		return NULL;
	if (!zone || !zone[0])
		zone = "home.arpa";
#define OUT(...) (n += (size_t)snprintf(t + n, n < cap ? cap - n : 0, __VA_ARGS__))
	OUT("# Written by gwd from gwd.conf and the policy (docs/dns.md, \"DHCP\"): do not edit.\n"
	    "port=0\nno-resolv\nno-hosts\nno-poll\ndhcp-authoritative\nlog-facility=-\n"
	    "dhcp-lease-max=4096\npid-file=%s\ndhcp-leasefile=%s\ndhcp-script=%s\n"
	    "dhcp-option=option:domain-name,%s\ndhcp-option=option:domain-search,%s\n",
	    h->pidfile, h->leases, c->dhcp_script, zone, zone);
	if (c->dns[0])
		OUT("dhcp-option=option:dns-server,0.0.0.0\n");
	/* The ports served: dhcp_ports, else every LAN-side port. */
	const char *served[4 * GWD_MAX_PORTS];
	unsigned nserved = 0;
	if (!c->ndhcp_ports) {
		for (unsigned i = 0; i < c->nlan_ports; i++)
			served[nserved++] = c->lan_ports[i];
		for (unsigned i = 0; i < c->nebpf_ports; i++)
			served[nserved++] = c->ebpf_ports[i];
		for (unsigned i = 0; i < c->nnft_ports; i++)
			served[nserved++] = c->nft_ports[i];
	}
	for (unsigned i = 0; i < c->ndhcp_ports; i++)
		served[nserved++] = c->dhcp_ports[i];
	for (unsigned i = 0; i < nserved; i++)
		OUT("interface=%s\n", served[i]);
	for (unsigned i = 0; i < c->ndhcp_ranges; i++) {
		char lo[INET_ADDRSTRLEN], hi[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, c->dhcp_ranges[i].lo, lo, sizeof(lo));
		inet_ntop(AF_INET, c->dhcp_ranges[i].hi, hi, sizeof(hi));
		OUT("dhcp-range=%s,%s,%u\n", lo, hi, c->dhcp_lease_s);
	}
	/* Router advertisements: SLAAC only (no DHCPv6: gw-dns answers on
	 * the IPv4 addresses DHCP hands out), on every port served, each
	 * with the /64 of the port's own IPv6 address; a port without one
	 * gets none. */
	if (c->dhcp_ra) {
		OUT("enable-ra\nquiet-ra\n");
		for (unsigned i = 0; i < nserved; i++)
			OUT("dhcp-range=::,constructor:%s,ra-only,64,%u\n", served[i],
			    c->dhcp_lease_s);
	}
	for (uint32_t d = 0; ir && d < ir->ndevices; d++) {
		const struct pol_device *dv = &ir->devices[d];
		char addr[INET_ADDRSTRLEN];
		if (!(dv->flags & POL_DEVICE_ADDR4))
			continue;
		OUT("dhcp-host=");
		for (uint32_t m = 0; m < ir->nmacs; m++) {
			const uint8_t *a = ir->macs[m].mac;
			if (ir->macs[m].device == d)
				OUT("%02x:%02x:%02x:%02x:%02x:%02x,", a[0], a[1], a[2], a[3], a[4], a[5]);
		}
		inet_ntop(AF_INET, dv->addr4, addr, sizeof(addr));
		OUT("%s\n", addr);
	}
#undef OUT
	if (n >= cap) {
		free(t);
		return NULL;
	}
	return t;
}

/* ---------------------------------------------------------------- the child */

/* A dnsmasq an earlier gwd started with this configuration (its pid
 * file names it, and its command line carries our conf file): stopped,
 * so that ours is the one that serves. */
static void stop_stale(struct gwd_dhcp *h)
{
	char *text = NULL, *cmd = NULL;
	size_t len = 0, clen = 0;
	char proc[64], want[GWD_PATH_MAX + 48];
	if (gwd_read_file(h->pidfile, 64, &text, &len) < 0)
		return;
	long pid = strtol(text, NULL, 10);
	free(text);
	if (pid <= 1)
		return;
	snprintf(proc, sizeof(proc), "/proc/%ld/cmdline", pid);
	snprintf(want, sizeof(want), "--conf-file=%s", h->conf);
	if (gwd_read_file(proc, 65536, &cmd, &clen) < 0)
		return;
	bool ours = false;
	for (size_t at = 0; at < clen; at += strlen(cmd + at) + 1)
		if (!strcmp(cmd + at, want))
			ours = true;
	free(cmd);
	if (!ours)
		return;
	int fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	if (fd < 0)
		return;
	gwd_log("dhcp_stale", "pid=%ld action=stop", pid);
	kill((pid_t)pid, SIGTERM);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 3000) == 0) {
		kill((pid_t)pid, SIGKILL);
		poll(&p, 1, 2000);
	}
	close(fd);
}

static int spawn(struct gwd_dhcp *h);

static void on_restart(evutil_socket_t fd, short what, void *arg)
{
	struct gwd_dhcp *h = arg;
	(void)fd;
	(void)what;
	int r = spawn(h);
	if (r < 0) {
		struct timeval tv = { h->backoff_s ? h->backoff_s : 1, 0 };
		gwd_log("dhcp_start_failed", "reason=\"%s\" retry_s=%ld", strerror(-r),
			(long)tv.tv_sec);
		evtimer_add(h->restart_timer, &tv);
		if (h->backoff_s < RESTART_MAX_S)
			h->backoff_s = h->backoff_s ? h->backoff_s * 2 : 1;
	}
}

static void forget_child(struct gwd_dhcp *h)
{
	if (h->exit_ev) {
		event_free(h->exit_ev);
		h->exit_ev = NULL;
	}
	if (h->pidfd >= 0) {
		close(h->pidfd);
		h->pidfd = -1;
	}
	h->pid = 0;
}

static void on_child_exit(evutil_socket_t fd, short what, void *arg)
{
	struct gwd_dhcp *h = arg;
	struct timeval tv = { 0, 0 };
	int status = 0;
	(void)fd;
	(void)what;
	if (waitpid(h->pid, &status, WNOHANG) == 0)
		return;
	if (WIFSIGNALED(status))
		snprintf(h->last_exit, sizeof(h->last_exit), "signal %d", WTERMSIG(status));
	else
		snprintf(h->last_exit, sizeof(h->last_exit), "status %d", WEXITSTATUS(status));
	forget_child(h);
	if (h->reconf) {
		/* Stopped by gwd for a new configuration: at once, not counted. */
		h->reconf = false;
		evtimer_add(h->restart_timer, &tv);
		return;
	}
	gwd_log("dhcp_exit", "how=\"%s\"", h->last_exit);
	if (mono_s() - h->started >= STABLE_S)
		h->backoff_s = 0;
	tv.tv_sec = h->backoff_s;
	h->backoff_s = h->backoff_s ? (h->backoff_s * 2 > RESTART_MAX_S ? RESTART_MAX_S
									 : h->backoff_s * 2)
				    : 1;
	h->restarts++;
	evtimer_add(h->restart_timer, &tv);
}

static int spawn(struct gwd_dhcp *h)
{
	char confarg[GWD_PATH_MAX + 48];
	char *argv[] = { h->cfg.dhcp, (char *)"--keep-in-foreground", confarg, NULL };
	int r;
	snprintf(confarg, sizeof(confarg), "--conf-file=%s", h->conf);
	/* The lease script inherits dnsmasq's environment: it finds gwd's
	 * socket there (GWD_SOCKET), whatever gwd's own environment says. */
	extern char **environ;
	size_t nenv = 0;
	while (environ[nenv])
		nenv++;
	char **envp = calloc(nenv + 2, sizeof(*envp)), *sockvar = NULL;
	if (!envp || asprintf(&sockvar, "GWD_SOCKET=%s", h->cfg.socket) < 0) {
		free(envp);
		return -ENOMEM;
	}
	size_t k = 0;
	for (size_t i = 0; i < nenv; i++)
		if (strncmp(environ[i], "GWD_SOCKET=", 11))
			envp[k++] = environ[i];
	envp[k++] = sockvar;
	envp[k] = NULL;
	pid_t pid = fork();
	if (pid < 0) {
		r = -errno;
		free(envp);
		free(sockvar);
		return r;
	}
	if (pid == 0) {
		/* Only async-signal-safe calls until exec. */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		execve(h->cfg.dhcp, argv, envp);
		_exit(127);
	}
	free(envp);
	free(sockvar);
	h->pid = pid;
	h->started = mono_s();
	h->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (h->pidfd < 0) {
		r = -errno;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		h->pid = 0;
		return r;
	}
	h->exit_ev = event_new(h->base, h->pidfd, EV_READ, on_child_exit, h);
	if (!h->exit_ev || event_add(h->exit_ev, NULL) < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		forget_child(h);
		return -ENOMEM;
	}
	gwd_log("dhcp_start", "pid=%d program=%s restarts=%u", (int)pid, h->cfg.dhcp, h->restarts);
	return 0;
}

/* ---------------------------------------------------------------- interface */

int gwd_dhcp_new(struct event_base *base, const struct gwd_config *cfg, const struct pol_ir *ir,
		 struct gwd_dhcp **ret, char *err, size_t errlen)
{
	struct gwd_dhcp *h = calloc(1, sizeof(*h));
	int r;
	if (!h)
		return -ENOMEM;
	h->base = base;
	h->cfg = *cfg;
	h->pidfd = -1;
	snprintf(h->dir, sizeof(h->dir), "%s/dhcp", cfg->state_dir);
	snprintf(h->conf, sizeof(h->conf), "%s/dnsmasq.conf", h->dir);
	snprintf(h->pidfile, sizeof(h->pidfile), "%s/dnsmasq.pid", h->dir);
	snprintf(h->leases, sizeof(h->leases), "%s/leases", h->dir);
	if (access(cfg->dhcp, X_OK) < 0 || access(cfg->dhcp_script, X_OK) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", access(cfg->dhcp, X_OK) < 0 ? cfg->dhcp : cfg->dhcp_script,
			 strerror(-r));
		goto fail;
	}
	if (mkdir(h->dir, 0750) < 0 && errno != EEXIST) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", h->dir, strerror(-r));
		goto fail;
	}
	h->conf_text = conf_for(h, ir);
	if (!h->conf_text) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if ((r = write_text(h->conf, h->conf_text)) < 0) {
		snprintf(err, errlen, "%s: %s", h->conf, strerror(-r));
		goto fail;
	}
	h->restart_timer = evtimer_new(base, on_restart, h);
	if (!h->restart_timer) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	stop_stale(h);
	r = spawn(h);
	if (r < 0) {
		snprintf(err, errlen, "starting %s: %s", cfg->dhcp, strerror(-r));
		goto fail;
	}
	*ret = h;
	return 0;
fail:
	gwd_dhcp_free(h);
	return r;
}

void gwd_dhcp_free(struct gwd_dhcp *h)
{
	if (!h)
		return;
	if (h->pid > 0) {
		struct pollfd p = { .fd = h->pidfd, .events = POLLIN };
		pid_t pid = h->pid;
		kill(pid, SIGTERM);
		if (poll(&p, 1, 3000) == 0)
			kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		forget_child(h);
	}
	if (h->restart_timer)
		event_free(h->restart_timer);
	free(h->conf_text);
	free(h);
}

void gwd_dhcp_policy(struct gwd_dhcp *h, const struct pol_ir *ir)
{
	if (!h)
		return;
	char *t = conf_for(h, ir);
	if (!t || !strcmp(t, h->conf_text)) {
		free(t);
		return;
	}
	int r = write_text(h->conf, t);
	if (r < 0) {
		gwd_log("dhcp_conf_failed", "file=%s reason=\"%s\"", h->conf, strerror(-r));
		free(t);
		return;
	}
	free(h->conf_text);
	h->conf_text = t;
	unsigned fixed = 0;
	for (uint32_t d = 0; ir && d < ir->ndevices; d++)
		fixed += (ir->devices[d].flags & POL_DEVICE_ADDR4) != 0;
	gwd_log("dhcp_conf", "file=%s fixed=%u action=restart", h->conf, fixed);
	if (h->pid > 0) {
		h->reconf = true;
		kill(h->pid, SIGTERM);
	}
}

int gwd_dhcp_read_leases(const char *path, void (*cb)(const struct gwd_lease *l, void *arg),
			 void *arg, unsigned *ret_bad)
{
	char *text = NULL;
	size_t len = 0;
	unsigned bad = 0;
	int r = gwd_read_file(path, LEASES_MAX, &text, &len);
	*ret_bad = 0;
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	for (size_t at = 0; at < len;) {
		const char *nl = memchr(text + at, '\n', len - at);
		size_t end = nl ? (size_t)(nl - text) : len;
		struct gwd_lease l;
		int lr = gwd_lease_parse_line(text + at, end - at, &l);
		if (lr == 0)
			cb(&l, arg);
		else if (lr == -EINVAL)
			bad++;
		at = end + 1;
	}
	free(text);
	*ret_bad = bad;
	return 0;
}

json_t *gwd_dhcp_status(const struct gwd_dhcp *h)
{
	const char *state = h->pid > 0 ? "running" :
			    evtimer_pending(h->restart_timer, NULL) ? "restarting" : "stopped";
	return json_pack("{s:s,s:i,s:i,s:s?}", "state", state, "pid", (int)h->pid, "restarts",
			 (int)h->restarts, "last_exit", h->last_exit[0] ? h->last_exit : NULL);
}
