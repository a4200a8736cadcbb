/* SPDX-License-Identifier: MIT */
/*
 * The key store interface: argument checks, dispatch to the backends, and
 * the helpers they share (soft keys, signature encodings, the PIN policy).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "keystore/ks_int.h"
#include "m2m/config.h" /* m2m_key_ref_from_profile() only, until it moves up to lib/vpn */

static const char *const store_names[] = {
	[M2M_KEYSTORE_FILE] = "file",
	[M2M_KEYSTORE_PKCS11] = "pkcs11",
	[M2M_KEYSTORE_TPM] = "tpm",
	[M2M_KEYSTORE_MACHINE] = "machine",
};

static const struct ks_ops *const store_ops[] = {
	[M2M_KEYSTORE_FILE] = &ks_file_ops,
	[M2M_KEYSTORE_PKCS11] = &ks_pkcs11_ops,
	[M2M_KEYSTORE_TPM] = &ks_tpm_ops,
	[M2M_KEYSTORE_MACHINE] = &ks_machine_ops,
};

#define N_STORES (sizeof(store_names) / sizeof(store_names[0]))

const struct ks_ops *ks_store_ops(enum m2m_key_store s)
{
	return store_ops[(unsigned)s < N_STORES ? s : M2M_KEYSTORE_FILE];
}

const char *m2m_key_store_name(enum m2m_key_store s)
{
	return (unsigned)s < N_STORES ? store_names[s] : "unknown";
}

bool m2m_key_store_parse(const char *s, enum m2m_key_store *out)
{
	for (unsigned i = 0; s && i < N_STORES; i++) {
		if (strcmp(s, store_names[i]) == 0) {
			*out = (enum m2m_key_store)i;
			return true;
		}
	}
	return false;
}

bool m2m_key_type_parse(const char *s, enum m2m_key_type *out)
{
	static const struct {
		const char *name;
		enum m2m_key_type t;
	} names[] = {
		{ "ec", M2M_KEY_EC_P256 },       { "ecdsa", M2M_KEY_EC_P256 },
		{ "p256", M2M_KEY_EC_P256 },     { "ecdsa-p256", M2M_KEY_EC_P256 },
		{ "rsa", M2M_KEY_RSA_2048 },     { "rsa2048", M2M_KEY_RSA_2048 },
		{ "rsa-2048", M2M_KEY_RSA_2048 }, { "rsa3072", M2M_KEY_RSA_3072 },
		{ "rsa-3072", M2M_KEY_RSA_3072 },
	};

	for (size_t i = 0; s && i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i].name) == 0) {
			*out = names[i].t;
			return true;
		}
	}
	return false;
}

const char *m2m_key_type_name(enum m2m_key_type t)
{
	switch (t) {
	case M2M_KEY_EC_P256:
		return "ecdsa-p256";
	case M2M_KEY_RSA_2048:
		return "rsa-2048";
	case M2M_KEY_RSA_3072:
		return "rsa-3072";
	default:
		return "unknown";
	}
}

const char *m2m_pin_state_name(enum m2m_pin_state s)
{
	switch (s) {
	case M2M_PIN_OK:
		return "ok";
	case M2M_PIN_LOW:
		return "low";
	case M2M_PIN_FINAL:
		return "final-try";
	case M2M_PIN_LOCKED:
		return "locked";
	default:
		return "n/a";
	}
}

/* ---- argument checks ---------------------------------------------------- */

static bool is_hex(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!isxdigit((unsigned char)s[n]))
			return false;
	return n > 0 && n % 2 == 0 && n <= 128;
}

