/* SPDX-License-Identifier: MIT */
/*
 * m2mvpn-cert: the device's keys and certificates. Thin: parse, call
 * libm2m (keystore, pki, vici), print. Exit status is an enum m2m_rc.
 * PINs come from files, file descriptors, systemd credentials or the
 * terminal, never from the command line.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "cli/cli.h"
#include "m2m/config.h"
#include "m2m/doctor.h"
#include "m2m/keystore.h"
#include "m2m/pki.h"
#include "m2m/vpn.h"

static const struct cli_command commands[] = {
	{ "keygen", "", "create a key in the store (--store file|tpm|pkcs11|machine)" },
	{ "csr", "", "write a certificate request signed by the key (--subject, --san)" },
	{ "import", "SRC", "put a PEM key or PKCS#12 file (and its certificate) into a store" },
	{ "list", "", "list the profiles' keys and certificates" },
	{ "show", "[CERT]", "show a certificate and its key (--json)" },
	{ "doctor", "[PROFILE...]", "pre-flight checks: key, token, TPM, certificate, CA, clock, charon" },
	{ "delete", "", "delete the key from its store" },
	{ "charon-conf", "", "write charon's tpm TCTI and pkcs11 modules for the profiles (-o FILE)" },
	{ NULL, NULL, NULL },
};

enum {
	O_CONFIG, O_PROFILE, O_STORE, O_KEY, O_TYPE, O_MODULE, O_TOKEN, O_ID, O_LABEL, O_TCTI,
	O_HANDLE, O_PIN_FILE, O_PIN_FD, O_PIN_CRED, O_PIN_PROMPT, O_SRC_PIN_FILE, O_SRC_PIN_FD,
	O_CERT, O_SUBJECT, O_SAN, O_OUT, O_FORCE, O_TIMEOUT, O_JSON, O_QUIET, O_VERBOSE, O_COLOR, O_HELP,
	O_VERSION, O_N
};

static const struct cli_option options[] = {
	[O_CONFIG] = { "config", 'c', "FILE", "configuration file (default: $M2M_CONFIG, /etc/m2m/m2m.yaml)" },
	[O_PROFILE] = { "profile", 'p', "NAME", "take key and certificate from this VPN profile's auth" },
	[O_STORE] = { "store", 's', "STORE", "key store: file, tpm, pkcs11 or machine" },
	[O_KEY] = { "key", 'k', "FILE", "file, machine: the key file" },
	[O_TYPE] = { "type", 0, "TYPE", "keygen: ec (P-256, default), rsa2048 or rsa3072" },
	[O_MODULE] = { "module", 0, "PATH", "pkcs11: the module (.so)" },
	[O_TOKEN] = { "token", 0, "LABEL", "pkcs11: the token label (default: the only token)" },
	[O_ID] = { "id", 0, "HEX", "pkcs11: the key's CKA_ID in hex" },
	[O_LABEL] = { "label", 0, "TEXT", "pkcs11: the key's label" },
	[O_TCTI] = { "tcti", 0, "TCTI", "tpm (and machine, to seal in a TPM): TCTI (default device:/dev/tpmrm0)" },
	[O_HANDLE] = { "handle", 0, "HANDLE", "tpm: persistent handle (default 0x81010002; machine: 0x81010020)" },
	[O_PIN_FILE] = { "pin-file", 0, "FILE", "PIN/passphrase from a file only its owner can read" },
	[O_PIN_FD] = { "pin-fd", 0, "FD", "PIN/passphrase from an inherited file descriptor" },
	[O_PIN_CRED] = { "pin-credential", 0, "NAME", "PIN/passphrase from a systemd credential" },
	[O_PIN_PROMPT] = { "pin-prompt", 0, NULL, "ask for the PIN on the terminal" },
	[O_SRC_PIN_FILE] = { "src-pin-file", 0, "FILE", "import: the source file's PIN, from a file" },
	[O_SRC_PIN_FD] = { "src-pin-fd", 0, "FD", "import: the source file's PIN, from a descriptor" },
	[O_CERT] = { "cert", 0, "FILE", "the certificate (show, doctor); import: write the source's one here" },
	[O_SUBJECT] = { "subject", 0, "DN", "csr: subject, e.g. CN=dev1,O=ACME (default: CN=device.id)" },
	[O_SAN] = { "san", 0, "NAME", "csr: subject alternative name (repeat; default: device.id)" },
	[O_OUT] = { "out", 'o', "FILE", "csr, charon-conf: write here instead of stdout" },
	[O_FORCE] = { "force", 'f', NULL, "keygen, import: replace an existing key" },
	[O_TIMEOUT] = { "timeout", 't', "SECONDS", "a TPM or token must answer within this (default 30 s): 16 otherwise" },
	[O_JSON] = { "json", 'j', NULL, "machine-readable output (show, list, doctor)" },
	[O_QUIET] = { "quiet", 'q', NULL, "print nothing but errors" },
	[O_VERBOSE] = { "verbose", 'v', NULL, "say more" },
	[O_COLOR] = { "color", 0, "WHEN", "colour: auto, always or never" },
	[O_HELP] = { "help", 'h', NULL, "show this help" },
	[O_VERSION] = { "version", 'V', NULL, "show the version" },
	[O_N] = { NULL, 0, NULL, NULL },
};

static const char summary[] = "Keys and certificates of an unattended device: file, TPM 2.0, PKCS#11 token or machine-bound.";

#define MAX_SANS 16

struct opts {
	struct cli c;
	const char *profile;
	bool have_store;
	struct m2m_key_ref ref;
	enum m2m_key_type type;
	struct m2m_secret_ref src_pin;
	const char *cert;
	const char *subject;
	const char *sans[MAX_SANS + 1];
	int n_sans;
	const char *out;
	bool force;
	struct m2m_config *cfg;
};

/* ---- the key and certificate to work on ------------------------------------- */

