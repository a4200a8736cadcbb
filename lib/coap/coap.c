/* SPDX-License-Identifier: MIT */
/*
 * The client session's credentials (see coap.h): PSK, or X.509 from PEM
 * files, from a bootstrap server (DER), with the key on a PKCS#11 token or in
 * the key store (a TPM); the server's name checked, and the DTLS handshake
 * watched for why it fails. The rest of lib/coap: see coap_int.h.
 */
/* libcoap 4.3.1 takes token keys through an ENGINE (deprecated in OpenSSL 3) */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <coap3/coap.h>
#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "base/base.h"
#include "coap/coap.h"
#include "coap/coap_int.h"
#include "m2m/keystore.h"


/* "CN=x (issuer CN=y)" of a certificate, for messages */
static void cert_names(X509 *x, char *out, size_t len)
{
	char sub[80] = "?", iss[80] = "?";

	X509_NAME_oneline(X509_get_subject_name(x), sub, sizeof(sub));
	X509_NAME_oneline(X509_get_issuer_name(x), iss, sizeof(iss));
	snprintf(out, len, "%s (issuer %s)", sub, iss);
}

/*
 * libcoap's validate_cn callback: called for each certificate of the
 * server's chain with OpenSSL's verdict. We refuse what OpenSSL refused and
 * a leaf (depth 0) that does not name the host of the URI in a
 * subjectAltName (DNS or IP; the CN if it has none), and keep why, since the
 * handshake failure reaches us only as "TLS failed".
 */
static int check_server_name(const char *cn, const uint8_t *der, size_t len,
			     coap_session_t *s, unsigned depth, int validated, void *arg)
{
	struct m2m_coap *c = arg;
	const unsigned char *p = der;
	char names[160];
	X509 *x;
	int ok;

	x = d2i_X509(NULL, &p, (long)len);
	if (!x) {
		snprintf(c->hs.peer, sizeof(c->hs.peer), "the server's certificate is not X.509");
		return 0;
	}
	cert_names(x, names, sizeof(names));
	if (!validated) {
		if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
			snprintf(c->hs.peer, sizeof(c->hs.peer), "certificate %s has expired", names);
		else if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
			snprintf(c->hs.peer, sizeof(c->hs.peer), "certificate %s is not valid yet",
				 names);
		else if (!c->hs.peer[0])
			snprintf(c->hs.peer, sizeof(c->hs.peer),
				 "certificate %s is not from the configured CA", names);
		X509_free(x);
		return 0;
	}
	ok = depth > 0 || (c->pinned && len == c->pinned_len && !memcmp(der, c->pinned, len)) ||
	     X509_check_ip_asc(x, c->host, 0) == 1 || X509_check_host(x, c->host, 0, 0, NULL) == 1;
	if (!ok)
		snprintf(c->hs.peer, sizeof(c->hs.peer), "certificate %s is not issued for %s",
			 names, c->host);
	X509_free(x);
	return ok;
}

static int hs_index = -1;
static int store_tls_setup(struct m2m_coap *c, SSL *ssl);

/*
 * CoAP has no use for renegotiation (RFC 7252 9.1.1 keeps a request and its
 * response in one epoch), so we forbid it. RFC 5746's renegotiation_info
 * guards against one attack, which needs the server to renegotiate (the
 * client's first handshake spliced onto an attacker's session); a server
 * that leaves the extension out (Californium/Scandium 2.x: OpenSSL 3 then
 * refuses it, "unsafe legacy renegotiation disabled") does not renegotiate
 * at all. A client cannot tell one that would (RFC 5746 4.1 leaves refusing
 * them all or working with them to the client): we work with them.
 */
#define DTLS_OPTIONS (SSL_OP_NO_RENEGOTIATION | SSL_OP_LEGACY_SERVER_CONNECT)

/* The reason of the last error on OpenSSL's queue, left on it ("" if none). */
static void ssl_reason(char *out, size_t len)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	if (r)
		snprintf(out, len, "%s", r);
	else if (e)
		snprintf(out, len, "OpenSSL error %lx", e);
}

/* We are refusing the server: OpenSSL's verdict on its chain, if that is why. */
static void verify_failure(struct m2m_coap *c, const SSL *ssl)
{
	long v = SSL_get_verify_result(ssl);
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
	char names[160] = "?";

	if (v == X509_V_OK)
		return;
	if (chain && sk_X509_num(chain) > 0)
		cert_names(sk_X509_value(chain, 0), names, sizeof(names));
	snprintf(c->hs.peer, sizeof(c->hs.peer), "certificate %s: %s (trusted: %s)", names,
		 X509_verify_cert_error_string(v), c->ca ? c->ca : "?");
}

