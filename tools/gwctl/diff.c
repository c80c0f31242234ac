/* SPDX-License-Identifier: MIT */
/*
 * `gwctl policy diff [OLD] FILE` (docs/gwctl.md): two files, or the
 * generation in force (gwd's policy.get: the image exactly as gwd
 * compiled it) and a file.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff.h"
#include "gwctl.h"
#include "image.h"
#include "policy.h"

static int unbase64(const char *s, uint8_t **ret, size_t *ret_len)
{
	size_t n = strlen(s);
	if (n % 4)
		return -EINVAL;
	uint8_t *out = malloc(n / 4 * 3 + 1);
	if (!out)
		return -ENOMEM;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		uint32_t v = 0;
		int pad = 0;
		for (int k = 0; k < 4; k++) {
			char c = s[i + k];
			int x = c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26
				: c >= '0' && c <= '9' ? c - '0' + 52 : c == '+' ? 62 : c == '/' ? 63
				: -1;
			if (c == '=' && i + 4 == n && k >= 2) {
				pad++;
				x = 0;
			} else if (x < 0 || pad) {
				free(out);
				return -EINVAL;
			}
			v = v << 6 | (uint32_t)x;
		}
		out[o++] = (uint8_t)(v >> 16);
		if (pad < 2)
			out[o++] = (uint8_t)(v >> 8);
		if (pad < 1)
			out[o++] = (uint8_t)v;
	}
	*ret = out;
	*ret_len = o;
	return 0;
}

static json_t *diff_json(const struct pol_diff *d, const char *from, const char *to)
{
	json_t *list = json_array();
	for (size_t i = 0; i < pol_diff_count(d); i++) {
		const struct pol_diff_entry *e = pol_diff_entry(d, i);
		json_t *o = json_pack("{s:s,s:s,s:s}", "kind", pol_diff_kind_name(e->kind), "name",
				      e->name, "change", pol_diff_op_name(e->op));
		if (e->op == POL_DIFF_ADDED && e->kind == POL_DIFF_RULE)
			json_object_set_new(o, "position", json_integer(e->position));
		json_t *fields = json_array();
		for (size_t j = 0; j < e->nfields; j++) {
			const struct pol_diff_field *f = &e->fields[j];
			json_t *fo = json_pack("{s:s,s:s,s:s}", "field", f->field, "from", f->from,
					       "to", f->to);
			if (f->is_set) {
				json_object_set_new(fo, "added", json_integer(f->added));
				json_object_set_new(fo, "removed", json_integer(f->removed));
			}
			json_array_append_new(fields, fo);
		}
		json_object_set_new(o, "fields", fields);
		json_array_append_new(list, o);
	}
	return json_pack("{s:s,s:s,s:b,s:o}", "from", from, "to", to, "same",
			 pol_diff_count(d) == 0, "changes", list);
}

/* diff's convention: 0 the same, 1 different, 2 trouble (usage, a file
 * that cannot be read or has errors, gwd refusing or unreachable). */
int gwctl_cmd_diff(int argc, char **argv, const char *sock)
{
	const char *files[2] = { NULL, NULL };
	int nfiles = 0;
	bool json = false;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if ((argv[i][0] != '-' || !argv[i][1]) && nfiles < 2)
			files[nfiles++] = argv[i];
		else {
			gwctl_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!nfiles) {
		gwctl_usage(stderr);
		return EXIT_USAGE;
	}
	struct pol_ir *from = NULL, *to = NULL;
	struct pol_diff *d = NULL;
	char from_name[64];
	const char *from_label = files[0];
	int ret = 2;
	if (nfiles == 1) {
		/* The generation in force, exactly as gwd compiled it. */
		json_t *reply = gwctl_call(sock, json_pack("{s:s}", "cmd", "policy.get"));
		if (gwctl_check_reply(reply, "policy diff")) {
			json_decref(reply);
			return 2;
		}
		uint8_t *img = NULL;
		size_t size = 0;
		char err[256];
		const char *b64 = json_string_value(json_object_get(reply, "image"));
		int r = b64 ? unbase64(b64, &img, &size) : -EINVAL;
		if (r == 0)
			r = pol_image_load(img, size, &from, err, sizeof(err));
		if (r < 0)
			fprintf(stderr, "gwctl policy diff: gwd's image of the running generation "
					"does not load: %s\n", r == -EINVAL ? err : strerror(-r));
		snprintf(from_name, sizeof(from_name), "generation %lld",
			 (long long)json_integer_value(json_object_get(reply, "generation")));
		from_label = from_name;
		free(img);
		json_decref(reply);
		if (r < 0)
			goto out;
	} else {
		from = gwctl_compile_ir(files[0]);
		if (!from)
			goto out;
	}
	const char *to_path = files[nfiles - 1];
	to = gwctl_compile_ir(to_path);
	if (!to)
		goto out;
	if (pol_diff_new(from, to, &d) < 0) {
		fprintf(stderr, "gwctl policy diff: out of memory\n");
		goto out;
	}
	if (json) {
		json_t *o = diff_json(d, from_label, to_path);
		char *s = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
		json_decref(o);
		if (!s)
			goto out;
		puts(s);
		free(s);
	} else if (pol_diff_count(d)) {
		printf("--- %s\n+++ %s\n", from_label, to_path);
		pol_diff_print(d, stdout);
	}
	ret = pol_diff_count(d) ? 1 : 0;
out:
	pol_diff_free(d);
	pol_ir_free(from);
	pol_ir_free(to);
	return ret;
}

