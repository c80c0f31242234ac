/* SPDX-License-Identifier: MIT */
/*
 * The loader (loader.h): the skeleton's program and maps, and the slot
 * protocol of gw_bpf_abi.h.  Touches only its own maps, the pins under the
 * root it was given, and the XDP program and TC filter it attaches (found
 * again by the maps they use, so a restarted loader detaches what an
 * earlier one attached).
 */
#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <linux/magic.h>

#include "classify.skel.h"
#include "loader.h"
#include "netdev.h"
#include "shaper.h"

/* An interface this loader attached to, and whether it made the clsact
 * qdisc there (then detach removes it again). */
struct iface {
	int ifindex;
	bool made_qdisc;
};

struct gwbpf {
	struct classify_bpf *skel;
	char *pin_root;   /* NULL: nothing pinned */
	bool adopted;     /* the maps were found pinned */
	uint32_t epoch_map_id; /* names this loader's maps in a program's map list */
	uint32_t hz;      /* jiffies per second, once known */
	struct iface *ifaces;
	size_t nifaces;
	int grace_fd, grace_inner_fd;
	uint64_t epoch;   /* what gw_epoch holds */
	bool staged;
	uint32_t staged_slot;
	int ncpus;
	struct ring_buffer *events;
	gwbpf_event_fn event_fn; /* of the drain under way */
	void *event_arg;
	int nevents;
	struct gwbpf_flow_set *sets; /* gw_flows, mmap'ed */
	struct gwbpf_netdev *netdev; /* XDP features, opened at the first gwbpf_fwd_sync */
	uint64_t seed;               /* gw_flow_seed[0] */
	uint32_t nsets, set_bits;    /* gw_flows' sets, log2 of them */
	/* The rates' HTB class minors in use (gw_shapes' classids), one bit
	 * each: a class's minor is unique over the ifb and every port. */
	uint64_t minors[65536 / 64];
	/* The live timeline this loader pushed (gwbpf_set_timeline), 0
	 * entries when it did not push the live one. */
	uint32_t tl_n, tl_staged_n; /* tl_staged_n: the staged slot's, there */
	uint64_t tl_start[GWBPF_TIMELINE];
	struct gwbpf_bitmap tl_masks[GWBPF_TIMELINE];
};

#define SETS_BYTES(g) ((size_t)(g)->nsets * sizeof(struct gwbpf_flow_set))

static int on_event(void *ctx, void *data, size_t size)
{
	struct gwbpf *g = ctx;
	struct gwbpf_event e;
	/* The ring is shared memory: copy, and check the size first. */
	if (size < sizeof(e))
		return 0;
	memcpy(&e, data, sizeof(e));
	g->nevents++;
	return g->event_fn(&e, g->event_arg);
}

int gwbpf_events_drain(struct gwbpf *g, gwbpf_event_fn fn, void *arg)
{
	g->event_fn = fn;
	g->event_arg = arg;
	g->nevents = 0;
	int r = ring_buffer__consume(g->events);
	g->event_fn = NULL;
	return r < 0 ? r : g->nevents;
}

int gwbpf_events_fd(const struct gwbpf *g)
{
	return ring_buffer__epoll_fd(g->events);
}

int gwbpf_map_fd(const struct gwbpf *g, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(g->skel->obj, name);
	return m ? bpf_map__fd(m) : -ENOENT;
}

int gwbpf_prog_fd(const struct gwbpf *g)
{
	return bpf_program__fd(g->skel->progs.gw_classify);
}

int gwbpf_egress_prog_fd(const struct gwbpf *g)
{
	return bpf_program__fd(g->skel->progs.gw_egress);
}

int gwbpf_ingress_prog_fd(const struct gwbpf *g)
{
	return bpf_program__fd(g->skel->progs.gw_ingress);
}

int gwbpf_classify_tc_prog_fd(const struct gwbpf *g)
{
	return bpf_program__fd(g->skel->progs.gw_classify_tc);
}

uint64_t gwbpf_epoch(const struct gwbpf *g)
{
	return g->epoch;
}

bool gwbpf_adopted(const struct gwbpf *g)
{
	return g->adopted;
}

/* The pin root must sit on a BPF filesystem.  /sys/fs/bpf is mounted when
 * it is not (some boots leave it out); any other place must already be
 * one.  The root itself is made if missing. */
