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

#include <openssl/crypto.h>

#include "base/base.h"
#include "m2m/keystore.h"
#include "m2m/pki.h"
#include "state/state.h"
#include "vpn/vpn.h"
#include "vpn/vpn_int.h"

/*
 * A renewal with a new key (m2mvpn-cert renew --new-key, file keys) replaces
 * the key too: the new key waits as <key>.next and its certificate as
 * <cert>.next until both take the current ones' place (vpn_key_swap()), the
 * ones replaced kept as <key>.prev and <cert>.prev, the last pair proven on
 * the tunnel. The .next files are their own journal: whichever of the swap's
 * steps a power cut interrupted, the next swap (any up of the profile)
 * finishes it. Going back to the previous pair, and letting it go once the
 * new one is proven, are two renames or removals each: a small record in the
 * state directory (vpn-NAME.rekey: "fallback" or "proven") says which is half
 * done, so that no key is left beside a certificate that is not its own.
 */
struct files {
	char cert_prev[4096], cert_next[4096];
	char key[4096], key_prev[4096], key_next[4096]; /* "" unless a file key */
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
	if (m2m_key_ref_from_profile(p, &ref, NULL) == M2M_OK && ref.store == M2M_KEYSTORE_FILE &&
	    ref.path && strlen(ref.path) + 8 < sizeof(f->key)) {
		snprintf(f->key, sizeof(f->key), "%s", ref.path);
		snprintf(f->key_prev, sizeof(f->key_prev), "%s" M2M_CERT_PREV_SUFFIX, ref.path);
		snprintf(f->key_next, sizeof(f->key_next), "%s" M2M_KEY_NEXT_SUFFIX, ref.path);
	}
	return true;
}

static bool there(const char *path)
{
	return path[0] && access(path, F_OK) == 0;
}

