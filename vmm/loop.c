#include "vmm/loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct loop_entry {
	int fd;
	int dead;
	loop_fn fn;
	void *opaque;
	struct loop_entry *next;
};

struct loop_call {
	void (*fn)(void *opaque);
	void *opaque;
	struct loop_call *next;
};

struct loop {
	int epfd;
	int wakefd;
	int stopped;
	int code;
	struct loop_entry *entries;
	pthread_mutex_t lock; /* guards calls, stopped and code */
	struct loop_call *calls, **calls_tail;
};

int loop_new(struct loop **out)
{
	struct loop *loop = calloc(1, sizeof(*loop));
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

	if (!loop)
		return -ENOMEM;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	loop->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->epfd < 0 || loop->wakefd < 0 ||
	    epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wakefd, &ev) < 0) {
		int r = -errno;
		loop_free(loop);
		return r;
	}
	pthread_mutex_init(&loop->lock, NULL);
	loop->calls_tail = &loop->calls;
	*out = loop;
	return 0;
}

void loop_free(struct loop *loop)
{
	if (!loop)
		return;
	while (loop->entries) {
		struct loop_entry *e = loop->entries;
		loop->entries = e->next;
		free(e);
	}
	while (loop->calls) {
		struct loop_call *c = loop->calls;
		loop->calls = c->next;
		free(c);
	}
	if (loop->epfd >= 0)
		close(loop->epfd);
	if (loop->wakefd >= 0)
		close(loop->wakefd);
	free(loop);
}

static struct loop_entry *loop_find(struct loop *loop, int fd)
{
	for (struct loop_entry *e = loop->entries; e; e = e->next)
		if (e->fd == fd && !e->dead)
			return e;
	return NULL;
}

int loop_add(struct loop *loop, int fd, uint32_t events, loop_fn fn, void *opaque)
{
	struct loop_entry *e;
	struct epoll_event ev = { .events = events };

	if (loop_find(loop, fd))
		return -EEXIST;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	*e = (struct loop_entry){ .fd = fd, .fn = fn, .opaque = opaque, .next = loop->entries };
	ev.data.ptr = e;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int r = -errno;
		free(e);
		return r;
	}
	loop->entries = e;
	return 0;
}

int loop_modify(struct loop *loop, int fd, uint32_t events)
{
	struct loop_entry *e = loop_find(loop, fd);
	struct epoll_event ev = { .events = events };

	if (!e)
		return -ENOENT;
	ev.data.ptr = e;
	return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

int loop_remove(struct loop *loop, int fd)
{
	struct loop_entry *e = loop_find(loop, fd);

	if (!e)
		return -ENOENT;
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	e->dead = 1; /* freed after the current batch of events */
	return 0;
}

static void loop_reap(struct loop *loop)
{
	struct loop_entry **pp = &loop->entries;

	while (*pp) {
		struct loop_entry *e = *pp;
		if (e->dead) {
			*pp = e->next;
			free(e);
		} else {
			pp = &e->next;
		}
	}
}

static void loop_wake(struct loop *loop)
{
	uint64_t one = 1;
	ssize_t r = write(loop->wakefd, &one, sizeof(one));
	(void)r;
}

static void loop_run_calls(struct loop *loop)
{
	struct loop_call *calls;
	uint64_t v;
	ssize_t r = read(loop->wakefd, &v, sizeof(v));

	(void)r;
	pthread_mutex_lock(&loop->lock);
	calls = loop->calls;
	loop->calls = NULL;
	loop->calls_tail = &loop->calls;
	pthread_mutex_unlock(&loop->lock);
	while (calls) {
		struct loop_call *c = calls;
		calls = c->next;
		c->fn(c->opaque);
		free(c);
	}
}

int loop_run(struct loop *loop)
{
	struct epoll_event evs[32];

	for (;;) {
		pthread_mutex_lock(&loop->lock);
		int stopped = loop->stopped;
		pthread_mutex_unlock(&loop->lock);
		if (stopped)
			break;
		int n = epoll_wait(loop->epfd, evs, 32, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			struct loop_entry *e = evs[i].data.ptr;
			if (!e)
				loop_run_calls(loop);
			else if (!e->dead)
				e->fn(e->opaque, e->fd, evs[i].events);
		}
		loop_reap(loop);
	}
	return loop->code;
}

void loop_stop(struct loop *loop, int code)
{
	pthread_mutex_lock(&loop->lock);
	if (!loop->stopped) {
		loop->stopped = 1;
		loop->code = code;
	}
	pthread_mutex_unlock(&loop->lock);
	loop_wake(loop);
}

int loop_call(struct loop *loop, void (*fn)(void *opaque), void *opaque)
{
	struct loop_call *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->fn = fn;
	c->opaque = opaque;
	pthread_mutex_lock(&loop->lock);
	*loop->calls_tail = c;
	loop->calls_tail = &c->next;
	pthread_mutex_unlock(&loop->lock);
	loop_wake(loop);
	return 0;
}
