/* SPDX-License-Identifier: MIT */
/*
 * The installer interface: the lookup by the manifest's name, and the one way
 * the backends run a helper program (rauc, a vendor script): no shell, no
 * PATH search, nothing inherited but what is passed, bounded in time.
 */
#include "update/install.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
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
	int fd;                     /* our end of the pipe (or the file), -1 once closed */
	bool file;                  /* fd is an output file: read at off, never at its end */
	uint64_t off;
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

/* What a file holds of it is read: the disk it takes back once over UPD_OUTPUT_MAX. */
static void bound_file(struct linebuf *lb)
{
	uint64_t keep = lb->off & ~(uint64_t)4095;

	if (lb->off < UPD_OUTPUT_MAX)
		return;
	/* a hole where the lines were: the size (our offset) stays, the blocks go */
	if (fallocate(lb->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)keep) == 0)
		return;
	/* a file system without holes: emptied (a line written since our read is lost) */
	if (ftruncate(lb->fd, 0) == 0)
		lb->off = 0;
}

/* Read what is there; false once the pipe is closed (a file: never). */
static bool drain(struct upd_spawn *r, int which, struct linebuf *lb)
{
	char tmp[4096];
	ssize_t k, i;

	for (;;) {
		k = lb->file ? pread(lb->fd, tmp, sizeof(tmp), (off_t)lb->off) :
		    read(lb->fd, tmp, sizeof(tmp));
		if (lb->file) {
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				bound_file(lb);
				return true;
			}
			lb->off += (uint64_t)k;
		}
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

/*
 * The child between fork and exec (async-signal-safe calls only: the caller
 * may have threads): its own group, signals at their defaults, then the gate:
 * it runs only once the parent wrote a byte (the group recorded), and ends
 * unrun on the pipe's end (the parent died first). An exec that fails
 * writes its errno to ex.
 */
static void child(const struct upd_spawn *r, int devnull, int out, int errw, const int gate[2],
		  int ex)
{
	struct sigaction sa;
	sigset_t none;
	ssize_t k;
	char c;
	int e, s;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (s = 1; s < NSIG; s++)
		sigaction(s, &sa, NULL); /* KILL, STOP and libc's own refuse: nothing to reset */
	setpgid(0, 0);
	/* our copy of the gate's write end would keep it from ever ending */
	close(gate[1]);
	do
		k = read(gate[0], &c, 1);
	while (k < 0 && errno == EINTR);
	if (k != 1)
		_exit(127);
	if (dup2(devnull, 0) < 0 || dup2(out, 1) < 0 || dup2(errw, 2) < 0 || chdir("/") < 0)
		goto fail;
	/* everything else (ex too) closed by the exec; ex stays open until then */
	if (close_range(3, ~0u, CLOSE_RANGE_CLOEXEC) < 0)
		goto fail;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(r->argv[0], (char *const *)r->argv, (char *const *)r->envp);
fail:
	e = errno;
	k = write(ex, &e, sizeof(e));
	(void)k;
	_exit(127);
}

/* fork, record (r->started), open the gate, learn whether the exec worked */
static int spawn(struct upd_spawn *r, int out[2], int errp[2], pid_t *pid, struct m2m_err *err)
{
	int gate[2] = { -1, -1 }, ex[2] = { -1, -1 }, devnull, e = 0, rc = M2M_OK, st;
	sigset_t all, old;
	struct upd_proc p;
	ssize_t k;
	pid_t c;

	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	/* the gate a socket pair: opening it after the child died is EPIPE, never our SIGPIPE */
	if (devnull < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, gate) ||
	    pipe2(ex, O_CLOEXEC)) {
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "%s: cannot run it: %s", r->argv[0], strerror(errno));
		goto out;
	}
	/* no handler of ours runs in the child before it reset them */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	c = fork();
	if (c == 0)
		child(r, devnull, out[1], errp[1], gate, ex[1]);
	e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (c < 0) {
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "%s: cannot run it: %s", r->argv[0], strerror(e));
		goto out;
	}
	/* the group exists before it is recorded (the child makes it too: whoever is first) */
	setpgid(c, c);
	close(gate[0]);
	gate[0] = -1;
	close(ex[1]);
	ex[1] = -1;
	if (r->started) {
		rc = upd_proc_of(c, r->timeout_ms ? r->timeout_ms : UPD_INSTALL_TIMEOUT_DEFAULT_MS, &p, err);
		if (!rc)
			rc = r->started(r->started_ctx, &p, err);
	}
	if (!rc && send(gate[1], "1", 1, MSG_NOSIGNAL) != 1)
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "%s: cannot run it: %s", r->argv[0], strerror(errno));
	close(gate[1]);
	gate[1] = -1;
	if (!rc) {
		do
			k = read(ex[0], &e, sizeof(e));
		while (k < 0 && errno == EINTR);
		if (k == (ssize_t)sizeof(e))
			rc = e == ENOENT ? m2m_err_set(err, M2M_ERR_NOT_FOUND, "%s: no such program", r->argv[0]) :
			     m2m_err_set(err, M2M_ERR_FAILURE, "%s: cannot run it: %s", r->argv[0], strerror(e));
	}
	if (rc)
		while (waitpid(c, &st, 0) < 0 && errno == EINTR)
			;
	else
		*pid = c;
