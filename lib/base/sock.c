/* SPDX-License-Identifier: MIT */
/*
 * Sockets under one deadline: waiting for a descriptor and connecting, in
 * slices short enough that a stop flag is seen within 100 ms. For the
 * clients that speak to a peer of their own (the CA's CMP server, gpsd).
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/base.h"

#define SLICE_MS 100

int m2m_wait_fd(int fd, short events, uint64_t end_ms, volatile const int *stop)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		uint64_t now = m2m_now_ms();
		int n;

		if ((stop && *stop) || now >= end_ms)
			return 0;
		n = poll(&pfd, 1, (int)(end_ms - now < SLICE_MS ? end_ms - now : SLICE_MS));
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return 1; /* the next read or write says what is wrong */
	}
}

int m2m_connect_any(const struct addrinfo *res, uint64_t end_ms, volatile const int *stop, int *why)
{
	int fd = -1, last = 0;

	for (const struct addrinfo *a = res; a; a = a->ai_next) {
		socklen_t sl = sizeof(last);

		fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0) {
			last = errno;
			continue;
		}
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			return fd;
		last = errno;
		if (last == EINPROGRESS) {
			if (!m2m_wait_fd(fd, POLLOUT, end_ms, stop)) {
				close(fd);
				*why = 0;
				return -1;
			}
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &last, &sl) == 0 && last == 0)
				return fd;
		}
		close(fd);
	}
	*why = last ? last : ECONNREFUSED;
	return -1;
}
