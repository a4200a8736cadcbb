/* SPDX-License-Identifier: MIT */
/* m2mdm-update (common.c): the configuration, the engine as the tool opens it, results in words. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "base/base.h"
#include "cli/cli.h"
#include "m2m/dm.h"
#include "m2m/keystore.h"
#include "m2m/update.h"

#include "upd.h"

/* SIGTERM, SIGINT, SIGHUP stop the engine at its next block; the journal keeps the rest */
volatile const int *stop_flag = &(const int){ 0 };

void catch_signals(void)
{
	stop_flag = cli_catch_stop();
}

int load_cfg(struct opts *o)
{
	int rc;

	if (o->cfg)
		return M2M_OK;
	rc = cli_load_config(&o->c, &o->cfg);
	if (rc)
		return rc;
	m2m_keystore_set_state_dir(o->cfg->state_dir);
	if (!o->cfg->update)
		return cli_error(&o->c, M2M_ERR_CONFIG, "%s: no update: section (see m2m.yaml(5))",
				 o->cfg->path);
	return M2M_OK;
}

/* the engine's progress, drawn by lib/cli: bytes while downloading and verifying, percent installing */
static void on_progress(void *ctx, const char *phase, uint64_t done, uint64_t total, const char *what)
{
	struct opts *o = ctx;

	cli_progress_update(&o->progress, phase, done, total, strcmp(phase, "install") != 0, what);
}

/* The library's log lines, with the progress bar taken off the line first. */
static void tool_log(void *ctx, int prio, const char *fmt, ...)
{
	struct opts *o = ctx;
	va_list ap;

	cli_progress_clear(&o->progress);
	va_start(ap, fmt);
	cli_vlog_line(&o->c, prio, fmt, ap);
	va_end(ap);
}

/* The standard health check (m2m_dm_health): the new version reaches its tunnels and server. */
static int health(void *ctx, const struct m2m_config *cfg, unsigned timeout_ms,
		  volatile const int *stop, struct m2m_err *err)
{
	struct opts *o = ctx;
	struct m2m_dm_health_opts ho = { .version = M2M_DM_HEALTH_OPTS_VERSION,
					 .timeout_ms = timeout_ms, .stop = stop,
					 .log = tool_log, .log_ctx = o };

	/* the engine hands a configuration package's new configuration: it replaces ours */
	if (cfg != o->cfg)
		ho.before = o->cfg;

	return m2m_dm_health(cfg, &ho, err);
}

int open_engine(struct opts *o, unsigned timeout_ms, bool progress, struct m2m_update **u)
{
	struct m2m_update_opts uo = {
		.version = M2M_UPDATE_OPTS_VERSION, .timeout_ms = timeout_ms, .stop = stop_flag,
		.health = health, .health_ctx = o, .log = tool_log, .log_ctx = o,
	};
	struct m2m_err err;
	int rc;

	if (o->manual)
		uo.health = NULL; /* m2m_update_decide() within update.health.timeout */
	if (progress) {
		/* stdout: a bar on a terminal, plain lines into a file or pipe, nothing with -q */
		cli_progress_init(&o->progress, stdout, o->c.quiet);
		uo.progress = on_progress;
		uo.progress_ctx = o;
	}
	m2m_err_clear(&err);
	rc = m2m_update_open(o->cfg, &uo, u, &err);
	if (rc == M2M_ERR_BUSY && o->busy_quiet)
		return rc;
	if (rc == M2M_ERR_BUSY)
		return cli_error(&o->c, rc, "another update run holds the update lock (%s); try again later",
				 err.msg);
	if (rc)
		return cli_fail(&o->c, &err);
	return M2M_OK;
}

const char *pkg_words(const struct m2m_update_status *st, char *buf, size_t len)
{
	if (st->name[0])
		snprintf(buf, len, "%s %s", st->name, st->version);
	else
		snprintf(buf, len, "the package from %s", st->source[0] ? st->source : "(unknown)");
	return buf;
}

int say_result(struct opts *o, struct m2m_update *u, int rc, const struct m2m_err *err)
{
	struct m2m_update_status st;
	struct m2m_err gerr;
	char what[160];
	const struct cli *c = &o->c;

	cli_progress_end(&o->progress);
	m2m_err_clear(&gerr);
	if (m2m_update_get(u, &st, &gerr) != M2M_OK)
		return rc ? cli_fail(c, err) : cli_fail(c, &gerr);
	pkg_words(&st, what, sizeof(what));
	if (rc == M2M_ERR_INTEGRITY || rc == M2M_ERR_REFUSED)
		return cli_error(c, rc, "refused: %s", err->msg[0] ? err->msg : m2m_rc_describe(rc));
	if (st.state == M2M_UPDATE_ROLLED_BACK && !st.done) {
		/* the rollback's own action failed: say it is still to do */
		cli_error(c, rc ? rc : st.result, "rolling back %s: %s; not done yet, the next "
			  "m2mdm-update check finishes it", what,
			  rc ? err->msg : st.message[0] ? st.message : m2m_rc_describe(st.result));
		return rc ? rc : st.result ? st.result : M2M_ERR_FAILURE;
	}
	if (st.state == M2M_UPDATE_ROLLED_BACK) {
		/* the device is on its old version again: say so, and why */
		cli_error(c, rc ? rc : st.result, "rolled back %s: %s", what,
			  rc ? err->msg : st.message[0] ? st.message : m2m_rc_describe(st.result));
		return rc ? rc : st.result ? st.result : M2M_ERR_FAILURE;
	}
	if (rc)
		return cli_fail(c, err);
	if (c->quiet)
		return M2M_OK;
	if (st.state == M2M_UPDATE_COMMITTED)
		printf("%scommitted%s %s\n", cli_col(c, CLI_GREEN), cli_col(c, CLI_RESET), what);
	else if (st.state == M2M_UPDATE_INSTALLED)
		printf("installed %s%s%s: %s%s%s%s\n", what, st.slot[0] ? " into slot " : "", st.slot,
		       cli_col(c, CLI_YELLOW),
		       "awaiting the health check", cli_col(c, CLI_RESET),
		       " (m2mdm-update check; or commit, rollback)");
	else
		printf("%s: %s\n", what, m2m_update_state_name(st.state));
	return M2M_OK;
}
