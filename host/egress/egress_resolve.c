#include "host/egress/egress_resolve.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

struct egress_resolver {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct egress_resolve_job *queue, **queue_tail;
	struct egress_resolve_job *done, **done_tail;
	size_t nqueued;
	int refs; /* the owner and every worker still running */
	int stopping;
	int efd;
};

void egress_resolve_run(struct egress_resolve_job *job)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL, *ai;
	int r;

	job->naddrs = 0;
	job->err = 0;
	job->errtext[0] = '\0';
	r = getaddrinfo(job->name, NULL, &hints, &res);
	if (r != 0) {
		job->err = r == EAI_NONAME || r == EAI_NODATA ? -ENOENT
			   : r == EAI_AGAIN		      ? -EAGAIN
			   : r == EAI_MEMORY		      ? -ENOMEM
							      : -EIO;
		snprintf(job->errtext, sizeof(job->errtext), "%s",
			 r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
		return;
	}
	for (ai = res; ai && job->naddrs < EGRESS_ADDRS_MAX; ai = ai->ai_next) {
		struct egress_addr a = { .family = ai->ai_family };
		size_t i;

		if (ai->ai_family == AF_INET)
			memcpy(a.b, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, 4);
		else if (ai->ai_family == AF_INET6)
			memcpy(a.b, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, 16);
		else
			continue;
		for (i = 0; i < job->naddrs; i++)
			if (memcmp(&job->addrs[i], &a, sizeof(a)) == 0)
				break;
		if (i == job->naddrs)
			job->addrs[job->naddrs++] = a;
	}
	freeaddrinfo(res);
	if (job->naddrs == 0) {
		job->err = -ENOENT;
		snprintf(job->errtext, sizeof(job->errtext), "no IPv4 or IPv6 address");
	}
}

static void resolver_free_list(struct egress_resolve_job *j)
{
	while (j) {
		struct egress_resolve_job *n = j->next;
		free(j);
		j = n;
	}
}

/* Drop one reference; the last one frees r. Called with r->lock held; unlocks. */
static void resolver_unref_locked(struct egress_resolver *r)
{
	int last = --r->refs == 0;

	pthread_mutex_unlock(&r->lock);
	if (!last)
		return;
	resolver_free_list(r->queue);
	resolver_free_list(r->done);
	close(r->efd);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

static void *resolver_worker(void *arg)
{
	struct egress_resolver *r = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		struct egress_resolve_job *j;

		while (!r->stopping && !r->queue)
			pthread_cond_wait(&r->cond, &r->lock);
		if (r->stopping)
			break;
		j = r->queue;
		r->queue = j->next;
		if (!r->queue)
			r->queue_tail = &r->queue;
		r->nqueued--;
		pthread_mutex_unlock(&r->lock);

		egress_resolve_run(j);

		pthread_mutex_lock(&r->lock);
		if (r->stopping) {
			free(j);
			break;
		}
		j->next = NULL;
		*r->done_tail = j;
		r->done_tail = &j->next;
		if (write(r->efd, &one, sizeof(one)) < 0) {
			/* the counter cannot overflow in practice; the loop polls anyway */
		}
	}
	resolver_unref_locked(r);
	return NULL;
}

int egress_resolver_new(int nthreads, struct egress_resolver **out)
{
	struct egress_resolver *r;
	sigset_t all, old;
	int i, err = 0;

	if (nthreads < 1 || nthreads > 16)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->efd < 0) {
		err = -errno;
		free(r);
		return err;
	}
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	r->queue_tail = &r->queue;
	r->done_tail = &r->done;
	r->refs = 1;
	/* Workers take no signals: those belong to the program's main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < nthreads; i++) {
		pthread_t t;
		pthread_attr_t attr;

		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&attr, 256 * 1024);
		pthread_mutex_lock(&r->lock);
		r->refs++;
		pthread_mutex_unlock(&r->lock);
		err = -pthread_create(&t, &attr, resolver_worker, r);
		pthread_attr_destroy(&attr);
		if (err) {
			pthread_mutex_lock(&r->lock);
			r->refs--;
			pthread_mutex_unlock(&r->lock);
			break;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (i == 0) {
		egress_resolver_free(r);
		return err ? err : -EAGAIN;
	}
	*out = r;
	return 0;
}

int egress_resolver_fd(struct egress_resolver *r)
{
	return r->efd;
}

int egress_resolver_submit(struct egress_resolver *r, struct egress_resolve_job *job)
{
	pthread_mutex_lock(&r->lock);
	if (r->nqueued >= EGRESS_RESOLVE_QUEUE_MAX) {
		pthread_mutex_unlock(&r->lock);
		return -EBUSY;
	}
	job->next = NULL;
	*r->queue_tail = job;
	r->queue_tail = &job->next;
	r->nqueued++;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

struct egress_resolve_job *egress_resolver_done(struct egress_resolver *r)
{
	struct egress_resolve_job *j;
	uint64_t v;

	for (;;) {
		pthread_mutex_lock(&r->lock);
		j = r->done;
		if (j) {
			r->done = j->next;
			if (!r->done)
				r->done_tail = &r->done;
		} else if (read(r->efd, &v, sizeof(v)) < 0) {
			/* EAGAIN: nothing was pending */
		}
		pthread_mutex_unlock(&r->lock);
		if (!j || !j->cancelled)
			return j;
		free(j);
	}
}

void egress_resolver_free(struct egress_resolver *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stopping = 1;
	resolver_free_list(r->queue);
	r->queue = NULL;
	r->queue_tail = &r->queue;
	r->nqueued = 0;
	pthread_cond_broadcast(&r->cond);
	resolver_unref_locked(r);
}
