/* SPDX-License-Identifier: MIT */
/*
 * m2m: key stores. One interface over four places a device key can live:
 *   file     a PEM PKCS#8 file, optionally encrypted with a PIN
 *   pkcs11   a PKCS#11 token (smartcard, HSM), reached through its module
 *   tpm      a persistent TPM 2.0 key, reached through a TCTI
 *   machine  a soft key encrypted with a key derived from this machine's
 *            identity (see m2mvpn-cert(1), MACHINE BINDING)
 * A key can be generated, imported, opened, asked for its public key, made
 * to sign a SHA-256 digest (for CSRs), handed to OpenSSL as an EVP_PKEY
 * that signs in its store (CMS, CMP, TLS) and deleted. Secrets (PINs, auth values) come
 * from a struct m2m_secret_ref, never from a string.
 */
#ifndef M2M_KEYSTORE_H
#define M2M_KEYSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m2m/m2m.h"

#ifdef __cplusplus
extern "C" {
#endif

/* OpenSSL's types, for the calls that take or give them; no OpenSSL header needed here */
struct evp_pkey_st;   /* EVP_PKEY */
struct x509_st;       /* X509 */
struct stack_st_X509; /* STACK_OF(X509) */

#define M2M_TPM_DEFAULT_TCTI "device:/dev/tpmrm0"
#define M2M_TPM_DEFAULT_HANDLE 0x81010002u

enum m2m_key_store {
	M2M_KEYSTORE_FILE = 0,
	M2M_KEYSTORE_PKCS11 = 1,
	M2M_KEYSTORE_TPM = 2,
	M2M_KEYSTORE_MACHINE = 3,
};

enum m2m_key_type {
	M2M_KEY_UNKNOWN = 0,
	M2M_KEY_EC_P256 = 1,  /* the default */
	M2M_KEY_RSA_2048 = 2,
	M2M_KEY_RSA_3072 = 3,
};

/* Where a key is. Unused fields are NULL/0. The strings are not copied by the caller's side. */
struct m2m_key_ref {
	enum m2m_key_store store;
	const char *path;         /* FILE, MACHINE: the key file. TPM: NULL, or a key blob (a
				     renewal's next key, m2m_key_ref_next()): loaded under the
				     storage primary for each use, never persistent */
	const char *module;       /* PKCS11: path of the module (.so) */
	const char *token;        /* PKCS11: token label; NULL: the only token present */
	const char *id;           /* PKCS11: CKA_ID in hex, e.g. "01" */
	const char *label;        /* PKCS11: CKA_LABEL (set on generate; lookup if no id) */
	const char *tcti;         /* TPM: TCTI, e.g. "tabrmd:bus_type=session"; NULL: default.
				     MACHINE: if set, the binding includes a secret sealed in this TPM */
	uint32_t handle;          /* TPM: owner persistent handle (0x81000000-0x817fffff; the
				     platform range is refused); 0: default.
				     MACHINE: where the sealed secret goes (0: 0x81010020) */
	struct m2m_secret_ref pin; /* FILE: passphrase (optional), PKCS11: user PIN, TPM: auth value (optional) */
};

/*
 * Where the key stores remember state across runs (a PIN a token rejected).
 * Default M2M_STATE_DEFAULT_DIR; the tools set the config's state_dir, and
 * m2m_vpn_open() and m2m_dm_open() set it from their configuration. The
 * string is copied (a path of PATH_MAX or more is taken as the default).
 */
void m2m_keystore_set_state_dir(const char *dir);

/*
 * The time (CLOCK_MONOTONIC, in ms) by which a TPM or a PKCS#11 module
 * must have answered: the command's own deadline. One that does not answer
 * in time (a frozen resource manager, a TCTI socket that never answers, a
 * module whose daemon hangs) fails with M2M_ERR_DEVICE then. 0:
 * M2M_KEYSTORE_DEFAULT_MS from each connection. The calling thread's own:
 * each thread that uses a key sets it.
 */
#define M2M_KEYSTORE_DEFAULT_MS 30000
void m2m_keystore_set_deadline(uint64_t deadline_ms);

/* PIN retry state of a token, from its CKF_USER_PIN_* flags. */
enum m2m_pin_state {
	M2M_PIN_NA = 0,       /* no PIN (not a token) */
	M2M_PIN_OK = 1,       /* no failed attempt reported */
	M2M_PIN_LOW = 2,      /* a wrong PIN was given: few retries left */
	M2M_PIN_FINAL = 3,    /* the next wrong PIN locks the token */
	M2M_PIN_LOCKED = 4,   /* locked: needs the SO PIN */
};

struct m2m_key_info {
	enum m2m_key_store store;
	enum m2m_key_type type;
	char location[320];   /* for people: path, pkcs11:token=..;id=.., tpm:0x81010002 */
	char scheme[24];      /* TPM: the key's fixed signing scheme ("ecdsa-sha256", "none"); else "" */
	char id[132];         /* PKCS11: CKA_ID hex; TPM: the handle "0x81010002" */
	char label[64];       /* PKCS11: CKA_LABEL */
	unsigned long slot;   /* PKCS11: the slot of the token */
	char tcti[256];       /* TPM: the TCTI used */
	enum m2m_pin_state pin_state; /* PKCS11 */
	bool pin_needed;      /* a PIN or passphrase protects the key */
	char fingerprint[96]; /* "SHA256:" + hex of the SubjectPublicKeyInfo's SHA-256 (all 32 bytes) */
};

struct m2m_key;

const char *m2m_key_store_name(enum m2m_key_store s);
/* "file", "pkcs11", "tpm", "machine"; false if unknown */
bool m2m_key_store_parse(const char *s, enum m2m_key_store *out);
/* "ec", "ecdsa", "p256", "rsa2048", "rsa3072" ("rsa" = rsa2048) */
bool m2m_key_type_parse(const char *s, enum m2m_key_type *out);
const char *m2m_key_type_name(enum m2m_key_type t); /* "ecdsa-p256", "rsa-2048", ... */
const char *m2m_pin_state_name(enum m2m_pin_state s);

/*
 * Check a reference for what its store needs (a path, a module and an id, a
 * persistent handle in range...). M2M_ERR_USAGE with the missing part named.
 */
int m2m_key_ref_check(const struct m2m_key_ref *ref, bool generate, struct m2m_err *err);

/*
 * Create a key. Refuses (CREDENTIAL) to replace an existing one unless
 * replace is true. TPM keys get a fixed signing scheme (ecdsa-sha256 or
 * rsassa-sha256) so charon can use them.
 */
int m2m_key_generate(const struct m2m_key_ref *ref, enum m2m_key_type type, bool replace,
		     struct m2m_err *err);

/*
 * Import a PEM private key (optionally followed by its certificate in the
 * same file) or a PKCS#12 file (src_pin decrypts it) into any store. A
 * certificate that is not the key's is refused (CREDENTIAL). PKCS11: the
 * private key (sensitive, not extractable, sign only), its public key and
 * the certificate are created on the token with dst->id (one PIN try, as
 * for signing). TPM: TPM2_Import under the storage primary, persistent at
 * dst->handle, with a fixed signing scheme; not fixedTPM. If cert_out is
 * not NULL and src has a certificate, it is written there as PEM.
 */
int m2m_key_import(const struct m2m_key_ref *dst, const char *src,
		   const struct m2m_secret_ref *src_pin, const char *cert_out, bool replace,
		   struct m2m_err *err);

/*
 * Open a key: find it and read its public part. A PIN is asked only when
 * needed: FILE/MACHINE keys are decrypted here, a token logs in at the first
 * signature. Errors: NOT_FOUND (no such key), CREDENTIAL (wrong PIN or
 * passphrase, another machine's key), DEVICE (no TPM answers through the
 * TCTI, no token, a module that cannot be loaded or does not answer in
 * time), PIN_LOCKOUT.
 */
int m2m_key_open(const struct m2m_key_ref *ref, struct m2m_key **out, struct m2m_err *err);
void m2m_key_close(struct m2m_key *k);

int m2m_key_describe(const struct m2m_key *k, struct m2m_key_info *info);

/* The public key as DER SubjectPublicKeyInfo; free() *der. */
int m2m_key_public_der(const struct m2m_key *k, unsigned char **der, size_t *len,
		       struct m2m_err *err);

/*
 * Sign a SHA-256 digest (32 bytes). The signature is in X.509 form:
 * DER ECDSA-Sig-Value for EC keys, PKCS#1 v1.5 for RSA. free() *sig.
 * A token logs in first with the PIN of ref->pin: once, never retried.
 */
int m2m_key_sign(struct m2m_key *k, const unsigned char *digest, size_t dlen,
		 unsigned char **sig, size_t *siglen, struct m2m_err *err);

/*
 * The certificate stored next to the key (a PKCS#11 token's certificate
 * object with the same CKA_ID, or the one in a PKCS#12 key file), DER; free()
 * *der. NOT_FOUND if none, or if the store keeps no certificates.
 */
int m2m_key_cert_der(const struct m2m_key *k, unsigned char **der, size_t *len,
		     struct m2m_err *err);

/*
 * Whether the key could be used now, without a try (a later "up" whose
 * credentials charon still holds): the device answers (m2m_key_open() did
 * that), it is not locked out, the configured PIN or auth value was not
 * refused since. FILE, MACHINE: OK.
 */
int m2m_key_check(struct m2m_key *k, struct m2m_err *err);

/* The public key, up-referenced: EVP_PKEY_free() it. USAGE if k is NULL. */
int m2m_key_public(const struct m2m_key *k, struct evp_pkey_st **pub);

/*
 * FILE, MACHINE: the private key in memory, up-referenced (EVP_PKEY_free()
 * it); USAGE for a key that never leaves its TPM or token.
 */
int m2m_key_private(const struct m2m_key *k, struct evp_pkey_st **priv, struct m2m_err *err);

/*
 * Read a soft key: a PEM private key (encrypted with the PIN of pin, if any)
 * or a PKCS#12 file, with its certificate and the chain shipped with it if
 * asked for (cert, chain may be NULL; NULL if the file has none).
 * NOT_FOUND if the file is missing, CREDENTIAL if it is unreadable.
 */
int m2m_key_read_file(const char *path, const struct m2m_secret_ref *pin,
		      struct evp_pkey_st **pk, struct x509_st **cert,
		      struct stack_st_X509 **chain, struct m2m_err *err);

/*
 * The key as an OpenSSL EVP_PKEY (EVP_PKEY_free() it): its public key, and
 * private-key operations that go to the store's m2m_key_sign(), so that
 * OpenSSL's CMS (CMS_sign), CMP and TLS code can sign with a key that never
 * leaves its TPM or token; a TPM key's every signature goes through its
 * lockout policy. As the store signs SHA-256 digests only, so does it:
 * ECDSA with SHA-256 and RSA PKCS#1 v1.5 with SHA-256 (not PSS); anything
 * else fails. OpenSSL sees only that a signature failed: failed(arg, err),
 * if not NULL, is told why (CREDENTIAL, PIN_LOCKOUT, DEVICE and the
 * message), during the signature. The key stays open while the EVP_PKEY
 * exists: m2m_key_close() may come first.
 */
typedef void m2m_key_sign_failed_fn(void *arg, const struct m2m_err *err);
int m2m_key_pkey(struct m2m_key *k, m2m_key_sign_failed_fn *failed, void *arg,
		 struct evp_pkey_st **out, struct m2m_err *err);

/* The type and the fingerprint (as in struct m2m_key_info) of any public key, e.g. a certificate's. */
enum m2m_key_type m2m_pkey_type(const struct evp_pkey_st *pk);
void m2m_pkey_fingerprint(const struct evp_pkey_st *pk, char *out, size_t len);

/* Remove a key from its store (file, token objects, TPM persistent handle and its blob, a TPM blob). */
int m2m_key_delete(const struct m2m_key_ref *ref, struct m2m_err *err);

/*
 * The next key of ref: where a key renewal with a new key (m2mvpn-cert
 * keygen --next, renew --new-key) makes it beside the current one, until a
 * certificate for it is issued and it takes the current one's place. A file
 * key's is its path with M2M_KEY_NEXT_SUFFIX; a token key's has the suffix's
 * bytes added to its id (id 01: 012e6e657874), or to its label if it has no
 * id; a TPM key's is a blob (path) in the state directory of
 * m2m_keystore_set_state_dir(), "<state_dir>/tpm-key-0x<handle>" with the
 * suffix (a blob's: its path with the suffix): the key's TPM2B_PUBLIC and
 * TPM2B_PRIVATE, the private part wrapped by the storage primary (usable in
 * this TPM only), 0600; a key made at a handle keeps its blob there without
 * the suffix. The changed string is written into buf, which next points at.
 * USAGE for a MACHINE key (not made there yet). The key a renewal replaced
 * is kept the same way, with M2M_KEY_PREV_SUFFIX, until the new one is
 * proven.
 */
#define M2M_KEY_NEXT_SUFFIX ".next"
#define M2M_KEY_PREV_SUFFIX ".prev"
int m2m_key_ref_next(const struct m2m_key_ref *ref, struct m2m_key_ref *next, char *buf,
		     size_t len, struct m2m_err *err);

/*
 * The inputs of the machine binding on this machine, for doctor: name, where
 * it is read from and whether it is there. n is set to the count (<= max).
 */
struct m2m_machine_input {
	char name[32];
	char source[128];
	bool present;
	bool denied;        /* there, but this user may not read it */
	bool weak;          /* present but not unique (e.g. all zero, a known dummy) */
};
int m2m_machine_inputs(struct m2m_machine_input *in, size_t max, size_t *n);

#ifdef __cplusplus
}
#endif
#endif
