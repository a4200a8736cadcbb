/* SPDX-License-Identifier: MIT */
/*
 * The certificate lifecycle of a VPN profile's key (m2m/enroll.h): the
 * profile, its key and its enroll: section into one CMP run (lib/pki's
 * cmp.c), and the certificate it brings written where the profile reads it.
 * One run per profile at a time (a lock in the state directory), one
 * deadline for the whole run: the key store's, the name lookup's and every
 * exchange's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/base.h"
#include "keystore/keystore.h"
#include "m2m/enroll.h"
#include "m2m/keystore.h"
#include "m2m/vpn.h"
#include "pki/pki.h"
#include "state/state.h"
#include "vpn/vpn.h"

struct run {
	const struct m2m_vpn_profile *p;
	const struct m2m_enroll_config *e;
	struct m2m_state st;
	int lock;
	struct m2m_key *key;
	EVP_PKEY *pkey;
	struct m2m_err key_err;    /* why the key store failed to sign, if it did */
	struct m2m_secret secret;
	char subject[300];
	const char *sans[2];
	struct pki_cmp cmp;
	struct m2m_cert_info issued; /* what the CA issued this run */
};

static void sign_failed(void *arg, const struct m2m_err *err)
{
	struct run *r = arg;

	if (r->key_err.rc == M2M_OK)
		r->key_err = *err;
}

static void run_end(struct run *r)
{
	EVP_PKEY_free(r->pkey);
	m2m_key_close(r->key);
	m2m_secret_wipe(&r->secret);
	if (r->lock >= 0)
		m2m_state_unlock(r->lock);
	if (r->st.dirfd >= 0)
		m2m_state_close(&r->st);
}

/* Where the profile reads its certificate from: the file this run writes. */
static int cert_target(const struct m2m_vpn_profile *p, struct m2m_err *err)
{
	if (p->cert)
		return M2M_OK;
	if (p->auth == M2M_AUTH_PKCS12)
		return m2m_err_set(err, M2M_ERR_CONFIG,
				   "profile %s: its certificate is inside the PKCS#12 file; enroll writes a certificate file (auth.cert), which method pkcs12 does not have",
				   p->name);
	if (p->auth == M2M_AUTH_EAP)
		return m2m_err_set(err, M2M_ERR_CONFIG, "profile %s: method eap has no key to certify",
				   p->name);
	return m2m_err_set(err, M2M_ERR_CONFIG,
			   "profile %s: no auth.cert to write the certificate to", p->name);
}

/*
 * The certificate's directory takes a new file: checked before the CA is
 * asked, or a certificate it issued and we confirmed would have nowhere to go.
 */
static int check_writable(const char *cert, struct m2m_err *err)
{
	char tmp[4096];
	int fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", cert) >= sizeof(tmp))
		return m2m_err_set(err, M2M_ERR_CONFIG, "%s: path too long", cert);
	fd = mkstemp(tmp);
	if (fd < 0)
		return m2m_err_set(err, errno == ENOSPC || errno == EDQUOT ? M2M_ERR_STORAGE : M2M_ERR_CONFIG,
				   "cannot write the certificate %s: %s", cert, strerror(errno));
	close(fd);
	unlink(tmp);
	return M2M_OK;
}

enum { RUN_SECRET = 1, RUN_WRITES = 2 };

static int run_begin(struct run *r, const struct m2m_config *cfg, const char *profile,
		     unsigned timeout_ms, volatile const int *stop, unsigned what,
		     struct m2m_err *err)
{
	struct m2m_key_ref ref;
	char lock[64];
	int rc;

