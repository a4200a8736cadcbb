/* SPDX-License-Identifier: MIT */
/* Internal to the pki module: what its files share (other modules use pki/pki.h). */
#ifndef M2M_PKI_INT_H
#define M2M_PKI_INT_H

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <openssl/ssl.h>

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

/*
 * The TLS client context of the CMP client's https: TLS 1.2 or later, the
 * server's certificate checked against the CA certificates of the PEM file
 * ca (NULL: the system's), ALPN http/1.1. NULL and CONFIG if ca cannot be
 * read. Made once a run, before any network step.
 */
SSL_CTX *pki_tls_ctx(const char *ca, struct m2m_err *err);

/*
 * A BIO over fd, a connected non-blocking socket that it takes over (and
 * closes; also when it cannot be made: NULL): sends never raise SIGPIPE.
 */
BIO *pki_sock_bio(int fd);

/*
 * TLS over fd (taken over as pki_sock_bio does, closed on failure) with ctx:
 * the handshake within deadline_ms or until *stop, the server's certificate
 * checked against host, a DNS name (also sent as SNI; a certificate's CN is
 * not taken for one) or an address. The BIO to read and write (non-blocking,
 * as fd), or NULL and err: TIMEOUT, CLOCK (a certificate out of its dates
 * against our clock), AUTH_REMOTE (it does not verify or names another
 * host), UNREACHABLE (the connection broke), PROTOCOL (not a TLS server, it
 * closed or reset the connection, no common version or cipher). ca names
 * the CA file in the lines (NULL: the system's); who names the server.
 */
BIO *pki_tls_connect(SSL_CTX *ctx, int fd, const char *host, const char *ca, const char *who,
		     uint64_t deadline_ms, volatile const int *stop, struct m2m_err *err);

#endif
