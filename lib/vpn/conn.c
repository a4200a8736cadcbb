/* SPDX-License-Identifier: MIT */
/*
 * A profile becomes charon's configuration: its credentials (load-cert,
 * load-key, load-token, load-shared) and its connection (load-conn), sent
 * over VICI. Nothing secret is written to a file charon reads. "up" calls
 * this before it initiates; what was loaded last is remembered (loaded.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "m2m/keystore.h"
#include "pki/pki.h"
#include "vici/vici.h"
#include "vpn/vpn_int.h"

static void add_list(struct vici_buf *b, const char *name, char **items)
{
	vici_begin_list(b, name);
	for (char **i = items; i && *i; i++)
		vici_add_items(b, *i);
	vici_end_list(b);
}

static bool any_v6(char **ts)
{
	for (char **t = ts; t && *t; t++)
		if (strchr(*t, ':'))
			return true;
	return false;
}

/* A load whose answer names what charon now holds ("id"): kept, to unload it later. */
static int load_with_id(struct m2m_vpn *vpn, const char *cmd, struct vici_buf *b, int timeout_ms,
			char *id, size_t id_len, struct m2m_err *err)
{
	struct vici_node *resp = NULL;
	const char *v;
	int rc = vpn_request(vpn, cmd, b, &resp, NULL, NULL, timeout_ms, err);

	if (!rc)
		rc = vici_check_success(resp, cmd, err);
	v = rc ? NULL : vici_find_str(resp, "id");
	/* only what can go back in an unload-key and on one line of the record */
	snprintf(id, id_len, "%s", v && strspn(v, "0123456789abcdefABCDEF:") == strlen(v) ? v : "");
	vici_node_free(resp);
	return rc;
}

static int load_creds(struct m2m_vpn *vpn, struct vpn_creds *c, int timeout_ms,
		      struct m2m_err *err)
{
	struct vici_buf b;
	int rc = M2M_OK;

	for (size_t i = 0; !rc && i < c->n_ca + c->n_chain; i++) {
		bool ca = i < c->n_ca;
		const struct der *d = ca ? &c->ca[i] : &c->chain[i - c->n_ca];

		vici_buf_init(&b);
		vici_add_kvs(&b, "type", "X509");
		vici_add_kvs(&b, "flag", ca ? "CA" : "NONE");
		vici_add_kv(&b, "data", d->data, d->len);
		rc = vpn_simple_cmd(vpn, "load-cert", &b, timeout_ms, err);
		vici_buf_free(&b);
	}
	if (rc)
		return rc;
	switch (c->key_kind) {
	case VPN_KEY_SOFT:
		vici_buf_init(&b);
		vici_add_kvs(&b, "type", c->key_type);
		vici_add_kv(&b, "data", c->key.data, c->key.len);
		rc = load_with_id(vpn, "load-key", &b, timeout_ms, c->key_id, sizeof(c->key_id), err);
		vici_buf_free(&b); /* wipes the key bytes */
		break;
	case VPN_KEY_TOKEN:
		/*
		 * A token key has no "module" (charon's name for it is its
		 * configuration's): charon asks each of its token backends for the
		 * handle, in the slot our module showed the token in, so that another
		 * token with the same CKA_ID is not taken. A TPM key names a module
		 * nothing else has: charon's tpm plugin ignores the name, its pkcs11
		 * plugin and its openssl plugin's engine (which reaches every token
		 * p11-kit knows) find nothing by it and never see the auth value as
		 * a PIN. The PIN or auth value was verified by us already.
		 */
		vici_buf_init(&b);
		vici_add_kvs(&b, "handle", c->token_handle);
		if (c->token_module)
			vici_add_kvs(&b, "module", c->token_module);
		if (c->token_has_slot)
			vici_add_kvf(&b, "slot", "%lu", c->token_slot);
		if (c->token_pin.len)
			vici_add_kv(&b, "pin", c->token_pin.buf, c->token_pin.len);
		rc = load_with_id(vpn, "load-token", &b, timeout_ms, c->key_id, sizeof(c->key_id),
				  err);
		vici_buf_free(&b);
		if (rc == M2M_ERR_FAILURE)
			m2m_err_prefix(err, "charon could not use the key %s (are its pkcs11/tpm plugin and their TCTI or module configured in strongswan.conf?)",
				       c->token_handle);
		break;
	case VPN_KEY_NONE:
		break;
	}
	if (!rc && c->eap_secret.buf) {
		vici_buf_init(&b);
		vici_add_kvf(&b, "id", "m2m-eap-%s", c->eap_id);
		vici_add_kvs(&b, "type", "eap");
		vici_add_kv(&b, "data", c->eap_secret.buf, c->eap_secret.len);
		vici_begin_list(&b, "owners");
		vici_add_items(&b, c->eap_id);
		vici_end_list(&b);
		rc = vpn_simple_cmd(vpn, "load-shared", &b, timeout_ms, err);
		vici_buf_free(&b); /* wipes the password */
		if (!rc)
			snprintf(c->shared_id, sizeof(c->shared_id), "m2m-eap-%s", c->eap_id);
	}
	if (rc == M2M_ERR_FAILURE) {
		rc = M2M_ERR_CREDENTIAL;
		if (err)
			err->rc = rc;
	}
	return rc;
}

static void secs(struct vici_buf *b, const char *key, unsigned ms)
{
	vici_add_kvf(b, key, "%us", (ms + 999) / 1000);
}

