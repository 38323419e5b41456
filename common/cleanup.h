/* Scope-bound cleanup helpers: fds, heap buffers and FILE streams released
 * when the variable goes out of scope. */
#ifndef AGENTVM_COMMON_CLEANUP_H
#define AGENTVM_COMMON_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void cleanup_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

static inline void cleanup_free(void *p)
{
	free(*(void **)p);
}

static inline void cleanup_fclose(FILE **f)
{
	if (*f)
		fclose(*f);
}

#define _cleanup_close_	 __attribute__((cleanup(cleanup_close)))
#define _cleanup_free_	 __attribute__((cleanup(cleanup_free)))
#define _cleanup_fclose_ __attribute__((cleanup(cleanup_fclose)))

/* Hand ownership out of a cleanup-managed variable. */
static inline int take_fd(int *fd)
{
	int r = *fd;
	*fd = -1;
	return r;
}

static inline void *take_ptr(void *pp)
{
	void *r = *(void **)pp;
	*(void **)pp = NULL;
	return r;
}

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
