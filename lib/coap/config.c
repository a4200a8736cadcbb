/* SPDX-License-Identifier: MIT */
/*
 * The transport to a server the configuration names (its bootstrap server,
 * its LwM2M server, or a coaps update server): the lib/coap options from the
 * dm: section, with the PSK read and the DTLS key on a token or in a TPM
 * unlocked. Used by the LwM2M bootstrap and client, and by the update
 * engine's coaps pulls alike.
 */
#include <stdio.h>

#include "base/base.h"
#include "coap/coap.h"
#include "keystore/keystore.h"

/*
 * The DTLS key on a token or in a TPM (dm.key with pkcs11 or tpm), its PIN or
 * auth value read into *pin and tried once by the key store under the
 * store's retry policy: a PIN the token rejected before, or an auth value
 * the TPM refused, is not offered again, none when the store is at its last
 * try. So a wrong one is seen here with our exit codes (9, 13). A token key
 * is closed again (libcoap's engine opens it with the PIN); a TPM key stays
 * open in *keep, to sign the handshakes with the value read.
 */
static int dm_store_key(const struct m2m_config *cfg, struct m2m_secret *pin,
			struct m2m_key **keep, struct m2m_err *err)
{
	struct m2m_key_ref ref = { .store = cfg->dm.key_tpm ? M2M_KEYSTORE_TPM :
							      M2M_KEYSTORE_PKCS11 };
	struct m2m_key *k = NULL;
	int rc;

	ref.module = cfg->dm.key_module;
	ref.token = cfg->dm.key_token;
	ref.id = cfg->dm.key_id;
	ref.tcti = cfg->dm.key_tcti;
	ref.handle = cfg->dm.key_handle;
	ref.pin = cfg->dm.key_pin;
	m2m_keystore_set_state_dir(cfg->state_dir);
	rc = m2m_key_open(&ref, &k, err);
	if (!rc)
		rc = ks_unlock(k, pin, err);
	if (rc || !cfg->dm.key_tpm) {
		m2m_key_close(k);
		return rc;
	}
	*keep = k;
	return M2M_OK;
}

int mcoap_config_opts(const struct m2m_config *cfg, const char *uri, struct m2m_coap_opts *o,
		      struct m2m_secret *key, struct m2m_secret *pin, struct m2m_err *err)
{
	int rc;

	o->uri = uri;
	o->security = cfg->dm.security;
	o->cert = cfg->dm.cert;
	o->key = cfg->dm.key;
	o->ca = cfg->dm.ca;
	o->block_size = cfg->dm.block_size;
	o->max_body = cfg->dm.max_body;
	o->p11_module = cfg->dm.key_module;
	o->p11_token = cfg->dm.key_token;
	o->p11_id = cfg->dm.key_id;
	if (cfg->dm.security == M2M_DM_PSK) {
		rc = m2m_secret_read(&cfg->dm.psk_key, "dm PSK", key, err);
		if (rc)
			return rc;
		o->psk_identity = cfg->dm.psk_identity;
		o->psk_key = (const uint8_t *)key->buf;
		o->psk_len = key->len;
	}
	if (cfg->dm.security == M2M_DM_X509 && (cfg->dm.key_module || cfg->dm.key_tpm)) {
		rc = dm_store_key(cfg, pin, &o->store_key, err);
		if (rc) {
			m2m_secret_wipe(key);
			return rc;
		}
		if (cfg->dm.key_module)
			o->p11_pin = pin->buf;
	}
	return M2M_OK;
}
