/* SPDX-License-Identifier: MIT */
/*
 * m2mdm-update check: for cron and for the boot (m2mdm-update-check.service).
 * Quiet unless something happens: nothing under way, nothing done, no lock
 * taken (unless the committed firmware runs from a RAUC slot: then the lock,
 * and the slot that booted is compared with it, m2m_update_check_boot: a
 * fallback of the bootloader is one warning line, exit 0); otherwise the
 * lock, this device's delay before a download resumes (update.jitter: a
 * fleet on one cron line does not hit the server in the same second), then
 * the engine continues within the run's bound.
 */
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "base/base.h"
#include "cli/cli.h"
#include "m2m/update.h"

#include "upd.h"

#define DEFAULT_BOUND_MS (3600u * 1000u)

int cmd_check(struct opts *o, int argc, char **argv)
{
	struct m2m_update_status st, after;
	struct m2m_update_fw_info fw = { .version = M2M_UPDATE_FW_INFO_VERSION };
	struct m2m_update *u = NULL;
	struct m2m_err err;
	unsigned bound, wait;
	bool slot, fell_back = false;
	int rc;

	if (argc)
		return cli_error(&o->c, M2M_ERR_USAGE, "check: takes no arguments");
	rc = load_cfg(o);
	if (rc)
		return rc;
	m2m_err_clear(&err);
	if (m2m_update_status(o->cfg, &st, &err))
		return cli_fail(&o->c, &err);
	/* a firmware committed into a RAUC slot: is that slot still the one booted? */
	m2m_err_clear(&err);
	slot = m2m_update_fw_info(o->cfg, &fw, &err) == M2M_OK && fw.slot[0] && o->cfg->update->rauc;
	if (strcmp(st.next, "none") == 0 && !slot)
		return M2M_OK;
	bound = o->c.timeout_ms ? o->c.timeout_ms :
		o->cfg->update->timeout_ms ? o->cfg->update->timeout_ms : DEFAULT_BOUND_MS;
	catch_signals();
	if (strcmp(st.next, "none") == 0) {
		/* nothing under way: another run holding the lock looks at the slots itself */
		o->busy_quiet = true;
		rc = open_engine(o, bound, false, &u);
		if (rc == M2M_ERR_BUSY)
			return M2M_OK;
		if (rc)
			return rc;
		m2m_err_clear(&err);
		/* a fallback after a commit: the old firmware runs, a good one: not a failure */
		rc = m2m_update_check_boot(u, &fell_back, &err);
		m2m_update_close(u);
		return rc ? cli_fail(&o->c, &err) : M2M_OK;
	}
	if (strcmp(st.next, "fetch") == 0) {
		wait = m2m_update_check_delay_ms(o->cfg, bound);
		cli_log_line(&o->c, LOG_DEBUG, "waiting %u ms before the download resumes", wait);
		if (!m2m_sleep_ms(wait, stop_flag))
			return cli_error(&o->c, M2M_ERR_TIMEOUT, "stopped by a signal before the run; nothing done");
		bound -= wait;
	}
	rc = open_engine(o, bound, false, &u);
	if (rc)
		return rc;
	m2m_err_clear(&err);
	if (slot && m2m_update_check_boot(u, &fell_back, &err) != M2M_OK) {
		rc = cli_fail(&o->c, &err);
		m2m_update_close(u);
		return rc;
	}
	m2m_err_clear(&err);
	rc = m2m_update_continue(u, &err);
	/* quiet unless something happened: an error, or another state */
	if (rc || (m2m_update_get(u, &after, &err) == M2M_OK &&
		   (after.state != st.state || strcmp(after.next, st.next) != 0)))
		rc = say_result(o, u, rc, &err);
	m2m_update_close(u);
	return rc;
}
