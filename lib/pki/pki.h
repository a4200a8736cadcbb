/* SPDX-License-Identifier: MIT */
/*
 * The pki module's header for the modules above it (vpn, enroll): the one
 * validity check, and CMP.
 *
 * The certificate management protocol (CMP, RFC 4210 as profiled by RFC
 * 9483) over HTTP (RFC 6712): one run of an initial request (ir), a key
 * update (kur) or a revocation (rr) with the CA's server. OpenSSL's OSSL_CMP
 * builds, protects and checks the messages and OpenSSL's HTTP code frames
 * them; this module moves the bytes itself, so that the whole run holds one
 * deadline to the millisecond (name lookup, connect, every exchange, the
 * waits a CA asks for with pollRep) and a stop flag, and it turns every way
 * a run can fail into one m2m_rc and one line.
 */
#ifndef M2M_PKI_MODULE_H
#define M2M_PKI_MODULE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/cmp.h>
#include <openssl/evp.h>

#include <time.h>

#include "m2m/m2m.h"
#include "m2m/pki.h"

/*
 * The one clock check: CLOCK if now is outside [not_before, not_after], with
 * "<what> is not valid before <date> (check the clock)" or "<what> expired on
 * <date>" (dates in UTC). what names the certificate, e.g. "certificate CN=x".
 */
int pki_check_validity(time_t not_before, time_t not_after, time_t now, const char *what,
		       struct m2m_err *err);

enum pki_cmp_op {
	PKI_CMP_IR,  /* initial request: a first certificate for key (RFC 9483 4.1.1) */
	PKI_CMP_KUR, /* key update: a new certificate for the key of cert (4.1.3) */
	PKI_CMP_RR,  /* revocation of cert (4.2) */
};

/* The largest answer taken from a server: a certificate, its chain and the CA's certificates. */
#define PKI_CMP_MAX_ANSWER (256u * 1024u)

struct pki_cmp {
	const char *server;        /* http://host[:port]/path or https:// */
	const char *tls_ca;        /* https: PEM file the server's TLS certificate chains to; NULL: the system's */
	const char *trust;         /* PEM file: trust anchors of signed answers and of the new certificate */
	const char *recipient;     /* the CA's DN, or NULL */
	const char *reference;     /* MAC protection (PBM): the reference value; NULL: signed */
	const unsigned char *secret; /* MAC protection: the shared secret */
	size_t secret_len;
	EVP_PKEY *key;             /* IR, KUR: the key certified; signed protection: the signer */
	EVP_PKEY *new_key;         /* KUR: a new key to certify instead of key (which signs); NULL */
	const char *cert;          /* the certificate renewed or revoked, and the signer's (file) */
	const char *subject;       /* IR: the DN asked for */
	const char *const *sans;   /* IR: NULL-terminated, as m2m_csr_make()'s */
	int reason;                /* RR: the CRLReason (RFC 5280 5.3.1), -1: none */
	uint64_t deadline_ms;      /* m2m_now_ms() by which the run ends, whatever the server does */
	volatile const int *stop;  /* when it becomes true, the run ends (TIMEOUT); may be NULL */
	/*
	 * The seam for tests and fuzzers: if set, requests go to it instead of
	 * the network; it returns the answer (or NULL with err set).
	 */
	OSSL_CMP_MSG *(*transfer)(void *arg, const OSSL_CMP_MSG *req, struct m2m_err *err);
	void *transfer_arg;
};

/*
 * Run op. IR and KUR: on success *pem (malloc()ed PEM text) is the new
 * certificate, which matches key and chains to trust, and *info its facts;
 * RR: pem and info may be NULL. Errors: TIMEOUT (the deadline or the stop
 * flag), UNREACHABLE (lookup, connect), AUTH_LOCAL (the CA refused our
 * protection), AUTH_REMOTE (its answer or certificate does not verify),
 * CREDENTIAL (our certificate, or an issued one for another key), CLOCK,
 * PROTOCOL (not CMP, HTTP errors, other rejections, in the CA's words),
 * CONFIG (trust or cert cannot be read).
 */
int pki_cmp_run(enum pki_cmp_op op, const struct pki_cmp *r, char **pem, struct m2m_cert_info *info,
		struct m2m_err *err);

#endif
