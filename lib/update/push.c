/* SPDX-License-Identifier: MIT */
/*
 * Packages handed in by the caller a block at a time (m2m_update_push_*):
 * the LwM2M server writing the Package resource block-wise. Each block goes
 * through the streaming verifier before it is kept, so an unsigned package
 * is refused at the block where its signature should be and never stored
 * whole; the bytes go to the download area's package file, flushed and
 * journaled as a pull's are: after UPD_FETCH_CHECKPOINT bytes and
 * UPD_FETCH_CHECKPOINT_MS since the last time, each whole MiB handed to the
 * disk without waiting meanwhile (the caller is the LwM2M client's CoAP
 * loop: an fsync and a journal record after every MiB of a fast push
 * stalled it each time). Once the last
 * block is in, the journal's fetch step (eng_push_fetch) finds the package
 * complete and the update runs on as any other.
 *
 * The blocks are written PUSH_BUF bytes at a time (64 blocks of 1024): a
 * write() a block was one of the 7 system calls each block of a push cost
 * the client, and the push is a round trip a block. What is held is lost
 * with the process, as the rest of a push that was cut off is: a push is not
 * resumed, and each checkpoint writes it out before its fsync.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <unistd.h>

#include "base/base.h"
#include "update/engine_int.h"
#include "update/fetch.h"

#define PUSH_BUF (64 * 1024) /* divides UPD_FETCH_CHECKPOINT */

void eng_push_close(struct m2m_update *u)
{
	upd_verifier_free(u->pv);
	u->pv = NULL;
	free(u->push_buf);
	u->push_buf = NULL;
	u->push_held = 0;
	if (u->push_fd >= 0)
		close(u->push_fd);
	u->push_fd = -1;
	u->pushing = false;
}

int eng_push_fetch(struct m2m_update *u, struct upd_record *rec, struct m2m_err *err)
{
	if (u->push_rc) {
		*err = u->push_err;
		eng_name_refused(rec, u->push_m.name[0] ? &u->push_m : NULL);
		/* out of time: failed, not left to resume (a push cannot be resumed) */
		rec->offset = UPD_NO_RESUME;
		return u->push_rc;
	}
	if (u->pushed) {
		rec->offset = u->push_len;
		return M2M_OK;
	}
	/* not this process's push: it was cut off, and a push cannot be resumed */
	m2m_err_set(err, M2M_ERR_UNREACHABLE,
		    "push: cut off after %" PRIu64 " bytes; the sender must push the package again",
		    rec->offset);
	rec->offset = UPD_NO_RESUME;
	return M2M_ERR_UNREACHABLE;
}

int m2m_update_push_begin(struct m2m_update *u, struct m2m_err *err)
{
	struct m2m_err local;
	const struct upd_record *last = upd_last(u->j);
	struct upd_policy pol;
	char path[DL_PATH_MAX];
	int rc;

	bool restart = u->pushing && last->state == UPD_DOWNLOADING &&
		       strcmp(last->source, PUSH_SOURCE) == 0;

	if (!err)
		err = &local;
	m2m_err_clear(err);
	/*
	 * a push started over (block 0 again) is the same install: it keeps the bound
	 * of its first start, or a sender that restarts for ever would hold the
	 * update lock one update.timeout at a time
	 */
	if (!restart)
		eng_arm(u);
	eng_push_close(u);
	u->pushed = false;
	u->push_space = false;
	memset(&u->push_m, 0, sizeof(u->push_m));
	u->push_rc = 0;
	u->push_len = u->push_last = u->push_synced = 0;
	u->push_synced_at = m2m_now_ms();
	rc = eng_finish_pending(u, err);
	if (rc)
		return rc;
	if (last->state == UPD_DOWNLOADING && strcmp(last->source, PUSH_SOURCE) == 0)
		rc = upd_checkpoint(u->j, 0, "", err); /* started over */
	else
		rc = upd_start(u->j, PUSH_SOURCE, err);
	if (rc)
		return rc;
	eng_policy(u, &pol);
	rc = upd_verifier_new(&pol, NULL, NULL, &u->pv, err);
	if (rc)
		return rc;
	u->push_buf = malloc(PUSH_BUF);
	if (!u->push_buf) {
		eng_push_close(u);
		return m2m_err_set(err, M2M_ERR_FAILURE, "push: out of memory");
	}
	u->push_fd = openat(u->dl.dirfd, PKG_NAME, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (u->push_fd < 0) {
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "%s: %s", eng_dl_path(u, PKG_NAME, path),
				 strerror(errno));
		eng_push_close(u);
		return rc;
	}
	u->pushing = true;
	eng_log(u, LOG_INFO, "receiving a package pushed to us");
	return M2M_OK;
}

/* A refused block: the update fails with it, through the journal's fetch step. */
static int refuse(struct m2m_update *u, int rc, struct m2m_err *err)
{
	struct m2m_err e = { 0 };

	const struct upd_manifest *m = upd_verifier_genuine(u->pv);

	u->push_rc = rc;
	u->push_err = *err;
	if (m)
		u->push_m = *m;
	eng_push_close(u);
	upd_run(u->j, &e); /* the failed record, and the journal compacted to it */
	return rc;
}

/* What is held to the file (a write error refuses the push) */
static int drain(struct m2m_update *u, struct m2m_err *err)
{
	char path[DL_PATH_MAX];

	if (!u->push_held)
		return M2M_OK;
	if (eng_write_all(u->push_fd, u->push_buf, u->push_held) != 0) {
		m2m_err_set(err, errno == ENOSPC || errno == EDQUOT ? M2M_ERR_STORAGE : M2M_ERR_FAILURE,
			    "%s: %s", eng_dl_path(u, PKG_NAME, path), strerror(errno));
		return refuse(u, err->rc, err);
	}
	u->push_held = 0;
	return M2M_OK;
}

