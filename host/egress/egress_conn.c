/* One egress connection: read the request head, judge it against the
 * sandbox's policy, resolve, connect to the address that was checked, then
 * relay bytes both ways through two bounded buffers (a full buffer stops
 * reading the side that fills it), counting them against the quotas. */
#include "host/egress/egress_internal.h"

#include "common/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONN_REPLY_DRAIN_MAX (1u << 20) /* bytes we read and drop after an error reply */

static void conn_client_event(struct egress *e, struct egress_watch *w, uint32_t events);
static void conn_upstream_event(struct egress *e, struct egress_watch *w, uint32_t events);
static void conn_connect_next(struct egress_conn *c);

static int conn_buf_alloc(struct egress_buf *b)
{
	if (!b->data)
		b->data = malloc(EGRESS_BUF_SIZE);
	return b->data ? 0 : -ENOMEM;
}

/* Room at the end of b, compacting it first if that helps. */
static size_t conn_buf_room(struct egress_buf *b)
{
	if (b->off && b->off + b->len == EGRESS_BUF_SIZE) {
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
	}
	if (b->len == 0)
		b->off = 0;
	return EGRESS_BUF_SIZE - b->off - b->len;
}

static int conn_buf_put(struct egress_buf *b, const char *p, size_t n)
{
	if (conn_buf_alloc(b) < 0 || conn_buf_room(b) < n)
		return -ENOBUFS;
	memcpy(b->data + b->off + b->len, p, n);
	b->len += n;
	return 0;
}

/* Register what each side should be watched for in the current state. */
static void conn_interest(struct egress_conn *c)
{
	uint32_t ce = 0, ue = 0;

	switch (c->state) {
	case EGRESS_ST_HEAD:
		ce = EPOLLIN;
		break;
	case EGRESS_ST_RESOLVE:
		break;
	case EGRESS_ST_CONNECT:
		ue = EPOLLOUT;
		break;
	case EGRESS_ST_RELAY:
		if (!c->c_eof && c->up.len < EGRESS_BUF_SIZE)
			ce |= EPOLLIN;
		if (c->down.len)
			ce |= EPOLLOUT;
		if (!c->u_eof && c->down.len < EGRESS_BUF_SIZE)
			ue |= EPOLLIN;
		if (c->up.len)
			ue |= EPOLLOUT;
		break;
	case EGRESS_ST_REPLY:
		ce = c->down.len ? EPOLLOUT : EPOLLIN;
		break;
	}
	if (c->cw.fd >= 0)
		egress_watch_set(c->e, &c->cw, ce);
	if (c->uw.fd >= 0)
		egress_watch_set(c->e, &c->uw, ue);
}

static int conn_denies(enum egress_deny d)
{
	return d == EGRESS_DENY_PORT || d == EGRESS_DENY_DOMAIN || d == EGRESS_DENY_LITERAL ||
	       d == EGRESS_DENY_RANGE || d == EGRESS_DENY_QUOTA_CONNS ||
	       d == EGRESS_DENY_QUOTA_BYTES;
}

/* Answer the request ourselves (a refusal or an error) and close after it. */
static void conn_reply(struct egress_conn *c, int status, enum egress_deny deny, const char *fmt,
		       ...) __attribute__((format(printf, 4, 5)));
static void conn_reply(struct egress_conn *c, int status, enum egress_deny deny, const char *fmt,
		       ...)
{
	char body[400], resp[800];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
	c->deny = deny;
	c->status = status;
	c->allowed = 0;
	c->end = "denied";
	if (c->job) {
		c->job->cancelled = 1;
		c->job = NULL;
	}
	egress_watch_close(c->e, &c->uw);
	log_debug("sandbox %s: egress #%llu: %d %s", c->sb->name, (unsigned long long)c->id, status,
		  c->why);
	snprintf(body, sizeof(body), "agentvm egress: %s: %s",
		 conn_denies(deny) ? "denied" : "failed", c->why);
	n = egress_http_response(status, body, resp, sizeof(resp));
	c->state = EGRESS_ST_REPLY;
	c->down.len = 0;
	c->up.len = 0;
	c->deadline_ms = egress_now_ms() + EGRESS_LINGER_MS;
	if (conn_buf_put(&c->down, resp, n) < 0) {
		egress_conn_close(c, "error");
		return;
	}
	conn_interest(c);
}

