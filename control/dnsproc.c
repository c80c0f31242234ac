/* SPDX-License-Identifier: MIT */
/*
 * gwd's side of the DNS service (dnsproc.h): sockets, the gw-dns child,
 * its restarts, and the dns/proto.h exchange.  Everything on gwd's loop;
 * a LEARN is answered within the callback that read it (gwd_learn
 * returns when every engine has been told).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "config.h"
#include "dnsproc.h"
#include "image.h"
#include "learn.h"
#include "log.h"
#include "msg.h"
#include "proto.h"

#define RESTART_MAX_S 30
#define STABLE_S      60
#define STATS_MAX     1024 /* counters a STATS reply may carry (gw-dns has some 50) */

struct gwd_dns {
	struct event_base *base;
	struct gwd *d;
	struct gwd_config cfg;
	int udp[GWD_DNS_ADDRS], tcp[GWD_DNS_ADDRS];
	unsigned nsock;
	pid_t pid;            /* 0: not running */
	int pidfd;
	struct event *exit_ev;
	struct event *restart_timer;
	struct bufferevent *ctl;
	uint64_t next_id;
	time_t started;       /* CLOCK_MONOTONIC seconds */
	unsigned restarts;
	unsigned backoff_s;
	char last_exit[64];
	/* What gw-dns is given again after each (re)start. */
	char zone[GWDNS_NAME_MAX];
	void *image;
	size_t image_size;
	bool enforce; /* the policy's `dns enforce` */
	struct gwdns_name *allow; /* the policy's `dns private` names */
	size_t nallow;
	struct gwd_dns_record *records;
	size_t nrecords;
	struct gwdns_client_map *clients;
	size_t nclients;
	/* The STATS request out (gwd_dns_stats), if any. */
	gwd_dns_stats_fn stats_cb;
	void *stats_arg;
	uint64_t stats_id;
};

/* The STATS request out ends: its callback once, with v or an error. */
static void stats_done(struct gwd_dns *s, const struct gwdns_counter *v, size_t n, int err)
{
	gwd_dns_stats_fn cb = s->stats_cb;
	void *arg = s->stats_arg;

	if (!cb)
		return;
	s->stats_cb = NULL;
	s->stats_arg = NULL;
	s->stats_id = 0;
	cb(v, n, err, arg);
}

int gwd_dns_stats_reply(const uint8_t *body, size_t len, const struct gwdns_counter **ret_v,
			size_t *ret_n)
{
	struct gwdns_reply rep;
	struct gwdns_stats_head head;
	const struct gwdns_counter *v;

	if (len < sizeof(rep))
		return -EBADMSG;
	memcpy(&rep, body, sizeof(rep));
	if (rep.status < 0)
		return rep.status < -4095 ? -EBADMSG : rep.status;
	body += sizeof(rep);
	len -= sizeof(rep);
	if (len < sizeof(head))
		return -EBADMSG;
	memcpy(&head, body, sizeof(head));
	if (head.count > STATS_MAX ||
	    len - sizeof(head) != (size_t)head.count * sizeof(struct gwdns_counter))
		return -EBADMSG;
	v = (const struct gwdns_counter *)(const void *)(body + sizeof(head));
	for (uint32_t i = 0; i < head.count; i++)
		if (!memchr(v[i].name, 0, sizeof(v[i].name)))
			return -EBADMSG;
	*ret_v = v;
	*ret_n = head.count;
	return 0;
}

static time_t mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static void to_sockaddr(const struct gwd_addr *a, uint16_t port, struct sockaddr_storage *ss,
			socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == 4) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;

		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		memcpy(&s->sin_addr, a->addr, 4);
		*len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons(port);
		memcpy(&s->sin6_addr, a->addr, 16);
		*len = sizeof(*s);
	}
}

/* A socket of type bound to a:53 (listening, for TCP); -errno. */
static int open_socket(const struct gwd_addr *a, int type)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1, fd, r;

	fd = socket(a->family == 4 ? AF_INET : AF_INET6, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (a->family == 6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (type == SOCK_STREAM)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	to_sockaddr(a, 53, &ss, &len);
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 64) < 0)) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* ---------------------------------------------------------------- messages */

