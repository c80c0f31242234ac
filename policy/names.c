/* SPDX-License-Identifier: MIT */
/* The policy language's vocabulary (see names.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ir.h"
#include "names.h"

static const char *const actions[POL_ACTION_COUNT] = {
	[POL_ALLOW] = "allow", [POL_BLOCK] = "block", [POL_REJECT] = "reject",
};
static const char *const days[7] = { "mon", "tue", "wed", "thu", "fri", "sat", "sun" };

const char *pol_action_name(unsigned action)
{
	return action < POL_ACTION_COUNT ? actions[action] : "?";
}

int pol_action_by_name(const char *s, size_t n)
{
	for (int i = 0; i < POL_ACTION_COUNT; i++)
		if (strlen(actions[i]) == n && memcmp(s, actions[i], n) == 0)
			return i;
	return -1;
}

const char *pol_day_name(unsigned wday)
{
	return wday < 7 ? days[wday] : "?";
}

int pol_day_by_name(const char *s, size_t n)
{
	for (int i = 0; i < 7; i++)
		if (n == 3 && memcmp(s, days[i], 3) == 0)
			return i;
	return -1;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int pol_mac_parse(const char *s, size_t n, uint8_t ret[6])
{
	uint8_t mac[6];
	if (n != 17)
		return -EINVAL;
	char sep = s[2];
	if (sep != ':' && sep != '-')
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		int hi = hexval(s[i * 3]), lo = hexval(s[i * 3 + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		if (i < 5 && s[i * 3 + 2] != sep)
			return -EINVAL;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(ret, mac, 6);
	return 0;
}

char *pol_mac_format(const uint8_t m[6], char out[POL_MAC_TEXT])
{
	snprintf(out, POL_MAC_TEXT, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
		 m[5]);
	return out;
}
