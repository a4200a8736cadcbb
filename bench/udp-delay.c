/* SPDX-License-Identifier: MIT */
/*
 * udp-delay: a UDP relay that adds delay (this kernel has no netem). Datagrams to
 * 127.0.0.1:LISTEN go to 127.0.0.1:TARGET and the answers come back, each way held
 * RTT/2 ms, so a round trip through it takes RTT ms more. One upstream socket per
 * client address, so the server can send requests back (LwM2M does).
 *
 *   udp-delay [-v] LISTEN TARGET RTT_MS
 *
 * Prints "relay LISTEN -> TARGET rtt RTT" on stdout once it listens. On SIGTERM or
 * SIGINT it prints, on stderr, how late it sent against the due times (the error it
 * adds on top of RTT/2 each way); -v also logs every datagram there.
 *
 * Why not the former Python relay (bench/udp-delay.py): asyncio's timers wait in whole
 * milliseconds of epoll and a new client's upstream socket was opened through the event
 * loop. A UDP echo over loopback (0.04 ms alone, a new client socket each time) took, as
 * medians of 100, 0.4-1.1 ms through it at 0 ms added and 21.6-22.0 ms at 20 ms; through
 * this one 0.1 ms and 20.4-20.6 ms, the relay sending 4 us after the due time on average.
 *
 * A datagram's due time counts from the kernel's receive time stamp (SO_TIMESTAMPNS),
 * not from when the relay woke up to read it. The relay sleeps in ppoll() until shortly
 * before the next due time and polls for the rest, because waking from a sleep took
 * 100-200 us on this VM. All datagrams share one queue: the delay is the same both ways,
 * so due times are in arrival order and nothing is reordered.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 256		/* the oldest client is forgotten after that */
#define MAX_QUEUE 4096		/* datagrams in flight; more are dropped, as a link would */
#define MAX_DGRAM 65536
#define SPIN_NS 400000		/* the last stretch before a due time is polled, not slept */

struct client {
	struct sockaddr_in addr;
	int up;			/* connected to the target */
};

struct pending {
	int64_t due_ns;
	int client;		/* index into clients[] */
	int to_client;		/* direction */
	size_t len;
	unsigned char *data;
};

static struct client clients[MAX_CLIENTS];
static int nclients, oldest;
static struct pending queue[MAX_QUEUE];
static unsigned qhead, qlen;
static volatile sig_atomic_t stop;
static int verbose;
static int64_t t_start, late_max, late_sum;
static unsigned long nsent, ndropped;

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void on_signal(int sig)
{
	stop = 1;
}

static int udp_socket(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) < 0) {
		perror("udp-delay: socket");
		exit(1);
	}
	return fd;
}

/*
 * One datagram and the monotonic time the kernel received it (the stamp is
 * CLOCK_REALTIME: shifted by the current offset between the clocks). -1 when none.
 */
static ssize_t recv_stamped(int fd, void *buf, size_t size, struct sockaddr_in *from,
			    int64_t *at)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct timespec))];
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = size };
	struct msghdr m = { .msg_name = from, .msg_namelen = from ? sizeof(*from) : 0,
			    .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *c;
	ssize_t len = recvmsg(fd, &m, 0);

	if (len < 0)
		return -1;
	*at = now_ns();
	for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
			struct timespec rx, real;
			int64_t age;

			memcpy(&rx, CMSG_DATA(c), sizeof(rx));
			clock_gettime(CLOCK_REALTIME, &real);
			age = ((int64_t)real.tv_sec - rx.tv_sec) * 1000000000 +
			      (real.tv_nsec - rx.tv_nsec);
			if (age > 0 && age < 1000000000)
				*at -= age;
		}
	return len;
}