static void send_msg(struct gwd_dns *s, uint16_t type, uint64_t id, const void *a, size_t alen,
		     const void *b, size_t blen)
{
	struct gwdns_hdr h;
	struct evbuffer *out;

	if (!s->ctl)
		return;
	out = bufferevent_get_output(s->ctl);
	gwdns_msg_hdr(&h, type, (uint32_t)(alen + blen), id);
	evbuffer_add(out, &h, sizeof(h));
	if (alen)
		evbuffer_add(out, a, alen);
	if (blen)
		evbuffer_add(out, b, blen);
}

static void prefix_of(const struct gwd_addr *a, struct gwdns_prefix *p, uint16_t port)
{
	memset(p, 0, sizeof(*p));
	p->family = a->family;
	p->prefix_len = a->plen;
	p->port = port;
	memcpy(p->addr, a->addr, 16);
}

_Static_assert(GWDNS_ALLOW_MAX >= POL_MAX_DNS_PRIVATE, "every dns private name fits in CONFIG");

static void send_config(struct gwd_dns *s)
{
	const struct gwd_config *c = &s->cfg;
	size_t n = c->ndns_upstreams + c->ndns_clients + c->ndns_listen, i, k = 0;
	struct gwdns_prefix p[3 * GWD_DNS_ADDRS];
	struct gwdns_config h;
	uint8_t *body;

	memset(&h, 0, sizeof(h));
	h.flags = (s->enforce ? GWDNS_CONF_ENFORCE : 0) | GWDNS_CONF_REBIND;
	h.block_mode = c->dns_block_null ? GWDNS_BLOCK_NULL : GWDNS_BLOCK_NXDOMAIN;
	h.n_upstreams = (uint16_t)c->ndns_upstreams;
	h.n_clients = (uint16_t)c->ndns_clients;
	h.n_self = (uint16_t)c->ndns_listen;
	h.n_rebind_allow = (uint16_t)s->nallow;
	snprintf(h.zone, sizeof(h.zone), "%s", s->zone);
	for (i = 0; i < c->ndns_upstreams; i++)
		prefix_of(&c->dns_upstreams[i], &p[k++], 53);
	for (i = 0; i < c->ndns_clients; i++)
		prefix_of(&c->dns_clients[i], &p[k++], 0);
	for (i = 0; i < c->ndns_listen; i++)
		prefix_of(&c->dns_listen[i], &p[k++], 0);
	body = malloc(n * sizeof(p[0]) + s->nallow * sizeof(*s->allow) + 1);
	if (!body) {
		gwd_log("dns_config_failed", "reason=nomem");
		return;
	}
	memcpy(body, p, n * sizeof(p[0]));
	if (s->nallow)
		memcpy(body + n * sizeof(p[0]), s->allow, s->nallow * sizeof(*s->allow));
	send_msg(s, GWDNS_MSG_CONFIG, ++s->next_id, &h, sizeof(h), body,
		 n * sizeof(p[0]) + s->nallow * sizeof(*s->allow));
	free(body);
}

/* The policy's `dns private` names (its flagged domain set, ir.h) into
 * CONFIG's rebinding allowance; 0, or -ENOMEM (the old names stay). */
static int take_private(struct gwd_dns *s, const struct pol_ir *ir)
{
	const struct pol_set *set = NULL;
	struct gwdns_name *v;
	uint32_t i;

	for (i = 0; ir && i < ir->ndomain_sets; i++)
		if (ir->domain_sets[i].flags & POL_SET_DNS_PRIVATE)
			set = &ir->domain_sets[i];
	if (!set || !set->count) {
		free(s->allow);
		s->allow = NULL;
		s->nallow = 0;
		return 0;
	}
	v = calloc(set->count, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < set->count; i++)
		snprintf(v[i].name, sizeof(v[i].name), "%s",
			 pol_ir_str(ir, ir->domains[set->first + i].name));
	free(s->allow);
	s->allow = v;
	s->nallow = set->count;
	return 0;
}

