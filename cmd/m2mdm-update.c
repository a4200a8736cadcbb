/* SPDX-License-Identifier: MIT */
/*
 * m2mdm-update: signed, power-safe updates (m2m/update.h). Thin: parse, call
 * libm2m, print; this file has the options and the command table,
 * m2mdm-update/ one file per subcommand. Exit status is an enum m2m_rc.
 * A signing key is named with m2mvpn-cert's words; its PIN comes from a
 * file, a descriptor, a systemd credential or the terminal, never argv.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli/cli.h"
#include "m2m/keystore.h"
#include "m2mdm-update/upd.h"

static const struct cli_command commands[] = {
	{ "install", "FILE|URL", "download, verify and install a package (progress on a terminal)" },
	{ "status", "", "the last update: state, result, versions, slot, next step (--json)" },
	{ "check", "", "for cron and boot: continue what is under way, run a pending health check" },
	{ "commit", "", "keep an installed update (a technician's decision)" },
	{ "rollback", "", "roll an installed update back" },
	{ "sign", "", "make a package (--manifest, --payload, --key/--cert..., --out)" },
	{ "verify", "PKG", "check a package against a trust anchor and say what it is (--trust)" },
	{ NULL, NULL, NULL },
};

enum {
	O_CONFIG, O_JSON, O_TIMEOUT, O_QUIET, O_VERBOSE, O_COLOR, O_HELP, O_VERSION,
	O_MANIFEST, O_PAYLOAD, O_OUT, O_STORE, O_KEY, O_MODULE, O_TOKEN, O_ID, O_LABEL, O_TCTI,
	O_HANDLE, O_PIN_FILE, O_PIN_FD, O_PIN_CRED, O_PIN_PROMPT, O_CERT, O_CHAIN,
	O_TRUST, O_MODEL, O_SIGNATURES, O_MANUAL, O_N
};

static const struct cli_option options[] = {
	[O_CONFIG] = { "config", 'c', "FILE", "configuration file (default: $M2M_CONFIG, /etc/m2m/m2m.yaml)" },
	[O_JSON] = { "json", 'j', NULL, "machine-readable output (status: schema m2m.update/1; verify)" },
	[O_TIMEOUT] = { "timeout", 't', "SECONDS", "bound of an install or check run (default: update.timeout)" },
	[O_QUIET] = { "quiet", 'q', NULL, "print nothing but errors (no progress)" },
	[O_VERBOSE] = { "verbose", 'v', NULL, "explain: the engine's steps and the installer's output on stderr" },
	[O_COLOR] = { "color", 0, "WHEN", "colour: auto, always or never" },
	[O_HELP] = { "help", 'h', NULL, "show this help" },
	[O_VERSION] = { "version", 'V', NULL, "show the version" },
	[O_MANIFEST] = { "manifest", 0, "FILE", "sign: the manifest (JSON; size and sha256 may be left out)" },
	[O_PAYLOAD] = { "payload", 0, "FILE", "sign: the payload" },
	[O_OUT] = { "out", 'o', "FILE", "sign: write the package here" },
	[O_STORE] = { "store", 's', "STORE", "sign: the signer's key store: file, tpm, pkcs11 or machine" },
	[O_KEY] = { "key", 'k', "FILE", "sign: file, machine: the signer's key file" },
	[O_MODULE] = { "module", 0, "PATH", "sign: pkcs11: the module (.so)" },
	[O_TOKEN] = { "token", 0, "LABEL", "sign: pkcs11: the token label (default: the only token)" },
	[O_ID] = { "id", 0, "HEX", "sign: pkcs11: the key's CKA_ID in hex" },
	[O_LABEL] = { "label", 0, "TEXT", "sign: pkcs11: the key's label" },
	[O_TCTI] = { "tcti", 0, "TCTI", "sign: tpm: TCTI (default device:/dev/tpmrm0)" },
	[O_HANDLE] = { "handle", 0, "HANDLE", "sign: tpm: persistent handle (default 0x81010002)" },
	[O_PIN_FILE] = { "pin-file", 0, "FILE", "sign: the key's PIN from a file only its owner can read" },
	[O_PIN_FD] = { "pin-fd", 0, "FD", "sign: the key's PIN from an inherited file descriptor" },
	[O_PIN_CRED] = { "pin-credential", 0, "NAME", "sign: the key's PIN from a systemd credential" },
	[O_PIN_PROMPT] = { "pin-prompt", 0, NULL, "sign: ask for the key's PIN on the terminal" },
	[O_CERT] = { "cert", 0, "FILE", "sign: the signer's certificate; ends a signer (repeat for more)" },
	[O_CHAIN] = { "chain", 0, "FILE", "sign: intermediate certificates to carry for the signer" },
	[O_TRUST] = { "trust", 0, "PEM", "verify: the trust anchors (default: update.trust)" },
	[O_MODEL] = { "model", 0, "MODEL", "verify: the package must be for this model (default: update.model)" },
	[O_SIGNATURES] = { "signatures", 0, "N", "verify: distinct signers a firmware package needs (1 or 2)" },
	[O_MANUAL] = { "manual", 0, NULL, "install, check: leave the installed update to commit or rollback, no health check" },
	[O_N] = { NULL, 0, NULL, NULL },
};

static const char summary[] =
	"Signed, power-safe firmware, software and configuration updates; make and check packages.";

static const struct {
	const char *name;
	int (*fn)(struct opts *, int, char **);
} handlers[] = {
	{ "install", cmd_install }, { "status", cmd_status }, { "check", cmd_check },
	{ "commit", cmd_commit }, { "rollback", cmd_rollback }, { "sign", cmd_sign },
	{ "verify", cmd_verify },
};

static int set_pin(struct opts *o, enum m2m_secret_source src, const char *arg, const char *opt)
{
	struct m2m_secret_ref *ref = &o->signers[o->n_signers].ref.pin;
	char *end;
	long v;

	if (ref->source != M2M_SECRET_NONE)
		return cli_error(&o->c, M2M_ERR_USAGE, "--%s: this signer's PIN source was given already", opt);
	ref->source = src;
	if (src == M2M_SECRET_FD) {
		errno = 0;
		v = strtol(arg, &end, 10);
		if (errno || *end || end == arg || v < 0 || v > 65535)
			return cli_error(&o->c, M2M_ERR_USAGE, "--%s '%s': expected a file descriptor number",
					 opt, arg);
		ref->fd = (int)v;
	} else if (arg) {
		if (src == M2M_SECRET_CREDENTIAL && m2m_credential_name_invalid(arg))
			return cli_error(&o->c, M2M_ERR_USAGE, "--%s '%s': not a credential name (%s)", opt,
					 arg, m2m_credential_name_invalid(arg));
		ref->path = (char *)arg;
	}
	return M2M_OK;
}

/* A signer's key options name the signer being given; its --cert completes it. */
static int signer_option(struct opts *o, int k, const char *arg)
{
	struct signer *s = &o->signers[o->n_signers];
	struct m2m_key_ref *r = &s->ref;

	if (k != O_CHAIN)
		s->named = true;
	switch (k) {
	case O_STORE:
	case O_KEY:
	case O_MODULE:
	case O_TOKEN:
	case O_ID:
	case O_LABEL:
	case O_TCTI:
	case O_HANDLE:
		if (k == O_STORE)
			s->have_store = true;
		return cli_key_ref_option(&o->c, options[k].name, arg, r);
	case O_PIN_FILE: return set_pin(o, M2M_SECRET_FILE, arg, "pin-file");
	case O_PIN_FD: return set_pin(o, M2M_SECRET_FD, arg, "pin-fd");
	case O_PIN_CRED: return set_pin(o, M2M_SECRET_CREDENTIAL, arg, "pin-credential");
	case O_PIN_PROMPT: return set_pin(o, M2M_SECRET_PROMPT, NULL, "pin-prompt");
	case O_CHAIN:
		/* right after a signer's --cert, its chain; else the chain of the one being named */
		if (!s->named && o->n_signers > 0 && !o->signers[o->n_signers - 1].chain)
			s = &o->signers[o->n_signers - 1];
		s->chain = arg;
		break;
	case O_CERT:
		if (o->n_signers == MAX_SIGNERS)
			return cli_error(&o->c, M2M_ERR_USAGE, "--cert: at most %d signers", MAX_SIGNERS);
		s->cert = arg;
		o->signers[++o->n_signers].ref.pin.fd = -1;
		break;
	}
	return M2M_OK;
}

