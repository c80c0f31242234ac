/* SPDX-License-Identifier: MIT */
/*
 * gw-dns's confinement, done once at start before any byte from the
 * network or from gwd is read: as OpenBSD's unwind and Unbound do.
 */
#ifndef GW_DNS_CONFINE_H
#define GW_DNS_CONFINE_H

#include <stddef.h>

/*
 * Started as root: chroot into root_dir (created 0755 and root-owned if
 * missing; refused if it is writable by anyone but root or holds
 * anything), drop every capability from the bounding, inheritable and
 * ambient sets, become user (its uid and primary gid, no supplementary
 * groups; root is refused), check that root cannot be regained, then
 * set no_new_privs.  Started as another user: no_new_privs and an empty
 * capability set are all it can do (and it does them).
 * On failure err says which step (a static string) and -errno is returned.
 */
int gwdns_confine(const char *user, const char *root_dir, const char **err);

#endif