static void send_zone(struct gwd_dns *s)
{
	struct gwdns_zone_head h = { .count = (uint32_t)s->nrecords };
	struct gwdns_record *v = calloc(s->nrecords ? s->nrecords : 1, sizeof(*v));
	size_t i;

	if (!v) {
		gwd_log("dns_zone_failed", "reason=nomem");
		return;
	}
	for (i = 0; i < s->nrecords; i++) {
		memcpy(v[i].name, s->records[i].name, sizeof(v[i].name));
		v[i].family = s->records[i].family;
		memcpy(v[i].addr, s->records[i].addr, 16);
	}
	send_msg(s, GWDNS_MSG_ZONE, ++s->next_id, &h, sizeof(h), v, s->nrecords * sizeof(*v));
	free(v);
}

static void send_clients(struct gwd_dns *s)
{
	struct gwdns_clients_head h = { .count = (uint32_t)s->nclients };

	send_msg(s, GWDNS_MSG_CLIENTS, ++s->next_id, &h, sizeof(h), s->clients,
		 s->nclients * sizeof(*s->clients));
}

static void send_policy(struct gwd_dns *s)
{
	send_msg(s, GWDNS_MSG_POLICY, ++s->next_id, s->image, s->image_size, NULL, 0);
}

/* LEARN from gw-dns: through gwd_learn, then the reply that releases (or fails) the answer. */
static void on_learn(struct gwd_dns *s, const struct gwdns_hdr *h, const uint8_t *body)
{
	struct gwdns_learn l;
	struct gwdns_learn_addr addrs[GWDNS_LEARN_ADDRS];
	struct gwd_learn_addr la[GWDNS_LEARN_ADDRS];
	struct gwd_learn_result res;
	struct gwd_learn_who who = { .via = "dns" };
	struct gwdns_reply rep = { 0, 0 };
	struct gwdns_learn_reply lr = { 0, 0 };
	size_t i;
	int r;

	r = gwdns_learn_decode(body, h->length, &l, addrs);
	if (r == 0) {
		for (i = 0; i < l.naddrs; i++) {
			la[i].family = addrs[i].family;
			memcpy(la[i].addr, addrs[i].addr, 16);
		}
		who.client_family = l.client_family;
		memcpy(who.client, l.client, 16);
		r = gwd_learn(s->d, l.name, la, l.naddrs, l.ttl, &who, &res);
	}
	if (r == 0) {
		lr.engines = (uint32_t)res.nengines;
		lr.failed = (uint32_t)res.nfailed;
	} else {
		gwd_log("dns_learn_refused", "reason=%s", strerror(-r));
	}
	rep.status = r;
	send_msg(s, (uint16_t)(GWDNS_MSG_LEARN | GWDNS_MSG_REPLY), h->id, &rep, sizeof(rep),
		 r == 0 ? &lr : NULL, r == 0 ? sizeof(lr) : 0);
}

static void stop_child(struct gwd_dns *s, int kill_it);

static void on_ctl_read(struct bufferevent *bev, void *arg)
{
	struct gwd_dns *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	for (;;) {
		struct gwdns_hdr h;
		uint8_t *body;
		int r;

		if (evbuffer_get_length(in) < sizeof(h))
			return;
		evbuffer_copyout(in, &h, sizeof(h));
		r = gwdns_msg_check_hdr(&h);
		if (r < 0) {
			/* gw-dns is not itself: it is stopped, and started again. */
			gwd_log("dns_protocol_error", "pid=%d reason=%s", (int)s->pid, strerror(-r));
			stop_child(s, 1);
			return;
		}
		if (evbuffer_get_length(in) < sizeof(h) + h.length)
			return;
		evbuffer_drain(in, sizeof(h));
		body = malloc(h.length ? h.length : 1);
		if (!body)
			return;
		evbuffer_remove(in, body, h.length);
		if (h.type == GWDNS_MSG_LEARN) {
			on_learn(s, &h, body);
		} else if (h.type == (GWDNS_MSG_STATS | GWDNS_MSG_REPLY) && s->stats_cb &&
			   h.id == s->stats_id) {
			const struct gwdns_counter *v = NULL;
			size_t n = 0;
			int r2 = gwd_dns_stats_reply(body, h.length, &v, &n);

			if (r2 < 0)
				gwd_log("dns_stats_refused", "reason=\"%s\"", strerror(-r2));
			/* body holds v until the callback returns. */
			stats_done(s, v, n, r2 < 0 ? r2 : 0);
		} else if (h.type & GWDNS_MSG_REPLY) {
			struct gwdns_reply rep;

			if (h.length >= sizeof(rep)) {
				memcpy(&rep, body, sizeof(rep));
				if (rep.status < 0)
					gwd_log("dns_refused", "type=%u reason=\"%s\"",
						h.type & ~GWDNS_MSG_REPLY, strerror(-rep.status));
			}
		} else {
			struct gwdns_reply rep = { -EOPNOTSUPP, 0 };

			send_msg(s, (uint16_t)(h.type | GWDNS_MSG_REPLY), h.id, &rep, sizeof(rep), NULL, 0);
		}
		free(body);
		if (!s->ctl)
			return;
	}
}

