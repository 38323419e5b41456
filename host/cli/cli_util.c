#include "host/cli/cli.h"

#include "host/controller.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A non-negative decimal number (digits, optionally one '.'), the rest in *end. */
static int cli_parse_decimal(const char *s, double *out, const char **end)
{
	const char *p = s;
	int digits = 0, dot = 0;

	while (*p) {
		if (isdigit((unsigned char)*p))
			digits++;
		else if (*p == '.' && !dot)
			dot = 1;
		else
			break;
		p++;
	}
	if (!digits || p - s > 30)
		return -EINVAL;
	char buf[32];
	memcpy(buf, s, (size_t)(p - s));
	buf[p - s] = '\0';
	*out = strtod(buf, NULL);
	*end = p;
	return 0;
}

int cli_parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGT";
	double v, mult = 1;
	const char *end;
	const char *u;

	if (!s || cli_parse_decimal(s, &v, &end) < 0)
		return -EINVAL;
	if (*end) {
		u = strchr(units, toupper((unsigned char)*end));
		if (!u)
			return -EINVAL;
		for (int i = 0; i <= u - units; i++)
			mult *= 1024;
		end++;
		if (*end == 'i')
			end++;
		if (*end == 'B' || *end == 'b')
			end++;
		if (*end)
			return -EINVAL;
	}
	v *= mult;
	if (v >= 18446744073709551615.0)
		return -ERANGE;
	if (v < 1)
		return -ERANGE;
	*out = (uint64_t)v;
	return 0;
}

int cli_parse_cpus(const char *s, uint32_t *millis)
{
	double v;
	const char *end;

	if (!s || cli_parse_decimal(s, &v, &end) < 0 || *end)
		return -EINVAL;
	v = round(v * 1000);
	if (v < 1 || v > 1024 * 1000)
		return -ERANGE;
	*millis = (uint32_t)v;
	return 0;
}

int cli_parse_seconds(const char *s, uint64_t *ms)
{
	double v;
	const char *end;

	if (!s || cli_parse_decimal(s, &v, &end) < 0)
		return -EINVAL;
	if (*end == 's' && end[1] == '\0')
		end++;
	if (*end)
		return -EINVAL;
	v = ceil(v * 1000);
	if (v < 1 || v > 1e12)
		return -ERANGE;
	*ms = (uint64_t)v;
	return 0;
}

int cli_exit_status(const struct controller_exec_result *res)
{
	if (!res->started) {
		if (strcmp(res->error_code, "ENOENT") == 0)
			return CLI_EXIT_NOTFOUND;
		if (strcmp(res->error_code, "EACCES") == 0 ||
		    strcmp(res->error_code, "ENOEXEC") == 0 ||
		    strcmp(res->error_code, "EISDIR") == 0 || strcmp(res->error_code, "EPERM") == 0)
			return CLI_EXIT_NOEXEC;
		return CLI_EXIT_INTERNAL;
	}
	if (res->timed_out)
		return CLI_EXIT_TIMEOUT;
	if (res->signo > 0)
		return CLI_EXIT_SIGNALLED + (res->signo & 127);
	if (res->exit_code >= 0)
		return res->exit_code & 255;
	return CLI_EXIT_INTERNAL;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "agentvm%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (try 'agentvm%s%s --help')\n", cmd ? " " : "", cmd ? cmd : "");
	return CLI_EXIT_USAGE;
}
