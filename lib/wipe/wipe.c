/* SPDX-License-Identifier: MIT */
/*
 * Decommissioning in one auditable step (m2m/wipe.h): what charon holds of
 * the profiles, every key in its store, the certificates and the secrets the
 * configuration names in files, then the state directory but for the audit
 * log. The audit log gets a record before anything is touched and one at
 * the end that counts what was destroyed, what was not there and what could
 * not be destroyed. Everything is tried whatever fails before it: a wipe
 * that stops half way leaves a device that is neither in service nor clean.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "keystore/keystore.h"
#include "m2m/keystore.h"
#include "m2m/vpn.h"
#include "m2m/wipe.h"
#include "policy/policy.h"
#include "vpn/vpn.h"
#include "state/state.h"

#define LOCK_NAME "wipe.lock"
#define MAX_PATHS 256
/* what charon is given to let a profile go */
#define DOWN_MS 5000

struct wipe {
	const struct m2m_config *cfg;
	m2m_log_fn log;
	void *log_ctx;
	struct m2m_wipe_result *res;
	int rc;                  /* the first failure's class */
	struct m2m_err *err;     /* and its message */
	char failed[192];        /* what failed, for the last record */
	char *done[MAX_PATHS];   /* files already dealt with (one shared by two profiles) */
	size_t ndone;
	const char *keep[MAX_PATHS]; /* secrets a key not destroyed still needs (its PIN) */
	size_t nkeep;
	bool forget_failed;      /* charon may still hold something: its records stay */
	bool quarantined;        /* a quarantine is in force: its state and record stay */
	dev_t root_dev;          /* the state directory's file system */
};