static int make_pin_root(const char *root)
{
	char parent[PATH_MAX];
	struct statfs fs;
	size_t n = strlen(root);
	while (n > 1 && root[n - 1] == '/')
		n--;
	if (n >= sizeof(parent))
		return -ENAMETOOLONG;
	memcpy(parent, root, n);
	parent[n] = 0;
	char *slash = strrchr(parent, '/');
	if (!slash || slash == parent)
		return -EINVAL;
	*slash = 0;
	if (statfs(parent, &fs) < 0)
		return -errno;
	if (fs.f_type != BPF_FS_MAGIC) {
		if (strcmp(parent, "/sys/fs/bpf"))
			return -EINVAL;
		if (mount("bpf", parent, "bpf", 0, "mode=0700") < 0)
			return -errno;
	}
	if (mkdir(root, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (statfs(root, &fs) < 0)
		return -errno;
	return fs.f_type == BPF_FS_MAGIC ? 0 : -EINVAL;
}

/* Every map is pinned as pin_root/<map name>.  libbpf re-uses a pinned map
 * whose type, sizes and flags match (and refuses to load otherwise), and
 * pins the ones it creates. */
static int set_pins(struct gwbpf *g)
{
	struct bpf_map *m;
	char path[PATH_MAX];
	bool any = false;
	bpf_object__for_each_map(m, g->skel->obj) {
		/* .kconfig and the like belong to one program instance. */
		if (bpf_map__is_internal(m))
			continue;
		int n = snprintf(path, sizeof(path), "%s/%s", g->pin_root, bpf_map__name(m));
		if (n < 0 || (size_t)n >= sizeof(path))
			return -ENAMETOOLONG;
		if (access(path, F_OK) == 0)
			any = true;
		int r = bpf_map__set_pin_path(m, path);
		if (r < 0)
			return r;
	}
	g->adopted = any;
	return 0;
}

int gwbpf_new(struct gwbpf **ret)
{
	return gwbpf_open(NULL, ret);
}

/* The pinned map NAME under g's pin root, before the programs load: its
 * fd in *ret_fd, or -1 when there is none (no pin root, or not pinned). */
static int pinned_map(const struct gwbpf *g, const char *name, int *ret_fd)
{
	*ret_fd = -1;
	if (!g->pin_root)
		return 0;
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/%s", g->pin_root, name);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	int fd = bpf_obj_get(path);
	if (fd < 0 && errno != ENOENT)
		return -errno;
	*ret_fd = fd;
	return 0;
}

/* The flow hash's seed, before the programs load: the pinned
 * gw_flow_seed's when there is one (the flows in gw_flows sit where it put
 * them), else a random one.  The programs take it as a load-time constant
 * (the multipliers made from it, gw_hash_m1 and gw_hash_m2 in .rodata,
 * frozen before the programs load: plain loads, no map lookup and no
 * multiply on every packet); gw_flow_seed keeps it for the next start. */
static int seed_before_load(struct gwbpf *g)
{
	uint64_t seed = 0;
	int fd, r = pinned_map(g, GWBPF_MAP_FLOW_SEED, &fd);
	if (r < 0)
		return r;
	if (fd >= 0) {
		uint32_t k = 0;
		r = bpf_map_lookup_elem(fd, &k, &seed) < 0 ? -errno : 0;
		close(fd);
		if (r < 0)
			return r;
	}
	while (!seed) {
		ssize_t n = getrandom(&seed, sizeof(seed), 0);
		if (n < 0)
			return -errno;
		if (n != sizeof(seed))
			return -EIO;
	}
	g->seed = seed;
	__u64 m1, m2;
	gwbpf_flow_mults(seed, &m1, &m2);
	g->skel->rodata->gw_hash_m1 = m1;
	g->skel->rodata->gw_hash_m2 = m2;
	return 0;
}

/* gw_flow_seed holds the seed the programs were loaded with. */
static int flow_seed(struct gwbpf *g)
{
	int fd = bpf_map__fd(g->skel->maps.gw_flow_seed);
	uint32_t k = 0;
	uint64_t seed = 0;
	if (bpf_map_lookup_elem(fd, &k, &seed) < 0)
		return -errno;
	/* Another loader wrote a seed between our read and our load. */
	if (seed && seed != g->seed)
		return -ESTALE;
	if (!seed && bpf_map_update_elem(fd, &k, &g->seed, BPF_ANY) < 0)
		return -errno;
	return 0;
}

/* ---------------------------------------------------------------- shaper
 *
 * The rates' classes (gw_bpf_abi.h, "Rates"): made when a program asks
 * (gwbpf_shape), gone with their slot (gwbpf_stage) or their port
 * (gwbpf_detach).  The minors in use are the ones gw_shapes names, so a
 * restarted loader goes on from the pins.
 */

static void minor_mark(struct gwbpf *g, uint32_t classid, bool used)
{
	uint32_t m = classid & 0xffff;
	if (used)
		g->minors[m / 64] |= 1ull << (m % 64);
	else
		g->minors[m / 64] &= ~(1ull << (m % 64));
}

/* A free minor, 1 to 0xfffe (0 and 0xffff mean no class), or 0. */
static uint32_t minor_alloc(struct gwbpf *g)
{
	for (uint32_t w = 0; w < 65536 / 64; w++) {
		uint64_t free = ~g->minors[w];
		if (w == 0)
			free &= ~1ull;
		if (w == 65536 / 64 - 1)
			free &= ~(1ull << 63);
		if (free) {
			uint32_t m = w * 64 + (uint32_t)__builtin_ctzll(free);
			g->minors[w] |= 1ull << (m % 64);
			return m;
		}
	}
	return 0;
}

/* The interface a class lives on: the ifb for an upload, the port for a
 * download. */
static int shape_dev(const struct gwbpf_shape_key *k, const struct gwbpf_shape *v)
{
	return (int)(k->dir == GWBPF_DIR_UP ? v->ifindex : k->ifindex);
}

static int shapes_adopt(struct gwbpf *g)
{
	int fd = bpf_map__fd(g->skel->maps.gw_shapes);
	struct gwbpf_shape_key k, next;
	struct gwbpf_shape v;
	for (void *prev = NULL; bpf_map_get_next_key(fd, prev, &next) == 0; prev = &k) {
		k = next;
		if (bpf_map_lookup_elem(fd, &k, &v) == 0 && v.classid)
			minor_mark(g, v.classid, true);
	}
	return 0;
}

typedef bool (*shape_match)(const struct gwbpf_shape_key *k, uint32_t arg);

static bool in_slot(const struct gwbpf_shape_key *k, uint32_t slot)
{
	return k->slot == slot;
}

static bool on_port(const struct gwbpf_shape_key *k, uint32_t ifindex)
{
	return k->dir == GWBPF_DIR_DOWN && k->ifindex == ifindex;
}

static bool any_shape(const struct gwbpf_shape_key *k, uint32_t arg)
{
	return true;
}

/* Every class whose key matches goes, with its gw_shapes entry.  A class
 * the kernel no longer has (its interface gone) is fine. */
static int shapes_clear(struct gwbpf *g, shape_match match, uint32_t arg)
{
	int fd = bpf_map__fd(g->skel->maps.gw_shapes), r = 0;
	struct gwbpf_shape_key k, next, *gone = NULL;
	size_t n = 0;
	for (void *prev = NULL; bpf_map_get_next_key(fd, prev, &next) == 0; prev = &k) {
		k = next;
		if (!match(&k, arg))
			continue;
		struct gwbpf_shape_key *g2 = realloc(gone, (n + 1) * sizeof(*g2));
		if (!g2) {
			free(gone);
			return -ENOMEM;
		}
		gone = g2;
		gone[n++] = k;
	}
	for (size_t i = 0; i < n; i++) {
		struct gwbpf_shape v;
		if (bpf_map_lookup_elem(fd, &gone[i], &v) < 0)
			continue;
		if (v.classid) {
			int e = gwbpf_tc_class_del(shape_dev(&gone[i], &v), v.classid);
			if (e < 0 && e != -ENOENT && e != -ENODEV && e != -EINVAL && !r)
				r = e;
			minor_mark(g, v.classid, false);
		}
		if (bpf_map_delete_elem(fd, &gone[i]) < 0 && errno != ENOENT && !r)
			r = -errno;
	}
	free(gone);
	return r;
}

int gwbpf_shape(struct gwbpf *g, const struct gwbpf_event *e)
{
	if (e->kind != GWBPF_EV_SHAPE || e->dir > GWBPF_DIR_DOWN || e->slot >= GWBPF_SLOTS ||
	    e->rule >= GWBPF_MAX_RULES || (e->dir == GWBPF_DIR_DOWN) != (e->ifindex != 0))
		return -EINVAL;
	/* Asked for under a generation since replaced: its slot's classes
	 * go when the slot is staged again, so none is made for it. */
	if (!(g->epoch & GWBPF_EPOCH_VALID) || e->slot != (g->epoch & GWBPF_EPOCH_SLOT ? 1 : 0))
		return 0;
	int fd = bpf_map__fd(g->skel->maps.gw_shapes), r;
	struct gwbpf_shape_key k = { .rule = e->rule, .device = e->device, .slot = e->slot,
				     .dir = e->dir, .ifindex = e->ifindex };
	if (e->device == ~0u)
		memcpy(k.mac, e->mac, 6);
	struct gwbpf_shape v = { 0 };
	if (bpf_map_lookup_elem(fd, &k, &v) == 0 && v.classid)
		return 0;
	struct pol_tables_rule rule;
	uint32_t ri = e->slot * GWBPF_MAX_RULES + e->rule;
	if (bpf_map_lookup_elem(bpf_map__fd(g->skel->maps.gw_rules), &ri, &rule) < 0)
		return -errno;
	if (!(rule.flags & POL_TABLES_RULE_RATE) || !rule.rate_bps)
		return -EINVAL;
	int dev = (int)e->ifindex;
	if (e->dir == GWBPF_DIR_UP && (r = gwbpf_tc_ifb(GWBPF_IFB, &dev)) < 0)
		return r;
	if ((r = gwbpf_tc_htb_root(dev, GWBPF_HTB_MAJOR)) < 0)
		return r;
	uint32_t minor = minor_alloc(g);
	if (!minor)
		return -ENOSPC;
	uint32_t classid = (uint32_t)GWBPF_HTB_MAJOR << 16 | minor;
	if ((r = gwbpf_tc_class(dev, classid, rule.rate_bps)) < 0) {
		minor_mark(g, classid, false);
		return r;
	}
	v.classid = classid;
	v.ifindex = e->dir == GWBPF_DIR_UP ? (uint32_t)dev : 0;
	if (bpf_map_update_elem(fd, &k, &v, BPF_ANY) < 0) {
		r = -errno;
		gwbpf_tc_class_del(dev, classid);
		minor_mark(g, classid, false);
		return r;
	}
	return 1;
}

int gwbpf_shape_info(const struct gwbpf *g, const struct gwbpf_shape_key *k, uint32_t *ret_classid,
		     int *ret_ifindex)
{
	struct gwbpf_shape v;
	if (bpf_map_lookup_elem(bpf_map__fd(g->skel->maps.gw_shapes), k, &v) < 0)
		return -errno;
	if (!v.classid)
		return -ENOENT;
	*ret_classid = v.classid;
	*ret_ifindex = shape_dev(k, &v);
	return 0;
}

/* A pinned map's max_entries into *max (left alone when name is not
 * pinned): what a restarted gwd adopts instead of its own size. */
static int pinned_max_entries(struct gwbpf *g, const char *name, uint32_t *max)
{
	int fd, r = pinned_map(g, name, &fd);
	if (r < 0 || fd < 0)
		return r;
	struct bpf_map_info mi = { 0 };
	uint32_t len = sizeof(mi);
	r = bpf_obj_get_info_by_fd(fd, &mi, &len) < 0 ? -errno : 0;
	close(fd);
	if (r == 0)
		*max = mi.max_entries;
	return r;
}

/* gw_flows' size, before the programs load: a pinned table's (its flows
 * are there, and libbpf would refuse to re-use a pin of another size),
 * else `flows`.  The programs take the set bits as a load-time constant. */
static int flows_before_load(struct gwbpf *g, uint32_t flows)
{
	uint32_t nsets = flows / GWBPF_FLOW_WAYS;
	int r = pinned_max_entries(g, GWBPF_MAP_FLOWS, &nsets);
	if (r < 0)
		return r;
	uint32_t pinned = nsets * GWBPF_FLOW_WAYS;
	if (pinned < GWBPF_FLOWS_MIN || pinned > GWBPF_FLOWS_MAX || (nsets & (nsets - 1)))
		return -EINVAL;
	g->nsets = nsets;
	g->set_bits = gwbpf_flow_set_bits(pinned);
	g->skel->rodata->gw_flow_bits = g->set_bits;
	return bpf_map__set_max_entries(g->skel->maps.gw_flows, nsets);
}

/* gw_events' size, before the programs load: a pinned ring's (one made
 * by an older gwd, smaller; libbpf would refuse to re-use a pin of another
 * size), else GWBPF_EVENTS_BYTES. */
static int events_before_load(struct gwbpf *g)
{
	uint32_t bytes = 0;
	int r = pinned_max_entries(g, GWBPF_MAP_EVENTS, &bytes);
	if (r < 0 || !bytes)
		return r;
	return bpf_map__set_max_entries(g->skel->maps.gw_events, bytes);
}

uint32_t gwbpf_flows(const struct gwbpf *g)
{
	return g->nsets * GWBPF_FLOW_WAYS;
}

int gwbpf_open(const char *pin_root, struct gwbpf **ret)
{
	return gwbpf_open_sized(pin_root, GWBPF_FLOWS_DEFAULT, ret);
}

int gwbpf_open_sized(const char *pin_root, uint32_t flows, struct gwbpf **ret)
{
	if (flows < GWBPF_FLOWS_MIN || flows > GWBPF_FLOWS_MAX || (flows & (flows - 1)))
		return -EINVAL;
	struct gwbpf *g = calloc(1, sizeof(*g));
	int r = -ENOMEM;
	if (!g)
		return r;
	g->grace_fd = g->grace_inner_fd = -1;
	g->ncpus = libbpf_num_possible_cpus();
	if (g->ncpus <= 0) {
		r = g->ncpus ? g->ncpus : -EINVAL;
		goto fail;
	}
	g->skel = classify_bpf__open();
	if (!g->skel) {
		r = -errno;
		goto fail;
	}
	if (pin_root) {
		r = -ENOMEM;
		if (!(g->pin_root = strdup(pin_root)))
			goto fail;
		if ((r = make_pin_root(pin_root)) < 0 || (r = set_pins(g)) < 0)
			goto fail;
	}
	if ((r = seed_before_load(g)) < 0 || (r = flows_before_load(g, flows)) < 0 ||
	    (r = events_before_load(g)) < 0 || (r = classify_bpf__load(g->skel)) < 0)
		goto fail;
	struct bpf_map_info mi = { 0 };
	uint32_t mlen = sizeof(mi);
	if (bpf_obj_get_info_by_fd(bpf_map__fd(g->skel->maps.gw_epoch), &mi, &mlen) < 0) {
		r = -errno;
		goto fail;
	}
	g->epoch_map_id = mi.id;
	/* Updating a map-in-map returns only after an RCU grace period
	 * (maybe_wait_bpf_programs() in kernel/bpf/syscall.c): that is how
	 * userspace knows no program run still reads what it overwrites. */
	g->grace_inner_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "gw_grace_in", 4, 4, 1, NULL);
	if (g->grace_inner_fd < 0) {
		r = -errno;
		goto fail;
	}
	LIBBPF_OPTS(bpf_map_create_opts, o, .inner_map_fd = g->grace_inner_fd);
	g->grace_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "gw_grace", 4, 4, 1, &o);
	if (g->grace_fd < 0) {
		r = -errno;
		goto fail;
	}
	g->events = ring_buffer__new(bpf_map__fd(g->skel->maps.gw_events), on_event, g, NULL);
	if (!g->events) {
		r = -errno;
		goto fail;
	}
	uint32_t k = 0;
	if (bpf_map_lookup_elem(bpf_map__fd(g->skel->maps.gw_epoch), &k, &g->epoch) < 0) {
		r = -errno;
		goto fail;
	}
	void *sets = mmap(NULL, SETS_BYTES(g), PROT_READ | PROT_WRITE, MAP_SHARED,
			  bpf_map__fd(g->skel->maps.gw_flows), 0);
	if (sets == MAP_FAILED) {
		r = -errno;
		goto fail;
	}
	g->sets = sets;
	if ((r = flow_seed(g)) < 0 || (r = shapes_adopt(g)) < 0)
		goto fail;
	*ret = g;
	return 0;
fail:
	gwbpf_free(g);
	return r;
}

void gwbpf_free(struct gwbpf *g)
{
	if (!g)
		return;
	ring_buffer__free(g->events);
	if (g->sets)
		munmap(g->sets, SETS_BYTES(g));
	free(g->ifaces);
	free(g->pin_root);
	gwbpf_netdev_close(g->netdev);
	if (g->grace_fd >= 0)
		close(g->grace_fd);
	if (g->grace_inner_fd >= 0)
		close(g->grace_inner_fd);
	classify_bpf__destroy(g->skel);
	free(g);
}

static int grace(struct gwbpf *g)
{
	uint32_t k = 0;
	uint32_t v = (uint32_t)g->grace_inner_fd;
	return bpf_map_update_elem(g->grace_fd, &k, &v, BPF_ANY) < 0 ? -errno : 0;
}

/* Delete every key of a hash or LPM map whose slot byte (at `off` in the
 * key) is `slot`.  Keys are collected first: deleting while walking would
 * restart the walk. */