	memset(r, 0, sizeof(*r));
	r->lock = -1;
	r->st.dirfd = -1;
	r->p = m2m_config_profile(cfg, profile);
	if (!r->p)
		return m2m_err_set(err, M2M_ERR_NOT_FOUND, "no VPN profile '%s' in %s", profile,
				   cfg->path ? cfg->path : "the configuration");
	r->e = m2m_config_enroll(cfg, r->p);
	if (!r->e)
		return m2m_err_set(err, M2M_ERR_CONFIG,
				   "profile %s has no enroll: section (the CA's CMP server and trust anchors)",
				   profile);
	rc = cert_target(r->p, err);
	if (rc)
		return rc;
	if ((what & RUN_SECRET) && r->e->reference) {
		/* before the bound: it may come from a person at the terminal */
		char name[64];

		snprintf(name, sizeof(name), "CMP secret of profile %s", r->p->name);
		rc = m2m_secret_read(&r->e->secret, name, &r->secret, err);
		if (rc)
			return rc;
		r->cmp.reference = r->e->reference;
		r->cmp.secret = (const unsigned char *)r->secret.buf;
		r->cmp.secret_len = r->secret.len;
	}
	/* the bound starts now: the lock, the key store and the CA share it */
	r->cmp.deadline_ms = m2m_now_ms() + (timeout_ms ? timeout_ms : r->e->timeout_ms);
	r->cmp.stop = stop;
	m2m_keystore_set_deadline(r->cmp.deadline_ms);
	/* where a refused PIN is counted (policy.counters), whoever called */
	m2m_keystore_set_state_dir(cfg->state_dir);
	rc = m2m_state_open(&r->st, cfg->state_dir ? cfg->state_dir : M2M_STATE_DEFAULT_DIR, err);
	if (rc)
		return rc;
	snprintf(lock, sizeof(lock), "enroll-%s.lock", r->p->name);
	rc = m2m_state_lock(&r->st, lock, 0, &r->lock, err);
	if (!rc && (what & RUN_WRITES))
		rc = check_writable(r->p->cert, err);
	if (rc)
		return rc;
	rc = m2m_key_ref_from_profile(r->p, &ref, err);
	if (rc)
		return rc;
	rc = m2m_key_open(&ref, &r->key, err);
	if (rc)
		return rc;
	rc = m2m_key_pkey(r->key, sign_failed, r, &r->pkey, err);
	if (rc)
		return rc;
	r->cmp.server = r->e->server;
	r->cmp.trust = r->e->trust;
	r->cmp.tls_ca = r->e->tls_ca;
	r->cmp.recipient = r->e->recipient;
	r->cmp.key = r->pkey;
	r->cmp.reason = -1;
	if (r->e->subject)
		snprintf(r->subject, sizeof(r->subject), "%s", r->e->subject);
	else
		snprintf(r->subject, sizeof(r->subject), "CN=%s", r->p->local_id);
	r->cmp.subject = r->subject;
	if (r->e->sans) {
		r->cmp.sans = (const char *const *)r->e->sans;
	} else {
		r->sans[0] = r->p->local_id;
		r->cmp.sans = r->sans;
	}
	return M2M_OK;
}

/* A run that failed while the key store signed: the store's words are the better ones. */
static int run_rc(struct run *r, int rc, struct m2m_err *err)
{
	if (rc && r->key_err.rc != M2M_OK && (rc == M2M_ERR_CREDENTIAL || rc == M2M_ERR_PROTOCOL)) {
		if (err)
			*err = r->key_err;
		return r->key_err.rc;
	}
	return rc;
}

/* "<auth.cert>.prev": the certificate a renewal replaced, until the new one is proven */
static bool prev_path(const struct run *r, char *out, size_t len)
{
	return (size_t)snprintf(out, len, "%s" M2M_CERT_PREV_SUFFIX, r->p->cert) < len;
}

/*
 * A certificate issued and confirmed that could not be written where it goes
 * (rc, err): never lost, a copy where state goes for a person to move, and
 * err says where. next: the place of a next key's certificate, or NULL.
 */
static void keep_issued(const struct run *r, const char *pem, int rc, const char *next,
			struct m2m_err *err)
{
	char name[64], msg[sizeof(err->msg)];

