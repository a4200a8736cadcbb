/* SPDX-License-Identifier: MIT */
/*
 * A renewed certificate is proven on the tunnel. When a profile's certificate
 * is replaced by a renewal (m2mvpn-cert renew, lib/enroll), the one before is
 * kept beside it as "<cert>.prev" until an IKE SA came up with the new one.
 * m2m_vpn_up() settles it: an IKE SA established after the new certificate was
 * written proves it, and the previous one is removed; a gateway that refuses
 * our authentication brings the previous one back while it is still valid,
 * and up tries once more with it. So a CA that issues what the gateway does
 * not take (another intermediate, a name it does not expect) cannot cut a
 * device off while its old certificate would still do.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "keystore/keystore.h"
#include "m2m/keystore.h"
#include "m2m/pki.h"
#include "state/state.h"
#include "vpn/vpn.h"
#include "vpn/vpn_int.h"

/*
 * A renewal with a new key (m2mvpn-cert renew --new-key) replaces the key
 * too: the new key waits as <key>.next and its certificate as <cert>.next
 * until both take the current ones' place (the swap), the ones replaced kept
 * as <key>.prev and <cert>.prev, the last pair proven on the tunnel. A file
 * key's .prev is a hard link, so that once the new pair is proven, destroying
 * it overwrites the old key's own blocks (a copy would leave them). A token
 * key's next and previous keys are its objects under the id (or label) with
 * the suffix's bytes added (m2m_key_ref_next()); the swap gives them the
 * id in use, one object at a time, each move recorded first (below), so that
 * a move half done is finished by the next run. A TPM key's next and
 * previous keys are blobs in the state directory (tpm-key-0xHANDLE.next,
 * .prev, beside the blob of the key in use, tpm-key-0xHANDLE: a persistent
 * object can neither move to another handle nor be loaded again once
 * evicted): the key in use is kept as the previous one by renaming its blob,
 * and the next key takes the handle (ks_key_place: the key there evicted,
 * the blob's persisted) before its blob takes the kept one's name; those
 * steps are recorded as a token's are. A key made before blobs were kept
 * has none, and is never evicted: its swap is refused. The .next files are their
 * own journal: whichever of the swap's steps a power cut interrupted, the
 * next swap finishes it. Going back to the
 * previous pair, and letting it go once the new one is proven, are two
 * steps each: a record in the state directory (vpn-NAME.rekey: "fallback"
 * or "proven", and the identity of the <cert>.prev it is about) says which
 * is half done, so that no key is left beside a certificate that is not its
 * own; a record about another <cert>.prev than the one there is spent and
 * does nothing. All of it under the profile's lock (an up, a renewal).
 */
struct files {
	char cert_prev[4096], cert_next[4096];
	char key[4096], key_prev[4096], key_next[4096]; /* "" unless a file key */
	/*
	 * a token key: the profile's, its next and its previous (ids or labels in the
	 * buffers); a TPM key: the one at the handle, and its blobs (paths)
	 */
	bool token, tpm;
	struct m2m_key_ref ref, ref_next, ref_prev, ref_kept;
	char name_next[4096], name_prev[4096], name_kept[4096];
};

