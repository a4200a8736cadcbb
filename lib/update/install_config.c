/* SPDX-License-Identifier: MIT */
/*
 * The "config" installer: a new m2m.yaml in place of the current one, the
 * current one kept as P.prev (P: the config path) until commit or rollback.
 * The "trust" installer does the same for update.trust (P: the trust anchors'
 * PEM file): the anchors rotated by a package signed under the current ones.
 *
 * Every change is one rename of a whole file that was written and flushed
 * first (P.new or P.prev.new, then fsync, rename, fsync of the directory),
 * so after a power cut each of P and P.prev holds a whole old or new content,
 * and a half-written P.new or P.prev.new is only ever a leftover, never
 * read (each call removes them). An install A -> B is two renames, a commit
 * one removal, a rollback one rename and one removal, so these are all the
 * states a cut can leave (A: the content before the install, B: the payload):
 *
 *   S0  P=A  no .prev     before an install, or after a finished rollback
 *   S1  P=A  .prev=A      install cut after keeping A; rollback cut after restoring A
 *   S2  P=B  .prev=A      installed, awaiting the health check
 *   S3  P=B  no .prev     committed (or a payload equal to A: nothing to do)
 *
 * and what each call does in each of them:
 *
 *   install(B):  S0 -> keep A as .prev, then B over P (S1, S2)
 *                S1 -> .prev already holds P: only B over P (S2)
 *                S2, S3 -> P is the payload already: nothing (OK)
 *                P=B' .prev=A with B' neither B nor A: another update is
 *                pending: BUSY, nothing touched (the engine commits or
 *                rolls that back first)
 *   commit:      S2 -> S3; S0, S3 -> nothing. (S1 only if the engine commits an
 *                install that did not finish, which its journal never does: it
 *                repeats the install first; it would remove .prev, P is still A.)
 *   rollback:    S2 -> A over P (S1), then remove .prev (S0)
 *                S1 -> P already holds .prev: only remove .prev (S0)
 *                S0, S3 -> nothing to roll back (OK)
 *
 * So every call ends in the state it is meant to reach whichever state a cut
 * left, and a repeat of a finished call changes nothing. P is never missing
 * and never partly written: a device that loses power mid-update boots with
 * A or B, each a configuration that passed the validator.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "m2m/config.h"
#include "update/install.h"
#include "update/install_config.h"

struct cfg_paths {
	char prev[PATH_MAX], new_[PATH_MAX], prev_new[PATH_MAX], dir[PATH_MAX];
};

static int paths(const char *p, struct cfg_paths *n, struct m2m_err *err)
{
	const char *slash = strrchr(p, '/');

	if ((size_t)snprintf(n->prev, sizeof(n->prev), "%s.prev", p) >= sizeof(n->prev) ||
	    (size_t)snprintf(n->new_, sizeof(n->new_), "%s.new", p) >= sizeof(n->new_) ||
	    (size_t)snprintf(n->prev_new, sizeof(n->prev_new), "%s.prev.new", p) >=
		    sizeof(n->prev_new))
		return m2m_err_set(err, M2M_ERR_USAGE, "%s: path too long", p);
	if (!slash)
		snprintf(n->dir, sizeof(n->dir), ".");
	else if (slash == p)
		snprintf(n->dir, sizeof(n->dir), "/");
	else
		snprintf(n->dir, sizeof(n->dir), "%.*s", (int)(slash - p), p);
	/* what a cut left half-written is never read: away with it */
	unlink(n->new_);
	unlink(n->prev_new);
	return M2M_OK;
}

/* Read a whole file; *exists false (and OK) if it is not there. */
static int slurp(const char *path, char **buf, size_t *len, bool *exists, struct stat *st,
		 struct m2m_err *err)
{
	size_t cap, n = 0;
	int fd, e;