	if (!err)
		return;
	snprintf(name, sizeof(name), "enroll-%s.pem", r->p->name);
	snprintf(msg, sizeof(msg), "%.300s", err->msg);
	if (m2m_state_write(&r->st, name, pem, strlen(pem), NULL) != M2M_OK)
		return;
	if (next)
		m2m_err_set(err, rc, "%s; the certificate the CA issued for the next key is kept in %s/%s (its place: %s)",
			    msg, r->st.path, name, next);
	else
		m2m_err_set(err, rc, "%s; the certificate the CA issued is kept in %s/%s", msg,
			    r->st.path, name);
}

/*
 * Write the new certificate (public: 0644, as charon and the tools read it).
 * One it replaces is kept as .prev first, unless one is kept already: that is
 * the last one proven on the tunnel, and the one in place is not.
 */
static int write_cert(const struct run *r, const char *pem, struct m2m_enroll_result *res,
		      struct m2m_err *err)
{
	char prev[4096], *old = NULL;
	size_t len = 0;
	int fd, rc;

	if (!prev_path(r, prev, sizeof(prev)))
		return m2m_err_set(err, M2M_ERR_CONFIG, "%s: path too long", r->p->cert);
	fd = open(r->p->cert, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		rc = m2m_read_fd(fd, r->p->cert, 1024 * 1024, &old, &len, err);
		close(fd);
		if (rc)
			return rc;
		if (strcmp(old, pem) != 0 && access(prev, F_OK) != 0) {
			rc = m2m_write_atomic(prev, old, len, 0644, err);
			if (rc) {
				free(old);
				return rc;
			}
			res->proof = M2M_PROOF_PENDING;
		} else if (access(prev, F_OK) == 0) {
			res->proof = M2M_PROOF_PENDING;
		}
		free(old);
	} else if (errno != ENOENT) {
		return m2m_err_set(err, M2M_ERR_CREDENTIAL, "%s: %s", r->p->cert, strerror(errno));
	}
	rc = m2m_write_atomic(r->p->cert, pem, strlen(pem), 0644, err);
	if (!rc)
		res->written = true;
	else
		keep_issued(r, pem, rc, NULL, err);
	return rc;
}

static void vpn_log(void *ctx, int prio, const char *fmt, ...)
{
	struct m2m_enroll_result *res = ctx;
	va_list ap;

	if (prio > LOG_WARNING)
		return;
	va_start(ap, fmt);
	vsnprintf(res->proof_msg, sizeof(res->proof_msg), fmt, ap);
	va_end(ap);
}

/*
 * Prove the new certificate on the tunnel now if the profile is down: up (the
 * VPN module takes the previous certificate back if the gateway refuses the
 * new one), and down again if it was down and is on-demand. A profile that
 * is up proves it at its next IKE SA.
 */
static int prove(const struct m2m_config *cfg, struct run *r, struct m2m_enroll_result *res,
		 struct m2m_err *err)
{
	struct m2m_vpn_status st;
	struct m2m_vpn *vpn = NULL;
	struct m2m_err verr;
	uint64_t now = m2m_now_ms();
	char prev[4096];
	int rc;

