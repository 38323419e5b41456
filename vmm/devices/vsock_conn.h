/* vsock connections: one per (host port, guest port) stream, in a hash
 * table. Each carries its host socket, the credit state of both
 * directions and a bounded buffer of guest bytes the host socket has not
 * taken yet. Used on the loop thread only, under the device lock. */
#ifndef AGENTVM_VMM_DEVICES_VSOCK_CONN_H
#define AGENTVM_VMM_DEVICES_VSOCK_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define VSOCK_CONN_BUF	   (256 * 1024) /* buf_alloc we advertise; bytes buffered at most */
#define VSOCK_CONN_BUCKETS 256
#define VSOCK_MAX_CONNS	   512

/* Control packets a connection still owes the guest, sent lowest bit first. */
#define VSOCK_PEND_REQUEST	  0x01
#define VSOCK_PEND_RESPONSE	  0x02
#define VSOCK_PEND_CREDIT_UPDATE  0x04
#define VSOCK_PEND_CREDIT_REQUEST 0x08
#define VSOCK_PEND_SHUTDOWN	  0x10
#define VSOCK_PEND_RST		  0x20

/* An intrusive doubly linked list. */
struct vsock_link {
	struct vsock_link *prev, *next;
};

enum vsock_conn_state {
	VSOCK_CONN_CONNECTING,	/* host-initiated: REQUEST sent, RESPONSE awaited */
	VSOCK_CONN_ESTABLISHED, /* data flows */
	VSOCK_CONN_CLOSED,	/* host side gone; an RST is owed to the guest */
};

struct vsock;

struct vsock_conn {
	struct vsock *v;
	uint32_t local_port; /* port on the host side (CID 2) */
	uint32_t peer_port;  /* port on the guest side */
	enum vsock_conn_state state;
	bool host_initiated;
	int fd;		      /* host socket, -1 once closed */
	uint64_t deadline_ms; /* CONNECTING: give up after this */

	/* Host -> guest: the guest's window. */
	uint32_t peer_buf_alloc;
	uint32_t peer_fwd_cnt;
	uint32_t tx_cnt; /* payload bytes sent to the guest */
	bool credit_requested;

	/* Guest -> host. */
	uint32_t fwd_cnt;      /* guest bytes written to the host socket */
	uint32_t fwd_cnt_sent; /* fwd_cnt last told to the guest */
	uint8_t *buf;	       /* ring of VSOCK_CONN_BUF bytes, allocated on first need */
	uint32_t buf_head, buf_len;

	uint32_t peer_shutdown;	 /* VSOCK_SHUTDOWN_* the guest sent */
	uint32_t local_shutdown; /* VSOCK_SHUTDOWN_* sent (or owed) to the guest */
	bool shut_wr_done;	 /* host socket's write side shut down */

	/* Edge-triggered readiness of the host socket. */
	bool readable, writable, hup;

	uint8_t pending;	     /* VSOCK_PEND_* */
	struct vsock_link pend_link; /* on the device's list of owed control packets */
	struct vsock_link rxw_link;  /* on the device's list waiting for rx buffers */
	struct vsock_conn *hnext;
};

struct vsock_conn_table {
	struct vsock_conn *buckets[VSOCK_CONN_BUCKETS];
	uint32_t count;
};

static inline void vsock_link_init(struct vsock_link *l)
{
	l->prev = l->next = l;
}

static inline bool vsock_link_empty(const struct vsock_link *l)
{
	return l->next == l;
}

static inline void vsock_link_add_tail(struct vsock_link *head, struct vsock_link *l)
{
	l->prev = head->prev;
	l->next = head;
	head->prev->next = l;
	head->prev = l;
}

/* Unlink l if it is on a list; it becomes an empty list of its own. */
static inline void vsock_link_del(struct vsock_link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
	vsock_link_init(l);
}

#define vsock_conn_of(link, member) \
	((struct vsock_conn *)((char *)(link) - __builtin_offsetof(struct vsock_conn, member)))

/* A new connection, not in any table; fd is owned by it. NULL on ENOMEM. */
struct vsock_conn *vsock_conn_new(struct vsock *v, uint32_t local_port, uint32_t peer_port, int fd);
/* Free the buffer, close the fd; NULL-safe. Must be off every list and table. */
void vsock_conn_free(struct vsock_conn *c);

struct vsock_conn *vsock_conn_find(const struct vsock_conn_table *t, uint32_t local_port,
				   uint32_t peer_port);
void vsock_conn_insert(struct vsock_conn_table *t, struct vsock_conn *c);
void vsock_conn_unlink(struct vsock_conn_table *t, struct vsock_conn *c);

/* Bytes the guest can still take from us now (0 if its window is full or
 * its counters make no sense). */
uint32_t vsock_conn_peer_credit(const struct vsock_conn *c);

/* Append len payload bytes, starting off bytes into iov, to the buffer.
 * -ENOBUFS if they would not fit (the guest ignored its credit), -ENOMEM. */
int vsock_conn_buf_append(struct vsock_conn *c, const struct iovec *iov, int n, size_t off,
			  size_t len);
/* Write buffered bytes to the host socket. Returns the bytes written (0 if
 * the socket is full), or -errno when the socket is broken. */
ssize_t vsock_conn_buf_flush(struct vsock_conn *c);

#endif