static int clear_slot(int fd, size_t ksize, size_t off, uint32_t slot)
{
	size_t n = 0, cap = 1024;
	uint8_t *keys = malloc(cap * ksize), *prev = NULL, cur[64], last[64];
	int r = 0;
	if (!keys)
		return -ENOMEM;
	while (bpf_map_get_next_key(fd, prev, cur) == 0) {
		if (cur[off] == slot) {
			if (n == cap) {
				uint8_t *k = realloc(keys, 2 * cap * ksize);
				if (!k) {
					r = -ENOMEM;
					goto out;
				}
				keys = k;
				cap *= 2;
			}
			memcpy(keys + n * ksize, cur, ksize);
			n++;
		}
		memcpy(last, cur, ksize);
		prev = last;
	}
	for (size_t i = 0; i < n; i++)
		if (bpf_map_delete_elem(fd, keys + i * ksize) < 0 && errno != ENOENT) {
			r = -errno;
			goto out;
		}
out:
	free(keys);
	return r;
}

/* values[i] goes to index first + i of an array map. */
static int fill_array(int fd, uint32_t first, const void *values, uint32_t n)
{
	uint32_t *keys = malloc((n ? n : 1) * sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		keys[i] = first + i;
	uint32_t count = n;
	int r = n ? bpf_map_update_batch(fd, keys, values, &count, NULL) : 0;
	r = r < 0 ? -errno : count == n ? 0 : -EIO;
	free(keys);
	return r;
}

/* value (every CPU's) to indices first..first + n - 1 of a per-CPU array. */
static int fill_percpu(int fd, uint32_t first, const void *value, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		uint32_t k = first + i;
		if (bpf_map_update_elem(fd, &k, value, BPF_ANY) < 0)
			return -errno;
	}
	return 0;
}

static uint64_t summarise(const struct gwbpf_bitmap *b)
{
	uint64_t s = 0;
	for (uint32_t w = 0; w < GWBPF_WORDS; w++)
		if (b->w[w])
			s |= 1ull << w;
	return s;
}

