/* SPDX-License-Identifier: MIT */
/*
 * The work behind each step of the update journal (struct upd_ops): the
 * pull with the streaming verifier as its sink, the verification again from
 * the disk into the payload an installer gets, the installer the manifest
 * names, the health check, the commit and the rollback. Each is idempotent:
 * after a power cut the step under way runs again.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "m2m/keystore.h"
#include "update/engine_int.h"
#include "update/fetch.h"
#include "update/install.h"
#include "update/install_config.h"

/* ---- fetch ------------------------------------------------------------------------------ */

struct fetch_ctx {
	struct m2m_update *u;
	struct upd *j;
	struct upd_verifier *v;
	const char *path;       /* the package's file */
	bool room;              /* the room for it was checked */
};

/*
 * Once the signed manifest says how large the package is: room for the rest
 * of it (what is not in its file yet) and for the verified payload that
 * op_verify writes beside it, before the payload comes. Without it a
 * package larger than the disk (and no size from the server) filled the
 * disk to the last byte before it failed.
 */
static int fetch_room(struct fetch_ctx *f, struct m2m_err *err)
{
	const struct upd_manifest *m = upd_verifier_manifest(f->v);
	uint64_t size = upd_verifier_size(f->v), have = 0, need, avail;
	struct statvfs vfs;
	struct stat sb;

	if (stat(f->path, &sb) == 0 && sb.st_size > 0)
		have = (uint64_t)sb.st_size;
	if (statvfs(f->path, &vfs) != 0)
		return m2m_err_set(err, m2m_state_errno_rc(errno), "%s: statvfs: %s", f->path,
				   strerror(errno));
	need = (size > have ? size - have : 0) + m->size;
	avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	if (avail >= need)
		return M2M_OK;
	return m2m_err_set(err, M2M_ERR_STORAGE,
			   "%s: %" PRIu64 " bytes needed (%" PRIu64 " more of the %" PRIu64 "-byte "
			   "package and its %" PRIu64 "-byte payload), %" PRIu64 " free", f->path,
			   need, size > have ? size - have : 0, size, m->size, avail);
}

static int sink_verifier(void *ctx, const void *data, size_t len, struct m2m_err *err)
{
	struct fetch_ctx *f = ctx;
	int rc = upd_verifier_feed(f->v, data, len, err);

	if (rc || f->room || !upd_verifier_manifest(f->v))
		return rc;
	f->room = true;
	return fetch_room(f, err);
}

static void fetch_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct fetch_ctx *f = ctx;

	if (f->u->o.progress)
		f->u->o.progress(f->u->o.progress_ctx, "download", done, total, "");
}

static int fetch_checkpoint(void *ctx, const struct upd_fetch_state *st, struct m2m_err *err)
{
	struct fetch_ctx *f = ctx;

	return upd_checkpoint(f->j, st->offset, st->etag, err);
}

