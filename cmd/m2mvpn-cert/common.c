/* SPDX-License-Identifier: MIT */
/* m2mvpn-cert (common.c): the configuration, and the key and certificate a subcommand works on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "cli/cli.h"
#include "m2m/config.h"
#include "m2m/keystore.h"
#include "m2m/pki.h"
#include "m2m/vpn.h"

#include "cert.h"

int load_cfg(struct opts *o, bool needed)
{
	struct m2m_err err;
	const char *path = m2m_config_path(o->c.config_path);

	if (o->cfg)
		return M2M_OK;
	if (!needed && !o->c.config_path && access(path, F_OK) != 0)
		return M2M_OK;
	m2m_err_clear(&err);
	if (m2m_config_load(path, &o->cfg, &err))
		return cli_fail(&o->c, &err);
	m2m_keystore_set_state_dir(o->cfg->state_dir);
	return M2M_OK;
}

const struct m2m_vpn_profile *opts_profile(struct opts *o)
{
	return o->profile && o->cfg ? m2m_config_profile(o->cfg, o->profile) : NULL;
}

/*
 * The key reference: the profile's (--profile), with the options given on
 * the command line on top.
 */
int resolve_key(struct opts *o, struct m2m_key_ref *ref)
{
	const struct m2m_vpn_profile *p;
	struct m2m_err err;

	m2m_err_clear(&err);
	memset(ref, 0, sizeof(*ref));
	ref->pin.fd = -1;
	if (o->profile) {
		int rc = load_cfg(o, true);

		if (rc)
			return rc;
		p = opts_profile(o);
		if (!p)
			return cli_error(&o->c, M2M_ERR_NOT_FOUND, "no VPN profile '%s' in %s", o->profile,
					 o->cfg->path);
		if (m2m_key_ref_from_profile(p, ref, &err))
			return cli_fail(&o->c, &err);
	} else if (!o->have_store) {
		return cli_error(&o->c, M2M_ERR_USAGE, "which key? give --store (and its options) or --profile");
	} else if (o->ref.store == M2M_KEYSTORE_TPM && access(m2m_config_path(o->c.config_path), F_OK) == 0) {
		/* a TPM key's blobs are in the state directory: the configuration's, if there is one */
		int rc = load_cfg(o, false);

		if (rc)
			return rc;
	}
	if (o->have_store)
		ref->store = o->ref.store;
#define OVR(f) if (o->ref.f) ref->f = o->ref.f
	OVR(path);
	OVR(module);
	OVR(token);
	OVR(id);
	OVR(label);
	OVR(tcti);
	OVR(handle);
#undef OVR
	if (o->ref.pin.source != M2M_SECRET_NONE)
		ref->pin = o->ref.pin;
	return M2M_OK;
}

const char *cert_path(struct opts *o, const char *arg)
{
	const struct m2m_vpn_profile *p = opts_profile(o);

	if (arg)
		return arg;
	if (o->cert)
		return o->cert;
	return p ? p->cert : NULL;
}
