/* The agent's side of egress: the --egress and --egress-listen addresses,
 * and the proxy variables added under every exec's environment (an exec's
 * own env still wins). */
#include "guest-agent/agent_proto.h"
#include "guest-agent/agent_proxy.h"
#include "guest-agent/agent_spawn.h"
#include "tests/unit/tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

static int env_has(char **env, const char *kv)
{
	for (int i = 0; env && env[i]; i++)
		if (strcmp(env[i], kv) == 0)
			return 1;
	return 0;
}

static int env_count(char **env, const char *prefix)
{
	int n = 0;

	for (int i = 0; env && env[i]; i++)
		n += strncmp(env[i], prefix, strlen(prefix)) == 0;
	return n;
}

int main(void)
{
	struct sockaddr_storage ss;
	unsigned len = 0;
	static const char *const extra[] = { "http_proxy=http://127.0.0.1:3128",
					     "https_proxy=http://127.0.0.1:3128",
					     "no_proxy=", NULL };
	char *own[] = { "https_proxy=http://mine:1", "X=1" };
	struct agent_exec_req x;
	char **env;

	is(agent_proxy_parse_upstream("unix:/run/agentvm/egress.sock", &ss, &len), 0, "unix:PATH");
	ok(ss.ss_family == AF_UNIX &&
		   strcmp(((struct sockaddr_un *)&ss)->sun_path, "/run/agentvm/egress.sock") == 0,
	   "a Unix socket address");
	is(agent_proxy_parse_upstream("vsock:3128", &ss, &len), 0, "vsock:PORT");
	ok(ss.ss_family == AF_VSOCK && ((struct sockaddr_vm *)&ss)->svm_cid == VMADDR_CID_HOST &&
		   ((struct sockaddr_vm *)&ss)->svm_port == 3128,
	   "CID 2 (the host), port 3128");
	is(agent_proxy_parse_upstream("vsock:", &ss, &len), -EINVAL, "vsock without a port");
	is(agent_proxy_parse_upstream("vsock:0", &ss, &len), -EINVAL, "vsock port 0");
	is(agent_proxy_parse_upstream("vsock:12x", &ss, &len), -EINVAL, "vsock junk");
	is(agent_proxy_parse_upstream("unix:", &ss, &len), -EINVAL, "unix without a path");
	{
		char longp[200] = "unix:";
		memset(longp + 5, 'a', 150);
		longp[155] = '\0';
		is(agent_proxy_parse_upstream(longp, &ss, &len), -EINVAL, "a path too long");
	}
	is(agent_proxy_parse_upstream("tcp:1.2.3.4:80", &ss, &len), -EINVAL, "tcp: is not offered");

	is(agent_proxy_parse_listen("127.0.0.1:3128", &ss, &len), 0, "127.0.0.1:3128");
	ok(ss.ss_family == AF_INET && ((struct sockaddr_in *)&ss)->sin_port == htons(3128) &&
		   ((struct sockaddr_in *)&ss)->sin_addr.s_addr == htonl(INADDR_LOOPBACK),
	   "an IPv4 loopback address and port");
	is(agent_proxy_parse_listen("127.0.0.1", &ss, &len), -EINVAL, "no port");
	is(agent_proxy_parse_listen("127.0.0.1:0", &ss, &len), -EINVAL, "port 0");
	is(agent_proxy_parse_listen("127.0.0.1:65536", &ss, &len), -EINVAL, "port 65536");
	is(agent_proxy_parse_listen("localhost:3128", &ss, &len), -EINVAL, "a name");

	memset(&x, 0, sizeof(x));
	env = agent_spawn_build_env(&x);
	ok(env && env_count(env, "http_proxy=") == 0, "no proxy variables by default");
	free(env);

	agent_spawn_extra_env = extra;
	env = agent_spawn_build_env(&x);
	ok(env_has(env, "http_proxy=http://127.0.0.1:3128") &&
		   env_has(env, "https_proxy=http://127.0.0.1:3128") && env_has(env, "no_proxy="),
	   "with the proxy on, execs get its variables");
	ok(env_has(env, "HOME=/root") && env_count(env, "PATH=") == 1, "besides the usual ones");
	free(env);

	x.env = own;
	x.nenv = 2;
	env = agent_spawn_build_env(&x);
	ok(env_has(env, "https_proxy=http://mine:1") && env_count(env, "https_proxy=") == 1,
	   "an exec's own https_proxy wins");
	ok(env_has(env, "http_proxy=http://127.0.0.1:3128") && env_has(env, "X=1"),
	   "the other defaults stay");
	free(env);
	agent_spawn_extra_env = NULL;
	return done_testing();
}