/* Count n bytes in one direction against the sandbox's quota; returns how
 * many of them may pass (fewer once the quota runs out). */
static size_t conn_account(struct egress_conn *c, int up, size_t n)
{
	struct egress_sandbox *sb = c->sb;
	uint64_t quota = up ? sb->policy->quota.bytes_up : sb->policy->quota.bytes_down;
	uint64_t *used = up ? &sb->stats.bytes_up : &sb->stats.bytes_down;

	if (quota && *used + n > quota)
		n = *used < quota ? (size_t)(quota - *used) : 0;
	*used += n;
	*(up ? &c->bytes_up : &c->bytes_down) += n;
	return n;
}

/* A quota ran out in one direction: what fits has been queued; stop reading
 * that side for good and end the connection once the rest is delivered. */
static void conn_quota_hit(struct egress_conn *c, int up)
{
	c->stop_reason = up ? "quota_bytes_up" : "quota_bytes_down";
	snprintf(c->why, sizeof(c->why), "the sandbox's %s byte quota (%llu) ran out",
		 up ? "upload" : "download",
		 (unsigned long long)(up ? c->sb->policy->quota.bytes_up
					 : c->sb->policy->quota.bytes_down));
	log_info("sandbox %s: egress #%llu: %s", c->sb->name, (unsigned long long)c->id, c->why);
	if (up) {
		c->c_eof = 1;
	} else {
		c->u_eof = 1;
		egress_watch_close(c->e, &c->uw);
	}
}

/* Write what b holds to fd. Returns 0, or -errno of a fatal write error. */
static int conn_flush(int fd, struct egress_buf *b)
{
	while (b->len) {
		ssize_t w = send(fd, b->data + b->off, b->len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -errno;
		}
		b->off += (size_t)w;
		b->len -= (size_t)w;
	}
	b->off = 0;
	return 0;
}

/* After any I/O in RELAY: flush, pass ends of file on, finish when both ways
 * are done, or when a side stopped early (stop_reason) and what it let
 * through has been delivered. */
static void conn_progress(struct egress_conn *c)
{
	if (c->up.len && c->uw.fd >= 0 && conn_flush(c->uw.fd, &c->up) < 0) {
		egress_conn_close(c, "upstream_error");
		return;
	}
	if (c->down.len && conn_flush(c->cw.fd, &c->down) < 0) {
		egress_conn_close(c, "client_closed");
		return;
	}
	if (c->stop_reason && !c->down.len && (!c->up.len || c->uw.fd < 0)) {
		egress_conn_close(c, c->stop_reason);
		return;
	}
	if (c->c_eof && !c->up.len && !c->u_shut && c->uw.fd >= 0) {
		shutdown(c->uw.fd, SHUT_WR);
		c->u_shut = 1;
	}
	if (c->u_eof && !c->down.len && !c->c_shut) {
		shutdown(c->cw.fd, SHUT_WR);
		c->c_shut = 1;
	}
	if (c->c_eof && c->u_eof && !c->up.len && !c->down.len) {
		egress_conn_close(c, "closed");
		return;
	}
	conn_interest(c);
}

/* Read from fd into b (as much as fits), up to the quota. Returns bytes kept,
 * 0 at end of file or when nothing is there, -errno on error; *eof set at end
 * of file or when the quota ran out. */
static ssize_t conn_read_into(struct egress_conn *c, int fd, struct egress_buf *b, int up, int *eof)
{
	size_t room = conn_buf_room(b), kept;
	ssize_t n;

	if (room == 0)
		return 0;
	do
		n = recv(fd, b->data + b->off + b->len, room, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	if (n == 0) {
		*eof = 1;
		return 0;
	}
	c->last_io_ms = egress_now_ms();
	kept = conn_account(c, up, (size_t)n);
	b->len += kept;
	if (kept < (size_t)n)
		conn_quota_hit(c, up);
	return (ssize_t)kept;
}

/* --- the relay ------------------------------------------------------------------------- */

static void conn_relay_client(struct egress_conn *c, uint32_t events)
{
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !c->c_eof) {
		ssize_t n = conn_read_into(c, c->cw.fd, &c->up, 1, &c->c_eof);

		if (n < 0) {
			egress_conn_close(c, "client_error");
			return;
		}
	}
	conn_progress(c);
}

