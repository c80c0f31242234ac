/* SPDX-License-Identifier: MIT */
/* The identity registry (control/identity.c), the lease event parser
 * (control/lease.c) and the neighbour message parser (control/neigh.c):
 * names of new devices, addresses that move, declared devices from the
 * policy, persistence, and bad input that changes nothing. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <libmnl/libmnl.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

#include "identity.h"
#include "lease.h"
#include "neigh.h"
#include "image.h"
#include "policy.h"
#include "gwtest.h"

#define NOW 1795750000000LL

static struct pol_ir *compile(const char *text)
{
	struct pol_ir *ir = gwtest_policy_ir("t.gw", text);
	assert_non_null(ir);
	return ir;
}

static unsigned lease(struct gwd_identity *id, const char *op, const char *mac, const char *addr,
		      const char *host, int64_t now)
{
	struct gwd_lease l;
	unsigned ch = 0;
	assert_int_equal(gwd_lease_from_parts(op, mac, addr, host, "01:3c:22:fb:41:8e:07",
					      0, &l), 0);
	assert_int_equal(gwd_identity_lease(id, &l, now, &ch), 0);
	return ch;
}

static void neigh(struct gwd_identity *id, const char *mac, const char *addr, bool gone,
		  uint32_t epoch)
{
	struct gwd_neigh n = { .ifindex = 3, .gone = gone, .confirmed = !gone };
	unsigned ch;
	n.family = strchr(addr, ':') ? 6 : 4;
	assert_int_equal(inet_pton(n.family == 4 ? AF_INET : AF_INET6, addr, n.addr), 1);
	if (mac) {
		unsigned m[6];
		assert_int_equal(sscanf(mac, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4],
					&m[5]), 6);
		for (int i = 0; i < 6; i++)
			n.mac[i] = (uint8_t)m[i];
		n.has_mac = true;
	}
	assert_int_equal(gwd_identity_neigh(id, &n, epoch, NOW, &ch), 0);
}

/* "name=addr" for every record, sorted, joined with spaces. */
static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *zone_text(const struct gwd_identity *id, int64_t now)
{
	struct gwd_dns_record *v;
	size_t n;
	static char out[8192];
	assert_int_equal(gwd_identity_records(id, now, &v, &n), 0);
	char **lines = calloc(n + 1, sizeof(*lines));
	for (size_t i = 0; i < n; i++) {
		char a[64];
		inet_ntop(v[i].family == 4 ? AF_INET : AF_INET6, v[i].addr, a, sizeof(a));
		lines[i] = malloc(200);
		snprintf(lines[i], 200, "%s=%s", v[i].name, a);
	}
	qsort(lines, n, sizeof(*lines), cmp_str);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		strcat(out, i ? " " : "");
		strcat(out, lines[i]);
		free(lines[i]);
	}
	free(lines);
	free(v);
	return out;
}

static void safe_labels(void **state)
{
	char out[GWD_ID_LABEL_MAX + 1];
	(void)state;
	gwd_identity_safe_label("Sarah's iPhone", out);
	assert_string_equal(out, "sarah-s-iphone");
	gwd_identity_safe_label("android-5f2a9c3e1d0b7a66.lan", out);
	assert_string_equal(out, "android-5f2a9c3e1d0b7a66");
	gwd_identity_safe_label("a-very-long-hostname-that-goes-on-and-on", out);
	assert_string_equal(out, "a-very-long-hostname-tha");
	gwd_identity_safe_label("a-very-long-hostname-tha-t", out);
	assert_string_equal(out, "a-very-long-hostname-tha");
	gwd_identity_safe_label("___", out);
	assert_string_equal(out, "");
	gwd_identity_safe_label("__X__y__", out);
	assert_string_equal(out, "x-y");
	gwd_identity_safe_label(".hidden", out);
	assert_string_equal(out, "");
}

