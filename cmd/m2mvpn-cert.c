/* SPDX-License-Identifier: MIT */
/*
 * m2mvpn-cert: the device's keys and certificates. Thin: parse, call
 * libm2m (keystore, pki, vpn, doctor), print; this file has the options and
 * the command table, m2mvpn-cert/ one file per subcommand. Exit status is an
 * enum m2m_rc.
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
#include "m2m/keystore.h"
#include "m2m/pki.h"
#include "m2m/vpn.h"
#include "m2mvpn-cert/cert.h"

static const struct cli_command commands[] = {
	{ "keygen", "", "create a key in the store (--store file|tpm|pkcs11|machine)" },
	{ "csr", "", "write a certificate request signed by the key (--subject, --san)" },
	{ "import", "SRC", "put a PEM key or PKCS#12 file (and its certificate) into a store" },
	{ "list", "", "list the profiles' keys and certificates" },
	{ "show", "[CERT]", "show a certificate and its key (--json)" },
	{ "doctor", "[PROFILE...]", "pre-flight checks: key, token, TPM, certificate, CA, clock, charon" },
	{ "delete", "", "delete the key from its store" },
	{ "charon-conf", "", "write charon's tpm TCTI and pkcs11 modules for the profiles (-o FILE)" },
	{ "enroll", "", "get the profile's certificate from its CA over CMP (-p PROFILE)" },
	{ "renew", "", "renew the profile's certificate when due (--force: now)" },
	{ "revoke", "", "ask the CA to revoke the profile's certificate (--reason)" },
	{ NULL, NULL, NULL },
};

enum {
	O_CONFIG, O_PROFILE, O_STORE, O_KEY, O_TYPE, O_MODULE, O_TOKEN, O_ID, O_LABEL, O_TCTI,
	O_HANDLE, O_PIN_FILE, O_PIN_FD, O_PIN_CRED, O_PIN_PROMPT, O_SRC_PIN_FILE, O_SRC_PIN_FD,
	O_CERT, O_SUBJECT, O_SAN, O_OUT, O_FORCE, O_NEW_KEY, O_NEXT, O_REASON, O_TIMEOUT, O_JSON, O_QUIET, O_VERBOSE, O_COLOR, O_HELP,
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
	[O_FORCE] = { "force", 'f', NULL, "keygen, import: replace an existing key; renew: even if not due" },
	[O_NEW_KEY] = { "new-key", 0, NULL, "renew: with a new key (file, token and TPM keys), due or not; it replaces the current one once certified" },
	[O_NEXT] = { "next", 0, NULL, "keygen, csr: the next key, beside the current one, for renew --new-key" },
	[O_REASON] = { "reason", 0, "REASON", "revoke: keyCompromise, superseded, cessationOfOperation, ..." },
	[O_TIMEOUT] = { "timeout", 't', "SECONDS", "a TPM or token must answer within this (default 30 s): 16 otherwise; enroll, renew, revoke: the whole run (default enroll.timeout): 5 otherwise" },
	[O_JSON] = { "json", 'j', NULL, "machine-readable output (show, list, doctor)" },
	[O_QUIET] = { "quiet", 'q', NULL, "print nothing but errors" },
	[O_VERBOSE] = { "verbose", 'v', NULL, "say more" },
	[O_COLOR] = { "color", 0, "WHEN", "colour: auto, always or never" },
	[O_HELP] = { "help", 'h', NULL, "show this help" },
	[O_VERSION] = { "version", 'V', NULL, "show the version" },
	[O_N] = { NULL, 0, NULL, NULL },
};

static const char summary[] = "Keys and certificates of an unattended device: file, TPM 2.0, PKCS#11 token or machine-bound.";

/* ---- main ------------------------------------------------------------------------- */

static const struct {
	const char *name;
	int (*fn)(struct opts *, int, char **);
} handlers[] = {
	{ "keygen", cmd_keygen }, { "csr", cmd_csr }, { "import", cmd_import },
	{ "list", cmd_list }, { "show", cmd_show }, { "doctor", cmd_doctor },
	{ "delete", cmd_delete },
	{ "charon-conf", cmd_charon_conf },
	{ "enroll", cmd_enroll }, { "renew", cmd_renew }, { "revoke", cmd_revoke },
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
	switch (k) {
	case O_CONFIG: o->c.config_path = arg; break;
	case O_PROFILE: o->profile = arg; break;
	case O_STORE:
	case O_KEY:
	case O_MODULE:
	case O_TOKEN:
	case O_ID:
	case O_LABEL:
	case O_TCTI:
	case O_HANDLE:
		if (k == O_STORE)
			o->have_store = true;
		return cli_key_ref_option(&o->c, options[k].name, arg, &o->ref);
	case O_TYPE:
		if (!m2m_key_type_parse(arg, &o->type))
			return cli_error(&o->c, M2M_ERR_USAGE, "--type '%s': expected ec, rsa2048 or rsa3072", arg);
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
	case O_NEW_KEY: o->new_key = true; break;
	case O_NEXT: o->next = true; break;
	case O_REASON:
		if (cert_reason_parse(arg, &o->reason))
			return cli_error(&o->c, M2M_ERR_USAGE,
					 "--reason '%s': expected a CRLReason of RFC 5280: unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation, certificateHold, privilegeWithdrawn or aACompromise",
					 arg);
		break;
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
	o.reason = -1;
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