static void say(struct wipe *w, int prio, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(struct wipe *w, int prio, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!w->log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	w->log(w->log_ctx, prio, "%s", line);
}

/* The outcome of one thing: destroyed (M2M_OK), not there (NOT_FOUND) or failed. */
static void outcome(struct wipe *w, const char *what, int rc, const struct m2m_err *e)
{
	if (rc == M2M_OK) {
		w->res->destroyed++;
		say(w, 5, "wipe: %s: destroyed", what);
	} else if (rc == M2M_ERR_NOT_FOUND) {
		w->res->gone++;
		say(w, 6, "wipe: %s: not there", what);
	} else {
		w->res->failed++;
		say(w, 3, "wipe: %s: NOT destroyed: %s", what, e->msg);
		if (!w->rc) {
			w->rc = rc;
			if (w->err) {
				*w->err = *e;
				m2m_err_prefix(w->err, "wipe: %s", what);
			}
		}
		/* named while there is room; then that there are more */
		if (strlen(w->failed) + strlen(what) + 8 < sizeof(w->failed))
			snprintf(w->failed + strlen(w->failed), sizeof(w->failed) - strlen(w->failed),
				 "%s%s", w->failed[0] ? ", " : "", what);
		else if (!strstr(w->failed, ", ..."))
			snprintf(w->failed + strlen(w->failed), sizeof(w->failed) - strlen(w->failed),
				 ", ...");
	}
}

static bool seen(struct wipe *w, const char *path)
{
	for (size_t i = 0; i < w->ndone; i++)
		if (strcmp(w->done[i], path) == 0)
			return true;
	if (w->ndone < MAX_PATHS && (w->done[w->ndone] = strdup(path)))
		w->ndone++;
	return false;
}

static void file(struct wipe *w, const char *what, const char *path)
{
	struct m2m_err e;
	char label[PATH_MAX + 64];
	int rc;

	if (!path || seen(w, path))
		return;
	m2m_err_clear(&e);
	snprintf(label, sizeof(label), "%s %s", what, path);
	for (size_t i = 0; i < w->nkeep; i++)
		if (strcmp(w->keep[i], path) == 0) {
			rc = m2m_err_set(&e, M2M_ERR_FAILURE,
					 "kept: a key not destroyed needs it; the next wipe takes both");
			outcome(w, label, rc, &e);
			return;
		}
	rc = m2m_destroy_file(path, NULL, &e);
	outcome(w, label, rc, &e);
}

static void secret(struct wipe *w, const char *what, const struct m2m_secret_ref *s)
{
	if (s->source == M2M_SECRET_FILE)
		file(w, what, s->path);
}

/* a machine-bound key: its store reads the file (the sealed secret's handle) and removes it */
static const struct m2m_key_ref *machine_ref;
static int machine_remove(const char *path, struct m2m_err *err)
{
	return m2m_key_delete(machine_ref, err);
}

/* path with suffix, if it is there (what a renewal keeps beside a key or certificate). */
static void suffixed(struct wipe *w, const char *what, const char *path, const char *suffix)
{
	char name[PATH_MAX];

	if (path && (size_t)snprintf(name, sizeof(name), "%s%s", path, suffix) < sizeof(name) &&
	    access(name, F_OK) == 0)
		file(w, what, name);
}

/* A PIN file is kept while a key it opens could not be destroyed: the next wipe needs it. */
static void keep_pin(struct wipe *w, const struct m2m_key_ref *ref, int rc)
{
	if (rc && rc != M2M_ERR_NOT_FOUND && ref->pin.source == M2M_SECRET_FILE && ref->pin.path &&
	    w->nkeep < MAX_PATHS)
		w->keep[w->nkeep++] = ref->pin.path;
}

/* Does a token key show without a login (its public key or certificate)? */
static bool token_shows(const struct m2m_key_ref *ref)
{
	struct m2m_key *k = NULL;
	bool yes;

	m2m_keystore_set_deadline(m2m_now_ms() + M2M_KEYSTORE_DEFAULT_MS);
	yes = m2m_key_open(ref, &k, NULL) == M2M_OK;
	m2m_key_close(k);
	return yes;
}

/*
 * A key on a token; one that may well not be there (a renewal's) is named
 * only if it is. Without login, a key is looked for by its public objects
 * first (none, and it is not there: its PIN may be gone).
 */
static void token_key(struct wipe *w, const char *what, const struct m2m_key_ref *ref, bool maybe,
		      bool login)
{
	char label[PATH_MAX + 64];
	struct m2m_err e;
	int rc = M2M_OK;

	m2m_err_clear(&e);
	snprintf(label, sizeof(label), "%s on the token%s%s (%s %s)", what, ref->token ? " " : "",
		 ref->token ? ref->token : "", ref->id ? "id" : "label",
		 ref->id ? ref->id : ref->label ? ref->label : "?");
	if (!login && !token_shows(ref))
		rc = m2m_err_set(&e, M2M_ERR_NOT_FOUND, "no such key");
	/* a token that does not answer holds each key for a bounded time */
	m2m_keystore_set_deadline(m2m_now_ms() + M2M_KEYSTORE_DEFAULT_MS);
	if (!rc)
		rc = m2m_key_delete(ref, &e);
	if (rc == M2M_ERR_NOT_FOUND && maybe)
		return;
	outcome(w, label, rc, &e);
	keep_pin(w, ref, rc);
}

/* A key in its store; a file key is a file. */
static void key(struct wipe *w, const char *what, const struct m2m_key_ref *ref)
{
	char label[PATH_MAX + 64];
	struct m2m_err e;
	int rc;

	m2m_err_clear(&e);
	/* a TPM or token that does not answer holds each key for a bounded time */
	m2m_keystore_set_deadline(m2m_now_ms() + M2M_KEYSTORE_DEFAULT_MS);
	switch (ref->store) {
	case M2M_KEYSTORE_FILE:
		file(w, what, ref->path);
		/* a renewal's next key, and the key a renewal replaced while it waits for its proof */
		suffixed(w, what, ref->path, M2M_KEY_NEXT_SUFFIX);
		suffixed(w, what, ref->path, M2M_KEY_PREV_SUFFIX);
		return;
	case M2M_KEYSTORE_MACHINE:
		if (!ref->path || seen(w, ref->path))
			return;
		snprintf(label, sizeof(label), "%s %s (bound to the machine)", what, ref->path);
		machine_ref = ref;
		rc = m2m_destroy_file(ref->path, machine_remove, &e);
		break;
	case M2M_KEYSTORE_TPM:
		snprintf(label, sizeof(label), "%s in the TPM (handle 0x%08x)", what,
			 ref->handle ? ref->handle : M2M_TPM_DEFAULT_HANDLE);
		/* a renewal's next key, and the key one replaced, are blobs (m2m_key_ref_next()) */
		if (!ref->path) {
			struct m2m_key_ref other;
			char name[PATH_MAX];

			if (m2m_key_ref_next(ref, &other, name, sizeof(name), NULL) == M2M_OK &&
			    access(name, F_OK) == 0)
				file(w, what, name);
			if (ks_key_ref_prev(ref, &other, name, sizeof(name), NULL) == M2M_OK &&
			    access(name, F_OK) == 0)
				file(w, what, name);
		}
		/* the key at the handle and its blob */
		rc = m2m_key_delete(ref, &e);
		break;
	case M2M_KEYSTORE_PKCS11: {
		struct m2m_key_ref next, prev;
		char nname[160], pname[160];
		bool has_next = m2m_key_ref_next(ref, &next, nname, sizeof(nname), NULL) == M2M_OK;
		bool has_prev = ks_key_ref_prev(ref, &prev, pname, sizeof(pname), NULL) == M2M_OK;
		/*
		 * With a renewal's next key, and the key one replaced while it waits
		 * for its proof. A key change a power cut stopped half-way leaves a
		 * private key under an id with no public object beside it, seen only
		 * once logged in: if any of the three shows, each is deleted with a
		 * login.
		 */
		bool login = token_shows(ref) || (has_next && token_shows(&next)) ||
			     (has_prev && token_shows(&prev));

		if (has_next)
			token_key(w, what, &next, true, login);
		if (has_prev)
			token_key(w, what, &prev, true, login);
		token_key(w, what, ref, false, login);
		return;
	}
	default:
		return;
	}
	outcome(w, label, rc, &e);
	keep_pin(w, ref, rc);
}

/* What charon holds of the profiles: their SAs, connections and credentials. */
static void charon(struct wipe *w)
{
	struct m2m_vpn *vpn = NULL;
	struct m2m_err e;
	char label[128];
	int rc;

	m2m_err_clear(&e);
	rc = m2m_vpn_open(w->cfg, &vpn, &e);
	for (size_t i = 0; !rc && i < w->cfg->n_profiles; i++) {
		snprintf(label, sizeof(label), "profile %s's connection and credentials in charon",
			 w->cfg->profiles[i].name);
		m2m_err_clear(&e);
		rc = m2m_vpn_forget(vpn, w->cfg->profiles[i].name, DOWN_MS, &e);
		/* not counted: charon does not say whether it held anything */
		if (rc) {
			outcome(w, label, rc, &e);
			w->forget_failed = true;
		} else {
			say(w, 6, "wipe: %s: unloaded", label);
		}
		rc = M2M_OK;
	}
	m2m_vpn_close(vpn);
}

static void dm_key(struct wipe *w)
{
	const struct m2m_dm_config *d = &w->cfg->dm;
	struct m2m_key_ref ref = { .pin = d->key_pin };

	if (!d->enabled)
		return;
	if (d->key_tpm) {
		ref.store = M2M_KEYSTORE_TPM;
		ref.tcti = d->key_tcti;
		ref.handle = d->key_handle;
		key(w, "management key", &ref);
	} else if (d->key_module) {
		ref.store = M2M_KEYSTORE_PKCS11;
		ref.module = d->key_module;
		ref.token = d->key_token;
		ref.id = d->key_id;
		key(w, "management key", &ref);
	} else {
		file(w, "management key", d->key);
	}
}

/*
 * Every key first: a token needs its PIN to destroy one, and two keys may
 * share a PIN. Each profile's under its lock, so that an up swapping in a
 * new key (its objects moving between ids) does not move one past the wipe;
 * a lock not had in time (an up that hangs) does not stop the wipe.
 */
static void keys(struct wipe *w)
{
	for (size_t i = 0; i < w->cfg->n_profiles; i++) {
		const struct m2m_vpn_profile *p = &w->cfg->profiles[i];
		struct m2m_key_ref ref;
		struct m2m_err e;
		int lock = -1;

		if (m2m_key_ref_from_profile(p, &ref, NULL) != M2M_OK)
			continue;
		m2m_err_clear(&e);
		if (vpn_profile_lock(w->cfg, p->name, DOWN_MS, &lock, &e) != M2M_OK)
			say(w, 4, "wipe: profile %s: %s; its key is destroyed without it", p->name, e.msg);
		key(w, "key", &ref);
		m2m_unlock(lock);
	}
	dm_key(w);
}

/* Then the certificates and the secrets, but for a PIN a key not destroyed still needs. */
static void files(struct wipe *w)
{
	const struct m2m_dm_config *d = &w->cfg->dm;

	for (size_t i = 0; i < w->cfg->n_profiles; i++) {
		const struct m2m_vpn_profile *p = &w->cfg->profiles[i];
		const struct m2m_enroll_config *en = m2m_config_enroll(w->cfg, p);

		file(w, "certificate", p->cert);
		/* the one a renewal replaced, while it waits for its proof, and a new key's */
		suffixed(w, "certificate", p->cert, M2M_CERT_PREV_SUFFIX);
		suffixed(w, "certificate", p->cert, M2M_CERT_NEXT_SUFFIX);
		secret(w, "PIN", &p->pin);
		secret(w, "EAP password", &p->password);
		if (en)
			secret(w, "CA secret", &en->secret);
	}
	if (!d->enabled)
		return;
	file(w, "management certificate", d->cert);
	secret(w, "management pre-shared key", &d->psk_key);
	secret(w, "management key PIN", &d->key_pin);
}

/*
 * The state directory, but for the audit log, the locks (a running watch or
 * check holds one) and a quarantine in force (a device wiped because it was
 * stolen stays cut off); and what says what charon holds of a profile while
 * taking it out of charon failed, so that the next wipe can.
 */
#define KEPT_PREFIX "policy-audit" /* the log, the file before, those set aside */
static struct wipe *tree_wipe;
static size_t tree_root_len;

static bool kept(const char *name)
{
	size_t n = strlen(name);

	if (strncmp(name, KEPT_PREFIX, strlen(KEPT_PREFIX)) == 0 ||
	    (n > 5 && strcmp(name + n - 5, ".lock") == 0))
		return true;
	if (tree_wipe->quarantined &&
	    (strcmp(name, "policy-state") == 0 || strcmp(name, "policy-quarantine-rules") == 0))
		return true;
	return tree_wipe->forget_failed && strncmp(name, "vpn-", 4) == 0 && n > 7 &&
	       strcmp(name + n - 7, ".loaded") == 0;
}

static int tree_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	struct m2m_err e;
	int rc;

	if (ftw->level == 0)
		return 0;
	if (ftw->level == 1 && kept(path + tree_root_len + 1))
		return 0;
	m2m_err_clear(&e);
	if (flag == FTW_DP) {
		/* a file system mounted here: its files went, its mount point stays */
		if (sb->st_dev != tree_wipe->root_dev)
			return 0;
		rc = rmdir(path) < 0 ? m2m_err_set(&e, M2M_ERR_FAILURE, "%s", strerror(errno)) : M2M_OK;
		if (rc)
			outcome(tree_wipe, path, rc, &e);
		return 0;
	}
	if (flag == FTW_DNR || flag == FTW_NS) {
		rc = m2m_err_set(&e, M2M_ERR_FAILURE, "cannot be read");
	} else if (S_ISREG(sb->st_mode)) {
		rc = m2m_destroy_file(path, NULL, &e);
		/* a link inside the state directory is ours: what it names is not */
		if (rc == M2M_ERR_FAILURE && strstr(e.msg, "a symbolic link"))
			rc = M2M_OK;
	} else {
		rc = unlink(path) < 0 ? m2m_err_set(&e, M2M_ERR_FAILURE, "%s", strerror(errno)) : M2M_OK;
	}
	outcome(tree_wipe, path, rc, &e);
	return 0;
}

