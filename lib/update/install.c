/* SPDX-License-Identifier: MIT */
/*
 * The installer interface: the lookup by the manifest's name, and the one way
 * the backends run a helper program (rauc, a vendor script): no shell, no
 * PATH search, nothing inherited but what is passed, bounded in time.
 */
#include "update/install.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"

const struct upd_installer_ops *upd_installer_find(const char *name)
{
	if (!name)
		return NULL;
	if (!strcmp(name, "rauc"))
		return &upd_installer_rauc;
	if (!strcmp(name, "script"))
		return &upd_installer_script;
	if (!strcmp(name, "config"))
		return &upd_installer_config;
	if (!strcmp(name, "trust"))
		return &upd_installer_trust;
	return NULL;
}

const char *upd_boot_status_name(enum upd_boot_status s)
{
	switch (s) {
	case UPD_BOOT_GOOD: return "good";
	case UPD_BOOT_BAD: return "bad";
	default: return "unknown";
	}
}

const struct upd_slot *upd_slot_find(const struct upd_slot_status *st, const char *bootname)
{
	size_t i;

	if (!bootname || !*bootname)
		return NULL;
	for (i = 0; i < st->n; i++)
		if (!strcmp(st->slot[i].bootname, bootname))
			return &st->slot[i];
	return NULL;
}

/* ---- running a helper ----------------------------------------------------------- */

/* src into dst (size bytes), cut to fit, always terminated */
static void cpy(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memmove(dst, src, n);
	dst[n] = '\0';
}

struct linebuf {
	int fd;                     /* our end of the pipe, -1 once closed */
	size_t len;
	char buf[1024];
};

static void emit(struct upd_spawn *r, int which, struct linebuf *lb)
{
	char *s = lb->buf;
	size_t n = lb->len;

	while (n && (s[n - 1] == '\r' || s[n - 1] == '\n'))
		n--;
	s[n] = '\0';
	lb->len = 0;
	if (r->on_line)
		r->on_line(r->line_ctx, which, s);
	if (which == 2) {
		const char *p = s;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p)
			cpy(r->last_err, sizeof(r->last_err), p);
	}
}

/* Read what is there; false once the pipe is closed. */
static bool drain(struct upd_spawn *r, int which, struct linebuf *lb)
{
	char tmp[4096];
	ssize_t k, i;

	for (;;) {
		k = read(lb->fd, tmp, sizeof(tmp));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (k <= 0) {
			if (lb->len)
				emit(r, which, lb);
			close(lb->fd);
			lb->fd = -1;
			return false;
		}
		for (i = 0; i < k; i++) {
			lb->buf[lb->len++] = tmp[i];
			/* an overlong line is cut into pieces rather than held */
			if (tmp[i] == '\n' || lb->len == sizeof(lb->buf) - 1)
				emit(r, which, lb);
		}
	}
}

static int spawn(struct upd_spawn *r, int out[2], int errp[2], pid_t *pid, struct m2m_err *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t all, none;
	int e;

	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawn_file_actions_addchdir_np(&fa, "/");
	sigfillset(&all);
	sigemptyset(&none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
					      POSIX_SPAWN_SETSIGMASK);
	e = posix_spawn(pid, r->argv[0], &fa, &at, (char *const *)r->argv, (char *const *)r->envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (e == ENOENT)
		return m2m_err_set(err, M2M_ERR_NOT_FOUND, "%s: no such program", r->argv[0]);
	if (e)
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s: cannot run it: %s", r->argv[0], strerror(e));
	return M2M_OK;
}

int upd_spawn(struct upd_spawn *r, struct m2m_err *err)
{
	int out[2] = { -1, -1 }, errp[2] = { -1, -1 }, rc, st = 0;
	struct linebuf lb[2];
	uint64_t deadline, now, exited_at = 0, kill_at = 0;
	bool exited = false, termed = false, killed = false;
	pid_t pid = -1, w;
	int i;

	r->status = 0;
	r->timed_out = false;
	r->last_err[0] = '\0';
	if (!r->argv || !r->argv[0] || r->argv[0][0] != '/')
		return m2m_err_set(err, M2M_ERR_FAILURE, "run: the program must be an absolute path");
	if (pipe2(out, O_CLOEXEC) || pipe2(errp, O_CLOEXEC)) {
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "run %s: pipe: %s", r->argv[0], strerror(errno));
		goto fail;
	}
	rc = spawn(r, out, errp, &pid, err);
	if (rc)
		goto fail;
	close(out[1]);
	close(errp[1]);
	lb[0].fd = out[0];
	lb[1].fd = errp[0];
	lb[0].len = lb[1].len = 0;
	for (i = 0; i < 2; i++)
		fcntl(lb[i].fd, F_SETFL, fcntl(lb[i].fd, F_GETFL) | O_NONBLOCK);

	deadline = m2m_now_ms() + (r->timeout_ms ? r->timeout_ms : UPD_INSTALL_TIMEOUT_DEFAULT_MS);
	for (;;) {
		struct pollfd pfd[2];
		nfds_t n = 0;
		int wait_ms = 100;

		if (!exited) {
			w = waitpid(pid, &st, WNOHANG);
			if (w == pid || (w < 0 && errno == ECHILD)) {
				exited = true;
				exited_at = m2m_now_ms();
				r->status = st;
			}
		}
		now = m2m_now_ms();
		if (exited && lb[0].fd < 0 && lb[1].fd < 0)
			break;
		/* a helper's own child may keep the pipes open: not waited for long */
		if (exited && now >= exited_at + 500)
			break;
		if (!termed && now >= deadline) {
			r->timed_out = true;
			termed = true;
			kill(-pid, SIGTERM);
			kill_at = now + UPD_KILL_GRACE_MS;
		}
		if (termed && !killed && now >= kill_at) {
			killed = true;
			kill(-pid, SIGKILL);
			if (!exited) {
				while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
					;
				exited = true;
				exited_at = m2m_now_ms();
				r->status = st;
			}
		}
		for (i = 0; i < 2; i++)
			if (lb[i].fd >= 0) {
				pfd[n].fd = lb[i].fd;
				pfd[n].events = POLLIN;
				pfd[n].revents = 0;
				n++;
			}
		if (!n)
			wait_ms = 10;
		if (!termed && deadline - now < (uint64_t)wait_ms)
			wait_ms = (int)(deadline - now) + 1;
		if (poll(pfd, n, wait_ms) > 0)
			for (i = 0; i < 2; i++)
				if (lb[i].fd >= 0)
					drain(r, i + 1, &lb[i]);
	}
	for (i = 0; i < 2; i++)
		if (lb[i].fd >= 0) {
			drain(r, i + 1, &lb[i]);
			if (lb[i].fd >= 0) {
				if (lb[i].len)
					emit(r, i + 1, &lb[i]);
				close(lb[i].fd);
			}
		}
	return M2M_OK;

fail:
	for (i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	return rc;
}
