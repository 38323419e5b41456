#include "guest-agent/agent_serial.h"

#include "common/log.h"
#include "guest-agent/agent_conn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <termios.h>
#include <unistd.h>

struct agent_serial {
	struct agent_watch timer;
	struct agent *a;
	struct agent_serial *next;
	/* The port, kept open (a virtio port has one opener). Watched
	 * edge-triggered: the host side connecting wakes its waiters, so a
	 * new host connection is served at once, not at the next tick. */
	struct agent_watch port;
	int conn_fd; /* the dup a connection owns, or -1 */
	dev_t rdev;
	int warned;
	char path[PATH_MAX];
};

/* Every agent's ports (an agent has no slot of its own for them). */
static struct agent_serial *serial_ports;

/* Is the connection made on s->conn_fd still open? */
static int serial_conn_alive(struct agent_serial *s)
{
	struct stat st;

	if (s->conn_fd < 0)
		return 0;
	for (struct agent_list *l = s->a->conns.next; l != &s->a->conns; l = l->next) {
		struct agent_conn *c = agent_list_entry(l, struct agent_conn, link);

		if (c->w.fd == s->conn_fd && !c->closed)
			return fstat(s->conn_fd, &st) == 0 && st.st_rdev == s->rdev;
	}
	return 0;
}

int agent_serial_find_port(const char *root, const char *name, char *out, size_t len)
{
	/* A port name is at most 255 bytes; its file adds a newline. */
	char dir[PATH_MAX], file[PATH_MAX], got[255 + 2];
	size_t nlen = name ? strlen(name) : 0;
	struct dirent *e;
	int r = -ENOENT;
	DIR *d;

	if (!root || nlen == 0 || nlen > 255 || strchr(name, '/'))
		return -EINVAL;
	if (snprintf(dir, sizeof(dir), "%s/sys/class/virtio-ports", root) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	d = opendir(dir);
	if (!d)
		return -ENOENT;
	while ((e = readdir(d))) {
		ssize_t n;
		int fd;

		if (e->d_name[0] == '.')
			continue;
		if (snprintf(file, sizeof(file), "%s/%s/name", dir, e->d_name) >= (int)sizeof(file))
			continue;
		fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		do
			n = read(fd, got, sizeof(got) - 1);
		while (n < 0 && errno == EINTR);
		close(fd);
		/* Empty, or longer than any name: not ours. */
		if (n <= 0 || (n == (ssize_t)sizeof(got) - 1 && got[n - 1] != '\n'))
			continue;
		got[n] = '\0';
		if (got[n - 1] == '\n')
			got[n - 1] = '\0';
		if (strcmp(got, name) != 0)
			continue;
		r = snprintf(out, len, "%s/dev/%s", root, e->d_name) >= (int)len ? -ENAMETOOLONG
										 : 0;
		break;
	}
	closedir(d);
	return r;
}

static int serial_open(struct agent_serial *s)
{
	const size_t plen = strlen(AGENT_SERIAL_BY_NAME);
	char node[PATH_MAX];
	const char *path = s->path;
	struct termios t;
	struct stat st;
	int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

	/* No udev, no /dev/virtio-ports/NAME link: find NAME's node in sysfs. */
	if (fd < 0 && errno == ENOENT && strncmp(path, AGENT_SERIAL_BY_NAME, plen) == 0 &&
	    agent_serial_find_port("", path + plen, node, sizeof(node)) == 0) {
		path = node;
		fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
		if (fd >= 0)
			log_info("serial %s is %s", s->path, path);
	}
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode)) {
		close(fd);
		return -ENODEV;
	}
	/* A tty (hvc console, a pty in tests) must pass bytes through untouched. */
	if (tcgetattr(fd, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(fd, TCSANOW, &t);
	}
	s->rdev = st.st_rdev;
	s->port.fd = fd;
	s->port.events = 0;
	/* Without the watch the tick still finds the host, only later. */
	if (agent_watch_set(s->a, &s->port, EPOLLIN | EPOLLOUT | EPOLLET) < 0)
		log_debug("serial %s: served on the tick only", s->path);
	return 0;
}

/* Serve the port if its host side is there and no connection is. */
static void serial_check(struct agent *a, struct agent_serial *s)
{
	struct pollfd p;
	int r, cfd;

	if (serial_conn_alive(s))
		return;
	if (s->conn_fd >= 0) {
		log_info("serial %s: connection ended; waiting for the host", s->path);
		s->conn_fd = -1;
	}
	if (s->port.fd < 0) {
		r = serial_open(s);
		if (r < 0) {
			if (!s->warned++)
				log_warn("serial %s: %s; will retry", s->path, strerror(-r));
			return;
		}
		s->warned = 0;
	}
	/* A port whose host side is closed reports hang-up: nobody to serve. */
	p = (struct pollfd){ .fd = s->port.fd, .events = POLLIN | POLLOUT };
	if (poll(&p, 1, 0) < 0 || (p.revents & (POLLHUP | POLLNVAL)))
		return;
	cfd = fcntl(s->port.fd, F_DUPFD_CLOEXEC, 3);
	if (cfd < 0) {
		log_warn("serial %s: dup: %s", s->path, strerror(errno));
		return;
	}
	if (agent_conn_new(a, cfd) < 0) {
		log_warn("serial %s: cannot set up a connection", s->path);
		return;
	}
	s->conn_fd = cfd;
	log_info("serial %s: host connected", s->path);
}

static void serial_on_tick(struct agent *a, struct agent_watch *w, uint32_t events)
{
	struct agent_serial *s = agent_list_entry(w, struct agent_serial, timer);
	uint64_t ticks;

	(void)events;
	if (read(w->fd, &ticks, sizeof(ticks)) < 0 && errno == EAGAIN)
		return;
	serial_check(a, s);
}

static void serial_on_port(struct agent *a, struct agent_watch *w, uint32_t events)
{
	(void)events;
	serial_check(a, agent_list_entry(w, struct agent_serial, port));
}

int agent_serial_add(struct agent *a, const char *path)
{
	struct itimerspec its = {
		.it_interval = { 0, AGENT_SERIAL_POLL_MS * 1000000L },
		.it_value = { 0, 1000000L },
	};
	struct agent_serial *s;
	int r;

	if (!path || path[0] != '/' || strlen(path) >= PATH_MAX)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->a = a;
	s->port.fd = -1;
	s->port.fn = serial_on_port;
	s->conn_fd = -1;
	strcpy(s->path, path);
	s->timer.fn = serial_on_tick;
	s->timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s->timer.fd < 0 || timerfd_settime(s->timer.fd, 0, &its, NULL) < 0) {
		r = -errno;
		if (s->timer.fd >= 0)
			close(s->timer.fd);
		free(s);
		return r;
	}
	r = agent_watch_set(a, &s->timer, EPOLLIN);
	if (r < 0) {
		close(s->timer.fd);
		free(s);
		return r;
	}
	s->next = serial_ports;
	serial_ports = s;
	log_info("serving serial port %s", path);
	return 0;
}

void agent_serial_close(struct agent *a)
{
	for (struct agent_serial *s = serial_ports; s; s = s->next) {
		if (s->a != a)
			continue;
		agent_watch_close(a, &s->timer);
		/* An open connection holds its own dup; the port closes with it. */
		agent_watch_close(a, &s->port);
	}
}

void agent_serial_free(struct agent *a)
{
	struct agent_serial **pp = &serial_ports;

	agent_serial_close(a);
	while (*pp) {
		struct agent_serial *s = *pp;

		if (s->a == a) {
			*pp = s->next;
			free(s);
		} else {
			pp = &s->next;
		}
	}
}