static int op_fetch(void *ctx, struct upd *j, struct upd_record *rec, struct m2m_err *err)
{
	struct m2m_update *u = ctx;
	struct fetch_ctx f = { .u = u, .j = j };
	struct upd_fetch_state fs = { .offset = rec->offset };
	struct m2m_coap_opts co = { 0 };
	struct m2m_secret key = { 0 }, pin = { 0 };
	struct upd_fetch_opts fo = { 0 };
	struct upd_policy pol;
	char path[DL_PATH_MAX];
	int rc;

	if (strcmp(rec->source, PUSH_SOURCE) == 0)
		return eng_push_fetch(u, rec, err);
	if (eng_is_file_source(rec->source)) {
		struct stat sb;

		if (stat(rec->source, &sb) != 0)
			return m2m_err_set(err, errno == ENOENT ? M2M_ERR_NOT_FOUND : M2M_ERR_FAILURE,
					   "%s: %s", rec->source, strerror(errno));
		if (!S_ISREG(sb.st_mode))
			return m2m_err_set(err, M2M_ERR_USAGE, "%s: not a regular file", rec->source);
		rec->offset = (uint64_t)sb.st_size;
		return M2M_OK;
	}
	switch (upd_fetch_scheme(rec->source)) {
	case UPD_SCHEME_INVALID:
		return m2m_err_set(err, M2M_ERR_USAGE, "%s: not a URL (or an absolute path)",
				   rec->source);
	case UPD_SCHEME_UNSUPPORTED:
		return m2m_err_set(err, M2M_ERR_CONFIG,
				   "%s: not a scheme this device pulls from (http, https, coap, coaps)",
				   rec->source);
	case UPD_SCHEME_COAPS:
		rc = mcoap_config_opts(u->cfg, rec->source, &co, &key, &pin, err);
		if (rc)
			return rc;
		fo.coap = &co;
		break;
	case UPD_SCHEME_COAP:
		co.security = M2M_DM_NOSEC;
		co.block_size = u->cfg->dm.block_size;
		fo.coap = &co;
		break;
	default:
		break;
	}
	snprintf(fs.etag, sizeof(fs.etag), "%s", rec->etag);
	eng_policy(u, &pol);
	rc = upd_verifier_new(&pol, NULL, NULL, &f.v, err);
	if (rc)
		goto out;
	fo.url = rec->source;
	fo.path = f.path = eng_dl_path(u, PKG_NAME, path);
	fo.max = u->up->max_size;
	fo.timeout_ms = eng_left_ms(u);
	fo.ca = u->up->ca;
	fo.sink = sink_verifier;
	fo.sink_ctx = &f;
	fo.progress = fetch_progress;
	fo.progress_ctx = &f;
	fo.checkpoint = fetch_checkpoint;
	fo.checkpoint_ctx = &f;
	fo.stop = u->o.stop;
	eng_log(u, LOG_INFO, "downloading %s%s", rec->source, rec->offset ? " (resumed)" : "");
	rc = upd_fetch(&fo, &fs, err);
	/* the whole package arrived: its payload must be complete and its hash right */
	if (!rc)
		rc = upd_verifier_end(f.v, err);
	if (rc)
		eng_name_refused(rec, upd_verifier_genuine(f.v));
	rec->offset = fs.offset;
	snprintf(rec->etag, sizeof(rec->etag), "%s", fs.etag);
out:
	upd_verifier_free(f.v);
	if (co.store_key)
		m2m_key_close(co.store_key);
	m2m_secret_wipe(&key);
	m2m_secret_wipe(&pin);
	return rc;
}

/*
 * A pull or a verification that failed for good: the package (not a file of
 * the caller's) and a part of the payload go, and the room they took comes
 * back before the journal writes the failure.
 */
static void op_discard(void *ctx, const struct upd_record *rec)
{
	struct m2m_update *u = ctx;

	if (!eng_is_file_source(rec->source))
		unlinkat(u->dl.dirfd, PKG_NAME, 0);
	unlinkat(u->dl.dirfd, PAYLOAD_TMP, 0);
	fsync(u->dl.dirfd);
}

void eng_name_refused(struct upd_record *rec, const struct upd_manifest *m)
{
	if (!m)
		return;
	snprintf(rec->name, sizeof(rec->name), "%s", m->name);
	snprintf(rec->version, sizeof(rec->version), "%s", m->version);
	rec->type = m->type;
}

/* ---- verify: from the disk into the payload that is installed ------------------------------ */

