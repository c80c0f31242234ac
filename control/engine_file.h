/* SPDX-License-Identifier: MIT */
/*
 * The file engine: records each committed generation's image as
 * DIR/active.img and its number as DIR/active.gen (atomic renames).  It is
 * the engine of this stage and the witness in the tests: active.img is what
 * an engine would enforce.
 */
#ifndef GW_CONTROL_ENGINE_FILE_H
#define GW_CONTROL_ENGINE_FILE_H

#include "engine.h"

int gwd_engine_file_new(const char *dir, struct gwd_engine **ret);

#endif