out:
	if (devnull >= 0)
		close(devnull);
	for (int i = 0; i < 2; i++) {
		if (gate[i] >= 0)
			close(gate[i]);
		if (ex[i] >= 0)
			close(ex[i]);
	}
	return rc;
}

/*
 * name in dir, emptied (created 0600, ours): *w the helper's end (appends),
 * *rd ours (reads at an offset, takes back the read part's disk)
 */
static int open_output(int dfd, const char *dir, const char *name, int *rd, int *w,
		       struct m2m_err *err)
{
	*w = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (*w >= 0 && fchmod(*w, 0600) == 0)
		*rd = openat(dfd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (*w >= 0 && *rd >= 0)
		return M2M_OK;
	return m2m_err_set(err, M2M_ERR_FAILURE, "%s/%s: %s", dir, name, strerror(errno));
}

static int open_outputs(const char *dir, int out[2], int errp[2], struct m2m_err *err)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (dfd < 0)
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s: %s", dir, strerror(errno));
	rc = open_output(dfd, dir, UPD_OUTPUT_OUT, &out[0], &out[1], err);
	if (!rc)
		rc = open_output(dfd, dir, UPD_OUTPUT_ERR, &errp[0], &errp[1], err);
	close(dfd);
	return rc;
}

/* the last lines held, each fd closed */
static void flush_lines(struct upd_spawn *r, struct linebuf lb[2])
{
	for (int i = 0; i < 2; i++)
		if (lb[i].fd >= 0) {
			drain(r, i + 1, &lb[i]);
			if (lb[i].fd >= 0) {
				if (lb[i].len)
					emit(r, i + 1, &lb[i]);
				close(lb[i].fd);
				lb[i].fd = -1;
			}
		}
}