static int sink_payload(void *ctx, const void *data, size_t len, struct m2m_err *err)
{
	struct m2m_update *u = ctx;

	if ((u->o.stop && *u->o.stop) || m2m_now_ms() >= u->deadline)
		return m2m_err_set(err, M2M_ERR_TIMEOUT, "verify: %s", u->o.stop && *u->o.stop ?
				   "stopped" : "out of the run's time; the next run verifies again");
	if (eng_write_all(u->payload_fd, data, len) != 0)
		return m2m_err_set(err, errno == ENOSPC || errno == EDQUOT ? M2M_ERR_STORAGE :
				   M2M_ERR_FAILURE, "%s/%s: %s", u->dl.path, PAYLOAD_TMP, strerror(errno));
	/*
	 * Each whole MiB on its way to the disk at once (a hint: the fsync at
	 * the end reports a failure), so that the disk writes while the rest
	 * is hashed and the fsync finds little left: a 100 MiB payload's
	 * fsync took 150 ms after the hashing, not beside it.
	 */
	if ((u->verified + len) >> 20 > u->verified >> 20)
		(void)sync_file_range(u->payload_fd, (off_t)(u->verified >> 20 << 20),
				      (off_t)(((u->verified + len) >> 20 << 20) - (u->verified >> 20 << 20)),
				      SYNC_FILE_RANGE_WRITE);
	u->verified += len;
	if (u->o.progress)
		u->o.progress(u->o.progress_ctx, "verify", u->verified, 0, "");
	return M2M_OK;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[b[i] >> 4];
		out[2 * i + 1] = d[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static const char *package_path(const struct m2m_update *u, const struct upd_record *rec,
				char *buf)
{
	return eng_is_file_source(rec->source) ? rec->source : eng_dl_path(u, PKG_NAME, buf);
}

static int op_verify(void *ctx, struct upd_record *rec, struct m2m_err *err)
{
	struct m2m_update *u = ctx;
	struct upd_manifest m = { 0 };
	struct upd_policy pol;
	char buf[DL_PATH_MAX], *json;
	const char *pkg = package_path(u, rec, buf);
	int rc;

	u->payload_fd = openat(u->dl.dirfd, PAYLOAD_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			       0600);
	if (u->payload_fd < 0)
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s/%s: %s", u->dl.path, PAYLOAD_TMP,
				   strerror(errno));
	u->verified = 0;
	eng_policy(u, &pol);
	eng_log(u, LOG_INFO, "verifying %s", pkg);
	rc = upd_verify_file(&pol, pkg, sink_payload, u, &m, NULL, 0, err);
	if (!rc && fsync(u->payload_fd) != 0)
		rc = m2m_err_set(err, M2M_ERR_STORAGE, "%s/%s: %s", u->dl.path, PAYLOAD_TMP,
				 strerror(errno));
	close(u->payload_fd);
	u->payload_fd = -1;
	if (!rc && renameat(u->dl.dirfd, PAYLOAD_TMP, u->dl.dirfd, PAYLOAD_NAME) != 0)
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "%s/%s: %s", u->dl.path, PAYLOAD_NAME,
				 strerror(errno));
	if (!rc && fsync(u->dl.dirfd) != 0)
		rc = m2m_err_set(err, M2M_ERR_STORAGE, "%s: %s", u->dl.path, strerror(errno));
	if (rc) {
		unlinkat(u->dl.dirfd, PAYLOAD_TMP, 0);
		eng_name_refused(rec, m.name[0] ? &m : NULL);
		return rc;
	}
	/* the manifest the install step acts on, kept beside the journal */
	json = upd_manifest_json(&m);
	if (!json)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	rc = m2m_state_write(&u->st, MANIFEST_NAME, json, strlen(json), err);
	free(json);
	if (rc)
		return rc;
	snprintf(rec->name, sizeof(rec->name), "%s", m.name);
	snprintf(rec->version, sizeof(rec->version), "%s", m.version);
	rec->type = m.type;
	hex(m.sha256, sizeof(m.sha256), rec->sha256);
	eng_log(u, LOG_INFO, "verified %s %s (%s)", m.name, m.version, upd_type_name(m.type));
	return M2M_OK;
}

/* ---- install, health, commit, rollback through the manifest's installer -------------------- */

static int manifest_of(struct m2m_update *u, struct upd_manifest *m, struct m2m_err *err)
{
	char *buf = NULL;
	size_t len = 0;
	int rc = m2m_state_read(&u->st, MANIFEST_NAME, UPD_MANIFEST_MAX, NULL, NULL, &buf, &len, err);

	if (rc == M2M_ERR_NOT_FOUND)
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s/%s: the verified manifest is missing",
				   u->st.path, MANIFEST_NAME);
	if (rc)
		return rc;
	rc = upd_manifest_parse(buf, len, m, err);
	free(buf);
	return rc;
}

static void install_progress(void *ctx, unsigned pct, const char *what)
{
	struct m2m_update *u = ctx;

	if (u->o.progress)
		u->o.progress(u->o.progress_ctx, "install", pct, 100, what ? what : "");
}

