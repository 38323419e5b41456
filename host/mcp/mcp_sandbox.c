/* The real sandboxes behind the MCP tools: a backend sandbox (microvm or
 * container, host/backend.h) with one agent connection, requests sent with
 * fresh ids, and replies waited for while watching for the sandbox stopping
 * and for the session ending. */
#include "host/mcp/mcp_backend.h"

#include "common/log.h"
#include "host/agent_client.h"
#include "host/cli/cli.h"
#include "host/controller.h"
#include "host/egress/egress_policy.h"
#include "host/egress/egress_run.h"
#include "host/mcp/mcp_policy.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define MCP_SANDBOX_HELLO_MS	30000
#define MCP_SANDBOX_SHUTDOWN_MS 2000
#define MCP_SANDBOX_SEND_MS	10000

struct mcp_sandbox {
	struct backend_sandbox *sb;
	struct agent_client *client;
	struct json_object *hello;
	struct egress_run *egress;
	char name[BACKEND_NAME_MAX + 1];
};

static int64_t mcp_sandbox_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void mcp_sandbox_destroy(void *ctx, void *h)
{
	struct mcp_sandbox *m = h;

	(void)ctx;
	if (!m)
		return;
	if (m->client) {
		struct json_object *req = json_object_new_object();
		if (req) {
			json_object_object_add(req, "op", json_object_new_string("shutdown"));
			agent_client_call(m->client, req, MCP_SANDBOX_SHUTDOWN_MS, NULL, NULL, 0);
			json_object_put(req);
		}
	}
	agent_client_free(m->client);
	json_object_put(m->hello);
	backend_sandbox_free(m->sb);
	egress_run_stop(m->egress);
	free(m);
}

static int mcp_sandbox_create(void *ctx, const struct mcp_sandbox_spec *spec, void **out, char *err,
			      size_t len)
{
	const struct mcp_sandbox_ctx *c = ctx;
	const struct backend_ops *ops;
	struct backend_config cfg = { .limits = spec->limits, .log_fd = c ? c->log_fd : -1 };
	char rootfs[PATH_MAX], agentbuf[PATH_MAX], why[768];
	struct mcp_sandbox *m;
	unsigned int rnd = 0;
	int fd, r;

	*out = NULL;
	r = controller_choose_backend(spec->isolation, &ops, why, sizeof(why));
	if (r < 0) {
		snprintf(err, len, "unknown isolation '%s'", spec->isolation);
		return r;
	}
	r = ops->probe(why, sizeof(why));
	if (r < 0) {
		snprintf(err, len, "%s isolation is not possible here: %s (see 'agentvm doctor')",
			 ops->name, why);
		return r;
	}
	cfg.agent_path = cli_image_agent(agentbuf, sizeof(agentbuf));
	r = cli_image_resolve(spec->image, cfg.agent_path, rootfs, sizeof(rootfs));
	if (r < 0) {
		snprintf(err, len, "image '%s' is not available (%s)", spec->image, strerror(-r));
		return r;
	}
	cfg.rootfs = rootfs;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = (unsigned int)getpid() ^ (unsigned int)mcp_sandbox_now_ms();
	snprintf(m->name, sizeof(m->name), "mcp-%08x", rnd);
	cfg.name = m->name;
	if (c && c->policy) {
		struct egress_policy *ep = NULL;

		r = mcp_policy_to_egress(c->policy, &ep, why, sizeof(why));
		if (r < 0) {
			snprintf(err, len, "the policy's egress rules: %s", why);
			goto fail;
		}
		r = egress_run_start(m->name, ep, NULL, c->audit, &m->egress);
		if (r < 0) {
			snprintf(err, len, "could not start the egress proxy: %s", strerror(-r));
			goto fail;
		}
		cfg.egress_sock = egress_run_sock(m->egress);
	}
	r = backend_sandbox_new(ops, &cfg, &m->sb);
	if (r < 0) {
		snprintf(err, len, "the %s backend could not start a sandbox: %s", ops->name,
			 strerror(-r));
		goto fail;
	}
	r = backend_sandbox_connect(m->sb, &fd);
	if (r < 0) {
		snprintf(err, len, "could not connect to the sandbox's agent: %s", strerror(-r));
		goto fail;
	}
	r = agent_client_new(fd, &m->client);
	if (r < 0) {
		snprintf(err, len, "agent connection: %s", strerror(-r));
		goto fail;
	}
	r = agent_client_hello(m->client, MCP_SANDBOX_HELLO_MS, &m->hello, why, sizeof(why));
	if (r < 0) {
		snprintf(err, len, "the sandbox's agent did not say hello: %s",
			 r == -ETIMEDOUT ? "timed out"
			 : why[0]	 ? why
					 : strerror(-r));
		backend_sandbox_log_tail(m->sb, 10);
		goto fail;
	}
	log_debug("mcp: sandbox %s (%s) is up", m->name, ops->name);
	*out = m;
	return 0;
fail:
	mcp_sandbox_destroy(ctx, m);
	return r;
}

