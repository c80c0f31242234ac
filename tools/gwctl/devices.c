/* SPDX-License-Identifier: MIT */
/*
 * gwctl devices (docs/gwctl.md): what gwd knows of every device (the
 * identity registry and the flow collector, through the API's devices
 * reply), one device's whole record (devices show), and naming a device
 * (devices name), which writes a `device` statement into the household's
 * devices file and applies the policy as `policy apply` does.
 *
 * devices name edits files with the rights of whoever runs it, never
 * gwd's: the devices file (devices.gw beside the policy file in force,
 * or --file) and, the first time, one `include` line at the end of the
 * policy file.  Both are put back as they were when the apply fails.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "eval.h"
#include "gwctl.h"
#include "gwd_api.h"
#include "image.h"
#include "names.h"
#include "table.h"

#define MAX_GROUPS 64

/* ---------------------------------------------------------------- list */

static void fmt_when(char *buf, size_t size, uint64_t now, uint64_t ms)
{
	if (!ms) {
		snprintf(buf, size, "never");
		return;
	}
	gwc_fmt_age(buf, size, now > ms ? now - ms : 0);
	strncat(buf, " ago", size - strlen(buf) - 1);
}

/* A device's name as people read it: the policy's, or "LABEL (new)". */
static void display_name(json_t *d, char *buf, size_t size)
{
	const char *name = json_string_value(json_object_get(d, "name"));
	const char *label = json_string_value(json_object_get(d, "label"));
	if (name)
		snprintf(buf, size, "%s", name);
	else
		snprintf(buf, size, "%s (new)", label ? label : "?");
}

/* The latest of the registry's and the flows' last seen. */
static uint64_t last_seen(json_t *d)
{
	uint64_t a = gwc_jnum(d, "last_seen_ms"), b = gwc_jnum(json_object_get(d, "totals"),
								"last_seen_ms");
	return a > b ? a : b;
}

static int list(json_t *reply)
{
	uint64_t now = gwc_jnum(reply, "now_ms");
	bool any_random = false;
	struct gwc_table t = { .ncols = 11, .right = { [7] = true, [8] = true, [9] = true,
						       [10] = true } };
	gwc_table_row(&t, (const char *[]){ "NAME", "OWNER", "GROUPS", "MAC", "ADDRESS", "HOSTNAME",
					    "LAST SEEN", "OUT", "IN", "BLOCKED", "FLOWS" });
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(reply, "devices"), i, d) {
		json_t *tot = json_object_get(d, "totals"), *macs = json_object_get(d, "macs");
		char name[96], groups[256] = "", mac[48] = "", addr[80] = "", out[24], in[24],
		     blk[24], flows[24], seen[32];
		size_t k, ncur = 0;
		json_t *g;
		display_name(d, name, sizeof(name));
		json_array_foreach(json_object_get(d, "groups"), k, g) {
			size_t l = strlen(groups);
			snprintf(groups + l, sizeof(groups) - l, "%s%s", k ? "," : "",
				 json_string_value(g));
		}
		/* The first MAC, '*' when it is random (locally administered),
		 * and how many more (`devices show` lists all). */
		const char *m0 = json_string_value(json_array_get(macs, 0));
		uint8_t raw[6];
		bool rnd = m0 && pol_mac_parse(m0, strlen(m0), raw) == 0 && (raw[0] & 2);
		any_random |= rnd;
		if (json_array_size(macs) > 1)
			snprintf(mac, sizeof(mac), "%s%s +%zu", m0, rnd ? "*" : "",
				 json_array_size(macs) - 1);
		else
			snprintf(mac, sizeof(mac), "%s%s", m0 ? m0 : "-", rnd ? "*" : "");
		/* The first current address, and how many more. */
		json_array_foreach(json_object_get(d, "addresses"), k, g) {
			if (!json_is_true(json_object_get(g, "current")))
				continue;
			if (!ncur++)
				snprintf(addr, sizeof(addr), "%s",
					 json_string_value(json_object_get(g, "addr")));
		}
		if (ncur > 1) {
			size_t l = strlen(addr);
			snprintf(addr + l, sizeof(addr) - l, " +%zu", ncur - 1);
		}
		gwc_fmt_size(out, sizeof(out), gwc_jnum(tot, "bytes_out"));
		gwc_fmt_size(in, sizeof(in), gwc_jnum(tot, "bytes_in"));
		gwc_fmt_size(blk, sizeof(blk), gwc_jnum(tot, "blocked_bytes"));
		snprintf(flows, sizeof(flows), "%llu", (unsigned long long)gwc_jnum(tot, "flows_live"));
		fmt_when(seen, sizeof(seen), now, last_seen(d));
		gwc_table_row(&t, (const char *[]){
				      name, json_string_value(json_object_get(d, "owner")),
				      groups[0] ? groups : NULL, mac, addr[0] ? addr : NULL,
				      json_string_value(json_array_get(json_object_get(d, "hostnames"), 0)),
				      seen, out, in, blk, flows });
	}
	gwc_table_print(&t, stdout);
	if (any_random)
		puts("* a random MAC (locally administered): the device may show another one "
		     "elsewhere");
	return 0;
}