static int load_conn(struct m2m_vpn *vpn, const struct m2m_vpn_profile *p,
		     const struct vpn_creds *c, int timeout_ms, struct m2m_err *err)
{
	bool always = p->mode == M2M_VPN_ALWAYS_ON;
	const char *local_id = p->local_id ? p->local_id : vpn->cfg->device.id;
	char name[64];
	struct vici_buf b;
	int rc;

	vpn_conn_name(p->name, name, sizeof(name));
	vici_buf_init(&b);
	vici_begin_section(&b, name);
	vici_add_kvs(&b, "version", "2");
	add_list(&b, "remote_addrs", p->gateways);
	if (p->virtual_ip) {
		vici_begin_list(&b, "vips");
		vici_add_items(&b, "0.0.0.0");
		if (any_v6(p->remote_ts))
			vici_add_items(&b, "::");
		vici_end_list(&b);
	}
	vici_add_kvs(&b, "mobike", p->mobike ? "yes" : "no");
	if (p->proposals)
		add_list(&b, "proposals", p->proposals);
	if (p->dpd_delay_ms)
		secs(&b, "dpd_delay", p->dpd_delay_ms);
	if (p->rekey_ms)
		secs(&b, "rekey_time", p->rekey_ms);
	/* on-demand: one try, the caller decides; always-on: charon retries timeouts forever */
	vici_add_kvs(&b, "keyingtries", always ? "0" : "1");
	vici_begin_section(&b, "local");
	if (p->auth == M2M_AUTH_EAP) {
		/* EAP-MSCHAPv2 alone; the gateway still proves itself with its certificate */
		vici_add_kvs(&b, "auth", "eap-mschapv2");
		vici_add_kvs(&b, "eap_id", c->eap_id);
		if (local_id)
			vici_add_kvs(&b, "id", local_id);
	} else {
		vici_add_kvs(&b, "auth", "pubkey");
		if (local_id)
			vici_add_kvs(&b, "id", local_id);
		vici_begin_list(&b, "certs");
		vici_add_item(&b, c->cert.data, c->cert.len);
		vici_end_list(&b);
	}
	vici_end_section(&b);
	if (p->auth == M2M_AUTH_CERT_EAP) {
		/* the second authentication round of RFC 4739 */
		vici_begin_section(&b, "local-2");
		vici_add_kvs(&b, "auth", "eap-mschapv2");
		vici_add_kvs(&b, "eap_id", c->eap_id);
		vici_end_section(&b);
	}
	vici_begin_section(&b, "remote");
	vici_add_kvs(&b, "auth", "pubkey");
	vici_add_kvs(&b, "id", p->remote_id);
	/* pin the gateway to our CAs, whatever else charon may trust */
	vici_begin_list(&b, "cacerts");
	for (size_t i = 0; i < c->n_ca; i++)
		vici_add_item(&b, c->ca[i].data, c->ca[i].len);
	vici_end_list(&b);
	vici_end_section(&b);
	vici_begin_section(&b, "children");
	vici_begin_section(&b, name);
	add_list(&b, "remote_ts", p->remote_ts);
	if (p->local_ts)
		add_list(&b, "local_ts", p->local_ts);
	if (p->esp_proposals)
		add_list(&b, "esp_proposals", p->esp_proposals);
	vici_add_kvs(&b, "start_action", "none");
	vici_add_kvs(&b, "dpd_action", always ? "restart" : "clear");
	vici_add_kvs(&b, "close_action", always ? "start" : "none");
	vici_end_section(&b);
	vici_end_section(&b);
	vici_end_section(&b);
	rc = vpn_simple_cmd(vpn, "load-conn", &b, timeout_ms, err);
	vici_buf_free(&b);
	if (rc == M2M_ERR_FAILURE)
		m2m_err_prefix(err, "charon refused profile %s", p->name);
	return rc;
}

static int clock_check(const struct m2m_vpn_profile *p, time_t nb, time_t na, struct m2m_err *err)
{
	int rc = pki_check_validity(nb, na, time(NULL), "our certificate", err);

	if (rc)
		m2m_err_prefix(err, "%s", p->name);
	return rc;
}

/* See vpn_int.h. */
int vpn_load_cached(struct m2m_vpn *vpn, const struct m2m_vpn_profile *p, uint64_t deadline,
		    time_t nb, time_t na, bool *cached, struct m2m_err *err)
{
	int rc;

	*cached = false;
	m2m_keystore_set_deadline(deadline);
	rc = vpn_creds_check(p, err);
	if (rc) {
		/* what charon holds may no longer be used: load it anew next time */
		vpn_loaded_pending(vpn->cfg, p);
		return rc;
	}
	*cached = true;
	return clock_check(p, nb, na, err);
}

int vpn_load_profile(struct m2m_vpn *vpn, const struct m2m_vpn_profile *p, uint64_t deadline,
		     bool force, bool *cached, struct m2m_err *err)
{
	struct vpn_creds creds;
	time_t nb, na;
	int rc;

	*cached = false;
	/*
	 * Whether charon still holds it shows at "initiate" (config not found, e.g.
	 * after a charon restart): one round trip less on the common path.
	 */
	if (!force && vpn_loaded_match(vpn->cfg, p, &nb, &na))
		return vpn_load_cached(vpn, p, deadline, nb, na, cached, err);
	/* a TPM or token that does not answer must not hold "up" past its limit */
	m2m_keystore_set_deadline(deadline);
	/* our own credentials first: an expired certificate is a clock problem, not an auth one */
	rc = vpn_creds_load(p, &creds, err);
	if (rc)
		return rc;
	/* a record before charon holds anything, however this run ends (loaded.c) */
	vpn_loaded_pending(vpn->cfg, p);
	rc = load_creds(vpn, &creds, vpn_budget(deadline), err);
	if (!rc)
		rc = load_conn(vpn, p, &creds, vpn_budget(deadline), err);
	/* on failure the record written ahead stays: it names what charon may hold */
	if (!rc)
		vpn_loaded_save(vpn->cfg, p, &creds);
	vpn_creds_free(&creds);
	return rc;
}
