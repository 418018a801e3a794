/*
 * probe.c — what a container may do, for the escape and seccomp tests
 * (tests/escape_test.go builds it with gcc -static and binds it into
 * containers). Each argument is one probe, NAME or NAME=ARG; each prints
 * one line, "NAME: ok" or "NAME: ERRNO" (EPERM, ENOSYS, ...).
 *
 *   keyctl           keyctl(KEYCTL_GET_KEYRING_ID, session keyring)
 *   add_key          add_key("user", "lfs", "x", session keyring)
 *   unshare-user     unshare(CLONE_NEWUSER)
 *   unshare-mount    unshare(CLONE_NEWNS)
 *   mount            mount("none", "/tmp", "tmpfs")
 *   pivot_root       pivot_root(".", ".") in /
 *   shocker          open_by_handle_at with the handle of inode 2 (the
 *                    root of an ext4 filesystem) through the mount of
 *                    /etc/hosts, a file of the host's filesystem; "ok"
 *                    and the names found there if it opened
 *   tiocsti=FD       ioctl(FD, TIOCSTI, "#")
 *   kill=PID         kill(PID, 0)
 *   ptrace=PID       ptrace(PTRACE_ATTACH, PID)
 *   scan=N           kill(PID, 0) for PID 1..N: "scan: K" where K is the
 *                    number of processes (not threads) that exist
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *errname(int e)
{
	switch (e) {
	case EPERM: return "EPERM";
	case EACCES: return "EACCES";
	case ENOSYS: return "ENOSYS";
	case ESRCH: return "ESRCH";
	case EINVAL: return "EINVAL";
	case ENOENT: return "ENOENT";
	case EROFS: return "EROFS";
	case ETXTBSY: return "ETXTBSY";
	case EBUSY: return "EBUSY";
	case ENOTTY: return "ENOTTY";
	case EBADF: return "EBADF";
	case ESTALE: return "ESTALE";
	case EIO: return "EIO";
	}
	static char buf[32];
	snprintf(buf, sizeof buf, "errno %d", e);
	return buf;
}

static void report(const char *name, long r)
{
	if (r < 0)
		printf("%s: %s\n", name, errname(errno));
	else
		printf("%s: ok\n", name);
	fflush(stdout);
}

static long shocker(void)
{
	int mfd = open("/etc/hosts", O_RDONLY);
	if (mfd < 0)
		return -1;
	struct {
		struct file_handle h;
		unsigned char f[8];
	} fh = { .h = { .handle_bytes = 8, .handle_type = 1 } };
	unsigned int ino = 2, gen = 0;
	memcpy(fh.h.f_handle, &ino, 4);
	memcpy(fh.h.f_handle + 4, &gen, 4);
	int fd = open_by_handle_at(mfd, &fh.h, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return -1;
	DIR *d = fdopendir(fd);
	struct dirent *e;
	while (d && (e = readdir(d)))
		printf("shocker found: %s\n", e->d_name);
	return 0;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		char *name = argv[i], *arg = strchr(name, '=');
		long r;
		if (arg)
			*arg++ = 0;
		errno = 0;
		if (!strcmp(name, "keyctl"))
			r = syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* session */, 0);
		else if (!strcmp(name, "add_key"))
			r = syscall(SYS_add_key, "user", "lfs", "x", 1, -3);
		else if (!strcmp(name, "unshare-user"))
			r = unshare(CLONE_NEWUSER);
		else if (!strcmp(name, "unshare-mount"))
			r = unshare(CLONE_NEWNS);
		else if (!strcmp(name, "mount"))
			r = mount("none", "/tmp", "tmpfs", 0, NULL);
		else if (!strcmp(name, "pivot_root"))
			r = chdir("/") < 0 ? -1 : syscall(SYS_pivot_root, ".", ".");
		else if (!strcmp(name, "shocker"))
			r = shocker();
		else if (!strcmp(name, "tiocsti") && arg)
			r = ioctl(atoi(arg), TIOCSTI, "#");
		else if (!strcmp(name, "kill") && arg)
			r = kill(atoi(arg), 0);
		else if (!strcmp(name, "scan") && arg) {
			int n = atoi(arg), k = 0;
			for (int pid = 1; pid <= n; pid++) {
				if (kill(pid, 0) < 0 && errno != EPERM)
					continue;
				/* kill takes a thread's id too: count processes. */
				char path[64], line[256];
				snprintf(path, sizeof path, "/proc/%d/status", pid);
				FILE *f = fopen(path, "r");
				int tgid = pid;
				while (f && fgets(line, sizeof line, f))
					if (sscanf(line, "Tgid: %d", &tgid) == 1)
						break;
				if (f)
					fclose(f);
				if (tgid == pid)
					k++;
			}
			printf("scan: %d\n", k);
			continue;
		} else if (!strcmp(name, "ptrace") && arg)
			r = ptrace(PTRACE_ATTACH, atoi(arg), 0, 0);
		else {
			fprintf(stderr, "probe: unknown probe %s\n", name);
			return 2;
		}
		report(name, r);
	}
	return 0;
}
