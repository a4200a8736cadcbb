/* SPDX-License-Identifier: MIT */
/*
 * The PIN policy, shared by the token and the TPM stores: a token's retry
 * state from its flags, whether a PIN may be tried now, and what is kept
 * across runs in the state directory (a PIN or auth value the device
 * rejected, hashed; facts seen of a key). Its own file so that the
 * interface (keystore.c) and the backends both use it without calling each
 * other.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "keystore/ks_int.h"
#include "state/state.h"

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

/*
 * A copy: the caller's string (a config's) may be freed before the keys are
 * done. Under a mutex: a thread of the library (an ordered renewal beside
 * the LwM2M loop) sets it while another may read it; readers take a copy.
 */
static char ks_state_dir_buf[PATH_MAX] = M2M_STATE_DEFAULT_DIR;
static pthread_mutex_t ks_state_dir_mu = PTHREAD_MUTEX_INITIALIZER;

static void state_dir(char *out, size_t len)
{
	pthread_mutex_lock(&ks_state_dir_mu);
	snprintf(out, len, "%s", ks_state_dir_buf);
	pthread_mutex_unlock(&ks_state_dir_mu);
}

/* A PIN a key store refused: counted where the policies look (policy.counters "pin"). */
void ks_pin_refused(void)
{
	char dir[PATH_MAX];

	state_dir(dir, sizeof(dir));
	m2m_state_event(dir, "pin", NULL);
}

void m2m_keystore_set_state_dir(const char *dir)
{
	pthread_mutex_lock(&ks_state_dir_mu);
	snprintf(ks_state_dir_buf, sizeof(ks_state_dir_buf), "%s",
		 dir && *dir && strlen(dir) < sizeof(ks_state_dir_buf) ? dir : M2M_STATE_DEFAULT_DIR);
	pthread_mutex_unlock(&ks_state_dir_mu);
}

int ks_tpm_blob_path(const struct m2m_key_ref *ref, const char *suffix, char *buf, size_t len,
		     struct m2m_err *err)
{
	char dir[PATH_MAX];

	state_dir(dir, sizeof(dir));
	if ((size_t)snprintf(buf, len, "%s/tpm-key-0x%08x%s", dir,
			     (unsigned)(ref->handle ? ref->handle : M2M_TPM_DEFAULT_HANDLE),
			     suffix) >= len)
		return m2m_err_set(err, M2M_ERR_USAGE, "tpm key: the state directory's path is too long");
	return M2M_OK;
}

/*
 * "<kind>-<hash of module, serial, label>" in the state directory:
 * "pin-rejected" holds a hash of the rejected PIN; "fact-<name>" says what was
 * seen of a key. Through lib/state: the directory's ownership checked, atomic
 * writes, and a marker that is not what we write set aside (NAME.bad) and
 * taken as absent: the PIN is tried, the fact found out again.
 */
static void marker_of(const char *kind, const char *module, const char *serial, const char *token,
		      char *name, size_t len)
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
	snprintf(name, len, "%s-%02x%02x%02x%02x%02x%02x%02x%02x", kind, md[0], md[1], md[2], md[3],
		 md[4], md[5], md[6], md[7]);
}

static void marker(const char *module, const char *serial, const char *token, char *name,
		   size_t len)
{
	marker_of("pin-rejected", module, serial, token, name, len);
}

/* what ks_fact_set writes */
static int check_fact(const char *buf, size_t len, void *ctx, struct m2m_err *err)
{
	(void)ctx;
	if (len != 2 || memcmp(buf, "1\n", 2) != 0)
		return m2m_err_set(err, M2M_ERR_FAILURE, "not a fact marker");
	return M2M_OK;
}

bool ks_fact_has(const char *module, const char *serial, const char *token, const char *fact)
{
	struct m2m_state st;
	char kind[64], name[NAME_MAX + 1], dir[PATH_MAX], *buf = NULL;
	bool has;

	snprintf(kind, sizeof(kind), "fact-%s", fact);
	marker_of(kind, module, serial, token, name, sizeof(name));
	state_dir(dir, sizeof(dir));
	if (m2m_state_open_existing(&st, dir, NULL))
		return false;
	has = m2m_state_read(&st, name, 256, check_fact, NULL, &buf, NULL, NULL) == M2M_OK;
	m2m_state_close(&st);
	free(buf);
	return has;
}

