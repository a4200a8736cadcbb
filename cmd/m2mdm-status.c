/* SPDX-License-Identifier: MIT */
/*
 * m2mdm-status: the device's status for a technician (summary), for
 * programs (--json, schema m2m.status/1), for cron (--report: register or
 * update, stay reachable for the queue-mode window, exit) and for always-on
 * devices (--serve). Thin: parse, call libm2m, print. Exit status is an
 * enum m2m_rc.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "base/base.h"
#include "cli/cli.h"
#include "m2m/config.h"
#include "m2m/dm.h"
#include "m2m/enroll.h"
#include "m2m/wipe.h"
#include "m2mdm-status/dms.h"

static const struct cli_command no_commands[] = { { NULL, NULL, NULL } };

static const struct cli_option options[] = {
	{ "config", 'c', "FILE", "configuration file (default: $M2M_CONFIG, /etc/m2m/m2m.yaml)" },
	{ "json", 'j', NULL, "machine-readable status (schema m2m.status/1)" },
	{ "report", 'r', NULL, "register or update with the LwM2M server, send dm.send, serve the queue-mode window, exit" },
	{ "serve", 's', NULL, "stay registered and serve the LwM2M server (always-on)" },
	{ "timeout", 't', "SECONDS", "bound of a --report run (default: dm.timeout, 2 min)" },
	{ "quiet", 'q', NULL, "print nothing but errors" },
	{ "verbose", 'v', NULL, "explain: registration and requests on stderr" },
	{ "color", 0, "WHEN", "colour: auto, always or never" },
	{ "help", 'h', NULL, "show this help" },
	{ "version", 'V', NULL, "show the version" },
	{ NULL, 0, NULL, NULL },
};

static const char summary[] =
	"Show the device's status; report to and serve the OMA LwM2M management server.";

static volatile int stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* ---- talking to the server ---- */

/* The management server's orders: Wipe (object 33811, when policy.server allows it), Renew (33810). */
struct orders_ctx {
	struct cli *c;
	const struct m2m_config *cfg;
	bool wiped;             /* the run ended in a wipe: there is no registration to report */
};

static int dm_wipe(void *ctx, const char *reason, struct m2m_err *err)
{
	struct orders_ctx *w = ctx;
	struct m2m_wipe_result res = { .version = M2M_WIPE_RESULT_VERSION };
	int rc = m2m_wipe(w->cfg, reason, cli_log_line, w->c, &res, err);

	w->wiped = true;

	cli_log_line(w->c, rc ? LOG_ERR : LOG_NOTICE, "wipe: %u destroyed, %u not there, %u failed",
		res.destroyed, res.gone, res.failed);
	return rc;
}

/*
 * The management server's Renew and Renew With New Key (object 33810): a
 * renewal now, on the client's thread for it (the CoAP loop goes on): it
 * reads the configuration and the client's stop flag for it (set on SIGTERM
 * and on an ordered Wipe), and writes nothing of the context.
 */
static int dm_renew(void *ctx, const char *profile, bool new_key, unsigned timeout_ms,
		    volatile const int *stop, char *line, size_t len, struct m2m_err *err)
{
	struct orders_ctx *w = ctx;
	struct m2m_enroll_result res = { .version = M2M_ENROLL_RESULT_VERSION };
	char until[32] = "";
	int rc = new_key ? m2m_enroll_rekey(w->cfg, profile, timeout_ms, stop, &res, err) :
			   m2m_enroll_renew(w->cfg, profile, true, timeout_ms, stop, &res, err);

	if (rc)
		return rc;
	m2m_time_utc(res.cert.not_after, until, sizeof(until));
	snprintf(line, len, "renewed%s: serial %s, until %s; %s%.200s", new_key ? " with a new key" : "",
		 res.cert.serial, until, res.proof == M2M_PROOF_OK ? "proven on the tunnel" :
		 res.proof == M2M_PROOF_PENDING ? "its proof waits for the next tunnel: " :
		 "the certificate in place is the one the CA gave", res.proof == M2M_PROOF_PENDING ?
		 res.proof_msg : "");
	return M2M_OK;
}

static int run_dm(struct cli *c, struct m2m_config *cfg, bool serve)
{
	struct orders_ctx w = { c, cfg, false };
	struct m2m_dm_run_opts o = { .version = M2M_DM_RUN_OPTS_VERSION, .serve = serve,
				     .timeout_ms = c->timeout_ms, .stop = &stop_flag,
				     .log = cli_log_line, .log_ctx = c, .wipe = dm_wipe,
				     .wipe_ctx = &w, .renew = dm_renew, .renew_ctx = &w };
	struct m2m_dm_state dst;
	struct m2m_err err;

	if (m2m_dm_run(cfg, &o, &err))
		return cli_fail(c, &err);
	if (w.wiped) {
		if (!c->quiet)
			printf("wiped, as the management server ordered\n");
		return M2M_OK;
	}
	m2m_dm_state_load(cfg, &dst);
	if (!serve && !c->quiet && (c->verbose || isatty(STDOUT_FILENO)))
		printf("reported to %s as %s\n", dms_server(cfg, &dst) ? dms_server(cfg, &dst) :
		       "(unknown)", cfg->dm.endpoint);
	return M2M_OK;
}

int main(int argc, char **argv)
{
	struct cli c = { .prog = "m2mdm-status", .log_max = LOG_NOTICE };
	struct option lopts[sizeof(options) / sizeof(options[0])];
	struct m2m_config *cfg = NULL;
	bool report = false, serve = false;
	char sopts[64];
	struct sigaction sa = { .sa_handler = on_signal };
	int opt, rc;

	cli_init();
	cli_getopt_tables(options, lopts, sopts, sizeof(sopts), "");
	while ((opt = getopt_long(argc, argv, sopts, lopts, NULL)) != -1) {
		switch (cli_common_option(&c, options, opt, optarg, summary, no_commands, &rc)) {
		case CLI_OPT_DONE:
			continue;
		case CLI_OPT_EXIT:
			return rc;
		case CLI_OPT_NOT_MINE:
			break;
		}
		if (opt == 'r') {
			report = true;
		} else if (opt == 's') {
			serve = true;
		} else {
			fprintf(stderr, "Try '%s --help'.\n", c.prog);
			return M2M_ERR_USAGE;
		}
	}
	if (optind < argc)
		return cli_error(&c, M2M_ERR_USAGE, "unexpected argument '%s' (see --help)",
				 argv[optind]);
	if (report + serve + c.json > 1)
		return cli_error(&c, M2M_ERR_USAGE, "--report, --serve and --json exclude each other");
	if (!cli_set_color(&c, c.color_when))
		return cli_error(&c, M2M_ERR_USAGE, "--color '%s': expected auto, always or never",
				 c.color_when);
	rc = cli_load_config(&c, &cfg);
	if (rc)
		return rc;
	if (report || serve) {
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		signal(SIGPIPE, SIG_IGN);
		rc = run_dm(&c, cfg, serve);
	} else {
		rc = dms_show(&c, cfg);
	}
	m2m_config_free(cfg);
	return rc;
}