/* gw_summaries (gw_bpf_abi.h) for n bitmaps, from index first. */
static int fill_summaries(struct gwbpf *g, uint32_t first, const struct gwbpf_bitmap *b, uint32_t n)
{
	uint64_t *v = malloc((n ? n : 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		v[i] = summarise(&b[i]);
	int r = fill_array(bpf_map__fd(g->skel->maps.gw_summaries), first, v, n);
	free(v);
	return r;
}

/* The packets gw_rule_stats holds, per slot, summed over rules and CPUs. */
/* The packets gw_rule_stats holds, per slot, summed over rules and CPUs:
 * batch reads of up to RULE_BATCH entries (a per-CPU value is ncpus
 * structs, so the buffer stays small however many CPUs there may be). */
#define RULE_BATCH 256u
static int rule_packets(const struct gwbpf *g, uint64_t ret[GWBPF_SLOTS])
{
	const uint32_t n = GWBPF_SLOTS * GWBPF_RULE_STATS;
	int fd = bpf_map__fd(g->skel->maps.gw_rule_stats), r = 0;
	uint32_t keys[RULE_BATCH], out = 0, seen = 0;
	struct gwbpf_rule_stats *v = calloc((size_t)RULE_BATCH * (size_t)g->ncpus, sizeof(*v));
	ret[0] = ret[1] = 0;
	if (!v)
		return -ENOMEM;
	for (bool more = true; more && seen < n;) {
		uint32_t count = RULE_BATCH;
		LIBBPF_OPTS(bpf_map_batch_opts, o);
		if (bpf_map_lookup_batch(fd, seen ? &out : NULL, &out, keys, v, &count, &o) < 0) {
			if (errno != ENOENT) {
				r = -errno;
				break;
			}
			more = false; /* the last entries came with ENOENT */
		}
		for (uint32_t i = 0; i < count; i++) {
			uint32_t slot = keys[i] / GWBPF_RULE_STATS;
			for (int c = 0; c < g->ncpus && slot < GWBPF_SLOTS; c++)
				ret[slot] += v[(size_t)i * (size_t)g->ncpus + (size_t)c].packets;
		}
		seen += count;
		if (!count)
			break;
	}
	free(v);
	return r;
}

static int read_retired(const struct gwbpf *g, uint64_t *ret)
{
	uint32_t k = 0;
	if (bpf_map_lookup_elem(bpf_map__fd(g->skel->maps.gw_retired), &k, ret) < 0)
		return -errno;
	return 0;
}

static int write_epoch(struct gwbpf *g, uint64_t e)
{
	uint32_t k = 0;
	if (bpf_map_update_elem(bpf_map__fd(g->skel->maps.gw_epoch), &k, &e, BPF_ANY) < 0)
		return -errno;
	g->epoch = e;
	return 0;
}

static int clock_now(const struct gwbpf *g, struct gwbpf_clock *ret);
static int hz(struct gwbpf *g, uint32_t *ret);

/* Epoch numbers step by GWBPF_TIMELINE: a flow holds the number plus its
 * timeline entry (gw_bpf_abi.h, "Schedules"), unique across epochs. */
static uint64_t next_number(uint64_t e)
{
	return ((e & GWBPF_EPOCH_NUMBER) / GWBPF_TIMELINE + 1) * GWBPF_TIMELINE &
	       GWBPF_EPOCH_NUMBER;
}

/* Timeline tk (slot * 2 + buf): n masks from start[i] (jiffies) on, in
 * gw_active and gw_summaries, then its header.  The buffer is idle: no
 * program run reads it (the caller waited a grace period). */
static int write_timeline(struct gwbpf *g, uint32_t tk, const uint64_t *start,
			  const struct gwbpf_bitmap *masks, uint32_t n)
{
	struct gwbpf_timeline t = { .n = n };
	if (!n || n > GWBPF_TIMELINE || tk >= GWBPF_TIMELINES)
		return -EINVAL;
	for (uint32_t i = 1; i < n; i++)
		t.start[i] = start[i];
	int r = fill_array(bpf_map__fd(g->skel->maps.gw_active), tk * GWBPF_TIMELINE, masks, n);
	if (r == 0)
		r = fill_summaries(g, GWBPF_SUMMARY_ACTIVE + tk * GWBPF_TIMELINE, masks, n);
	if (r == 0 && bpf_map_update_elem(bpf_map__fd(g->skel->maps.gw_timeline), &tk, &t,
					  BPF_ANY) < 0)
		r = -errno;
	return r;
}

int gwbpf_tables_build(const struct pol_ir *ir, struct pol_tables **ret)
{
	return pol_tables_build(ir, GWBPF_MAX_RULES, GWBPF_MAX_BITMAPS, ret);
}

void gwbpf_active_mask(const struct pol_ir *ir, struct pol_when when, struct gwbpf_bitmap *ret)
{
	uint64_t w[GWBPF_WORDS] = { 0 };
	/* pol_active_rules writes (nrules + 63) / 64 words: at most
	 * GWBPF_WORDS here. */
	if (ir->nrules <= GWBPF_MAX_RULES)
		pol_active_rules(ir, when, w);
	for (unsigned i = 0; i < GWBPF_WORDS; i++)
		ret->w[i] = w[i];
}

/* The tables' bitmaps as gw_bitmaps' values: each row widened to
 * GWBPF_WORDS words, the rest zero. */
static struct gwbpf_bitmap *map_bitmaps(const struct pol_tables *t)
{
	uint32_t n = t->head.nbitmaps;
	struct gwbpf_bitmap *b = calloc(n ? n : 1, sizeof(*b));
	if (!b)
		return NULL;
	for (uint32_t i = 0; i < n; i++)
		memcpy(b[i].w, pol_tables_row(t, i), t->words * sizeof(uint64_t));
	return b;
}

int gwbpf_stage(struct gwbpf *g, const struct pol_tables *t, const struct gwbpf_bitmap *active)
{
	struct classify_bpf *s = g->skel;
	struct gwbpf_bitmap *bitmaps = NULL;
	uint32_t slot = g->epoch & GWBPF_EPOCH_SLOT ? 0 : 1, k;
	int r;
	if (t->head.nrules > GWBPF_MAX_RULES || t->head.nbitmaps > GWBPF_MAX_BITMAPS ||
	    t->words > GWBPF_WORDS)
		return -E2BIG;
	g->staged = false;
	g->tl_staged_n = 0;
	if ((r = grace(g)) < 0)
		return r;
	if ((r = clear_slot(bpf_map__fd(s->maps.gw_macs), sizeof(struct gwbpf_mac_key),
			    offsetof(struct gwbpf_mac_key, slot), slot)) < 0 ||
	    (r = clear_slot(bpf_map__fd(s->maps.gw_prefixes), sizeof(struct gwbpf_lpm_key),
			    offsetof(struct gwbpf_lpm_key, slot), slot)) < 0 ||
	    (r = clear_slot(bpf_map__fd(s->maps.gw_domains), sizeof(struct gwbpf_addr_key),
			    offsetof(struct gwbpf_addr_key, slot), slot)) < 0 ||
	    (r = clear_slot(bpf_map__fd(s->maps.gw_rates), sizeof(struct gwbpf_rate_key),
			    offsetof(struct gwbpf_rate_key, slot), slot)) < 0 ||
	    (r = shapes_clear(g, in_slot, slot)) < 0)
		return r;

	/* A generation's rule counters start at zero; what the slot counted
	 * goes to gw_retired first (PACKETS and PASS are derived from both:
	 * gw_bpf_abi.h).  Added before it is cleared: a crash in between
	 * counts a generation's packets twice, never loses them, so the
	 * derived totals do not go backwards. */
	uint64_t sums[GWBPF_SLOTS], retired;
	if ((r = rule_packets(g, sums)) < 0 || (r = read_retired(g, &retired)) < 0)
		return r;
	k = 0;
	retired += sums[slot];
	if (bpf_map_update_elem(bpf_map__fd(s->maps.gw_retired), &k, &retired, BPF_ANY) < 0)
		return -errno;
	struct gwbpf_rule_stats *zero = calloc((size_t)g->ncpus, sizeof(*zero));
	if (!zero)
		return -ENOMEM;
	r = fill_percpu(bpf_map__fd(s->maps.gw_rule_stats), slot * GWBPF_RULE_STATS, zero,
			GWBPF_RULE_STATS);
	free(zero);
	if (r < 0)
		return r;
	r = -ENOMEM;
	if (!(bitmaps = map_bitmaps(t)))
		goto out;
	if ((r = fill_array(bpf_map__fd(s->maps.gw_bitmaps), slot * GWBPF_MAX_BITMAPS, bitmaps,
			    t->head.nbitmaps)) < 0 ||
	    (r = fill_array(bpf_map__fd(s->maps.gw_rules), slot * GWBPF_MAX_RULES, t->rules,
			    t->head.nrules)) < 0 ||
	    (r = fill_array(bpf_map__fd(s->maps.gw_ports), slot * GWBPF_PORTS_PER_SLOT, t->ports,
			    GWBPF_PORTS_PER_SLOT)) < 0 ||
	    (r = write_timeline(g, slot * 2, NULL, active, 1)) < 0 ||
	    (r = fill_summaries(g, slot * GWBPF_MAX_BITMAPS, bitmaps, t->head.nbitmaps)) < 0)
		goto out;
	for (uint32_t i = 0; i < t->nmacs; i++) {
		struct gwbpf_mac_key mk = { .slot = (uint8_t)slot };
		struct gwbpf_mac_val mv = { .device = t->macs[i].device,
					    .subject = t->macs[i].subject };
		memcpy(mk.mac, t->macs[i].mac, 6);
		if (bpf_map_update_elem(bpf_map__fd(s->maps.gw_macs), &mk, &mv, BPF_ANY) < 0) {
			r = -errno;
			goto out;
		}
	}
	for (uint32_t i = 0; i < t->nprefixes; i++) {
		const struct pol_tables_prefix *p = &t->prefixes[i];
		struct gwbpf_lpm_key lk = { .prefixlen = GWBPF_LPM_HEAD + p->plen,
					    .slot = (uint8_t)slot, .family = p->family };
		uint32_t v = p->bitmap;
		memcpy(lk.addr, p->addr, 16);
		if (bpf_map_update_elem(bpf_map__fd(s->maps.gw_prefixes), &lk, &v, BPF_ANY) < 0) {
			r = -errno;
			goto out;
		}
	}
	k = slot;
	if (bpf_map_update_elem(bpf_map__fd(s->maps.gw_policy), &k, &t->head, BPF_ANY) < 0) {
		r = -errno;
		goto out;
	}
	g->staged = true;
	g->staged_slot = slot;
	r = 0;
out:
	free(bitmaps);
	return r;
}

int gwbpf_commit(struct gwbpf *g)
{
	if (!g->staged)
		return -EINVAL;
	uint64_t e = next_number(g->epoch) | GWBPF_EPOCH_VALID |
		     (g->staged_slot ? GWBPF_EPOCH_SLOT : 0);
	int r = write_epoch(g, e);
	if (r == 0) {
		g->staged = false;
		g->tl_n = g->tl_staged_n;
		g->tl_staged_n = 0;
	}
	return r;
}

int gwbpf_set_active(struct gwbpf *g, const struct gwbpf_bitmap *active)
{
	if (!(g->epoch & GWBPF_EPOCH_VALID))
		return -EINVAL;
	uint32_t slot = g->epoch & GWBPF_EPOCH_SLOT ? 1 : 0;
	uint32_t buf = g->epoch & GWBPF_EPOCH_ACTIVE ? 0 : 1;
	int r = grace(g);
	if (r < 0 || (r = write_timeline(g, slot * 2 + buf, NULL, active, 1)) < 0)
		return r;
	uint64_t e = next_number(g->epoch) | (g->epoch & (GWBPF_EPOCH_VALID | GWBPF_EPOCH_SLOT)) |
		     (buf ? GWBPF_EPOCH_ACTIVE : 0);
	g->tl_n = 0;
	return write_epoch(g, e);
}

int gwbpf_timeline_build(const struct pol_ir *ir, int64_t now_s, uint32_t horizon_s,
			 const struct gwbpf_bitmap *first, const struct gwbpf_bitmap *closed,
			 struct gwbpf_schedule *ret)
{
	struct pol_when when;
	int r;
	ret->n = 1;
	ret->start_s[0] = now_s;
	ret->active[0] = *first;
	ret->closed = *closed;
	/* Minute by minute, as gwd's own mask: a boundary is where the mask
	 * changes.  From the next minute on; the first entry holds from now. */
	int64_t m0 = now_s - (now_s % 60 + 60) % 60;
	ret->end_s = m0 + (int64_t)horizon_s;
	for (int64_t t = m0 + 60; t < ret->end_s; t += 60) {
		struct gwbpf_bitmap a;
		if ((r = pol_when_at(ir, (time_t)t, &when)) < 0)
			return r;
		gwbpf_active_mask(ir, when, &a);
		if (!memcmp(&a, &ret->active[ret->n - 1], sizeof(a)))
			continue;
		if (ret->n == GWBPF_SCHEDULE_MAX) {
			/* Full: the timeline ends where the next entry
			 * would start (gwd re-pushes long before). */
			ret->end_s = t;
			break;
		}
		ret->start_s[ret->n] = t;
		ret->active[ret->n] = a;
		ret->n++;
	}
	return 0;
}

/* Wall-clock seconds to jiffies: j = jiffies now + (t - now) * HZ. */
struct wall_jiffies {
	struct gwbpf_clock c;
	int64_t real_ns;
	uint32_t hz;
};

static int wall_jiffies_now(struct gwbpf *g, struct wall_jiffies *ret)
{
	struct timespec a, b;
	int r;
	if ((r = hz(g, &ret->hz)) < 0)
		return r;
	clock_gettime(CLOCK_REALTIME, &a);
	if ((r = clock_now(g, &ret->c)) < 0)
		return r;
	clock_gettime(CLOCK_REALTIME, &b);
	ret->real_ns = ((int64_t)a.tv_sec + (int64_t)b.tv_sec) * 500000000ll +
		       ((int64_t)a.tv_nsec + (int64_t)b.tv_nsec) / 2;
	return 0;
}

static uint64_t to_jiffies(const struct wall_jiffies *w, int64_t t_s)
{
	int64_t d_ns = t_s * 1000000000ll - w->real_ns;
	int64_t d = d_ns / (1000000000ll / (int64_t)w->hz);
	if (d < 0 && (uint64_t)-d >= w->c.jiffies)
		return 1;
	return (uint64_t)((int64_t)w->c.jiffies + d);
}

/* The live timeline is the new one already, from now on: the same masks
 * in the same order, each start within a second, and its end at most an
 * hour earlier (so a live timeline is pushed again about hourly, and
 * always reaches 23 hours ahead; a clock step of more than a second, or a
 * boundary the hour brings in, pushes it at once). */
static bool timeline_same(const struct gwbpf *g, const uint64_t *start,
			  const struct gwbpf_bitmap *masks, uint32_t n, uint64_t now_j)
{
	uint32_t on = g->tl_n, o = 0;
	uint64_t tol = g->hz, hour = 3600ull * g->hz;
	if (on < 2 || n < 2)
		return false;
	while (o + 1 < on && g->tl_start[o + 1] <= now_j)
		o++;
	/* Past the live one's end, or not as many entries left. */
	if (o + 1 >= on || n != on - o)
		return false;
	for (uint32_t i = 0; i < n; i++) {
		if (memcmp(&masks[i], &g->tl_masks[o + i], sizeof(masks[i])))
			return false;
		uint64_t a = start[i], b = g->tl_start[o + i];
		if (i > 0 && (a + tol < b || a > b + (i + 1 < n ? tol : hour)))
			return false;
	}
	return true;
}

/* s in jiffies, now: start[] and masks[] (GWBPF_TIMELINE each), *ret_n
 * entries with the closed one. */
static int timeline_jiffies(struct gwbpf *g, const struct gwbpf_schedule *s, uint64_t *start,
			    struct gwbpf_bitmap *masks, uint32_t *ret_n, uint64_t *ret_now)
{
	if (!s->n || s->n > GWBPF_SCHEDULE_MAX)
		return -EINVAL;
	for (uint32_t i = 1; i < s->n; i++)
		if (s->start_s[i] <= s->start_s[i - 1])
			return -EINVAL;
	if (s->end_s <= s->start_s[s->n - 1])
		return -EINVAL;
	struct wall_jiffies w;
	int r = wall_jiffies_now(g, &w);
	if (r < 0)
		return r;
	uint32_t n = s->n + 1;
	start[0] = 0;
	masks[0] = s->active[0];
	for (uint32_t i = 1; i < n; i++) {
		start[i] = to_jiffies(&w, i < s->n ? s->start_s[i] : s->end_s);
		if (start[i] <= start[i - 1])
			start[i] = start[i - 1] + 1;
		masks[i] = i < s->n ? s->active[i] : s->closed;
	}
	*ret_n = n;
	*ret_now = w.c.jiffies;
	return 0;
}

int gwbpf_set_timeline(struct gwbpf *g, const struct gwbpf_schedule *s)
{
	if (!(g->epoch & GWBPF_EPOCH_VALID))
		return -EINVAL;
	uint64_t start[GWBPF_TIMELINE], now;
	uint32_t n;
	struct gwbpf_bitmap *masks = malloc(sizeof(*masks) * GWBPF_TIMELINE);
	if (!masks)
		return -ENOMEM;
	int r = timeline_jiffies(g, s, start, masks, &n, &now);
	if (r < 0)
		goto out;
	uint32_t slot = g->epoch & GWBPF_EPOCH_SLOT ? 1 : 0;
	uint32_t buf = g->epoch & GWBPF_EPOCH_ACTIVE ? 0 : 1;
	if (timeline_same(g, start, masks, n, now)) {
		r = 0;
		goto out;
	}
	if ((r = grace(g)) < 0 || (r = write_timeline(g, slot * 2 + buf, start, masks, n)) < 0)
		goto out;
	uint64_t e = next_number(g->epoch) | (g->epoch & (GWBPF_EPOCH_VALID | GWBPF_EPOCH_SLOT)) |
		     (buf ? GWBPF_EPOCH_ACTIVE : 0);
	/* The copy is this one's from here: a staged timeline's is gone
	 * (its commit then leaves no copy, and the next push writes). */
	g->tl_n = 0;
	g->tl_staged_n = 0;
	if ((r = write_epoch(g, e)) < 0)
		goto out;
	memcpy(g->tl_start, start, sizeof(start[0]) * n);
	memcpy(g->tl_masks, masks, sizeof(masks[0]) * n);
	g->tl_n = n;
	r = 1;
out:
	free(masks);
	return r;
}

int gwbpf_stage_timeline(struct gwbpf *g, const struct gwbpf_schedule *s)
{
	if (!g->staged)
		return -EINVAL;
	uint64_t start[GWBPF_TIMELINE], now;
	uint32_t n;
	struct gwbpf_bitmap *masks = malloc(sizeof(*masks) * GWBPF_TIMELINE);
	if (!masks)
		return -ENOMEM;
	int r = timeline_jiffies(g, s, start, masks, &n, &now);
	/* The staged slot is idle since gwbpf_stage's grace period. */
	if (r == 0 && (r = write_timeline(g, g->staged_slot * 2, start, masks, n)) == 0) {
		/* Live at commit; the live one's copy is gone meanwhile. */
		memcpy(g->tl_start, start, sizeof(start[0]) * n);
		memcpy(g->tl_masks, masks, sizeof(masks[0]) * n);
		g->tl_n = 0;
		g->tl_staged_n = n;
	}
	free(masks);
	return r;
}

int gwbpf_domain_set(struct gwbpf *g, bool staged, uint8_t family, const uint8_t addr[16],
		     uint64_t sets, uint64_t expires_ns)
{
	if (staged && !g->staged)
		return -EINVAL;
	if (family != 4 && family != 6)
		return -EINVAL;
	struct gwbpf_addr_key k = {
		.slot = (uint8_t)(staged ? g->staged_slot : (g->epoch & GWBPF_EPOCH_SLOT ? 1 : 0)),
		.family = family,
	};
	memcpy(k.addr, addr, family == 4 ? 4 : 16);
	int fd = bpf_map__fd(g->skel->maps.gw_domains);
	if (!sets)
		return bpf_map_delete_elem(fd, &k) < 0 && errno != ENOENT ? -errno : 0;
	struct gwbpf_domain_val v = { .sets = sets, .expires_ns = expires_ns };
	return bpf_map_update_elem(fd, &k, &v, BPF_ANY) < 0 ? -errno : 0;
}

/* gw_fwd_ifs becomes the devices of want[0..n) that take XDP frames
 * (gw_bpf_abi.h, "Forwarding in XDP"): compared with what it holds, so a
 * check that changes nothing writes nothing. */
static bool ifindex_exists(int ifindex)
{
	char name[IF_NAMESIZE];
	return if_indextoname((unsigned)ifindex, name) != NULL;
}

int gwbpf_fwd_sync(struct gwbpf *g, const struct gwbpf_fwd_if *want, size_t n, bool xdp,
		   uint32_t *ret_n, uint32_t *ret_xdp)
{
	int fd = bpf_map__fd(g->skel->maps.gw_fwd_ifs), r = 0;
	struct gwbpf_fwd_if keep[GWBPF_MAX_FWD_IFS];
	size_t nkeep = 0, nxdp = 0;
	if (n && !g->netdev && (r = gwbpf_netdev_open(&g->netdev)) < 0)
		return r;
	for (size_t i = 0; i < n && nkeep < GWBPF_MAX_FWD_IFS; i++) {
		uint64_t f = 0;
		int x = gwbpf_netdev_xdp_features(g->netdev, want[i].ifindex, &f);
		/* Gone: not forwarded to.  A kernel without the family: its
		 * XDP frames are not known to be taken (TC's skbs are). */
		if (x == -ENODEV || (x == -EOPNOTSUPP && !ifindex_exists(want[i].ifindex)))
			continue;
		if (x < 0 && x != -EOPNOTSUPP) {
			r = x;
			continue;
		}
		keep[nkeep] = want[i];
		keep[nkeep].flags &= ~GWBPF_FWD_XDP;
		if (xdp && x == 0 && (f & GWBPF_XDP_ACT_NDO_XMIT)) {
			keep[nkeep].flags |= GWBPF_FWD_XDP;
			nxdp++;
		}
		nkeep++;
	}
	/* The ones no longer wanted go; then the wanted ones come in. */
	uint32_t key, next;
	uint32_t *pk = NULL;
	uint32_t drop[GWBPF_MAX_FWD_IFS];
	size_t ndrop = 0;
	while (bpf_map_get_next_key(fd, pk, &next) == 0 && ndrop < GWBPF_MAX_FWD_IFS) {
		bool kept = false;
		for (size_t i = 0; i < nkeep; i++)
			kept = kept || (uint32_t)keep[i].ifindex == next;
		if (!kept)
			drop[ndrop++] = next;
		key = next;
		pk = &key;
	}
	for (size_t i = 0; i < ndrop; i++)
		if (bpf_map_delete_elem(fd, &drop[i]) < 0 && errno != ENOENT && r == 0)
			r = -errno;
	for (size_t i = 0; i < nkeep; i++) {
		uint32_t k = (uint32_t)keep[i].ifindex, v;
		if (bpf_map_lookup_elem(fd, &k, &v) == 0 && v == keep[i].flags)
			continue;
		if (bpf_map_update_elem(fd, &k, &keep[i].flags, BPF_ANY) < 0 && r == 0)
			r = -errno;
	}
	if (ret_n)
		*ret_n = (uint32_t)nkeep;
	if (ret_xdp)
		*ret_xdp = (uint32_t)nxdp;
	return r;
}

bool gwbpf_ct_kfuncs(void)
{
#ifdef GWBPF_CT_KFUNCS
	return true;
#else
	return false;
#endif
}

int gwbpf_fwd_conf(struct gwbpf *g, uint32_t udp_timeout_ms)
{
	uint32_t k = 0;
	struct gwbpf_fwd_conf c = { .udp_timeout_ms = udp_timeout_ms };
	struct gwbpf_fwd_conf old;
	int fd = bpf_map__fd(g->skel->maps.gw_fwd_conf);
	if (bpf_map_lookup_elem(fd, &k, &old) == 0 && old.udp_timeout_ms == udp_timeout_ms)
		return 0;
	return bpf_map_update_elem(fd, &k, &c, BPF_ANY) < 0 ? -errno : 0;
}

int gwbpf_local_add(struct gwbpf *g, uint8_t family, const uint8_t addr[16])
{
	if (family != 4 && family != 6)
		return -EINVAL;
	struct gwbpf_addr_key k = { .family = family };
	uint32_t one = 1;
	memcpy(k.addr, addr, family == 4 ? 4 : 16);
	return bpf_map_update_elem(bpf_map__fd(g->skel->maps.gw_local), &k, &one, BPF_ANY) < 0
		       ? -errno : 0;
}

int gwbpf_counters(const struct gwbpf *g, uint64_t ret[GWBPF_CNT_COUNT])
{
	struct gwbpf_counters *v = calloc((size_t)g->ncpus, sizeof(*v));
	uint32_t k = 0;
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(g->skel->maps.gw_counters), &k, v) < 0) {
		int r = -errno;
		free(v);
		return r;
	}
	for (uint32_t i = 0; i < GWBPF_CNT_COUNT; i++) {
		ret[i] = 0;
		for (int c = 0; c < g->ncpus; c++)
			ret[i] += v[c].n[i];
	}
	free(v);
	/* PACKETS, PASS and FLOW_HIT are derived (gw_bpf_abi.h). */
	static const uint8_t unruled[] = {
		GWBPF_CNT_TRUNCATED, GWBPF_CNT_VLAN_DEEP,  GWBPF_CNT_IP6_DEEP,
		GWBPF_CNT_NOT_IP,    GWBPF_CNT_NO_POLICY,  GWBPF_CNT_LOCAL,
		GWBPF_CNT_SPOOFED,   GWBPF_CNT_FLOW_REPLY, GWBPF_CNT_MAP_MISS,
	};
	static const uint8_t not_pass[] = {
		GWBPF_CNT_DROP,	     GWBPF_CNT_REJECT,	  GWBPF_CNT_REJECT_DROP,
		GWBPF_CNT_NOT_IP,    GWBPF_CNT_TRUNCATED, GWBPF_CNT_VLAN_DEEP,
		GWBPF_CNT_IP6_DEEP,  GWBPF_CNT_LOCAL,	  GWBPF_CNT_NO_POLICY,
		GWBPF_CNT_SPOOFED,   GWBPF_CNT_MAP_MISS,  GWBPF_CNT_RATE_DROP,
	};
	static const uint8_t not_hits[] = {
		GWBPF_CNT_TRUNCATED,   GWBPF_CNT_VLAN_DEEP,   GWBPF_CNT_IP6_DEEP,
		GWBPF_CNT_NOT_IP,      GWBPF_CNT_NO_POLICY,   GWBPF_CNT_LOCAL,
		GWBPF_CNT_SPOOFED,     GWBPF_CNT_FLOW_REPLY,  GWBPF_CNT_FLOW_NEW,
		GWBPF_CNT_FLOW_RECLASS, GWBPF_CNT_FLOW_RACED, GWBPF_CNT_MAP_MISS,
	};
	uint64_t sums[GWBPF_SLOTS], retired;
	int r;
	if ((r = rule_packets(g, sums)) < 0 || (r = read_retired(g, &retired)) < 0)
		return r;
	/* The CPUs' values and the maps are not read in one instant, so
	 * under traffic a difference may be a packet or two off: never below
	 * zero. */
	uint64_t packets = retired + sums[0] + sums[1], other = 0, others = 0;
	for (size_t i = 0; i < sizeof(unruled); i++)
		packets += ret[unruled[i]];
	for (size_t i = 0; i < sizeof(not_pass); i++)
		other += ret[not_pass[i]];
	for (size_t i = 0; i < sizeof(not_hits); i++)
		others += ret[not_hits[i]];
	ret[GWBPF_CNT_PACKETS] = packets;
	ret[GWBPF_CNT_PASS] = packets > other ? packets - other : 0;
	ret[GWBPF_CNT_FLOW_HIT] = packets > others ? packets - others : 0;
	return 0;
}