	m2m_err_clear(&verr);
	if (res->proof != M2M_PROOF_PENDING)
		return M2M_OK;
	if (now + 1000 > r->cmp.deadline_ms) {
		snprintf(res->proof_msg, sizeof(res->proof_msg), "no time left to bring the tunnel up");
		return M2M_OK;
	}
	if (m2m_vpn_open(cfg, &vpn, &verr) || m2m_vpn_status(vpn, r->p->name, &st, &verr)) {
		snprintf(res->proof_msg, sizeof(res->proof_msg), "%s", verr.msg);
		m2m_vpn_close(vpn);
		return M2M_OK;
	}
	if (st.state != M2M_VPN_STATE_DOWN) {
		snprintf(res->proof_msg, sizeof(res->proof_msg),
			 "the tunnel is up with the previous certificate: its next IKE SA proves the new one");
		m2m_vpn_close(vpn);
		return M2M_OK;
	}
	m2m_vpn_set_cancel(vpn, r->cmp.stop);
	m2m_vpn_set_log(vpn, vpn_log, res);
	rc = m2m_vpn_up(vpn, r->p->name, (unsigned)(r->cmp.deadline_ms - now), NULL, &verr);
	if (!rc && r->p->mode == M2M_VPN_ON_DEMAND)
		m2m_vpn_down(vpn, r->p->name, 0, NULL);
	m2m_vpn_close(vpn);
	prev_path(r, prev, sizeof(prev));
	if (access(prev, F_OK) == 0) {
		/* still waiting: the tunnel did not come up, or not with the new one */
		if (rc)
			snprintf(res->proof_msg, sizeof(res->proof_msg), "%s", verr.msg);
		return M2M_OK;
	}
	if (m2m_cert_info_file(r->p->cert, &res->cert, &verr) == M2M_OK &&
	    strcmp(res->cert.serial, r->issued.serial) != 0) {
		/* the gateway refused it and the VPN module brought the previous one back */
		res->proof = M2M_PROOF_NONE;
		return m2m_err_set(err, M2M_ERR_AUTH_LOCAL,
				   "%s: the gateway refused the new certificate (serial %s, issued by %s); the previous one is back in %s (serial %s)",
				   r->p->name, r->issued.serial, r->issued.issuer, r->p->cert,
				   res->cert.serial);
	}
	res->proof = M2M_PROOF_OK;
	res->proof_msg[0] = '\0';
	return M2M_OK;
}

static int check_result(struct m2m_enroll_result *res, struct m2m_err *err)
{
	unsigned version;

	if (!res || res->version != M2M_ENROLL_RESULT_VERSION)
		return m2m_err_set(err, M2M_ERR_USAGE, "struct m2m_enroll_result: version %u unknown",
				   res ? res->version : 0);
	version = res->version;
	memset(res, 0, sizeof(*res));
	res->version = version;
	return M2M_OK;
}

/* The current certificate, checked to be usable to sign a kur or rr with. */
static int current_cert(struct run *r, struct m2m_cert_info *ci, struct m2m_err *err)
{
	int rc = m2m_cert_info_file(r->p->cert, ci, err);

	if (rc == M2M_ERR_NOT_FOUND)
		return m2m_err_set(err, M2M_ERR_NOT_FOUND,
				   "profile %s: no certificate %s yet: enroll first", r->p->name,
				   r->p->cert);
	if (rc)
		return rc;
	rc = m2m_cert_matches_key(ci, r->key, err);
	if (rc)
		return rc;
	r->cmp.cert = r->p->cert;
	return M2M_OK;
}

/* A key update is signed with the current certificate: it must be valid (RFC 9483 4.1.3). */
static int can_sign_kur(const struct m2m_cert_info *cur, struct m2m_err *err)
{
	int rc = m2m_cert_check_time(cur, time(NULL), err);

	if (rc && err) {
		char msg[sizeof(err->msg)];

		snprintf(msg, sizeof(msg), "%.320s: renewal needs a valid one; enroll again", err->msg);
		m2m_err_set(err, rc, "%s", msg);
	}
	return rc;
}

int m2m_enroll(const struct m2m_config *cfg, const char *profile, unsigned timeout_ms,
	       volatile const int *stop, struct m2m_enroll_result *res, struct m2m_err *err)
{
	struct run r;
	char *pem = NULL;
	int rc = check_result(res, err);

	if (rc)
		return rc;
	rc = run_begin(&r, cfg, profile, timeout_ms, stop, RUN_SECRET | RUN_WRITES, err);
	if (rc)
		goto out;
	if (!r.e->reference) {
		/* a re-enrolment, signed with what the device has (RFC 9483 4.1.1): it must be usable */
		struct m2m_cert_info cur;

		rc = current_cert(&r, &cur, err);
		if (!rc)
			rc = m2m_cert_check_time(&cur, time(NULL), err);
		if (rc)
			goto out;
	}
	rc = run_rc(&r, pki_cmp_run(PKI_CMP_IR, &r.cmp, &pem, &r.issued, err), err);
	if (!rc)
		rc = write_cert(&r, pem, res, err);
	res->cert = r.issued;
	if (!rc)
		rc = prove(cfg, &r, res, err);
out:
	free(pem);
	run_end(&r);
	return rc;
}

