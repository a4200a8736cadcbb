/* SPDX-License-Identifier: MIT */
/*
 * m2mvpn-connect: bring IPsec tunnels up and down through strongSwan's charon.
 * Thin: parse, call libm2m, print. up, down, watch and the options here;
 * status and list in m2mvpn-connect/show.c. Exit status is an enum m2m_rc.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "m2m/config.h"
#include "m2m/vpn.h"
#include "m2mvpn-connect/connect.h"

static const struct cli_command commands[] = {
	{ "up", "PROFILE", "bring a tunnel up; returns once it carries traffic" },
	{ "down", "PROFILE", "take a tunnel down (and lift its fail-closed guard)" },
	{ "status", "[PROFILE]", "show tunnel state; with PROFILE exit 0 if up, 15 if not" },
	{ "list", "", "list the configured profiles and their state" },
	{ "watch", "[PROFILE...]", "keep always-on profiles up (foreground supervisor)" },
	{ "guard", "[PROFILE...]", "put fail-closed guards in place (a boot step, before the network)" },
	{ NULL, NULL, NULL },
};

static const struct cli_option options[] = {
	{ "config", 'c', "FILE", "configuration file (default: $M2M_CONFIG, /etc/m2m/m2m.yaml)" },
	{ "timeout", 't', "SECONDS", "time limit for up/down (default: the profile's timeout)" },
	{ "json", 'j', NULL, "machine-readable output (status, list)" },
	{ "quiet", 'q', NULL, "print nothing but errors" },
	{ "verbose", 'v', NULL, "explain: charon's log lines and decisions on stderr" },
	{ "color", 0, "WHEN", "colour: auto, always or never" },
	{ "help", 'h', NULL, "show this help" },
	{ "version", 'V', NULL, "show the version" },
	{ NULL, 0, NULL, NULL },
};

static const char summary[] = "Bring IPsec/IKEv2 tunnels up and down through strongSwan's charon.";

/*
 * SIGTERM, SIGINT, SIGHUP set *stop (cli_catch_stop: no SA_RESTART, blocking calls
 * return), so a killed "up" still tears down the attempt it started, and watch stops.
 */
static volatile const int *stop;

static void catch_signals(void)
{
	stop = cli_catch_stop();
}

