/* SPDX-License-Identifier: MIT */
/*
 * Inside lib/vici: the connection to charon (vici_conn.c: connecting, time
 * limits, raw I/O with its read-ahead) as the exchanges (vici_client.c) use it.
 */
#ifndef M2M_VICI_CONN_H
#define M2M_VICI_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <sys/un.h>

#include "vici/vici.h"

struct vici_conn {
	int fd;
	bool broken;       /* stream out of sync or closed: unusable */
	bool busy;         /* inside a call: callbacks must not re-enter */
	unsigned stale;    /* replies still owed for requests we gave up on */
	unsigned ahead;    /* registrations sent ahead: their answers come before any other */
	char ahead_name[4][64];
	bool end_wait;     /* an event callback has seen enough: stop waiting */
	volatile const int *cancel; /* set (from a signal handler): give up waiting */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	/*
	 * Read ahead: charon's events come in bursts of small packets (a log line
	 * each), taken in one recv() instead of two per packet. dry: the last
	 * recv() emptied the socket, so the next read waits in poll() first.
	 */
	size_t in_off, in_len;
	bool dry;
	uint8_t in[4096];
};

/* What failed, for the caller to turn into a message naming the operation. */
enum io_result { IO_OK, IO_ETIMEOUT, IO_EOF, IO_ESYS };

/*
 * Context of the operation in progress, for error messages: "initiate" or
 * "register control-log". timeout_ms is what the caller asked for.
 */
struct op {
	const char *what;
	int timeout_ms;
	int64_t deadline;
};

/* A deadline timeout_ms from now (< 0: none), and what is left of one as a poll() timeout. */
int64_t vc_deadline_of(int timeout_ms);
int vc_remaining(int64_t deadline);
/* All of iov, within deadline; *done: the bytes that went out. */
enum io_result vc_write_all(struct vici_conn *c, struct iovec *iov, int iovcnt, int64_t deadline,
			    size_t *done);
/* The failure r of op (e: its errno) into err; marks the stream broken where it is. */
int vc_io_fail(struct vici_conn *c, const struct op *op, enum io_result r, int e,
	       struct m2m_err *err);
/* One whole packet, malloc'd; a timeout before its first byte leaves the stream usable. */
int vc_recv_packet(struct vici_conn *c, const struct op *op, uint8_t **pkt, size_t *len,
		   struct m2m_err *err);
/* Wiped and freed (a packet may hold a secret). */
void vc_packet_free(uint8_t *pkt, size_t len);

#endif
