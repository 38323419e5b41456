#include "guest-agent/agent_pid1.h"

#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

struct pid1_mount {
	const char *source, *target, *type;
	unsigned long flags;
	const char *data;
	int vm_only; /* skipped in a container: the runtime decides */
};

static const struct pid1_mount pid1_mounts[] = {
	{ "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0 },
	{ "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0 },
	{ "devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755", 0 },
	{ "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
	  "newinstance,ptmxmode=0666,mode=0620,gid=5", 0 },
	{ "tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", 0 },
	{ "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", 1 },
	{ "tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755", 1 },
};

static const struct {
	const char *name;
	unsigned maj, min;
	mode_t mode;
} pid1_nodes[] = {
	{ "/dev/null", 1, 3, 0666 },	{ "/dev/zero", 1, 5, 0666 },	{ "/dev/full", 1, 7, 0666 },
	{ "/dev/random", 1, 8, 0666 },	{ "/dev/urandom", 1, 9, 0666 }, { "/dev/tty", 5, 0, 0666 },
	{ "/dev/console", 5, 1, 0600 },
};

/* True if path is the root of a mount (its device differs from its parent's,
 * or it is the same inode as its parent). */
static int pid1_is_mountpoint(const char *path)
{
	char parent[256];
	struct stat a, b;

	if (stat(path, &a) < 0)
		return 0;
	snprintf(parent, sizeof(parent), "%s/..", path);
	if (stat(parent, &b) < 0)
		return 0;
	return a.st_dev != b.st_dev || a.st_ino == b.st_ino;
}

static void pid1_dev_fallback(void)
{
	size_t i;

	for (i = 0; i < sizeof(pid1_nodes) / sizeof(pid1_nodes[0]); i++)
		if (mknod(pid1_nodes[i].name, S_IFCHR | pid1_nodes[i].mode,
			  makedev(pid1_nodes[i].maj, pid1_nodes[i].min)) < 0 &&
		    errno != EEXIST)
			log_debug("mknod %s: %s", pid1_nodes[i].name, strerror(errno));
}

void agent_pid1_mount_all(int container)
{
	static const char *const links[][2] = {
		{ "/proc/self/fd", "/dev/fd" },
		{ "/proc/self/fd/0", "/dev/stdin" },
		{ "/proc/self/fd/1", "/dev/stdout" },
		{ "/proc/self/fd/2", "/dev/stderr" },
	};
	size_t i;

	for (i = 0; i < sizeof(pid1_mounts) / sizeof(pid1_mounts[0]); i++) {
		const struct pid1_mount *m = &pid1_mounts[i];

		if (container && m->vm_only)
			continue;
		if (mkdir(m->target, 0755) < 0 && errno != EEXIST)
			log_debug("mkdir %s: %s", m->target, strerror(errno));
		if (pid1_is_mountpoint(m->target)) {
			log_debug("%s is already mounted", m->target);
			continue;
		}
		if (mount(m->source, m->target, m->type, m->flags, m->data) == 0)
			continue;
		log_debug("mount %s on %s: %s", m->type, m->target, strerror(errno));
		if (strcmp(m->type, "devtmpfs") == 0) {
			/* No devtmpfs in this kernel: a tmpfs with the basic nodes. */
			if (mount("tmpfs", "/dev", "tmpfs", MS_NOSUID, "mode=0755") == 0)
				pid1_dev_fallback();
			else
				log_debug("mount tmpfs on /dev: %s", strerror(errno));
		}
	}
	if (access("/dev/ptmx", F_OK) < 0 && symlink("pts/ptmx", "/dev/ptmx") < 0)
		log_debug("symlink /dev/ptmx: %s", strerror(errno));
	for (i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		if (symlink(links[i][0], links[i][1]) < 0 && errno != EEXIST)
			log_debug("symlink %s: %s", links[i][1], strerror(errno));
}

int agent_pid1_loopback_up(void)
{
	struct ifreq ifr;
	int fd, r = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		r = -errno;
	} else if (!(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
			r = -errno;
	}
	close(fd);
	return r;
}

int agent_pid1_set_hostname(const char *name)
{
	return sethostname(name, strlen(name)) < 0 ? -errno : 0;
}

void agent_pid1_stdio(void)
{
	int fd;

	for (fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		/* open() takes the lowest free number: this very fd. */
		if (open("/dev/console", O_RDWR | O_NOCTTY) < 0 && open("/dev/null", O_RDWR) < 0)
			return;
	}
}

void agent_pid1_poweroff(void)
{
	sync();
	reboot(RB_AUTOBOOT);
	/* Still here: try a real power-off, then wait for the end. */
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}
