#include "guest-agent/agent_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void agent_error_set(struct agent_error *err, const char *code, const char *field, const char *fmt,
		     ...)
{
	va_list ap;

	err->code = code;
	err->field = field;
	err->path[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

const char *agent_error_errno_name(int errnum)
{
	const char *name;

	if (errnum < 0)
		errnum = -errnum;
	name = strerrorname_np(errnum);
	return name ? name : "EIO";
}

void agent_error_errno(struct agent_error *err, int errnum, const char *path, const char *fmt, ...)
{
	char what[384];
	va_list ap;

	if (errnum < 0)
		errnum = -errnum;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	err->code = agent_error_errno_name(errnum);
	err->field = NULL;
	snprintf(err->message, sizeof(err->message), "%s: %s", what, strerror(errnum));
	if (path)
		snprintf(err->path, sizeof(err->path), "%s", path);
	else
		err->path[0] = '\0';
}