static bool files_of(const struct m2m_vpn_profile *p, struct files *f)
{
	struct m2m_key_ref ref;

	if (!p->cert || (size_t)snprintf(f->cert_prev, sizeof(f->cert_prev), "%s" M2M_CERT_PREV_SUFFIX,
					 p->cert) >= sizeof(f->cert_prev) ||
	    (size_t)snprintf(f->cert_next, sizeof(f->cert_next), "%s" M2M_CERT_NEXT_SUFFIX,
			     p->cert) >= sizeof(f->cert_next))
		return false;
	f->key[0] = f->key_prev[0] = f->key_next[0] = '\0';
	f->token = f->tpm = false;
	if (m2m_key_ref_from_profile(p, &ref, NULL) != M2M_OK)
		return true;
	if (ref.store == M2M_KEYSTORE_FILE && ref.path && strlen(ref.path) + 8 < sizeof(f->key)) {
		snprintf(f->key, sizeof(f->key), "%s", ref.path);
		snprintf(f->key_prev, sizeof(f->key_prev), "%s" M2M_KEY_PREV_SUFFIX, ref.path);
		snprintf(f->key_next, sizeof(f->key_next), "%s" M2M_KEY_NEXT_SUFFIX, ref.path);
	} else if (ref.store == M2M_KEYSTORE_PKCS11 &&
		   m2m_key_ref_next(&ref, &f->ref_next, f->name_next, sizeof(f->name_next), NULL) == M2M_OK &&
		   ks_key_ref_prev(&ref, &f->ref_prev, f->name_prev, sizeof(f->name_prev), NULL) == M2M_OK) {
		f->token = true;
		f->ref = ref;
	} else if (ref.store == M2M_KEYSTORE_TPM && !ref.path &&
		   m2m_key_ref_next(&ref, &f->ref_next, f->name_next, sizeof(f->name_next), NULL) == M2M_OK &&
		   ks_key_ref_prev(&ref, &f->ref_prev, f->name_prev, sizeof(f->name_prev), NULL) == M2M_OK &&
		   ks_key_ref_kept(&ref, &f->ref_kept, f->name_kept, sizeof(f->name_kept), NULL) == M2M_OK) {
		f->tpm = true;
		f->ref = ref;
	}
	return true;
}

static bool there(const char *path)
{
	return path[0] && access(path, F_OK) == 0;
}

/* to as another name of from (the pair in place kept), unless to is there already. */
static int keep_link(const char *from, const char *to, struct m2m_err *err)
{
	if (there(to))
		return M2M_OK;
	if (link(from, to) < 0)
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s: %s", to, strerror(errno));
	m2m_sync_dir_of(to);
	return M2M_OK;
}

/* A rename that an earlier, interrupted run may have done already. */
static int step_rename(const char *from, const char *to, struct m2m_err *err)
{
	if (!there(from))
		return M2M_OK;
	return m2m_rename_durable(from, to, err);
}

/* The record of a two-step change of the pair in place, about the <cert>.prev there. */
static void record_name(const struct m2m_vpn_profile *p, char *out, size_t len)
{
	snprintf(out, len, "vpn-%.64s.rekey", p->name);
}

static bool prev_id(const struct files *f, char *out, size_t len)
{
	struct stat sb;

	if (stat(f->cert_prev, &sb) != 0)
		return false;
	snprintf(out, len, "%llu:%llu", (unsigned long long)sb.st_dev, (unsigned long long)sb.st_ino);
	return true;
}

static int record(const struct m2m_config *cfg, const struct m2m_vpn_profile *p,
		  const struct files *f, const char *what, struct m2m_err *err)
{
	struct m2m_state st;
	char name[NAME_MAX + 1], text[96], id[48];
	int rc;

	record_name(p, name, sizeof(name));
	rc = m2m_state_open(&st, vpn_state_dir(cfg), err);
	if (rc)
		return rc;
	if (what && prev_id(f, id, sizeof(id))) {
		snprintf(text, sizeof(text), "%s %s", what, id);
		rc = m2m_state_write(&st, name, text, strlen(text), err);
	} else {
		rc = m2m_state_remove(&st, name, err);
	}
	m2m_state_close(&st);
	return rc;
}

/*
 * Is the next (or previous) key there? A token that cannot tell (not
 * present, its module gone) is an error: nothing is moved on a guess.
 */
static int key_there(const struct files *f, bool next, bool *yes, struct m2m_err *err)
{
	int rc;

	*yes = false;
	if (f->tpm) {
		*yes = there(next ? f->name_next : f->name_prev);
		return M2M_OK;
	}
	if (!f->token) {
		*yes = there(next ? f->key_next : f->key_prev);
		return M2M_OK;
	}
	rc = ks_key_there(next ? &f->ref_next : &f->ref_prev, err);
	*yes = rc == M2M_OK;
	return rc == M2M_ERR_NOT_FOUND ? M2M_OK : rc;
}

/* A token key's objects gone; none there is fine (a run before removed them). */
static int token_delete(const struct m2m_key_ref *ref, struct m2m_err *err)
{
	int rc = m2m_key_delete(ref, err);

	return rc == M2M_ERR_NOT_FOUND ? M2M_OK : rc;
}