static void conn_relay_upstream(struct egress_conn *c, uint32_t events)
{
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !c->u_eof) {
		uint64_t before = c->bytes_down;
		ssize_t n = conn_read_into(c, c->uw.fd, &c->down, 0, &c->u_eof);

		if (n < 0) {
			/* Deliver what came before the error, then end. */
			c->u_eof = 1;
			if (!c->stop_reason)
				c->stop_reason = "upstream_error";
			egress_watch_close(c->e, &c->uw);
		} else if (!c->req.connect && before == 0 && n > 0) {
			c->upstream_status = egress_http_response_status(c->down.data + c->down.off,
									 c->down.len);
		}
	}
	conn_progress(c);
}

/* Connected: queue the rewritten request (or the 200 for CONNECT) and relay. */
static void conn_established(struct egress_conn *c)
{
	const char *rest = c->head + c->req.head_len;
	size_t nrest = c->head_len - c->req.head_len;
	char *out = NULL;
	size_t olen = 0, kept;

	c->state = EGRESS_ST_RELAY;
	c->allowed = 1;
	c->deny = EGRESS_OK;
	c->last_io_ms = egress_now_ms();
	if (conn_buf_alloc(&c->up) < 0 || conn_buf_alloc(&c->down) < 0) {
		egress_conn_close(c, "error");
		return;
	}
	if (c->req.connect) {
		static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
		conn_buf_put(&c->down, ok, sizeof(ok) - 1);
		c->status = 200;
	} else {
		if (egress_http_rewrite(&c->req, &out, &olen) < 0) {
			egress_conn_close(c, "error");
			return;
		}
		kept = conn_account(c, 1, olen);
		conn_buf_put(&c->up, out, kept);
		free(out);
		if (kept < olen)
			conn_quota_hit(c, 1);
	}
	if (nrest && !c->c_eof) {
		kept = conn_account(c, 1, nrest);
		conn_buf_put(&c->up, rest, kept);
		if (kept < nrest)
			conn_quota_hit(c, 1);
	}
	/* The head is not needed any more; the request's pointers go with it. */
	free(c->head);
	c->head = NULL;
	c->head_len = 0;
	c->req.path = c->req.target = NULL;
	c->req.nfields = 0;
	conn_progress(c);
}

static void conn_connect_next(struct egress_conn *c)
{
	char ip[INET6_ADDRSTRLEN];
	int err = 0;

	egress_watch_close(c->e, &c->uw);
	while (c->next_addr < c->naddrs) {
		struct egress_addr *a = &c->addrs[c->next_addr++];
		struct sockaddr_storage ss;
		socklen_t sl;
		int fd;

		memset(&ss, 0, sizeof(ss));
		if (a->family == AF_INET) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
			s4->sin_family = AF_INET;
			s4->sin_port = htons((uint16_t)c->req.port);
			memcpy(&s4->sin_addr, a->b, 4);
			sl = sizeof(*s4);
		} else {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
			s6->sin6_family = AF_INET6;
			s6->sin6_port = htons((uint16_t)c->req.port);
			memcpy(&s6->sin6_addr, a->b, 16);
			sl = sizeof(*s6);
		}
		c->ip = *a;
		c->have_ip = 1;
		fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (connect(fd, (struct sockaddr *)&ss, sl) == 0 || errno == EINPROGRESS) {
			c->uw.fd = fd;
			c->uw.events = 0;
			c->uw.fn = conn_upstream_event;
			c->state = EGRESS_ST_CONNECT;
			c->deadline_ms = egress_now_ms() + c->sb->policy->connect_ms;
			conn_interest(c);
			return;
		}
		err = errno;
		close(fd);
	}
	egress_addr_format(&c->ip, ip, sizeof(ip));
	conn_reply(c, 502, EGRESS_DENY_CONNECT, "cannot connect to %s port %u: %s", ip, c->req.port,
		   strerror(err ? err : ECONNREFUSED));
}