static void new_devices_named(void **state)
{
	struct gwd_identity *id;
	(void)state;
	assert_int_equal(gwd_identity_new(&id), 0);
	unsigned ch = lease(id, "add", "02:5e:11:aa:03:09", "192.168.1.57", "android-5f2a", NOW);
	assert_true(ch & GWD_ID_ZONE);
	assert_true(ch & GWD_ID_STATE);
	assert_string_equal(zone_text(id, NOW), "android-5f2a.new=192.168.1.57");
	/* The same hostname on another MAC: numbered. */
	lease(id, "add", "02:5e:11:aa:03:0a", "192.168.1.58", "android-5f2a", NOW);
	/* No hostname: named from the MAC until one comes. */
	neigh(id, "3c:22:fb:00:12:34", "192.168.1.60", false, 1);
	assert_string_equal(zone_text(id, NOW),
			    "android-5f2a-2.new=192.168.1.58 android-5f2a.new=192.168.1.57 "
			    "device-1234.new=192.168.1.60");
	lease(id, "add", "3c:22:fb:00:12:34", "192.168.1.60", "Printer", NOW);
	assert_string_equal(gwd_identity_new_label(id, (const uint8_t[]){ 0x3c, 0x22, 0xfb, 0, 0x12, 0x34 }),
			    "printer");
	/* A name once given from a hostname stays. */
	lease(id, "old", "3c:22:fb:00:12:34", "192.168.1.60", "other", NOW);
	assert_string_equal(gwd_identity_new_label(id, (const uint8_t[]){ 0x3c, 0x22, 0xfb, 0, 0x12, 0x34 }),
			    "printer");
	gwd_identity_free(id);
}

static void addresses_move(void **state)
{
	struct gwd_identity *id;
	(void)state;
	assert_int_equal(gwd_identity_new(&id), 0);
	lease(id, "add", "02:00:00:00:00:01", "192.168.1.50", "one", NOW);
	assert_string_equal(zone_text(id, NOW), "one.new=192.168.1.50");
	/* A new lease moves the device: its old leased address stops
	 * answering at once, though the neighbour entry lingers; a static
	 * address (never leased) stays with the neighbour table. */
	neigh(id, "02:00:00:00:00:01", "192.168.1.50", false, 1);
	neigh(id, "02:00:00:00:00:01", "192.168.1.9", false, 1);
	assert_true(lease(id, "add", "02:00:00:00:00:01", "192.168.1.70", "one", NOW) & GWD_ID_ZONE);
	assert_string_equal(zone_text(id, NOW), "one.new=192.168.1.70 one.new=192.168.1.9");
	lease(id, "add", "02:00:00:00:00:01", "192.168.1.50", "one", NOW);
	assert_string_equal(zone_text(id, NOW), "one.new=192.168.1.50 one.new=192.168.1.9");
	neigh(id, "02:00:00:00:00:01", "192.168.1.9", true, 1);
	assert_string_equal(zone_text(id, NOW), "one.new=192.168.1.50");
	/* The address leased to another device is that one's alone. */
	unsigned ch = lease(id, "add", "02:00:00:00:00:02", "192.168.1.50", "two", NOW);
	assert_true(ch & GWD_ID_ZONE);
	assert_string_equal(zone_text(id, NOW), "two.new=192.168.1.50");
	/* A released lease is not current; a neighbour entry keeps it. */
	neigh(id, "02:00:00:00:00:02", "fd00::2", false, 1);
	neigh(id, "02:00:00:00:00:02", "fe80::2", false, 1);
	lease(id, "del", "02:00:00:00:00:02", "192.168.1.50", NULL, NOW);
	/* Link-local addresses stay out of the zone but in the client map. */
	assert_string_equal(zone_text(id, NOW), "two.new=fd00::2");
	struct gwd_dns_client *c;
	size_t n;
	assert_int_equal(gwd_identity_clients(id, NOW, &c, &n), 0);
	assert_int_equal(n, 2);
	free(c);
	/* The neighbour goes away; a dump that does not show fe80::2 ends it. */
	neigh(id, "02:00:00:00:00:02", "fd00::2", true, 1);
	assert_string_equal(zone_text(id, NOW), "");
	assert_true(gwd_identity_neigh_sweep(id, 2) & GWD_ID_ZONE);
	assert_int_equal(gwd_identity_clients(id, NOW, &c, &n), 0);
	assert_int_equal(n, 0);
	free(c);
	/* A lease runs out. */
	struct gwd_lease l;
	unsigned ch2;
	assert_int_equal(gwd_lease_from_parts("add", "02:00:00:00:00:03", "192.168.1.51", "three",
					      NULL, NOW / 1000 + 60, &l), 0);
	assert_int_equal(gwd_identity_lease(id, &l, NOW, &ch2), 0);
	assert_string_equal(zone_text(id, NOW), "three.new=192.168.1.51");
	assert_string_equal(zone_text(id, NOW + 61000), "");
	assert_true(gwd_identity_expire(id, NOW + 61000) & GWD_ID_ZONE);
	gwd_identity_free(id);
}

