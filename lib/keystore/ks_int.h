/* SPDX-License-Identifier: MIT */
/* Internal parts of the key store: the backend interface and shared helpers. */
#ifndef M2M_KS_INT_H
#define M2M_KS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "base/base.h"
#include "m2m/keystore.h"

struct m2m_key;

struct ks_ops {
	int (*generate)(const struct m2m_key_ref *ref, enum m2m_key_type type, bool replace,
			struct m2m_err *err);
	/* find the key; fill k->pub, k->type and k->info */
	int (*open)(struct m2m_key *k, struct m2m_err *err);
	/* digest is SHA-256; result in X.509 form, malloc()ed */
	int (*sign)(struct m2m_key *k, const unsigned char *dg, size_t dlen, unsigned char **sig,
		    size_t *siglen, struct m2m_err *err);
	int (*remove)(const struct m2m_key_ref *ref, struct m2m_err *err);
	void (*close)(struct m2m_key *k);
	/* put a soft key (and its certificate, if not NULL) into the store; NULL: not supported */
	int (*import)(const struct m2m_key_ref *ref, EVP_PKEY *pk, X509 *cert, bool replace,
		      struct m2m_err *err);
	/* the certificate kept next to the key, DER, malloc()ed; NULL: the store keeps none */
	int (*cert)(const struct m2m_key *k, unsigned char **der, size_t *len, struct m2m_err *err);
	/* m2m_key_unlock(); NULL: nothing to unlock (the key was read at the open) */
	int (*unlock)(struct m2m_key *k, struct m2m_secret *pin, struct m2m_err *err);
	/* m2m_key_check(); NULL: usable once open */
	int (*check)(struct m2m_key *k, struct m2m_err *err);
};

struct m2m_key {
	struct m2m_key_ref ref;     /* strings owned (copied) */
	const struct ks_ops *ops;
	EVP_PKEY *pub;              /* the public key, always */
	EVP_PKEY *priv;             /* FILE, MACHINE: the private key, in memory */
	struct m2m_key_info info;
	void *be;                   /* backend state */
	unsigned refs;              /* the caller's, and one for each m2m_key_pkey() */
};

/* ks_key_place() in a TPM (ks_tpm_make.c): blob's key persistent at ref's handle */
int ks_tpm_place(const struct m2m_key_ref *ref, const char *blob, struct m2m_err *err);

/* ks_key_move() on a token (ks_pkcs11.c) */
int ks_p11_move(const struct m2m_key_ref *from, const struct m2m_key_ref *to, struct m2m_err *err);

extern const struct ks_ops ks_file_ops, ks_machine_ops, ks_pkcs11_ops, ks_tpm_ops;
const struct ks_ops *ks_store_ops(enum m2m_key_store s);

/* ---- encodings (ks_codec.c); soft keys (ks_file.c) ---- */
const char *ks_ssl_reason(void);
enum m2m_key_type ks_pkey_type(const EVP_PKEY *pk);
/* Generate a soft key of the type. */
EVP_PKEY *ks_soft_generate(enum m2m_key_type type);
/* Sign a SHA-256 digest with an in-memory key. */
int ks_soft_sign(EVP_PKEY *pk, const unsigned char *dg, size_t dlen, unsigned char **sig,
		 size_t *siglen, struct m2m_err *err);
/* Raw r||s (each half n bytes) to DER ECDSA-Sig-Value. */
int ks_ecdsa_raw_to_der(const unsigned char *r, size_t rlen, const unsigned char *s, size_t slen,
			unsigned char **der, size_t *derlen);
/* EVP_PKEY for an uncompressed P-256 point 04||X||Y */
EVP_PKEY *ks_ec_pub_from_point(const unsigned char *pt, size_t len);
/* EVP_PKEY for an RSA modulus and exponent (big-endian) */
EVP_PKEY *ks_rsa_pub_from(const unsigned char *n, size_t nlen, const unsigned char *e, size_t elen);
/* Does a file exist (lstat)? */
bool ks_exists(const char *path);

/* ---- PIN retry policy, token and TPM (ks_pin.c) ---- */
enum m2m_pin_state ks_pin_state(unsigned long token_flags);
/*
 * May a PIN be tried now? LOCKED and FINAL_TRY: never (PIN_LOCKOUT). LOW:
 * only when a person types it (prompt), never unattended. OK: yes.
 */
/* PINs a token rejected are remembered (hashed) in the state dir across runs. */
bool ks_pin_rejected_before(const char *module, const char *serial, const char *token,
			    const char *pin, size_t len);
void ks_pin_remember(const char *module, const char *serial, const char *token, const char *pin,
		     size_t len, bool rejected);
/* A fact seen of a key ("no-auth": it signs without an auth value), kept across runs. */
bool ks_fact_has(const char *module, const char *serial, const char *token, const char *fact);
void ks_fact_set(const char *module, const char *serial, const char *token, const char *fact);
int ks_pin_policy(enum m2m_pin_state st, bool person, const char *token, struct m2m_err *err);
/* "<what>: the PIN file X is empty" (or fd, credential, prompt): CREDENTIAL, never "wrong PIN" */
int ks_pin_empty(const struct m2m_secret_ref *ref, const char *what, struct m2m_err *err);