/*
 * The installer the manifest names, and its context. REFUSED if this device
 * does not have it (update.installers): the package is not for this device.
 */
static int installer_of(struct m2m_update *u, const struct upd_record *rec,
			const struct upd_manifest *m, const struct upd_installer_ops **ops,
			struct upd_install_ctx *ic, struct m2m_err *err)
{
	memset(ic, 0, sizeof(*ic));
	ic->progress = install_progress;
	ic->progress_ctx = u;
	ic->log = eng_log;
	ic->log_ctx = u;
	ic->name = m->name;
	ic->version = m->version;
	ic->type = m->type;
	ic->target = rec->slot[0] ? rec->slot : NULL;
	ic->timeout_ms = eng_left_ms(u);
	*ops = upd_installer_find(m->installer);
	if (strcmp(m->installer, "rauc") == 0) {
		if (!u->up->rauc)
			return m2m_err_set(err, M2M_ERR_REFUSED,
					   "package %s %s: installer rauc, and update.installers has no rauc",
					   m->name, m->version);
		ic->rauc_conf = u->up->rauc_config;
		ic->dbus_address = getenv("M2M_RAUC_BUS");
		ic->rauc = getenv("M2M_RAUC");
	} else if (strcmp(m->installer, "script") == 0) {
		if (!u->up->script)
			return m2m_err_set(err, M2M_ERR_REFUSED,
					   "package %s %s: installer script, and update.installers has no script",
					   m->name, m->version);
		ic->script = u->up->script;
		ic->output_dir = u->st.path;
		if (u->up->script_timeout_ms && u->up->script_timeout_ms < ic->timeout_ms)
			ic->timeout_ms = u->up->script_timeout_ms;
	} else if (strcmp(m->installer, "config") == 0 || strcmp(m->installer, "trust") == 0) {
		if (m->type != UPD_CONFIG)
			return m2m_err_set(err, M2M_ERR_REFUSED,
					   "package %s %s: a %s package for the %s installer", m->name,
					   m->version, upd_type_name(m->type), m->installer);
		/* the configuration, or the trust anchors it names */
		ic->config = strcmp(m->installer, "config") == 0 ? u->cfg->path : u->up->trust;
	} else {
		return m2m_err_set(err, M2M_ERR_REFUSED,
				   "package %s %s: installer %s is not one this device has", m->name,
				   m->version, m->installer);
	}
	return *ops ? M2M_OK : m2m_err_set(err, M2M_ERR_FAILURE, "installer %s: missing", m->installer);
}

/* The verified manifest and the installer it names, with its context. */
static int installer_for(struct m2m_update *u, const struct upd_record *rec,
			 struct upd_manifest *m, const struct upd_installer_ops **ops,
			 struct upd_install_ctx *ic, struct m2m_err *err)
{
	int rc = manifest_of(u, m, err);

	return rc ? rc : installer_of(u, rec, m, ops, ic, err);
}

/* RAUC: the slot an install goes to is the one not booted (of the booted one's class). */
static int op_prepare(void *ctx, struct upd_record *rec, struct m2m_err *err)
{
	struct m2m_update *u = ctx;
	const struct upd_installer_ops *ops;
	struct upd_install_ctx ic;
	struct upd_slot_status ss;
	const struct upd_slot *booted;
	struct upd_manifest m;
	int rc = installer_for(u, rec, &m, &ops, &ic, err);

	if (!rc && (strcmp(m.installer, "config") == 0 || strcmp(m.installer, "trust") == 0)) {
		char payload[DL_PATH_MAX];

		/* refused before the install: failed, and no rollback touches the files */
		return upd_config_check(ic.config, eng_dl_path(u, PAYLOAD_NAME, payload),
					strcmp(m.installer, "trust") == 0, err);
	}
	if (rc || strcmp(m.installer, "rauc") != 0)
		return rc;
	rc = ops->status(&ic, &ss, err);
	if (rc)
		return rc;
	booted = upd_slot_find(&ss, ss.booted);
	for (size_t i = 0; booted && i < ss.n; i++)
		if (!ss.slot[i].booted && strcmp(ss.slot[i].class_, booted->class_) == 0) {
			snprintf(rec->slot, sizeof(rec->slot), "%s", ss.slot[i].bootname);
			return M2M_OK;
		}
	return m2m_err_set(err, M2M_ERR_FAILURE, "rauc: no slot to install into (booted: %s)",
			   ss.booted[0] ? ss.booted : "unknown");
}