static const char *const counter_names[GWBPF_CNT_COUNT] = {
	[GWBPF_CNT_PACKETS] = "packets", [GWBPF_CNT_PASS] = "pass", [GWBPF_CNT_DROP] = "drop",
	[GWBPF_CNT_REJECT] = "reject", [GWBPF_CNT_REJECT_DROP] = "reject_drop",
	[GWBPF_CNT_NOT_IP] = "not_ip", [GWBPF_CNT_TRUNCATED] = "truncated",
	[GWBPF_CNT_LOCAL] = "local", [GWBPF_CNT_NO_POLICY] = "no_policy",
	[GWBPF_CNT_FLOW_HIT] = "flow_hit", [GWBPF_CNT_FLOW_REPLY] = "flow_reply",
	[GWBPF_CNT_FLOW_NEW] = "flow_new", [GWBPF_CNT_FLOW_RECLASS] = "flow_reclass",
	[GWBPF_CNT_MAP_MISS] = "map_miss", [GWBPF_CNT_FRAGMENT] = "fragment",
	[GWBPF_CNT_RATE_DROP] = "rate_drop", [GWBPF_CNT_EVENT_LOST] = "event_lost",
	[GWBPF_CNT_EGRESS] = "egress", [GWBPF_CNT_EGRESS_NO_FLOW] = "egress_no_flow",
	[GWBPF_CNT_EGRESS_DROP] = "egress_drop", [GWBPF_CNT_FLOW_EVICT] = "flow_evict",
	[GWBPF_CNT_FLOW_UNCACHED] = "flow_uncached",
	[GWBPF_CNT_EGRESS_RATE_DROP] = "egress_rate_drop", [GWBPF_CNT_FLOW_RACED] = "flow_raced",
	[GWBPF_CNT_EGRESS_RECLASS] = "egress_reclass", [GWBPF_CNT_VLAN_DEEP] = "vlan_deep",
	[GWBPF_CNT_IP6_DEEP] = "ip6_deep", [GWBPF_CNT_SPOOFED] = "spoofed",
	[GWBPF_CNT_SHAPE_ASK] = "shape_ask", [GWBPF_CNT_SHAPED] = "shaped",
	[GWBPF_CNT_XDP_FORWARD] = "xdp_forward", [GWBPF_CNT_XDP_REFRESH] = "xdp_refresh",
	[GWBPF_CNT_XDP_CREATED] = "xdp_created", [GWBPF_CNT_XDP_CREATE_LOST] = "xdp_create_lost",
};

const char *gwbpf_counter_name(enum gwbpf_counter c)
{
	return (unsigned)c < GWBPF_CNT_COUNT && counter_names[c] ? counter_names[c] : "?";
}

int gwbpf_rule_stats(const struct gwbpf *g, uint32_t slot, uint32_t index,
		     struct gwbpf_rule_stats *ret)
{
	if (slot >= GWBPF_SLOTS || index >= GWBPF_RULE_STATS)
		return -EINVAL;
	struct gwbpf_rule_stats *v = calloc((size_t)g->ncpus, sizeof(*v));
	uint32_t k = slot * GWBPF_RULE_STATS + index;
	int r = 0;
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(g->skel->maps.gw_rule_stats), &k, v) < 0) {
		r = -errno;
	} else {
		*ret = (struct gwbpf_rule_stats){ 0 };
		for (int c = 0; c < g->ncpus; c++) {
			ret->packets += v[c].packets;
			ret->bytes += v[c].bytes;
		}
	}
	free(v);
	return r;
}