static int option(struct opts *o, int k, const char *arg)
{
	char *end;
	unsigned long n;

	switch (k) {
	case O_MANIFEST: o->manifest = arg; break;
	case O_PAYLOAD: o->payload = arg; break;
	case O_OUT: o->out = arg; break;
	case O_TRUST: o->trust = arg; break;
	case O_MODEL: o->model = arg; break;
	case O_MANUAL:
		o->manual = true;
		break;
	case O_SIGNATURES:
		errno = 0;
		n = strtoul(arg, &end, 10);
		if (errno || *end || (n != 1 && n != 2))
			return cli_error(&o->c, M2M_ERR_USAGE, "--signatures '%s': expected 1 or 2", arg);
		o->signatures = (unsigned)n;
		break;
	default:
		return signer_option(o, k, arg);
	}
	return M2M_OK;
}

static int take_option(void *o, int k, const char *arg)
{
	return option(o, k, arg);
}

int main(int argc, char **argv)
{
	struct opts o = { .c = { .prog = "m2mdm-update" } };
	char **args;
	int rc = -1, n;

	/* signing keys and PINs: nobody else's business */
	cli_init();
	o.signers[0].ref.pin.fd = -1;
	if (cli_parse(&o.c, argc, argv, summary, commands, options, take_option, &o, &args, &n, &rc) ==
	    CLI_OPT_EXIT)
		return rc;
	rc = -1;
	for (size_t h = 0; h < sizeof(handlers) / sizeof(handlers[0]); h++)
		if (strcmp(args[0], handlers[h].name) == 0)
			rc = handlers[h].fn(&o, n - 1, args + 1);
	if (rc < 0)
		rc = cli_error(&o.c, M2M_ERR_USAGE, "unknown command '%s' (see --help)", args[0]);
	m2m_config_free(o.cfg);
	free(args);
	return rc;
}