/* Every address the name has must pass; then connect to them in order. */
static void conn_addrs_ready(struct egress_conn *c)
{
	char why[200];

	for (size_t i = 0; i < c->naddrs; i++) {
		if (egress_policy_check_addr(c->sb->policy, &c->addrs[i], why, sizeof(why)) !=
		    EGRESS_OK) {
			c->ip = c->addrs[i];
			c->have_ip = 1;
			if (c->req.host.kind == EGRESS_HOST_NAME)
				conn_reply(c, 403, EGRESS_DENY_RANGE, "%s resolves to %s",
					   c->req.host.name, why);
			else
				conn_reply(c, 403, EGRESS_DENY_RANGE, "%s", why);
			return;
		}
	}
	c->next_addr = 0;
	conn_connect_next(c);
}

void egress_conn_resolved(struct egress_conn *c, struct egress_resolve_job *job)
{
	c->job = NULL;
	if (job->err < 0) {
		conn_reply(c, 502, EGRESS_DENY_RESOLVE, "cannot resolve %s: %s", job->name,
			   job->errtext[0] ? job->errtext : strerror(-job->err));
		free(job);
		return;
	}
	memcpy(c->addrs, job->addrs, sizeof(c->addrs));
	c->naddrs = job->naddrs;
	free(job);
	conn_addrs_ready(c);
}

/* Keep the request target, printable and bounded, for the audit line. */
static void conn_keep_target(struct egress_conn *c, const char *s, size_t n)
{
	size_t i;

	if (n > EGRESS_TARGET_AUDIT)
		n = EGRESS_TARGET_AUDIT;
	for (i = 0; i < n; i++)
		c->target[i] = s[i] > 0x20 && s[i] < 0x7f ? s[i] : '?';
	c->target[i] = '\0';
}

/* A complete head arrived: parse and judge it. */
static void conn_request(struct egress_conn *c, size_t head_len)
{
	const struct egress_policy *p = c->sb->policy;
	const struct egress_static_host *st;
	const char *why = NULL;
	char rule[320];
	enum egress_deny d;
	int r;

	r = egress_http_parse(c->head, head_len, &c->req, &why);
	if (r < 0) {
		const char *sp = memchr(c->head, ' ', head_len);
		const char *eol = memchr(c->head, '\r', head_len);
		if (sp && eol && sp < eol) {
			const char *t = sp + 1, *te = memchr(t, ' ', (size_t)(eol - t));
			conn_keep_target(c, t, (size_t)((te ? te : eol) - t));
		}
		conn_reply(c,
			   r == -ENOSYS	 ? 501
			   : r == -E2BIG ? 431
					 : 400,
			   EGRESS_DENY_REQUEST, "%s", why);
		return;
	}
	c->have_req = 1;
	conn_keep_target(c, c->req.target, c->req.target_len);
	if ((p->quota.bytes_up && c->sb->stats.bytes_up >= p->quota.bytes_up) ||
	    (p->quota.bytes_down && c->sb->stats.bytes_down >= p->quota.bytes_down)) {
		conn_reply(c, 403, EGRESS_DENY_QUOTA_BYTES,
			   "the sandbox's egress byte quota is "
			   "used up");
		return;
	}
	d = egress_policy_check_target(p, &c->req.host, c->req.port, rule, sizeof(rule));
	if (d != EGRESS_OK) {
		conn_reply(c, 403, d, "%s", rule);
		return;
	}
	snprintf(c->why, sizeof(c->why), "%s", rule);
	if (c->req.host.kind != EGRESS_HOST_NAME) {
		c->addrs[0] = c->req.host.addr;
		c->naddrs = 1;
		conn_addrs_ready(c);
		return;
	}
	st = egress_policy_lookup(p, c->req.host.name);
	if (st) {
		memcpy(c->addrs, st->addrs, sizeof(c->addrs));
		c->naddrs = st->naddrs;
		conn_addrs_ready(c);
		return;
	}
	if (!p->dns) {
		conn_reply(c, 502, EGRESS_DENY_RESOLVE,
			   "cannot resolve %s: not in the policy's hosts, and DNS is off",
			   c->req.host.name);
		return;
	}
	c->job = calloc(1, sizeof(*c->job));
	if (!c->job) {
		conn_reply(c, 503, EGRESS_DENY_BUSY, "out of memory");
		return;
	}
	memcpy(c->job->name, c->req.host.name, sizeof(c->job->name));
	c->job->owner = c;
	if (egress_resolver_submit(c->e->resolver, c->job) < 0) {
		free(c->job);
		c->job = NULL;
		conn_reply(c, 503, EGRESS_DENY_BUSY, "too many lookups in progress");
		return;
	}
	c->state = EGRESS_ST_RESOLVE;
	c->deadline_ms = egress_now_ms() + p->connect_ms;
	conn_interest(c);
}

