/* SPDX-License-Identifier: MIT */
/* Internal parts of the PKI module, for the modules that check certificates (vpn). */
#ifndef M2M_PKI_INT_H
#define M2M_PKI_INT_H

#include <time.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "m2m/m2m.h"
#include "m2m/pki.h"

/* "CN=a,O=b" or "/CN=a/O=b"; NULL with USAGE in err if it is not one */
X509_NAME *pki_parse_dn(const char *s, struct m2m_err *err);
/* "DNS:x", "IP:a.b.c.d", "email:x" or a bare name (as m2m_csr_make's sans) */
GENERAL_NAME *pki_parse_san(const char *s, struct m2m_err *err);
/* The first certificate of a PEM or DER file: NOT_FOUND, CREDENTIAL */
X509 *pki_read_cert(const char *path, struct m2m_err *err);
/* The facts of x that show and doctor print */
void pki_fill_info(X509 *x, struct m2m_cert_info *ci);

/*
 * The one clock check: CLOCK if now is outside [not_before, not_after], with
 * "<what> is not valid before <date> (check the clock)" or "<what> expired on
 * <date>" (dates in UTC). what names the certificate, e.g. "certificate CN=x".
 */
int pki_check_validity(time_t not_before, time_t not_after, time_t now, const char *what,
		       struct m2m_err *err);

#endif