	*buf = NULL;
	*len = 0;
	*exists = false;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return M2M_OK;
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s: %s", path, strerror(errno));
	}
	if (fstat(fd, st) < 0) {
		e = errno;
		close(fd);
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s: %s", path, strerror(e));
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s: not a regular file", path);
	}
	if ((uint64_t)st->st_size > UPD_CONFIG_MAX) {
		close(fd);
		return m2m_err_set(err, M2M_ERR_REFUSED, "%s: larger than %u bytes", path,
				   UPD_CONFIG_MAX);
	}
	cap = (size_t)st->st_size + 1;
	*buf = malloc(cap + 1);
	if (!*buf) {
		close(fd);
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	}
	for (;;) {
		ssize_t r = read(fd, *buf + n, cap - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || (r > 0 && n + (size_t)r >= cap)) {
			e = r < 0 ? errno : EFBIG;
			close(fd);
			free(*buf);
			*buf = NULL;
			return m2m_err_set(err, M2M_ERR_FAILURE, "%s: %s", path,
					   e == EFBIG ? "changed while read" : strerror(e));
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	(*buf)[n] = '\0';
	*len = n;
	*exists = true;
	return M2M_OK;
}

static int fsync_dir(const char *dir, struct m2m_err *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0 || fsync(fd) < 0)
		rc = m2m_err_set(err, M2M_ERR_STORAGE, "%s: %s", dir, strerror(errno));
	if (fd >= 0)
		close(fd);
	return rc;
}

/*
 * data over path, through tmp: written, owned and moded like `like` (mode cut
 * to 0640: a configuration is never made more open), flushed, renamed, the
 * directory flushed.
 */
static int replace(const char *path, const char *tmp, const char *dir, const char *data,
		   size_t len, const struct stat *like, struct m2m_err *err)
{
	mode_t mode = like->st_mode & 0640;
	size_t off = 0;
	int fd, e;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return m2m_err_set(err, errno == ENOSPC ? M2M_ERR_STORAGE : M2M_ERR_FAILURE, "%s: %s",
				   tmp, strerror(errno));
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			goto fail;
		off += (size_t)w;
	}
	if (fchown(fd, like->st_uid, like->st_gid) < 0 && (like->st_uid != geteuid() ||
							     like->st_gid != getegid()))
		goto fail;
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	if (rename(tmp, path) < 0) {
		e = errno;
		unlink(tmp);
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s: %s", path, strerror(e));
	}
	return fsync_dir(dir, err);
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return m2m_err_set(err, e == ENOSPC || e == EDQUOT ? M2M_ERR_STORAGE : M2M_ERR_FAILURE,
			   "%s: %s", tmp, strerror(e));
}

static bool same(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && !memcmp(a, b, alen);
}

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/*
 * The new configuration keeps the update's own places: the state directory
 * (its journal), the download area and the floor. Moved, the next run would
 * find no journal and the update under way would be neither committed nor
 * rolled back. The current file not loading is no reason to refuse (it is
 * being replaced).
 */
static int same_places(const char *config_path, const struct m2m_config *now,
		       struct m2m_err *err)
{
	struct m2m_config *cur = NULL;
	struct m2m_err e = { 0 };
	const char *what = NULL;

	if (m2m_config_load(config_path, &cur, &e) != M2M_OK)
		return M2M_OK;
	if (!same_str(cur->state_dir, now->state_dir))
		what = "state_dir";
	else if (cur->update && now->update &&
		 !same_str(cur->update->download_dir, now->update->download_dir))
		what = "update.download_dir";
	else if (cur->update && now->update &&
		 (cur->update->floor_tpm != now->update->floor_tpm ||
		  cur->update->floor_index != now->update->floor_index))
		what = "update.floor";
	m2m_config_free(cur);
	if (what)
		return m2m_err_set(err, M2M_ERR_REFUSED, "new configuration: %s moves; a configuration "
				   "package may not move the update's own state", what);
	return M2M_OK;
}