/* A TPM key's blob destroyed; none there is fine. */
static int blob_destroy(const char *path, struct m2m_err *err)
{
	int rc = m2m_destroy_file(path, NULL, err);

	return rc == M2M_ERR_NOT_FOUND ? M2M_OK : rc;
}

/*
 * A TPM key's blob (the next or the previous key) takes the handle, then the
 * kept blob's name; gone already: both were done. Again after a cut: the
 * key at the handle is compared with the blob's first.
 */
static int tpm_take(const struct files *f, const struct m2m_key_ref *from, struct m2m_err *err)
{
	int rc;

	if (!there(from->path))
		return M2M_OK;
	rc = ks_key_place(&f->ref, from, err);
	return rc ? rc : m2m_rename_durable(from->path, f->name_kept, err);
}

/* A step of a token key's swap or fallback, or of a TPM key's (its blobs). */
static int key_keep(const struct files *f, struct m2m_err *err)
{
	return f->tpm ? step_rename(f->name_kept, f->name_prev, err) : ks_key_move(&f->ref, &f->ref_prev, err);
}

static int key_drop(const struct files *f, struct m2m_err *err)
{
	/* a TPM key stays at the handle until the next or previous one takes it */
	return f->tpm ? blob_destroy(f->name_kept, err) : token_delete(&f->ref, err);
}

static int key_take(const struct files *f, const struct m2m_key_ref *from, struct m2m_err *err)
{
	return f->tpm ? tpm_take(f, from, err) : ks_key_move(from, &f->ref, err);
}

/*
 * A token or TPM key's part of a swap or a fallback, from the phase a record
 * names. Each move of objects is recorded before it begins: one half done
 * cannot be told from another key (a private key moved, its public key not
 * yet), so what is there never decides what a move half done was for. A
 * TPM key's steps are its blobs renamed or destroyed and ks_key_place().
 *   keeping, dropping: the key in use kept as the previous one, or destroyed
 *     (never proven, while the last proven one is kept already); then
 *   taking: the next key takes the id (the handle) in use.
 *   fallback: the refused key destroyed; then
 *   restoring: the previous key takes the id (the handle) in use again.
 */
static int token_phase(const struct m2m_config *cfg, const struct m2m_vpn_profile *p,
		       const struct files *f, const char *phase, struct m2m_err *err)
{
	int rc = M2M_OK;

	if (!strcmp(phase, "keeping") || !strcmp(phase, "dropping")) {
		rc = !strcmp(phase, "keeping") ? key_keep(f, err) : key_drop(f, err);
		phase = "taking";
		if (!rc)
			rc = record(cfg, p, f, phase, err);
	} else if (!strcmp(phase, "fallback")) {
		rc = key_drop(f, err);
		phase = "restoring";
		if (!rc)
			rc = record(cfg, p, f, phase, err);
	}
	if (!rc && !strcmp(phase, "taking"))
		rc = key_take(f, &f->ref_next, err);
	else if (!rc && !strcmp(phase, "restoring"))
		rc = key_take(f, &f->ref_prev, err);
	return rc;
}

/*
 * The next key in the place of the key in use, which is kept as the previous
 * one unless a previous one (the last proven) is kept already: then the one
 * in use, never proven, is destroyed. A token's steps are recorded.
 */
static int next_key_in_place(const struct m2m_config *cfg, const struct m2m_vpn_profile *p,
			     const struct files *f, struct m2m_err *err)
{
	const char *phase;
	bool next, prev;
	int rc = key_there(f, true, &next, err);

	if (rc || !next)
		return rc;
	if (!f->token && !f->tpm) {
		rc = keep_link(f->key, f->key_prev, err);
		return rc ? rc : step_rename(f->key_next, f->key, err);
	}
	rc = key_there(f, false, &prev, err);
	phase = prev ? "dropping" : "keeping";
	if (!rc)
		rc = record(cfg, p, f, phase, err);
	if (!rc)
		rc = token_phase(cfg, p, f, phase, err);
	return rc ? rc : record(cfg, p, f, NULL, err);
}

/* The swap's steps; *done: something was moved. */
/*
 * <cert>.next is for the key it is to go with (<key>.next, or the key in place
 * once that moved): CREDENTIAL if it is another key's (a stray file, a next
 * key made again after the CA certified one), another error if the key
 * cannot be read now (then the swap waits for a later try).
 */
