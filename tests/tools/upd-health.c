/* SPDX-License-Identifier: MIT */
/*
 * upd-health: the health check of an update (m2m_dm_health) from the command
 * line, for the tests (305-update-health.t).
 *
 *   upd-health [-v] [-t MS] CONFIG
 *
 * -t: the bound (default: update.health.timeout); -v: the check's log lines
 * on stderr as "log<PRIO> line". SIGTERM or SIGINT stop the check (TIMEOUT).
 * An error goes to stderr as "upd-health: what: why"; the exit status is the
 * m2m code.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "m2m/config.h"
#include "m2m/dm.h"

static volatile int stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void logline(void *ctx, int prio, const char *fmt, ...)
{
	va_list ap;

	if (!ctx)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "log<%d> ", prio);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int main(int argc, char **argv)
{
	struct m2m_dm_health_opts o = { .version = M2M_DM_HEALTH_OPTS_VERSION, .stop = &stop,
					.log = logline };
	struct sigaction sa = { .sa_handler = on_signal };
	struct m2m_config *cfg = NULL;
	struct m2m_err err = { 0 };
	int opt, rc;

	while ((opt = getopt(argc, argv, "vt:")) != -1) {
		switch (opt) {
		case 'v': o.log_ctx = &o; break;
		case 't': o.timeout_ms = (unsigned)strtoul(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: upd-health [-v] [-t MS] CONFIG\n");
			return M2M_ERR_USAGE;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "usage: upd-health [-v] [-t MS] CONFIG\n");
		return M2M_ERR_USAGE;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	rc = m2m_config_load(argv[optind], &cfg, &err);
	if (!rc)
		rc = m2m_dm_health(cfg, &o, &err);
	if (rc)
		fprintf(stderr, "upd-health: %s\n", err.msg);
	m2m_config_free(cfg);
	return rc;
}
