/* SPDX-License-Identifier: MIT */
/*
 * block1-push: the LwM2M server's side of a push (a Write of a Package, E.6) for
 * bench/update.sh: FILE PUT to PATH on the device in Block1 blocks (RFC 7959 2.5), as
 * fast as the protocol lets one sender go: each block a confirmable request (RFC 7252
 * 4.2), the next sent when the answer to this one came (2.31 Continue, RFC 7959 2.9.1:
 * one block in flight, as a transfer the server takes block by block requires).
 *
 *   block1-push [-z SZX] [-f CF] [-w TOKEN=VALUE] PORT CLIENT_PORT PATH FILE
 *
 * The device registered with the project's test server (tests/tools/lw-observer.py) on
 * 127.0.0.1:PORT and answers only that address, so this tool sends from it: a socket
 * bound to the same address (SO_REUSEADDR, which the test server also sets) and
 * connected to the device's 127.0.0.1:CLIENT_PORT. For as long as it lives the kernel
 * hands it every datagram the device sends to PORT (a connected socket is the closer
 * match), then they go to the test server again. Meanwhile a confirmable message of the
 * device that is not an answer to a block (a notification) is acknowledged here; a
 * request of the device (an Update) is left unanswered, and the device sends it again
 * to the test server later.
 *
 * -z SZX   the block size, 16 << SZX bytes (default 6: 1024)
 * -f CF    the Content-Format of the body (default none; LwM2M's opaque is 42)
 * -w T=V   after the last block's answer, wait for a notification with token T (hex)
 *          whose payload is V (e.g. the Firmware Update State 2, Downloaded)
 *
 * On success it prints one line of JSON on stdout: the last answer's code, the blocks,
 * the 2.31s and how many did not echo the block (RFC 7959 2.3), retransmissions, the
 * milliseconds from the first block sent to the last answer (ms) and to the awaited
 * notification (notify_ms), and this process's CPU time (cpu_ms). Exit 1 on any failure
 * (a message on stderr).
 *
 * Written for the bench: the former sender, the test server itself (Python), spent
 * 33 us of CPU a block, more than the device, and set the pace of the push.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* RFC 7252 4.8: the transmission parameters */
#define ACK_TIMEOUT_MS 2000
#define MAX_RETRANSMIT 4
#define NOTIFY_WAIT_MS 120000

enum { CON = 0, NON = 1, ACK = 2, RST = 3 };
#define CODE(c, d) ((c) << 5 | (d))

struct msg {
	int type, code, tkl;
	uint16_t mid;
	uint8_t token[8];
	int has_block1;
	uint32_t block1;
	const uint8_t *payload;
	size_t len;
};

static int sock = -1;

static void die(const char *what)
{
	fprintf(stderr, "block1-push: %s\n", what);
	exit(1);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* an option (RFC 7252 3.1) after the one numbered *last */
static uint8_t *put_opt(uint8_t *p, unsigned *last, unsigned num, const void *v, size_t len)
{
	unsigned d = num - *last;
	uint8_t *h = p++;

	*last = num;
	if (d < 13) {
		*h = (uint8_t)(d << 4);
	} else if (d < 269) {
		*h = 13 << 4;
		*p++ = (uint8_t)(d - 13);
	} else {
		*h = 14 << 4;
		*p++ = (uint8_t)((d - 269) >> 8);
		*p++ = (uint8_t)(d - 269);
	}
	if (len < 13) {
		*h |= (uint8_t)len;
	} else {
		*h |= 13;
		*p++ = (uint8_t)(len - 13); /* no option here is longer than 268 bytes */
	}
	memcpy(p, v, len);
	return p + len;
}

/* an unsigned option's value: the fewest bytes, none for 0 (RFC 7252 3.2) */
static size_t uint_val(uint8_t v[4], uint32_t x)
{
	size_t n = 0;
	int s;

	for (s = 24; s >= 0; s -= 8)
		if (n || x >> s & 0xff)
			v[n++] = (uint8_t)(x >> s);
	return n;
}

static int parse(const uint8_t *b, size_t n, struct msg *m)
{
	size_t i;
	unsigned num = 0;

	memset(m, 0, sizeof(*m));
	if (n < 4 || b[0] >> 6 != 1 || (b[0] & 15) > 8)
		return -1;
	m->type = b[0] >> 4 & 3;
	m->tkl = b[0] & 15;
	m->code = b[1];
	m->mid = (uint16_t)(b[2] << 8 | b[3]);
	if (4 + (size_t)m->tkl > n)
		return -1;
	memcpy(m->token, b + 4, (size_t)m->tkl);
	for (i = 4 + (size_t)m->tkl; i < n && b[i] != 0xff;) {
		unsigned d = b[i] >> 4, l = b[i] & 15, k;

		i++;
		if (d == 15 || l == 15)
			return -1;
		if (d == 13 && i < n)
			d = 13u + b[i++];
		else if (d == 14 && i + 1 < n)
			d = 269u + (unsigned)(b[i] << 8 | b[i + 1]), i += 2;
		if (l == 13 && i < n)
			l = 13u + b[i++];
		else if (l == 14 && i + 1 < n)
			l = 269u + (unsigned)(b[i] << 8 | b[i + 1]), i += 2;
		if (i + l > n)
			return -1;
		num += d;
		if (num == 27 && l <= 3) {
			m->has_block1 = 1;
			for (k = 0; k < l; k++)
				m->block1 = m->block1 << 8 | b[i + k];
		}
		i += l;
	}
	if (i < n) {
		m->payload = b + i + 1;
		m->len = n - i - 1;
	}
	return 0;
}

static void send_all(const void *p, size_t n)
{
	if (send(sock, p, n, 0) != (ssize_t)n)
		die(strerror(errno));
}

static void ack(uint16_t mid)
{
	uint8_t a[4] = { 0x40 | ACK << 4, 0, (uint8_t)(mid >> 8), (uint8_t)mid };

	send_all(a, sizeof(a));
}

static void set_wait(int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = ms % 1000 * 1000 };

	if (setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0)
		die(strerror(errno));
}