static void conn_read_head(struct egress_conn *c, uint32_t events)
{
	size_t head_len = 0;
	ssize_t n;
	int r;

	(void)events;
	do
		n = recv(c->cw.fd, c->head + c->head_len, EGRESS_HEAD_BUF - c->head_len,
			 MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		c->deny = EGRESS_DENY_REQUEST;
		snprintf(c->why, sizeof(c->why), "the client left before a complete request");
		egress_conn_close(c, n == 0 ? "client_closed" : "client_error");
		return;
	}
	c->head_len += (size_t)n;
	r = egress_http_head_end(c->head, c->head_len, &head_len);
	if (r == 0 && c->head_len == EGRESS_HEAD_BUF)
		r = -E2BIG;
	if (r == 0)
		return;
	if (r < 0) {
		conn_reply(c, r == -E2BIG ? 431 : 400, EGRESS_DENY_REQUEST, "%s",
			   r == -E2BIG ? "request head too large" : "malformed request head");
		return;
	}
	conn_request(c, head_len);
}

/* --- events and life cycle ------------------------------------------------------------- */

static void conn_reply_event(struct egress_conn *c, uint32_t events)
{
	char sink[4096];
	ssize_t n;

	if (c->down.len) {
		if (conn_flush(c->cw.fd, &c->down) < 0) {
			egress_conn_close(c, c->end);
			return;
		}
		if (!c->down.len) {
			shutdown(c->cw.fd, SHUT_WR);
			c->c_shut = 1;
		}
		conn_interest(c);
		return;
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	/* Read and drop what the client still sends, so that closing does not
	 * reset the connection under our reply; stop at EOF or the cap. */
	n = recv(c->cw.fd, sink, sizeof(sink), MSG_DONTWAIT);
	if (n > 0 && (c->drained += (size_t)n) < CONN_REPLY_DRAIN_MAX)
		return;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	egress_conn_close(c, c->end);
}

static void conn_client_event(struct egress *e, struct egress_watch *w, uint32_t events)
{
	struct egress_conn *c = egress_entry(w, struct egress_conn, cw);

	(void)e;
	switch (c->state) {
	case EGRESS_ST_HEAD:
		conn_read_head(c, events);
		break;
	case EGRESS_ST_RELAY:
		conn_relay_client(c, events);
		break;
	case EGRESS_ST_REPLY:
		conn_reply_event(c, events);
		break;
	default:
		/* Hung up while we resolve or connect. */
		if (events & (EPOLLHUP | EPOLLERR)) {
			c->deny = EGRESS_DENY_REQUEST;
			egress_conn_close(c, "client_closed");
		}
		break;
	}
}

static void conn_upstream_event(struct egress *e, struct egress_watch *w, uint32_t events)
{
	struct egress_conn *c = egress_entry(w, struct egress_conn, uw);
	int err = 0;
	socklen_t len = sizeof(err);

	(void)e;
	if (c->state == EGRESS_ST_RELAY) {
		conn_relay_upstream(c, events);
		return;
	}
	if (c->state != EGRESS_ST_CONNECT)
		return;
	if (getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == 0 && (events & EPOLLOUT)) {
		conn_established(c);
		return;
	}
	if (err || (events & (EPOLLERR | EPOLLHUP))) {
		char ip[INET6_ADDRSTRLEN];

		egress_addr_format(&c->ip, ip, sizeof(ip));
		log_debug("sandbox %s: egress #%llu: connect to %s: %s", c->sb->name,
			  (unsigned long long)c->id, ip, strerror(err ? err : ECONNREFUSED));
		if (c->next_addr < c->naddrs) {
			conn_connect_next(c);
			return;
		}
		egress_watch_close(c->e, &c->uw);
		conn_reply(c, 502, EGRESS_DENY_CONNECT, "cannot connect to %s port %u: %s", ip,
			   c->req.port, strerror(err ? err : ECONNREFUSED));
	}
}

void egress_conn_accept(struct egress_sandbox *sb, int fd)
{
	const struct egress_quota *q = &sb->policy->quota;
	struct egress *e = sb->e;
	struct egress_conn *c = calloc(1, sizeof(*c));
	uint32_t hard_cap;

	if (!c) {
		close(fd);
		return;
	}
	c->e = e;
	c->sb = sb;
	c->id = ++e->next_id;
	c->cw.fd = fd;
	c->cw.fn = conn_client_event;
	c->uw.fd = -1;
	c->start_ms = egress_now_ms();
	c->deadline_ms = c->start_ms + sb->policy->request_ms;
	c->state = EGRESS_ST_HEAD;
	c->deny = EGRESS_DENY_REQUEST;
	egress_link_add(&sb->conns, &c->link);
	sb->stats.conns_total++;
	sb->stats.conns_open++;
	hard_cap = q->conns_concurrent ? q->conns_concurrent + 64 : UINT32_MAX;
	if (sb->stats.conns_open > hard_cap) {
		/* Past the point where even a refusal gets a reply. */
		c->deny = EGRESS_DENY_QUOTA_CONNS;
		snprintf(c->why, sizeof(c->why), "too many connections");
		egress_conn_close(c, "denied");
		return;
	}
	c->head = malloc(EGRESS_HEAD_BUF);
	if (!c->head) {
		egress_conn_close(c, "error");
		return;
	}
	if (q->conns_concurrent && sb->stats.conns_open > q->conns_concurrent) {
		conn_reply(c, 403, EGRESS_DENY_QUOTA_CONNS,
			   "the sandbox has %u egress connections open (its limit)",
			   q->conns_concurrent);
		return;
	}
	if (q->conns_total && sb->stats.conns_total > q->conns_total) {
		conn_reply(c, 403, EGRESS_DENY_QUOTA_CONNS,
			   "the sandbox used its %u egress connections", q->conns_total);
		return;
	}
	conn_interest(c);
}

void egress_conn_tick(struct egress_conn *c, uint64_t now)
{
	switch (c->state) {
	case EGRESS_ST_HEAD:
		if (now < c->deadline_ms)
			return;
		if (c->head_len == 0) {
			c->deny = EGRESS_DENY_TIMEOUT;
			snprintf(c->why, sizeof(c->why), "no request within %u ms",
				 c->sb->policy->request_ms);
			egress_conn_close(c, "timeout");
		} else {
			conn_reply(c, 408, EGRESS_DENY_TIMEOUT, "no complete request within %u ms",
				   c->sb->policy->request_ms);
		}
		return;
	case EGRESS_ST_RESOLVE:
		if (now >= c->deadline_ms)
			conn_reply(c, 504, EGRESS_DENY_TIMEOUT, "looking up %s took too long",
				   c->req.host.name);
		return;
	case EGRESS_ST_CONNECT:
		if (now < c->deadline_ms)
			return;
		if (c->next_addr < c->naddrs) {
			conn_connect_next(c);
		} else {
			char ip[INET6_ADDRSTRLEN];
			egress_addr_format(&c->ip, ip, sizeof(ip));
			conn_reply(c, 504, EGRESS_DENY_TIMEOUT,
				   "connecting to %s port %u took too long", ip, c->req.port);
		}
		return;
	case EGRESS_ST_RELAY:
		if (now - c->last_io_ms >= c->sb->policy->idle_ms)
			egress_conn_close(c, "idle_timeout");
		return;
	case EGRESS_ST_REPLY:
		if (now >= c->deadline_ms)
			egress_conn_close(c, c->end);
		return;
	}
}

void egress_conn_close(struct egress_conn *c, const char *end)
{
	struct egress_sandbox *sb = c->sb;

	if (c->closed)
		return;
	c->closed = 1;
	if (!c->end)
		c->end = end ? end : "closed";
	if (c->job) {
		c->job->cancelled = 1;
		c->job = NULL;
	}
	egress_watch_close(c->e, &c->cw);
	egress_watch_close(c->e, &c->uw);
	egress_link_del(&c->link);
	sb->stats.conns_open--;
	if (!c->allowed)
		sb->stats.conns_denied++;
	egress_audit_conn(c->e, c);
	egress_link_add(&c->e->dead, &c->dead_link);
}

void egress_conn_free(struct egress_conn *c)
{
	if (!c)
		return;
	free(c->head);
	free(c->up.data);
	free(c->down.data);
	free(c);
}