/* The validator's verdict, and a configuration that can still be updated. */
static int validate(const char *config_path, const char *buf, size_t len, struct m2m_err *err)
{
	struct m2m_config *cfg = NULL;
	int rc;

	/* named as it will be loaded: relative paths resolve against its directory */
	rc = m2m_config_parse(config_path, buf, len, &cfg, err);
	if (rc)
		return m2m_err_prefix(err, "new configuration");
	rc = same_places(config_path, cfg, err);
	if (rc) {
		m2m_config_free(cfg);
		return rc;
	}
	if (!cfg->update || !cfg->update->trust)
		rc = m2m_err_set(err, M2M_ERR_REFUSED, "new configuration: no update: section; "
				 "the device could never be updated again");
	else if (access(cfg->update->trust, R_OK) < 0)
		rc = m2m_err_set(err, M2M_ERR_REFUSED, "new configuration: update.trust %s: %s; the "
				 "device could never be updated again", cfg->update->trust,
				 strerror(errno));
	m2m_config_free(cfg);
	return rc;
}

/* New trust anchors: PEM certificates only, at least one, each a CA (basicConstraints). */
static int validate_trust(const char *trust_path, const char *buf, size_t len,
			  struct m2m_err *err)
{
	BIO *b = BIO_new_mem_buf(buf, (int)len);
	X509 *x;
	unsigned n = 0;
	int rc = M2M_OK;

	if (!b)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		n++;
		if (X509_check_ca(x) < 1)
			rc = m2m_err_set(err, M2M_ERR_REFUSED,
					 "new trust anchors: certificate %u is not a CA certificate", n);
		X509_free(x);
		if (rc)
			break;
	}
	ERR_clear_error();
	BIO_free(b);
	if (!rc && n == 0)
		rc = m2m_err_set(err, M2M_ERR_REFUSED, "new trust anchors: no PEM certificate in "
				 "the payload; the device could never be updated again");
	return rc;
}

typedef int (*validate_fn)(const char *path, const char *buf, size_t len, struct m2m_err *err);

static int install_file(const char *config_path, const char *payload, validate_fn check,
			bool dry, struct m2m_err *err);

int upd_config_install(const char *config_path, const char *payload, struct m2m_err *err)
{
	return install_file(config_path, payload, validate, false, err);
}

int upd_trust_install(const char *trust_path, const char *payload, struct m2m_err *err)
{
	return install_file(trust_path, payload, validate_trust, false, err);
}

int upd_config_check(const char *path, const char *payload, bool trust, struct m2m_err *err)
{
	return install_file(path, payload, trust ? validate_trust : validate, true, err);
}

static int install_file(const char *config_path, const char *payload, validate_fn check,
			bool dry, struct m2m_err *err)
{
	char *new_ = NULL, *cur = NULL, *prev = NULL;
	size_t new_len, cur_len, prev_len;
	bool new_ok, cur_ok, prev_ok;
	struct stat pst, cst, vst;
	struct cfg_paths n;
	int rc;

	m2m_err_clear(err);
	rc = paths(config_path, &n, err);
	if (rc)
		return rc;
	rc = slurp(payload, &new_, &new_len, &new_ok, &pst, err);
	if (!rc && !new_ok)
		rc = m2m_err_set(err, M2M_ERR_NOT_FOUND, "%s: no such file", payload);
	if (!rc)
		rc = check(config_path, new_, new_len, err);
	if (!rc)
		rc = slurp(config_path, &cur, &cur_len, &cur_ok, &cst, err);
	if (!rc && !cur_ok)
		rc = m2m_err_set(err, M2M_ERR_NOT_FOUND, "%s: no such file (nothing to replace, "
				 "nothing to roll back to)", config_path);
	if (rc || same(cur, cur_len, new_, new_len))
		goto out;
	rc = slurp(n.prev, &prev, &prev_len, &prev_ok, &vst, err);
	if (rc)
		goto out;
	if (prev_ok && !same(prev, prev_len, cur, cur_len)) {
		rc = m2m_err_set(err, M2M_ERR_BUSY, "%s: an earlier configuration update is neither "
				 "committed nor rolled back", n.prev);
		goto out;
	}
	if (dry)
		goto out;
	if (!prev_ok)
		rc = replace(n.prev, n.prev_new, n.dir, cur, cur_len, &cst, err);
	if (!rc)
		rc = replace(config_path, n.new_, n.dir, new_, new_len, &cst, err);
out:
	free(new_);
	free(cur);
	free(prev);
	return rc;
}

