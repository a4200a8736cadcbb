/* SPDX-License-Identifier: MIT */
/* m2mvpn-cert: what its subcommands (one file each, in this directory) share. */
#ifndef M2MVPN_CERT_H
#define M2MVPN_CERT_H

#include <stdbool.h>

#include "cli/cli.h"
#include "m2m/config.h"
#include "m2m/keystore.h"

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
	bool new_key;           /* renew --new-key */
	bool next;              /* keygen --next */
	int reason;             /* revoke: CRLReason, -1 none */
	struct m2m_config *cfg;
};

/* common.c: the configuration, the key and the certificate to work on */
int load_cfg(struct opts *o, bool needed);
const struct m2m_vpn_profile *opts_profile(struct opts *o);
int resolve_key(struct opts *o, struct m2m_key_ref *ref);
const char *cert_path(struct opts *o, const char *arg);

/* one function per subcommand: parse what is left, call libm2m, print */
int cmd_keygen(struct opts *o, int argc, char **argv);
int cmd_delete(struct opts *o, int argc, char **argv);
int cmd_import(struct opts *o, int argc, char **argv);
int cmd_csr(struct opts *o, int argc, char **argv);
int cmd_show(struct opts *o, int argc, char **argv);
int cmd_list(struct opts *o, int argc, char **argv);
int cmd_doctor(struct opts *o, int argc, char **argv);
int cmd_charon_conf(struct opts *o, int argc, char **argv);
int cmd_enroll(struct opts *o, int argc, char **argv);
int cmd_renew(struct opts *o, int argc, char **argv);
int cmd_revoke(struct opts *o, int argc, char **argv);
/* enroll.c: a CRLReason name of RFC 5280 (keyCompromise, superseded, ...) into its code; -1 if none */
int cert_reason_parse(const char *s, int *code);

#endif