/* ---------------------------------------------------------------- show */

static void print_date(uint64_t ms, uint64_t now)
{
	char ago[32];
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char buf[40];
	localtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
	fmt_when(ago, sizeof(ago), now, ms);
	printf("%s (%s)", buf, ago);
}

static void print_strings(const char *label, json_t *a)
{
	size_t i;
	json_t *v;
	printf("  %-12s", label);
	if (!json_array_size(a))
		fputs("-", stdout);
	json_array_foreach(a, i, v)
		printf("%s%s", i ? ", " : "", json_string_value(v));
	putchar('\n');
}

/* Does d answer to `who`: its name, its new name, its DNS name or a MAC? */
static bool is_device(json_t *d, const char *who)
{
	const char *keys[] = { "name", "label", "dns_name" };
	for (size_t i = 0; i < 3; i++) {
		const char *v = json_string_value(json_object_get(d, keys[i]));
		if (v && !strcasecmp(v, who))
			return true;
	}
	uint8_t a[6], b[6];
	size_t i;
	json_t *m;
	if (pol_mac_parse(who, strlen(who), a) < 0)
		return false;
	json_array_foreach(json_object_get(d, "macs"), i, m) {
		const char *t = json_string_value(m);
		if (t && pol_mac_parse(t, strlen(t), b) == 0 && !memcmp(a, b, 6))
			return true;
	}
	return false;
}

static json_t *find_device(json_t *reply, const char *who)
{
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(reply, "devices"), i, d)
		if (is_device(d, who))
			return d;
	return NULL;
}