void ks_fact_set(const char *module, const char *serial, const char *token, const char *fact)
{
	struct m2m_state st;
	char kind[64], name[NAME_MAX + 1], dir[PATH_MAX];

	snprintf(kind, sizeof(kind), "fact-%s", fact);
	marker_of(kind, module, serial, token, name, sizeof(name));
	state_dir(dir, sizeof(dir));
	if (m2m_state_open(&st, dir, NULL))
		return;
	m2m_state_write(&st, name, "1\n", 2, NULL);
	m2m_state_close(&st);
}

static void pin_hash(const char *dir, const char *name, const char *pin, size_t len, char *hex,
		     size_t hexlen)
{
	unsigned char md[32];
	unsigned n = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	memset(md, 0, sizeof(md));
	/*
	 * salted with the marker's own path, "<state dir>/<name>" as earlier
	 * versions hashed it: equal PINs on two tokens hash apart
	 */
	if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL)) {
		EVP_DigestUpdate(c, dir, strlen(dir));
		EVP_DigestUpdate(c, "/", 1);
		EVP_DigestUpdate(c, name, strlen(name));
		EVP_DigestUpdate(c, pin, len);
		EVP_DigestFinal_ex(c, md, &n);
	}
	EVP_MD_CTX_free(c);
	m2m_hex(md, sizeof(md), hex, hexlen);
	OPENSSL_cleanse(md, sizeof(md));
}

/* what ks_pin_remember writes: a SHA-256 in hex and a newline */
static int check_pin_hash(const char *buf, size_t len, void *ctx, struct m2m_err *err)
{
	(void)ctx;
	if (len != 65 || buf[64] != '\n' || strspn(buf, "0123456789abcdef") != 64)
		return m2m_err_set(err, M2M_ERR_FAILURE, "not a PIN hash");
	return M2M_OK;
}

bool ks_pin_rejected_before(const char *module, const char *serial, const char *token,
			    const char *pin, size_t len)
{
	struct m2m_state st;
	char name[NAME_MAX + 1], dir[PATH_MAX], want[65] = "", *have = NULL;
	bool same;
	int rc;

	marker(module, serial, token, name, sizeof(name));
	state_dir(dir, sizeof(dir));
	if (m2m_state_open_existing(&st, dir, NULL))
		return false;
	rc = m2m_state_read(&st, name, 256, check_pin_hash, NULL, &have, NULL, NULL);
	m2m_state_close(&st);
	if (rc)
		return false;
	pin_hash(dir, name, pin, len, want, sizeof(want));
	have[strcspn(have, "\n")] = '\0';
	same = strcmp(have, want) == 0;
	free(have);
	return same;
}

void ks_pin_remember(const char *module, const char *serial, const char *token, const char *pin,
		     size_t len, bool rejected)
{
	struct m2m_state st;
	char name[NAME_MAX + 1], dir[PATH_MAX], hex[66] = "";

	marker(module, serial, token, name, sizeof(name));
	state_dir(dir, sizeof(dir));
	if (!rejected) {
		if (m2m_state_open_existing(&st, dir, NULL) == M2M_OK) {
			m2m_state_remove(&st, name, NULL);
			m2m_state_close(&st);
		}
		return;
	}
	if (m2m_state_open(&st, dir, NULL))
		return;
	pin_hash(dir, name, pin, len, hex, sizeof(hex) - 1);
	strcat(hex, "\n");
	m2m_state_write(&st, name, hex, strlen(hex), NULL);
	m2m_state_close(&st);
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

/*
 * An empty PIN file is a mistake in provisioning, not a wrong PIN: say where
 * the empty PIN came from, so that nobody goes looking for the right one.
 */
int ks_pin_empty(const struct m2m_secret_ref *ref, const char *what, struct m2m_err *err)
{
	switch (ref ? ref->source : M2M_SECRET_NONE) {
	case M2M_SECRET_FILE:
		return m2m_err_set(err, M2M_ERR_CREDENTIAL, "%s: the PIN file %s is empty", what,
				   ref->path);
	case M2M_SECRET_FD:
		return m2m_err_set(err, M2M_ERR_CREDENTIAL,
				   "%s: the PIN read from file descriptor %d is empty", what, ref->fd);
	case M2M_SECRET_CREDENTIAL:
		return m2m_err_set(err, M2M_ERR_CREDENTIAL, "%s: the PIN in credential '%s' is empty",
				   what, ref->path);
	case M2M_SECRET_PROMPT:
		return m2m_err_set(err, M2M_ERR_CREDENTIAL, "%s: the PIN given is empty", what);
	default:
		return m2m_err_set(err, M2M_ERR_CREDENTIAL, "%s: no PIN given", what);
	}
}
