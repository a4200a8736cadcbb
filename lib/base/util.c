/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"

uint64_t m2m_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int64_t m2m_unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool m2m_sleep_ms(unsigned ms, volatile const int *stop)
{
	uint64_t end = m2m_now_ms() + ms;

	/* short slices so a signal-set stop flag is seen quickly */
	for (;;) {
		uint64_t now = m2m_now_ms();
		struct timespec ts;
		unsigned slice;

		if (stop && *stop)
			return false;
		if (now >= end)
			return true;
		slice = end - now > 100 ? 100 : (unsigned)(end - now);
		ts.tv_sec = 0;
		ts.tv_nsec = (long)slice * 1000000;
		nanosleep(&ts, NULL);
	}
}

int m2m_mkdir_private(const char *dir, struct m2m_err *err)
{
	char tmp[PATH_MAX];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(tmp))
		return m2m_err_set(err, M2M_ERR_CONFIG, "%s: invalid directory", dir);
	memcpy(tmp, dir, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return m2m_err_set(err, M2M_ERR_FAILURE, "%s: %s", tmp, strerror(errno));
		*p = '/';
	}
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s: %s", tmp, strerror(errno));
	return M2M_OK;
}

int m2m_sync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, rc;

	if (!slash) {
		strcpy(dir, ".");
	} else if (slash == path) {
		strcpy(dir, "/");
	} else {
		if ((size_t)(slash - path) >= sizeof(dir))
			return -1;
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* a full disk or quota is STORAGE, as lib/state says it; anything else a failure */
static int io_rc(int e)
{
	return e == ENOSPC || e == EDQUOT ? M2M_ERR_STORAGE : M2M_ERR_FAILURE;
}

int m2m_write_atomic(const char *path, const void *data, size_t len, unsigned mode,
		     struct m2m_err *err)
{
	char tmp[PATH_MAX];
	const char *p = data;
	int fd;

	/* the thread's id: unique among live threads, so two threads never share it (state.c) */
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)gettid()) >= (int)sizeof(tmp))
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s: path too long", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return m2m_err_set(err, io_rc(errno), "%s: %s", tmp, strerror(errno));
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			close(fd);
			unlink(tmp);
			return m2m_err_set(err, io_rc(e), "%s: %s", tmp, strerror(e));
		}
		p += n;
		len -= (size_t)n;
	}
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0 || close(fd) < 0) {
		int e = errno;

		unlink(tmp);
		return m2m_err_set(err, io_rc(e), "%s: %s", tmp, strerror(e));
	}
	if (rename(tmp, path) < 0) {
		int e = errno;

		unlink(tmp);
		return m2m_err_set(err, io_rc(e), "%s: %s", path, strerror(e));
	}
	m2m_sync_dir_of(path);
	return M2M_OK;
}

int m2m_rename_durable(const char *from, const char *to, struct m2m_err *err)
{
	if (rename(from, to) < 0)
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s: %s", to, strerror(errno));
	m2m_sync_dir_of(to);
	return M2M_OK;
}

int m2m_read_fd(int fd, const char *name, size_t max, char **out, size_t *lenp,
		struct m2m_err *err)
{
	size_t len = 0, cap = max < 4096 ? max : 4096;
	char *buf = malloc(cap + 1);

	if (!buf)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *nb;

			if (cap >= max) {
				char probe;

				/* exactly max bytes is allowed: only one more is too many */
				do
					n = read(fd, &probe, 1);
				while (n < 0 && errno == EINTR);
				if (n == 0)
					break;
				free(buf);
				return m2m_err_set(err, M2M_ERR_FAILURE, "%s: larger than %zu bytes",
						   name, max);
			}
			cap = cap * 2 > max ? max : cap * 2;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				free(buf);
				return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			free(buf);
			return m2m_err_set(err, M2M_ERR_FAILURE, "%s: %s", name, strerror(e));
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*out = buf;
	if (lenp)
		*lenp = len;
	return M2M_OK;
}

int m2m_read_file(const char *path, size_t max, char **out, size_t *lenp, struct m2m_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return m2m_err_set(err, errno == ENOENT ? M2M_ERR_NOT_FOUND : M2M_ERR_FAILURE,
				   "%s: %s", path, strerror(errno));
	rc = m2m_read_fd(fd, path, max, out, lenp, err);
	close(fd);
	return rc;
}

int m2m_lock(const char *path, unsigned wait_ms, int *fdp, struct m2m_err *err)
{
	uint64_t end = m2m_now_ms() + wait_ms;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0)
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s: %s", path, strerror(errno));
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			break;
		if (errno != EWOULDBLOCK && errno != EINTR) {
			int e = errno;

			close(fd);
			return m2m_err_set(err, M2M_ERR_FAILURE, "%s: %s", path, strerror(e));
		}
		if (m2m_now_ms() >= end) {
			close(fd);
			return m2m_err_set(err, M2M_ERR_BUSY, "%s: held by another process", path);
		}
		m2m_sleep_ms(20, NULL);
	}
	*fdp = fd;
	return M2M_OK;
}

void m2m_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

