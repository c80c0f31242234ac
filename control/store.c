/* SPDX-License-Identifier: MIT */
/* gwd's files under state_dir (store.h).  Touches nothing else. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "compiler.h"
#include "ir.h"
#include "sha256.h"
#include "store.h"

/* A record holds the flattened text (escaped as JSON); an image is at
 * most the policy limit. */
#define MAX_RECORD (2 * (size_t)GWD_COMPILE_MAX_TEXT)
#define MAX_IMAGE ((size_t)POL_MAX_IMAGE)

int gwd_write_file(const char *path, const void *data, size_t len, bool durable)
{
	char tmp[4200];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	int r = 0;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, (const char *)data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto fail;
		}
		off += (size_t)n;
	}
	if (durable && fsync(fd) < 0) {
		r = -errno;
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		r = -errno;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		r = -errno;
		goto fail;
	}
	if (durable) {
		char dir[4200];
		snprintf(dir, sizeof(dir), "%s", path);
		int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return r;
}

int gwd_read_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = 0;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len + 1 >= cap) {
			if (cap > max) {
				r = -EFBIG;
				goto out;
			}
			cap = cap ? cap * 2 : 65536;
			char *b = realloc(buf, cap);
			if (!b) {
				r = -ENOMEM;
				goto out;
			}
			buf = b;
		}
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		r = -EFBIG;
		goto out;
	}
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return r;
}

static void state_path(const char *dir, char *out, size_t size)
{
	snprintf(out, size, "%s/state.json", dir);
}

int gwd_state_load(const char *state_dir, struct gwd_state *ret)
{
	char p[4200];
	state_path(state_dir, p, sizeof(p));
	struct gwd_state s = { 0 };
	char *text;
	size_t len;
	int r = gwd_read_file(p, 1u << 20, &text, &len);
	if (r == -ENOENT) {
		*ret = s;
		return 0;
	}
	if (r < 0)
		return r;
	json_t *o = json_loadb(text, len, 0, NULL);
	free(text);
	json_t *g = json_object_get(o, "generation");
	json_t *pend = json_object_get(o, "pending");
	if (!json_is_integer(g) || json_integer_value(g) < 0 ||
	    json_integer_value(g) > UINT32_MAX || (pend && !json_is_null(pend) &&
						   !json_is_object(pend))) {
		json_decref(o);
		return -EBADMSG;
	}
	s.generation = (uint32_t)json_integer_value(g);
	if (json_is_object(pend)) {
		json_t *pg = json_object_get(pend, "generation");
		json_t *pp = json_object_get(pend, "previous");
		json_t *pd = json_object_get(pend, "deadline");
		if (!json_is_integer(pg) || !json_is_integer(pp) || !json_is_integer(pd)) {
			json_decref(o);
			return -EBADMSG;
		}
		s.pending = true;
		s.pending_gen = (uint32_t)json_integer_value(pg);
		s.pending_prev = (uint32_t)json_integer_value(pp);
		s.deadline = json_integer_value(pd);
		/* The monotonic deadline and its boot (older files have none). */
		json_t *pb = json_object_get(pend, "boot_id");
		json_t *pm = json_object_get(pend, "deadline_monotonic_ms");
		if (pb || pm) {
			if (!json_is_string(pb) || json_string_length(pb) != GWD_BOOT_ID_LEN ||
			    !json_is_integer(pm) || json_integer_value(pm) < 0) {
				json_decref(o);
				return -EBADMSG;
			}
			memcpy(s.boot_id, json_string_value(pb), GWD_BOOT_ID_LEN + 1);
			s.deadline_mono_ms = (uint64_t)json_integer_value(pm);
		}
	}
	json_decref(o);
	*ret = s;
	return 0;
}

int gwd_state_save(const char *state_dir, const struct gwd_state *s)
{
	json_t *o = json_pack("{s:I}", "generation", (json_int_t)s->generation);
	if (!o)
		return -ENOMEM;
	json_t *pend = json_null();
	if (s->pending) {
		pend = json_pack("{s:I,s:I,s:I}", "generation", (json_int_t)s->pending_gen,
				 "previous", (json_int_t)s->pending_prev, "deadline",
				 (json_int_t)s->deadline);
		if (pend && s->boot_id[0]) {
			json_object_set_new(pend, "boot_id", json_string(s->boot_id));
			json_object_set_new(pend, "deadline_monotonic_ms",
					    json_integer((json_int_t)s->deadline_mono_ms));
		}
	}
	json_object_set_new(o, "pending", pend);
	char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!text)
		return -ENOMEM;
	char p[4200];
	state_path(state_dir, p, sizeof(p));
	size_t n = strlen(text);
	char *line = realloc(text, n + 2);
	if (!line) {
		free(text);
		return -ENOMEM;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	int r = gwd_write_file(p, line, n + 1, true);
	free(line);
	return r;
}