static int goes_with(const struct files *f, const struct m2m_vpn_profile *p, struct m2m_err *err)
{
	struct m2m_key_ref ref;
	struct m2m_cert_info ci;
	struct m2m_key *k = NULL;
	int rc = m2m_cert_info_file(f->cert_next, &ci, err);

	if (rc)
		return rc == M2M_ERR_NOT_FOUND ? rc : M2M_ERR_CREDENTIAL; /* not a certificate */
	bool next;

	rc = m2m_key_ref_from_profile(p, &ref, err);
	if (!rc)
		rc = key_there(f, true, &next, err);
	if (!rc && next) {
		if (f->token || f->tpm)
			ref = f->ref_next;
		else
			ref.path = f->key_next;
	}
	if (!rc)
		rc = m2m_key_open(&ref, &k, err);
	if (rc)
		return rc == M2M_ERR_CREDENTIAL ? M2M_ERR_FAILURE : rc; /* the key, not the pair, is wrong */
	rc = m2m_cert_matches_key(&ci, k, err);
	m2m_key_close(k);
	return rc ? M2M_ERR_CREDENTIAL : M2M_OK;
}

static int swap(const struct m2m_config *cfg, const struct files *f,
		const struct m2m_vpn_profile *p, bool *done, struct m2m_err *err)
{
	int rc;

	*done = false;
	if (!there(f->cert_next))
		return M2M_OK; /* nothing issued for a next key (one may wait for its certificate) */
	rc = goes_with(f, p, err);
	if (rc == M2M_ERR_CREDENTIAL) {
		/* never a key beside a certificate that is not its own: set aside, for a person */
		char bad[4096 + 8];
		char why[sizeof(err->msg)];

		snprintf(why, sizeof(why), "%.300s", err ? err->msg : "");
		snprintf(bad, sizeof(bad), "%s.bad", f->cert_next);
		if (m2m_rename_durable(f->cert_next, bad, NULL) == M2M_OK)
			return m2m_err_set(err, M2M_ERR_CREDENTIAL,
					   "%s is not for the next key (%s): set aside as %s, nothing swapped",
					   f->cert_next, why, bad);
		return m2m_err_set(err, M2M_ERR_CREDENTIAL, "%s is not for the next key (%s)",
				   f->cert_next, why);
	}
	if (rc)
		return rc == M2M_ERR_NOT_FOUND ? M2M_OK : rc; /* gone meanwhile: swapped by another */
	/* a TPM key made before blobs were kept: once evicted, it could never come back */
	if (f->tpm && there(f->name_next) && !there(f->name_prev) && !there(f->name_kept))
		return m2m_err_set(err, M2M_ERR_CREDENTIAL,
				   "the TPM key at 0x%08x has no blob (%s) to come back from: nothing swapped",
				   (unsigned)(f->ref.handle ? f->ref.handle : M2M_TPM_DEFAULT_HANDLE),
				   f->name_kept);
	/* the pair in place is the last one proven unless a .prev is kept already */
	rc = keep_link(p->cert, f->cert_prev, err);
	if (!rc)
		rc = next_key_in_place(cfg, p, f, err);
	/* its time is the swap's: an SA up before it (the old pair) proves nothing */
	if (!rc && utimensat(AT_FDCWD, f->cert_next, NULL, 0) < 0 && errno != ENOENT)
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "%s: %s", f->cert_next, strerror(errno));
	if (!rc)
		rc = step_rename(f->cert_next, p->cert, err);
	*done = !rc;
	return rc;
}

/*
 * The previous pair back in place: the refused key destroyed as the previous
 * one replaces it, then its certificate. phase: "fallback", or for a token
 * whose previous key was moving back already, "restoring".
 */
static int fall_back_steps(const struct m2m_config *cfg, const struct files *f,
			   const struct m2m_vpn_profile *p, const char *phase, struct m2m_err *err)
{
	bool prev = false;
	int rc = M2M_OK;

	if (strcmp(phase, "restoring") != 0)
		rc = key_there(f, false, &prev, err);
	if (!rc && prev && !f->token && !f->tpm)
		rc = m2m_destroy_replaced(f->key_prev, f->key, err);
	else if (!rc && (f->token || f->tpm) && (prev || !strcmp(phase, "restoring")))
		rc = token_phase(cfg, p, f, phase, err);
	if (!rc)
		rc = step_rename(f->cert_prev, p->cert, err);
	return rc;
}