/* RAUC made the target primary: an install finished (perhaps after our client gave up). */
static bool rauc_done(const struct upd_installer_ops *ops, const struct upd_install_ctx *ic,
		      const struct upd_record *rec)
{
	struct upd_slot_status ss;
	struct m2m_err e = { 0 };

	return rec->slot[0] && ops->status(ic, &ss, &e) == M2M_OK &&
	       strcmp(ss.primary, rec->slot) == 0 && strcmp(ss.booted, rec->slot) != 0;
}

/* The installer's group, in the journal before it runs. */
static int install_started(void *ctx, const struct upd_proc *p, struct m2m_err *err)
{
	struct m2m_update *u = ctx;

	return upd_installing(u->j, p, err);
}

/* a line of its output (the files it writes to), logged as its client would have */
static void earlier_line(void *ctx, int fd, const char *line)
{
	if (*line)
		eng_log(ctx, fd == 2 ? LOG_NOTICE : LOG_INFO, "script: %s", line);
}

/*
 * RAUC's service runs an install it was handed on its own, after its client
 * died: "Already processing" to a second one. Wait until it is idle (within
 * the install's limit and this run's bound: BUSY, still installing), then
 * judge from the slots: the target primary (and not booted) is the install
 * done (*done: no second Install); else (its LastError, or it never began)
 * it is installed again.
 */
static int await_rauc(struct m2m_update *u, const struct upd_record *rec, bool *done,
		      struct m2m_err *err)
{
	const struct upd_installer_ops *ops;
	struct upd_install_ctx ic;
	struct upd_manifest m;
	char last[256];
	int rc = installer_for(u, rec, &m, &ops, &ic, err);

	if (rc)
		return rc;
	eng_log(u, LOG_NOTICE, "an earlier run handed the install to RAUC: waiting for RAUC to be "
		"idle (at most %u ms from its start)", rec->proc.limit_ms);
	rc = upd_rauc_await(&ic, &rec->proc, eng_left_ms(u), u->o.stop, last, sizeof(last), err);
	if (rc == M2M_ERR_DAEMON || rc == M2M_ERR_NOT_FOUND) {
		/* no service, no install running: the install gets RAUC's own answer */
		eng_log(u, LOG_WARNING, "%s: installing again", err->msg);
		m2m_err_clear(err);
		return M2M_OK;
	}
	if (rc)
		return rc;
	if (rauc_done(ops, &ic, rec)) {
		*done = true;
		eng_log(u, LOG_NOTICE, "RAUC finished the install the earlier run handed to it: slot %s "
			"is primary; not installed again", rec->slot);
		return M2M_OK;
	}
	eng_log(u, LOG_NOTICE, "RAUC is idle and slot %s not primary (%s%s): installing again",
		rec->slot, last[0] ? "its last error: " : "no error", last);
	return M2M_OK;
}

/*
 * The installer a run killed during its install left (its group in the
 * record) may still run: a second one beside it could corrupt the slot. It
 * is waited for, within its own bound (then killed, as its run would have:
 * TIMEOUT, rolled back) and this run's (BUSY: still installing). Then the
 * install runs again, as after a power cut (it is idempotent): how the
 * first one ended died with its run.
 */
static int await_earlier(struct m2m_update *u, const struct upd_record *rec, bool *done,
			 struct m2m_err *err)
{
	*done = false;
	if (!strcmp(rec->proc.service, "rauc"))
		return await_rauc(u, rec, done, err);
	if (!rec->proc.pgid || !upd_proc_alive(&rec->proc))
		return M2M_OK;
	eng_log(u, LOG_NOTICE, "the installer an earlier run started (process group %d) still runs: "
		"waiting for it (at most %u ms from its start); its output:", rec->proc.pgid,
		rec->proc.limit_ms);
	return upd_proc_follow(&rec->proc, eng_left_ms(u), u->o.stop, u->st.path, earlier_line, u,
			       err);
}