static int load_cfg(struct opts *o, bool needed)
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

static const struct m2m_vpn_profile *profile(struct opts *o)
{
	return o->profile && o->cfg ? m2m_config_profile(o->cfg, o->profile) : NULL;
}

/*
 * The key reference: the profile's (--profile), with the options given on
 * the command line on top.
 */
static int resolve_key(struct opts *o, struct m2m_key_ref *ref)
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
		p = profile(o);
		if (!p)
			return cli_error(&o->c, M2M_ERR_NOT_FOUND, "no VPN profile '%s' in %s", o->profile,
					 o->cfg->path);
		if (m2m_key_ref_from_profile(p, ref, &err))
			return cli_fail(&o->c, &err);
	} else if (!o->have_store) {
		return cli_error(&o->c, M2M_ERR_USAGE, "which key? give --store (and its options) or --profile");
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

static const char *cert_path(struct opts *o, const char *arg)
{
	const struct m2m_vpn_profile *p = profile(o);

	if (arg)
		return arg;
	if (o->cert)
		return o->cert;
	return p ? p->cert : NULL;
}

/* ---- keygen / delete / import ------------------------------------------------ */

static int cmd_keygen(struct opts *o, int argc, char **argv)
{
	struct m2m_key_ref ref;
	struct m2m_key *k = NULL;
	struct m2m_key_info info;
	struct m2m_err err;
	int rc;

	if (argc)
		return cli_error(&o->c, M2M_ERR_USAGE, "keygen: takes no arguments");
	rc = resolve_key(o, &ref);
	if (rc)
		return rc;
	m2m_err_clear(&err);
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

static int cmd_delete(struct opts *o, int argc, char **argv)
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

/* charon's tpm and pkcs11 plugin settings for the profiles' keys */
static int cmd_charon_conf(struct opts *o, int argc, char **argv)
{
	struct m2m_err err;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if (argc)
		return cli_error(&o->c, M2M_ERR_USAGE, "charon-conf: takes no arguments");
	rc = load_cfg(o, true);
	if (rc)
		return rc;
	m2m_err_clear(&err);
	if (m2m_vpn_charon_conf(o->cfg, &buf, &len, &err))
		return cli_fail(&o->c, &err);
	if (!o->out) {
		fputs(buf, stdout);
		free(buf);
		return M2M_OK;
	}
	m2m_err_clear(&err);
	/* nothing secret in it: charon's own configuration is world-readable too */
	rc = m2m_write_atomic(o->out, buf, len, 0644, &err);
	free(buf);
	if (rc)
		return cli_fail(&o->c, &err);
	if (!o->c.quiet && isatty(STDOUT_FILENO))
		printf("wrote %s; restart charon to use it\n", o->out);
	return M2M_OK;
}

static int cmd_import(struct opts *o, int argc, char **argv)
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

/* ---- csr ----------------------------------------------------------------------- */

static int cmd_csr(struct opts *o, int argc, char **argv)
{
	struct m2m_key_ref ref;
	struct m2m_key *k = NULL;
	struct m2m_err err;
	const char *dflt_sans[2] = { NULL, NULL };
	char subject[300];
	char *pem = NULL;
	int rc;

	if (argc)
		return cli_error(&o->c, M2M_ERR_USAGE, "csr: takes no arguments");
	rc = resolve_key(o, &ref);
	if (rc)
		return rc;
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

/* ---- show ----------------------------------------------------------------------- */


static int cmd_show(struct opts *o, int argc, char **argv)
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
	if (o->profile && !profile(o))
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

/* ---- list ------------------------------------------------------------------------ */

static int cmd_list(struct opts *o, int argc, char **argv)
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
			json_object_object_add(e, "method", json_object_new_string(m2m_vpn_method_name(p->auth)));
			json_object_object_add(e, "key_store", key ? json_object_new_string(
						       m2m_key_store_name(ref.store)) : NULL);
			json_object_object_add(e, "key", key ? cli_json_str(where) : NULL);
			json_object_object_add(e, "cert", cli_json_str(p->cert));
			json_object_object_add(e, "subject", cert ? cli_json_str(ci.subject) : NULL);
			json_object_object_add(e, "not_after", cert ? cli_json_str(na) : NULL);
			json_object_array_add(arr, e);
		} else {
			printf("%-16s %-9s %-8s %-22s %-34s %s\n", p->name, m2m_vpn_method_name(p->auth),
			       key ? m2m_key_store_name(ref.store) : "-", na, cert ? ci.subject : "-",
			       where);
		}
	}
	if (doc)
		cli_print_json(doc);
	return M2M_OK;
}

