/* SPDX-License-Identifier: MIT */
/*
 * Secrets (PINs, passphrases) come from a file only its owner can read, an
 * inherited file descriptor, a systemd credential or the terminal. Never from
 * argv or the environment, where other users and crash dumps see them.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"

#define SECRET_MAX 1024

static int alloc_secret(struct m2m_secret *s, struct m2m_err *err)
{
	s->buf = calloc(1, SECRET_MAX + 1);
	s->len = 0;
	if (!s->buf)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	/* keep it out of swap; failure (RLIMIT_MEMLOCK) is not fatal */
	mlock(s->buf, SECRET_MAX + 1);
	return M2M_OK;
}

void m2m_secret_wipe(struct m2m_secret *s)
{
	if (!s || !s->buf)
		return;
	explicit_bzero(s->buf, SECRET_MAX + 1);
	munlock(s->buf, SECRET_MAX + 1);
	free(s->buf);
	s->buf = NULL;
	s->len = 0;
}

/* Read everything from fd into s (at most SECRET_MAX), strip one trailing newline. */
static int read_fd(int fd, struct m2m_secret *s, const char *what, const char *src,
		   struct m2m_err *err)
{
	for (;;) {
		ssize_t n = read(fd, s->buf + s->len, SECRET_MAX - s->len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return m2m_err_set(err, M2M_ERR_CREDENTIAL, "%s: reading %s: %s", what, src,
					   strerror(errno));
		if (n == 0)
			break;
		s->len += (size_t)n;
		if (s->len == SECRET_MAX)
			return m2m_err_set(err, M2M_ERR_CREDENTIAL, "%s: %s is longer than %d bytes",
					   what, src, SECRET_MAX);
	}
	if (s->len > 0 && s->buf[s->len - 1] == '\n')
		s->len--;
	if (s->len > 0 && s->buf[s->len - 1] == '\r')
		s->len--;
	s->buf[s->len] = '\0';
	return M2M_OK;
}

/*
 * An inherited descriptor can be read to its end only once, but a long-running
 * process (watch) may need the secret again, e.g. after charon restarted. So
 * what came through it is kept, in locked memory, for the life of the process.
 */
static struct {
	int fd;
	struct m2m_secret s;
} fd_cache[4];
static size_t fd_cached;

static int read_fd_once(int fd, struct m2m_secret *out, const char *what, struct m2m_err *err)
{
	struct stat st;
	int rc;

	for (size_t i = 0; i < fd_cached; i++) {
		if (fd_cache[i].fd != fd)
			continue;
		memcpy(out->buf, fd_cache[i].s.buf, fd_cache[i].s.len + 1);
		out->len = fd_cache[i].s.len;
		return M2M_OK;
	}
	if (fd < 0 || fstat(fd, &st) < 0)
		return m2m_err_set(err, M2M_ERR_CREDENTIAL, "%s: file descriptor %d is not open", what,
				   fd);
	rc = read_fd(fd, out, what, "the file descriptor", err);
	if (rc == M2M_OK && fd_cached < sizeof(fd_cache) / sizeof(fd_cache[0]) &&
	    alloc_secret(&fd_cache[fd_cached].s, NULL) == M2M_OK) {
		memcpy(fd_cache[fd_cached].s.buf, out->buf, out->len + 1);
		fd_cache[fd_cached].s.len = out->len;
		fd_cache[fd_cached].fd = fd;
		fd_cached++;
		close(fd); /* nothing more will come through it */
	}
	return rc;
}

const char *m2m_credential_name_invalid(const char *s)
{
	if (!s || !*s)
		return "empty";
	if (strchr(s, '/') || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return "not a file name";
	if (strlen(s) > 255)
		return "longer than 255 bytes";
	return NULL;
}

int m2m_check_private(int fd, const char *path, const char *what, struct m2m_err *err)
{
	struct stat st;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return m2m_err_set(err, M2M_ERR_CREDENTIAL, "%s: %s is not a regular file", what,
				   path);
	if (st.st_mode & 0077)
		return m2m_err_set(err, M2M_ERR_CREDENTIAL,
				   "%s: refusing %s, readable by %s (mode %04o); chmod 600 it",
				   what, path, st.st_mode & 0007 ? "others" : "its group",
				   (unsigned)(st.st_mode & 07777));
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return m2m_err_set(err, M2M_ERR_CREDENTIAL,
				   "%s: refusing %s, owned by another user (uid %u)", what, path,
				   (unsigned)st.st_uid);
	return M2M_OK;
}

static int read_private_file(const char *path, struct m2m_secret *s, const char *what,
			     struct m2m_err *err)
{
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return m2m_err_set(err, M2M_ERR_CREDENTIAL, "%s: %s: %s", what, path, strerror(errno));
	rc = m2m_check_private(fd, path, what, err);
	if (rc) {
		close(fd);
		return rc;
	}
	rc = read_fd(fd, s, what, path, err);
	close(fd);
	return rc;
}

static m2m_prompt_fn prompt_fn;
static void *prompt_ctx;

void m2m_set_prompt(m2m_prompt_fn fn, void *ctx)
{
	prompt_fn = fn;
	prompt_ctx = ctx;
}

static int read_prompt(struct m2m_secret *s, const char *what, struct m2m_err *err)
{
	int rc;

	if (!prompt_fn)
		return m2m_err_set(err, M2M_ERR_CREDENTIAL,
				   "%s: needed, but nobody to ask (use pin.file, pin.fd or pin.credential)",
				   what);
	rc = prompt_fn(prompt_ctx, what, s->buf, SECRET_MAX + 1, err);
	/* whatever the prompt did, the secret ends inside its buffer */
	s->buf[SECRET_MAX] = '\0';
	s->len = strlen(s->buf);
	return rc;
}

int m2m_secret_read(const struct m2m_secret_ref *ref, const char *what, struct m2m_secret *out,
		    struct m2m_err *err)
{
	char path[PATH_MAX];
	const char *dir;
	int rc;

	rc = alloc_secret(out, err);
	if (rc)
		return rc;
	switch (ref->source) {
	case M2M_SECRET_NONE:
		rc = M2M_OK;
		break;
	case M2M_SECRET_FILE:
		rc = read_private_file(ref->path, out, what, err);
		break;
	case M2M_SECRET_FD:
		rc = read_fd_once(ref->fd, out, what, err);
		break;
	case M2M_SECRET_CREDENTIAL:
		/* a name, never a path out of the directory ("../x"), whoever gave it */
		if (m2m_credential_name_invalid(ref->path)) {
			rc = m2m_err_set(err, M2M_ERR_CREDENTIAL, "%s: '%s' is not a credential name (%s)",
					 what, ref->path, m2m_credential_name_invalid(ref->path));
			break;
		}
		dir = getenv("CREDENTIALS_DIRECTORY");
		if (!dir || !*dir) {
			rc = m2m_err_set(err, M2M_ERR_CREDENTIAL,
					 "%s: systemd credential '%s' wanted, but CREDENTIALS_DIRECTORY is not set",
					 what, ref->path);
			break;
		}
		if (snprintf(path, sizeof(path), "%s/%s", dir, ref->path) >= (int)sizeof(path)) {
			rc = m2m_err_set(err, M2M_ERR_CREDENTIAL, "%s: credential path too long", what);
			break;
		}
		rc = read_private_file(path, out, what, err);
		break;
	case M2M_SECRET_PROMPT:
		rc = read_prompt(out, what, err);
		break;
	default:
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "%s: unknown secret source", what);
	}
	if (rc)
		m2m_secret_wipe(out);
	return rc;
}