static void declared_devices(void **state)
{
	struct gwd_identity *id;
	(void)state;
	struct pol_ir *ir = compile("person leo\ngroup kids\n"
				    "device leo-tablet mac 8c:86:1e:5f:20:b9, 02:86:1e:5f:20:b9 "
				    "owner leo group kids\n"
				    "device gw mac 8c:86:1e:5f:20:ba\n"
				    "default allow\n");
	assert_int_equal(gwd_identity_new(&id), 0);
	lease(id, "add", "8c:86:1e:5f:20:b9", "192.168.1.57", "leos-tab", NOW);
	neigh(id, "02:86:1e:5f:20:b9", "192.168.1.77", false, 1);
	neigh(id, "8c:86:1e:5f:20:ba", "192.168.1.78", false, 1);
	assert_string_equal(zone_text(id, NOW),
			    "device-20b9.new=192.168.1.77 device-20ba.new=192.168.1.78 "
			    "leos-tab.new=192.168.1.57");
	assert_true(gwd_identity_set_policy(id, ir) & GWD_ID_ZONE);
	/* Both MACs answer to the policy's name; "gw" is the zone's own. */
	assert_string_equal(zone_text(id, NOW), "leo-tablet=192.168.1.57 leo-tablet=192.168.1.77");
	uint8_t (*macs)[6];
	size_t n;
	assert_int_equal(gwd_identity_new_macs(id, &macs, &n), 0);
	assert_int_equal(n, 0);
	free(macs);
	json_t *o = json_object();
	const uint8_t dev[2][6] = { { 0x8c, 0x86, 0x1e, 0x5f, 0x20, 0xb9 },
				    { 0x02, 0x86, 0x1e, 0x5f, 0x20, 0xb9 } };
	assert_int_equal(gwd_identity_device_json(id, dev, 2, true, "leo-tablet", "home.arpa", NOW, o), 0);
	assert_string_equal(json_string_value(json_object_get(o, "dns_name")), "leo-tablet.home.arpa");
	assert_true(json_is_true(json_object_get(o, "random")));
	assert_int_equal(json_array_size(json_object_get(o, "addresses")), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(o, "hostnames"), 0)),
			    "leos-tab");
	json_decref(o);
	/* Without the policy they are new again, under their old names. */
	gwd_identity_set_policy(id, NULL);
	assert_string_equal(zone_text(id, NOW),
			    "device-20b9.new=192.168.1.77 device-20ba.new=192.168.1.78 "
			    "leos-tab.new=192.168.1.57");
	gwd_identity_free(id);
	pol_ir_free(ir);
}