static int show(json_t *reply, const char *who)
{
	uint64_t now = gwc_jnum(reply, "now_ms");
	json_t *d = find_device(reply, who);
	char name[96];
	size_t i;
	json_t *a;
	if (!d) {
		fprintf(stderr, "gwctl devices show: no device '%s' (a name, a new device's name, "
				"or a MAC)\n", who);
		return 1;
	}
	display_name(d, name, sizeof(name));
	bool is_new = json_is_true(json_object_get(d, "new"));
	printf("%s: %s\n", name, is_new ? "a new device (no device statement declares it)"
					: "a declared device");
	const char *dns = json_string_value(json_object_get(d, "dns_name"));
	printf("  %-12s%s\n", "dns name", dns ? dns : "-");
	const char *owner = json_string_value(json_object_get(d, "owner"));
	printf("  %-12s%s\n", "owner", owner ? owner : "-");
	print_strings("groups", json_object_get(d, "groups"));
	print_strings("macs", json_object_get(d, "macs"));
	printf("  %-12s%s\n", "random mac",
	       json_is_true(json_object_get(d, "random")) ? "yes (locally administered)" : "no");
	print_strings("hostnames", json_object_get(d, "hostnames"));
	print_strings("client ids", json_object_get(d, "client_ids"));
	printf("  %-12s", "addresses");
	if (!json_array_size(json_object_get(d, "addresses")))
		fputs("-\n", stdout);
	json_array_foreach(json_object_get(d, "addresses"), i, a) {
		char via[64] = "", seen[32];
		size_t k;
		json_t *v;
		json_array_foreach(json_object_get(a, "via"), k, v) {
			size_t l = strlen(via);
			snprintf(via + l, sizeof(via) - l, "%s%s", k ? "+" : "", json_string_value(v));
		}
		fmt_when(seen, sizeof(seen), now, gwc_jnum(a, "last_seen_ms"));
		printf("%s%-40s %-8s %-15s last seen %s", i ? "              " : "",
		       json_string_value(json_object_get(a, "addr")),
		       json_is_true(json_object_get(a, "current")) ? "current" : "-", via, seen);
		json_t *exp = json_object_get(a, "lease_expires");
		if (json_is_integer(exp) && json_integer_value(exp) == 0)
			fputs(", lease never ends", stdout);
		else if (json_is_integer(exp) && json_integer_value(exp) * 1000 > (json_int_t)now) {
			char left[32];
			gwc_fmt_age(left, sizeof(left), (uint64_t)json_integer_value(exp) * 1000 - now);
			printf(", lease ends in %s", left);
		}
		putchar('\n');
	}
	uint64_t first = gwc_jnum(d, "first_seen_ms"), tfirst = gwc_jnum(json_object_get(d, "totals"),
									 "first_seen_ms");
	if (!first || (tfirst && tfirst < first))
		first = tfirst;
	printf("  %-12s", "first seen");
	if (first)
		print_date(first, now);
	else
		fputs("never", stdout);
	printf("\n  %-12s", "last seen");
	if (last_seen(d))
		print_date(last_seen(d), now);
	else
		fputs("never", stdout);
	json_t *tot = json_object_get(d, "totals");
	char out[24], in[24], blk[24];
	gwc_fmt_size(out, sizeof(out), gwc_jnum(tot, "bytes_out"));
	gwc_fmt_size(in, sizeof(in), gwc_jnum(tot, "bytes_in"));
	gwc_fmt_size(blk, sizeof(blk), gwc_jnum(tot, "blocked_bytes"));
	printf("\n  %-12sout %s, in %s, blocked %s, flows %llu live, %llu in all\n", "traffic", out,
	       in, blk, (unsigned long long)gwc_jnum(tot, "flows_live"),
	       (unsigned long long)gwc_jnum(tot, "flows_total"));
	return 0;
}

/* ---------------------------------------------------------------- name */

/* A whole file, NUL-terminated; *ret NULL and 0 when it does not exist. */
static int slurp(const char *path, char **ret, size_t *ret_len)
{
	FILE *f = fopen(path, "r");
	*ret = NULL;
	*ret_len = 0;
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	size_t cap = 65536, n = 0;
	char *t = malloc(cap);
	while (t) {
		size_t got = fread(t + n, 1, cap - n - 1, f);
		n += got;
		if (n < cap - 1)
			break;
		char *bigger = cap < POL_MAX_FILE ? realloc(t, cap * 2) : NULL;
		if (!bigger) {
			free(t);
			t = NULL;
			break;
		}
		t = bigger;
		cap *= 2;
	}
	int r = !t ? -ENOMEM : ferror(f) ? -EIO : 0;
	fclose(f);
	if (r < 0) {
		free(t);
		return r;
	}
	t[n] = '\0';
	*ret = t;
	*ret_len = n;
	return 0;
}