/*
 * libcoap's own info callback, which ours calls first; and the session
 * watched (one per process), for the SSL of a new handshake libcoap makes
 * when a session is set up again (after the server lost it).
 */
static void (*hs_chained)(const SSL *, int, int);
static struct m2m_coap *hs_owner;

static void hs_watch(const SSL *ssl, int where, int ret)
{
	struct m2m_coap *c = hs_index >= 0 ? SSL_get_ex_data(ssl, hs_index) : NULL;

	if (!c)
		c = hs_owner;
	/*
	 * Why OpenSSL sends a fatal alert is on its error queue only: read it
	 * before libcoap's callback, which may empty the queue into its log.
	 */
	if (c && (where & SSL_CB_WRITE_ALERT) && (ret >> 8) == SSL3_AL_FATAL &&
	    !c->hs.why[0])
		ssl_reason(c->hs.why, sizeof(c->hs.why));
	if (hs_chained)
		hs_chained(ssl, where, ret);
	if (!c)
		return;
	if (where & SSL_CB_HANDSHAKE_START) {
		/* an SSL libcoap made after hs_attach() has the SSL_CTX's options: still ours */
		SSL_set_options((SSL *)ssl, DTLS_OPTIONS);
		/* a new handshake (a first one, or libcoap's after a lost session) */
		memset(&c->hs, 0, sizeof(c->hs));
		c->hs.hello_at = m2m_now_ms();
		c->sign_err[0] = 0;
		c->sign_rc = 0;
		/* libcoap's new SSL has no certificate or key of ours: give them */
		if (c->store_key && !SSL_get_privatekey(ssl) && !store_tls_setup(c, (SSL *)ssl))
			snprintf(c->sign_err, sizeof(c->sign_err), "%.160s", c->setup_err);
	}
	if ((where & SSL_CB_ALERT) && (ret >> 8) == SSL3_AL_FATAL) {
		char *a = (where & SSL_CB_READ) ? c->hs.alert_in : c->hs.alert_out;

		if (!a[0])
			snprintf(a, sizeof(c->hs.alert_in), "%s", SSL_alert_desc_string_long(ret));
		if ((where & SSL_CB_WRITE) && !c->hs.peer[0])
			verify_failure(c, ssl);
	}
	if (!(where & SSL_CB_LOOP))
		return;
	switch (SSL_get_state(ssl)) {
	case DTLS_ST_CR_HELLO_VERIFY_REQUEST:
	case TLS_ST_CR_SRVR_HELLO:
		if (!c->hs.answered)
			c->hs.rtt_ms = (unsigned)(m2m_now_ms() - c->hs.hello_at);
		c->hs.answered = true;
		break;
	case TLS_ST_CW_FINISHED:
		if (!c->hs.finished_sent)
			c->hs.finished_at = m2m_now_ms();
		c->hs.finished_sent = true;
		break;
	default:
		break;
	}
}

/*
 * Watch the handshake libcoap has just started on the session's SSL, and
 * the ones it starts later on SSLs of the same context.
 */
static void hs_attach(struct m2m_coap *c)
{
	coap_tls_library_t lib;
	SSL *ssl = coap_session_get_tls(c->s, &lib);
	SSL_CTX *ctx;
	void (*cb)(const SSL *, int, int);

	c->hs.hello_at = m2m_now_ms();
	hs_owner = c;
	if (!ssl || lib != COAP_TLS_LIBRARY_OPENSSL)
		return;
	if (hs_index < 0)
		hs_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	ctx = SSL_get_SSL_CTX(ssl);
	/*
	 * Before the server's first answer (libcoap has only sent the
	 * ClientHello, which these options do not change): they decide how
	 * the ServerHello is taken. Also for the SSLs libcoap makes later.
	 */
	SSL_set_options(ssl, DTLS_OPTIONS);
	SSL_CTX_set_options(ctx, DTLS_OPTIONS);
	if (hs_index < 0 || !SSL_set_ex_data(ssl, hs_index, c))
		return;
	cb = SSL_get_info_callback(ssl);
	if (!cb)
		cb = SSL_CTX_get_info_callback(ctx);
	if (cb && cb != hs_watch)
		hs_chained = cb;
	SSL_set_info_callback(ssl, hs_watch);
	SSL_CTX_set_info_callback(ctx, hs_watch);
}

