/* A minimal TAP producer for the unit tests: ok(), is(), plan at the end. */
#ifndef AGENTVM_TESTS_TAP_H
#define AGENTVM_TESTS_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_n, tap_failed;

static inline __attribute__((format(printf, 2, 3))) int ok(int cond, const char *fmt, ...)
{
	va_list ap;

	tap_n++;
	printf("%sok %d - ", cond ? "" : "not ", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		tap_failed++;
	return cond;
}

#define is(got, want, ...)                                                                    \
	do {                                                                                  \
		long long tap_g_ = (long long)(got), tap_w_ = (long long)(want);              \
		if (!ok(tap_g_ == tap_w_, __VA_ARGS__))                                       \
			printf("#   got %lld, want %lld (%s:%d)\n", tap_g_, tap_w_, __FILE__, \
			       __LINE__);                                                     \
	} while (0)

static inline void skip_all(const char *why)
{
	printf("1..0 # SKIP %s\n", why);
	exit(0);
}

static inline int done_testing(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
