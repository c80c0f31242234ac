/* SPDX-License-Identifier: MIT */
/*
 * gwd's state on disk, under state_dir:
 *   state.json                 {"generation":G,"pending":null|{"generation":N,
 *                               "previous":P,"deadline":UNIX_SECONDS,
 *                               "boot_id":B,"deadline_monotonic_ms":M}}
 *                              (the deadline is M on CLOCK_MONOTONIC of boot
 *                              B; UNIX_SECONDS is only what people are shown)
 *   history/NNNNNNNNNN.img     generation N's compiled image (what engines got)
 *   history/NNNNNNNNNN.json    its record: generation, time, user, uid,
 *                              message, hash (sha256 of the image), restores
 *                              (the generation it restored, or null), source
 *                              (the file it came from, or null), text (the
 *                              policy as pol_unit_print flattened it)
 *   engine-file/               the file engine's folder
 * Every file is written to a temporary name, synced and renamed, so a crash
 * leaves the old file or the new one, never half of one.  A history entry
 * exists when its .json does (the .img is written first).
 */
#ifndef GW_CONTROL_STORE_H
#define GW_CONTROL_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Atomic replace of path with data; durable: fsync file and folder. */
int gwd_write_file(const char *path, const void *data, size_t len, bool durable);
/* The whole file, malloc'd (plus a NUL not counted); at most max bytes. */
int gwd_read_file(const char *path, size_t max, char **ret, size_t *ret_len);

struct gwd_state {
	uint32_t generation;   /* the committed generation, 0: none yet */
	bool pending;          /* a --confirm apply awaits policy.confirm */
	uint32_t pending_gen;  /* the generation that awaits it */
	uint32_t pending_prev; /* the one to return to */
	int64_t deadline;      /* unix seconds, as shown when it was set */
	uint64_t deadline_mono_ms; /* the deadline on CLOCK_MONOTONIC of boot_id */
	char boot_id[37];      /* "" in a state.json of an older gwd */
};

int gwd_state_load(const char *state_dir, struct gwd_state *ret);
int gwd_state_save(const char *state_dir, const struct gwd_state *s);

struct gwd_record {
	uint32_t generation;
	int64_t time;
	const char *user;
	uint32_t uid;
	const char *message; /* may be NULL */
	const char *hash;
	uint32_t restores;   /* 0: none */
	const char *source;  /* may be NULL */
	const char *text;
};

int gwd_history_add(const char *state_dir, const struct gwd_record *rec, const void *image,
		    size_t size);
void gwd_history_remove(const char *state_dir, uint32_t gen);
/* Entry gen as JSON (with text), and its image if ret_image is not NULL.
 * -ENOENT when there is no such generation; -EBADMSG when its record does
 * not parse, or its image is missing or differs from the record's hash. */
int gwd_history_get(const char *state_dir, uint32_t gen, json_t **ret_entry, void **ret_image,
		    size_t *ret_size);
/* Every entry without its text, oldest first; and the highest number. */
int gwd_history_list(const char *state_dir, json_t **ret_list, uint32_t *ret_max);

#endif