void m2m_who(char *out, size_t len)
{
	const char *sudo_uid = getenv("SUDO_UID"), *sudo_user = getenv("SUDO_USER");
	unsigned uid = (unsigned)getuid();
	size_t n;

	snprintf(out, len, "uid %u", uid);
	if (uid != 0 || !sudo_uid || !*sudo_uid || strspn(sudo_uid, "0123456789") != strlen(sudo_uid) ||
	    strlen(sudo_uid) > 10)
		return;
	n = strlen(out);
	/* a login name as useradd(8) takes it; anything else is not said */
	if (sudo_user && *sudo_user && strlen(sudo_user) <= 32 &&
	    strspn(sudo_user, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
		    strlen(sudo_user))
		snprintf(out + n, len - n, " (sudo from uid %s %s)", sudo_uid, sudo_user);
	else
		snprintf(out + n, len - n, " (sudo from uid %s)", sudo_uid);
}

uint32_t m2m_random_below(uint32_t n)
{
	uint32_t r, limit;

	if (n <= 1)
		return 0;
	/* reject the top sliver so every value is equally likely */
	limit = UINT32_MAX - UINT32_MAX % n;
	do {
		/* never block at early boot; never fall back to the same sequence on every device */
		if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r)) {
			static uint64_t x;

			if (!x)
				x = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL) ^ m2m_now_ms() ^
				    (uintptr_t)&x;
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			r = (uint32_t)(x >> 16);
		}
	} while (r >= limit);
	return r % n;
}

const char *m2m_parse_duration(const char *s, unsigned *ms)
{
	static const struct {
		const char *name;
		uint64_t ms;
	} units[] = {
		{ "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
	};
	/* integer arithmetic: 2.5s is 2500 ms exactly, not what a double makes of it */
	uint64_t whole = 0, frac = 0, scale = 1, v;
	bool big = false, digits = false;
	const char *p = s;

	for (; *p >= '0' && *p <= '9'; p++, digits = true) {
		whole = whole * 10 + (uint64_t)(*p - '0');
		if (whole > M2M_MAX_DURATION_MS) {
			big = true;
			whole = M2M_MAX_DURATION_MS + 1;
		}
	}
	if (*p == '.') {
		if (!(p[1] >= '0' && p[1] <= '9'))
			return "not a number";
		/* digits past the ninth cannot move the result by a millisecond */
		for (p++; *p >= '0' && *p <= '9'; p++, digits = true) {
			if (scale < 1000000000u) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				scale *= 10;
			}
		}
	}
	if (!digits)
		return "not a number";
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(p, units[i].name) != 0)
			continue;
		if (big)
			return "longer than 24h";
		v = whole * units[i].ms + (frac * units[i].ms + scale / 2) / scale;
		if (v > M2M_MAX_DURATION_MS)
			return "longer than 24h";
		*ms = (unsigned)v;
		return NULL;
	}
	return "unknown unit";
}

unsigned m2m_backoff_ms(const struct m2m_backoff *b, unsigned n)
{
	uint64_t d = b->min_ms ? b->min_ms : 1000;
	uint64_t max = b->max_ms >= d ? b->max_ms : d;

	while (n-- > 0 && d < max)
		d *= 2;
	if (d > max)
		d = max;
	/* keep 75..100 % of the delay */
	return (unsigned)(d - m2m_random_below((uint32_t)(d / 4 + 1)));
}

void m2m_hex(const uint8_t *p, size_t len, char *out, size_t outlen)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len && 2 * i + 2 < outlen; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	if (outlen)
		out[2 * i < outlen ? 2 * i : outlen - 1] = '\0';
}

static int nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool m2m_unhex(const char *s, uint8_t *out, size_t max, size_t *len)
{
	size_t n = s ? strlen(s) : 1;

	if (n % 2 || n / 2 > max)
		return false;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = nibble(s[2 * i]), lo = nibble(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	*len = n / 2;
	return true;
}

/*
 * tpm2-tss turns a TCTI string into a library to load and a device to open,
 * as root: only the known TCTIs, and "device" only for a TPM device node,
 * whatever a config or a key file says.
 */
bool m2m_tcti_allowed(const char *conf)
{
	static const char *const names[] = { "device", "tabrmd", "mssim", "swtpm" };
	size_t n = strcspn(conf, ":");
	const char *opts = conf[n] ? conf + n + 1 : "";

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i]) != n || strncmp(conf, names[i], n) != 0)
			continue;
		if (i == 0)
			return !*opts || (strncmp(opts, "/dev/tpm", 8) == 0 && !strstr(opts, ".."));
		return true;
	}
	return false;
}

bool m2m_time_utc(int64_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	char b[32];
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%SZ", &tm) ||
	    strlen(b) >= len)
		return false;
	memcpy(out, b, strlen(b) + 1);
	return true;
}

void m2m_sbuf_printf(struct m2m_sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if (b->s && (size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t ncap = (b->cap ? b->cap : 512) * 2 + (size_t)n;
		char *ns = realloc(b->s, ncap);

		if (!ns) {
			b->oom = true;
			return;
		}
		b->s = ns;
		b->cap = ncap;
	}
}

char *m2m_printable(char *dst, size_t len, const char *src, size_t n)
{
	size_t i = 0;

	if (!len)
		return dst;
	for (; src && i < n && src[i] && i + 1 < len; i++)
		dst[i] = (unsigned char)src[i] < 0x20 || (unsigned char)src[i] > 0x7e ? '?' : src[i];
	dst[i] = '\0';
	return dst;
}
