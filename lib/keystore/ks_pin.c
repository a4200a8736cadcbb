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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "keystore/ks_int.h"

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

static const char *ks_state_dir = M2M_STATE_DEFAULT_DIR;

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