/* The previous pair let go: the key destroyed, then its certificate. */
static int proven_steps(const struct files *f, struct m2m_err *err)
{
	bool prev;
	int rc = key_there(f, false, &prev, err);

	if (!rc && prev && f->token)
		rc = token_delete(&f->ref_prev, err);
	else if (!rc && prev && f->tpm)
		rc = blob_destroy(f->name_prev, err);
	else if (!rc && prev) {
		rc = m2m_destroy_file(f->key_prev, NULL, err);
		if (rc == M2M_ERR_NOT_FOUND)
			rc = M2M_OK;
	}
	if (!rc && unlink(f->cert_prev) < 0 && errno != ENOENT)
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "%s: %s", f->cert_prev, strerror(errno));
	if (!rc)
		m2m_sync_dir_of(f->cert_prev);
	return rc;
}

/* The rest of a recorded change; *known false for a record that means nothing here. */
static int finish(const struct m2m_config *cfg, const struct m2m_vpn_profile *p,
		  const struct files *f, const char *what, bool *known, struct m2m_err *err)
{
	*known = true;
	if (!strcmp(what, "proven"))
		return proven_steps(f, err);
	if (!strcmp(what, "fallback") || ((f->token || f->tpm) && !strcmp(what, "restoring")))
		return fall_back_steps(cfg, f, p, what, err);
	if ((f->token || f->tpm) && (!strcmp(what, "keeping") || !strcmp(what, "dropping") || !strcmp(what, "taking")))
		return token_phase(cfg, p, f, what, err);
	*known = false;
	return M2M_OK;
}

/* A two-step change, recorded first, done, and its record removed. */
static int recorded(const struct m2m_config *cfg, const struct m2m_vpn_profile *p,
		    const struct files *f, const char *what, struct m2m_err *err)
{
	bool known;
	int rc = record(cfg, p, f, what, err);

	if (rc)
		return rc; /* not begun: nothing half done that a record would not tell */
	rc = finish(cfg, p, f, what, &known, err);
	if (!rc)
		rc = record(cfg, p, f, NULL, err);
	return rc;
}

/* Under the profile's lock: a recorded change finished (or a spent record dropped), then a swap. */
static int recover(const struct m2m_config *cfg, const struct m2m_vpn_profile *p, char *said,
		   size_t len, struct m2m_err *err)
{
	struct m2m_state st;
	struct files f;
	char name[NAME_MAX + 1], *buf = NULL, what[16], id[48], now[48];
	bool swapped = false;
	size_t n;
	int rc = M2M_OK;

	said[0] = '\0';
	if (!files_of(p, &f))
		return M2M_OK;
	record_name(p, name, sizeof(name));
	if (m2m_state_open_existing(&st, vpn_state_dir(cfg), NULL) == M2M_OK) {
		if (m2m_state_read(&st, name, 128, NULL, NULL, &buf, &n, NULL) == M2M_OK) {
			/* about the <cert>.prev there: finish it; else it is spent (or not ours): drop it */
			if (sscanf(buf, "%15s %47s", what, id) == 2 && prev_id(&f, now, sizeof(now)) &&
			    !strcmp(now, id)) {
				bool known;

				rc = finish(cfg, p, &f, what, &known, err);
				if (known) /* else not a record of ours */
					snprintf(said, len,
						 "a change of its key and certificate was interrupted (%s): %s",
						 what, rc ? "cannot finish it" : "finished");
			}
			if (!rc)
				m2m_state_remove(&st, name, NULL);
			free(buf);
		}
		m2m_state_close(&st);
	}
	if (!rc)
		rc = swap(cfg, &f, p, &swapped, err);
	if (!rc && swapped) {
		vpn_loaded_pending(cfg, p);
		if (!said[0])
			snprintf(said, len, "the new key and certificate took the place of the old ones");
	}
	return rc;
}