int upd_config_commit(const char *config_path, struct m2m_err *err)
{
	struct cfg_paths n;
	int rc;

	m2m_err_clear(err);
	rc = paths(config_path, &n, err);
	if (rc)
		return rc;
	if (unlink(n.prev) < 0 && errno != ENOENT)
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s: %s", n.prev, strerror(errno));
	return fsync_dir(n.dir, err);
}

int upd_config_rollback(const char *config_path, struct m2m_err *err)
{
	char *cur = NULL, *prev = NULL;
	size_t cur_len, prev_len;
	bool cur_ok, prev_ok;
	struct stat cst, vst;
	struct cfg_paths n;
	int rc;

	m2m_err_clear(err);
	rc = paths(config_path, &n, err);
	if (rc)
		return rc;
	rc = slurp(n.prev, &prev, &prev_len, &prev_ok, &vst, err);
	if (rc || !prev_ok)
		goto out;
	rc = slurp(config_path, &cur, &cur_len, &cur_ok, &cst, err);
	if (rc)
		goto out;
	if (!cur_ok || !same(cur, cur_len, prev, prev_len))
		rc = replace(config_path, n.new_, n.dir, prev, prev_len, &vst, err);
	if (!rc && unlink(n.prev) < 0 && errno != ENOENT)
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "%s: %s", n.prev, strerror(errno));
	if (!rc)
		rc = fsync_dir(n.dir, err);
out:
	free(cur);
	free(prev);
	return rc;
}

/* ---- behind the installers' interface (install.h) ------------------------------------- */

static int cfg_probe(const struct upd_install_ctx *ctx, struct m2m_err *err)
{
	return ctx->config ? M2M_OK :
			     m2m_err_set(err, M2M_ERR_USAGE, "config installer: no configuration file");
}

static int cfg_install(const struct upd_install_ctx *ctx, const char *payload, struct m2m_err *err)
{
	int rc = cfg_probe(ctx, err);

	return rc ? rc : upd_config_install(ctx->config, payload, err);
}

static int cfg_status(const struct upd_install_ctx *ctx, struct upd_slot_status *st,
		      struct m2m_err *err)
{
	return m2m_err_set(err, M2M_ERR_NOT_FOUND, "config installer: no slots");
}

static int cfg_good(const struct upd_install_ctx *ctx, struct m2m_err *err)
{
	int rc = cfg_probe(ctx, err);

	return rc ? rc : upd_config_commit(ctx->config, err);
}

static int cfg_back(const struct upd_install_ctx *ctx, struct m2m_err *err)
{
	int rc = cfg_probe(ctx, err);

	return rc ? rc : upd_config_rollback(ctx->config, err);
}

const struct upd_installer_ops upd_installer_config = {
	.name = "config",
	.probe = cfg_probe,
	.install = cfg_install,
	.status = cfg_status,
	.mark_good = cfg_good,
	.mark_bad = cfg_back,
	.rollback = cfg_back,
};

/* "trust": ctx->config is update.trust, the anchors a package's signer must chain to */
static int trust_install(const struct upd_install_ctx *ctx, const char *payload,
			 struct m2m_err *err)
{
	int rc = cfg_probe(ctx, err);

	return rc ? rc : upd_trust_install(ctx->config, payload, err);
}

const struct upd_installer_ops upd_installer_trust = {
	.name = "trust",
	.probe = cfg_probe,
	.install = trust_install,
	.status = cfg_status,
	.mark_good = cfg_good,
	.mark_bad = cfg_back,
	.rollback = cfg_back,
};