static void persisted(void **state)
{
	struct gwd_identity *id, *again;
	char err[256];
	(void)state;
	assert_int_equal(gwd_identity_new(&id), 0);
	lease(id, "add", "02:5e:11:aa:03:09", "192.168.1.57", "android-5f2a", NOW);
	lease(id, "add", "02:5e:11:aa:03:0a", "192.168.1.58", "android-5f2a", NOW);
	neigh(id, "02:5e:11:aa:03:09", "fd00::57", false, 1);
	json_t *j = gwd_identity_to_json(id);
	assert_non_null(j);
	assert_int_equal(gwd_identity_new(&again), 0);
	assert_int_equal(gwd_identity_from_json(again, j, err, sizeof(err)), 0);
	/* Leases come back; neighbour entries come with the next dump. */
	assert_string_equal(zone_text(again, NOW),
			    "android-5f2a-2.new=192.168.1.58 android-5f2a.new=192.168.1.57");
	char *a = json_dumps(j, JSON_SORT_KEYS), *b;
	json_t *j2 = gwd_identity_to_json(again);
	b = json_dumps(j2, JSON_SORT_KEYS);
	assert_string_equal(a, b);
	free(b);
	json_decref(j2);
	/* A damaged file is refused whole: nothing of it is taken. */
	json_t *bad = json_deep_copy(j);
	json_object_set_new(json_array_get(json_object_get(bad, "devices"), 1), "label",
			    json_string("android-5f2a"));
	assert_int_equal(gwd_identity_from_json(again, bad, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "comes twice"));
	json_decref(bad);
	bad = json_deep_copy(j);
	json_object_set_new(json_array_get(json_object_get(bad, "devices"), 0), "mac",
			    json_string("01:00:5e:00:00:01"));
	assert_int_equal(gwd_identity_from_json(again, bad, err, sizeof(err)), -EINVAL);
	json_decref(bad);
	j2 = gwd_identity_to_json(again);
	b = json_dumps(j2, JSON_SORT_KEYS);
	assert_string_equal(a, b);
	free(a);
	free(b);
	json_decref(j2);
	json_decref(j);
	gwd_identity_free(again);
	gwd_identity_free(id);
}

