/* SPDX-License-Identifier: MIT */
/*
 * m2m: the certificate lifecycle of a VPN profile's key, with the CA named in
 * the profile's enroll: section (m2m.yaml(5)) over CMP: the first
 * certificate (enrol), the next one before the current one ends (renew) and
 * its revocation, so that no certificate is ever carried to a device. The
 * key never leaves its store (file, TPM, token, machine-bound); a
 * certificate is written to the profile's auth.cert only after it was
 * checked to be for that key and to chain to the CA's trust anchors.
 */
#ifndef M2M_ENROLL_H
#define M2M_ENROLL_H

#include <stdbool.h>

#include "m2m/config.h"
#include "m2m/m2m.h"
#include "m2m/pki.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A renewed certificate is proven on the tunnel: the one it replaced stays
 * beside it as <auth.cert>.prev until an IKE SA of the profile came up with
 * the new one, and comes back if the gateway refuses the new one while it is
 * still valid (m2m_vpn_up() does both). A run proves at once if the profile
 * is down and charon answers: it brings the tunnel up (and down again if it
 * was down and the profile is on-demand).
 */
enum m2m_enroll_proof {
	M2M_PROOF_NONE = 0,    /* nothing replaced: no proof needed */
	M2M_PROOF_OK = 1,      /* a tunnel came up with the new certificate */
	M2M_PROOF_PENDING = 2, /* not yet (the profile is up, the gateway did not answer):
				  the next IKE SA proves it; proof_msg says why */
};

#define M2M_ENROLL_RESULT_VERSION 1

struct m2m_enroll_result {
	unsigned version;            /* set by the caller: M2M_ENROLL_RESULT_VERSION */
	bool written;                /* a certificate was written (renew: false if not due) */
	enum m2m_enroll_proof proof;
	char proof_msg[384];         /* PENDING: why not yet; a refusal: what the gateway said */
	struct m2m_cert_info cert;   /* the certificate in auth.cert afterwards */
};

/*
 * Ask the CA for a certificate for the profile's key (CMP ir), protected
 * with the enroll: section's reference and secret, or else signed with the
 * profile's current certificate and key; write it to auth.cert (mode 0644,
 * replaced atomically) and describe it in *res (its version set by the caller;
a wrong one is USAGE); a certificate it replaces waits for its proof on the
tunnel (above). timeout_ms 0: the section's
 * timeout; the run ends by then, or when *stop (may be NULL) becomes true.
 * Errors: NOT_FOUND (no such profile, no key), CONFIG (no enroll: section, or
 * nowhere to write the certificate), BUSY (another run for the profile),
 * TIMEOUT, UNREACHABLE, AUTH_LOCAL (the CA refused our secret or
 * certificate), AUTH_REMOTE (its answer or certificate does not verify),
 * CREDENTIAL, CLOCK, PROTOCOL, DEVICE, PIN_LOCKOUT, STORAGE.
 */
int m2m_enroll(const struct m2m_config *cfg, const char *profile, unsigned timeout_ms,
	       volatile const int *stop, struct m2m_enroll_result *res, struct m2m_err *err);

/*
 * Renew the profile's certificate for the same key (CMP kur, signed with
 * the current certificate and key) if it ends within M2M_CERT_RENEW_DAYS, or
 * always with force. res->written says whether it was, res->proof whether
 * the new one is proven on the tunnel, res->cert describes the certificate in
 * auth.cert afterwards. A gateway that refuses the new certificate at the
 * proof is AUTH_LOCAL, with the previous one back in place. A current certificate out of its
 * dates is CLOCK: renewal needs a valid one (enrol again). Errors otherwise
 * as m2m_enroll().
 */
int m2m_enroll_renew(const struct m2m_config *cfg, const char *profile, bool force,
		     unsigned timeout_ms, volatile const int *stop, struct m2m_enroll_result *res,
		     struct m2m_err *err);

/*
 * Renew with a new key (CMP kur: the new key's proof of possession, the
 * request signed with the current certificate and key), due or not: the new
 * key is made beside the current one (m2m_key_ref_next(): file and token
 * keys so far, USAGE otherwise) unless one is there already (m2mvpn-cert
 * keygen --next made it ahead), of the current key's type and with its PIN. Its
 * certificate and it then take the current pair's place together, the
 * pair replaced kept until the new one is proven on the tunnel (as for
 * m2m_enroll_renew(), the previous pair back if the gateway refuses the
 * new one); a power cut half-way is finished by the next up. res and the
 * errors as m2m_enroll_renew().
 */
int m2m_enroll_rekey(const struct m2m_config *cfg, const char *profile, unsigned timeout_ms,
		     volatile const int *stop, struct m2m_enroll_result *res, struct m2m_err *err);

/*
 * Ask the CA to revoke the profile's certificate (CMP rr, signed with it and
 * its key); reason is a CRLReason of RFC 5280 5.3.1 (0 unspecified, 1
 * keyCompromise, 4 superseded, 5 cessationOfOperation, ...) or -1 for none.
 * The file stays as it is. Errors as m2m_enroll().
 */
int m2m_enroll_revoke(const struct m2m_config *cfg, const char *profile, int reason,
		      unsigned timeout_ms, volatile const int *stop, struct m2m_err *err);

#ifdef __cplusplus
}
#endif
#endif