static void on_ctl_event(struct bufferevent *bev, short what, void *arg)
{
	struct gwd_dns *s = arg;

	(void)bev;
	(void)what;
	/* The child's exit (its pidfd) decides the restart; the socket just goes. */
	if (s->ctl) {
		bufferevent_free(s->ctl);
		s->ctl = NULL;
	}
	stats_done(s, NULL, 0, -ECONNRESET);
}

/* ---------------------------------------------------------------- the child */

static int spawn(struct gwd_dns *s);

static void on_restart(evutil_socket_t fd, short what, void *arg)
{
	struct gwd_dns *s = arg;
	int r;

	(void)fd;
	(void)what;
	r = spawn(s);
	if (r < 0) {
		struct timeval tv = { s->backoff_s, 0 };

		gwd_log("dns_start_failed", "reason=%s retry_s=%u", strerror(-r), s->backoff_s);
		evtimer_add(s->restart_timer, &tv);
		if (s->backoff_s < RESTART_MAX_S)
			s->backoff_s *= 2;
	}
}

static void on_child_exit(evutil_socket_t fd, short what, void *arg)
{
	struct gwd_dns *s = arg;
	struct timeval tv = { 0, 0 };
	int status = 0;

	(void)fd;
	(void)what;
	if (waitpid(s->pid, &status, WNOHANG) == 0)
		return;
	if (WIFSIGNALED(status))
		snprintf(s->last_exit, sizeof(s->last_exit), "signal %d", WTERMSIG(status));
	else
		snprintf(s->last_exit, sizeof(s->last_exit), "status %d", WEXITSTATUS(status));
	gwd_log("dns_exit", "pid=%d how=\"%s\"", (int)s->pid, s->last_exit);
	stop_child(s, 0);
	/* Died soon after its start again: wait longer each time. */
	if (mono_s() - s->started >= STABLE_S)
		s->backoff_s = 0;
	tv.tv_sec = s->backoff_s;
	s->backoff_s = s->backoff_s ? (s->backoff_s * 2 > RESTART_MAX_S ? RESTART_MAX_S : s->backoff_s * 2) : 1;
	s->restarts++;
	evtimer_add(s->restart_timer, &tv);
}

/* Forgets the child (after its exit), or kills it first (kill_it: its exit comes later). */
static void stop_child(struct gwd_dns *s, int kill_it)
{
	if (s->ctl) {
		bufferevent_free(s->ctl);
		s->ctl = NULL;
	}
	stats_done(s, NULL, 0, -ECONNRESET);
	if (kill_it) {
		if (s->pid > 0)
			kill(s->pid, SIGKILL);
		return;
	}
	if (s->exit_ev) {
		event_free(s->exit_ev);
		s->exit_ev = NULL;
	}
	if (s->pidfd >= 0) {
		close(s->pidfd);
		s->pidfd = -1;
	}
	s->pid = 0;
}

