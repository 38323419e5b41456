/* The CLI's pure helpers: size, CPU and time parsing; exit status mapping;
 * sandbox names. */
#include "host/backend.h"
#include "host/cli/cli.h"
#include "host/controller.h"
#include "tests/unit/tap.h"

#include <errno.h>
#include <string.h>

static int status_of(int started, int code, int signo, int timed_out, const char *err)
{
	struct controller_exec_result r;

	memset(&r, 0, sizeof(r));
	r.started = started;
	r.exit_code = code;
	r.signo = signo;
	r.timed_out = timed_out;
	snprintf(r.error_code, sizeof(r.error_code), "%s", err);
	return cli_exit_status(&r);
}

int main(void)
{
	uint64_t v = 0;
	uint32_t m = 0;

	is(cli_parse_size("1048576", &v), 0, "plain bytes");
	is(v, 1048576, "= 1048576");
	is(cli_parse_size("512M", &v), 0, "512M");
	is(v, 512ull << 20, "= 512 MiB");
	is(cli_parse_size("2G", &v), 0, "2G");
	is(v, 2ull << 30, "= 2 GiB");
	is(cli_parse_size("1.5GiB", &v), 0, "1.5GiB");
	is(v, 3ull << 29, "= 1.5 GiB");
	is(cli_parse_size("64k", &v), 0, "lower-case k");
	is(v, 65536, "= 64 KiB");
	is(cli_parse_size("1TB", &v), 0, "1TB");
	is(v, 1ull << 40, "= 1 TiB");
	is(cli_parse_size("", &v), -EINVAL, "empty");
	is(cli_parse_size("M", &v), -EINVAL, "unit alone");
	is(cli_parse_size("-1G", &v), -EINVAL, "negative");
	is(cli_parse_size("1X", &v), -EINVAL, "unknown unit");
	is(cli_parse_size("1GG", &v), -EINVAL, "trailing garbage");
	is(cli_parse_size("1.2.3", &v), -EINVAL, "two dots");
	is(cli_parse_size("0", &v), -ERANGE, "zero");
	is(cli_parse_size("99999999999T", &v), -ERANGE, "overflow");
	is(cli_parse_size("123456789012345678901234567890123", &v), -EINVAL, "absurdly long");
	is(cli_parse_size(NULL, &v), -EINVAL, "NULL");

	is(cli_parse_cpus("2", &m), 0, "2 CPUs");
	is(m, 2000, "= 2000 millis");
	is(cli_parse_cpus("0.5", &m), 0, "half a CPU");
	is(m, 500, "= 500 millis");
	is(cli_parse_cpus("0", &m), -ERANGE, "zero CPUs");
	is(cli_parse_cpus("0.0001", &m), -ERANGE, "less than a millicpu");
	is(cli_parse_cpus("2000000", &m), -ERANGE, "too many");
	is(cli_parse_cpus("two", &m), -EINVAL, "words");
	is(cli_parse_cpus("1m", &m), -EINVAL, "units");

	is(cli_parse_seconds("30", &v), 0, "30 s");
	is(v, 30000, "= 30000 ms");
	is(cli_parse_seconds("1.5", &v), 0, "1.5 s");
	is(v, 1500, "= 1500 ms");
	is(cli_parse_seconds("2s", &v), 0, "2s");
	is(v, 2000, "= 2000 ms");
	is(cli_parse_seconds("0.0001", &v), 0, "a tenth of a millisecond");
	is(v, 1, "rounds up to 1 ms");
	is(cli_parse_seconds("0", &v), -ERANGE, "zero");
	is(cli_parse_seconds("-5", &v), -EINVAL, "negative");
	is(cli_parse_seconds("5m", &v), -EINVAL, "minutes are not seconds");

	is(status_of(1, 0, 0, 0, ""), 0, "exit 0");
	is(status_of(1, 1, 0, 0, ""), 1, "exit 1");
	is(status_of(1, 300, 0, 0, ""), 300 & 255, "status kept to 8 bits");
	is(status_of(1, -1, 9, 0, ""), 137, "SIGKILL -> 137");
	is(status_of(1, -1, 15, 0, ""), 143, "SIGTERM -> 143");
	is(status_of(1, -1, 9, 1, ""), 124, "timeout wins over the signal");
	is(status_of(0, -1, 0, 0, "ENOENT"), 127, "not found -> 127");
	is(status_of(0, -1, 0, 0, "EACCES"), 126, "not executable -> 126");
	is(status_of(0, -1, 0, 0, "ENOEXEC"), 126, "bad format -> 126");
	is(status_of(0, -1, 0, 0, "EBADREQ"), 125, "protocol error -> 125");
	is(status_of(1, -1, 0, 0, ""), 125, "no status at all -> 125");

	ok(backend_name_valid("run-1a2b"), "run-1a2b is a valid name");
	ok(backend_name_valid("a.b_c-D9"), "dots, underscores, digits");
	ok(!backend_name_valid(""), "empty name");
	ok(!backend_name_valid(NULL), "NULL name");
	ok(!backend_name_valid("../x"), "slash and dots");
	ok(!backend_name_valid(".hidden"), "leading dot");
	ok(!backend_name_valid("-x"), "leading dash");
	ok(!backend_name_valid("a b"), "space");
	ok(!backend_name_valid("0123456789012345678901234567890123456789012345678901234567890123"),
	   "64 characters");
	ok(backend_name_valid("012345678901234567890123456789012345678901234567890123456789012"),
	   "63 characters");
	return done_testing();
}