/* up's and down's warnings (the gateway could not be told, a certificate put back) are for everyone; the rest for -v */
static void down_log(void *ctx, int prio, const char *fmt, ...)
{
	struct cli *c = ctx;
	va_list ap;

	va_start(ap, fmt);
	if (c->verbose) {
		cli_vlog_line(c, prio, fmt, ap);
	} else if (prio <= LOG_WARNING) {
		fprintf(stderr, "%s: warning: ", c->prog);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}

static int cmd_up(struct cli *c, struct m2m_config *cfg, int argc, char **argv)
{
	struct m2m_vpn_status st;
	struct m2m_vpn *vpn = NULL;
	struct m2m_err err;
	struct timespec t0, t1;
	/* scripts want silence; a person at a terminal wants to see it worked */
	bool show = !c->quiet && (c->verbose || isatty(STDOUT_FILENO));
	int rc;

	if (argc != 1)
		return cli_error(c, M2M_ERR_USAGE, "up: expected one PROFILE");
	m2m_err_clear(&err);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	catch_signals();
	rc = m2m_vpn_open(cfg, &vpn, &err);
	if (!rc) {
		/*
		 * charon's lines with -v; without, our warnings only (a renewed certificate
		 * the gateway refused, and the previous one back in its place)
		 */
		m2m_vpn_set_log(vpn, c->verbose ? cli_log_line : down_log, c);
		m2m_vpn_set_cancel(vpn, stop);
		rc = m2m_vpn_up(vpn, argv[0], c->timeout_ms, show ? &st : NULL, &err);
	}
	m2m_vpn_close(vpn);
	if (rc)
		return cli_fail(c, &err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (show) {
		printf("%s%s%s: %sup%s", cli_col(c, CLI_BOLD), argv[0], cli_col(c, CLI_RESET),
		       cli_col(c, CLI_GREEN), cli_col(c, CLI_RESET));
		if (st.n_vips)
			printf(", virtual IP %s", st.vips[0]);
		printf(" (%.0f ms)\n", (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
	}
	return M2M_OK;
}

static int cmd_down(struct cli *c, struct m2m_config *cfg, int argc, char **argv)
{
	struct m2m_vpn *vpn = NULL;
	struct m2m_err err;
	int rc;

	if (argc != 1)
		return cli_error(c, M2M_ERR_USAGE, "down: expected one PROFILE");
	m2m_err_clear(&err);
	catch_signals();
	rc = m2m_vpn_open(cfg, &vpn, &err);
	if (!rc) {
		m2m_vpn_set_log(vpn, down_log, c);
		m2m_vpn_set_cancel(vpn, stop);
		rc = m2m_vpn_down(vpn, argv[0], c->timeout_ms, &err);
	}
	m2m_vpn_close(vpn);
	if (rc)
		return cli_fail(c, &err);
	if (!c->quiet && (c->verbose || isatty(STDOUT_FILENO)))
		printf("%s%s%s: down\n", cli_col(c, CLI_BOLD), argv[0], cli_col(c, CLI_RESET));
	return M2M_OK;
}

static int cmd_watch(struct cli *c, struct m2m_config *cfg, int argc, char **argv)
{
	struct m2m_err err;
	const char **names;
	int rc;

	catch_signals();
	names = calloc((size_t)argc + 1, sizeof(*names));
	if (!names)
		return cli_error(c, M2M_ERR_FAILURE, "out of memory");
	for (int i = 0; i < argc; i++)
		names[i] = argv[i];
	m2m_err_clear(&err);
	rc = m2m_vpn_watch(cfg, names, stop, cli_log_line, c, &err);
	free(names);
	if (rc)
		return cli_fail(c, &err);
	return M2M_OK;
}

/* No PROFILE: every always-on profile with fail_closed (the boot unit's call). */
static int cmd_guard(struct cli *c, struct m2m_config *cfg, int argc, char **argv)
{
	struct m2m_vpn *vpn = NULL;
	struct m2m_err err;
	int rc, n = 0;

	for (int a = 0; a < argc; a++)
		if (!m2m_config_profile(cfg, argv[a]))
			return cli_error(c, M2M_ERR_NOT_FOUND, "no VPN profile '%s' in %s", argv[a],
					 cfg->path);
	m2m_err_clear(&err);
	rc = m2m_vpn_open(cfg, &vpn, &err);
	for (size_t i = 0; !rc && i < cfg->n_profiles; i++) {
		const struct m2m_vpn_profile *p = &cfg->profiles[i];
		bool named = false;

		for (int a = 0; a < argc; a++)
			named = named || strcmp(argv[a], p->name) == 0;
		if (argc ? !named : !(p->mode == M2M_VPN_ALWAYS_ON && p->fail_closed))
			continue;
		rc = m2m_vpn_guard(vpn, p->name, &err);
		if (!rc && c->verbose)
			fprintf(stderr, "%s: fail-closed guard in place\n", p->name);
		n++;
	}
	m2m_vpn_close(vpn);
	if (rc)
		return cli_fail(c, &err);
	if (n == 0 && !c->quiet)
		fprintf(stderr, "%s: no always-on profile with fail_closed\n", cfg->path);
	return M2M_OK;
}

static const struct {
	const char *name;
	int (*fn)(struct cli *, struct m2m_config *, int, char **);
} handlers[] = {
	{ "up", cmd_up }, { "down", cmd_down }, { "status", cmd_status },
	{ "list", cmd_list }, { "watch", cmd_watch }, { "guard", cmd_guard },
};

int main(int argc, char **argv)
{
	struct cli c = { .prog = "m2mvpn-connect" };
	struct option lopts[sizeof(options) / sizeof(options[0])];
	struct m2m_config *cfg = NULL;
	char sopts[64];
	int opt, rc;

	cli_init();
	/* options may come before or after the command */
	cli_getopt_tables(options, lopts, sopts, sizeof(sopts), "-");
	{
		char *rest[argc + 1];
		int nrest = 0;

		while ((opt = getopt_long(argc, argv, sopts, lopts, NULL)) != -1) {
			if (opt == 1) {
				rest[nrest++] = optarg;
				continue;
			}
			switch (cli_common_option(&c, options, opt, optarg, summary, commands, &rc)) {
			case CLI_OPT_DONE:
				continue;
			case CLI_OPT_EXIT:
				return rc;
			case CLI_OPT_NOT_MINE:
				break;
			}
			fprintf(stderr, "Try '%s --help'.\n", c.prog);
			return M2M_ERR_USAGE;
		}
		for (int i = optind; i < argc; i++)
			rest[nrest++] = argv[i];
		if (!cli_set_color(&c, c.color_when))
			return cli_error(&c, M2M_ERR_USAGE, "--color '%s': expected auto, always or never",
					 c.color_when);
		if (nrest == 0) {
			cli_usage(stderr, c.prog, summary, commands, options);
			return M2M_ERR_USAGE;
		}
		for (size_t h = 0; h < sizeof(handlers) / sizeof(handlers[0]); h++) {
			if (strcmp(rest[0], handlers[h].name) != 0)
				continue;
			rc = cli_load_config(&c, &cfg);
			if (rc)
				return rc;
			rc = handlers[h].fn(&c, cfg, nrest - 1, rest + 1);
			m2m_config_free(cfg);
			return rc;
		}
		return cli_error(&c, M2M_ERR_USAGE, "unknown command '%s' (see --help)", rest[0]);
	}
}