static struct sockaddr_in loopback(unsigned port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static int client_for(const struct sockaddr_in *from, const struct sockaddr_in *target)
{
	int i;

	for (i = 0; i < nclients; i++)
		if (clients[i].addr.sin_port == from->sin_port &&
		    clients[i].addr.sin_addr.s_addr == from->sin_addr.s_addr)
			return i;
	if (nclients < MAX_CLIENTS) {
		i = nclients++;
	} else {
		/* datagrams still queued for this slot would go to the newcomer: drop them */
		i = oldest;
		oldest = (oldest + 1) % MAX_CLIENTS;
		for (unsigned k = 0; k < qlen; k++)
			if (queue[(qhead + k) % MAX_QUEUE].client == i)
				queue[(qhead + k) % MAX_QUEUE].len = SIZE_MAX;
		close(clients[i].up);
	}
	clients[i].addr = *from;
	clients[i].up = udp_socket();
	if (connect(clients[i].up, (const struct sockaddr *)target, sizeof(*target)) < 0) {
		perror("udp-delay: connect");
		exit(1);
	}
	return i;
}

static void enqueue(int client, int to_client, const unsigned char *buf, size_t len,
		    int64_t due)
{
	struct pending *p;

	if (qlen == MAX_QUEUE) {
		ndropped++;
		return;
	}
	p = &queue[(qhead + qlen++) % MAX_QUEUE];
	p->due_ns = due;
	p->client = client;
	p->to_client = to_client;
	p->len = len;
	p->data = malloc(len ? len : 1);
	if (!p->data) {
		perror("udp-delay: malloc");
		exit(1);
	}
	memcpy(p->data, buf, len);
}

static void send_due(int front)
{
	int64_t now = now_ns();

	while (qlen && queue[qhead].due_ns <= now) {
		struct pending *p = &queue[qhead];
		struct client *c = &clients[p->client];

		if (p->len != SIZE_MAX) {
			/* late = when the send starts: what the loopback send itself costs is
			 * the same at any RTT, and the bench's 0 ms reference holds it */
			int64_t late = now_ns() - p->due_ns;

			if (p->to_client)
				sendto(front, p->data, p->len, 0, (const struct sockaddr *)&c->addr,
				       sizeof(c->addr));
			else
				send(c->up, p->data, p->len, 0);
			now = now_ns();
			if (late > late_max)
				late_max = late;
			late_sum += late;
			nsent++;
			if (verbose)
				fprintf(stderr, "%.6f %s %u %zu bytes, %.1f us late\n",
					(now - t_start) / 1e9, p->to_client ? "<-" : "->",
					ntohs(c->addr.sin_port), p->len, late / 1e3);
		}
		free(p->data);
		qhead = (qhead + 1) % MAX_QUEUE;
		qlen--;
	}
}

int main(int argc, char **argv)
{
	static unsigned char buf[MAX_DGRAM];
	struct pollfd fds[1 + MAX_CLIENTS];
	struct sockaddr_in listen_addr, target;
	struct sigaction sa = { .sa_handler = on_signal };
	int64_t half;
	int front, a = 1;
	double rtt;

	if (argc > 1 && !strcmp(argv[1], "-v")) {
		verbose = 1;
		a = 2;
	}
	if (argc - a != 3) {
		fprintf(stderr, "usage: udp-delay [-v] LISTEN TARGET RTT_MS\n");
		return 2;
	}
	listen_addr = loopback((unsigned)atoi(argv[a]));
	target = loopback((unsigned)atoi(argv[a + 1]));
	rtt = atof(argv[a + 2]);
	half = (int64_t)(rtt * 1e6 / 2);

	/*
	 * The default 50 us slack would be added to every wake-up; and when the tool under
	 * test starts on a busy CPU, a normal-priority relay can wait a few ms for its turn
	 * (measured: up to 2.4 ms on 2 vCPUs). A real-time priority, when allowed, fixes that;
	 * the relay runs only a few us per datagram plus at most SPIN_NS of polling.
	 */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	{
		struct sched_param sp = { .sched_priority = 10 };

		if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0 && verbose)
			perror("udp-delay: SCHED_FIFO (going on without)");
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	front = udp_socket();
	if (bind(front, (const struct sockaddr *)&listen_addr, sizeof(listen_addr)) < 0) {
		perror("udp-delay: bind");
		return 1;
	}
	t_start = now_ns();
	printf("relay %s -> %s rtt %s\n", argv[a], argv[a + 1], argv[a + 2]);
	fflush(stdout);

	while (!stop) {
		struct timespec ts, *tp = NULL;
		int n, i;

		if (qlen) {
			int64_t wait = queue[qhead].due_ns - now_ns() - SPIN_NS;

			if (wait < 0)
				wait = 0;
			ts.tv_sec = wait / 1000000000;
			ts.tv_nsec = wait % 1000000000;
			tp = &ts;
		}
		fds[0] = (struct pollfd){ .fd = front, .events = POLLIN };
		for (i = 0; i < nclients; i++)
			fds[1 + i] = (struct pollfd){ .fd = clients[i].up, .events = POLLIN };
		n = ppoll(fds, 1 + nclients, tp, NULL);
		if (n < 0 && errno != EINTR) {
			perror("udp-delay: ppoll");
			return 1;
		}
		if (n > 0) {
			/* read everything waiting, each datagram stamped as it is read */
			int clients_before = nclients;

			for (;;) {
				struct sockaddr_in from;
				int64_t at;
				ssize_t len = recv_stamped(front, buf, sizeof(buf), &from, &at);

				if (len < 0)
					break;
				enqueue(client_for(&from, &target), 0, buf, (size_t)len, at + half);
			}
			for (i = 0; i < clients_before; i++) {
				int64_t at;
				ssize_t len;

				/* POLLERR too: recv() clears a pending ICMP error, else ppoll spins */
				if (!(fds[1 + i].revents & (POLLIN | POLLERR)))
					continue;
				while ((len = recv_stamped(clients[i].up, buf, sizeof(buf), NULL,
							   &at)) >= 0)
					enqueue(i, 1, buf, (size_t)len, at + half);
			}
		}
		send_due(front);
	}
	fprintf(stderr, "udp-delay: %lu datagrams, late by %.1f us on average, %.1f us at most%s\n",
		nsent, nsent ? late_sum / 1e3 / nsent : 0.0, late_max / 1e3,
		ndropped ? " (some dropped: queue full)" : "");
	return 0;
}