/* the session whose resets the log handler looks for (one per process) */
static struct m2m_coap *rst_owner;

/* The session libcoap's log means (its handler is told of none) */
struct m2m_coap *mcoap_log_owner(void)
{
	return rst_owner;
}

/* c is closed: libcoap's log and OpenSSL's info callback no longer mean it */
void mcoap_disown(struct m2m_coap *c)
{
	if (rst_owner == c)
		rst_owner = NULL;
	if (hs_owner == c)
		hs_owner = NULL;
}

/*
 * The key on a PKCS#11 token. libcoap 4.3.1 (OpenSSL) loads it with
 * COAP_PKI_KEY_PKCS11 through OpenSSL's "pkcs11" engine (libp11), which it
 * gets with ENGINE_by_id(): the engine object we configure here (a dynamic
 * engine joins OpenSSL's list when first loaded). The engine has no module
 * unless told: MODULE_PATH sets it, QUIET stops libp11 writing to stderr.
 */
static int p11_engine_setup(const char *module, struct m2m_err *err)
{
	ENGINE *e = ENGINE_by_id("pkcs11");
	int ok;

	if (!e) {
		ERR_clear_error();
		return m2m_err_set(err, M2M_ERR_CREDENTIAL,
				   "PKCS#11: OpenSSL's pkcs11 engine is not installed "
				   "(Debian: libengine-pkcs11-openssl)");
	}
	ok = ENGINE_ctrl_cmd_string(e, "MODULE_PATH", module, 0) &&
	     ENGINE_ctrl_cmd_string(e, "QUIET", NULL, 0);
	ENGINE_free(e);
	ERR_clear_error();
	if (!ok)
		return m2m_err_set(err, M2M_ERR_CREDENTIAL,
				   "PKCS#11: the pkcs11 engine refuses module %s", module);
	return M2M_OK;
}

/* RFC 7512: percent-encode all but unreserved characters */
static size_t p11_enc(char *out, size_t len, const char *s, bool hex)
{
	size_t n = 0;

	for (; *s && n + 4 < len; s++) {
		unsigned char ch = (unsigned char)*s;

		if (hex) { /* "0a1b" -> "%0a%1b" */
			if (!s[1])
				break;
			n += (size_t)snprintf(out + n, len - n, "%%%c%c", s[0], s[1]);
			s++;
		} else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			   (ch >= '0' && ch <= '9') || strchr("-._~", ch)) {
			out[n++] = (char)ch;
		} else {
			n += (size_t)snprintf(out + n, len - n, "%%%02X", ch);
		}
	}
	out[n] = 0;
	return n;
}

/* The session's own trust store: the CA file of this configuration only. */
static int trust_ca(struct m2m_coap *c, SSL *ssl)
{
	X509_STORE *store = X509_STORE_new();

	if (!store || X509_STORE_load_file(store, c->ca) != 1 ||
	    SSL_set0_verify_cert_store(ssl, store) != 1) {
		X509_STORE_free(store);
		snprintf(c->setup_err, sizeof(c->setup_err), "CA %s unusable", c->ca);
		return 0;
	}
	return 1;
}

/*
 * In PKCS11 mode libcoap 4.3.1 wants the certificate and CA as pkcs11: URIs
 * or DER files (one certificate each), and calls additional_tls_setup_call_back
 * only on servers. Ours are PEM files (a chain, several CAs), so we load them
 * into the session's SSL ourselves, after libcoap has put the token key in it
 * and sent the ClientHello: the server's certificate is checked, and ours
 * sent, only later in the handshake.
 */
static int p11_tls_setup(struct m2m_coap *c)
{
	coap_tls_library_t lib;
	SSL *ssl = coap_session_get_tls(c->s, &lib);

	if (!ssl || lib != COAP_TLS_LIBRARY_OPENSSL) {
		snprintf(c->setup_err, sizeof(c->setup_err), "libcoap is not the OpenSSL flavour");
		return 0;
	}
	if (SSL_use_certificate_chain_file(ssl, c->cert) != 1) {
		snprintf(c->setup_err, sizeof(c->setup_err), "certificate %s unusable", c->cert);
		return 0;
	}
	if (SSL_check_private_key(ssl) != 1) {
		snprintf(c->setup_err, sizeof(c->setup_err),
			 "the token key does not match certificate %s", c->cert);
		return 0;
	}
	return trust_ca(c, ssl);
}