static void bad_leases_change_nothing(void **state)
{
	struct gwd_identity *id;
	struct gwd_lease l;
	(void)state;
	assert_int_equal(gwd_identity_new(&id), 0);
	lease(id, "add", "02:5e:11:aa:03:09", "192.168.1.57", "phone", NOW);
	json_t *jb = gwd_identity_to_json(id);
	char *before = json_dumps(jb, JSON_SORT_KEYS);
	json_decref(jb);
	const char *bad[][5] = {
		{ "add", "01:5e:11:aa:03:09", "192.168.1.57", "x", "" },   /* multicast MAC */
		{ "add", "00:00:00:00:00:00", "192.168.1.57", "x", "" },   /* zero MAC */
		{ "add", "02:5e:11:aa:03:9", "192.168.1.57", "x", "" },    /* short MAC */
		{ "add", "02:5e:11:aa:03:09", "192.168.1.256", "x", "" },  /* no address */
		{ "add", "02:5e:11:aa:03:09", "224.0.0.1", "x", "" },      /* multicast */
		{ "add", "02:5e:11:aa:03:09", "fd00::1", "x", "" },        /* not DHCPv4 */
		{ "add", "02:5e:11:aa:03:09", "192.168.1.57", "a b", "" }, /* hostname */
		{ "add", "02:5e:11:aa:03:09", "192.168.1.57", "-x", "" },
		{ "add", "02:5e:11:aa:03:09", "192.168.1.57", "x\n", "" },
		{ "add", "02:5e:11:aa:03:09", "192.168.1.57", "x", "01:3c:2" }, /* client-id */
		{ "add", "02:5e:11:aa:03:09", "192.168.1.57", "x", "01-3c" },
		{ "ADD", "02:5e:11:aa:03:09", "192.168.1.57", "x", "" },   /* op */
		{ "tftp", "02:5e:11:aa:03:09", "192.168.1.57", "x", "" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(gwd_lease_from_parts(bad[i][0], bad[i][1], bad[i][2], bad[i][3],
						      bad[i][4], 0, &l), -EINVAL);
	char longhost[80];
	memset(longhost, 'a', 64);
	longhost[64] = '\0';
	assert_int_equal(gwd_lease_from_parts("add", "02:5e:11:aa:03:09", "192.168.1.57", longhost,
					      NULL, 0, &l), -EINVAL);
	assert_int_equal(gwd_lease_from_parts("add", "02:5e:11:aa:03:09", "192.168.1.57", "x", NULL,
					      -1, &l), -EINVAL);
	/* A struct that did not come through the parser is checked again. */
	unsigned ch;
	memset(&l, 0, sizeof(l));
	l.op = 9;
	assert_int_equal(gwd_identity_lease(id, &l, NOW, &ch), -EINVAL);
	struct gwd_neigh n = { .family = 4, .has_mac = true, .mac = { 1, 2, 3, 4, 5, 6 } };
	assert_int_equal(gwd_identity_neigh(id, &n, 1, NOW, &ch), -EINVAL);
	json_t *ja = gwd_identity_to_json(id);
	char *after = json_dumps(ja, JSON_SORT_KEYS);
	json_decref(ja);
	assert_string_equal(before, after);
	free(before);
	free(after);
	gwd_identity_free(id);
}

static void lease_file_lines(void **state)
{
	struct gwd_lease l;
	(void)state;
	const char *ok = "1795756800 3c:22:fb:41:8e:07 192.168.1.10 Sarahs-Laptop 01:3c:22:fb:41:8e:07";
	assert_int_equal(gwd_lease_parse_line(ok, strlen(ok), &l), 0);
	assert_int_equal(l.op, GWD_LEASE_OLD);
	assert_int_equal(l.expires, 1795756800);
	assert_string_equal(l.hostname, "Sarahs-Laptop");
	assert_string_equal(l.client_id, "01:3c:22:fb:41:8e:07");
	const char *anon = "0 02:5a:11:00:00:99 192.168.1.99 * *";
	assert_int_equal(gwd_lease_parse_line(anon, strlen(anon), &l), 0);
	assert_int_equal(l.expires, 0);
	assert_string_equal(l.hostname, "");
	const char *skip[] = { "duid 00:01:00:01:2c:5f:6a:1b:02:00:00:00:00:01", "",
			       "1795756800 12345678 fd00::57 phone 00:01:00:01:2c" };
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(gwd_lease_parse_line(skip[i], strlen(skip[i]), &l), -ENOENT);
	const char *bad[] = { "x 3c:22:fb:41:8e:07 192.168.1.10 * *",
			      "1795756800 3c:22:fb:41:8e:07 192.168.1.10 *",
			      "1795756800 3c:22:fb:41:8e:07 192.168.1.10 * * extra",
			      "1795756800 3c:22:fb:41:8e:07 192.168.1.10 h\tx *",
			      "99999999999999999999 3c:22:fb:41:8e:07 192.168.1.10 * *" };
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(gwd_lease_parse_line(bad[i], strlen(bad[i]), &l), -EINVAL);
}

/* ---- neighbour messages */

static size_t put_neigh(char *buf, uint16_t type, uint8_t family, uint16_t state,
			const void *dst, size_t dlen, const uint8_t *mac)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	struct ndmsg *nd = mnl_nlmsg_put_extra_header(nlh, sizeof(*nd));
	nd->ndm_family = family;
	nd->ndm_ifindex = 7;
	nd->ndm_state = state;
	if (dst)
		mnl_attr_put(nlh, NDA_DST, dlen, dst);
	if (mac)
		mnl_attr_put(nlh, NDA_LLADDR, 6, mac);
	return nlh->nlmsg_len;
}

struct got {
	struct gwd_neigh v[8];
	size_t n;
};

static void collect(const struct gwd_neigh *n, void *arg)
{
	struct got *g = arg;
	if (g->n < 8)
		g->v[g->n++] = *n;
}

static void neighbour_messages(void **state)
{
	static char buf[4096] __attribute__((aligned(8)));
	const uint8_t mac[6] = { 0x3c, 0x22, 0xfb, 0x41, 0x8e, 0x07 };
	const uint8_t v4[4] = { 192, 168, 1, 10 }, mc4[4] = { 224, 0, 0, 251 };
	uint8_t v6[16] = { 0xfd, [15] = 1 };
	size_t off = 0;
	struct got g = { .n = 0 };
	bool done;
	(void)state;
	off += put_neigh(buf + off, RTM_NEWNEIGH, AF_INET, NUD_REACHABLE, v4, 4, mac);
	off += put_neigh(buf + off, RTM_NEWNEIGH, AF_INET, NUD_NOARP, mc4, 4, mac);
	off += put_neigh(buf + off, RTM_NEWNEIGH, AF_INET6, NUD_STALE, v6, 16, mac);
	off += put_neigh(buf + off, RTM_NEWNEIGH, AF_INET6, NUD_STALE, v6, 4, mac); /* wrong size */
	off += put_neigh(buf + off, RTM_DELNEIGH, AF_INET, NUD_STALE, v4, 4, NULL);
	off += put_neigh(buf + off, RTM_NEWNEIGH, AF_INET, NUD_FAILED, v4, 4, NULL);
	off += put_neigh(buf + off, RTM_NEWNEIGH, AF_INET, NUD_REACHABLE, mc4, 4, mac);
	struct nlmsghdr *done_msg = mnl_nlmsg_put_header(buf + off);
	done_msg->nlmsg_type = NLMSG_DONE;
	off += done_msg->nlmsg_len;
	assert_int_equal(gwd_neigh_parse(buf, off, collect, &g, &done), 0);
	assert_true(done);
	assert_int_equal(g.n, 4);
	assert_true(g.v[0].has_mac && g.v[0].confirmed && !g.v[0].gone && g.v[0].family == 4);
	assert_int_equal(g.v[0].ifindex, 7);
	assert_true(g.v[1].family == 6 && !g.v[1].confirmed && !g.v[1].gone);
	assert_true(g.v[2].gone && !g.v[2].has_mac);
	assert_true(g.v[3].gone);
	/* A length that lies, a message cut short: -EINVAL, what came before stays. */
	g.n = 0;
	off = put_neigh(buf, RTM_NEWNEIGH, AF_INET, NUD_REACHABLE, v4, 4, mac);
	size_t second = put_neigh(buf + off, RTM_NEWNEIGH, AF_INET, NUD_REACHABLE, v4, 4, mac);
	assert_int_equal(gwd_neigh_parse(buf, off + second - 3, collect, &g, &done), -EINVAL);
	assert_int_equal(g.n, 1);
	((struct nlmsghdr *)buf)->nlmsg_len = 8;
	assert_int_equal(gwd_neigh_parse(buf, off, collect, &g, &done), -EINVAL);
	/* An attribute longer than its message. */
	g.n = 0;
	off = put_neigh(buf, RTM_NEWNEIGH, AF_INET, NUD_REACHABLE, v4, 4, mac);
	((struct nlattr *)(buf + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct ndmsg))))->nla_len = 200;
	assert_int_equal(gwd_neigh_parse(buf, off, collect, &g, &done), -EINVAL);
	assert_int_equal(g.n, 0);
}