static int flush(struct m2m_update *u, struct m2m_err *err)
{
	char path[DL_PATH_MAX];
	int rc = drain(u, err);

	if (rc)
		return rc;
	if (fsync(u->push_fd) != 0)
		return m2m_err_set(err, M2M_ERR_STORAGE, "%s: %s", eng_dl_path(u, PKG_NAME, path),
				   strerror(errno));
	u->push_synced = u->push_len;
	u->push_synced_at = m2m_now_ms();
	return upd_checkpoint(u->j, u->push_len, NULL, err);
}

int m2m_update_push(struct m2m_update *u, uint64_t offset, const void *data, size_t len,
		    struct m2m_err *err)
{
	struct m2m_err local;
	char path[DL_PATH_MAX];
	int rc;

	if (!err)
		err = &local;
	m2m_err_clear(err);
	if (!u->pushing)
		return m2m_err_set(err, M2M_ERR_USAGE, "push: no push under way");
	if (len && offset == u->push_last && offset + len == u->push_len)
		return M2M_OK; /* the last block again: a retransmission */
	/* the run's bound holds for a push too: a block now and then must not keep it (and the
	   update lock) for ever */
	if (m2m_now_ms() >= u->deadline) {
		m2m_err_set(err, M2M_ERR_TIMEOUT, "push: not complete within update.timeout (%" PRIu64
			    " bytes came)", u->push_len);
		return refuse(u, M2M_ERR_TIMEOUT, err);
	}
	if (offset != u->push_len)
		return m2m_err_set(err, M2M_ERR_PROTOCOL,
				   "push: a block at byte %" PRIu64 ", and %" PRIu64 " bytes came so far",
				   offset, u->push_len);
	rc = upd_verifier_feed(u->pv, data, len, err);
	if (rc)
		return refuse(u, rc, err);
	if (!u->push_space && upd_verifier_manifest(u->pv)) {
		/*
		 * the signed sizes are known: room for the rest of the package and
		 * for the payload verified beside it, before they come (as a pull)
		 */
		struct statvfs vfs;
		uint64_t size = upd_verifier_size(u->pv), have = u->push_len - u->push_held;
		uint64_t rest = size > have ? size - have : 0;
		uint64_t need = rest + upd_verifier_manifest(u->pv)->size;

		u->push_space = true;
		if (fstatvfs(u->push_fd, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < need) {
			m2m_err_set(err, M2M_ERR_STORAGE, "%s: %" PRIu64 " bytes needed (%" PRIu64
				    " more of the %" PRIu64 "-byte package and its %" PRIu64
				    "-byte payload), %" PRIu64 " free", eng_dl_path(u, PKG_NAME, path),
				    need, rest, size, upd_verifier_manifest(u->pv)->size,
				    (uint64_t)vfs.f_bavail * vfs.f_frsize);
			return refuse(u, M2M_ERR_STORAGE, err);
		}
	}
	if (u->push_len + len > u->up->max_size) {
		m2m_err_set(err, M2M_ERR_STORAGE, "push: more than update.max_size (%" PRIu64 " bytes)",
			    u->up->max_size);
		return refuse(u, M2M_ERR_STORAGE, err);
	}
	if (u->push_held + len > PUSH_BUF && (rc = drain(u, err)) != 0)
		return rc;
	if (len > PUSH_BUF) {
		if (eng_write_all(u->push_fd, data, len) != 0) {
			m2m_err_set(err, errno == ENOSPC || errno == EDQUOT ? M2M_ERR_STORAGE :
					 M2M_ERR_FAILURE, "%s: %s", eng_dl_path(u, PKG_NAME, path),
				    strerror(errno));
			return refuse(u, err->rc, err);
		}
	} else {
		memcpy(u->push_buf + u->push_held, data, len);
		u->push_held += len;
	}
	u->push_last = offset;
	u->push_len += len;
	if (u->o.progress)
		u->o.progress(u->o.progress_ctx, "download", u->push_len, 0, "");
	if (u->push_held == PUSH_BUF && (rc = drain(u, err)) != 0)
		return rc;
	/* a whole MiB to the disk, not waited for (a hint: the fsync reports a failure) */
	if (u->push_len / UPD_FETCH_CHECKPOINT > offset / UPD_FETCH_CHECKPOINT) {
		rc = drain(u, err);
		if (rc)
			return rc;
		(void)sync_file_range(u->push_fd,
				      (off_t)(offset / UPD_FETCH_CHECKPOINT * UPD_FETCH_CHECKPOINT),
				      UPD_FETCH_CHECKPOINT, SYNC_FILE_RANGE_WRITE);
	}
	if (u->push_len - u->push_synced >= UPD_FETCH_CHECKPOINT &&
	    m2m_now_ms() - u->push_synced_at >= UPD_FETCH_CHECKPOINT_MS)
		return flush(u, err);
	return M2M_OK;
}

int m2m_update_push_end(struct m2m_update *u, struct m2m_err *err)
{
	struct m2m_err local;
	int rc;

	if (!err)
		err = &local;
	m2m_err_clear(err);
	eng_arm(u);
	if (!u->pushing)
		return m2m_err_set(err, M2M_ERR_USAGE, "push: no push under way");
	rc = upd_verifier_end(u->pv, err);
	if (rc)
		return refuse(u, rc, err);
	rc = flush(u, err);
	if (rc)
		return rc;
	eng_push_close(u);
	u->pushed = true;
	return eng_ok(upd_run(u->j, err), err);
}