/* Why the token refused: libp11 reports the PKCS#11 return value by name. */
static void p11_reason(char *out, size_t len)
{
	unsigned long e;

	snprintf(out, len, "key not loaded (wrong PIN, or no such key or token)");
	while ((e = ERR_get_error())) {
		const char *r = ERR_reason_error_string(e);

		if (r && strstr(r, "PIN"))
			snprintf(out, len, "%s", r);
	}
}

static int open_pki_token(struct m2m_coap *c, const struct m2m_coap_opts *o,
			  coap_dtls_pki_t *pki, const coap_address_t *dst, struct m2m_err *err)
{
	char uri[512], why[160];
	size_t n;
	int rc;

	rc = p11_engine_setup(o->p11_module, err);
	if (rc)
		return rc;
	n = (size_t)snprintf(uri, sizeof(uri), "pkcs11:");
	if (o->p11_token) {
		n += (size_t)snprintf(uri + n, sizeof(uri) - n, "token=");
		n += p11_enc(uri + n, sizeof(uri) - n, o->p11_token, false);
		n += (size_t)snprintf(uri + n, sizeof(uri) - n, ";");
	}
	n += (size_t)snprintf(uri + n, sizeof(uri) - n, "id=");
	n += p11_enc(uri + n, sizeof(uri) - n, o->p11_id, true);
	snprintf(uri + n, sizeof(uri) - n, ";type=private");
	c->cert = o->cert;
	c->ca = o->ca;
	pki->pki_key.key_type = COAP_PKI_KEY_PKCS11;
	pki->pki_key.key.pkcs11.private_key = uri;
	pki->pki_key.key.pkcs11.user_pin = o->p11_pin;
	ERR_clear_error();
	/* the key is loaded (and the token logged in) here, not at the handshake */
	c->s = coap_new_client_session_pki(c->ctx, NULL, dst, COAP_PROTO_DTLS, pki);
	if (!c->s || !p11_tls_setup(c)) {
		if (c->setup_err[0])
			snprintf(why, sizeof(why), "%s", c->setup_err);
		else
			p11_reason(why, sizeof(why));
		ERR_clear_error();
		return m2m_err_set(err, M2M_ERR_CREDENTIAL, "DTLS: token key %s: %s", uri, why);
	}
	return M2M_OK;
}

/*
 * A key whose signatures come from the key store (a TPM): the store's
 * EVP_PKEY (m2m_key_pkey()), which signs through m2m_key_sign(). libcoap
 * 4.3.1 has no key type for it; the session starts without certificate or
 * key (as a client may), and we put ours into its SSL before the server asks
 * for them, also into the SSL of every new handshake. The client's signature
 * algorithms are limited to SHA-256, the one digest the store signs.
 */

/* Why the store's key did not sign: mcoap_hs_error() reports it. */
static void store_sign_failed(void *arg, const struct m2m_err *e)
{
	struct m2m_coap *c = arg;

	snprintf(c->sign_err, sizeof(c->sign_err), "%s", e->msg);
	c->sign_rc = e->rc;
}

/* The store's key is the one the certificate names (our wrapper only has the latter's). */
static bool store_matches(struct m2m_coap *c, X509 *x)
{
	unsigned char *kd = NULL, *cd = NULL;
	struct m2m_err err;
	size_t kl = 0;
	int cl = i2d_PUBKEY(X509_get0_pubkey(x), &cd);
	bool same = cl > 0 && !m2m_key_public_der(c->store_key, &kd, &kl, &err) &&
		    kl == (size_t)cl && memcmp(kd, cd, kl) == 0;

	free(kd);
	OPENSSL_free(cd);
	return same;
}

/* Our certificate chain and the store's key into an SSL of the session. */
static int store_tls_setup(struct m2m_coap *c, SSL *ssl)
{
	X509 *x;
	EVP_PKEY *pk;
	int ok;

	if (SSL_use_certificate_chain_file(ssl, c->cert) != 1 || !(x = SSL_get_certificate(ssl))) {
		snprintf(c->setup_err, sizeof(c->setup_err), "certificate %s unusable", c->cert);
		return 0;
	}
	if (!store_matches(c, x)) {
		snprintf(c->setup_err, sizeof(c->setup_err),
			 "the key in the key store does not match certificate %s", c->cert);
		return 0;
	}
	if (m2m_key_pkey(c->store_key, store_sign_failed, c, &pk, NULL))
		pk = NULL;
	ok = pk && SSL_use_PrivateKey(ssl, pk) == 1 && SSL_check_private_key(ssl) == 1;
	EVP_PKEY_free(pk);
	if (!ok) {
		snprintf(c->setup_err, sizeof(c->setup_err),
			 "the key of certificate %s is not EC or RSA", c->cert);
		return 0;
	}
	if (SSL_set1_client_sigalgs_list(ssl, "ECDSA+SHA256:RSA+SHA256") != 1) {
		snprintf(c->setup_err, sizeof(c->setup_err), "cannot limit signatures to SHA-256");
		return 0;
	}
	return trust_ca(c, ssl);
}

