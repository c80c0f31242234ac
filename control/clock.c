/* SPDX-License-Identifier: MIT */
/* gwd's clocks (clock.h).  Reads /proc; touches nothing. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"

uint64_t gwd_clock_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int gwd_clock_boot_id(char out[GWD_BOOT_ID_LEN + 1])
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
	if (!f)
		return -errno;
	char buf[64];
	int r = -EIO;
	if (fgets(buf, sizeof(buf), f) && strlen(buf) >= GWD_BOOT_ID_LEN) {
		memcpy(out, buf, GWD_BOOT_ID_LEN);
		out[GWD_BOOT_ID_LEN] = '\0';
		r = 0;
	}
	fclose(f);
	return r;
}

static void iso(time_t t, char *buf, size_t n)
{
	struct tm tm;
	if (!gmtime_r(&t, &tm) || !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, n, "%lld", (long long)t);
}

bool gwd_clock_synchronised(time_t now, char *why, size_t whylen)
{
	if (now >= (time_t)GWD_CLOCK_FLOOR)
		return true;
	char a[32], b[32];
	iso(now, a, sizeof(a));
	iso((time_t)GWD_CLOCK_FLOOR, b, sizeof(b));
	snprintf(why, whylen, "the clock reads %s, before this build (%s): it was never set", a,
		 b);
	return false;
}
