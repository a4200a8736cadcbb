/* SPDX-License-Identifier: MIT */
/*
 * Fakes of an update's work (struct upd_ops) for the state machine's tests
 * (tests/unit/test_update_journal.c and tests/tools/upd-journal.c, which
 * drives the power-cut test): each step does its work in files of a work
 * directory and logs itself, flushed, in WORK/ops.log, so a test can count
 * how often each side effect happened, across kills and power cuts.
 *
 *   fetch     writes the package (a byte pattern) into WORK/download from
 *             the journal's offset, one chunk a checkpoint ("fetch FROM LEN")
 *   verify    checks WORK/download and names the package ("verify")
 *   install   writes the version into WORK/slot, atomically ("install")
 *   health    "health"; commit: "commit" and WORK/good; rollback: "rollback"
 *             and WORK/slot back to "old"
 */
#ifndef UPD_FAKES_H
#define UPD_FAKES_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "update/journal.h"

enum fake_fail {
	FAKE_OK = 0,
	FAKE_FETCH_STORAGE,   /* the disk fills at the second chunk: failed, STORAGE */
	FAKE_FETCH_NET,       /* the server drops once at the third chunk: resumed */
	FAKE_VERIFY,          /* not genuine: failed, INTEGRITY */
	FAKE_INSTALL,         /* the installer fails: rolled back */
	FAKE_HEALTH,          /* the tunnel does not come up: rolled back */
	FAKE_HEALTH_BUSY,     /* not decided yet, until the bound: rolled back, TIMEOUT */
	FAKE_COMMIT_ONCE,     /* the commit fails once, then works */
	FAKE_INSTALL_INTEGRITY, /* the installer finds the payload not genuine: rolled back, INTEGRITY */
};

struct fake {
	char dir[PATH_MAX - 32];  /* the work directory */
	uint64_t size;            /* the package's size */
	uint64_t chunk;           /* bytes between checkpoints */
	enum fake_fail fail;
	unsigned kill_write;      /* SIGKILL right after the n-th journal write (0: never) */
	const char *kill_op;      /* SIGKILL inside this step, after its side effect */
	unsigned writes;          /* journal writes seen */
	int64_t clock;            /* the machine's clock, seconds */
	void (*on_write)(struct fake *f, const struct upd_record *rec); /* a test's hook */
	void *user;
};

static inline void fake_path(const struct fake *f, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", f->dir, name);
}

/* One line appended to WORK/ops.log and flushed: it must survive what the journal survives. */
static inline void fake_log(const struct fake *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline void fake_log(const struct fake *f, const char *fmt, ...)
{
	char path[PATH_MAX], line[256];
	va_list ap;
	int fd, n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	line[n++] = '\n';
	fake_path(f, "ops.log", path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, line, (size_t)n) != n || fsync(fd) < 0)
		abort();
	close(fd);
}

/* WORK/name replaced by text, flushed (write, fsync, rename, fsync the directory). */
static inline void fake_put(const struct fake *f, const char *name, const char *text)
{
	char path[PATH_MAX - 8], tmp[PATH_MAX];
	int fd;

	fake_path(f, name, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || fsync(fd) < 0 ||
	    close(fd) < 0 || rename(tmp, path) < 0)
		abort();
	fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		abort();
	close(fd);
}

static inline bool fake_exists(const struct fake *f, const char *name)
{
	char path[PATH_MAX];

	fake_path(f, name, path, sizeof(path));
	return access(path, F_OK) == 0;
}

static inline void fake_maybe_kill(const struct fake *f, const char *op)
{
	if (f->kill_op && strcmp(f->kill_op, op) == 0)
		raise(SIGKILL);
}

static inline unsigned char fake_byte(uint64_t i)
{
	return (unsigned char)((i * 7 + 3) ^ (i >> 9));
}

static inline int fake_fetch(void *ctx, struct upd *u, struct upd_record *rec, struct m2m_err *err)
{
	struct fake *f = ctx;
	char path[PATH_MAX], buf[4096];
	uint64_t off = rec->offset;
	int fd, rc = M2M_OK;

	fake_path(f, "download", path, sizeof(path));
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return m2m_err_set(err, M2M_ERR_STORAGE, "fetch: %s: %s", path, strerror(errno));
	/* what lies after the last checkpoint is not known to be there: written again */
	if (ftruncate(fd, (off_t)off) < 0)
		abort();
	while (off < f->size) {
		uint64_t n = f->size - off < f->chunk ? f->size - off : f->chunk;

		if (f->fail == FAKE_FETCH_STORAGE && off >= f->chunk) {
			rc = m2m_err_set(err, M2M_ERR_STORAGE, "fetch: %s: No space left on device", path);
			break;
		}
		if (f->fail == FAKE_FETCH_NET && off >= 2 * f->chunk && !fake_exists(f, "dropped")) {
			fake_put(f, "dropped", "1");
			rc = m2m_err_set(err, M2M_ERR_UNREACHABLE, "fetch: the connection was reset");
			break;
		}
		for (uint64_t done = 0; done < n;) {
			size_t k = n - done < sizeof(buf) ? (size_t)(n - done) : sizeof(buf);

			for (size_t i = 0; i < k; i++)
				buf[i] = (char)fake_byte(off + done + i);
			if (pwrite(fd, buf, k, (off_t)(off + done)) != (ssize_t)k)
				abort();
			done += k;
		}
		if (fdatasync(fd) < 0)
			abort();
		fake_log(f, "fetch %llu %llu", (unsigned long long)off, (unsigned long long)n);
		off += n;
		fake_maybe_kill(f, "fetch");
		if (off < f->size) {
			rc = upd_checkpoint(u, off, "\"e1\"", err);
			if (rc)
				break;
		}
	}
	close(fd);
	rec->offset = off;
	snprintf(rec->etag, sizeof(rec->etag), "\"e1\"");
	return rc;
}