int m2m_key_ref_check(const struct m2m_key_ref *ref, bool generate, struct m2m_err *err)
{
	if (!ref)
		return m2m_err_set(err, M2M_ERR_USAGE, "key: no key reference");
	switch (ref->store) {
	case M2M_KEYSTORE_FILE:
	case M2M_KEYSTORE_MACHINE:
		if (!ref->path || !*ref->path)
			return m2m_err_set(err, M2M_ERR_USAGE, "%s key: no key file given",
					   m2m_key_store_name(ref->store));
		return M2M_OK;
	case M2M_KEYSTORE_PKCS11:
		if (!ref->module || !*ref->module)
			return m2m_err_set(err, M2M_ERR_USAGE, "pkcs11 key: no module given");
		if (ref->module[0] != '/')
			return m2m_err_set(err, M2M_ERR_USAGE,
					   "pkcs11 key: module '%s' is not an absolute path", ref->module);
		if (ref->id && !is_hex(ref->id))
			return m2m_err_set(err, M2M_ERR_USAGE,
					   "pkcs11 key: id '%s' is not hex (an even number of 0-9a-f, at most 64 bytes)",
					   ref->id);
		if (!ref->id && !ref->label)
			return m2m_err_set(err, M2M_ERR_USAGE, "pkcs11 key: no id or label given");
		if (generate && !ref->id)
			return m2m_err_set(err, M2M_ERR_USAGE, "pkcs11 key: generating needs an id");
		if (ref->label && strlen(ref->label) > 63)
			return m2m_err_set(err, M2M_ERR_USAGE, "pkcs11 key: label longer than 63 bytes");
		if (ref->pin.source == M2M_SECRET_NONE)
			return m2m_err_set(err, M2M_ERR_USAGE,
					   "pkcs11 key: no PIN source (file, fd, credential or prompt)");
		return M2M_OK;
	case M2M_KEYSTORE_TPM:
		if (ref->handle && (ref->handle < 0x81000000u || ref->handle > 0x81ffffffu))
			return m2m_err_set(err, M2M_ERR_USAGE,
					   "tpm key: handle 0x%08x is not a persistent handle (0x81000000-0x817fffff)",
					   (unsigned)ref->handle);
		if (ref->handle >= 0x81800000u)
			return m2m_err_set(err, M2M_ERR_USAGE,
					   "tpm key: handle 0x%08x belongs to the platform (0x81800000 and up); use one of the owner's, 0x81000000-0x817fffff",
					   (unsigned)ref->handle);
		if (ref->tcti && !*ref->tcti)
			return m2m_err_set(err, M2M_ERR_USAGE, "tpm key: empty TCTI");
		return M2M_OK;
	}
	return m2m_err_set(err, M2M_ERR_USAGE, "key: unknown key store %d", (int)ref->store);
}

/* ---- the interface ------------------------------------------------------ */

int m2m_key_ref_from_profile(const struct m2m_vpn_profile *p, struct m2m_key_ref *ref,
			     struct m2m_err *err)
{
	memset(ref, 0, sizeof(*ref));
	ref->pin = p->pin;
	switch (p->auth) {
	case M2M_AUTH_CERT:
	case M2M_AUTH_CERT_EAP:
		ref->store = M2M_KEYSTORE_FILE;
		ref->path = p->key;
		return M2M_OK;
	case M2M_AUTH_PKCS12:
		ref->store = M2M_KEYSTORE_FILE;
		ref->path = p->pkcs12;
		return M2M_OK;
	case M2M_AUTH_PKCS11:
		ref->store = M2M_KEYSTORE_PKCS11;
		ref->module = p->module;
		ref->token = p->token;
		ref->id = p->key_id;
		return M2M_OK;
	case M2M_AUTH_TPM:
		ref->store = M2M_KEYSTORE_TPM;
		ref->tcti = p->tcti;
		ref->handle = p->handle;
		return M2M_OK;
	case M2M_AUTH_MACHINE:
		ref->store = M2M_KEYSTORE_MACHINE;
		ref->path = p->key;
		/* sealing in a TPM (keygen, import); opening reads the TCTI from the file */
		ref->tcti = p->tcti;
		ref->handle = p->handle;
		ref->pin.source = M2M_SECRET_NONE;
		return M2M_OK;
	case M2M_AUTH_EAP:
		break;
	}
	return m2m_err_set(err, M2M_ERR_NOT_FOUND, "profile %s: method eap has no key", p->name);
}

int m2m_key_generate(const struct m2m_key_ref *ref, enum m2m_key_type type, bool replace,
		     struct m2m_err *err)
{
	int rc = m2m_key_ref_check(ref, true, err);

	if (rc)
		return rc;
	if (type == M2M_KEY_UNKNOWN)
		type = M2M_KEY_EC_P256;
	if (type != M2M_KEY_EC_P256 && type != M2M_KEY_RSA_2048 && type != M2M_KEY_RSA_3072)
		return m2m_err_set(err, M2M_ERR_USAGE, "key: unsupported key type");
	return store_ops[ref->store]->generate(ref, type, replace, err);
}

