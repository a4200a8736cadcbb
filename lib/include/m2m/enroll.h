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
 * Ask the CA for a certificate for the profile's key (CMP ir), protected
 * with the enroll: section's reference and secret, or else signed with the
 * profile's current certificate and key; write it to auth.cert (mode 0644,
 * replaced atomically) and describe it in *out. timeout_ms 0: the section's
 * timeout; the run ends by then, or when *stop (may be NULL) becomes true.
 * Errors: NOT_FOUND (no such profile, no key), CONFIG (no enroll: section, or
 * nowhere to write the certificate), BUSY (another run for the profile),
 * TIMEOUT, UNREACHABLE, AUTH_LOCAL (the CA refused our secret or
 * certificate), AUTH_REMOTE (its answer or certificate does not verify),
 * CREDENTIAL, CLOCK, PROTOCOL, DEVICE, PIN_LOCKOUT, STORAGE.
 */
int m2m_enroll(const struct m2m_config *cfg, const char *profile, unsigned timeout_ms,
	       volatile const int *stop, struct m2m_cert_info *out, struct m2m_err *err);

/*
 * Renew the profile's certificate for the same key (CMP kur, signed with
 * the current certificate and key) if it ends within M2M_CERT_RENEW_DAYS, or
 * always with force. *renewed says whether it was; *out describes the
 * certificate in auth.cert afterwards. A current certificate out of its
 * dates is CLOCK: renewal needs a valid one (enrol again). Errors otherwise
 * as m2m_enroll().
 */
int m2m_enroll_renew(const struct m2m_config *cfg, const char *profile, bool force,
		     unsigned timeout_ms, volatile const int *stop, bool *renewed,
		     struct m2m_cert_info *out, struct m2m_err *err);

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