/* path replaced by text (a temporary file renamed over it), with mode. */
static int put(const char *path, const char *text, size_t len, mode_t mode)
{
	char tmp[PATH_MAX + 16];
	snprintf(tmp, sizeof(tmp), "%s.gwctl-tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	int r = 0;
	for (size_t off = 0; off < len && r == 0;) {
		ssize_t w = write(fd, text + off, len - off);
		if (w < 0 && errno != EINTR)
			r = -errno;
		else if (w > 0)
			off += (size_t)w;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

/* The text of line `line` (1-based) and of the lines a trailing comma
 * continues it into: [*ret_start, *ret_end) of text, the newline included. */
static bool statement_lines(const char *text, size_t len, uint32_t line, size_t *ret_start,
			    size_t *ret_end)
{
	size_t at = 0;
	for (uint32_t l = 1; l < line; l++) {
		const char *nl = memchr(text + at, '\n', len - at);
		if (!nl)
			return false;
		at = (size_t)(nl - text) + 1;
	}
	size_t end = at;
	for (;;) {
		const char *nl = memchr(text + end, '\n', len - end);
		size_t stop = nl ? (size_t)(nl - text) : len;
		/* Without its comment and trailing blanks, does it end with ','? */
		size_t e = stop;
		const char *hash = memchr(text + end, '#', stop - end);
		if (hash)
			e = (size_t)(hash - text);
		while (e > end && (text[e - 1] == ' ' || text[e - 1] == '\t' || text[e - 1] == '\r'))
			e--;
		end = nl ? stop + 1 : stop;
		if (!(e > 0 && text[e - 1] == ',') || !nl)
			break;
	}
	*ret_start = at;
	*ret_end = end;
	return true;
}

struct naming {
	const char *sock, *who, *name, *owner, *file_opt, *msg;
	const char *groups[MAX_GROUPS];
	size_t ngroups;
	bool set_groups;
	/* found */
	uint8_t mac[6];
	char main_path[PATH_MAX], dev_path[PATH_MAX];
	char *main_text, *dev_text;
	size_t main_len, dev_len;
	bool dev_existed;
	mode_t main_mode;
};

/* The statement that declares device `dev` of ir, as gwctl writes it,
 * with `drop` (NULL: none) left out of its MACs and `add` (NULL: none)
 * added, and owner and groups replaced when given.  "" when no MAC is
 * left. */
static void statement(const struct pol_ir *ir, uint32_t dev, const struct naming *nm,
		      const uint8_t *drop, const uint8_t *add, char *out, size_t size)
{
	size_t n = 0, nmacs = 0;
	char m[POL_MAC_TEXT];
	n += (size_t)snprintf(out + n, size - n, "device %s mac", pol_ir_str(ir, ir->devices[dev].name));
	for (uint32_t i = 0; i < ir->nmacs && n < size; i++) {
		if (ir->macs[i].device != dev || (drop && !memcmp(drop, ir->macs[i].mac, 6)))
			continue;
		n += (size_t)snprintf(out + n, size - n, "%s %s", nmacs++ ? "," : "",
				      pol_mac_format(ir->macs[i].mac, m));
	}
	if (add && n < size) {
		n += (size_t)snprintf(out + n, size - n, "%s %s", nmacs++ ? "," : "",
				      pol_mac_format(add, m));
	}
	if (!nmacs) {
		out[0] = '\0';
		return;
	}
	/* The device's fixed address stays with its statement. */
	if ((ir->devices[dev].flags & POL_DEVICE_ADDR4) && n < size) {
		char addr[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, ir->devices[dev].addr4, addr, sizeof(addr));
		n += (size_t)snprintf(out + n, size - n, " address %s", addr);
	}
	bool ours = add != NULL;
	const char *owner = ours && nm->owner ? nm->owner :
			    ir->devices[dev].owner != POL_NONE ?
			    pol_ir_str(ir, ir->persons[ir->devices[dev].owner].name) : NULL;
	if (owner && n < size)
		n += (size_t)snprintf(out + n, size - n, " owner %s", owner);
	if (ours && nm->set_groups) {
		for (size_t g = 0; g < nm->ngroups && n < size; g++)
			n += (size_t)snprintf(out + n, size - n, "%s%s", g ? ", " : " group ",
					      nm->groups[g]);
	} else {
		unsigned k = 0;
		for (uint32_t g = 0; g < ir->ngroups && g < 64 && n < size; g++)
			if (ir->devices[dev].groups >> g & 1)
				n += (size_t)snprintf(out + n, size - n, "%s%s", k++ ? ", " : " group ",
						      pol_ir_str(ir, ir->groups[g].name));
	}
	if (n < size)
		snprintf(out + n, size - n, "\n");
}

/* Is `path` (as the compiler names it) the devices file? */
static bool same_file(const char *path, const char *want)
{
	char real[PATH_MAX];
	return path && realpath(path, real) && !strcmp(real, want);
}

/* The text of the devices file after naming: built from the compiled
 * policy, or an error (printed) and NULL. */
static char *new_devices_text(struct naming *nm, const struct pol_unit *u, const struct pol_ir *ir)
{
	uint32_t has_mac = pol_device_by_mac(ir, nm->mac), named = POL_NONE;
	struct pol_loc mloc, nloc;
	char m[POL_MAC_TEXT], line[8192];
	for (uint32_t i = 0; i < ir->ndevices; i++)
		if (!strcmp(pol_ir_str(ir, ir->devices[i].name), nm->name))
			named = i;
	pol_mac_format(nm->mac, m);
	if (has_mac != POL_NONE && pol_unit_device_loc(u, has_mac, &mloc) == 0 &&
	    !same_file(mloc.file, nm->dev_path)) {
		fprintf(stderr, "gwctl devices name: %s is device '%s' of %s:%u; gwctl writes only "
				"%s: change it there\n", m, pol_ir_str(ir, ir->devices[has_mac].name),
			mloc.file, mloc.line, nm->dev_path);
		return NULL;
	}
	if (named != POL_NONE && pol_unit_device_loc(u, named, &nloc) == 0 &&
	    !same_file(nloc.file, nm->dev_path)) {
		fprintf(stderr, "gwctl devices name: device '%s' is declared in %s:%u; gwctl writes "
				"only %s: change it there\n", nm->name, nloc.file, nloc.line,
			nm->dev_path);
		return NULL;
	}
	if (has_mac != POL_NONE && has_mac == named && !nm->owner && !nm->set_groups) {
		fprintf(stderr, "gwctl devices name: %s is device '%s' already\n", m, nm->name);
		return NULL;
	}
	/* Lines to replace: the statements of the MAC's device and of NAME. */
	const char *text = nm->dev_text ? nm->dev_text : "";
	size_t len = nm->dev_len;
	size_t cut[2][2] = { { 0, 0 }, { 0, 0 } };
	char repl[2][8192] = { "", "" };
	size_t ncut = 0;
	if (has_mac != POL_NONE && has_mac != named) {
		statement_lines(text, len, mloc.line, &cut[ncut][0], &cut[ncut][1]);
		statement(ir, has_mac, nm, nm->mac, NULL, repl[ncut], sizeof(repl[0]));
		ncut++;
	}
	if (named != POL_NONE) {
		statement_lines(text, len, nloc.line, &cut[ncut][0], &cut[ncut][1]);
		statement(ir, named, nm, has_mac == named ? nm->mac : NULL, nm->mac, repl[ncut],
			  sizeof(repl[0]));
		ncut++;
	} else {
		/* A device of its own, at the end. */
		size_t n = (size_t)snprintf(line, sizeof(line), "device %s mac %s", nm->name, m);
		if (nm->owner)
			n += (size_t)snprintf(line + n, sizeof(line) - n, " owner %s", nm->owner);
		for (size_t g = 0; g < nm->ngroups && n < sizeof(line); g++)
			n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s", g ? ", " : " group ",
					      nm->groups[g]);
		if (n < sizeof(line))
			snprintf(line + n, sizeof(line) - n, "\n");
	}
	if (ncut == 2 && cut[1][0] < cut[0][0]) {
		size_t tc[2] = { cut[0][0], cut[0][1] };
		char tr[8192];
		memcpy(tr, repl[0], sizeof(tr));
		cut[0][0] = cut[1][0], cut[0][1] = cut[1][1];
		memcpy(repl[0], repl[1], sizeof(tr));
		cut[1][0] = tc[0], cut[1][1] = tc[1];
		memcpy(repl[1], tr, sizeof(tr));
	}
	const char *head = nm->dev_existed ? "" :
		"# The household's devices named with `gwctl devices name` (docs/gwctl.md).\n"
		"# The policy includes this file; gwctl rewrites a device's statement when it\n"
		"# names the device again.\n";
	size_t cap = strlen(head) + len + 2 * sizeof(repl[0]) + sizeof(line) + 2;
	char *out = malloc(cap), *o = out;
	if (!out)
		return NULL;
	o += sprintf(o, "%s", head);
	size_t at = 0;
	for (size_t c = 0; c < ncut; c++) {
		memcpy(o, text + at, cut[c][0] - at);
		o += cut[c][0] - at;
		o += sprintf(o, "%s", repl[c]);
		at = cut[c][1];
	}
	memcpy(o, text + at, len - at);
	o += len - at;
	if (named == POL_NONE) {
		if (o > out && o[-1] != '\n')
			*o++ = '\n';
		o += sprintf(o, "%s", line);
	}
	*o = '\0';
	return out;
}

/* The policy file in force: the source of the current generation. */
static int policy_source(struct naming *nm)
{
	json_t *reply = gwctl_call(nm->sock, json_pack("{s:s}", "cmd", "policy.history"));
	if (gwctl_check_reply(reply, "devices name") != 0) {
		json_decref(reply);
		return -1;
	}
	json_int_t cur = json_integer_value(json_object_get(reply, "current"));
	const char *src = NULL;
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(reply, "generations"), i, e)
		if (json_integer_value(json_object_get(e, "generation")) == cur)
			src = json_string_value(json_object_get(e, "source"));
	if (!cur || !src) {
		fprintf(stderr, "gwctl devices name: %s; apply the household's policy from its file "
				"first (gwctl policy apply FILE)\n",
			!cur ? "no policy was applied yet" :
			       "the policy in force was not applied from a file");
		json_decref(reply);
		return -1;
	}
	snprintf(nm->main_path, sizeof(nm->main_path), "%s", src);
	json_decref(reply);
	return 0;
}

/* who as a MAC: a MAC itself, or the name of a device gwd knows with one MAC. */
static int resolve_mac(struct naming *nm)
{
	if (pol_mac_parse(nm->who, strlen(nm->who), nm->mac) == 0)
		return 0;
	json_t *reply = gwctl_call(nm->sock, json_pack("{s:s}", "cmd", "devices"));
	if (gwctl_check_reply(reply, "devices name") != 0) {
		json_decref(reply);
		return -1;
	}
	json_t *d = find_device(reply, nm->who);
	json_t *macs = json_object_get(d, "macs");
	const char *m = json_string_value(json_array_get(macs, 0));
	int r = -1;
	if (!d)
		fprintf(stderr, "gwctl devices name: '%s' is neither a MAC address nor a device "
				"gwd knows (gwctl devices)\n", nm->who);
	else if (json_array_size(macs) != 1 || !m)
		fprintf(stderr, "gwctl devices name: '%s' has %zu MACs: name it by MAC\n", nm->who,
			json_array_size(macs));
	else
		r = pol_mac_parse(m, strlen(m), nm->mac);
	json_decref(reply);
	return r;
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > POL_MAX_NAME ||
	    !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
	      (s[0] >= '0' && s[0] <= '9')))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return false;
	return true;
}