/* When a TPM or token must have answered (m2m_now_ms()): m2m_keystore_set_deadline() (ks_device.c) */
uint64_t ks_deadline_ms(void);
/*
 * fn(arg) in a child that is abandoned (killed) at the deadline: DEVICE with
 * "<what> in time" if it did not finish, OK otherwise (its own failure is for
 * the real attempt to report). For TPM and token access, where tpm2-tss or a
 * PKCS#11 module can hang without a time limit of its own.
 */
int ks_probe(const char *what, int (*fn)(void *), void *arg, struct m2m_err *err);
/* "SHA256:<hex>" of the key's SubjectPublicKeyInfo, all 32 bytes ("" if it has none) */
void ks_fingerprint(const EVP_PKEY *pk, char *out, size_t len);
/*
 * The TPM key's auth value (if it has one) into *auth, tried once with a
 * test signature unless the TPM is in or one failure from dictionary-attack
 * lockout (M2M_ERR_PIN_LOCKOUT) or refused this value before (CREDENTIAL).
 * Every signature of a key not unlocked yet goes through it first.
 */
int ks_tpm_unlock(struct m2m_key *k, struct m2m_secret *auth, struct m2m_err *err);
/* What an OpenSSL i2d_*() gave (p, n bytes; freed here) as a malloc()ed copy */
int ks_der_out(unsigned char *p, int n, unsigned char **der, size_t *len, struct m2m_err *err);

/* ---- soft keys on disk ---- */
/* Write pk as PEM PKCS#8 (encrypted with the PIN of pin, if any), mode 0600. */
int ks_file_write(const char *path, EVP_PKEY *pk, const struct m2m_secret_ref *pin, bool replace,
		  struct m2m_err *err);
/*
 * Write pk bound to this machine. With a TCTI, a random secret sealed in the
 * TPM at seal_handle (0: KS_MACHINE_SEAL_HANDLE) is one more input.
 */
int ks_machine_write(const char *path, EVP_PKEY *pk, const char *tcti, uint32_t seal_handle,
		     bool replace, struct m2m_err *err);
#define KS_MACHINE_SEAL_HANDLE 0x81010020u

/* Seal a secret in the TPM as a persistent data object; unseal it. */
int ks_tpm_seal(const char *tcti, uint32_t handle, const unsigned char *secret, size_t len,
		bool replace, struct m2m_err *err);
int ks_tpm_unseal(const char *tcti, uint32_t handle, unsigned char *out, size_t max, size_t *len,
		  struct m2m_err *err);
/* Read a PEM private key or a PKCS#12 file (and its certificate, if any). */
int ks_read_soft(const char *path, const struct m2m_secret_ref *pin, EVP_PKEY **pk, X509 **cert,
		 STACK_OF(X509) **chain, struct m2m_err *err);
/* k->pub from k->priv */
int ks_pub_from_priv(struct m2m_key *k, struct m2m_err *err);
/* The private key as DER (traditional/PKCS#1 or SEC1), for charon's load-key; OPENSSL_free(). */
int ks_private_der(const struct m2m_key *k, unsigned char **der, size_t *len, struct m2m_err *err);

/* ---- machine binding (ks_machine.c) ---- */
#define KS_MACHINE_INFO "m2m/machine-key/v1"
#define KS_MACHINE_SALT_LEN 32
#define KS_MACHINE_MAX_INPUTS 8

struct ks_machine_value {
	const char *name;
	const char *value;
};
/*
 * KEK = HKDF-SHA256(IKM = "name:len:value|" for each input in order,
 * salt, info = KS_MACHINE_INFO), 32 bytes.
 */
int ks_machine_derive(const struct ks_machine_value *v, size_t n, const unsigned char *salt,
		      size_t saltlen, unsigned char kek[32]);

/* A machine-bound key file, parsed (not decrypted). */
struct ks_machine_file {
	char names[256];         /* "machine-id,dmi-product-uuid" */
	char tcti[256];          /* the "tpm:" header: TCTI of the sealed input, or "" */
	uint32_t seal_handle;
	unsigned char salt[KS_MACHINE_SALT_LEN];
	unsigned char nonce[12];
	size_t hlen;             /* bytes of header: the AEAD's additional data */
	unsigned char *ct;       /* ciphertext || tag, malloc()ed */
	size_t ctlen;
};
/* Parse the text of a key file (NUL-terminated); CREDENTIAL if damaged. free(mf->ct). */
int ks_machine_parse(const char *buf, struct ks_machine_file *mf, const char *file,
		     struct m2m_err *err);

/* ks_pin.c: a PIN the store refused, counted as a security event ("pin", state.h) */
void ks_pin_refused(void);
/*
 * The state directory's blob of the TPM key at ref's handle (ks_tpm_blob.c),
 * with suffix: "" for the key in use, M2M_KEY_NEXT_SUFFIX, M2M_KEY_PREV_SUFFIX.
 */
int ks_tpm_blob_path(const struct m2m_key_ref *ref, const char *suffix, char *buf, size_t len,
		     struct m2m_err *err);

#endif
