#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *log_prog = "agentvm";
static const char *log_instance;
static enum log_level log_level_max = LOG_INFO;
static int log_level_init;

void log_init(const char *prog, const char *instance)
{
	log_prog = prog;
	log_instance = instance;
}

void log_set_level(enum log_level level)
{
	log_level_max = level;
	log_level_init = 1;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "", "debug" };
	char buf[1024];
	int n;
	va_list ap;

	if (!log_level_init) {
		const char *d = getenv("AGENTVM_DEBUG");
		if (d && *d && strcmp(d, "0") != 0)
			log_level_max = LOG_DEBUG;
		log_level_init = 1;
	}
	if (level > log_level_max)
		return;
	if (log_instance)
		n = snprintf(buf, sizeof(buf), "%s[%s]: ", log_prog, log_instance);
	else
		n = snprintf(buf, sizeof(buf), "%s: ", log_prog);
	if (n < 0 || (size_t)n >= sizeof(buf))
		n = 0;
	if (*names[level])
		n += snprintf(buf + n, sizeof(buf) - n, "%s: ", names[level]);
	va_start(ap, fmt);
	if ((size_t)n < sizeof(buf))
		vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	va_end(ap);
	/* One write per line so lines from several threads do not interleave. */
	fprintf(stderr, "%s\n", buf);
}