static int open_pki_store(struct m2m_coap *c, const struct m2m_coap_opts *o,
			  coap_dtls_pki_t *pki, const coap_address_t *dst, struct m2m_err *err)
{
	coap_tls_library_t lib;
	SSL *ssl;

	c->cert = o->cert;
	c->ca = o->ca;
	c->store_key = o->store_key;
	pki->pki_key.key_type = COAP_PKI_KEY_PEM;
	pki->pki_key.key.pem.ca_file = o->ca;
	ERR_clear_error();
	c->s = coap_new_client_session_pki(c->ctx, NULL, dst, COAP_PROTO_DTLS, pki);
	ssl = c->s ? coap_session_get_tls(c->s, &lib) : NULL;
	if (!ssl || lib != COAP_TLS_LIBRARY_OPENSSL || !store_tls_setup(c, ssl)) {
		ERR_clear_error();
		return m2m_err_set(err, M2M_ERR_CREDENTIAL, "DTLS: %s",
				   c->setup_err[0] ? c->setup_err : "libcoap cannot start the session");
	}
	return M2M_OK;
}

/*
 * Certificate mode from a bootstrap server: DER in memory (libcoap's ASN1
 * key type). The server's certificate (resource 0/x/4) is the trust anchor
 * by itself, also when it is not self-signed (X509_V_FLAG_PARTIAL_CHAIN): a
 * server presenting exactly it passes without a name check (LwM2M's
 * "domain-issued certificate" usage); if it is a CA, what it issued passes
 * with the usual name check.
 */
static int open_pki_der(struct m2m_coap *c, const struct m2m_coap_opts *o, coap_dtls_pki_t *pki,
			const coap_address_t *dst, struct m2m_err *err)
{
	const unsigned char *p = o->der_key;
	EVP_PKEY *key = d2i_AutoPrivateKey(NULL, &p, (long)o->der_key_len);
	int type = key ? EVP_PKEY_base_id(key) : EVP_PKEY_NONE;
	coap_tls_library_t lib;
	X509_STORE *store;
	X509 *anchor;
	SSL *ssl;

	EVP_PKEY_free(key);
	if (type != EVP_PKEY_EC && type != EVP_PKEY_RSA) {
		return m2m_err_set(err, M2M_ERR_CREDENTIAL,
				   "DTLS: the private key from the bootstrap server is not EC or RSA");
	}
	pki->pki_key.key_type = COAP_PKI_KEY_ASN1;
	pki->pki_key.key.asn1.public_cert = o->der_cert;
	pki->pki_key.key.asn1.public_cert_len = o->der_cert_len;
	pki->pki_key.key.asn1.private_key = o->der_key;
	pki->pki_key.key.asn1.private_key_len = o->der_key_len;
	pki->pki_key.key.asn1.private_key_type = type == EVP_PKEY_EC ? COAP_ASN1_PKEY_EC :
								       COAP_ASN1_PKEY_RSA;
	pki->pki_key.key.asn1.ca_cert = o->der_server;
	pki->pki_key.key.asn1.ca_cert_len = o->der_server_len;
	c->pinned = o->der_server;
	c->pinned_len = o->der_server_len;
	c->ca = "the certificate from the bootstrap server";
	c->s = coap_new_client_session_pki(c->ctx, NULL, dst, COAP_PROTO_DTLS, pki);
	ssl = c->s ? coap_session_get_tls(c->s, &lib) : NULL;
	p = o->der_server;
	anchor = d2i_X509(NULL, &p, (long)o->der_server_len);
	store = X509_STORE_new();
	if (!ssl || lib != COAP_TLS_LIBRARY_OPENSSL || !anchor || !store ||
	    X509_STORE_add_cert(store, anchor) != 1 ||
	    X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN) != 1 ||
	    SSL_set0_verify_cert_store(ssl, store) != 1) {
		X509_STORE_free(store);
		X509_free(anchor);
		ERR_clear_error();
		return m2m_err_set(err, M2M_ERR_CREDENTIAL,
				   "DTLS: the certificate, key or server certificate from the "
				   "bootstrap server is unusable");
	}
	X509_free(anchor);
	return M2M_OK;
}

