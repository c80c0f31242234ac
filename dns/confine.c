/* SPDX-License-Identifier: MIT */
/* gw-dns drops what it does not need (confine.h). */
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "confine.h"

static int last_cap(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "r");
	int n = 63;

	if (f) {
		if (fscanf(f, "%d", &n) != 1)
			n = 63;
		fclose(f);
	}
	return n;
}

/* Every capability set of this thread emptied (effective, permitted, inheritable). */
static int clear_caps(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof(d));
	return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

static int empty_root_dir(const char *dir, const char **err)
{
	struct stat st;
	DIR *d;
	struct dirent *e;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		*err = "mkdir chroot";
		return -errno;
	}
	if (lstat(dir, &st) < 0) {
		*err = "stat chroot";
		return -errno;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022)) {
		*err = "chroot is not a directory owned by root and writable by root alone";
		return -EPERM;
	}
	d = opendir(dir);
	if (!d) {
		*err = "open chroot";
		return -errno;
	}
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			closedir(d);
			*err = "chroot is not empty";
			return -ENOTEMPTY;
		}
	closedir(d);
	return 0;
}

int gwdns_confine(const char *user, const char *root_dir, const char **err)
{
	struct passwd *pw;
	uid_t uid;
	gid_t gid;
	int cap, last, r;

	if (geteuid() != 0) {
		/* Nothing to drop but what no_new_privs keeps from coming. */
		if ((r = clear_caps()) < 0) {
			*err = "capset";
			return r;
		}
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
			*err = "no_new_privs";
			return -errno;
		}
		return 0;
	}
	pw = getpwnam(user);
	if (!pw) {
		*err = "no such user (create it: useradd --system gw-dns)";
		return -ENOENT;
	}
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (uid == 0 || gid == 0) {
		*err = "the user is root";
		return -EPERM;
	}
	last = last_cap(); /* before /proc is out of reach */
	if ((r = empty_root_dir(root_dir, err)) < 0)
		return r;
	if (chroot(root_dir) < 0 || chdir("/") < 0) {
		*err = "chroot";
		return -errno;
	}
	for (cap = 0; cap <= last; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) {
			*err = "drop bounding capability";
			return -errno;
		}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
		*err = "clear ambient capabilities";
		return -errno;
	}
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0) {
		*err = "setgid";
		return -errno;
	}
	if (setresuid(uid, uid, uid) < 0) {
		*err = "setuid";
		return -errno;
	}
	/* From root to a user the kernel empties effective and permitted; inheritable stays. */
	if ((r = clear_caps()) < 0) {
		*err = "capset";
		return r;
	}
	if (setuid(0) == 0 || seteuid(0) == 0) {
		*err = "root could be regained";
		return -EPERM;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		*err = "no_new_privs";
		return -errno;
	}
	return 0;
}
