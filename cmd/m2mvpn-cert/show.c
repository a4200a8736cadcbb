/* SPDX-License-Identifier: MIT */
/* m2mvpn-cert show, list: a certificate and its key; the profiles' keys and certificates. */
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

int cmd_show(struct opts *o, int argc, char **argv)
{
	struct m2m_cert_info ci;
	struct m2m_key_ref ref;
	struct m2m_key *k = NULL;
	struct m2m_key_info ki;
	struct m2m_err err, kerr;
	const char *path;
	bool have_key = false, key_tried = false;
	int rc, match = -1;
	char nb[32], na[32];
	time_t now = time(NULL);

	if (argc > 1)
		return cli_error(&o->c, M2M_ERR_USAGE, "show: expected at most one CERT");
	if (o->profile && (rc = load_cfg(o, true)))
		return rc;
	if (o->profile && !opts_profile(o))
		return cli_error(&o->c, M2M_ERR_NOT_FOUND, "no VPN profile '%s' in %s", o->profile,
				 o->cfg->path);
	path = cert_path(o, argc ? argv[0] : NULL);
	m2m_err_clear(&err);
	m2m_err_clear(&kerr);
	/* the key, if one is named; a key that cannot be opened is reported, not fatal */
	if (o->profile || o->have_store) {
		key_tried = true;
		rc = resolve_key(o, &ref);
		if (rc)
			return rc;
		have_key = m2m_key_open(&ref, &k, &kerr) == M2M_OK;
		if (have_key)
			m2m_key_describe(k, &ki);
	}
	if (path)
		rc = m2m_cert_info_file(path, &ci, &err);
	else if (have_key && (ref.store == M2M_KEYSTORE_PKCS11 || ref.store == M2M_KEYSTORE_FILE))
		rc = m2m_cert_info_key(k, &ci, &err); /* on the token, or in the PKCS#12 file */
	else
		rc = m2m_err_set(&err, M2M_ERR_USAGE, "show: which certificate? give CERT, --cert or --profile");
	if (rc) {
		m2m_key_close(k);
		return cli_fail(&o->c, &err);
	}
	if (have_key)
		match = strcmp(ci.fingerprint, ki.fingerprint) == 0;
	cli_time_utc(ci.not_before, nb, sizeof(nb));
	cli_time_utc(ci.not_after, na, sizeof(na));
	if (o->c.json) {
		json_object *d = json_object_new_object(), *sans = json_object_new_array(), *key;
		char *list = strdup(ci.sans), *save = NULL;

		json_object_object_add(d, "schema", json_object_new_string("m2m.cert/1"));
		json_object_object_add(d, "subject", json_object_new_string(ci.subject));
		json_object_object_add(d, "issuer", json_object_new_string(ci.issuer));
		json_object_object_add(d, "serial", json_object_new_string(ci.serial));
		json_object_object_add(d, "not_before", json_object_new_string(nb));
		json_object_object_add(d, "not_after", json_object_new_string(na));
		json_object_object_add(d, "valid_now", json_object_new_boolean(now >= ci.not_before &&
									       now <= ci.not_after));
		json_object_object_add(d, "seconds_left",
				       json_object_new_int64((int64_t)(ci.not_after - now)));
		for (char *t = list ? strtok_r(list, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save))
			json_object_array_add(sans, json_object_new_string(t + (*t == ' ')));
		free(list);
		json_object_object_add(d, "sans", sans);
		json_object_object_add(d, "key_type", json_object_new_string(m2m_key_type_name(ci.key_type)));
		json_object_object_add(d, "public_key", cli_json_str(ci.fingerprint));
		key = json_object_new_object();
		json_object_object_add(key, "store", key_tried ? json_object_new_string(
				       m2m_key_store_name(have_key ? ki.store : ref.store)) : NULL);
		json_object_object_add(key, "type", have_key ?
				       json_object_new_string(m2m_key_type_name(ki.type)) : NULL);
		json_object_object_add(key, "location", have_key ? cli_json_str(ki.location) : NULL);
		json_object_object_add(key, "scheme", have_key ? cli_json_str(ki.scheme) : NULL);
		json_object_object_add(key, "public_key", have_key ? cli_json_str(ki.fingerprint) : NULL);
		json_object_object_add(key, "error", key_tried && !have_key ? cli_json_str(kerr.msg) : NULL);
		json_object_object_add(d, "key", key);
		json_object_object_add(d, "matches_key", match < 0 ? NULL : json_object_new_boolean(match));
		cli_print_json(d);
	} else {
		printf("%-13s %s\n", "subject:", ci.subject);
		printf("%-13s %s\n", "issuer:", ci.issuer);
		printf("%-13s %s\n", "serial:", ci.serial);
		printf("%-13s %s .. %s (%s%s%s)\n", "valid:", nb, na,
		       cli_col(&o->c, now >= ci.not_before && now <= ci.not_after ? CLI_GREEN : CLI_RED),
		       now < ci.not_before ? "not yet valid" : now > ci.not_after ? "expired" : "valid now",
		       cli_col(&o->c, CLI_RESET));
		if (ci.sans[0])
			printf("%-13s %s\n", "SANs:", ci.sans);
		printf("%-13s %s\n", "key type:", m2m_key_type_name(ci.key_type));
		printf("%-13s %s\n", "public key:", ci.fingerprint);
		if (have_key) {
			printf("%-13s %s: %s%s%s\n", "key store:", m2m_key_store_name(ki.store), ki.location,
			       ki.scheme[0] ? ", scheme " : "", ki.scheme);
			printf("%-13s %s%s%s\n", "matches key:", cli_col(&o->c, match ? CLI_GREEN : CLI_RED),
			       match ? "yes" : "NO", cli_col(&o->c, CLI_RESET));
		} else if (key_tried) {
			printf("%-13s %s: unavailable (%s)\n", "key store:", m2m_key_store_name(ref.store),
			       kerr.msg);
		}
	}
	m2m_key_close(k);
	return M2M_OK;
}

