/* SPDX-License-Identifier: MIT */
/*
 * m2mdm-policy: the device's security policies (m2m/policy.h): a location
 * fence, the SIM it is bound to, its case's tamper switch, and the quarantine
 * a broken one puts it in, and the wipe that decommissions it. Thin: parse,
 * call libm2m, print; this file has the options and the command table,
 * m2mdm-policy/ the subcommands (check.c: check, release, apply and watch,
 * which change the quarantine; status.c, audit.c, wipe.c). Exit
 * status is an enum m2m_rc: 20 (quarantined) while a quarantine is in force.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "m2mdm-policy/pol.h"

static const struct cli_command commands[] = {
	{ "check", "", "look at each policy, quarantine if one says so (for a timer; exit 20 if quarantined)" },
	{ "status", "", "what the last check found and whether a quarantine is in force (--json)" },
	{ "release", "", "lift the quarantine (--reason, written to the audit log)" },
	{ "apply", "", "at boot, before the network: put a quarantine in force back in place" },
	{ "watch", "", "hold a quarantine in force (put back within milliseconds when flushed), count security events as they come (a service)" },
	{ "audit", "", "print the audit log and check its chain (exit 17 if broken; --json)" },
	{ "wipe", "", "decommission: destroy keys, certificates, secrets and state (--reason, --yes)" },
	{ NULL, NULL, NULL },
};

enum { O_CONFIG, O_JSON, O_TIMEOUT, O_QUIET, O_VERBOSE, O_COLOR, O_HELP, O_VERSION, O_REASON, O_YES,
       O_N };

static const struct cli_option options[] = {
	[O_CONFIG] = { "config", 'c', "FILE", "configuration file (default: $M2M_CONFIG, /etc/m2m/m2m.yaml)" },
	[O_JSON] = { "json", 'j', NULL, "machine-readable output (status, check: schema m2m.policy/1; audit)" },
	[O_TIMEOUT] = { "timeout", 't', "SECONDS", "bound of a check (default: policy.timeout)" },
	[O_QUIET] = { "quiet", 'q', NULL, "print nothing but errors and what a check changed" },
	[O_VERBOSE] = { "verbose", 'v', NULL, "explain: each policy's look on stderr" },
	[O_COLOR] = { "color", 0, "WHEN", "colour: auto, always or never" },
	[O_HELP] = { "help", 'h', NULL, "show this help" },
	[O_VERSION] = { "version", 'V', NULL, "show the version" },
	[O_REASON] = { "reason", 'r', "TEXT", "release, wipe: why, for the audit log (required)" },
	[O_YES] = { "yes", 0, NULL, "wipe: yes, destroy it all (required)" },
	[O_N] = { NULL, 0, NULL, NULL },
};

static const char summary[] =
	"Security policies: location fence, SIM binding, tamper switch, and the quarantine.";

static const struct {
	const char *name;
	int (*fn)(struct opts *, int, char **);
} handlers[] = {
	{ "check", cmd_check }, { "status", cmd_status }, { "release", cmd_release },
	{ "apply", cmd_apply }, { "watch", cmd_watch }, { "audit", cmd_audit }, { "wipe", cmd_wipe },
};

static int option(void *ctx, int k, const char *arg)
{
	struct opts *o = ctx;

	if (k == O_REASON)
		o->reason = arg;
	else if (k == O_YES)
		o->yes = true;
	return M2M_OK;
}

int main(int argc, char **argv)
{
	struct opts o = { .c = { .prog = "m2mdm-policy" } };
	char **args;
	int rc = -1, n;

	cli_init();
	if (cli_parse(&o.c, argc, argv, summary, commands, options, option, &o, &args, &n, &rc) ==
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