int vpn_key_swap(const struct m2m_config *cfg, const struct m2m_vpn_profile *p, unsigned wait_ms,
		 volatile const int *stop, struct m2m_err *err)
{
	uint64_t saved = ks_deadline_set(), mine = m2m_now_ms() + wait_ms;
	char said[160];
	int lock = -1, rc;

	if (!p->cert)
		return m2m_err_set(err, M2M_ERR_CONFIG, "profile %s: no certificate file", p->name);
	/* the lock waited for in slices: a stop (SIGTERM, a Wipe ordered) ends the wait */
	for (;;) {
		uint64_t now = m2m_now_ms();

		rc = vpn_profile_lock(cfg, p->name,
				      now >= mine ? 0 : mine - now < 100 ? (unsigned)(mine - now) : 100,
				      &lock, err);
		if (rc != M2M_ERR_BUSY || m2m_now_ms() >= mine)
			break;
		if (stop && *stop)
			return m2m_err_set(err, M2M_ERR_TIMEOUT,
					   "%s: stopped while another run held the profile", p->name);
	}
	if (rc)
		return rc;
	/* a TPM or token that does not answer holds the swap no longer than the caller's limit */
	if (!saved || mine < saved)
		m2m_keystore_set_deadline(mine);
	rc = recover(cfg, p, said, sizeof(said), err);
	m2m_keystore_set_deadline(saved);
	m2m_unlock(lock);
	return rc;
}

void vpn_rekey_recover(struct m2m_vpn *vpn, const struct m2m_vpn_profile *p)
{
	struct m2m_err err;
	char said[160];
	int rc;

	m2m_err_clear(&err);
	rc = recover(vpn->cfg, p, said, sizeof(said), &err);
	if (rc)
		VLOG(vpn, LOG_WARNING, "%s: its key and certificate cannot be settled: %s", p->name,
		     err.msg);
	else if (said[0])
		VLOG(vpn, LOG_NOTICE, "%s: %s", p->name, said);
}

bool vpn_cert_unproven(const struct m2m_vpn_profile *p)
{
	struct files f;

	return files_of(p, &f) && there(f.cert_prev);
}

void vpn_cert_proven(struct m2m_vpn *vpn, const struct m2m_vpn_profile *p,
		     const struct m2m_vpn_status *st)
{
	struct files f;
	struct stat sb;
	struct m2m_err err;
	bool key;

	if (!files_of(p, &f) || stat(p->cert, &sb) != 0)
		return;
	/* an SA that was up before the certificate changed proves nothing */
	if (st->state != M2M_VPN_STATE_UP ||
	    (uint64_t)time(NULL) - st->established_s < (uint64_t)sb.st_mtime)
		return;
	m2m_err_clear(&err);
	if (key_there(&f, false, &key, &err))
		key = false;
	if (recorded(vpn->cfg, p, &f, "proven", &err)) {
		VLOG(vpn, LOG_WARNING, "%s: the renewed certificate is proven on the tunnel, but the previous one cannot be let go: %s",
		     p->name, err.msg);
		return;
	}
	VLOG(vpn, LOG_NOTICE,
	     "%s: the renewed certificate%s is proven on the tunnel; the previous one%s removed",
	     p->name, key ? " and its new key" : "", key ? " and its key are" : " is");
}

bool vpn_cert_fall_back(struct m2m_vpn *vpn, const struct m2m_vpn_profile *p)
{
	char until[32] = "";
	struct m2m_cert_info ci;
	struct m2m_err err;
	struct files f;

	if (!files_of(p, &f) || !there(f.cert_prev))
		return false;
	m2m_err_clear(&err);
	if (m2m_cert_info_file(f.cert_prev, &ci, &err) || m2m_cert_check_time(&ci, time(NULL), &err)) {
		VLOG(vpn, LOG_WARNING, "%s: the gateway refused the renewed certificate, and the previous one cannot stand in: %s",
		     p->name, err.msg);
		return false;
	}
	if (recorded(vpn->cfg, p, &f, "fallback", &err)) {
		VLOG(vpn, LOG_WARNING, "%s: cannot bring the previous certificate back: %s", p->name,
		     err.msg);
		return false;
	}
	vpn_loaded_pending(vpn->cfg, p);
	m2m_time_utc(ci.not_after, until, sizeof(until));
	VLOG(vpn, LOG_WARNING,
	     "%s: the gateway refused the renewed certificate; the previous one is back (%s, serial %s, until %s)",
	     p->name, ci.subject, ci.serial, until);
	return true;
}
