/* The VMM's one epoll event loop, run by the main thread. Devices register
 * fds (ioeventfds, sockets, timers) with a callback; vCPU threads never block
 * on it. Callbacks run on the loop thread only. */
#ifndef AGENTVM_VMM_LOOP_H
#define AGENTVM_VMM_LOOP_H

#include <stdint.h>

struct loop;

/* events is a mask of EPOLLIN/EPOLLOUT/EPOLLERR/EPOLLHUP as delivered. */
typedef void (*loop_fn)(void *opaque, int fd, uint32_t events);

int loop_new(struct loop **out);
void loop_free(struct loop *loop);
/* Watch fd for events (EPOLLIN, EPOLLOUT, ...). One registration per fd. */
int loop_add(struct loop *loop, int fd, uint32_t events, loop_fn fn, void *opaque);
/* Change the event mask of a registered fd. */
int loop_modify(struct loop *loop, int fd, uint32_t events);
/* Stop watching fd; safe to call from inside that fd's callback. */
int loop_remove(struct loop *loop, int fd);
/* Run until loop_stop(); returns the value given to loop_stop(). */
int loop_run(struct loop *loop);
/* Make loop_run() return code after the current iteration. Safe from any thread. */
void loop_stop(struct loop *loop, int code);
/* Run fn(opaque) on the loop thread soon. Safe from any thread. */
int loop_call(struct loop *loop, void (*fn)(void *opaque), void *opaque);

#endif
