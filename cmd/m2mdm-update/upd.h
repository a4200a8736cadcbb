/* SPDX-License-Identifier: MIT */
/* m2mdm-update: what its subcommands (one file each, in this directory) share. */
#ifndef M2MDM_UPDATE_TOOL_H
#define M2MDM_UPDATE_TOOL_H

#include <stdbool.h>

#include "cli/cli.h"
#include "cli/progress.h"
#include "m2m/config.h"
#include "m2m/keystore.h"
#include "m2m/update.h"

#define MAX_SIGNERS 4

/* sign: one signer, its key as m2mvpn-cert names one, and its certificates */
struct signer {
	bool have_store;
	bool named;            /* a key option was given for it */
	struct m2m_key_ref ref;
	const char *cert;
	const char *chain;
};

struct opts {
	struct cli c;
	struct m2m_config *cfg;
	/* sign */
	const char *manifest;
	const char *payload;
	const char *out;
	struct signer signers[MAX_SIGNERS + 1];
	int n_signers;         /* complete ones (with --cert); signers[n_signers] is being named */
	/* verify */
	const char *trust;
	const char *model;
	unsigned signatures;
	/* install, check */
	struct cli_progress progress;
	bool manual;           /* install --manual: a technician decides, no health check */
	bool busy_quiet;       /* open_engine: another run holding the lock is no error (BUSY, silent) */
};

/* set by SIGTERM, SIGINT, SIGHUP once catch_signals() ran (cli_catch_stop) */
extern volatile const int *stop_flag;

/* common.c */
int load_cfg(struct opts *o);
/* Open the engine with the tool's log, progress (if progress) and the standard health check. */
int open_engine(struct opts *o, unsigned timeout_ms, bool progress, struct m2m_update **u);
/* The outcome of a run in words: "committed pos-app 2.4.1", "refused: why"; returns rc. */
int say_result(struct opts *o, struct m2m_update *u, int rc, const struct m2m_err *err);
/* "pos-app 2.4.1" of st into buf */
const char *pkg_words(const struct m2m_update_status *st, char *buf, size_t len);
void catch_signals(void);

/* one function per subcommand: parse what is left, call libm2m, print */
int cmd_install(struct opts *o, int argc, char **argv);
int cmd_check(struct opts *o, int argc, char **argv);
int cmd_status(struct opts *o, int argc, char **argv);
int cmd_commit(struct opts *o, int argc, char **argv);
int cmd_rollback(struct opts *o, int argc, char **argv);
int cmd_sign(struct opts *o, int argc, char **argv);
int cmd_verify(struct opts *o, int argc, char **argv);

#endif
