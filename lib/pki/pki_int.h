/* SPDX-License-Identifier: MIT */
/* Internal to the pki module: what its files share (other modules use pki/pki.h). */
#ifndef M2M_PKI_INT_H
#define M2M_PKI_INT_H

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "m2m/m2m.h"
#include "m2m/pki.h"
#include "pki/pki.h"

/* "CN=a,O=b" or "/CN=a/O=b"; NULL with USAGE in err if it is not one */
X509_NAME *pki_parse_dn(const char *s, struct m2m_err *err);
/* "DNS:x", "IP:a.b.c.d", "email:x" or a bare name (as m2m_csr_make's sans) */
GENERAL_NAME *pki_parse_san(const char *s, struct m2m_err *err);
/* The first certificate of a PEM or DER file: NOT_FOUND, CREDENTIAL */
X509 *pki_read_cert(const char *path, struct m2m_err *err);
/* The facts of x that show and doctor print */
void pki_fill_info(X509 *x, struct m2m_cert_info *ci);

#endif