static void state_dir(struct wipe *w, const struct m2m_state *st)
{
	char root[PATH_MAX];
	struct stat sb;
	struct m2m_err e;

	m2m_err_clear(&e);
	/* a state directory reached through a link is wiped where it is */
	if (!realpath(st->path, root) || stat(root, &sb) < 0) {
		m2m_err_set(&e, M2M_ERR_FAILURE, "%s", strerror(errno));
		outcome(w, st->path, M2M_ERR_FAILURE, &e);
		return;
	}
	w->root_dev = sb.st_dev;
	tree_wipe = w;
	tree_root_len = strlen(root);
	nftw(root, tree_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* a check holds the policy lock for its bound at most: the audit records wait that long */
static unsigned audit_wait(const struct m2m_config *cfg)
{
	return (cfg->policy ? cfg->policy->timeout_ms : 30000) + 5000;
}

int m2m_wipe(const struct m2m_config *cfg, const char *reason, m2m_log_fn log, void *log_ctx,
	     struct m2m_wipe_result *res, struct m2m_err *err)
{
	struct wipe w = { .cfg = cfg, .log = log, .log_ctx = log_ctx, .res = res, .err = err };
	struct m2m_state st;
	struct m2m_err aerr;
	char detail[256], who[96];
	int lock = -1, rc;

	if (!res || res->version != M2M_WIPE_RESULT_VERSION)
		return m2m_err_set(err, M2M_ERR_USAGE, "wipe: struct m2m_wipe_result of another version");
	if (!reason || !reason[0])
		return m2m_err_set(err, M2M_ERR_USAGE, "a wipe needs a reason for the audit log");
	memset(res, 0, sizeof(*res));
	res->version = M2M_WIPE_RESULT_VERSION;
	rc = m2m_state_open(&st, cfg->state_dir ? cfg->state_dir : M2M_STATE_DEFAULT_DIR, err);
	if (rc)
		return rc;
	rc = m2m_state_lock(&st, LOCK_NAME, 0, &lock, err);
	if (rc) {
		if (rc == M2M_ERR_BUSY)
			m2m_err_set(err, rc, "another wipe is running");
		m2m_state_close(&st);
		return rc;
	}
	/* nothing is destroyed unless the audit log says first that it begins, who and why */
	m2m_who(who, sizeof(who));
	snprintf(detail, sizeof(detail), "begins, by %s: %s", who, reason);
	rc = pol_audit_event(cfg, "wipe", detail, audit_wait(cfg), NULL, err);
	if (rc) {
		m2m_err_prefix(err, "wipe not begun: its first audit record");
		m2m_state_unlock(lock);
		m2m_state_close(&st);
		return rc;
	}
	w.quarantined = m2m_state_exists(&st, "policy-quarantine-rules");
	charon(&w);
	keys(&w);
	files(&w);
	state_dir(&w, &st);
	snprintf(detail, sizeof(detail), "ends: %u destroyed, %u not there, %u failed%s%s",
		 res->destroyed, res->gone, res->failed, w.failed[0] ? ": " : "", w.failed);
	m2m_err_clear(&aerr);
	if (pol_audit_event(cfg, "wipe", detail, audit_wait(cfg), res->audit_head, &aerr))
		outcome(&w, "the audit log's last record", aerr.rc, &aerr);
	m2m_state_unlock(lock);
	m2m_state_close(&st);
	for (size_t i = 0; i < w.ndone; i++)
		free(w.done[i]);
	return w.rc;
}