/* ---- doctor ---------------------------------------------------------------------- */

static void print_checks(struct opts *o, const struct m2m_checks *cs, size_t from, json_object *arr)
{
	static const char *const col[] = { CLI_GREEN, CLI_YELLOW, CLI_RED, CLI_DIM };

	for (size_t i = from; i < cs->n; i++) {
		const struct m2m_check *e = &cs->items[i];
		const char *sname = m2m_check_status_name(e->status);

		if (arr) {
			json_object *j = json_object_new_object();

			json_object_object_add(j, "profile", cli_json_str(e->profile));
			json_object_object_add(j, "check", json_object_new_string(e->check));
			json_object_object_add(j, "status", json_object_new_string(sname));
			json_object_object_add(j, "code", e->status == M2M_CHECK_FAIL ?
					       json_object_new_int(e->code) : NULL);
			json_object_object_add(j, "detail", json_object_new_string(e->message));
			json_object_array_add(arr, j);
			continue;
		}
		if (o->c.quiet && e->status != M2M_CHECK_FAIL)
			continue;
		printf("  %s%-4s%s %-12s %s\n", cli_col(&o->c, col[e->status]), sname,
		       cli_col(&o->c, CLI_RESET), e->check, e->message);
	}
}

static int cmd_doctor(struct opts *o, int argc, char **argv)
{
	struct m2m_checks cs = { 0 };
	json_object *doc = NULL, *arr = NULL;
	int rc, n = 0;

	rc = load_cfg(o, true);
	if (rc)
		return rc;
	for (int i = 0; i < argc; i++)
		if (!m2m_config_profile(o->cfg, argv[i]))
			return cli_error(&o->c, M2M_ERR_NOT_FOUND, "no VPN profile '%s' in %s", argv[i],
					 o->cfg->path);
	if (o->c.json)
		doc = cli_json_doc("m2m.cert.doctor/1", "checks", &arr);
	for (size_t i = 0; i < o->cfg->n_profiles; i++) {
		const struct m2m_vpn_profile *p = &o->cfg->profiles[i];
		bool want = argc == 0 && (!o->profile || strcmp(o->profile, p->name) == 0);
		size_t from = cs.n;

		for (int j = 0; j < argc; j++)
			want = want || strcmp(argv[j], p->name) == 0;
		if (!want)
			continue;
		if (n++ && !o->c.json && !o->c.quiet)
			putchar('\n');
		if (!o->c.json && !o->c.quiet)
			printf("%s%s%s (method %s)\n", cli_col(&o->c, CLI_BOLD), p->name,
			       cli_col(&o->c, CLI_RESET), m2m_vpn_method_name(p->auth));
		fflush(stdout); /* the header before a slow TPM or token answers */
		if (m2m_doctor_profile(o->cfg, p, &cs)) {
			json_object_put(doc);
			m2m_checks_free(&cs);
			return cli_error(&o->c, M2M_ERR_FAILURE, "out of memory");
		}
		print_checks(o, &cs, from, arr);
	}
	rc = cs.rc;
	m2m_checks_free(&cs);
	if (doc) {
		json_object_object_add(doc, "result", json_object_new_string(m2m_rc_name(rc)));
		json_object_object_add(doc, "code", json_object_new_int(rc));
		cli_print_json(doc);
	}
	return rc;
}