static int spawn(struct gwd_dns *s)
{
	char fdarg[2 * GWD_DNS_ADDRS + 1][16], ctlarg[16];
	char *argv[4 * GWD_DNS_ADDRS + 8];
	int sv[2], argc = 0, r;
	unsigned i;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	snprintf(ctlarg, sizeof(ctlarg), "%d", sv[1]);
	argv[argc++] = s->cfg.dns;
	argv[argc++] = (char *)"--control-fd";
	argv[argc++] = ctlarg;
	for (i = 0; i < s->nsock; i++) {
		snprintf(fdarg[2 * i], sizeof(fdarg[0]), "%d", s->udp[i]);
		snprintf(fdarg[2 * i + 1], sizeof(fdarg[0]), "%d", s->tcp[i]);
		argv[argc++] = (char *)"--udp-fd";
		argv[argc++] = fdarg[2 * i];
		argv[argc++] = (char *)"--tcp-fd";
		argv[argc++] = fdarg[2 * i + 1];
	}
	argv[argc++] = (char *)"--user";
	argv[argc++] = s->cfg.dns_user;
	argv[argc] = NULL;

	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(sv[0]);
		close(sv[1]);
		return r;
	}
	if (pid == 0) {
		/* Only async-signal-safe calls until exec. */
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		fcntl(sv[1], F_SETFD, 0);
		for (i = 0; i < s->nsock; i++) {
			fcntl(s->udp[i], F_SETFD, 0);
			fcntl(s->tcp[i], F_SETFD, 0);
		}
		execv(s->cfg.dns, argv);
		_exit(127);
	}
	close(sv[1]);
	s->pid = pid;
	s->started = mono_s();
	s->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (s->pidfd < 0) {
		r = -errno;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(sv[0]);
		s->pid = 0;
		return r;
	}
	s->exit_ev = event_new(s->base, s->pidfd, EV_READ, on_child_exit, s);
	evutil_make_socket_nonblocking(sv[0]);
	s->ctl = bufferevent_socket_new(s->base, sv[0], BEV_OPT_CLOSE_ON_FREE);
	if (!s->exit_ev || !s->ctl || event_add(s->exit_ev, NULL) < 0) {
		if (!s->ctl)
			close(sv[0]);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		stop_child(s, 0);
		return -ENOMEM;
	}
	bufferevent_setcb(s->ctl, on_ctl_read, NULL, on_ctl_event, s);
	bufferevent_enable(s->ctl, EV_READ | EV_WRITE);
	gwd_log("dns_start", "pid=%d program=%s restarts=%u", (int)pid, s->cfg.dns, s->restarts);
	send_config(s);
	send_zone(s);
	send_clients(s);
	send_policy(s);
	return 0;
}

/* ---------------------------------------------------------------- interface */

int gwd_dns_new(struct event_base *base, const struct gwd_config *cfg, struct gwd *d,
		struct gwd_dns **ret, char *err, size_t errlen)
{
	struct gwd_dns *s = calloc(1, sizeof(*s));
	unsigned i;
	int r;

	if (!s)
		return -ENOMEM;
	s->base = base;
	s->d = d;
	s->cfg = *cfg;
	s->pidfd = -1;
	snprintf(s->zone, sizeof(s->zone), "home.arpa");
	for (i = 0; i < cfg->ndns_listen; i++) {
		char a[64];

		inet_ntop(cfg->dns_listen[i].family == 4 ? AF_INET : AF_INET6, cfg->dns_listen[i].addr,
			  a, sizeof(a));
		s->udp[i] = open_socket(&cfg->dns_listen[i], SOCK_DGRAM);
		if (s->udp[i] < 0) {
			r = s->udp[i];
			snprintf(err, errlen, "dns_listen %s: UDP port 53: %s", a, strerror(-r));
			goto fail;
		}
		s->tcp[i] = open_socket(&cfg->dns_listen[i], SOCK_STREAM);
		if (s->tcp[i] < 0) {
			r = s->tcp[i];
			close(s->udp[i]);
			snprintf(err, errlen, "dns_listen %s: TCP port 53: %s", a, strerror(-r));
			goto fail;
		}
		s->nsock++;
	}
	s->restart_timer = evtimer_new(base, on_restart, s);
	if (!s->restart_timer) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	r = spawn(s);
	if (r < 0) {
		snprintf(err, errlen, "starting %s: %s", cfg->dns, strerror(-r));
		goto fail;
	}
	*ret = s;
	return 0;
fail:
	gwd_dns_free(s);
	return r;
}