static void free_ref(struct m2m_key_ref *r)
{
	free((char *)r->path);
	free((char *)r->module);
	free((char *)r->token);
	free((char *)r->id);
	free((char *)r->label);
	free((char *)r->tcti);
	free(r->pin.path);
}

static int dup_str(const char *s, const char **out)
{
	*out = NULL;
	if (!s)
		return 0;
	*out = strdup(s);
	return *out ? 0 : -1;
}

static int copy_ref(const struct m2m_key_ref *src, struct m2m_key_ref *dst)
{
	*dst = *src;
	dst->path = dst->module = dst->token = dst->id = dst->label = dst->tcti = NULL;
	dst->pin.path = NULL;
	if (dup_str(src->path, &dst->path) || dup_str(src->module, &dst->module) ||
	    dup_str(src->token, &dst->token) || dup_str(src->id, &dst->id) ||
	    dup_str(src->label, &dst->label) || dup_str(src->tcti, &dst->tcti) ||
	    (src->pin.path && !(dst->pin.path = strdup(src->pin.path))))
		return -1;
	return 0;
}

void ks_fingerprint(EVP_PKEY *pk, char *out, size_t len)
{
	unsigned char *der = NULL, md[32];
	char hex[65];
	int n = pk ? i2d_PUBKEY(pk, &der) : -1;

	if (len)
		out[0] = 0;
	if (n <= 0)
		return;
	SHA256(der, (size_t)n, md);
	OPENSSL_free(der);
	m2m_hex(md, sizeof(md), hex, sizeof(hex));
	snprintf(out, len, "SHA256:%s", hex);
}

int m2m_key_open(const struct m2m_key_ref *ref, struct m2m_key **out, struct m2m_err *err)
{
	struct m2m_key *k;
	int rc;

	*out = NULL;
	rc = m2m_key_ref_check(ref, false, err);
	if (rc)
		return rc;
	k = calloc(1, sizeof(*k));
	if (!k || copy_ref(ref, &k->ref)) {
		if (k)
			free_ref(&k->ref);
		free(k);
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	}
	k->ops = store_ops[ref->store];
	k->info.store = ref->store;
	rc = k->ops->open(k, err);
	if (!rc && !k->pub)
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "key: backend gave no public key");
	if (rc) {
		m2m_key_close(k);
		return rc;
	}
	k->info.type = ks_pkey_type(k->pub);
	ks_fingerprint(k->pub, k->info.fingerprint, sizeof(k->info.fingerprint));
	*out = k;
	return M2M_OK;
}

void m2m_key_close(struct m2m_key *k)
{
	if (!k)
		return;
	if (k->ops && k->ops->close)
		k->ops->close(k);
	EVP_PKEY_free(k->pub);
	EVP_PKEY_free(k->priv);
	free_ref(&k->ref);
	free(k);
}

int m2m_key_describe(const struct m2m_key *k, struct m2m_key_info *info)
{
	*info = k->info;
	return M2M_OK;
}

int ks_der_out(unsigned char *p, int n, unsigned char **der, size_t *len, struct m2m_err *err)
{
	if (n <= 0) {
		OPENSSL_free(p);
		return m2m_err_set(err, M2M_ERR_FAILURE, "cannot encode it (DER)");
	}
	*der = malloc((size_t)n);
	if (!*der) {
		OPENSSL_free(p);
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	}
	memcpy(*der, p, (size_t)n);
	OPENSSL_free(p);
	*len = (size_t)n;
	return M2M_OK;
}

int m2m_key_public_der(const struct m2m_key *k, unsigned char **der, size_t *len,
		       struct m2m_err *err)
{
	unsigned char *p = NULL;
	int n = i2d_PUBKEY(k->pub, &p);

	return ks_der_out(p, n, der, len, err);
}

int m2m_key_sign(struct m2m_key *k, const unsigned char *digest, size_t dlen,
		 unsigned char **sig, size_t *siglen, struct m2m_err *err)
{
	if (!k || !digest || !sig || !siglen)
		return m2m_err_set(err, M2M_ERR_USAGE, "sign: missing argument");
	if (dlen != 32)
		return m2m_err_set(err, M2M_ERR_USAGE, "sign: expected a SHA-256 digest (32 bytes), got %zu",
				   dlen);
	return k->ops->sign(k, digest, dlen, sig, siglen, err);
}