static int op_install(void *ctx, struct upd_record *rec, struct m2m_err *err)
{
	struct m2m_update *u = ctx;
	const struct upd_installer_ops *ops;
	struct upd_install_ctx ic;
	struct upd_manifest m;
	char payload[DL_PATH_MAX];
	bool done;
	int rc;

	/* the verified record is on the disk: the payload is what counts, not the package */
	if (!eng_is_file_source(rec->source))
		unlinkat(u->dl.dirfd, PKG_NAME, 0);
	/* before the installer's context: its bound is what is left after the wait */
	rc = await_earlier(u, rec, &done, err);
	if (!rc && !done)
		rc = installer_for(u, rec, &m, &ops, &ic, err);
	if (rc || done)
		return rc;
	ic.started = install_started;
	ic.started_ctx = u;
	/* the slot is written: what the record says was committed into it is no more */
	if (strcmp(m.installer, "rauc") == 0)
		rc = eng_firmware_forget(&u->st, rec->slot, err);
	if (rc)
		return rc;
	eng_dl_path(u, PAYLOAD_NAME, payload);
	eng_log(u, LOG_INFO, "installing %s %s with %s%s%s", m.name, m.version, m.installer,
	      rec->slot[0] ? " into slot " : "", rec->slot);
	rc = ops->install(&ic, payload, err);
	if ((rc == M2M_ERR_TIMEOUT || rc == M2M_ERR_DAEMON) && strcmp(m.installer, "rauc") == 0 &&
	    rauc_done(ops, &ic, rec)) {
		eng_log(u, LOG_NOTICE, "rauc finished the install after our call gave up (%s)", err->msg);
		m2m_err_clear(err);
		rc = M2M_OK;
	}
	return rc;
}

/* The wall clock in ms (the journal's records carry it). */
static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* RAUC: the slot status, to know whether the new slot is the one running. */
static int slots_of(struct m2m_update *u, const struct upd_record *rec, struct upd_manifest *m,
		    struct upd_slot_status *ss, struct m2m_err *err)
{
	const struct upd_installer_ops *ops;
	struct upd_install_ctx ic;
	int rc = installer_for(u, rec, m, &ops, &ic, err);

	if (!rc && (strcmp(m->installer, "rauc") != 0 || !rec->slot[0]))
		return M2M_ERR_NOT_FOUND; /* no slots: the new version runs once installed */
	return rc ? rc : ops->status(&ic, ss, err);
}

/* The new version runs: RAUC's target slot booted (or the bootloader gave up on it). */
static bool op_ready(void *ctx, const struct upd_record *rec)
{
	struct m2m_update *u = ctx;
	struct upd_slot_status ss;
	struct upd_manifest m;
	struct m2m_err e = { 0 };
	int rc = slots_of(u, rec, &m, &ss, &e);

	if (rc == M2M_ERR_NOT_FOUND)
		return true;
	if (rc) {
		eng_log(u, LOG_WARNING, "health check not begun: %s", e.msg);
		return false;
	}
	if (strcmp(ss.booted, rec->slot) != 0 && strcmp(ss.primary, rec->slot) == 0) {
		eng_log(u, LOG_NOTICE, "%s %s is in slot %s: its health check begins once the device "
			"boots it", m.name, m.version, rec->slot);
		return false;
	}
	return true;
}

int eng_can_commit(struct m2m_update *u, const struct upd_record *rec, struct m2m_err *err)
{
	struct upd_slot_status ss;
	struct upd_manifest m;
	int rc = slots_of(u, rec, &m, &ss, err);

	if (rc == M2M_ERR_NOT_FOUND) {
		m2m_err_clear(err);
		return M2M_OK;
	}
	if (rc)
		return rc;
	if (strcmp(ss.booted, rec->slot) != 0)
		return m2m_err_set(err, M2M_ERR_USAGE, "%s %s is in slot %s and slot %s runs: %s",
				   m.name, m.version, rec->slot, ss.booted[0] ? ss.booted : "another",
				   strcmp(ss.primary, rec->slot) == 0 ? "reboot into it first, or roll back" :
				   "it did not stay booted: roll back");
	return M2M_OK;
}