void gwd_dns_free(struct gwd_dns *s)
{
	unsigned i;

	if (!s)
		return;
	gwd_dns_stats_cancel(s);
	if (s->pid > 0) {
		/* Its control socket closing ends it; it is reaped here so no zombie stays. */
		pid_t pid = s->pid;

		stop_child(s, 0);
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
	if (s->restart_timer)
		event_free(s->restart_timer);
	for (i = 0; i < s->nsock; i++) {
		close(s->udp[i]);
		close(s->tcp[i]);
	}
	free(s->image);
	free(s->allow);
	free(s->records);
	free(s->clients);
	free(s);
}

void gwd_dns_policy(struct gwd_dns *s, const void *image, size_t size, const struct pol_ir *ir)
{
	void *copy = NULL;
	const char *zone = ir ? pol_ir_str(ir, ir->meta->zone) : NULL;

	if (!s)
		return;
	if (size) {
		copy = malloc(size);
		if (!copy) {
			gwd_log("dns_policy_failed", "reason=nomem");
			return;
		}
		memcpy(copy, image, size);
	}
	free(s->image);
	s->image = copy;
	s->image_size = size;
	snprintf(s->zone, sizeof(s->zone), "%s", zone && zone[0] ? zone : "home.arpa");
	s->enforce = ir && (ir->meta->dns & POL_META_DNS_ENFORCE);
	if (take_private(s, ir) < 0)
		gwd_log("dns_policy_failed", "reason=nomem what=private");
	send_config(s);
	send_zone(s);
	send_policy(s);
}

int gwd_dns_set_records(struct gwd_dns *s, const struct gwd_dns_record *v, size_t n)
{
	struct gwd_dns_record *copy = NULL;

	if (n > GWDNS_ZONE_MAX)
		return -E2BIG;
	if (n) {
		copy = malloc(n * sizeof(*copy));
		if (!copy)
			return -ENOMEM;
		memcpy(copy, v, n * sizeof(*copy));
	}
	free(s->records);
	s->records = copy;
	s->nrecords = n;
	send_zone(s);
	return 0;
}

int gwd_dns_set_clients(struct gwd_dns *s, const struct gwd_dns_client *v, size_t n)
{
	struct gwdns_client_map *copy = NULL;
	size_t i;

	if (n > GWDNS_CLIENTS_MAX)
		return -E2BIG;
	if (n) {
		copy = calloc(n, sizeof(*copy));
		if (!copy)
			return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		copy[i].family = v[i].family;
		memcpy(copy[i].mac, v[i].mac, 6);
		memcpy(copy[i].addr, v[i].addr, 16);
	}
	free(s->clients);
	s->clients = copy;
	s->nclients = n;
	send_clients(s);
	return 0;
}

int gwd_dns_stats(struct gwd_dns *s, gwd_dns_stats_fn cb, void *arg)
{
	if (s->stats_cb)
		return -EBUSY;
	if (!s->ctl)
		return -ENOTCONN;
	s->stats_cb = cb;
	s->stats_arg = arg;
	s->stats_id = ++s->next_id;
	send_msg(s, GWDNS_MSG_STATS, s->stats_id, NULL, 0, NULL, 0);
	return 0;
}

void gwd_dns_stats_cancel(struct gwd_dns *s)
{
	if (!s)
		return;
	s->stats_cb = NULL;
	s->stats_arg = NULL;
	s->stats_id = 0;
}

json_t *gwd_dns_status(const struct gwd_dns *s)
{
	const char *state = s->pid > 0 ? "running" :
			    evtimer_pending(s->restart_timer, NULL) ? "restarting" : "stopped";

	return json_pack("{s:s,s:i,s:i,s:s?,s:i}", "state", state, "pid", (int)s->pid, "restarts",
			 (int)s->restarts, "last_exit", s->last_exit[0] ? s->last_exit : NULL,
			 "records", (int)s->nrecords);
}
