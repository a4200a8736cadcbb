/* SPDX-License-Identifier: MIT */
/*
 * m2mvpn-cert keygen, delete, import, csr: the key in its store (or the
 * next key, --next), and a request for its certificate.
 */
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

int cmd_keygen(struct opts *o, int argc, char **argv)
{
	struct m2m_key_ref ref, next;
	struct m2m_key *k = NULL;
	struct m2m_key_info info;
	struct m2m_err err;
	char path[4096];
	int rc;

	if (argc)
		return cli_error(&o->c, M2M_ERR_USAGE, "keygen: takes no arguments");
	rc = resolve_key(o, &ref);
	if (rc)
		return rc;
	m2m_err_clear(&err);
	/* the next key: beside the current one, which stays in use until renew --new-key */
	if (o->next) {
		const struct m2m_vpn_profile *p = opts_profile(o);
		char cnext[4096];

		rc = m2m_key_ref_next(&ref, &next, path, sizeof(path), &err);
		if (rc)
			return cli_fail(&o->c, &err);
		/* a next key already certified: replacing it would pair the certificate with another key */
		if (p && p->cert && (size_t)snprintf(cnext, sizeof(cnext), "%s" M2M_CERT_NEXT_SUFFIX,
						     p->cert) < sizeof(cnext) && access(cnext, F_OK) == 0)
			return cli_error(&o->c, M2M_ERR_CREDENTIAL,
					 "%s: the CA certified the next key already; it takes its place at the next renew --new-key or up",
					 cnext);
		ref = next;
	}
	rc = m2m_key_generate(&ref, o->type, o->force, &err);
	if (!rc)
		rc = m2m_key_open(&ref, &k, &err);
	if (rc)
		return cli_fail(&o->c, &err);
	m2m_key_describe(k, &info);
	if (!o->c.quiet)
		printf("%s key %s in %s\n  public key %s%s%s\n", m2m_key_type_name(info.type),
		       "created", info.location, info.fingerprint, info.scheme[0] ? ", scheme " : "",
		       info.scheme);
	m2m_key_close(k);
	return M2M_OK;
}

int cmd_delete(struct opts *o, int argc, char **argv)
{
	struct m2m_key_ref ref;
	struct m2m_err err;
	int rc;

	if (argc)
		return cli_error(&o->c, M2M_ERR_USAGE, "delete: takes no arguments");
	if (!o->force)
		return cli_error(&o->c, M2M_ERR_USAGE, "delete: destroys the key for good; add --force");
	rc = resolve_key(o, &ref);
	if (rc)
		return rc;
	m2m_err_clear(&err);
	if (m2m_key_delete(&ref, &err))
		return cli_fail(&o->c, &err);
	if (!o->c.quiet)
		printf("deleted\n");
	return M2M_OK;
}

int cmd_import(struct opts *o, int argc, char **argv)
{
	struct m2m_key_ref ref;
	struct m2m_key *k = NULL;
	struct m2m_key_info info;
	struct m2m_err err;
	int rc;

	if (argc != 1)
		return cli_error(&o->c, M2M_ERR_USAGE, "import: expected one SRC file (PEM key or PKCS#12)");
	rc = resolve_key(o, &ref);
	if (rc)
		return rc;
	m2m_err_clear(&err);
	rc = m2m_key_import(&ref, argv[0], &o->src_pin, o->cert, o->force, &err);
	if (!rc)
		rc = m2m_key_open(&ref, &k, &err);
	if (rc)
		return cli_fail(&o->c, &err);
	m2m_key_describe(k, &info);
	if (!o->c.quiet)
		printf("%s key imported into %s\n  public key %s%s%s\n", m2m_key_type_name(info.type),
		       info.location, info.fingerprint, info.scheme[0] ? ", scheme " : "", info.scheme);
	m2m_key_close(k);
	return M2M_OK;
}

int cmd_csr(struct opts *o, int argc, char **argv)
{
	struct m2m_key_ref ref, next;
	struct m2m_key *k = NULL;
	struct m2m_err err;
	const char *dflt_sans[2] = { NULL, NULL };
	char subject[300], path[4096];
	char *pem = NULL;
	int rc;

	if (argc)
		return cli_error(&o->c, M2M_ERR_USAGE, "csr: takes no arguments");
	rc = resolve_key(o, &ref);
	if (rc)
		return rc;
	/* the next key's request (keygen --next), for a CA that is not reached through CMP */
	if (o->next) {
		m2m_err_clear(&err);
		if (m2m_key_ref_next(&ref, &next, path, sizeof(path), &err))
			return cli_fail(&o->c, &err);
		ref = next;
	}
	/* the device section names the device when the options do not */
	if (!o->subject || !o->n_sans) {
		rc = load_cfg(o, false);
		if (rc)
			return rc;
	}
	if (o->subject) {
		snprintf(subject, sizeof(subject), "%s", o->subject);
	} else if (o->cfg && o->cfg->device.id) {
		snprintf(subject, sizeof(subject), "CN=%s%s%s", o->cfg->device.id,
			 o->cfg->device.serial ? ",serialNumber=" : "",
			 o->cfg->device.serial ? o->cfg->device.serial : "");
	} else {
		return cli_error(&o->c, M2M_ERR_USAGE, "csr: no --subject and no device.id in the configuration");
	}
	if (!o->n_sans && o->cfg && o->cfg->device.id)
		dflt_sans[0] = o->cfg->device.id;
	m2m_err_clear(&err);
	rc = m2m_key_open(&ref, &k, &err);
	if (!rc)
		rc = m2m_csr_make(k, subject, o->n_sans ? o->sans : dflt_sans, &pem, &err);
	m2m_key_close(k);
	if (rc)
		return cli_fail(&o->c, &err);
	if (o->out)
		rc = m2m_write_atomic(o->out, pem, strlen(pem), 0644, &err);
	else
		fputs(pem, stdout);
	free(pem);
	if (rc)
		return cli_fail(&o->c, &err);
	return M2M_OK;
}
