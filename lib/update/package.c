/* SPDX-License-Identifier: MIT */
/*
 * The vendor side of m2m/update.h: making a package from a manifest the
 * vendor writes (its size and hash computed here) with keys of any store,
 * and checking one against trust anchors without a device's policy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "m2m/keystore.h"
#include "m2m/update.h"
#include "update/update.h"

/* A key store's own verdict when a signature fails inside OpenSSL. */
static void sign_failed(void *arg, const struct m2m_err *e)
{
	struct m2m_err *keep = arg;

	if (!keep->rc)
		*keep = *e;
}

int m2m_update_sign(const char *manifest, size_t len, const char *payload,
		    const struct m2m_update_signer *signers, size_t n, const char *out,
		    struct m2m_err *err)
{
	struct upd_signer s[8] = { 0 };
	struct m2m_err why = { 0 };
	struct upd_manifest m;
	json_tokener *tok;
	json_object *o = NULL;
	const char *text;
	int rc = M2M_OK;

	m2m_err_clear(err);
	if (n == 0 || n > sizeof(s) / sizeof(s[0]))
		return m2m_err_set(err, M2M_ERR_USAGE, "sign: 1 to %zu signers, not %zu",
				   sizeof(s) / sizeof(s[0]), n);
	tok = json_tokener_new();
	if (!tok)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	o = json_tokener_parse_ex(tok, manifest, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object)) {
		json_tokener_free(tok);
		json_object_put(o);
		return m2m_err_set(err, M2M_ERR_USAGE, "manifest: not a JSON object");
	}
	json_tokener_free(tok);
	/* size and sha256 are the payload's: placeholders here, computed by upd_sign */
	json_object_object_add(o, "size", json_object_new_int64(0));
	json_object_object_add(o, "sha256", json_object_new_string(
		"0000000000000000000000000000000000000000000000000000000000000000"));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	rc = upd_manifest_parse(text, strlen(text), &m, &why);
	json_object_put(o);
	if (rc)
		return m2m_err_set(err, M2M_ERR_USAGE, "manifest: %s", why.msg);
	for (size_t i = 0; i < n && !rc; i++) {
		s[i].cert = signers[i].cert;
		s[i].chain = signers[i].chain;
		rc = m2m_key_pkey(signers[i].key, sign_failed, &why, &s[i].key, err);
	}
	if (!rc)
		rc = upd_sign(&m, payload, s, n, out, err);
	if (rc && why.rc)
		*err = why;
	for (size_t i = 0; i < n; i++)
		EVP_PKEY_free(s[i].key);
	return rc ? (why.rc ? why.rc : rc) : M2M_OK;
}

int m2m_update_verify(const char *pkg, const char *trust, const char *model,
		      unsigned signatures, struct m2m_update_info *info, struct m2m_err *err)
{
	struct upd_policy pol = { .trust = trust, .model = model, .any_model = !model,
				  .signatures = signatures };
	struct upd_manifest m;
	int rc;

	m2m_err_clear(err);
	memset(info, 0, sizeof(*info));
	if (!trust)
		return m2m_err_set(err, M2M_ERR_USAGE, "verify: no trust anchor");
	rc = upd_verify_file(&pol, pkg, NULL, NULL, &m, info->signers, sizeof(info->signers), err);
	if (rc)
		return rc;
	snprintf(info->name, sizeof(info->name), "%s", m.name);
	snprintf(info->version, sizeof(info->version), "%s", m.version);
	snprintf(info->type, sizeof(info->type), "%s", upd_type_name(m.type));
	snprintf(info->installer, sizeof(info->installer), "%s", m.installer);
	for (size_t i = 0; i < m.n_models; i++) {
		size_t l = strlen(info->models);

		snprintf(info->models + l, sizeof(info->models) - l, "%s%s", i ? "," : "", m.models[i]);
	}
	info->size = m.size;
	for (size_t i = 0; i < 32; i++)
		snprintf(info->sha256 + 2 * i, 3, "%02x", m.sha256[i]);
	info->expires = m.expires;
	return M2M_OK;
}
