/* SPDX-License-Identifier: MIT */
/*
 * A run of the policy engine (policy.c, the watch's counts): the state
 * directory, the policy lock, and the audit log, whose chain is checked at
 * the start and set aside, with a record that says so, if it is broken.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "policy/policy.h"
#include "policy/policy_int.h"
#include "state/state.h"

#define LOCK_NAME "policy.lock"

void pol_say(struct pol_run *r, int prio, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!r->log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	r->log(r->log_ctx, prio, "%s", line);
}

/* An audit record; a failure to write one is said, and the check goes on. */
void pol_note(struct pol_run *r, const char *event, const char *policy, const char *fmt, ...)
{
	char detail[256];
	struct m2m_err e;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	m2m_err_clear(&e);
	if (!r->audit_ok ||
	    pol_audit_append(&r->st, &r->audit, r->now, event, policy, detail, &e) != M2M_OK)
		pol_say(r, 3, "%s", r->audit_ok ? e.msg : "audit log: not written (its chain is broken)");
}

/*
 * The state directory, the lock (waited for lock_ms; < 0: none, a reader)
 * and the audit log's head. Under the lock, a log whose chain is broken is
 * set aside (policy-audit.bad-TIME, and the file before it) and a new one
 * begins with a record that says so: the policies are enforced either way.
 */
int pol_run_open(struct pol_run *r, const struct m2m_config *cfg, int lock_ms, struct m2m_err *err)
{
	struct m2m_err aerr;
	int rc;

	memset(r, 0, sizeof(*r));
	r->cfg = cfg;
	r->pc = cfg->policy;
	r->lock = -1;
	r->now = (int64_t)time(NULL);
	rc = m2m_state_open(&r->st, pol_state_dir(cfg), err);
	if (rc)
		return rc;
	if (lock_ms >= 0) {
		rc = m2m_state_lock(&r->st, LOCK_NAME, (unsigned)lock_ms, &r->lock, err);
		if (rc) {
			if (rc == M2M_ERR_BUSY)
				m2m_err_set(err, rc, "another policy check or release is running");
			m2m_state_close(&r->st);
			return rc;
		}
	}
	m2m_err_clear(&aerr);
	rc = pol_audit_read(&r->st, &r->audit, NULL, NULL, &aerr);
	r->audit_ok = rc == M2M_OK;
	if (rc == M2M_ERR_INTEGRITY && lock_ms >= 0) {
		/* both files set aside under names of their own (never over an earlier one) */
		char from[PATH_MAX + 32], to[PATH_MAX + 64], tag[32];

		snprintf(tag, sizeof(tag), ".bad-%lld", (long long)r->now);
		snprintf(from, sizeof(from), "%s/" POL_AUDIT_NAME ".1", r->st.path);
		snprintf(to, sizeof(to), "%s/" POL_AUDIT_NAME ".1%s", r->st.path, tag);
		if (access(from, F_OK) == 0)
			m2m_rename_durable(from, to, NULL);
		snprintf(from, sizeof(from), "%s/" POL_AUDIT_NAME, r->st.path);
		snprintf(to, sizeof(to), "%s/" POL_AUDIT_NAME "%s", r->st.path, tag);
		if (m2m_rename_durable(from, to, NULL) == M2M_OK) {
			memset(&r->audit, 0, sizeof(r->audit));
			r->audit_ok = true;
			pol_note(r, "log-broken", "", "%s; set aside as " POL_AUDIT_NAME "%s", aerr.msg, tag);
		}
	} else if (rc) {
		pol_say(r, 3, "%s", aerr.msg);
	}
	return M2M_OK;
}

void pol_run_close(struct pol_run *r)
{
	if (r->lock >= 0)
		m2m_state_unlock(r->lock);
	m2m_state_close(&r->st);
}