int m2m_key_cert_der(const struct m2m_key *k, unsigned char **der, size_t *len,
		     struct m2m_err *err)
{
	*der = NULL;
	if (k->ref.store == M2M_KEYSTORE_FILE)
		return ks_file_cert((struct m2m_key *)k, der, len, err); /* a PKCS#12 file's */
	if (k->ref.store != M2M_KEYSTORE_PKCS11)
		return m2m_err_set(err, M2M_ERR_NOT_FOUND, "a %s key store keeps no certificates",
				   m2m_key_store_name(k->ref.store));
	return ks_pkcs11_cert((struct m2m_key *)k, der, len, err);
}

int m2m_key_delete(const struct m2m_key_ref *ref, struct m2m_err *err)
{
	int rc = m2m_key_ref_check(ref, false, err);

	if (rc)
		return rc;
	return store_ops[ref->store]->remove(ref, err);
}

/* ---- helpers ------------------------------------------------------------- */

const char *ks_ssl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	return r ? r : "unknown error";
}

enum m2m_key_type ks_pkey_type(const EVP_PKEY *pk)
{
	if (!pk)
		return M2M_KEY_UNKNOWN;
	if (EVP_PKEY_is_a(pk, "EC")) {
		char group[64];

		if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group,
						   sizeof(group), NULL) &&
		    (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0))
			return M2M_KEY_EC_P256;
		return M2M_KEY_UNKNOWN;
	}
	if (EVP_PKEY_is_a(pk, "RSA")) {
		int bits = EVP_PKEY_get_bits(pk);

		return bits == 2048 ? M2M_KEY_RSA_2048 : bits == 3072 ? M2M_KEY_RSA_3072 :
								       M2M_KEY_UNKNOWN;
	}
	return M2M_KEY_UNKNOWN;
}

EVP_PKEY *ks_soft_generate(enum m2m_key_type type)
{
	switch (type) {
	case M2M_KEY_EC_P256:
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	case M2M_KEY_RSA_2048:
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	case M2M_KEY_RSA_3072:
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
	default:
		return NULL;
	}
}

int ks_soft_sign(EVP_PKEY *pk, const unsigned char *dg, size_t dlen, unsigned char **sig,
		 size_t *siglen, struct m2m_err *err)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	size_t n = 0;
	int rc = M2M_OK;

	*sig = NULL;
	if (!ctx || EVP_PKEY_sign_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) <= 0 ||
	    (EVP_PKEY_is_a(pk, "RSA") && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0) ||
	    EVP_PKEY_sign(ctx, NULL, &n, dg, dlen) <= 0) {
		rc = m2m_err_set(err, M2M_ERR_CREDENTIAL, "sign: %s", ks_ssl_reason());
		goto out;
	}
	*sig = malloc(n);
	if (!*sig) {
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
		goto out;
	}
	if (EVP_PKEY_sign(ctx, *sig, &n, dg, dlen) <= 0) {
		free(*sig);
		*sig = NULL;
		rc = m2m_err_set(err, M2M_ERR_CREDENTIAL, "sign: %s", ks_ssl_reason());
		goto out;
	}
	*siglen = n;
out:
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}

int ks_ecdsa_raw_to_der(const unsigned char *r, size_t rlen, const unsigned char *s, size_t slen,
			unsigned char **der, size_t *derlen)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *br = BN_bin2bn(r, (int)rlen, NULL), *bs = BN_bin2bn(s, (int)slen, NULL);
	unsigned char *p = NULL;
	int n;

	*der = NULL;
	if (!es || !br || !bs || !ECDSA_SIG_set0(es, br, bs)) {
		BN_free(br);
		BN_free(bs);
		ECDSA_SIG_free(es);
		return -1;
	}
	n = i2d_ECDSA_SIG(es, &p);
	ECDSA_SIG_free(es);
	if (n <= 0)
		return -1;
	*der = malloc((size_t)n);
	if (*der)
		memcpy(*der, p, (size_t)n);
	OPENSSL_free(p);
	*derlen = (size_t)n;
	return *der ? 0 : -1;
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *b)
{
	OSSL_PARAM *prm = b ? OSSL_PARAM_BLD_to_param(b) : NULL;
	EVP_PKEY_CTX *ctx = prm ? EVP_PKEY_CTX_new_from_name(NULL, type, NULL) : NULL;
	EVP_PKEY *pk = NULL;

	if (ctx && EVP_PKEY_fromdata_init(ctx) > 0)
		EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, prm);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(prm);
	OSSL_PARAM_BLD_free(b);
	return pk;
}