int m2m_enroll_renew(const struct m2m_config *cfg, const char *profile, bool force,
		     unsigned timeout_ms, volatile const int *stop, struct m2m_enroll_result *res,
		     struct m2m_err *err)
{
	struct m2m_cert_info cur;
	struct run r;
	char *pem = NULL;
	int rc = check_result(res, err);

	if (rc)
		return rc;
	rc = run_begin(&r, cfg, profile, timeout_ms, stop, RUN_WRITES, err);
	if (!rc)
		rc = current_cert(&r, &cur, err);
	if (rc)
		goto out;
	res->cert = cur;
	if (!force && !m2m_cert_renewal_due(&cur, time(NULL)))
		goto out;
	rc = can_sign_kur(&cur, err);
	if (rc)
		goto out;
	rc = run_rc(&r, pki_cmp_run(PKI_CMP_KUR, &r.cmp, &pem, &r.issued, err), err);
	if (!rc)
		rc = write_cert(&r, pem, res, err);
	if (!rc) {
		res->cert = r.issued;
		rc = prove(cfg, &r, res, err);
	}
out:
	free(pem);
	run_end(&r);
	return rc;
}

/*
 * The new key's certificate beside the profile's as <cert>.next, for the swap
 * (vpn_key_swap) to put in place with its key; kept in the state directory
 * if it cannot be written there, as write_cert does.
 */
static int write_next_cert(const struct run *r, const char *pem, struct m2m_err *err)
{
	char next[4096];
	int rc;

	if ((size_t)snprintf(next, sizeof(next), "%s" M2M_CERT_NEXT_SUFFIX, r->p->cert) >= sizeof(next))
		return m2m_err_set(err, M2M_ERR_CONFIG, "%s: path too long", r->p->cert);
	rc = m2m_write_atomic(next, pem, strlen(pem), 0644, err);
	if (rc)
		keep_issued(r, pem, rc, next, err);
	return rc;
}

/* The next key, made now unless it was made ahead (keygen --next), and opened for the CA. */
static int next_key(struct run *r, struct m2m_key **k, EVP_PKEY **pk, struct m2m_err *err)
{
	struct m2m_key_ref ref, next;
	char path[4096];
	int rc = m2m_key_ref_from_profile(r->p, &ref, err);

	if (!rc)
		rc = m2m_key_ref_next(&ref, &next, path, sizeof(path), err);
	if (rc)
		return rc;
	rc = m2m_key_open(&next, k, err);
	if (rc == M2M_ERR_NOT_FOUND) {
		rc = m2m_key_generate(&next, m2m_pkey_type(r->pkey), false, err);
		if (!rc)
			rc = m2m_key_open(&next, k, err);
	}
	if (!rc)
		rc = m2m_key_pkey(*k, sign_failed, r, pk, err);
	return rc;
}