static void entry_path(const char *dir, uint32_t gen, const char *ext, char *out, size_t size)
{
	snprintf(out, size, "%s/history/%010u.%s", dir, gen, ext);
}

int gwd_history_add(const char *state_dir, const struct gwd_record *rec, const void *image,
		    size_t size)
{
	char p[4200];
	snprintf(p, sizeof(p), "%s/history", state_dir);
	if (mkdir(p, 0750) < 0 && errno != EEXIST)
		return -errno;
	json_t *o = json_object();
	if (!o)
		return -ENOMEM;
	json_object_set_new(o, "generation", json_integer(rec->generation));
	json_object_set_new(o, "time", json_integer(rec->time));
	json_object_set_new(o, "user", json_string(rec->user));
	json_object_set_new(o, "uid", json_integer(rec->uid));
	json_object_set_new(o, "message", rec->message ? json_string(rec->message) : json_null());
	json_object_set_new(o, "hash", json_string(rec->hash));
	json_object_set_new(o, "restores", rec->restores ? json_integer(rec->restores)
							 : json_null());
	json_object_set_new(o, "source", rec->source ? json_string(rec->source) : json_null());
	json_object_set_new(o, "text", json_string(rec->text));
	char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!text)
		return -ENOMEM;
	entry_path(state_dir, rec->generation, "img", p, sizeof(p));
	int r = gwd_write_file(p, image, size, true);
	if (r == 0) {
		entry_path(state_dir, rec->generation, "json", p, sizeof(p));
		r = gwd_write_file(p, text, strlen(text), true);
	}
	free(text);
	return r;
}

void gwd_history_remove(const char *state_dir, uint32_t gen)
{
	char p[4200];
	entry_path(state_dir, gen, "json", p, sizeof(p));
	unlink(p);
	entry_path(state_dir, gen, "img", p, sizeof(p));
	unlink(p);
}

int gwd_history_get(const char *state_dir, uint32_t gen, json_t **ret_entry, void **ret_image,
		    size_t *ret_size)
{
	char p[4200], *text = NULL, *img = NULL;
	size_t len, ilen = 0;
	entry_path(state_dir, gen, "json", p, sizeof(p));
	int r = gwd_read_file(p, MAX_RECORD, &text, &len);
	if (r < 0)
		return r;
	json_t *o = json_loadb(text, len, 0, NULL);
	free(text);
	if (!json_is_object(o) || !json_is_string(json_object_get(o, "text")) ||
	    !json_is_string(json_object_get(o, "hash"))) {
		json_decref(o);
		return -EBADMSG;
	}
	if (ret_image) {
		entry_path(state_dir, gen, "img", p, sizeof(p));
		r = gwd_read_file(p, MAX_IMAGE, &img, &ilen);
		if (r < 0) {
			json_decref(o);
			return r == -ENOENT ? -EBADMSG : r; /* a record without its image */
		}
		/* The image is what the record's hash says, or it is damaged. */
		char hash[72];
		gwd_sha256_hex(img, ilen, hash);
		if (strcmp(hash, json_string_value(json_object_get(o, "hash")))) {
			free(img);
			json_decref(o);
			return -EBADMSG;
		}
		*ret_image = img;
		*ret_size = ilen;
	}
	*ret_entry = o;
	return 0;
}

static int by_number(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

int gwd_history_list(const char *state_dir, json_t **ret_list, uint32_t *ret_max)
{
	char p[4200];
	snprintf(p, sizeof(p), "%s/history", state_dir);
	json_t *list = json_array();
	if (!list)
		return -ENOMEM;
	uint32_t *gens = NULL, max = 0;
	size_t n = 0, cap = 0;
	DIR *d = opendir(p);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d))) {
			unsigned g;
			char tail;
			if (strlen(de->d_name) != 15 ||
			    sscanf(de->d_name, "%10u.jso%c", &g, &tail) != 2 || tail != 'n' || !g)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				uint32_t *t = realloc(gens, cap * sizeof(*gens));
				if (!t) {
					closedir(d);
					free(gens);
					json_decref(list);
					return -ENOMEM;
				}
				gens = t;
			}
			gens[n++] = g;
		}
		closedir(d);
	} else if (errno != ENOENT) {
		json_decref(list);
		return -errno;
	}
	if (n)
		qsort(gens, n, sizeof(*gens), by_number);
	for (size_t i = 0; i < n; i++) {
		json_t *e;
		if (gwd_history_get(state_dir, gens[i], &e, NULL, NULL) < 0)
			continue;
		json_object_del(e, "text");
		json_array_append_new(list, e);
	}
	/* Numbers are never reused, even of an entry that no longer reads. */
	if (n)
		max = gens[n - 1];
	free(gens);
	*ret_list = list;
	*ret_max = max;
	return 0;
}