EVP_PKEY *ks_ec_pub_from_point(const unsigned char *pt, size_t len)
{
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();

	if (!b || !OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pt, len)) {
		OSSL_PARAM_BLD_free(b);
		return NULL;
	}
	return from_params("EC", b);
}

EVP_PKEY *ks_rsa_pub_from(const unsigned char *n, size_t nlen, const unsigned char *e, size_t elen)
{
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL), *be = BN_bin2bn(e, (int)elen, NULL);
	EVP_PKEY *pk = NULL;

	if (b && bn && be && OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, bn) &&
	    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, be)) {
		pk = from_params("RSA", b);
		b = NULL;
	}
	OSSL_PARAM_BLD_free(b);
	BN_free(bn);
	BN_free(be);
	return pk;
}

bool ks_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* ---- the PIN policy -------------------------------------------------------- */

/* the bits of CK_TOKEN_INFO.flags, from PKCS#11 v2.40 */
#define KS_CKF_USER_PIN_COUNT_LOW (1UL << 16)
#define KS_CKF_USER_PIN_FINAL_TRY (1UL << 17)
#define KS_CKF_USER_PIN_LOCKED (1UL << 18)

enum m2m_pin_state ks_pin_state(unsigned long flags)
{
	if (flags & KS_CKF_USER_PIN_LOCKED)
		return M2M_PIN_LOCKED;
	if (flags & KS_CKF_USER_PIN_FINAL_TRY)
		return M2M_PIN_FINAL;
	if (flags & KS_CKF_USER_PIN_COUNT_LOW)
		return M2M_PIN_LOW;
	return M2M_PIN_OK;
}

/* ---- PINs a token rejected, remembered across runs ------------------------ */

static const char *ks_state_dir = M2M_STATE_DEFAULT_DIR;
static uint64_t ks_deadline;

void m2m_keystore_set_deadline(uint64_t deadline_ms)
{
	ks_deadline = deadline_ms;
}

uint64_t ks_deadline_ms(void)
{
	return ks_deadline ? ks_deadline : m2m_now_ms() + M2M_KEYSTORE_DEFAULT_MS;
}

int ks_probe(const char *what, int (*fn)(void *), void *arg, struct m2m_err *err)
{
	uint64_t deadline = ks_deadline_ms(), now;
	struct pollfd pf;
	int fds[2], n = 0;
	pid_t pid;
	char res = 0;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return M2M_OK;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return M2M_OK;
	}
	if (pid == 0) {
		close(fds[0]);
		res = fn(arg) == 0 ? 1 : 2;
		_exit(write(fds[1], &res, 1) == 1 ? 0 : 1);
	}
	close(fds[1]);
	pf = (struct pollfd){ .fd = fds[0], .events = POLLIN };
	while ((now = m2m_now_ms()) < deadline) {
		n = poll(&pf, 1, (int)(deadline - now < 1000 ? deadline - now : 1000));
		if (n != 0 && !(n < 0 && errno == EINTR))
			break;
	}
	if (n > 0 && read(fds[0], &res, 1) == 1 && res) {
		close(fds[0]);
		waitpid(pid, NULL, 0);
		return M2M_OK; /* answered; a failure is for the real attempt to describe */
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(fds[0]);
	if (n > 0)
		return M2M_OK; /* the child died: let the real attempt say why */
	return m2m_err_set(err, M2M_ERR_DEVICE, "%s in time (a frozen daemon or device?)", what);
}

void m2m_keystore_set_state_dir(const char *dir)
{
	ks_state_dir = dir && *dir ? dir : M2M_STATE_DEFAULT_DIR;
}

/*
 * "<state>/<kind>-<hash of module, serial, label>": "pin-rejected" holds a
 * hash of the rejected PIN; "fact-<name>" says what was seen of a key.
 */
