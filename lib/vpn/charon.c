/* SPDX-License-Identifier: MIT */
/*
 * charon itself, as the profiles need it: which plugins it has loaded, which
 * ones a method needs, and the plugin configuration (TPM TCTI, PKCS#11
 * modules) that lets it sign with the profiles' TPM and token keys.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "m2m/keystore.h"
#include "m2m/vpn.h"
#include "vici/vici.h"
#include "vpn/vpn_int.h"

int m2m_vpn_charon_plugins(const struct m2m_config *cfg, char ***plugins, struct m2m_err *err)
{
	const char *uri = cfg->charon.vici ? cfg->charon.vici : M2M_VICI_DEFAULT_URI;
	struct vici_conn *vc = NULL;
	struct vici_node *resp = NULL;
	const struct vici_node *pl;
	size_t n = 0;
	char **out;
	int rc;

	*plugins = NULL;
	rc = vici_connect_within(&vc, uri, 3000, NULL, err);
	if (!rc)
		rc = vpn_local_rc(vici_request(vc, "stats", NULL, &resp, NULL, NULL, 3000, err), err);
	vici_close(vc);
	if (rc)
		return rc;
	pl = vici_find(resp, "plugins");
	for (const struct vici_node *it = pl ? pl->child : NULL; it; it = it->next)
		n++;
	out = calloc(n + 1, sizeof(*out));
	n = 0;
	for (const struct vici_node *it = pl ? pl->child : NULL; out && it; it = it->next)
		if (it->value && (out[n] = strdup(it->value)))
			n++;
	vici_node_free(resp);
	if (!out)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	*plugins = out;
	return M2M_OK;
}

const char *const *m2m_vpn_needed_plugins(enum m2m_auth_method m)
{
	static const char *const cert[] = { "vici", "x509", NULL };
	static const char *const tpm[] = { "vici", "x509", "tpm", NULL };
	static const char *const p11[] = { "vici", "x509", "pkcs11", NULL };
	static const char *const eap[] = { "vici", "x509", "eap-mschapv2", NULL };

	switch (m) {
	case M2M_AUTH_TPM:
		return tpm;
	case M2M_AUTH_PKCS11:
		return p11;
	case M2M_AUTH_EAP:
	case M2M_AUTH_CERT_EAP:
		return eap;
	default:
		return cert;
	}
}

/*
 * charon signs with TPM and token keys itself, through its tpm and pkcs11
 * plugins, so it must use the TCTI and modules the profiles name. This
 * writes them as a strongswan.d fragment (the plugins' section content, as in
 * /etc/strongswan.d/charon/), so nothing has to be copied by hand.
 */
int m2m_vpn_charon_conf(const struct m2m_config *cfg, char **text, size_t *text_len,
			struct m2m_err *err)
{
	const char *tcti = NULL, *tcti_profile = NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int n_mod = 0;

	*text = NULL;
	for (size_t i = 0; i < cfg->n_profiles; i++) {
		const struct m2m_vpn_profile *p = &cfg->profiles[i];
		const char *t = p->tcti ? p->tcti : M2M_TPM_DEFAULT_TCTI;

		if (p->auth != M2M_AUTH_TPM)
			continue;
		/* charon has one TCTI for all TPM keys */
		if (tcti && strcmp(tcti, t) != 0)
			return m2m_err_set(err, M2M_ERR_CONFIG,
					   "profiles %s and %s name different TCTIs (%s, %s); charon can use one",
					   tcti_profile, p->name, tcti, t);
		tcti = t;
		tcti_profile = p->name;
	}
	f = open_memstream(&buf, &len);
	if (!f)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	fprintf(f, "# charon's plugins for the m2m profiles in %s\n", cfg->path);
	fprintf(f, "# written by m2mvpn-cert charon-conf; include it inside charon { plugins { } }\n");
	if (tcti) {
		size_t nl = strcspn(tcti, ":");

		fprintf(f, "tpm {\n    tcti {\n        name = %.*s\n", (int)nl, tcti);
		if (tcti[nl])
			fprintf(f, "        opts = %s\n", tcti + nl + 1);
		fprintf(f, "    }\n}\n");
	}
	for (size_t i = 0; i < cfg->n_profiles; i++) {
		const struct m2m_vpn_profile *p = &cfg->profiles[i];
		bool seen = false;

		if (p->auth != M2M_AUTH_PKCS11 || !p->module)
			continue;
		for (size_t j = 0; j < i && !seen; j++)
			seen = cfg->profiles[j].auth == M2M_AUTH_PKCS11 && cfg->profiles[j].module &&
			       strcmp(cfg->profiles[j].module, p->module) == 0;
		if (seen)
			continue;
		fprintf(f, "%s        m2m-%s {\n            path = %s\n        }\n",
			n_mod++ ? "" : "pkcs11 {\n    modules {\n", p->name, p->module);
	}
	if (n_mod)
		fprintf(f, "    }\n}\n");
	if (fclose(f) != 0) {
		free(buf);
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	}
	*text = buf;
	if (text_len)
		*text_len = len;
	return M2M_OK;
}