/* The clocks, at one instant, from gw_clock. */
static int clock_now(const struct gwbpf *g, struct gwbpf_clock *ret)
{
	struct gwbpf_clock c = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = &c, .ctx_size_in = sizeof(c));
	if (bpf_prog_test_run_opts(bpf_program__fd(g->skel->progs.gw_clock), &o) < 0)
		return -errno;
	*ret = c;
	return 0;
}

/* HZ: the kernel's config when libbpf found it, else measured over 100 ms
 * and rounded to the nearest value Linux offers. */
static int hz(struct gwbpf *g, uint32_t *ret)
{
	static const uint32_t known[] = { 100, 250, 300, 1000 };
	struct gwbpf_clock a = { 0 }, b = { 0 };
	int r;
	if (g->hz) {
		*ret = g->hz;
		return 0;
	}
	if ((r = clock_now(g, &a)) < 0)
		return r;
	if (!a.hz) {
		usleep(100000);
		if ((r = clock_now(g, &b)) < 0)
			return r;
		if (b.mono_ns <= a.mono_ns)
			return -EIO;
		double m = (double)(b.jiffies - a.jiffies) * 1e9 / (double)(b.mono_ns - a.mono_ns);
		a.hz = known[0];
		for (size_t i = 1; i < sizeof(known) / sizeof(known[0]); i++)
			if ((m > known[i] ? m - known[i] : known[i] - m) <
			    (m > a.hz ? m - a.hz : a.hz - m))
				a.hz = known[i];
	}
	g->hz = a.hz;
	*ret = a.hz;
	return 0;
}

int gwbpf_flow_last_ns(struct gwbpf *g, const struct gwbpf_flow *f, uint64_t *ret)
{
	struct gwbpf_clock c;
	uint32_t h;
	int r;
	if ((r = hz(g, &h)) < 0 || (r = clock_now(g, &c)) < 0)
		return r;
	uint64_t ago = c.jiffies > f->last_jiffies ? c.jiffies - f->last_jiffies : 0;
	ago = ago * (1000000000ull / h);
	*ret = c.mono_ns > ago ? c.mono_ns - ago : 0;
	return 0;
}

/* ---------------------------------------------------------------- flows
 *
 * gw_flows through its mmap, with the protocol of
 * gw_bpf_abi.h (gwbpf_flow_set.ver): a reader copies a way's entry between
 * two reads of its ver; a remover takes BUSY by compare-and-swap, so no
 * program run fills the way while its totals are read out. */

/* A consistent copy of way i (set i / WAYS), if it holds a flow; *ret_ver
 * is its ver. */
static bool flow_snapshot(const struct gwbpf *g, uint32_t i, struct gwbpf_flow_entry *ret,
			  uint64_t *ret_ver)
{
	__u64 *ver = &g->sets[i / GWBPF_FLOW_WAYS].ver[i % GWBPF_FLOW_WAYS];
	for (int tries = 0; tries < 100; tries++) {
		uint64_t v = __atomic_load_n(ver, __ATOMIC_ACQUIRE);
		if (!(v & GWBPF_FLOW_VALID))
			return false;
		if (v & GWBPF_FLOW_BUSY)
			continue; /* a program run is writing it: a few instructions */
		memcpy(ret, (const void *)&g->sets[i / GWBPF_FLOW_WAYS].way[i % GWBPF_FLOW_WAYS],
		       sizeof(*ret));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(ver, __ATOMIC_RELAXED) == v) {
			*ret_ver = v;
			return true;
		}
	}
	return false;
}

/* Empty way i if it still holds the flow seen with ver; its last totals
 * in *ret.  false: it changed meanwhile (a new epoch's verdict, or
 * another flow took the way). */
static bool flow_remove(const struct gwbpf *g, uint32_t i, uint64_t ver, struct gwbpf_flow *ret)
{
	__u64 *p = &g->sets[i / GWBPF_FLOW_WAYS].ver[i % GWBPF_FLOW_WAYS], v = ver;
	if (!__atomic_compare_exchange_n(p, &v, ver | GWBPF_FLOW_BUSY, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_RELAXED))
		return false;
	memcpy(ret, (const void *)&g->sets[i / GWBPF_FLOW_WAYS].way[i % GWBPF_FLOW_WAYS].flow,
	       sizeof(*ret));
	__atomic_store_n(p, ((ver >> 2) + 1) << 2, __ATOMIC_RELEASE);
	return true;
}

/* The way of key k, and a copy of it: its index, or -ENOENT. */
static int flow_find(const struct gwbpf *g, const struct gwbpf_flow_key *k,
		     struct gwbpf_flow_entry *ret, uint64_t *ret_ver)
{
	struct gwbpf_flow_key key = *k;
	__u64 tag, rtag;
	uint32_t base = gwbpf_flow_hash(&key, g->seed, g->set_bits, &tag, &rtag) * GWBPF_FLOW_WAYS;
	for (uint32_t w = 0; w < GWBPF_FLOW_WAYS; w++)
		if (flow_snapshot(g, base + w, ret, ret_ver) &&
		    !memcmp(&ret->key, &key, sizeof(key)))
			return (int)(base + w);
	return -ENOENT;
}

static void add_flow(struct gwbpf_device_stats *s, const struct gwbpf_flow *f)
{
	s->packets_up += f->packets;
	s->bytes_up += f->bytes;
	s->packets_down += f->packets_down;
	s->bytes_down += f->bytes_down;
}

/* A removed flow's totals go to its device's (gw_device_stats). */
static int fold_device(const struct gwbpf *g, const struct gwbpf_flow *f)
{
	int sfd = bpf_map__fd(g->skel->maps.gw_device_stats);
	struct gwbpf_device_key dk = { .pad = { 0 } };
	struct gwbpf_device_stats s = { 0 };
	memcpy(dk.mac, f->mac, 6);
	if (bpf_map_lookup_elem(sfd, &dk, &s) < 0 && errno != ENOENT)
		return -errno;
	add_flow(&s, f);
	return bpf_map_update_elem(sfd, &dk, &s, BPF_ANY) < 0 ? -errno : 0;
}

int gwbpf_flow_get(const struct gwbpf *g, const struct gwbpf_flow_key *k, struct gwbpf_flow *ret)
{
	struct gwbpf_flow_entry c;
	uint64_t ver;
	int r = flow_find(g, k, &c, &ver);
	if (r < 0)
		return r;
	*ret = c.flow;
	return 0;
}

int gwbpf_flow_delete(struct gwbpf *g, const struct gwbpf_flow_key *k)
{
	struct gwbpf_flow_entry c;
	struct gwbpf_flow last;
	uint64_t ver;
	for (int tries = 0; tries < 100; tries++) {
		int i = flow_find(g, k, &c, &ver);
		if (i < 0)
			return i;
		if (flow_remove(g, (uint32_t)i, ver, &last))
			return fold_device(g, &last);
	}
	return -EBUSY;
}