static int hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	       c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int main(int argc, char **argv)
{
	unsigned szx = 6, cf = 0, last;
	int has_cf = 0, c, wtkl = 0, timeout, tries;
	uint8_t wtok[8], tok[4], pkt[2048], rx[2048], v[4];
	const char *wval = NULL, *seg, *path;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct stat st;
	struct rusage ru;
	const uint8_t *body;
	uint64_t off = 0, blocks = 0, continues = 0, bad_b1 = 0, retrans = 0;
	uint16_t mid;
	double t0, t_end = 0, t_note = -1;
	int one = 1, fd, done = 0, final_code = 0, acked;

	while ((c = getopt(argc, argv, "z:f:w:")) != -1) {
		switch (c) {
		case 'z':
			szx = (unsigned)atoi(optarg);
			if (szx > 6)
				die("-z: 0 to 6 (16 to 1024 bytes)");
			break;
		case 'f':
			cf = (unsigned)atoi(optarg);
			has_cf = 1;
			break;
		case 'w': {
			const char *eq = strchr(optarg, '=');
			size_t h = eq ? (size_t)(eq - optarg) : 0;

			if (!eq || h % 2 || h > 16)
				die("-w: TOKEN=VALUE, the token in hex (at most 8 bytes)");
			for (wtkl = 0; (size_t)wtkl < h / 2; wtkl++) {
				int hi = hexval(optarg[2 * wtkl]), lo = hexval(optarg[2 * wtkl + 1]);

				if (hi < 0 || lo < 0)
					die("-w: the token in hex");
				wtok[wtkl] = (uint8_t)(hi << 4 | lo);
			}
			wval = eq + 1;
			break;
		}
		default:
			goto usage;
		}
	}
	if (argc - optind != 4) {
usage:
		fprintf(stderr, "usage: block1-push [-z SZX] [-f CF] [-w TOKEN=VALUE] PORT CLIENT_PORT PATH FILE\n");
		return 2;
	}
	path = argv[optind + 2];
	fd = open(argv[optind + 3], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0)
		die(strerror(errno));
	/* the file mapped, read a block at a time as it is sent (no copy in this process) */
	body = st.st_size ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0) : (void *)"";
	if (body == MAP_FAILED)
		die(strerror(errno));
	(void)madvise((void *)body, (size_t)st.st_size, MADV_SEQUENTIAL);

	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0 || setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
		die(strerror(errno));
	a.sin_port = htons((uint16_t)atoi(argv[optind]));
	if (bind(sock, (struct sockaddr *)&a, sizeof(a)) != 0)
		die("bind: the test server's socket must have SO_REUSEADDR set");
	a.sin_port = htons((uint16_t)atoi(argv[optind + 1]));
	if (connect(sock, (struct sockaddr *)&a, sizeof(a)) != 0)
		die(strerror(errno));

	srand((unsigned)getpid() ^ (unsigned)time(NULL));
	mid = (uint16_t)rand();
	for (c = 0; c < 4; c++)
		tok[c] = (uint8_t)rand();
	t0 = now_ms();
	while (!done) {
		size_t bsz = (size_t)16 << szx, n = (uint64_t)st.st_size - off < bsz ?
			     (size_t)((uint64_t)st.st_size - off) : bsz;
		uint32_t num = (uint32_t)(off >> (szx + 4));
		int more = off + n < (uint64_t)st.st_size;
		uint8_t *p = pkt;
		size_t len;

		/* the request: CON PUT, the token, Uri-Path, Content-Format, Block1, Size1;
		 * a token of its own (RFC 7252 5.3.1), so a late separate answer to a block
		 * before is not taken for this one's */
		mid++;
		for (c = 3; c >= 0 && ++tok[c] == 0; c--)
			;
		*p++ = 0x40 | CON << 4 | 4;
		*p++ = CODE(0, 3);
		*p++ = (uint8_t)(mid >> 8);
		*p++ = (uint8_t)mid;
		memcpy(p, tok, 4);
		p += 4;
		last = 0;
		for (seg = path; *seg;) {
			const char *e;

			while (*seg == '/')
				seg++;
			if (!*seg)
				break;
			e = strchr(seg, '/');
			e = e ? e : seg + strlen(seg);
			if (e - seg > 255)
				die("a path segment longer than 255 bytes");
			p = put_opt(p, &last, 11, seg, (size_t)(e - seg));
			seg = e;
		}
		if (has_cf)
			p = put_opt(p, &last, 12, v, uint_val(v, cf));
		p = put_opt(p, &last, 27, v, uint_val(v, num << 4 | (more ? 8u : 0) | szx));
		if (off == 0) /* RFC 7959 4: the size of the whole body, in the first block */
			p = put_opt(p, &last, 60, v, uint_val(v, (uint32_t)st.st_size));
		if (n) {
			*p++ = 0xff;
			memcpy(p, body + off, n);
			p += n;
		}
		len = (size_t)(p - pkt);
		blocks++;

		/* RFC 7252 4.2: sent again after ACK_TIMEOUT, doubled each time, at most
		 * MAX_RETRANSMIT times (the random factor left out: one sender, no crowd) */
		timeout = ACK_TIMEOUT_MS;
		tries = 0;
		acked = 0;
		set_wait(timeout);
		send_all(pkt, len);
		for (;;) {
			ssize_t r = recv(sock, rx, sizeof(rx), 0);
			struct msg m;

			if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				if (++tries > MAX_RETRANSMIT)
					die("no answer to a block (RFC 7252 MAX_RETRANSMIT)");
				if (acked)
					continue; /* received: the answer is waited for, not resent */
				retrans++;
				timeout *= 2;
				set_wait(timeout);
				send_all(pkt, len);
				continue;
			}
			if (r < 0)
				die(strerror(errno)); /* ECONNREFUSED: the device is gone */
			if (parse(rx, (size_t)r, &m) != 0)
				continue;
			if (m.type == RST && m.mid == mid)
				die("the device reset a block");
			if (m.type == ACK && m.mid == mid && m.code == 0) {
				acked = 1; /* an empty ACK: the answer comes separately */
				continue;
			}
			if (m.code >= CODE(2, 0) && m.tkl == 4 && memcmp(m.token, tok, 4) == 0 &&
			    (m.type == ACK ? m.mid == mid : 1)) {
				if (m.type == CON)
					ack(m.mid);
				/* a block taken (2.31; a server acting on each block may say
				 * 2.04, RFC 7959 2.5): the next one */
				if (m.code >> 5 == 2 && more) {
					unsigned rs = m.block1 & 7;

					continues += m.code == CODE(2, 31);
					if (!m.has_block1 || m.block1 >> 4 != num || !(m.block1 & 8))
						bad_b1++;
					off += n;
					/* RFC 7959 2.5: a smaller size the server prefers, from now
					 * on (the block number counts in it) */
					if (m.has_block1 && rs < szx)
						szx = rs;
				} else {
					final_code = m.code;
					done = 1;
				}
				break;
			}
			/* anything else the device sends meanwhile: a notification */
			if (wval && m.tkl == wtkl && memcmp(m.token, wtok, (size_t)wtkl) == 0 &&
			    m.len == strlen(wval) && memcmp(m.payload, wval, m.len) == 0 && t_note < 0)
				t_note = now_ms() - t0;
			if (m.type == CON && m.code >= CODE(2, 0))
				ack(m.mid);
		}
	}
	t_end = now_ms() - t0;
	if (final_code >> 5 != 2) {
		fprintf(stderr, "block1-push: the last answer was %d.%02d\n", final_code >> 5,
			final_code & 31);
		return 1;
	}
	set_wait(200);
	while (wval && t_note < 0 && now_ms() - t0 - t_end < NOTIFY_WAIT_MS) {
		ssize_t r = recv(sock, rx, sizeof(rx), 0);
		struct msg m;

		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			continue;
		if (r < 0)
			die(strerror(errno));
		if (parse(rx, (size_t)r, &m) != 0)
			continue;
		if (m.tkl == wtkl && memcmp(m.token, wtok, (size_t)wtkl) == 0 &&
		    m.len == strlen(wval) && memcmp(m.payload, wval, m.len) == 0)
			t_note = now_ms() - t0;
		if (m.type == CON && m.code >= CODE(2, 0))
			ack(m.mid);
	}
	if (wval && t_note < 0)
		die("the awaited notification never came");
	getrusage(RUSAGE_SELF, &ru);
	printf("{\"code\":\"%d.%02d\",\"blocks\":%llu,\"continues\":%llu,\"bad_b1\":%llu,"
	       "\"retransmits\":%llu,\"bytes\":%lld,\"ms\":%.3f,\"notify_ms\":%.3f,\"cpu_ms\":%.1f}\n",
	       final_code >> 5, final_code & 31, (unsigned long long)blocks,
	       (unsigned long long)continues, (unsigned long long)bad_b1,
	       (unsigned long long)retrans, (long long)st.st_size, t_end, t_note,
	       (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3);
	return 0;
}
