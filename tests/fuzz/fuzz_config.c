/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the configuration parser and validator: whatever a
 * (root-owned, but possibly mistyped or corrupted) m2m.yaml may hold.
 * Checks the promises of the API besides memory safety: a failure leaves no
 * result and a one-line M2M_ERR_CONFIG message (or out of memory); success
 * gives a model whose required fields are all there.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "m2m/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_list(char **l, bool required)
{
	if (!l) {
		if (required)
			abort();
		return;
	}
	if (!l[0])
		abort();
	for (; *l; l++)
		if (!**l)
			abort();
}

static void check(const struct m2m_config *cfg)
{
	if (!cfg->path || !cfg->charon.vici || !cfg->state_dir || cfg->state_dir[0] != '/')
		abort();
	for (size_t i = 0; i < cfg->n_profiles; i++) {
		const struct m2m_vpn_profile *p = &cfg->profiles[i];

		if (!p->name || m2m_config_profile(cfg, p->name) == NULL)
			abort();
		if (!p->remote_id || !p->local_id)
			abort();
		check_list(p->gateways, true);
		check_list(p->ca, true);
		check_list(p->remote_ts, true);
		check_list(p->local_ts, false);
		check_list(p->proposals, false);
		check_list(p->esp_proposals, false);
		if (p->auth == M2M_AUTH_CERT && (!p->cert || !p->key || p->pkcs12))
			abort();
		if (p->auth == M2M_AUTH_PKCS12 && (!p->pkcs12 || p->cert || p->key))
			abort();
		if (p->retry_network.max_ms < p->retry_network.min_ms ||
		    p->retry_auth.max_ms < p->retry_auth.min_ms || !p->retry_network.min_ms ||
		    !p->retry_auth.min_ms || !p->timeout_ms)
			abort();
		if ((p->pin.source == M2M_SECRET_FILE || p->pin.source == M2M_SECRET_CREDENTIAL) !=
		    (p->pin.path != NULL))
			abort();
		if ((p->pin.source == M2M_SECRET_FD) != (p->pin.fd >= 0))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct m2m_config *cfg = NULL;
	struct m2m_err err = { 0 };
	int rc;

	rc = m2m_config_parse("/etc/m2m/m2m.yaml", (const char *)data, size, &cfg, &err);
	if (rc == M2M_OK) {
		if (!cfg)
			abort();
		check(cfg);
		m2m_config_free(cfg);
		return 0;
	}
	if (cfg || err.rc != rc || (rc != M2M_ERR_CONFIG && rc != M2M_ERR_FAILURE))
		abort();
	if (!err.msg[0] || strchr(err.msg, '\n') || strchr(err.msg, '\r'))
		abort();
	return 0;
}
