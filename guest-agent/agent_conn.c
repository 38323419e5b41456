#include "guest-agent/agent_conn.h"

#include "common/frame.h"
#include "common/log.h"
#include "guest-agent/agent_exec.h"
#include "guest-agent/agent_fs.h"
#include "guest-agent/agent_info.h"
#include "guest-agent/agent_proto.h"
#include "guest-agent/browser.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

static void conn_on_event(struct agent *a, struct agent_watch *w, uint32_t events);

static struct agent_conn *conn_of(struct agent_watch *w)
{
	return agent_list_entry(w, struct agent_conn, w);
}

/* Register the interest the connection's state calls for. */
static void conn_update_watch(struct agent_conn *c)
{
	uint32_t ev = EPOLLRDHUP;

	if (c->closed)
		return;
	if (!c->congested && !c->rd_eof && !c->closing)
		ev |= EPOLLIN;
	else
		ev &= ~(uint32_t)EPOLLRDHUP; /* level-triggered: would spin */
	/* Congested: wait for the socket to take more, then resume. */
	if (frame_writer_pending(c->out) > 0 || c->congested)
		ev |= EPOLLOUT;
	/* With nothing to wait for, keep the fd registered for EPOLLERR/HUP
	 * (always reported) by asking for EPOLLET-only. */
	if (ev == 0)
		ev = EPOLLET;
	if (agent_watch_set(c->a, &c->w, ev) < 0)
		c->doomed = 1;
}

