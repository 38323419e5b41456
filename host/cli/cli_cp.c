/* agentvm cp: copy one file into or out of a sandbox (SANDBOX:PATH). Needs
 * agentvmd. */
#include "host/cli/cli.h"

#include "common/base64.h"
#include "common/json_util.h"
#include "host/backend.h"
#include "host/client.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CLI_CP_CHUNK (4u << 20)

static const char cli_cp_usage[] =
	"Usage: agentvm cp SANDBOX:PATH LOCAL\n"
	"       agentvm cp LOCAL SANDBOX:PATH\n"
	"Copy one regular file out of or into a sandbox. LOCAL may be '-' (standard output\n"
	"or input) or a directory (the file keeps its name); a sandbox PATH ending in '/'\n"
	"is a directory there. The file's permission bits go along into the sandbox.\n";

/* Split "name:/path" into its sandbox and path; 0 if arg is a local path. */
static int cli_cp_remote(char *arg, char **sb, char **path)
{
	char *colon = strchr(arg, ':');

	if (!colon || colon == arg || arg[0] == '/' || arg[0] == '.')
		return 0;
	*colon = '\0';
	if (!backend_name_valid(arg)) {
		*colon = ':';
		return 0;
	}
	*sb = arg;
	*path = colon + 1;
	return 1;
}

static int cli_cp_out(struct client_conn *c, const char *sb, const char *path, const char *local)
{
	char dest[PATH_MAX], tmp[PATH_MAX];
	struct stat st;
	int fd = 1;
	int64_t off = 0;

	if (strcmp(local, "-") != 0) {
		if (stat(local, &st) == 0 && S_ISDIR(st.st_mode)) {
			snprintf(tmp, sizeof(tmp), "%s", path);
			snprintf(dest, sizeof(dest), "%s/%s", local, basename(tmp));
		} else {
			snprintf(dest, sizeof(dest), "%s", local);
		}
		fd = open(dest, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			fprintf(stderr, "agentvm cp: %s: %s\n", dest, strerror(errno));
			return CLI_EXIT_INTERNAL;
		}
	}
	for (;;) {
		struct json_object *p = json_object_new_object(), *res = NULL;
		json_object_object_add(p, "sandbox", json_object_new_string(sb));
		json_object_object_add(p, "path", json_object_new_string(path));
		json_object_object_add(p, "offset", json_object_new_int64(off));
		json_object_object_add(p, "length", json_object_new_int64(CLI_CP_CHUNK));
		if (cli_client_call("cp", c, "sandbox.read_file", p, &res) < 0) {
			if (fd != 1)
				close(fd);
			return CLI_EXIT_INTERNAL;
		}
		unsigned char *data = NULL;
		size_t len = 0;
		struct json_object *eof;
		if (json_util_get_base64(res, "data", &data, &len) < 0) {
			fprintf(stderr, "agentvm cp: a malformed reply\n");
			json_object_put(res);
			if (fd != 1)
				close(fd);
			return CLI_EXIT_INTERNAL;
		}
		for (size_t w = 0; w < len;) {
			ssize_t n = write(fd, data + w, len - w);
			if (n <= 0) {
				fprintf(stderr, "agentvm cp: writing: %s\n", strerror(errno));
				free(data);
				json_object_put(res);
				if (fd != 1)
					close(fd);
				return CLI_EXIT_INTERNAL;
			}
			w += (size_t)n;
		}
		free(data);
		off += (int64_t)len;
		bool done = !json_object_object_get_ex(res, "eof", &eof) ||
			    json_object_get_boolean(eof) || len == 0;
		json_object_put(res);
		if (done)
			break;
	}
	if (fd != 1 && close(fd) < 0) {
		fprintf(stderr, "agentvm cp: %s: %s\n", local, strerror(errno));
		return CLI_EXIT_INTERNAL;
	}
	return 0;
}

static int cli_cp_in(struct client_conn *c, const char *local, const char *sb, const char *path)
{
	char dest[PATH_MAX + 256], tmp[PATH_MAX];
	struct stat st;
	int fd = 0, mode = 0644;
	int status = CLI_EXIT_INTERNAL;
	bool first = true;
	unsigned char *buf = malloc(CLI_CP_CHUNK);

	if (!buf)
		return CLI_EXIT_INTERNAL;
	if (strcmp(local, "-") != 0) {
		fd = open(local, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0) {
			fprintf(stderr, "agentvm cp: %s: %s\n", local, strerror(errno));
			goto out;
		}
		if (!S_ISREG(st.st_mode)) {
			fprintf(stderr, "agentvm cp: %s: not a regular file\n", local);
			goto out;
		}
		mode = (int)(st.st_mode & 07777);
	}
	if (path[0] != '/') {
		fprintf(stderr, "agentvm cp: %s: the sandbox path must be absolute\n", path);
		goto out;
	}
	if (path[strlen(path) - 1] == '/') {
		snprintf(tmp, sizeof(tmp), "%s", strcmp(local, "-") ? local : "stdin");
		snprintf(dest, sizeof(dest), "%s%s", path, basename(tmp));
	} else {
		snprintf(dest, sizeof(dest), "%s", path);
	}
	for (;;) {
		size_t n = 0;
		while (n < CLI_CP_CHUNK) {
			ssize_t r = read(fd, buf + n, CLI_CP_CHUNK - n);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				fprintf(stderr, "agentvm cp: %s: %s\n", local, strerror(errno));
				goto out;
			}
			if (r == 0)
				break;
			n += (size_t)r;
		}
		if (!first && n == 0)
			break;
		struct json_object *p = json_object_new_object(), *res = NULL;
		json_object_object_add(p, "sandbox", json_object_new_string(sb));
		json_object_object_add(p, "path", json_object_new_string(dest));
		json_util_add_base64(p, "data", buf, n);
		json_object_object_add(p, "mode", json_object_new_int(mode));
		if (!first)
			json_object_object_add(p, "append", json_object_new_boolean(1));
		if (cli_client_call("cp", c, "sandbox.write_file", p, &res) < 0)
			goto out;
		json_object_put(res);
		first = false;
		if (n < CLI_CP_CHUNK)
			break;
	}
	status = 0;
out:
	if (fd > 0)
		close(fd);
	free(buf);
	return status;
}

int cli_cp_main(int argc, char **argv)
{
	struct client_conn *c = NULL;
	char *sb, *path;
	int status;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(cli_cp_usage, stdout);
		return 0;
	}
	if (argc != 3)
		return cli_usage_error("cp", "wants SANDBOX:PATH LOCAL or LOCAL SANDBOX:PATH");
	bool from = cli_cp_remote(argv[1], &sb, &path);
	char *sb2, *path2;
	bool to = cli_cp_remote(argv[2], &sb2, &path2);
	if (from == to)
		return cli_usage_error("cp", "exactly one side must be SANDBOX:PATH");
	if (cli_client_connect("cp", &c) < 0)
		return CLI_EXIT_INTERNAL;
	status = from ? cli_cp_out(c, sb, path, argv[2]) : cli_cp_in(c, argv[1], sb2, path2);
	client_close(c);
	return status;
}
