/* SPDX-License-Identifier: MIT */
/*
 * The update engine (m2m/update.h): the journal's state machine (journal.c)
 * with the real work behind its steps: the pulls (fetch.c) with the
 * streaming verifier as their sink, the verification again from the disk
 * into the payload that is installed, the installers (install_*.c), the
 * health check the caller gives, and the anti-rollback floor.
 *
 * Files: the journal, the verified manifest (update.manifest) and the
 * committed versions (update.installed: {"name": "version"}) in the state
 * directory; the package (package) and the verified payload (payload) in
 * update.download_dir. The payload is only ever written by the verifier's
 * sink, from bytes that passed the signature and policy checks and whose
 * hash is checked at its end, so what an installer gets is what was signed.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "base/base.h"
#include "m2m/keystore.h"
#include "m2m/update.h"
#include "state/state.h"
#include "update/fetch.h"
#include "update/install.h"
#include "update/journal.h"
#include "update/update.h"

#define PKG_NAME "package"
#define PAYLOAD_NAME "payload"
#define PAYLOAD_TMP "payload.tmp"
#define MANIFEST_NAME "update.manifest"
#define INSTALLED_NAME "update.installed"
#define SMALL_MAX (64 * 1024)

struct m2m_update {
	const struct m2m_config *cfg;
	const struct m2m_update_config *up;
	struct m2m_update_opts o;
	struct m2m_state st;       /* state_dir: the journal, the manifest, the versions */
	struct m2m_state dl;       /* download_dir: the package, the payload */
	bool st_open, dl_open;
	struct upd *j;
	uint64_t deadline;         /* m2m_now_ms() of the run's end */
	int payload_fd;            /* the verifier's sink while verifying */
	uint64_t verified;         /* payload bytes written by the sink */
};