static inline int fake_verify(void *ctx, struct upd_record *rec, struct m2m_err *err)
{
	struct fake *f = ctx;
	char path[PATH_MAX];
	unsigned char buf[4096], md[32];
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	uint64_t off = 0;
	ssize_t n;
	int fd;

	fake_log(f, "verify");
	fake_maybe_kill(f, "verify");
	fake_path(f, "download", path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || !h || !EVP_DigestInit_ex(h, EVP_sha256(), NULL))
		abort();
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != fake_byte(off + (uint64_t)i)) {
				close(fd);
				EVP_MD_CTX_free(h);
				return m2m_err_set(err, M2M_ERR_INTEGRITY, "verify: byte %llu is wrong",
						   (unsigned long long)(off + (uint64_t)i));
			}
		EVP_DigestUpdate(h, buf, (size_t)n);
		off += (uint64_t)n;
	}
	close(fd);
	EVP_DigestFinal_ex(h, md, NULL);
	EVP_MD_CTX_free(h);
	if (off != f->size)
		return m2m_err_set(err, M2M_ERR_INTEGRITY, "verify: %llu bytes, expected %llu",
				   (unsigned long long)off, (unsigned long long)f->size);
	if (f->fail == FAKE_VERIFY)
		return m2m_err_set(err, M2M_ERR_INTEGRITY,
				   "verify: signature: certificate verify error");
	snprintf(rec->name, sizeof(rec->name), "pos-firmware");
	snprintf(rec->version, sizeof(rec->version), "2.4.1");
	rec->type = UPD_FIRMWARE;
	for (int i = 0; i < 32; i++)
		snprintf(rec->sha256 + 2 * i, 3, "%02x", md[i]);
	return M2M_OK;
}

static inline int fake_install(void *ctx, struct upd_record *rec, struct m2m_err *err)
{
	struct fake *f = ctx;

	fake_log(f, "install");
	fake_put(f, "slot", rec->version);
	fake_maybe_kill(f, "install");
	if (f->fail == FAKE_INSTALL)
		return m2m_err_set(err, M2M_ERR_FAILURE, "install: rauc: Installation error");
	if (f->fail == FAKE_INSTALL_INTEGRITY)
		return m2m_err_set(err, M2M_ERR_INTEGRITY,
				   "install: rauc: signature verification failed: Verify error");
	snprintf(rec->slot, sizeof(rec->slot), "rootfs.1");
	return M2M_OK;
}

static inline int fake_health(void *ctx, const struct upd_record *rec, struct m2m_err *err)
{
	struct fake *f = ctx;

	fake_log(f, "health");
	fake_maybe_kill(f, "health");
	if (f->fail == FAKE_HEALTH)
		return m2m_err_set(err, M2M_ERR_DOWN, "health: profile pos did not come up");
	if (f->fail == FAKE_HEALTH_BUSY)
		return m2m_err_set(err, M2M_ERR_BUSY, "health: waiting for the tunnel");
	return M2M_OK;
}

static inline int fake_commit(void *ctx, const struct upd_record *rec, struct m2m_err *err)
{
	struct fake *f = ctx;

	fake_log(f, "commit");
	if (f->fail == FAKE_COMMIT_ONCE && !fake_exists(f, "commit-failed")) {
		fake_put(f, "commit-failed", "1");
		return m2m_err_set(err, M2M_ERR_DAEMON, "commit: rauc: service not reachable");
	}
	fake_put(f, "good", rec->version);
	fake_maybe_kill(f, "commit");
	return M2M_OK;
}

static inline int fake_rollback(void *ctx, const struct upd_record *rec, struct m2m_err *err)
{
	struct fake *f = ctx;

	fake_log(f, "rollback");
	fake_put(f, "slot", "old");
	fake_maybe_kill(f, "rollback");
	return M2M_OK;
}

static inline void fake_journaled(void *ctx, const struct upd_record *rec)
{
	struct fake *f = ctx;

	f->writes++;
	if (f->on_write)
		f->on_write(f, rec);
	if (f->kill_write && f->writes == f->kill_write)
		raise(SIGKILL);
}

static inline int64_t fake_now(void *ctx)
{
	return ((struct fake *)ctx)->clock;
}

static const struct upd_ops fake_ops = {
	.fetch = fake_fetch,
	.verify = fake_verify,
	.install = fake_install,
	.health = fake_health,
	.commit = fake_commit,
	.rollback = fake_rollback,
	.journaled = fake_journaled,
	.now = fake_now,
};

/* How often the step op ran (lines of WORK/ops.log that start with it); fetch: bytes in *bytes. */
static inline unsigned fake_count(const struct fake *f, const char *op, uint64_t *bytes)
{
	char path[PATH_MAX], line[256];
	unsigned n = 0;
	size_t len = strlen(op);
	FILE *fp;

	if (bytes)
		*bytes = 0;
	fake_path(f, "ops.log", path, sizeof(path));
	fp = fopen(path, "re");
	if (!fp)
		return 0;
	while (fgets(line, sizeof(line), fp)) {
		unsigned long long from, k;

		if (strncmp(line, op, len) || (line[len] != '\n' && line[len] != ' '))
			continue;
		n++;
		if (bytes && sscanf(line + len, "%llu %llu", &from, &k) == 2)
			*bytes += k;
	}
	fclose(fp);
	return n;
}

#endif