static int op_health(void *ctx, const struct upd_record *rec, struct m2m_err *err)
{
	struct m2m_update *u = ctx;
	struct upd_slot_status ss;
	struct upd_manifest m;
	int64_t used = wall_ms() - (rec->time * 1000 + rec->ms);
	unsigned bound = u->up->health_timeout_ms, left;
	int rc = slots_of(u, rec, &m, &ss, err);

	if (rc == M2M_ERR_NOT_FOUND)
		m2m_err_clear(err);
	else if (rc == M2M_ERR_DAEMON || rc == M2M_ERR_TIMEOUT || rc == M2M_ERR_BUSY)
		return M2M_ERR_BUSY; /* RAUC did not answer now: within the bound, ask again */
	else if (rc)
		return rc;
	else if (strcmp(ss.booted, rec->slot) != 0)
		return m2m_err_set(err, M2M_ERR_FAILURE,
				   "health: slot %s did not stay booted (the bootloader booted %s)",
				   rec->slot, ss.booted[0] ? ss.booted : "another slot");
	if (!u->o.health)
		return m2m_err_set(err, M2M_ERR_BUSY, "awaiting a technician's decision");
	if (used < 0)
		used = 0;
	left = (uint64_t)used >= bound ? 1 : bound - (unsigned)used;
	if (left > eng_left_ms(u))
		left = eng_left_ms(u);
	eng_log(u, LOG_INFO, "health check of %s %s (%u ms left)", m.name, m.version, left);
	if (strcmp(m.installer, "config") == 0) {
		/* the new configuration proves itself: its tunnels, its server */
		struct m2m_config *now = NULL;

		rc = m2m_config_load(u->cfg->path, &now, err);
		if (rc)
			return m2m_err_prefix(err, "health: the new configuration");
		rc = u->o.health(u->o.health_ctx, now, left, u->o.stop, err);
		m2m_config_free(now);
		return rc;
	}
	return u->o.health(u->o.health_ctx, u->cfg, left, u->o.stop, err);
}

static void remove_payload(struct m2m_update *u)
{
	unlinkat(u->dl.dirfd, PAYLOAD_NAME, 0);
	unlinkat(u->dl.dirfd, PAYLOAD_TMP, 0);
	fsync(u->dl.dirfd);
}

static int op_commit(void *ctx, const struct upd_record *rec, struct m2m_err *err)
{
	struct m2m_update *u = ctx;
	const struct upd_installer_ops *ops;
	struct upd_install_ctx ic;
	struct upd_manifest m;
	int rc = installer_for(u, rec, &m, &ops, &ic, err);

	if (!rc)
		rc = ops->mark_good(&ic, err);
	if (!rc)
		rc = eng_installed_set(&u->st, m.name, m.version, err);
	if (!rc && m.type == UPD_FIRMWARE)
		rc = eng_firmware_commit(&u->st, m.name, m.version, rec->slot, wall_ms() / 1000, err);
	if (rc)
		return rc;
	remove_payload(u);
	eng_log(u, LOG_NOTICE, "committed %s %s", m.name, m.version);
	return M2M_OK;
}

static int op_rollback(void *ctx, const struct upd_record *rec, struct m2m_err *err)
{
	struct m2m_update *u = ctx;
	const struct upd_installer_ops *ops;
	struct upd_install_ctx ic;
	struct upd_manifest m;
	int rc = installer_for(u, rec, &m, &ops, &ic, err);

	ic.installed = rec->installed;
	if (!rc)
		rc = ops->rollback(&ic, err);
	if (rc)
		return rc;
	remove_payload(u);
	eng_log(u, LOG_NOTICE, "rolled back %s %s: %s", m.name, m.version, rec->message);
	return M2M_OK;
}

/* ---- the slot that booted, after a commit ---------------------------------------------- */