static void logf_(struct m2m_update *u, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void logf_(struct m2m_update *u, int prio, const char *fmt, ...)
{
	char line[768];
	va_list ap;

	if (!u->o.log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	u->o.log(u->o.log_ctx, prio, "%s", line);
}

const char *m2m_update_state_name(enum m2m_update_state s)
{
	return upd_state_name((enum upd_state)s);
}

/* ---- the versions this device has: update.installed and the floor --------------------- */

static int read_json(const struct m2m_state *st, const char *name, json_object **out,
		     struct m2m_err *err)
{
	char *buf = NULL;
	size_t len = 0;
	int rc = m2m_state_read(st, name, SMALL_MAX, NULL, NULL, &buf, &len, err);

	*out = NULL;
	if (rc == M2M_ERR_NOT_FOUND) {
		m2m_err_clear(err);
		*out = json_object_new_object();
		return *out ? M2M_OK : m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	}
	if (rc)
		return rc;
	*out = json_tokener_parse(buf);
	free(buf);
	if (!*out || !json_object_is_type(*out, json_type_object)) {
		json_object_put(*out);
		*out = NULL;
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s/%s: not a JSON object", st->path, name);
	}
	return M2M_OK;
}

static int installed_get(const struct m2m_state *st, const char *name, char *out, size_t len,
			 struct m2m_err *err)
{
	json_object *o, *v;
	int rc = read_json(st, INSTALLED_NAME, &o, err);

	out[0] = '\0';
	if (rc)
		return rc;
	if (json_object_object_get_ex(o, name, &v) && json_object_is_type(v, json_type_string))
		snprintf(out, len, "%s", json_object_get_string(v));
	json_object_put(o);
	return M2M_OK;
}

static int installed_set(const struct m2m_state *st, const char *name, const char *version,
			 struct m2m_err *err)
{
	json_object *o;
	const char *s;
	int rc = read_json(st, INSTALLED_NAME, &o, err);

	if (rc)
		return rc;
	json_object_object_add(o, name, json_object_new_string(version));
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	rc = s ? m2m_state_write(st, INSTALLED_NAME, s, strlen(s), err) :
		 m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	json_object_put(o);
	return rc;
}

/*
 * The floor after a commit: the committed version, or lower if the config
 * names downgrades below it (update.downgrades), so that a named downgrade
 * stays possible. The floor only ever rises: a downgrade added to the config
 * later (by someone with the disk) cannot lower it.
 */
static int floor_get(void *ctx, const char *name, char *version, size_t len, struct m2m_err *err)
{
	struct m2m_update *u = ctx;

	return upd_floor_file_ops.get((void *)&u->st, name, version, len, err);
}

static int floor_raise(void *ctx, const char *name, const char *version, struct m2m_err *err)
{
	struct m2m_update *u = ctx;
	struct upd_version v, d, low;
	const char *to = version;

	if (!upd_version_parse(version, &v))
		return m2m_err_set(err, M2M_ERR_FAILURE, "floor: \"%s\" is not a version", version);
	low = v;
	for (char **p = u->up->downgrades; p && *p; p++)
		if (upd_version_parse(*p, &d) && upd_version_cmp(&d, &low) < 0) {
			low = d;
			to = *p;
		}
	return upd_floor_file_ops.raise((void *)&u->st, name, to, err);
}

static const struct upd_floor_ops engine_floor = { .get = floor_get, .raise = floor_raise };

/* The policy's lookup, once the manifest names the package. */
static int versions(void *ctx, const char *name, char *installed, size_t ilen, char *floor,
		    size_t flen, struct m2m_err *err)
{
	struct m2m_update *u = ctx;
	int rc = installed_get(&u->st, name, installed, ilen, err);

	if (!rc)
		rc = floor_get(u, name, floor, flen, err);
	return rc;
}

static void policy_of(struct m2m_update *u, struct upd_policy *pol)
{
	memset(pol, 0, sizeof(*pol));
	pol->trust = u->up->trust;
	pol->model = u->up->model;
	pol->signatures = u->up->signatures;
	pol->downgrades = (const char *const *)u->up->downgrades;
	pol->versions = versions;
	pol->versions_ctx = u;
}

static unsigned left_ms(const struct m2m_update *u)
{
	uint64_t now = m2m_now_ms();

	if (now >= u->deadline)
		return 1;
	return u->deadline - now > UINT_MAX ? UINT_MAX : (unsigned)(u->deadline - now);
}

static bool is_file_source(const char *source)
{
	return source[0] == '/';
}

/* A file of the download area by its full path. */
#define DL_PATH_MAX (PATH_MAX + 32)
static const char *dl_path(const struct m2m_update *u, const char *name, char *buf)
{
	snprintf(buf, DL_PATH_MAX, "%s/%s", u->dl.path, name);
	return buf;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* ---- fetch ------------------------------------------------------------------------------ */

struct fetch_ctx {
	struct m2m_update *u;
	struct upd *j;
	struct upd_verifier *v;
};

static int sink_verifier(void *ctx, const void *data, size_t len, struct m2m_err *err)
{
	struct fetch_ctx *f = ctx;

	return upd_verifier_feed(f->v, data, len, err);
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

	if (is_file_source(rec->source)) {
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
	policy_of(u, &pol);
	rc = upd_verifier_new(&pol, NULL, NULL, &f.v, err);
	if (rc)
		goto out;
	fo.url = rec->source;
	fo.path = dl_path(u, PKG_NAME, path);
	fo.max = u->up->max_size;
	fo.timeout_ms = left_ms(u);
	fo.ca = u->up->ca;
	fo.sink = sink_verifier;
	fo.sink_ctx = &f;
	fo.progress = fetch_progress;
	fo.progress_ctx = &f;
	fo.checkpoint = fetch_checkpoint;
	fo.checkpoint_ctx = &f;
	fo.stop = u->o.stop;
	logf_(u, LOG_INFO, "downloading %s%s", rec->source, rec->offset ? " (resumed)" : "");
	rc = upd_fetch(&fo, &fs, err);
	/* the whole package arrived: its payload must be complete and its hash right */
	if (!rc)
		rc = upd_verifier_end(f.v, err);
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

/* ---- verify: from the disk into the payload that is installed ------------------------------ */

static int sink_payload(void *ctx, const void *data, size_t len, struct m2m_err *err)
{
	struct m2m_update *u = ctx;

	if (write_all(u->payload_fd, data, len) != 0)
		return m2m_err_set(err, errno == ENOSPC || errno == EDQUOT ? M2M_ERR_STORAGE :
				   M2M_ERR_FAILURE, "%s/%s: %s", u->dl.path, PAYLOAD_TMP, strerror(errno));
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
	return is_file_source(rec->source) ? rec->source : dl_path(u, PKG_NAME, buf);
}

static int op_verify(void *ctx, struct upd_record *rec, struct m2m_err *err)
{
	struct m2m_update *u = ctx;
	struct upd_manifest m;
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
	policy_of(u, &pol);
	logf_(u, LOG_INFO, "verifying %s", pkg);
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
	/* the package is no longer needed: the payload is what was verified */
	if (!is_file_source(rec->source))
		unlinkat(u->dl.dirfd, PKG_NAME, 0);
	logf_(u, LOG_INFO, "verified %s %s (%s)", m.name, m.version, upd_type_name(m.type));
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

static void install_log(void *ctx, int prio, const char *fmt, ...)
{
	struct m2m_update *u = ctx;
	char line[768];
	va_list ap;

	if (!u->o.log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	u->o.log(u->o.log_ctx, prio, "%s", line);
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
	ic->log = install_log;
	ic->log_ctx = u;
	ic->name = m->name;
	ic->version = m->version;
	ic->type = m->type;
	ic->target = rec->slot[0] ? rec->slot : NULL;
	ic->timeout_ms = left_ms(u);
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
		if (u->up->script_timeout_ms && u->up->script_timeout_ms < ic->timeout_ms)
			ic->timeout_ms = u->up->script_timeout_ms;
	} else {
		return m2m_err_set(err, M2M_ERR_REFUSED,
				   "package %s %s: installer %s is not one this device has", m->name,
				   m->version, m->installer);
	}
	return *ops ? M2M_OK : m2m_err_set(err, M2M_ERR_FAILURE, "installer %s: missing", m->installer);
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
	int rc = manifest_of(u, &m, err);

	if (!rc)
		rc = installer_of(u, rec, &m, &ops, &ic, err);
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

static int op_install(void *ctx, struct upd_record *rec, struct m2m_err *err)
{
	struct m2m_update *u = ctx;
	const struct upd_installer_ops *ops;
	struct upd_install_ctx ic;
	struct upd_manifest m;
	char payload[DL_PATH_MAX];
	int rc = manifest_of(u, &m, err);

	if (!rc)
		rc = installer_of(u, rec, &m, &ops, &ic, err);
	if (rc)
		return rc;
	dl_path(u, PAYLOAD_NAME, payload);
	logf_(u, LOG_INFO, "installing %s %s with %s%s%s", m.name, m.version, m.installer,
	      rec->slot[0] ? " into slot " : "", rec->slot);
	rc = ops->install(&ic, payload, err);
	if ((rc == M2M_ERR_TIMEOUT || rc == M2M_ERR_DAEMON) && strcmp(m.installer, "rauc") == 0 &&
	    rauc_done(ops, &ic, rec)) {
		logf_(u, LOG_NOTICE, "rauc finished the install after our call gave up (%s)", err->msg);
		m2m_err_clear(err);
		rc = M2M_OK;
	}
	return rc;
}

static int op_health(void *ctx, const struct upd_record *rec, struct m2m_err *err)
{
	struct m2m_update *u = ctx;
	const struct upd_installer_ops *ops;
	struct upd_install_ctx ic;
	struct upd_manifest m;
	int64_t used = (int64_t)time(NULL) - rec->time;
	unsigned bound = u->up->health_timeout_ms, left;
	int rc = manifest_of(u, &m, err);

	if (!rc)
		rc = installer_of(u, rec, &m, &ops, &ic, err);
	if (rc)
		return rc;
	if (strcmp(m.installer, "rauc") == 0 && rec->slot[0]) {
		struct upd_slot_status ss;

		rc = ops->status(&ic, &ss, err);
		if (rc)
			return rc == M2M_ERR_DAEMON ? M2M_ERR_BUSY : rc;
		if (strcmp(ss.booted, rec->slot) != 0) {
			if (strcmp(ss.primary, rec->slot) == 0) {
				logf_(u, LOG_NOTICE, "%s %s is in slot %s: it is checked once the device boots it",
				      m.name, m.version, rec->slot);
				return m2m_err_set(err, M2M_ERR_BUSY, "reboot into slot %s pending", rec->slot);
			}
			return m2m_err_set(err, M2M_ERR_FAILURE,
					   "health: slot %s did not stay booted (the bootloader booted %s)",
					   rec->slot, ss.booted[0] ? ss.booted : "another slot");
		}
	}
	if (!u->o.health)
		return m2m_err_set(err, M2M_ERR_BUSY, "awaiting a technician's decision");
	if (used < 0)
		used = 0;
	left = (uint64_t)used * 1000 >= bound ? 1 : bound - (unsigned)used * 1000;
	if (left > left_ms(u))
		left = left_ms(u);
	logf_(u, LOG_INFO, "health check of %s %s (%u ms left)", m.name, m.version, left);
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
	int rc = manifest_of(u, &m, err);

	if (!rc)
		rc = installer_of(u, rec, &m, &ops, &ic, err);
	if (!rc)
		rc = ops->mark_good(&ic, err);
	if (!rc)
		rc = installed_set(&u->st, m.name, m.version, err);
	if (rc)
		return rc;
	remove_payload(u);
	logf_(u, LOG_NOTICE, "committed %s %s", m.name, m.version);
	return M2M_OK;
}

static int op_rollback(void *ctx, const struct upd_record *rec, struct m2m_err *err)
{
	struct m2m_update *u = ctx;
	const struct upd_installer_ops *ops;
	struct upd_install_ctx ic;
	struct upd_manifest m;
	int rc = manifest_of(u, &m, err);

	if (!rc)
		rc = installer_of(u, rec, &m, &ops, &ic, err);
	if (!rc)
		rc = ops->rollback(&ic, err);
	if (rc)
		return rc;
	remove_payload(u);
	logf_(u, LOG_NOTICE, "rolled back %s %s: %s", m.name, m.version, rec->message);
	return M2M_OK;
}

static void op_journaled(void *ctx, const struct upd_record *rec)
{
	struct m2m_update *u = ctx;

	logf_(u, LOG_DEBUG, "journal: %s%s%s", upd_state_name(rec->state), rec->done ? " (done)" : "",
	      rec->result ? " with an error" : "");
}

static const struct upd_ops engine_ops = {
	.fetch = op_fetch,
	.verify = op_verify,
	.prepare = op_prepare,
	.install = op_install,
	.health = op_health,
	.commit = op_commit,
	.rollback = op_rollback,
	.journaled = op_journaled,
};

/* ---- the public calls ------------------------------------------------------------------- */

static int open_dirs(const struct m2m_config *cfg, struct m2m_state *st, bool *st_open,
		     struct m2m_err *err)
{
	int rc = m2m_state_open(st, cfg->state_dir ? cfg->state_dir : M2M_STATE_DEFAULT_DIR, err);

	*st_open = rc == M2M_OK;
	return rc;
}

int m2m_update_open(const struct m2m_config *cfg, const struct m2m_update_opts *opts,
		    struct m2m_update **out, struct m2m_err *err)
{
	struct upd_opts uo = { .ops = &engine_ops };
	struct m2m_update *u;
	int rc;

	m2m_err_clear(err);
	*out = NULL;
	if (!opts || opts->version < 1 || opts->version > M2M_UPDATE_OPTS_VERSION)
		return m2m_err_set(err, M2M_ERR_USAGE, "m2m_update_open: options of version %u, not 1..%u",
				   opts ? opts->version : 0, M2M_UPDATE_OPTS_VERSION);
	if (!cfg->update)
		return m2m_err_set(err, M2M_ERR_CONFIG, "%s: update: not configured", cfg->path);
	u = calloc(1, sizeof(*u));
	if (!u)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	u->cfg = cfg;
	u->up = cfg->update;
	u->o = *opts;
	u->payload_fd = -1;
	u->deadline = m2m_now_ms() + (opts->timeout_ms ? opts->timeout_ms : u->up->timeout_ms);
	rc = open_dirs(cfg, &u->st, &u->st_open, err);
	if (!rc) {
		rc = m2m_state_open(&u->dl, u->up->download_dir, err);
		u->dl_open = rc == M2M_OK;
	}
	if (!rc) {
		uo.ctx = u;
		uo.floor = &engine_floor;
		uo.floor_ctx = u;
		uo.health_timeout_ms = u->up->health_timeout_ms;
		rc = upd_open(&u->st, &uo, &u->j, err);
	}
	if (rc) {
		m2m_update_close(u);
		return rc;
	}
	*out = u;
	return M2M_OK;
}

void m2m_update_close(struct m2m_update *u)
{
	if (!u)
		return;
	upd_close(u->j);
	if (u->dl_open)
		m2m_state_close(&u->dl);
	if (u->st_open)
		m2m_state_close(&u->st);
	free(u);
}

/* A call that succeeded says nothing (a lookup on the way may have left words in err). */
static int ok(int rc, struct m2m_err *err)
{
	if (rc == M2M_OK)
		m2m_err_clear(err);
	return rc;
}

int m2m_update_install(struct m2m_update *u, const char *source, struct m2m_err *err)
{
	int rc;

	m2m_err_clear(err);
	if (source && source[0] != '/' && upd_fetch_scheme(source) == UPD_SCHEME_INVALID)
		return m2m_err_set(err, M2M_ERR_USAGE, "%s: not a URL or an absolute path", source);
	rc = upd_start(u->j, source, err);
	if (!rc)
		rc = upd_run(u->j, err);
	return ok(rc, err);
}

int m2m_update_continue(struct m2m_update *u, struct m2m_err *err)
{
	m2m_err_clear(err);
	return ok(upd_run(u->j, err), err);
}

int m2m_update_decide(struct m2m_update *u, bool good, struct m2m_err *err)
{
	m2m_err_clear(err);
	return ok(upd_decide(u->j, good, err), err);
}

static void status_of(const struct m2m_state *st, const struct upd_record *r, enum upd_next next,
		      struct m2m_update_status *s)
{
	struct m2m_err e = { 0 };

	memset(s, 0, sizeof(*s));
	s->state = (enum m2m_update_state)r->state;
	s->done = r->done;
	snprintf(s->name, sizeof(s->name), "%s", r->name);
	snprintf(s->version, sizeof(s->version), "%s", r->version);
	snprintf(s->type, sizeof(s->type), "%s", r->type ? upd_type_name(r->type) : "");
	snprintf(s->source, sizeof(s->source), "%s", r->source);
	s->offset = r->offset;
	snprintf(s->slot, sizeof(s->slot), "%s", r->slot);
	s->result = r->result;
	snprintf(s->message, sizeof(s->message), "%s", r->message);
	s->time = r->time;
	snprintf(s->next, sizeof(s->next), "%s", upd_next_name(next));
	if (r->name[0] && st) {
		installed_get(st, r->name, s->installed, sizeof(s->installed), &e);
		upd_floor_file_ops.get((void *)st, r->name, s->floor, sizeof(s->floor), &e);
	}
}

int m2m_update_get(const struct m2m_update *u, struct m2m_update_status *st, struct m2m_err *err)
{
	status_of(&u->st, upd_last(u->j), upd_next(u->j), st);
	return M2M_OK;
}

int m2m_update_status(const struct m2m_config *cfg, struct m2m_update_status *s,
		      struct m2m_err *err)
{
	struct upd_record last;
	enum upd_next next;
	struct m2m_state st;
	int rc;

	m2m_err_clear(err);
	memset(s, 0, sizeof(*s));
	if (!cfg->update)
		return m2m_err_set(err, M2M_ERR_CONFIG, "%s: update: not configured", cfg->path);
	rc = m2m_state_open_existing(&st, cfg->state_dir ? cfg->state_dir : M2M_STATE_DEFAULT_DIR, err);
	if (rc == M2M_ERR_NOT_FOUND) {
		m2m_err_clear(err);
		snprintf(s->next, sizeof(s->next), "%s", upd_next_name(UPD_NEXT_NONE));
		return M2M_OK;
	}
	if (rc)
		return rc;
	rc = upd_journal_recover(&st, &last, &next, err);
	if (!rc)
		status_of(&st, &last, next, s);
	m2m_state_close(&st);
	return rc;
}
