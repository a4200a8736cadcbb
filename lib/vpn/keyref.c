/* SPDX-License-Identifier: MIT */
/* A VPN profile's key: its auth section as a key-store reference. */
#include <string.h>

#include "m2m/config.h"
#include "m2m/keystore.h"
#include "m2m/vpn.h"

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