int m2m_enroll_rekey(const struct m2m_config *cfg, const char *profile, unsigned timeout_ms,
		     volatile const int *stop, struct m2m_enroll_result *res, struct m2m_err *err)
{
	const struct m2m_vpn_profile *p;
	struct m2m_cert_info cur;
	struct m2m_key *nk = NULL;
	EVP_PKEY *npk = NULL;
	struct run r;
	char *pem = NULL;
	int rc = check_result(res, err);

	if (rc)
		return rc;
	p = m2m_config_profile(cfg, profile);
	if (p) {
		struct m2m_key_ref ref, next;
		char path[4096];

		/* a store that has no next key yet: said before anything is opened or sent */
		m2m_keystore_set_state_dir(cfg->state_dir); /* where a TPM key's blobs are */
		rc = m2m_key_ref_from_profile(p, &ref, err);
		if (!rc)
			rc = m2m_key_ref_next(&ref, &next, path, sizeof(path), err);
		/*
		 * a TPM key is evicted by the swap: without its blob (made before they
		 * were kept) it could not come back if the new pair were refused, so
		 * nothing is certified that could not take its place
		 */
		if (!rc && ref.store == M2M_KEYSTORE_TPM) {
			struct m2m_key_ref kept;
			char blob[4096];

			rc = ks_key_ref_kept(&ref, &kept, blob, sizeof(blob), err);
			if (!rc && access(blob, F_OK) != 0)
				rc = m2m_err_set(err, M2M_ERR_USAGE,
						 "profile %s: the TPM key at 0x%08x has no blob (%s; made before they were kept), so it could not come back if the new key were refused: renew keeps the key (without --new-key), or make a new key and enrol it",
						 p->name, (unsigned)(ref.handle ? ref.handle : M2M_TPM_DEFAULT_HANDLE),
						 blob);
		}
		const struct m2m_enroll_config *e = m2m_config_enroll(cfg, p);
		uint64_t start = m2m_now_ms(), spent;

		/* one bound for all of it: what the swap below takes, the CA's run does not get again */
		if (!timeout_ms)
			timeout_ms = e && e->timeout_ms ? e->timeout_ms : 30 * 1000;
		/* a swap a power cut interrupted: finished first, so that the key opened below is the cert's */
		if (!rc && p->cert)
			rc = vpn_key_swap(cfg, p, timeout_ms, stop, err);
		if (rc)
			return rc;
		spent = m2m_now_ms() - start;
		if (spent >= timeout_ms)
			return m2m_err_set(err, M2M_ERR_TIMEOUT, "profile %s: no time left for the CA",
					   p->name);
		timeout_ms -= (unsigned)spent;
	}
	rc = run_begin(&r, cfg, profile, timeout_ms, stop, RUN_WRITES, err);
	if (!rc)
		rc = current_cert(&r, &cur, err);
	if (!rc) {
		res->cert = cur;
		rc = can_sign_kur(&cur, err);
	}
	if (rc)
		goto out;
	rc = next_key(&r, &nk, &npk, err);
	if (rc)
		goto out;
	r.cmp.new_key = npk;
	rc = run_rc(&r, pki_cmp_run(PKI_CMP_KUR, &r.cmp, &pem, &r.issued, err), err);
	if (!rc)
		rc = write_next_cert(&r, pem, err);
	if (!rc) {
		uint64_t now = m2m_now_ms();

		rc = vpn_key_swap(cfg, r.p, now < r.cmp.deadline_ms ? (unsigned)(r.cmp.deadline_ms - now) : 1,
				  stop, err);
	}
	if (!rc) {
		res->written = true;
		res->proof = M2M_PROOF_PENDING;
		res->cert = r.issued;
		rc = prove(cfg, &r, res, err);
	}
out:
	EVP_PKEY_free(npk);
	m2m_key_close(nk);
	free(pem);
	run_end(&r);
	return rc;
}

int m2m_enroll_revoke(const struct m2m_config *cfg, const char *profile, int reason,
		      unsigned timeout_ms, volatile const int *stop, struct m2m_err *err)
{
	struct m2m_cert_info cur;
	struct run r;
	int rc;

	rc = run_begin(&r, cfg, profile, timeout_ms, stop, 0, err);
	if (!rc)
		rc = current_cert(&r, &cur, err);
	/* a revocation is signed with the certificate: it must be valid */
	if (!rc)
		rc = m2m_cert_check_time(&cur, time(NULL), err);
	if (!rc) {
		/* RFC 9483 4.2: exactly one reasonCode; unspecified (0) when none is given */
		r.cmp.reason = reason >= 0 ? reason : 0;
		rc = run_rc(&r, pki_cmp_run(PKI_CMP_RR, &r.cmp, NULL, NULL, err), err);
	}
	run_end(&r);
	return rc;
}