/* ---- main ------------------------------------------------------------------------- */

static const struct {
	const char *name;
	int (*fn)(struct opts *, int, char **);
} handlers[] = {
	{ "keygen", cmd_keygen }, { "csr", cmd_csr }, { "import", cmd_import },
	{ "list", cmd_list }, { "show", cmd_show }, { "doctor", cmd_doctor },
	{ "delete", cmd_delete },
	{ "charon-conf", cmd_charon_conf },
};

static bool parse_fd(const char *s, int *fd)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < 0 || v > 65535)
		return false;
	*fd = (int)v;
	return true;
}

static int set_pin(struct opts *o, struct m2m_secret_ref *ref, enum m2m_secret_source src,
		   const char *arg, const char *opt)
{
	if (ref->source != M2M_SECRET_NONE)
		return cli_error(&o->c, M2M_ERR_USAGE, "--%s: a PIN source was given already", opt);
	ref->source = src;
	if (src == M2M_SECRET_FD) {
		if (!parse_fd(arg, &ref->fd))
			return cli_error(&o->c, M2M_ERR_USAGE, "--%s '%s': expected a file descriptor number",
					 opt, arg);
	} else if (arg) {
		if (src == M2M_SECRET_CREDENTIAL && m2m_credential_name_invalid(arg))
			return cli_error(&o->c, M2M_ERR_USAGE, "--%s '%s': not a credential name (%s)",
					 opt, arg, m2m_credential_name_invalid(arg));
		ref->path = (char *)arg;
	}
	return M2M_OK;
}

static int option(struct opts *o, int k, const char *arg)
{
	char *end;
	unsigned long h;

	switch (k) {
	case O_CONFIG: o->c.config_path = arg; break;
	case O_PROFILE: o->profile = arg; break;
	case O_STORE:
		if (!m2m_key_store_parse(arg, &o->ref.store))
			return cli_error(&o->c, M2M_ERR_USAGE, "--store '%s': expected file, tpm, pkcs11 or machine",
					 arg);
		o->have_store = true;
		break;
	case O_KEY: o->ref.path = arg; break;
	case O_TYPE:
		if (!m2m_key_type_parse(arg, &o->type))
			return cli_error(&o->c, M2M_ERR_USAGE, "--type '%s': expected ec, rsa2048 or rsa3072", arg);
		break;
	case O_MODULE: o->ref.module = arg; break;
	case O_TOKEN: o->ref.token = arg; break;
	case O_ID: o->ref.id = arg; break;
	case O_LABEL: o->ref.label = arg; break;
	case O_TCTI:
		if (!m2m_tcti_allowed(arg))
			return cli_error(&o->c, M2M_ERR_USAGE,
					 "--tcti '%s': expected device[:/dev/tpm...], tabrmd, mssim or swtpm",
					 arg);
		o->ref.tcti = arg;
		break;
	case O_HANDLE:
		errno = 0;
		h = strtoul(arg, &end, 16);
		if (errno || *end || h < 0x81000000ul || h > 0x81fffffful)
			return cli_error(&o->c, M2M_ERR_USAGE,
					 "--handle '%s': expected a persistent handle 0x81000000-0x81ffffff", arg);
		o->ref.handle = (uint32_t)h;
		break;
	case O_PIN_FILE: return set_pin(o, &o->ref.pin, M2M_SECRET_FILE, arg, "pin-file");
	case O_PIN_FD: return set_pin(o, &o->ref.pin, M2M_SECRET_FD, arg, "pin-fd");
	case O_PIN_CRED: return set_pin(o, &o->ref.pin, M2M_SECRET_CREDENTIAL, arg, "pin-credential");
	case O_PIN_PROMPT: return set_pin(o, &o->ref.pin, M2M_SECRET_PROMPT, NULL, "pin-prompt");
	case O_SRC_PIN_FILE: return set_pin(o, &o->src_pin, M2M_SECRET_FILE, arg, "src-pin-file");
	case O_SRC_PIN_FD: return set_pin(o, &o->src_pin, M2M_SECRET_FD, arg, "src-pin-fd");
	case O_CERT: o->cert = arg; break;
	case O_SUBJECT: o->subject = arg; break;
	case O_SAN:
		if (o->n_sans == MAX_SANS)
			return cli_error(&o->c, M2M_ERR_USAGE, "--san: at most %d", MAX_SANS);
		o->sans[o->n_sans++] = arg;
		break;
	case O_OUT: o->out = arg; break;
	case O_FORCE: o->force = true; break;
	case O_TIMEOUT:
		if (!cli_parse_duration(arg, &o->c.timeout_ms) || o->c.timeout_ms == 0)
			return cli_error(&o->c, M2M_ERR_USAGE,
					 "--timeout '%s': expected seconds (e.g. 20, 2.5, 500ms)", arg);
		break;
	case O_JSON: o->c.json = true; break;
	case O_QUIET: o->c.quiet = true; break;
	case O_VERBOSE: o->c.verbose++; break;
	}
	return M2M_OK;
}