static struct json_object *mcp_sandbox_hello(void *h)
{
	return ((struct mcp_sandbox *)h)->hello;
}

/* Is msg the terminal message of a request? Replies have no "event"; exec's
 * "exit" event ends it too. */
static int mcp_sandbox_terminal(struct json_object *msg)
{
	struct json_object *ev;
	const char *name;

	if (!json_object_object_get_ex(msg, "event", &ev))
		return 1;
	name = json_object_get_string(ev);
	return name && strcmp(name, "exit") == 0;
}

static int mcp_sandbox_request(void *ctx, void *h, struct json_object *req, int timeout_ms,
			       mcp_backend_event_fn on_event, void *arg, struct json_object **reply,
			       char *err, size_t len)
{
	const struct mcp_sandbox_ctx *c = ctx;
	struct mcp_sandbox *m = h;
	int64_t id, deadline = mcp_sandbox_now_ms() + timeout_ms;
	int r, xfd = backend_sandbox_exit_fd(m->sb);

	*reply = NULL;
	r = agent_client_send(m->client, req, &id, MCP_SANDBOX_SEND_MS);
	if (r < 0) {
		snprintf(err, len, "sending to the agent: %s",
			 r == -EPIPE ? "the agent is gone" : strerror(-r));
		return r == -EPIPE || r == -ECONNRESET ? -ECONNRESET : r;
	}
	for (;;) {
		struct pollfd p[3];
		int np = 0, ix = -1, ic = -1, left;
		int64_t now = mcp_sandbox_now_ms();

		/* Take every message already here before sleeping. */
		for (;;) {
			struct json_object *msg;
			int64_t mid;

			r = agent_client_recv(m->client, 0, &msg);
			if (r == 0)
				break;
			if (r == -ECONNRESET) {
				snprintf(err, len, "the agent closed the connection");
				return -ECONNRESET;
			}
			if (r < 0) {
				snprintf(err, len, "the agent sent a malformed message (%s)",
					 strerror(-r));
				return -ECONNRESET;
			}
			if (agent_client_msg_id(msg, &mid) < 0 || mid != id) {
				json_object_put(msg); /* not ours (a late reply) */
				continue;
			}
			if (mcp_sandbox_terminal(msg)) {
				*reply = msg;
				return 0;
			}
			if (on_event)
				on_event(arg, msg);
			json_object_put(msg);
		}
		if (now >= deadline) {
			snprintf(err, len, "no answer within %d ms", timeout_ms);
			return -ETIMEDOUT;
		}
		left = (int)(deadline - now);
		p[np++] = (struct pollfd){ .fd = agent_client_fd(m->client), .events = POLLIN };
		if (xfd >= 0) {
			ix = np;
			p[np++] = (struct pollfd){ .fd = xfd, .events = POLLIN };
		}
		if (c && c->cancel_fd >= 0) {
			ic = np;
			p[np++] = (struct pollfd){ .fd = c->cancel_fd, .events = POLLIN };
		}
		r = poll(p, (nfds_t)np, left);
		if (r < 0 && errno != EINTR) {
			snprintf(err, len, "poll: %s", strerror(errno));
			return -errno;
		}
		if (ic >= 0 && p[ic].revents) {
			snprintf(err, len, "the session is ending");
			return -EINTR;
		}
		if (ix >= 0 && p[ix].revents && !(p[0].revents & POLLIN)) {
			snprintf(err, len, "the sandbox stopped");
			backend_sandbox_log_tail(m->sb, 10);
			return -ECONNRESET;
		}
	}
}

const struct mcp_backend_ops mcp_sandbox_ops = {
	.create = mcp_sandbox_create,
	.destroy = mcp_sandbox_destroy,
	.hello = mcp_sandbox_hello,
	.request = mcp_sandbox_request,
};