static void bounded(void **state)
{
	struct gwd_identity *id;
	(void)state;
	assert_int_equal(gwd_identity_new(&id), 0);
	/* 16 addresses a MAC: the least recently seen goes. */
	for (int i = 0; i < GWD_ID_ADDRS + 4; i++) {
		char a[32];
		struct gwd_neigh n = { .family = 6, .has_mac = true, .mac = { 2, 0, 0, 0, 0, 1 } };
		unsigned ch;
		snprintf(a, sizeof(a), "fd00::%x", i + 1);
		inet_pton(AF_INET6, a, n.addr);
		assert_int_equal(gwd_identity_neigh(id, &n, 1, NOW + i, &ch), 0);
	}
	json_t *j = gwd_identity_to_json(id);
	json_t *addrs = json_object_get(json_array_get(json_object_get(j, "devices"), 0), "addrs");
	assert_int_equal(json_array_size(addrs), GWD_ID_ADDRS);
	json_decref(j);
	/* 4096 records: a new MAC pushes out the least recently seen. */
	for (int i = 0; i < GWD_ID_MAX_MACS + 1; i++) {
		struct gwd_neigh n = { .family = 4, .has_mac = true,
				       .mac = { 2, 1, 0, 0, (uint8_t)(i >> 8), (uint8_t)i },
				       .addr = { 10, 1, (uint8_t)(i >> 8), (uint8_t)i } };
		unsigned ch;
		assert_int_equal(gwd_identity_neigh(id, &n, 1, NOW + 100 + i, &ch), 0);
	}
	assert_int_equal(gwd_identity_count(id), GWD_ID_MAX_MACS);
	assert_null(gwd_identity_new_label(id, (const uint8_t[]){ 2, 0, 0, 0, 0, 1 }));
	gwd_identity_free(id);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(safe_labels),
		cmocka_unit_test(new_devices_named),
		cmocka_unit_test(addresses_move),
		cmocka_unit_test(declared_devices),
		cmocka_unit_test(persisted),
		cmocka_unit_test(bad_leases_change_nothing),
		cmocka_unit_test(lease_file_lines),
		cmocka_unit_test(neighbour_messages),
		cmocka_unit_test(bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
