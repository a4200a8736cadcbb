/* SPDX-License-Identifier: MIT */
/* The names of the key stores and key types, as the config, the tools and --json spell them. */
#include <stdbool.h>
#include <string.h>

#include "m2m/keystore.h"

#define ARRAY_SIZE_(a) (sizeof(a) / sizeof((a)[0]))

static const char *const store_names[] = {
	[M2M_KEYSTORE_FILE] = "file",
	[M2M_KEYSTORE_PKCS11] = "pkcs11",
	[M2M_KEYSTORE_TPM] = "tpm",
	[M2M_KEYSTORE_MACHINE] = "machine",
};

const char *m2m_key_store_name(enum m2m_key_store s)
{
	return (unsigned)s < ARRAY_SIZE_(store_names) ? store_names[s] : "unknown";
}

bool m2m_key_store_parse(const char *s, enum m2m_key_store *out)
{
	for (unsigned i = 0; s && i < ARRAY_SIZE_(store_names); i++) {
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
