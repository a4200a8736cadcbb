/* SPDX-License-Identifier: MIT */
/* m2mdm-policy: what its subcommands (one file each, in this directory) share. */
#ifndef M2MDM_POLICY_TOOL_H
#define M2MDM_POLICY_TOOL_H

#include <stdbool.h>

#include "cli/cli.h"
#include "m2m/config.h"
#include "m2m/policy.h"

struct opts {
	struct cli c;
	struct m2m_config *cfg;
	const char *reason;   /* release, wipe: --reason */
	bool yes;             /* wipe --yes */
};

/* status.c: the status for people and as JSON (schema m2m.policy/1); returns its exit code */
int print_status(struct opts *o, const struct m2m_policy_status *st);

/* one function per subcommand: parse what is left, call libm2m, print */
int cmd_check(struct opts *o, int argc, char **argv);
int cmd_status(struct opts *o, int argc, char **argv);
int cmd_release(struct opts *o, int argc, char **argv);
int cmd_apply(struct opts *o, int argc, char **argv);
int cmd_watch(struct opts *o, int argc, char **argv);
int cmd_audit(struct opts *o, int argc, char **argv);
int cmd_wipe(struct opts *o, int argc, char **argv);

#endif