/*
 * The wildcard address of dst's family with port, if no socket holds that
 * port: libcoap binds a local address with SO_REUSEADDR, which on Linux
 * shares a UDP port with another socket that set it too, so we ask first
 * with a socket that does not.
 */
static bool local_port_free(const coap_address_t *dst, unsigned port, coap_address_t *local)
{
	int fd;
	bool free_;

	if (!port || port > 65535)
		return false;
	coap_address_init(local);
	local->addr.sa.sa_family = dst->addr.sa.sa_family;
	local->size = dst->addr.sa.sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
							     sizeof(struct sockaddr_in);
	coap_address_set_port(local, (uint16_t)port);
	fd = socket(dst->addr.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	free_ = bind(fd, &local->addr.sa, local->size) == 0;
	close(fd);
	return free_;
}

/*
 * The client session to the server, new: at open, and for a new handshake
 * from a new port (mcoap_rehandshake). From c->o, the options kept at open.
 */
int mcoap_new_session(struct m2m_coap *c, struct m2m_err *err)
{
	const struct m2m_coap_opts *o = &c->o;
	int rc = M2M_OK;

	c->setup_err[0] = 0;
	if (o->security == M2M_DM_NOSEC) {
		coap_address_t local;

		if (local_port_free(&c->dst, o->local_port, &local))
			c->s = coap_new_client_session(c->ctx, &local, &c->dst, COAP_PROTO_UDP);
		if (!c->s)
			c->s = coap_new_client_session(c->ctx, NULL, &c->dst, COAP_PROTO_UDP);
		c->connected = true;
	} else if (o->security == M2M_DM_PSK) {
		coap_dtls_cpsk_t psk = { .version = COAP_DTLS_CPSK_SETUP_VERSION };

		if (!coap_dtls_is_supported())
			return m2m_err_set(err, M2M_ERR_FAILURE, "libcoap: built without DTLS");
		psk.client_sni = c->host;
		psk.psk_info.identity.s = (const uint8_t *)o->psk_identity;
		psk.psk_info.identity.length = strlen(o->psk_identity);
		psk.psk_info.key.s = o->psk_key;
		psk.psk_info.key.length = o->psk_len;
		c->s = coap_new_client_session_psk2(c->ctx, NULL, &c->dst, COAP_PROTO_DTLS, &psk);
	} else {
		coap_dtls_pki_t pki = { .version = COAP_DTLS_PKI_SETUP_VERSION };

		pki.verify_peer_cert = 1;
		pki.check_common_ca = 1;
		pki.cert_chain_validation = 1;
		pki.cert_chain_verify_depth = 3;
		pki.client_sni = c->host;
		pki.validate_cn_call_back = check_server_name;
		pki.cn_call_back_arg = c;
		if (o->p11_module) {
			rc = open_pki_token(c, o, &pki, &c->dst, err);
		} else if (o->store_key) {
			rc = open_pki_store(c, o, &pki, &c->dst, err);
		} else if (o->der_cert) {
			rc = open_pki_der(c, o, &pki, &c->dst, err);
		} else {
			pki.pki_key.key_type = COAP_PKI_KEY_PEM;
			pki.pki_key.key.pem.public_cert = o->cert;
			pki.pki_key.key.pem.private_key = o->key;
			pki.pki_key.key.pem.ca_file = o->ca;
			c->ca = o->ca;
			c->s = coap_new_client_session_pki(c->ctx, NULL, &c->dst, COAP_PROTO_DTLS,
							   &pki);
			if (!c->s)
				rc = m2m_err_set(err, M2M_ERR_CREDENTIAL,
						 "DTLS: certificate %s, key %s or CA %s unusable",
						 o->cert, o->key, o->ca);
		}
	}
	if (rc || !c->s) {
		if (c->s) {
			coap_session_release(c->s);
			c->s = NULL;
		}
		return rc ? rc : m2m_err_set(err, M2M_ERR_FAILURE,
					     "libcoap: cannot create a session to %s", o->uri);
	}
	coap_session_set_app_data(c->s, c);
	if (c->dtls)
		hs_attach(c);
	rst_owner = c;
	return M2M_OK;
}