/*
 * The record names the slot its firmware runs from; the bootloader may have
 * given up on it since (its boot attempts spent) and booted the other one.
 * Not a fallback: an update of ours under way whose slot booted, or a reboot
 * due into the recorded slot (primary, not bad: a rollback's), which the
 * journal explains.
 */
int eng_check_boot(struct m2m_update *u, bool *fell_back, struct m2m_err *err)
{
	const struct upd_record *last = upd_last(u->j);
	struct upd_install_ctx ic = { .log = eng_log, .log_ctx = u };
	struct upd_slot_status ss;
	struct upd_fw_record r;
	const struct upd_slot *was, *now;
	struct m2m_err e = { 0 };
	char when[32];
	int rc;

	*fell_back = false;
	rc = eng_firmware_read(&u->st, &r, &e);
	if (rc == M2M_ERR_NOT_FOUND)
		return M2M_OK;
	if (rc) {
		eng_log(u, LOG_WARNING, "%s: the booted slot not compared with it", e.msg);
		return M2M_OK;
	}
	if (!r.run.slot[0] || !u->up->rauc)
		return M2M_OK;
	ic.rauc_conf = u->up->rauc_config;
	ic.dbus_address = getenv("M2M_RAUC_BUS");
	ic.rauc = getenv("M2M_RAUC");
	ic.timeout_ms = eng_left_ms(u) < 30000 ? eng_left_ms(u) : 30000;
	if (upd_rauc_status_detailed(&ic, &ss, &e) != M2M_OK) {
		/* RAUC not up yet: the next check asks again; nothing is claimed meanwhile */
		eng_log(u, LOG_WARNING, "which slot booted is not known (%s): the next check asks again",
			e.msg);
		return M2M_OK;
	}
	if (!ss.booted[0] || strcmp(ss.booted, r.run.slot) == 0)
		return M2M_OK;
	if (upd_next(u->j) != UPD_NEXT_NONE && strcmp(last->slot, ss.booted) == 0)
		return M2M_OK;
	was = upd_slot_find(&ss, r.run.slot);
	if (was && was->boot != UPD_BOOT_BAD && strcmp(ss.primary, r.run.slot) == 0)
		return M2M_OK;
	now = upd_slot_find(&ss, ss.booted);
	upd_fw_record_fall_back(&r, ss.booted, now ? now->version : NULL, wall_ms() / 1000);
	rc = eng_firmware_write(&u->st, &r, err);
	if (rc)
		return rc;
	*fell_back = true;
	if (!r.from.committed || !m2m_time_utc(r.from.committed, when, sizeof(when)))
		snprintf(when, sizeof(when), "at a time not recorded");
	if (r.run.version[0])
		eng_log(u, LOG_WARNING, "the bootloader fell back from slot %s (%s %s, committed %s) to "
			"slot %s: running %s %s%s", r.from.slot, r.from.name[0] ? r.from.name : "firmware",
			r.from.version[0] ? r.from.version : "of a version not known", when, r.run.slot,
			r.run.name, r.run.version,
			strcmp(r.source, "rauc") == 0 ? " (RAUC's status of the slot)" : "");
	else
		eng_log(u, LOG_WARNING, "the bootloader fell back from slot %s (%s %s, committed %s) to "
			"slot %s: the firmware version it runs is not known", r.from.slot,
			r.from.name[0] ? r.from.name : "firmware",
			r.from.version[0] ? r.from.version : "of a version not known", when, r.run.slot);
	return M2M_OK;
}

static void op_journaled(void *ctx, const struct upd_record *rec)
{
	struct m2m_update *u = ctx;

	eng_log(u, LOG_DEBUG, "journal: %s%s%s", upd_state_name(rec->state), rec->done ? " (done)" : "",
	      rec->result ? " with an error" : "");
}

const struct upd_ops eng_ops = {
	.fetch = op_fetch,
	.verify = op_verify,
	.discard = op_discard,
	.prepare = op_prepare,
	.install = op_install,
	.ready = op_ready,
	.health = op_health,
	.commit = op_commit,
	.rollback = op_rollback,
	.journaled = op_journaled,
};

