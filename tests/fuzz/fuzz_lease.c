/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: DHCP lease events into the identity registry
 * (control/lease.c, control/identity.c), as dnsmasq hands them to gwd.
 * Input: byte 0 picks the form.
 *   even: the rest is a lease file, one lease a line (gwd_lease_parse_line);
 *   odd:  the rest is a stream of script events, each six NUL-terminated
 *         parts: op, MAC, address, hostname, client-id, expiry in decimal
 *         (gwd_lease_from_parts).
 * Each event goes into one registry (the clock moves a second per event).
 * Promises checked:
 *   - an event the parser refuses changes nothing: the registry's file
 *     (gwd_identity_to_json) is the same before and after;
 *   - an accepted event is taken by the registry;
 *   - the registry's file always reads back (gwd_identity_from_json) into
 *     the same file, and every zone name it makes is labels of letters,
 *     digits and hyphens under "new".
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity.h"
#include "lease.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *dump(const struct gwd_identity *id)
{
	json_t *j = gwd_identity_to_json(id);
	if (!j)
		abort();
	char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(j);
	if (!s)
		abort();
	return s;
}

static void check_names(const struct gwd_identity *id, int64_t now)
{
	struct gwd_dns_record *v;
	size_t n;
	if (gwd_identity_records(id, now, &v, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		size_t len = strnlen(v[i].name, sizeof(v[i].name));
		if (len < 5 || len == sizeof(v[i].name) || strcmp(v[i].name + len - 4, ".new"))
			abort();
		for (size_t k = 0; k < len - 4; k++) {
			char c = v[i].name[k];
			if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
				abort();
		}
		if (v[i].name[0] == '-' || v[i].name[len - 5] == '-')
			abort();
	}
	free(v);
}

static void one(struct gwd_identity *id, int r, const struct gwd_lease *l, int64_t now)
{
	char *before = dump(id);
	unsigned ch = 0;
	if (r == 0) {
		if (gwd_identity_lease(id, l, now, &ch) < 0)
			abort();
	}
	char *after = dump(id);
	if (r < 0 && strcmp(before, after))
		abort();
	free(before);
	free(after);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gwd_identity *id;
	if (size < 1 || gwd_identity_new(&id) < 0)
		return 0;
	char *text = malloc(size);
	if (!text) {
		gwd_identity_free(id);
		return 0;
	}
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	size_t len = size - 1;
	int64_t now = 1795750000000LL;
	struct gwd_lease l;
	if (!(data[0] & 1)) {
		for (size_t pos = 0; pos <= len;) {
			const char *nl = memchr(text + pos, '\n', len - pos);
			size_t end = nl ? (size_t)(nl - text) : len;
			/* A copy of the line alone, so ASan sees a read past it. */
			char *line = malloc(end - pos + 1);
			if (!line)
				break;
			memcpy(line, text + pos, end - pos);
			memset(&l, 0x5a, sizeof(l));
			int r = gwd_lease_parse_line(line, end - pos, &l);
			if (r < 0 && r != -EINVAL && r != -ENOENT)
				abort();
			one(id, r, &l, now += 1000);
			free(line);
			pos = end + 1;
		}
	} else {
		const char *part[6];
		size_t pos = 0;
		for (;;) {
			size_t k;
			for (k = 0; k < 6 && pos < len; k++) {
				part[k] = text + pos;
				pos += strlen(text + pos) + 1;
			}
			if (k < 6)
				break;
			char *end;
			long long exp = strtoll(part[5], &end, 10);
			if (*end)
				exp = -1;
			int r = gwd_lease_from_parts(part[0], part[1], part[2], part[3], part[4], exp, &l);
			if (r < 0 && r != -EINVAL)
				abort();
			one(id, r, &l, now += 1000);
		}
	}
	check_names(id, now);
	/* What the registry writes, it reads back the same. */
	json_t *j = gwd_identity_to_json(id);
	struct gwd_identity *again;
	char err[256];
	if (!j || gwd_identity_new(&again) < 0)
		abort();
	if (gwd_identity_from_json(again, j, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	char *a = dump(id), *b = dump(again);
	if (strcmp(a, b))
		abort();
	free(a);
	free(b);
	json_decref(j);
	gwd_identity_free(again);
	gwd_identity_free(id);
	free(text);
	return 0;
}