/* The include line the policy file gets: the devices file relative to
 * the policy's folder when it is inside it, else absolute. */
static void include_line(const struct naming *nm, char *out, size_t size)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", nm->main_path);
	const char *d = dirname(dir);
	size_t dl = strlen(d);
	const char *rel = nm->dev_path;
	if (!strncmp(nm->dev_path, d, dl) && nm->dev_path[dl] == '/')
		rel = nm->dev_path + dl + 1;
	snprintf(out, size,
		 "\n# The devices named with `gwctl devices name` (docs/gwctl.md).\ninclude \"%s\"\n",
		 rel);
}

static int name_device(struct naming *nm)
{
	struct pol_unit *u = NULL;
	struct pol_ir *ir = NULL;
	char *dev_new = NULL, *main_new = NULL;
	int r = 1, fd = -1;
	bool wrote_dev = false, wrote_main = false;
	if (!name_ok(nm->name)) {
		fprintf(stderr, "gwctl devices name: '%s' is not a device name (a letter or digit, "
				"then letters, digits, '-', '_'; at most %d)\n", nm->name, POL_MAX_NAME);
		return EXIT_USAGE;
	}
	if (resolve_mac(nm) < 0 || policy_source(nm) < 0)
		return 1;
	if (nm->file_opt) {
		char *abs = realpath(nm->file_opt, NULL);
		if (abs) {
			snprintf(nm->dev_path, sizeof(nm->dev_path), "%s", abs);
			free(abs);
		} else if (nm->file_opt[0] == '/') {
			snprintf(nm->dev_path, sizeof(nm->dev_path), "%s", nm->file_opt);
		} else {
			char cwd[PATH_MAX];
			if (!getcwd(cwd, sizeof(cwd)) ||
			    strlen(cwd) + strlen(nm->file_opt) + 2 > sizeof(nm->dev_path)) {
				fprintf(stderr, "gwctl devices name: %s: the path is too long\n",
					nm->file_opt);
				return 1;
			}
			memcpy(nm->dev_path, cwd, strlen(cwd));
			nm->dev_path[strlen(cwd)] = '/';
			strcpy(nm->dev_path + strlen(cwd) + 1, nm->file_opt);
		}
	} else {
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s", nm->main_path);
		snprintf(nm->dev_path, sizeof(nm->dev_path), "%s/devices.gw", dirname(dir));
	}
	/* One naming at a time: the policy file's lock, held to the end. */
	struct stat st;
	fd = open(nm->main_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || flock(fd, LOCK_EX) < 0) {
		fprintf(stderr, "gwctl devices name: %s: %s\n", nm->main_path, strerror(errno));
		goto out;
	}
	nm->main_mode = st.st_mode & 0777;
	int sr;
	if ((sr = slurp(nm->main_path, &nm->main_text, &nm->main_len)) < 0 ||
	    (sr = slurp(nm->dev_path, &nm->dev_text, &nm->dev_len)) < 0) {
		fprintf(stderr, "gwctl devices name: %s\n", strerror(-sr));
		goto out;
	}
	nm->dev_existed = nm->dev_text != NULL;
	/* The policy as it is on disk now, to see where things are declared. */
	int cr = gwctl_compile(nm->main_path, &u);
	if (cr != 0) {
		if (cr > 0) {
			pol_unit_render_diags(u, stderr);
			fprintf(stderr, "gwctl devices name: %s has errors: fix them first\n",
				nm->main_path);
		}
		goto out;
	}
	if (gwctl_load_ir(u, &ir) < 0)
		goto out;
	bool included = false;
	for (size_t i = 0; pol_unit_file(u, i); i++)
		if (i && same_file(pol_unit_file(u, i), nm->dev_path))
			included = true;
	dev_new = new_devices_text(nm, u, ir);
	if (!dev_new)
		goto out;
	int wr = put(nm->dev_path, dev_new, strlen(dev_new),
		     nm->dev_existed ? 0644 : nm->main_mode | 0400);
	if (wr < 0) {
		fprintf(stderr, "gwctl devices name: %s: %s\n", nm->dev_path, strerror(-wr));
		goto out;
	}
	wrote_dev = true;
	if (!included) {
		char inc[PATH_MAX + 128];
		include_line(nm, inc, sizeof(inc));
		size_t il = strlen(inc);
		main_new = malloc(nm->main_len + il + 2);
		if (!main_new)
			goto out;
		memcpy(main_new, nm->main_text, nm->main_len);
		size_t n = nm->main_len;
		if (n && main_new[n - 1] != '\n')
			main_new[n++] = '\n';
		memcpy(main_new + n, inc, il + 1);
		wr = put(nm->main_path, main_new, strlen(main_new), nm->main_mode);
		if (wr < 0) {
			fprintf(stderr, "gwctl devices name: %s: %s\n", nm->main_path, strerror(-wr));
			goto out;
		}
		wrote_main = true;
	}
	/* The transaction: gwd compiles the file with our rights and applies it. */
	char m[POL_MAC_TEXT], msg[256];
	pol_mac_format(nm->mac, m);
	snprintf(msg, sizeof(msg), "devices name %s %s", m, nm->name);
	json_t *req = json_pack("{s:s,s:s,s:s}", "cmd", "policy.apply", "path", nm->main_path,
				"message", nm->msg ? nm->msg : msg);
	json_t *reply = gwctl_call(nm->sock, req);
	if (gwctl_check_reply(reply, "devices name") == 0) {
		printf("%s is device '%s' (generation %lld)%s%s\n", m, nm->name,
		       (long long)json_integer_value(json_object_get(reply, "generation")),
		       nm->dev_existed ? "" : "; created ", nm->dev_existed ? "" : nm->dev_path);
		if (wrote_main)
			printf("%s now includes %s\n", nm->main_path, nm->dev_path);
		r = 0;
	}
	json_decref(reply);
out:
	if (r != 0) {
		/* Nothing applied: the files as they were. */
		if (wrote_dev && nm->dev_existed)
			put(nm->dev_path, nm->dev_text, nm->dev_len, 0644);
		else if (wrote_dev)
			unlink(nm->dev_path);
		if (wrote_main)
			put(nm->main_path, nm->main_text, nm->main_len, nm->main_mode);
		if (wrote_dev || wrote_main)
			fprintf(stderr, "gwctl devices name: nothing changed (the files are as they "
					"were)\n");
	}
	if (fd >= 0)
		close(fd);
	pol_ir_free(ir);
	pol_unit_free(u);
	free(dev_new);
	free(main_new);
	free(nm->main_text);
	free(nm->dev_text);
	return r;
}