int agent_conn_new(struct agent *a, int fd)
{
	static unsigned long serial;
	struct agent_conn *c;
	int r;

	r = agent_set_nonblock(fd);
	if (r < 0) {
		close(fd);
		return r;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->a = a;
	c->w.fd = fd;
	c->w.fn = conn_on_event;
	c->serial = ++serial;
	agent_list_init(&c->execs);
	c->dec = frame_decoder_new(FRAME_MAX);
	c->out = frame_writer_new();
	if (!c->dec || !c->out) {
		r = -ENOMEM;
		goto fail;
	}
	agent_list_add_tail(&a->conns, &c->link);
	a->nconns++;
	conn_update_watch(c);
	if (c->doomed) {
		agent_conn_close(c);
		return -EIO;
	}
	log_debug("connection %lu opened", c->serial);
	return 0;
fail:
	frame_decoder_free(c->dec);
	frame_writer_free(c->out);
	close(fd);
	free(c);
	return r;
}

void agent_conn_close(struct agent_conn *c)
{
	struct agent *a = c->a;

	if (c->closed)
		return;
	c->closed = 1;
	agent_exec_abandon_conn(c);
	browser_conn_closed(c);
	agent_watch_close(a, &c->w);
	agent_list_del(&c->link);
	a->nconns--;
	agent_list_add_tail(&a->dead_conns, &c->dead_link);
	log_debug("connection %lu closed", c->serial);
}

void agent_conn_reap(struct agent *a)
{
	struct agent_list *l, *n;

	for (l = a->conns.next; l != &a->conns; l = n) {
		struct agent_conn *c = agent_list_entry(l, struct agent_conn, link);

		n = l->next;
		if (c->doomed)
			agent_conn_close(c);
	}
	agent_exec_reap_dead(a);
	browser_reap(a);
	while (!agent_list_empty(&a->dead_conns)) {
		struct agent_conn *c =
			agent_list_entry(a->dead_conns.next, struct agent_conn, dead_link);

		agent_list_del(&c->dead_link);
		frame_decoder_free(c->dec);
		frame_writer_free(c->out);
		free(c);
	}
}

int agent_conn_all_flushed(struct agent *a)
{
	struct agent_list *l;

	for (l = a->conns.next; l != &a->conns; l = l->next) {
		struct agent_conn *c = agent_list_entry(l, struct agent_conn, link);

		if (!c->doomed && frame_writer_pending(c->out) > 0)
			return 0;
	}
	return 1;
}

/* --- output ---------------------------------------------------------------------- */

static void conn_set_congested(struct agent_conn *c, int congested);

/* Write what the socket takes. Only the EPOLLOUT handler passes resume = 1:
 * lifting congestion dispatches buffered requests, which must not happen
 * in the middle of sending a message. */
static void conn_flush(struct agent_conn *c, int resume)
{
	int r;

	if (c->doomed || c->closed)
		return;
	r = frame_writer_flush(c->out, c->w.fd);
	if (r < 0 && r != -EAGAIN) {
		log_debug("connection %lu: write: %s", c->serial, strerror(-r));
		c->doomed = 1;
		return;
	}
	if (resume && c->congested && frame_writer_pending(c->out) < AGENT_OUT_LOW)
		conn_set_congested(c, 0);
	if (r == 0 && c->closing) {
		c->doomed = 1;
		return;
	}
	conn_update_watch(c);
}

int agent_conn_send(struct agent_conn *c, struct json_object *id, struct json_object *msg)
{
	int r;

	if (!msg) {
		log_warn("connection %lu: out of memory building a message", c->serial);
		c->doomed = 1;
		return -ENOMEM;
	}
	if (c->doomed || c->closed) {
		json_object_put(msg);
		return -EPIPE;
	}
	r = frame_writer_push(c->out, msg);
	json_object_put(msg);
	if (r == -E2BIG) {
		struct agent_error err;

		agent_error_set(&err, "ETOOBIG", NULL,
				"the reply would exceed the %u-byte frame limit", FRAME_MAX);
		msg = agent_proto_reply_error(id, &err);
		r = msg ? frame_writer_push(c->out, msg) : -ENOMEM;
		json_object_put(msg);
	}
	if (r < 0) {
		log_warn("connection %lu: queueing a message: %s", c->serial, strerror(-r));
		c->doomed = 1;
		return r;
	}
	/* Write at once when the socket takes it; queue otherwise. */
	if (frame_writer_pending(c->out) == 0)
		return 0;
	conn_flush(c, 0);
	if (!c->congested && !c->doomed && frame_writer_pending(c->out) > AGENT_OUT_HIGH)
		conn_set_congested(c, 1);
	return 0;
}

static int conn_reply(struct agent_conn *c, struct json_object *id, struct json_object *result)
{
	return agent_conn_send(c, id, agent_proto_reply_ok(id, result));
}

static int conn_reply_error(struct agent_conn *c, struct json_object *id,
			    const struct agent_error *err)
{
	return agent_conn_send(c, id, agent_proto_reply_error(id, err));
}

/* --- input ----------------------------------------------------------------------- */

static void conn_dispatch(struct agent_conn *c, struct json_object *msg)
{
	struct agent *a = c->a;
	struct agent_request req;
	struct agent_error err;
	struct json_object *result = NULL;
	int r = 0;

	if (agent_proto_parse(msg, &req, &err) < 0) {
		conn_reply_error(c, req.id, &err);
		goto out;
	}
	if (a->shutdown_requested) {
		agent_error_set(&err, "ESHUTDOWN", NULL, "the agent is shutting down");
		conn_reply_error(c, req.id, &err);
		goto out;
	}
	switch (req.op) {
	case AGENT_OP_HELLO:
		r = agent_info_hello(a, &result, &err);
		break;
	case AGENT_OP_EXEC:
		/* Replies come as events; only failures to start are sent here. */
		if (agent_exec_start(a, c, &req, &err) < 0)
			conn_reply_error(c, req.id, &err);
		goto out;
	case AGENT_OP_STDIN:
		r = agent_exec_stdin(c, &req, &err);
		break;
	case AGENT_OP_SIGNAL:
		r = agent_exec_signal(c, &req, &err);
		break;
	case AGENT_OP_RESIZE:
		r = agent_exec_resize(c, &req, &err);
		break;
	case AGENT_OP_SHUTDOWN:
		log_info("shutdown requested by connection %lu", c->serial);
		conn_reply(c, req.id, NULL);
		agent_begin_shutdown(a);
		goto out;
	default:
		if (AGENT_OP_IS_BROWSER(req.op)) {
			/* Replies come now or later from the browser module. */
			browser_handle(a, c, msg, &req);
			goto out;
		}
		r = agent_fs_handle(&req, &result, &err);
		break;
	}
	if (r < 0)
		conn_reply_error(c, req.id, &err);
	else
		conn_reply(c, req.id, result);
out:
	agent_proto_request_clear(&req);
}

/* Handle the complete frames already buffered, as long as the connection
 * may take more work. */
static void conn_process(struct agent_conn *c)
{
	struct json_object *msg;
	struct agent_error err;
	int r;

	/* A reply sent while dispatching can drain the queue and lift the
	 * congestion; the loop below then simply carries on. */
	if (c->processing)
		return;
	c->processing = 1;
	while (!c->congested && !c->doomed && !c->closed && !c->closing) {
		r = frame_decoder_next(c->dec, &msg);
		if (r == 0)
			break;
		if (r == 1) {
			conn_dispatch(c, msg);
			json_object_put(msg);
			continue;
		}
		if (r == FRAME_EJSON) {
			agent_error_set(&err, "EBADJSON", NULL, "the frame is not valid JSON");
			conn_reply_error(c, NULL, &err);
		} else if (r == FRAME_ENOTOBJ) {
			agent_error_set(&err, "EBADREQ", NULL, "a request must be a JSON object");
			conn_reply_error(c, NULL, &err);
		} else if (r == FRAME_ETOOBIG) {
			log_info("connection %lu: oversized frame; closing", c->serial);
			agent_error_set(&err, "ETOOBIG", NULL,
					"frame length exceeds %u bytes; closing the connection",
					FRAME_MAX);
			conn_reply_error(c, NULL, &err);
			agent_exec_abandon_conn(c);
			c->closing = 1;
			conn_flush(c, 0);
			if (frame_writer_pending(c->out) == 0)
				c->doomed = 1;
		} else {
			c->doomed = 1;
		}
	}
	c->processing = 0;
}

static void conn_set_congested(struct agent_conn *c, int congested)
{
	if (c->congested == congested)
		return;
	c->congested = congested;
	agent_exec_pause_conn(c, congested);
	conn_update_watch(c);
	if (!congested)
		conn_process(c);
}

static void conn_on_readable(struct agent_conn *c, uint32_t events)
{
	long n;

	n = frame_decoder_read(c->dec, c->w.fd);
	if (n > 0) {
		conn_process(c);
		return;
	}
	if (n == -EAGAIN)
		return;
	if (n < 0) {
		log_debug("connection %lu: read: %s", c->serial, strerror((int)-n));
		c->doomed = 1;
		return;
	}
	/* End of file. A client that only shut down its sending side still
	 * gets the replies and events of what it started. */
	if (!frame_decoder_idle(c->dec))
		log_debug("connection %lu: stream ended inside a frame", c->serial);
	if ((events & EPOLLHUP) || !frame_decoder_idle(c->dec)) {
		c->doomed = 1;
		return;
	}
	c->rd_eof = 1;
	if (c->nexecs == 0)
		c->closing = 1;
	conn_flush(c, 0);
	if (c->closing && frame_writer_pending(c->out) == 0)
		c->doomed = 1;
}

static void conn_on_event(struct agent *a, struct agent_watch *w, uint32_t events)
{
	struct agent_conn *c = conn_of(w);

	(void)a;
	if (c->doomed || c->closed)
		return;
	if (events & EPOLLOUT)
		conn_flush(c, 1);
	if (c->doomed)
		return;
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) {
		if (!c->congested && !c->rd_eof && !c->closing) {
			conn_on_readable(c, events);
			return;
		}
	}
	if (events & (EPOLLERR | EPOLLHUP))
		c->doomed = 1;
}

void agent_conn_exec_done(struct agent_conn *c)
{
	if (c->rd_eof && c->nexecs == 0 && !c->closing) {
		c->closing = 1;
		conn_flush(c, 0);
		if (frame_writer_pending(c->out) == 0)
			c->doomed = 1;
	}
}