int upd_spawn(struct upd_spawn *r, struct m2m_err *err)
{
	int out[2] = { -1, -1 }, errp[2] = { -1, -1 }, rc, st = 0;
	bool files = r->out_dir != NULL;
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
	if (files) {
		rc = open_outputs(r->out_dir, out, errp, err);
		if (rc) {
			m2m_err_prefix(err, "run %s", r->argv[0]);
			goto fail;
		}
	} else if (pipe2(out, O_CLOEXEC) || pipe2(errp, O_CLOEXEC)) {
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
	for (i = 0; i < 2; i++) {
		lb[i].len = 0;
		lb[i].off = 0;
		lb[i].file = files;
		fcntl(lb[i].fd, F_SETFL, fcntl(lb[i].fd, F_GETFL) | O_NONBLOCK);
	}

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
		if (exited && ((lb[0].fd < 0 && lb[1].fd < 0) || files))
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
		for (i = 0; i < 2 && !files; i++)
			if (lb[i].fd >= 0) {
				pfd[n].fd = lb[i].fd;
				pfd[n].events = POLLIN;
				pfd[n].revents = 0;
				n++;
			}
		/* files are looked at every UPD_OUTPUT_POLL_MS (a file is always readable) */
		if (!n)
			wait_ms = files ? UPD_OUTPUT_POLL_MS : 10;
		if (!termed && deadline - now < (uint64_t)wait_ms)
			wait_ms = (int)(deadline - now) + 1;
		if (poll(pfd, n, wait_ms) > 0 || files)
			for (i = 0; i < 2; i++)
				if (lb[i].fd >= 0)
					drain(r, i + 1, &lb[i]);
	}
	flush_lines(r, lb);
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

/* ---- a helper an earlier client started ------------------------------------------- */

int upd_proc_of(int pid, unsigned limit_ms, struct upd_proc *p, struct m2m_err *err)
{
	char state;
	int pgrp;

	memset(p, 0, sizeof(*p));
	if (!m2m_proc_stat(pid, &state, &pgrp, &p->start))
		return m2m_err_set(err, M2M_ERR_NOT_FOUND, "process %d: gone", pid);
	p->pgid = pid;
	p->limit_ms = limit_ms;
	m2m_boot_id(p->boot);
	return M2M_OK;
}

bool upd_proc_alive(const struct upd_proc *p)
{
	char boot[37], state;
	uint64_t start;
	int pgrp;
	bool alive = false;
	struct dirent *d;
	DIR *dir;

	if (p->pgid <= 1)
		return false;
	m2m_boot_id(boot);
	/* another boot: nothing of that one runs (no boot id to read: the start time alone) */
	if (boot[0] && p->boot[0] && strcmp(boot, p->boot) != 0)
		return false;
	if (kill(-p->pgid, 0) < 0 && errno == ESRCH)
		return false;
	if (m2m_proc_stat(p->pgid, &state, &pgrp, &start)) {
		if (start != p->start)
			return false;   /* the number was reused: the group it named ended */
		if (state != 'Z' && pgrp == p->pgid)
			return true;
	}
	/* the leader ended (or is a zombie nobody reaps): a member may still work */
	dir = opendir("/proc");
	if (!dir)
		return true;    /* cannot tell: kill() said the group is there */
	while (!alive && (d = readdir(dir))) {
		char *end;
		long pid = strtol(d->d_name, &end, 10);

		if (*end || pid <= 0 || pid == p->pgid)
			continue;
		alive = m2m_proc_stat((int)pid, &state, &pgrp, &start) && pgrp == p->pgid && state != 'Z' &&
			start >= p->start;
	}
	closedir(dir);
	return alive;
}

/* CLOCK_BOOTTIME in ms: the clock of /proc's start times */
static uint64_t boot_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* p's start plus its limit, on boot_ms()'s clock */
static uint64_t proc_deadline(const struct upd_proc *p)
{
	long hz = sysconf(_SC_CLK_TCK);

	return (hz > 0 ? p->start * 1000 / (uint64_t)hz : 0) + p->limit_ms;
}

unsigned upd_proc_left_ms(const struct upd_proc *p)
{
	uint64_t deadline = proc_deadline(p), now = boot_ms();

	return now >= deadline ? 0 : deadline - now > UINT32_MAX ? UINT32_MAX : (unsigned)(deadline - now);
}

/* wait up to ms for p's group to be gone */
static bool gone_within(const struct upd_proc *p, unsigned ms)
{
	uint64_t end = m2m_now_ms() + ms;

	while (upd_proc_alive(p)) {
		if (m2m_now_ms() >= end)
			return false;
		m2m_sleep_ms(20, NULL);
	}
	return true;
}

/* upd_proc_follow's wait, the output files lb read at each look */
static int wait_group(const struct upd_proc *p, uint64_t deadline, uint64_t end,
		      volatile const int *stop, struct upd_spawn *r, struct linebuf lb[2],
		      struct m2m_err *err)
{
	while (upd_proc_alive(p)) {
		for (int i = 0; i < 2; i++)
			if (lb[i].fd >= 0)
				drain(r, i + 1, &lb[i]);
		if (boot_ms() >= deadline) {
			kill(-p->pgid, SIGTERM);
			if (!gone_within(p, UPD_KILL_GRACE_MS)) {
				kill(-p->pgid, SIGKILL);
				gone_within(p, 1000);
			}
			return m2m_err_set(err, M2M_ERR_TIMEOUT,
					   "the installer an earlier run started (process group %d) did not "
					   "finish within %u ms", p->pgid, p->limit_ms);
		}
		if ((stop && *stop) || m2m_now_ms() >= end)
			return m2m_err_set(err, M2M_ERR_BUSY,
					   "the installer an earlier run started (process group %d) still "
					   "runs; the next run waits for it again", p->pgid);
		m2m_sleep_ms(UPD_OUTPUT_POLL_MS, NULL);
	}
	return M2M_OK;
}

/* a file upd_spawn left in dir, read from its first data on (what was taken back is a hole) */
static void follow_open(int dfd, const char *name, struct linebuf *lb)
{
	off_t o;

	lb->len = 0;
	lb->file = true;
	lb->off = 0;
	lb->fd = dfd < 0 ? -1 : openat(dfd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (lb->fd < 0)
		return;
	o = lseek(lb->fd, 0, SEEK_DATA);
	if (o < 0)
		o = errno == ENXIO ? lseek(lb->fd, 0, SEEK_END) : 0;
	lb->off = o > 0 ? (uint64_t)o : 0;
}

int upd_proc_wait(const struct upd_proc *p, unsigned wait_ms, volatile const int *stop,
		  struct m2m_err *err)
{
	return upd_proc_follow(p, wait_ms, stop, NULL, NULL, NULL, err);
}

int upd_proc_follow(const struct upd_proc *p, unsigned wait_ms, volatile const int *stop,
		    const char *out_dir, upd_line_fn on_line, void *line_ctx, struct m2m_err *err)
{
	uint64_t end = m2m_now_ms() + wait_ms;
	struct upd_spawn r = { .on_line = on_line, .line_ctx = line_ctx };
	struct linebuf lb[2];
	int dfd = out_dir ? open(out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1, rc;

	follow_open(dfd, UPD_OUTPUT_OUT, &lb[0]);
	follow_open(dfd, UPD_OUTPUT_ERR, &lb[1]);
	if (dfd >= 0)
		close(dfd);
	rc = wait_group(p, proc_deadline(p), end, stop, &r, lb, err);
	flush_lines(&r, lb);
	return rc;
}