/* ---------------------------------------------------------------- dispatch */

int gwctl_cmd_devices(int argc, char **argv, const char *sock)
{
	if (argc >= 1 && !strcmp(argv[0], "name")) {
		struct naming nm = { .sock = sock };
		int pos = 0;
		for (int i = 1; i < argc; i++) {
			if (!strcmp(argv[i], "--owner") && i + 1 < argc) {
				nm.owner = argv[++i];
			} else if (!strcmp(argv[i], "--group") && i + 1 < argc) {
				if (nm.ngroups == MAX_GROUPS) {
					fprintf(stderr, "gwctl devices name: at most %d groups\n",
						MAX_GROUPS);
					return EXIT_USAGE;
				}
				nm.groups[nm.ngroups++] = argv[++i];
				nm.set_groups = true;
			} else if (!strcmp(argv[i], "--file") && i + 1 < argc) {
				nm.file_opt = argv[++i];
			} else if (!strcmp(argv[i], "-m") && i + 1 < argc) {
				nm.msg = argv[++i];
			} else if (argv[i][0] != '-' && pos == 0) {
				nm.who = argv[i];
				pos++;
			} else if (argv[i][0] != '-' && pos == 1) {
				nm.name = argv[i];
				pos++;
			} else {
				gwctl_usage(stderr);
				return EXIT_USAGE;
			}
		}
		if (pos != 2) {
			gwctl_usage(stderr);
			return EXIT_USAGE;
		}
		return name_device(&nm);
	}
	bool json = false;
	const char *who = NULL;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "show") && i + 1 < argc && !who)
			who = argv[++i];
		else {
			gwctl_usage(stderr);
			return EXIT_USAGE;
		}
	}
	json_t *reply = gwctl_call(sock, json_pack("{s:s}", "cmd", "devices"));
	int r = gwctl_check_reply(reply, "devices");
	if (r == 0 && who && json) {
		json_t *d = find_device(reply, who);
		if (d) {
			char *s = json_dumps(d, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
			puts(s ? s : "null");
			free(s);
		} else {
			fprintf(stderr, "gwctl devices show: no device '%s'\n", who);
			r = 1;
		}
	} else if (r == 0 && who) {
		r = show(reply, who);
	} else if (r == 0 && json) {
		gwctl_print_json_reply(reply);
	} else if (r == 0) {
		r = list(reply);
	}
	json_decref(reply);
	return r;
}