int gwbpf_flows_each(const struct gwbpf *g, gwbpf_flow_fn fn, void *arg)
{
	struct gwbpf_flow_entry c;
	uint64_t ver;
	for (uint32_t i = 0; i < g->nsets * GWBPF_FLOW_WAYS; i++) {
		if (!flow_snapshot(g, i, &c, &ver))
			continue;
		int r = fn(&c.key, &c.flow, arg);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---------------------------------------------------------------- idle classes */

/* A shape key's owner: (slot, rule, device, MAC of a new device). */
static int owner_cmp(const struct gwbpf_shape_key *a, uint32_t slot, uint32_t rule,
		     uint32_t device, const uint8_t mac[6])
{
	if (a->slot != slot)
		return a->slot < slot ? -1 : 1;
	if (a->rule != rule)
		return a->rule < rule ? -1 : 1;
	if (a->device != device)
		return a->device < device ? -1 : 1;
	return device == ~0u ? memcmp(a->mac, mac, 6) : 0;
}

static int cmp_owner(const void *x, const void *y)
{
	const struct gwbpf_shape_key *a = x, *b = y;
	return owner_cmp(a, b->slot, b->rule, b->device, b->mac);
}

struct shape_use {
	struct gwbpf_shape_key *k;
	bool *used;
	size_t n;
};

/* Marks the classes of a flow's owner as in use. */
static int mark_used(const struct gwbpf_flow_key *fk, const struct gwbpf_flow *f, void *arg)
{
	struct shape_use *u = arg;
	if (!(f->flags & POL_TABLES_RULE_RATE))
		return 0;
	uint32_t slot = f->stats / GWBPF_RULE_STATS;
	/* The first key of the owner (the keys are sorted by owner), then
	 * every key of it: one per direction and port. */
	size_t lo = 0, hi = u->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (owner_cmp(&u->k[mid], slot, f->rule, f->device, f->mac) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < u->n && !owner_cmp(&u->k[lo], slot, f->rule, f->device, f->mac); lo++)
		u->used[lo] = true;
	return 0;
}

int gwbpf_shapes_expire(struct gwbpf *g, uint32_t *ret_n)
{
	int fd = bpf_map__fd(g->skel->maps.gw_shapes), r = 0;
	struct shape_use u = { 0 };
	struct gwbpf_shape_key k, next;
	size_t cap = 0;
	uint32_t n = 0;
	for (void *prev = NULL; bpf_map_get_next_key(fd, prev, &next) == 0; prev = &k) {
		k = next;
		if (u.n == cap) {
			cap = cap ? 2 * cap : 64;
			struct gwbpf_shape_key *k2 = realloc(u.k, cap * sizeof(*k2));
			if (!k2) {
				r = -ENOMEM;
				goto out;
			}
			u.k = k2;
		}
		u.k[u.n++] = k;
	}
	if (!u.n)
		goto out;
	qsort(u.k, u.n, sizeof(*u.k), cmp_owner);
	r = -ENOMEM;
	if (!(u.used = calloc(u.n, sizeof(*u.used))))
		goto out;
	if ((r = gwbpf_flows_each(g, mark_used, &u)) < 0)
		goto out;
	for (size_t i = 0; i < u.n; i++) {
		struct gwbpf_shape v;
		if (u.used[i] || bpf_map_lookup_elem(fd, &u.k[i], &v) < 0)
			continue;
		if (v.classid) {
			gwbpf_tc_class_del(shape_dev(&u.k[i], &v), v.classid);
			minor_mark(g, v.classid, false);
		}
		bpf_map_delete_elem(fd, &u.k[i]);
		n++;
	}
out:
	if (ret_n)
		*ret_n = n;
	free(u.k);
	free(u.used);
	return r;
}

struct dev_sum {
	uint8_t mac[6];
	bool found;
	struct gwbpf_device_stats s;
};

static int sum_device(const struct gwbpf_flow_key *k, const struct gwbpf_flow *f, void *arg)
{
	struct dev_sum *d = arg;
	if (memcmp(f->mac, d->mac, 6))
		return 0;
	d->found = true;
	add_flow(&d->s, f);
	return 0;
}

int gwbpf_device_stats(const struct gwbpf *g, const uint8_t mac[6],
		       struct gwbpf_device_stats *ret)
{
	struct gwbpf_device_key k = { .pad = { 0 } };
	struct dev_sum d = { .found = false };
	int r;
	memcpy(k.mac, mac, 6);
	memcpy(d.mac, mac, 6);
	if (bpf_map_lookup_elem(bpf_map__fd(g->skel->maps.gw_device_stats), &k, &d.s) == 0)
		d.found = true;
	else if (errno != ENOENT)
		return -errno;
	if ((r = gwbpf_flows_each(g, sum_device, &d)) < 0)
		return r;
	if (!d.found)
		return -ENOENT;
	*ret = d.s;
	return 0;
}

int gwbpf_flows_expire(struct gwbpf *g, uint64_t idle_ns, uint32_t *ret_n)
{
	struct gwbpf_clock c = { 0 };
	struct gwbpf_flow_entry s;
	struct gwbpf_flow last;
	uint32_t h, n = 0;
	int r;
	if ((r = hz(g, &h)) < 0 || (r = clock_now(g, &c)) < 0)
		return r;
	uint64_t idle_jiffies = idle_ns / (1000000000ull / h);
	for (uint32_t i = 0; i < g->nsets * GWBPF_FLOW_WAYS; i++) {
		uint64_t ver;
		if (!flow_snapshot(g, i, &s, &ver))
			continue;
		if (c.jiffies < s.flow.last_jiffies || c.jiffies - s.flow.last_jiffies < idle_jiffies)
			continue;
		/* A flow whose way changed since the copy stays until the
		 * next round. */
		if (!flow_remove(g, i, ver, &last))
			continue;
		if ((r = fold_device(g, &last)) < 0)
			return r;
		n++;
	}
	if (ret_n)
		*ret_n = n;
	return 0;
}

int gwbpf_unpin(struct gwbpf *g)
{
	struct bpf_map *m;
	int r = 0;
	if (!g->pin_root)
		return -EINVAL;
	/* gw's classes and ifb go with gw's state. */
	shapes_clear(g, any_shape, 0);
	gwbpf_tc_ifb_del(GWBPF_IFB);
	bpf_object__for_each_map(m, g->skel->obj) {
		if (bpf_map__is_internal(m))
			continue;
		int e = bpf_map__unpin(m, NULL);
		if (e < 0 && e != -ENOENT && r == 0)
			r = e;
	}
	if (r == 0 && rmdir(g->pin_root) < 0 && errno != ENOENT)
		r = -errno;
	return r;
}

/* ---------------------------------------------------------------- attach */

/* The TC filter's place on the egress hook: a fixed handle and priority,
 * so a restarted loader finds it. */
#define TC_HANDLE 0x677701
#define TC_PRIORITY 0x6777

/* 1 when program `id` is named `name` and uses this loader's maps (so it
 * is this loader's, or an earlier loader's on the same pins), 0 when it is
 * someone else's, or -errno.  On 1, *ret_fd is an fd of it. */
static int ours(const struct gwbpf *g, uint32_t id, const char *name, int *ret_fd)
{
	uint32_t map_ids[64];
	struct bpf_prog_info info = { 0 };
	uint32_t len = sizeof(info);
	int fd = bpf_prog_get_fd_by_id(id), r = 0;
	if (fd < 0)
		return -errno;
	info.nr_map_ids = 64;
	info.map_ids = (uint64_t)(uintptr_t)map_ids;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0) {
		r = -errno;
		goto out;
	}
	if (strncmp(info.name, name, sizeof(info.name) - 1))
		goto out;
	for (uint32_t i = 0; i < info.nr_map_ids && i < 64; i++)
		if (map_ids[i] == g->epoch_map_id) {
			*ret_fd = fd;
			return 1;
		}
out:
	close(fd);
	return r;
}

/* gw's TC programs: gw_egress on the clsact egress hook; on its ingress
 * hook gw_ingress (the rates' uploads) with the XDP classifier, or
 * gw_classify_tc in its place (GWBPF_HOOK_TC), each at our place.  alt:
 * the other program that may hold our place there, ours all the same. */
static const struct tc_prog {
	enum bpf_tc_attach_point point;
	const char *name, *alt;
} tc_progs[] = { { BPF_TC_EGRESS, "gw_egress", NULL },
		 { BPF_TC_INGRESS, "gw_ingress", "gw_classify_tc" } },
  tc_classify = { BPF_TC_INGRESS, "gw_classify_tc", "gw_ingress" };

static int tc_prog_fd(const struct gwbpf *g, const struct tc_prog *t)
{
	if (t->point == BPF_TC_EGRESS)
		return bpf_program__fd(g->skel->progs.gw_egress);
	return bpf_program__fd(t == &tc_classify ? g->skel->progs.gw_classify_tc
						 : g->skel->progs.gw_ingress);
}

/* ours() under t's name, or its alternative. */
static int tc_ours(const struct gwbpf *g, uint32_t id, const struct tc_prog *t, int *ret_fd)
{
	int r = ours(g, id, t->name, ret_fd);
	if (r == 0 && t->alt)
		r = ours(g, id, t->alt, ret_fd);
	return r;
}

static int tc_query(int ifindex, enum bpf_tc_attach_point point, uint32_t *ret_id)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, o, .handle = TC_HANDLE, .priority = TC_PRIORITY);
	int r = bpf_tc_query(&hook, &o);
	if (r == -ENOENT || r == -EINVAL) {
		/* No clsact qdisc, or no filter at our place. */
		*ret_id = 0;
		return 0;
	}
	if (r < 0)
		return r;
	*ret_id = o.prog_id;
	return 0;
}

static struct iface *find_iface(struct gwbpf *g, int ifindex)
{
	for (size_t i = 0; i < g->nifaces; i++)
		if (g->ifaces[i].ifindex == ifindex)
			return &g->ifaces[i];
	return NULL;
}

/* gw's XDP program on the interface, if any: its id and the mode flag
 * (XDP_FLAGS_DRV_MODE or XDP_FLAGS_SKB_MODE) it is attached with.  Someone
 * else's program in either mode also comes back (ours() tells them apart);
 * *ret_id 0: none. */
static int xdp_query(int ifindex, uint32_t *ret_id, uint32_t *ret_mode)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	*ret_id = 0;
	*ret_mode = 0;
	if (bpf_xdp_query(ifindex, 0, &q) < 0)
		return 0; /* an interface without XDP at all has none */
	if (q.drv_prog_id) {
		*ret_id = q.drv_prog_id;
		*ret_mode = XDP_FLAGS_DRV_MODE;
	} else if (q.skb_prog_id) {
		*ret_id = q.skb_prog_id;
		*ret_mode = XDP_FLAGS_SKB_MODE;
	} else if (q.hw_prog_id) {
		*ret_id = q.hw_prog_id;
		*ret_mode = XDP_FLAGS_HW_MODE;
	}
	return 0;
}

static int xdp_detach_ours(struct gwbpf *g, int ifindex, bool *ret_found)
{
	uint32_t id = 0, mode = 0;
	int fd = -1, r;
	*ret_found = false;
	xdp_query(ifindex, &id, &mode);
	if (!id)
		return 0;
	if ((r = ours(g, id, "gw_classify", &fd)) <= 0)
		return r;
	/* Replace-with-nothing, only if it is still the program we looked at. */
	LIBBPF_OPTS(bpf_xdp_attach_opts, o, .old_prog_fd = fd);
	r = bpf_xdp_detach(ifindex, mode | XDP_FLAGS_REPLACE, &o);
	close(fd);
	*ret_found = r == 0;
	return r;
}

static int tc_detach_ours(struct gwbpf *g, int ifindex, const struct tc_prog *t,
			  bool *ret_found)
{
	uint32_t id = 0;
	int fd = -1, r;
	*ret_found = false;
	if ((r = tc_query(ifindex, t->point, &id)) < 0 || !id)
		return r;
	if ((r = tc_ours(g, id, t, &fd)) <= 0)
		return r;
	close(fd);
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = t->point);
	LIBBPF_OPTS(bpf_tc_opts, o, .handle = TC_HANDLE, .priority = TC_PRIORITY);
	r = bpf_tc_detach(&hook, &o);
	*ret_found = r == 0;
	return r;
}

/* Our filter at our place on a clsact hook; someone else's filter at that
 * place: -EBUSY. */
static int tc_attach_ours(struct gwbpf *g, int ifindex, const struct tc_prog *t)
{
	uint32_t id = 0;
	int fd = -1, r;
	if ((r = tc_query(ifindex, t->point, &id)) < 0)
		return r;
	if (id) {
		if ((r = tc_ours(g, id, t, &fd)) < 0)
			return r;
		if (r == 0)
			return -EBUSY;
		close(fd);
	}
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = t->point);
	LIBBPF_OPTS(bpf_tc_opts, to, .handle = TC_HANDLE, .priority = TC_PRIORITY,
		    .prog_fd = tc_prog_fd(g, t), .flags = BPF_TC_F_REPLACE);
	return bpf_tc_attach(&hook, &to);
}

int gwbpf_attach(struct gwbpf *g, const char *ifname)
{
	return gwbpf_attach_hook(g, ifname, GWBPF_HOOK_XDP);
}

/* gw_classify on XDP, native where the driver has it, else generic. */
static int xdp_attach_ours(struct gwbpf *g, int ifindex)
{
	uint32_t id = 0, mode = 0;
	int fd = -1, r;
	/* A gw program on our maps (an earlier gwd's) is replaced in place,
	 * in its mode; anyone else's is left alone and refused. */
	xdp_query(ifindex, &id, &mode);
	LIBBPF_OPTS(bpf_xdp_attach_opts, xo);
	uint32_t flags = XDP_FLAGS_DRV_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST;
	if (id) {
		if ((r = ours(g, id, "gw_classify", &fd)) < 0)
			return r;
		if (r == 0 || mode == XDP_FLAGS_HW_MODE) {
			if (fd >= 0)
				close(fd);
			return -EBUSY;
		}
		xo.old_prog_fd = fd;
		flags = mode | XDP_FLAGS_REPLACE;
	}
	r = bpf_xdp_attach(ifindex, gwbpf_prog_fd(g), flags, &xo);
	/* No native XDP here (EOPNOTSUPP), or not in this configuration (an
	 * MTU or queue count the driver's XDP refuses): generic XDP runs the
	 * same program on every driver, later in the receive path. */
	if (r < 0 && !id && r != -EBUSY && r != -EEXIST && r != -EPERM)
		r = bpf_xdp_attach(ifindex, gwbpf_prog_fd(g),
				   XDP_FLAGS_SKB_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST, &xo);
	if (fd >= 0)
		close(fd);
	return r;
}

int gwbpf_hook_auto(const char *ifname)
{
	if (!if_nametoindex(ifname))
		return -ENODEV;
	/* The port's driver, as ethtool -i says it (a veth has no device
	 * in sysfs): a veth's XDP copies every packet a stack sent. */
	struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&info;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int r = ioctl(fd, SIOCETHTOOL, &ifr) < 0 ? -errno : 0;
	close(fd);
	if (r == -ENODEV)
		return r;
	/* No driver info (some virtual devices): XDP, as before. */
	if (r == 0 && !strncmp(info.driver, "veth", sizeof(info.driver)))
		return GWBPF_HOOK_TC;
	return GWBPF_HOOK_XDP;
}

