/* SPDX-License-Identifier: MIT */
/*
 * m2m: certificates of the device. CSRs signed through any key store,
 * certificate facts for show/doctor, and the checks a connect depends on:
 * certificate matches key, chains to the configured CA, valid now.
 */
#ifndef M2M_PKI_H
#define M2M_PKI_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "m2m/keystore.h"
#include "m2m/m2m.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Make a PKCS#10 request for key k, signed by the key store (a TPM or token
 * key never leaves it). subject: "CN=dev1,O=ACME" or "/CN=dev1/O=ACME";
 * sans: NULL-terminated, each "DNS:x", "IP:a.b.c.d", "email:x" or a bare
 * name (an address becomes IP:, a name with @ email:, else DNS:).
 * *pem is malloc()ed, PEM text.
 */
int m2m_csr_make(struct m2m_key *k, const char *subject, const char *const *sans, char **pem,
		 struct m2m_err *err);

struct m2m_cert_info {
	char subject[256];
	char issuer[256];
	char serial[80];        /* hex */
	time_t not_before, not_after;
	char sans[512];         /* "DNS:a, IP:1.2.3.4" */
	enum m2m_key_type key_type;
	char fingerprint[96];   /* of the public key, as struct m2m_key_info's */
	bool is_ca;
};

/* Read the first certificate of a PEM or DER file. NOT_FOUND, CREDENTIAL. */
int m2m_cert_info_file(const char *path, struct m2m_cert_info *info, struct m2m_err *err);
/* The same from DER bytes. */
int m2m_cert_info_der(const unsigned char *der, size_t len, struct m2m_cert_info *info,
		      struct m2m_err *err);

/*
 * The certificate the key store keeps with key k: on the token (PKCS#11), or
 * in the PKCS#12 file. Errors as m2m_key_cert_der's.
 */
int m2m_cert_info_key(struct m2m_key *k, struct m2m_cert_info *info, struct m2m_err *err);

/* CREDENTIAL "certificate X does not match key Y" unless it does. */
int m2m_cert_matches_key(const struct m2m_cert_info *cert, const struct m2m_key *k,
			 struct m2m_err *err);

/*
 * Verify the certificate (PEM/DER file) against the CA files (NULL-terminated):
 * CREDENTIAL naming what is wrong (unknown issuer, bad signature), CLOCK if
 * it is outside its validity window.
 */
int m2m_cert_verify(const char *path, char *const *ca_files, struct m2m_err *err);
/* Same, for DER bytes. */
int m2m_cert_verify_der(const unsigned char *der, size_t len, char *const *ca_files,
			struct m2m_err *err);

/* CLOCK if now is outside [not_before, not_after]; the message gives the dates. */
int m2m_cert_check_time(const struct m2m_cert_info *cert, time_t now, struct m2m_err *err);

/*
 * A certificate is due for renewal when it ends within this many days: what
 * doctor warns about and what status and the management server see as "due".
 */
#define M2M_CERT_RENEW_DAYS 30
/* True if cert ends within M2M_CERT_RENEW_DAYS of now (or has ended). */
bool m2m_cert_renewal_due(const struct m2m_cert_info *cert, time_t now);

#ifdef __cplusplus
}
#endif
#endif