/* A copy of from, written whole (mode), unless to is there already. */
static int keep_copy(const char *from, const char *to, unsigned mode, struct m2m_err *err)
{
	char *buf = NULL;
	size_t len = 0;
	int fd, rc;

	if (there(to))
		return M2M_OK;
	fd = open(from, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return m2m_err_set(err, M2M_ERR_CREDENTIAL, "%s: %s", from, strerror(errno));
	rc = m2m_read_fd(fd, from, 1024 * 1024, &buf, &len, err);
	close(fd);
	if (!rc)
		rc = m2m_write_atomic(to, buf, len, mode, err);
	if (buf)
		OPENSSL_cleanse(buf, len);
	free(buf);
	return rc;
}

/* A rename that another process may have done already (both finish the same step). */
static int step_rename(const char *from, const char *to, struct m2m_err *err)
{
	if (!there(from))
		return M2M_OK;
	return m2m_rename_durable(from, to, err);
}

static int swap(const struct files *f, const struct m2m_vpn_profile *p, struct m2m_err *err)
{
	int rc = M2M_OK;

	if (!there(f->cert_next))
		return M2M_OK; /* nothing issued for a next key (one may wait for its certificate) */
	/* the pair in place is the last one proven unless a .prev is kept already */
	rc = keep_copy(p->cert, f->cert_prev, 0644, err);
	if (!rc && there(f->key_next)) {
		rc = keep_copy(f->key, f->key_prev, 0600, err);
		if (!rc)
			rc = step_rename(f->key_next, f->key, err);
	}
	if (!rc)
		rc = step_rename(f->cert_next, p->cert, err);
	return rc;
}

int vpn_key_swap(const struct m2m_config *cfg, const struct m2m_vpn_profile *p, struct m2m_err *err)
{
	struct files f;
	int rc;

	if (!files_of(p, &f))
		return m2m_err_set(err, M2M_ERR_CONFIG, "profile %s: no certificate file, or a path too long",
				   p->name);
	rc = swap(&f, p, err);
	if (!rc)
		vpn_loaded_pending(cfg, p);
	return rc;
}

/* The record of a two-step change of the pair in place ("fallback", "proven"), or none. */
static void record_name(const struct m2m_vpn_profile *p, char *out, size_t len)
{
	snprintf(out, len, "vpn-%.64s.rekey", p->name);
}

static void record(const struct m2m_config *cfg, const struct m2m_vpn_profile *p, const char *what)
{
	struct m2m_state st;
	char name[NAME_MAX + 1];

	record_name(p, name, sizeof(name));
	if (m2m_state_open(&st, vpn_state_dir(cfg), NULL) != M2M_OK)
		return;
	if (what)
		m2m_state_write(&st, name, what, strlen(what), NULL);
	else
		m2m_state_remove(&st, name, NULL);
	m2m_state_close(&st);
}

/* The previous pair back in place: the key first, then its certificate (recorded as "fallback"). */
static int fall_back_steps(const struct files *f, const struct m2m_vpn_profile *p, struct m2m_err *err)
{
	int rc = step_rename(f->key_prev, f->key, err);

	if (!rc)
		rc = step_rename(f->cert_prev, p->cert, err);
	return rc;
}

/* The previous pair let go: the key destroyed, then its certificate (recorded as "proven"). */
static int proven_steps(const struct files *f, struct m2m_err *err)
{
	int rc = M2M_OK;

	if (there(f->key_prev)) {
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

void vpn_rekey_recover(struct m2m_vpn *vpn, const struct m2m_vpn_profile *p)
{
	struct m2m_state st;
	struct files f;
	struct m2m_err err;
	char name[NAME_MAX + 1], *buf = NULL;
	size_t len;
	int rc = M2M_OK;

	if (!files_of(p, &f))
		return;
	m2m_err_clear(&err);
	record_name(p, name, sizeof(name));
	if (m2m_state_open_existing(&st, vpn_state_dir(vpn->cfg), NULL) == M2M_OK) {
		if (m2m_state_read(&st, name, 64, NULL, NULL, &buf, &len, NULL) == M2M_OK) {
			if (!strcmp(buf, "fallback"))
				rc = fall_back_steps(&f, p, &err);
			else if (!strcmp(buf, "proven"))
				rc = proven_steps(&f, &err);
			if (!rc)
				m2m_state_remove(&st, name, NULL);
			VLOG(vpn, rc ? LOG_WARNING : LOG_NOTICE, "%s: a change of its key and certificate was interrupted (%s): %s%s",
			     p->name, buf, rc ? "cannot finish it: " : "finished", rc ? err.msg : "");
			free(buf);
		}
		m2m_state_close(&st);
	}
	if (!rc && there(f.cert_next)) {
		rc = vpn_key_swap(vpn->cfg, p, &err);
		VLOG(vpn, rc ? LOG_WARNING : LOG_NOTICE, "%s: the new key and certificate %s%s", p->name,
		     rc ? "cannot take the place of the old ones: " : "took the place of the old ones",
		     rc ? err.msg : "");
	}
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
	key = there(f.key_prev);
	m2m_err_clear(&err);
	record(vpn->cfg, p, "proven");
	if (proven_steps(&f, &err)) {
		VLOG(vpn, LOG_WARNING, "%s: the renewed certificate is proven on the tunnel, but the previous one cannot be let go: %s",
		     p->name, err.msg);
		return;
	}
	record(vpn->cfg, p, NULL);
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
	record(vpn->cfg, p, "fallback");
	if (fall_back_steps(&f, p, &err)) {
		VLOG(vpn, LOG_WARNING, "%s: cannot bring the previous certificate back: %s", p->name,
		     err.msg);
		return false;
	}
	record(vpn->cfg, p, NULL);
	vpn_loaded_pending(vpn->cfg, p);
	m2m_time_utc(ci.not_after, until, sizeof(until));
	VLOG(vpn, LOG_WARNING,
	     "%s: the gateway refused the renewed certificate; the previous one is back (%s, serial %s, until %s)",
	     p->name, ci.subject, ci.serial, until);
	return true;
}
