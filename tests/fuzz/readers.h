/* SPDX-License-Identifier: MIT */
/*
 * Shared by the fuzz targets: call every reader of a loaded image (image.h,
 * eval.h) on one, and check what the readers promise of each other.
 */
#ifndef GW_TESTS_FUZZ_READERS_H
#define GW_TESTS_FUZZ_READERS_H

#include <stdbool.h>

#include "image.h"

/*
 * Reads every table of `ir` through the public readers and aborts when they
 * disagree (a verdict's rule that does not match, a trace that says a later
 * rule decided, a MAC that does not find its device...).  `compiled`: the
 * image came from pol_compile, so its domain names are canonical and every
 * entry must be found by name too; an arbitrary image that loaded only has
 * to be safe to read.
 */
void fuzz_read_ir(const struct pol_ir *ir, bool compiled);

#endif