int gwbpf_attach_hook(struct gwbpf *g, const char *ifname, int hook)
{
	int ifindex = (int)if_nametoindex(ifname), r;
	if (hook != GWBPF_HOOK_XDP && hook != GWBPF_HOOK_TC)
		return -EINVAL;
	if (!ifindex)
		return -ENODEV;
	struct iface *f = find_iface(g, ifindex);
	if (!f) {
		f = realloc(g->ifaces, (g->nifaces + 1) * sizeof(*f));
		if (!f)
			return -ENOMEM;
		g->ifaces = f;
		f = &g->ifaces[g->nifaces];
		*f = (struct iface){ .ifindex = ifindex };
	}

	/* The port's source prefixes first: the program drops what comes
	 * from outside them from its first packet on. */
	if ((r = gwbpf_port_sync(g, ifname)) < 0)
		return r;

	/* XDP, native mode where the driver has it, else generic (most Wi-Fi
	 * drivers, bridges, macvlan). */
	if (hook == GWBPF_HOOK_XDP && (r = xdp_attach_ours(g, ifindex)) < 0)
		return r;
	/* At TC, someone else's XDP program would see (and could redirect
	 * or answer) every packet before gw does: refused, as at XDP. */
	if (hook == GWBPF_HOOK_TC) {
		uint32_t id = 0, mode = 0;
		int fd = -1;
		xdp_query(ifindex, &id, &mode);
		if (id) {
			if ((r = ours(g, id, "gw_classify", &fd)) < 0)
				return r;
			if (r == 0)
				return -EBUSY;
			close(fd);
		}
	}

	/* TC egress and ingress: our filters at our place on the clsact
	 * qdisc, made if missing; someone else's filter at that place is
	 * refused.  In TC mode the classifier takes the ingress place. */
	const struct tc_prog *mine[2] = { &tc_progs[0],
					  hook == GWBPF_HOOK_TC ? &tc_classify : &tc_progs[1] };
	LIBBPF_OPTS(bpf_tc_hook, th, .ifindex = ifindex, .attach_point = BPF_TC_EGRESS);
	bool made = false, found;
	r = bpf_tc_hook_create(&th);
	if (r == 0)
		made = true;
	else if (r != -EEXIST)
		goto undo_xdp;
	for (size_t i = 0; i < 2; i++)
		if ((r = tc_attach_ours(g, ifindex, mine[i])) < 0)
			goto undo_tc;
	/* From XDP to TC: the TC classifier is in place, gw_classify goes. */
	if (hook == GWBPF_HOOK_TC && (r = xdp_detach_ours(g, ifindex, &found)) < 0)
		goto undo_tc;
	f->made_qdisc = f->made_qdisc || made;
	if (f == &g->ifaces[g->nifaces])
		g->nifaces++;
	return 0;
undo_tc:
	for (size_t i = 0; i < 2; i++)
		tc_detach_ours(g, ifindex, mine[i], &found);
	if (made) {
		th.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		bpf_tc_hook_destroy(&th);
	}
undo_xdp:
	if (hook == GWBPF_HOOK_XDP)
		xdp_detach_ours(g, ifindex, &found);
	return r;
}

int gwbpf_port_mode(const struct gwbpf *g, const char *ifname)
{
	int ifindex = (int)if_nametoindex(ifname), fd = -1, r;
	uint32_t id = 0, mode = 0;
	if (!ifindex)
		return -ENODEV;
	bool xdp = false;
	xdp_query(ifindex, &id, &mode);
	if (id) {
		if ((r = ours(g, id, "gw_classify", &fd)) < 0)
			return r;
		if (r == 0)
			return -ENOENT; /* someone else's XDP program: not gw's port */
		close(fd);
		xdp = true;
	}
	/* With gw's XDP program: gw_egress and gw_ingress; without:
	 * gw_egress and gw_classify_tc. */
	const struct tc_prog want[2] = { tc_progs[0],
					 { BPF_TC_INGRESS, xdp ? "gw_ingress" : "gw_classify_tc",
					   NULL } };
	for (size_t i = 0; i < 2; i++) {
		uint32_t tid = 0;
		if ((r = tc_query(ifindex, want[i].point, &tid)) < 0)
			return r;
		if (!tid)
			return -ENOENT;
		if ((r = ours(g, tid, want[i].name, &fd)) < 0)
			return r;
		if (r == 0)
			return -ENOENT;
		close(fd);
	}
	if (!xdp)
		return GWBPF_TC;
	return mode == XDP_FLAGS_DRV_MODE ? GWBPF_XDP_NATIVE : GWBPF_XDP_GENERIC;
}

const char *gwbpf_mode_name(int mode)
{
	return mode == GWBPF_XDP_NATIVE	   ? "native"
	       : mode == GWBPF_XDP_GENERIC ? "generic"
	       : mode == GWBPF_TC	   ? "tc"
					   : "none";
}

/* ---------------------------------------------------------------- anti-spoofing */

static void src_key(struct gwbpf_src_key *k, int ifindex, const struct gwbpf_src_prefix *p)
{
	*k = (struct gwbpf_src_key){ .prefixlen = GWBPF_SRC_HEAD + p->plen,
				     .ifindex = (uint32_t)ifindex, .family = p->family };
	/* Host bits cleared: the key is the prefix. */
	for (unsigned i = 0; i < 16; i++) {
		unsigned bits = p->plen > 8 * i ? p->plen - 8 * i : 0;
		k->addr[i] = bits >= 8 ? p->addr[i] : (uint8_t)(p->addr[i] & (0xff00u >> bits));
	}
}

static bool prefix_ok(const struct gwbpf_src_prefix *p)
{
	return (p->family == 4 && p->plen <= 32) || (p->family == 6 && p->plen <= 128);
}

int gwbpf_port_prefixes(struct gwbpf *g, int ifindex, const struct gwbpf_src_prefix *v, size_t n)
{
	int fd = bpf_map__fd(g->skel->maps.gw_src);
	uint32_t one = 1;
	if (ifindex <= 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!prefix_ok(&v[i]))
			return -EINVAL;
	/* The new ones first, then the stale ones out: no instant in which a
	 * source both sets accept is refused. */
	for (size_t i = 0; i < n; i++) {
		struct gwbpf_src_key k;
		src_key(&k, ifindex, &v[i]);
		if (bpf_map_update_elem(fd, &k, &one, BPF_ANY) < 0)
			return -errno;
	}
	struct gwbpf_src_key k, next, *stale = NULL;
	size_t nstale = 0;
	int r = 0;
	for (void *prev = NULL; bpf_map_get_next_key(fd, prev, &next) == 0; prev = &k) {
		k = next;
		if (k.ifindex != (uint32_t)ifindex)
			continue;
		bool keep = false;
		for (size_t i = 0; i < n && !keep; i++) {
			struct gwbpf_src_key want;
			src_key(&want, ifindex, &v[i]);
			keep = !memcmp(&want, &k, sizeof(k));
		}
		if (keep)
			continue;
		struct gwbpf_src_key *s2 = realloc(stale, (nstale + 1) * sizeof(*s2));
		if (!s2) {
			r = -ENOMEM;
			goto out;
		}
		stale = s2;
		stale[nstale++] = k;
	}
	for (size_t i = 0; i < nstale; i++)
		if (bpf_map_delete_elem(fd, &stale[i]) < 0 && errno != ENOENT) {
			r = -errno;
			goto out;
		}
out:
	free(stale);
	return r;
}

static unsigned mask_len(const uint8_t *m, unsigned bytes)
{
	unsigned n = 0;
	for (unsigned i = 0; i < bytes; i++)
		n += (unsigned)__builtin_popcount(m[i]);
	return n;
}

int gwbpf_port_sync(struct gwbpf *g, const char *ifname)
{
	int ifindex = (int)if_nametoindex(ifname), r;
	struct ifaddrs *ifs = NULL;
	if (!ifindex)
		return -ENODEV;
	if (getifaddrs(&ifs) < 0)
		return -errno;
	size_t n = 1, cap = 8;
	struct gwbpf_src_prefix *v = calloc(cap, sizeof(*v));
	if (!v) {
		r = -ENOMEM;
		goto out;
	}
	/* Link-local sources, whatever the port's addresses: every IPv6
	 * device has one, and routers never forward them. */
	v[0] = (struct gwbpf_src_prefix){ .family = 6, .plen = 10, .addr = { 0xfe, 0x80 } };
	for (struct ifaddrs *a = ifs; a; a = a->ifa_next) {
		if (!a->ifa_addr || !a->ifa_netmask || strcmp(a->ifa_name, ifname))
			continue;
		struct gwbpf_src_prefix p = { 0 };
		if (a->ifa_addr->sa_family == AF_INET) {
			const struct sockaddr_in *sa = (const void *)a->ifa_addr;
			const struct sockaddr_in *m = (const void *)a->ifa_netmask;
			p.family = 4;
			memcpy(p.addr, &sa->sin_addr, 4);
			p.plen = (uint8_t)mask_len((const uint8_t *)&m->sin_addr, 4);
		} else if (a->ifa_addr->sa_family == AF_INET6) {
			const struct sockaddr_in6 *sa = (const void *)a->ifa_addr;
			const struct sockaddr_in6 *m = (const void *)a->ifa_netmask;
			p.family = 6;
			memcpy(p.addr, &sa->sin6_addr, 16);
			p.plen = (uint8_t)mask_len((const uint8_t *)&m->sin6_addr, 16);
			if (p.addr[0] == 0xfe && (p.addr[1] & 0xc0) == 0x80)
				continue; /* fe80::/10 is there */
		} else {
			continue;
		}
		if (n == cap) {
			struct gwbpf_src_prefix *v2 = realloc(v, 2 * cap * sizeof(*v2));
			if (!v2) {
				r = -ENOMEM;
				goto out;
			}
			v = v2;
			cap *= 2;
		}
		v[n++] = p;
	}
	r = gwbpf_port_prefixes(g, ifindex, v, n);
out:
	free(v);
	freeifaddrs(ifs);
	return r;
}

int gwbpf_detach(struct gwbpf *g, const char *ifname)
{
	int ifindex = (int)if_nametoindex(ifname), r, r2;
	bool xdp_found, tc_found;
	if (!ifindex)
		return -ENODEV;
	r = xdp_detach_ours(g, ifindex, &xdp_found);
	r2 = 0;
	tc_found = false;
	for (size_t i = 0; i < sizeof(tc_progs) / sizeof(tc_progs[0]); i++) {
		bool found;
		int e = tc_detach_ours(g, ifindex, &tc_progs[i], &found);
		if (e < 0 && !r2)
			r2 = e;
		tc_found = tc_found || found;
	}
	/* Nothing of ours reads them now: the port's sources, its classes
	 * and the HTB gw put on it. */
	if (xdp_found || tc_found)
		gwbpf_port_prefixes(g, ifindex, NULL, 0);
	shapes_clear(g, on_port, (uint32_t)ifindex);
	gwbpf_tc_htb_root_del(ifindex, GWBPF_HTB_MAJOR);
	struct iface *f = find_iface(g, ifindex);
	if (f) {
		if (f->made_qdisc && r2 == 0) {
			LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
				    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
			r2 = bpf_tc_hook_destroy(&hook);
		}
		*f = g->ifaces[--g->nifaces];
	}
	if (r < 0)
		return r;
	if (r2 < 0)
		return r2;
	return xdp_found || tc_found ? 0 : -ENOENT;
}