int cmd_list(struct opts *o, int argc, char **argv)
{
	json_object *doc = NULL, *arr = NULL;
	int rc;

	if (argc)
		return cli_error(&o->c, M2M_ERR_USAGE, "list: takes no arguments");
	rc = load_cfg(o, true);
	if (rc)
		return rc;
	if (o->c.json) {
		doc = cli_json_doc("m2m.cert.list/1", "profiles", &arr);
	} else {
		printf("%s%-16s %-9s %-8s %-22s %-34s %s%s\n", cli_col(&o->c, CLI_BOLD), "PROFILE",
		       "METHOD", "STORE", "NOT AFTER", "SUBJECT", "KEY", cli_col(&o->c, CLI_RESET));
	}
	for (size_t i = 0; i < o->cfg->n_profiles; i++) {
		const struct m2m_vpn_profile *p = &o->cfg->profiles[i];
		struct m2m_cert_info ci;
		struct m2m_key_ref ref;
		struct m2m_err err;
		bool cert = false, key;
		char na[32] = "-", where[300] = "-";

		m2m_err_clear(&err);
		key = m2m_key_ref_from_profile(p, &ref, &err) == M2M_OK;
		if (p->cert && m2m_cert_info_file(p->cert, &ci, &err) == M2M_OK) {
			cert = true;
			cli_time_utc(ci.not_after, na, sizeof(na));
		}
		if (key) {
			if (ref.store == M2M_KEYSTORE_PKCS11)
				snprintf(where, sizeof(where), "pkcs11:%s%s%sid=%s", ref.token ? "token=" : "",
					 ref.token ? ref.token : "", ref.token ? ";" : "", ref.id);
			else if (ref.store == M2M_KEYSTORE_TPM)
				snprintf(where, sizeof(where), "tpm:0x%08x",
					 ref.handle ? ref.handle : M2M_TPM_DEFAULT_HANDLE);
			else
				snprintf(where, sizeof(where), "%s", ref.path);
		}
		if (o->c.json) {
			json_object *e = json_object_new_object();

			json_object_object_add(e, "name", json_object_new_string(p->name));
			json_object_object_add(e, "method",
					       json_object_new_string(m2m_auth_method_name(p->auth)));
			json_object_object_add(e, "key_store", key ? json_object_new_string(
						       m2m_key_store_name(ref.store)) : NULL);
			json_object_object_add(e, "key", key ? cli_json_str(where) : NULL);
			json_object_object_add(e, "cert", cli_json_str(p->cert));
			json_object_object_add(e, "subject", cert ? cli_json_str(ci.subject) : NULL);
			json_object_object_add(e, "not_after", cert ? cli_json_str(na) : NULL);
			json_object_array_add(arr, e);
		} else {
			printf("%-16s %-9s %-8s %-22s %-34s %s\n", p->name, m2m_auth_method_name(p->auth),
			       key ? m2m_key_store_name(ref.store) : "-", na, cert ? ci.subject : "-",
			       where);
		}
	}
	if (doc)
		cli_print_json(doc);
	return M2M_OK;
}