static void marker_of(const char *kind, const char *module, const char *serial, const char *token,
		      char *path, size_t len)
{
	unsigned char md[32];
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned n = 0;

	memset(md, 0, sizeof(md));
	if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL)) {
		EVP_DigestUpdate(c, module ? module : "", module ? strlen(module) + 1 : 1);
		EVP_DigestUpdate(c, serial ? serial : "", serial ? strlen(serial) + 1 : 1);
		EVP_DigestUpdate(c, token ? token : "", token ? strlen(token) + 1 : 1);
		EVP_DigestFinal_ex(c, md, &n);
	}
	EVP_MD_CTX_free(c);
	snprintf(path, len, "%s/%s-%02x%02x%02x%02x%02x%02x%02x%02x", ks_state_dir, kind, md[0],
		 md[1], md[2], md[3], md[4], md[5], md[6], md[7]);
}

static void marker(const char *module, const char *serial, const char *token, char *path,
		   size_t len)
{
	marker_of("pin-rejected", module, serial, token, path, len);
}

bool ks_fact_has(const char *module, const char *serial, const char *token, const char *fact)
{
	char kind[64], path[PATH_MAX];

	snprintf(kind, sizeof(kind), "fact-%s", fact);
	marker_of(kind, module, serial, token, path, sizeof(path));
	return access(path, F_OK) == 0;
}

void ks_fact_set(const char *module, const char *serial, const char *token, const char *fact)
{
	char kind[64], path[PATH_MAX];

	snprintf(kind, sizeof(kind), "fact-%s", fact);
	marker_of(kind, module, serial, token, path, sizeof(path));
	if (!m2m_mkdir_private(ks_state_dir, NULL))
		m2m_write_atomic(path, "1\n", 2, 0600, NULL);
}

static void pin_hash(const char *path, const char *pin, size_t len, char *hex, size_t hexlen)
{
	unsigned char md[32];
	unsigned n = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	memset(md, 0, sizeof(md));
	/* salted with the marker's own name: equal PINs on two tokens hash apart */
	if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL)) {
		EVP_DigestUpdate(c, path, strlen(path));
		EVP_DigestUpdate(c, pin, len);
		EVP_DigestFinal_ex(c, md, &n);
	}
	EVP_MD_CTX_free(c);
	m2m_hex(md, sizeof(md), hex, hexlen);
	OPENSSL_cleanse(md, sizeof(md));
}

bool ks_pin_rejected_before(const char *module, const char *serial, const char *token,
			    const char *pin, size_t len)
{
	char path[PATH_MAX], want[65] = "", *have = NULL;
	bool same;

	marker(module, serial, token, path, sizeof(path));
	if (m2m_read_file(path, 256, &have, NULL, NULL))
		return false;
	pin_hash(path, pin, len, want, sizeof(want));
	have[strcspn(have, "\n")] = '\0';
	same = strcmp(have, want) == 0;
	free(have);
	return same;
}

void ks_pin_remember(const char *module, const char *serial, const char *token, const char *pin,
		     size_t len, bool rejected)
{
	char path[PATH_MAX], hex[66] = "";

	marker(module, serial, token, path, sizeof(path));
	if (!rejected) {
		unlink(path);
		return;
	}
	if (m2m_mkdir_private(ks_state_dir, NULL))
		return;
	pin_hash(path, pin, len, hex, sizeof(hex) - 1);
	strcat(hex, "\n");
	m2m_write_atomic(path, hex, strlen(hex), 0600, NULL);
}

int ks_pin_policy(enum m2m_pin_state st, bool person, const char *token, struct m2m_err *err)
{
	switch (st) {
	case M2M_PIN_LOCKED:
		return m2m_err_set(err, M2M_ERR_PIN_LOCKOUT,
				   "token '%s': the user PIN is locked; unlock it with the SO PIN (not tried)",
				   token);
	case M2M_PIN_FINAL:
		return m2m_err_set(err, M2M_ERR_PIN_LOCKOUT,
				   "token '%s': one PIN retry left, a wrong PIN would lock it; not tried (check the PIN, then reset the counter with a correct login by hand)",
				   token);
	case M2M_PIN_LOW:
		if (person)
			return M2M_OK;
		return m2m_err_set(err, M2M_ERR_PIN_LOCKOUT,
				   "token '%s': a wrong PIN was given before and few retries are left; not tried unattended (check the PIN, then log in once at a terminal)",
				   token);
	default:
		return M2M_OK;
	}
}