int main(int argc, char **argv)
{
	struct opts o = { .c = { .prog = "m2mvpn-cert" } };
	struct option lopts[O_N + 1];
	const char *color = "auto";
	char sopts[64];
	char **rest;
	int opt, rc, nrest = 0;

	/* keys and PINs: nobody else's business */
	cli_init();
	o.ref.pin.fd = -1;
	o.src_pin.fd = -1;
	cli_getopt_tables(options, lopts, sopts, sizeof(sopts), "-");
	rest = calloc((size_t)argc + 1, sizeof(*rest));
	if (!rest)
		return cli_error(&o.c, M2M_ERR_FAILURE, "out of memory");
	while ((opt = getopt_long(argc, argv, sopts, lopts, NULL)) != -1) {
		int k;

		if (opt == 1) {
			rest[nrest++] = optarg;
			continue;
		}
		k = cli_option_index(options, opt);
		if (k < 0) {
			fprintf(stderr, "Try '%s --help'.\n", o.c.prog);
			free(rest);
			return M2M_ERR_USAGE;
		}
		if (k == O_HELP) {
			cli_usage(stdout, o.c.prog, summary, commands, options);
			free(rest);
			return M2M_OK;
		}
		if (k == O_VERSION) {
			printf("%s %s\n", o.c.prog, m2m_version());
			free(rest);
			return M2M_OK;
		}
		if (k == O_COLOR) {
			color = optarg;
			continue;
		}
		rc = option(&o, k, optarg);
		if (rc) {
			free(rest);
			return rc;
		}
	}
	for (int i = optind; i < argc; i++)
		rest[nrest++] = argv[i];
	if (!cli_set_color(&o.c, color)) {
		free(rest);
		return cli_error(&o.c, M2M_ERR_USAGE, "--color '%s': expected auto, always or never", color);
	}
	if (nrest == 0) {
		cli_usage(stderr, o.c.prog, summary, commands, options);
		free(rest);
		return M2M_ERR_USAGE;
	}
	/* a TPM that does not answer (frozen resource manager) ends the command in time */
	m2m_keystore_set_deadline(m2m_now_ms() +
				  (o.c.timeout_ms ? o.c.timeout_ms : M2M_KEYSTORE_DEFAULT_MS));
	rc = -1;
	for (size_t h = 0; h < sizeof(handlers) / sizeof(handlers[0]); h++)
		if (strcmp(rest[0], handlers[h].name) == 0)
			rc = handlers[h].fn(&o, nrest - 1, rest + 1);
	if (rc < 0)
		rc = cli_error(&o.c, M2M_ERR_USAGE, "unknown command '%s' (see --help)", rest[0]);
	m2m_config_free(o.cfg);
	free(rest);
	return rc;
}
